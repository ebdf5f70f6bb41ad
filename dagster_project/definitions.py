"""The one Definitions of the mirror code location: assets, checks, jobs, sensor, resources.

Everything touching the warehouse runs in one process (in-process executor): DuckDB allows a
single writer per file.
"""

from __future__ import annotations

import dagster as dg

from dagster_project.alerts.channels import AlertTarget
from dagster_project.alerts.sensors import build_alert_sensors
from dagster_project.ingest.assets import (
    LandingZone,
    build_ingest_asset,
    build_landing_inventory,
    shared_ingest_tables,
)
from dagster_project.ingest.sensors import build_landing_sensor
from dagster_project.jobs import (
    INGEST_JOB_NAME,
    MIRROR_JOB_NAME,
    TRANSFORM_JOB_NAME,
    TRANSFORM_WITHOUT_PERIODS_JOB_NAME,
)
from dagster_project.publish.assets import (
    PublishTarget,
    published_dbt_docs,
    published_mirror_warehouse,
)
from dagster_project.quality.checks import build_gx_checks
from dagster_project.report.assets import mirror_report
from dagster_project.resources import Warehouse
from dagster_project.settings import Settings
from dagster_project.sources import LANDING_SOURCES, REFERENCE_SOURCES
from dagster_project.sources.comtrade_schedule import comtrade_fetch_schedule
from dagster_project.transform.assets import mirror_dbt_assets, period_model_keys
from dagster_project.transform.build_plan import PERIOD_SOURCES, REFRESH_ESTIMATES_TAG
from dagster_project.transform.partitions import after_ingest, planned_run_tags
from dagster_project.transform.project import DbtCli, dbt_project
from dagster_project.transform.scope import REGISTRY_KEY, downstream_of_sources


# The estimates that use all of history (margins, reporter noise, detected transit corridors,
# reporter reliability) are kept between builds, so a new month costs about that month; they
# follow the data when refreshed: on the first of each month, and by `mirror run
# --refresh-estimates`.
@dg.schedule(
    name="refresh_estimates_schedule",
    cron_schedule="0 3 1 * *",
    job_name=MIRROR_JOB_NAME,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description=(
        "OFF by default. A full build with the estimates computed again from all of history "
        "(a new estimate_vintage on every row that uses them), monthly."
    ),
)
def refresh_estimates_schedule(
    context: dg.ScheduleEvaluationContext,
) -> dg.RunRequest | dg.SkipReason:
    """A run over every period partition (transform/partitions.py) with the refresh asked."""
    tags = planned_run_tags(context.instance)
    if tags is None:
        return dg.SkipReason("no period partition yet: nothing ingested to estimate from")
    return dg.RunRequest(tags={REFRESH_ESTIMATES_TAG: "true", **tags})


def _delivery_target(
    source: str, ingest: dg.AssetsDefinition, materialisable: list[dg.AssetsDefinition]
) -> list[dg.AssetKey]:
    """What the landing sensor runs when files of ``source`` change: its ingest, the registry,
    and, for a source whose rows name their period, what is downstream of its raw table only,
    as ``mirror run`` selects (transform/scope.py: the seeds, the reference tables and the
    other sources' staging stay as they are); for another source, everything downstream of its
    ingest (its build rebuilds every period anyway)."""
    if source not in PERIOD_SOURCES:
        return sorted(dg.AssetSelection.assets(*ingest.keys).downstream().resolve(materialisable))
    specs = [spec for a in materialisable for spec in a.specs]
    return sorted({*ingest.keys, REGISTRY_KEY} | downstream_of_sources(specs, [source]))


def build_definitions(settings: Settings) -> dg.Definitions:
    settings.export_to_environ()  # dbt (a child process) reads MIRROR_DUCKDB_PATH
    reference_assets = [build_ingest_asset(spec) for spec in REFERENCE_SOURCES]
    # a source whose rows name their period adds them as partitions of the period models
    ingest_assets = [
        build_ingest_asset(spec, after_ingest(spec.name) if spec.name in PERIOD_SOURCES else None)
        for spec in LANDING_SOURCES
    ]
    assets = [
        *reference_assets,
        *shared_ingest_tables,
        *ingest_assets,
        # the registry is complete once every source, reference data included, registered
        build_landing_inventory(LANDING_SOURCES, [*reference_assets, *ingest_assets]),
        mirror_dbt_assets,
        published_mirror_warehouse,
        published_dbt_docs,
        mirror_report,
    ]
    materialisable = [a for a in assets if isinstance(a, dg.AssetsDefinition)]
    sensor_targets = [
        (spec, _delivery_target(spec.name, ingest, materialisable))
        for spec, ingest in zip(LANDING_SOURCES, ingest_assets, strict=True)
    ]
    # the seeds are dbt's (group ingest): they wait for `run`
    ingest_only = dg.AssetSelection.groups("ingest") - dg.AssetSelection.assets(mirror_dbt_assets)
    gx_checks = build_gx_checks()
    # Dagster 1.13 cannot record a partitioned asset (nor its checks, nor what is downstream of
    # it) in a run without partitions: such a run (no period in raw yet, or never: energy
    # registers only) leaves the period models out, and dbt builds them apart (empty)
    period_keys = period_model_keys(mirror_dbt_assets)
    return dg.Definitions(
        assets=assets,
        asset_checks=gx_checks,
        jobs=[
            dg.define_asset_job(
                MIRROR_JOB_NAME,
                selection=dg.AssetSelection.all(),
                description="Ingest the landing zone, build the dbt models, check, publish.",
            ),
            dg.define_asset_job(
                INGEST_JOB_NAME,
                selection=ingest_only,
                description="Only ingest new or changed landing files and reference tables.",
            ),
            dg.define_asset_job(
                TRANSFORM_JOB_NAME,
                selection=dg.AssetSelection.all() - ingest_only,
                description=(
                    "Build the dbt models from raw, check, publish: what `mirror run` launches "
                    "after its ingest, over every period partition."
                ),
            ),
            dg.define_asset_job(
                TRANSFORM_WITHOUT_PERIODS_JOB_NAME,
                selection=dg.AssetSelection.all()
                - ingest_only
                - dg.AssetSelection.assets(*period_keys),
                description=(
                    "Build the dbt models from raw, check, publish, when raw holds no period "
                    "(no Comtrade or Comext row): what `mirror run` launches then. The period "
                    "models are left out (Dagster cannot record a partitioned asset in a run "
                    "without partitions); dbt builds them first, empty, outside Dagster."
                ),
            ),
        ],
        sensors=[
            build_landing_sensor(
                sensor_targets,
                MIRROR_JOB_NAME,
                run_tags=planned_run_tags,
                ingest_keys=ingest_only.resolve(materialisable),
                period_sources=PERIOD_SOURCES,
                period_keys=period_keys,
            ),
            *build_alert_sensors(
                AlertTarget.of(settings), [k for c in gx_checks for k in c.check_keys]
            ),
        ],
        schedules=[comtrade_fetch_schedule, refresh_estimates_schedule],
        executor=dg.in_process_executor,
        resources={
            "warehouse": Warehouse(
                duckdb_path=str(settings.duckdb_path),
                memory_limit=settings.duckdb_memory_limit,
                run_lock_wait_seconds=settings.run_lock_wait_seconds,
            ),
            "landing": LandingZone(
                path=str(settings.landing), ingest_batch_bytes=settings.ingest_batch_bytes
            ),
            "publish_target": PublishTarget(
                home=str(settings.home), memory_limit=settings.duckdb_memory_limit
            ),
            "dbt": DbtCli(project_dir=dbt_project, profiles_dir=str(dbt_project.profiles_dir)),
        },
    )


# a bad MIRROR_* setting stops the code location from loading, with one line per setting
# (`dagster dev` shows it), instead of failing every step that reads it
defs = build_definitions(Settings.from_env())
