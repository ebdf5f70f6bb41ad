"""The one Definitions of the mirror code location: assets, checks, resources, job.

Everything touching the warehouse runs in one process (in-process executor): DuckDB allows a
single writer per file.
"""

from __future__ import annotations

import dagster as dg
from dagster_dbt import DbtCliResource

from dagster_project.ingest.assets import (
    LandingZone,
    build_ingest_asset,
    raw_reference_tables,
    shared_ingest_tables,
)
from dagster_project.publish.assets import PublishTarget, published_mirror_warehouse
from dagster_project.quality.checks import build_gx_checks
from dagster_project.resources import Warehouse
from dagster_project.settings import Settings
from dagster_project.sources import LANDING_SOURCES
from dagster_project.transform.assets import mirror_dbt_assets
from dagster_project.transform.project import dbt_project

MIRROR_JOB_NAME = "mirror_build"


def build_definitions(settings: Settings) -> dg.Definitions:
    settings.export_to_environ()  # dbt (a child process) reads MIRROR_DUCKDB_PATH
    mirror_job = dg.define_asset_job(
        MIRROR_JOB_NAME,
        selection=dg.AssetSelection.all(),
        description="Ingest the landing zone, build the dbt models, run the checks, publish.",
    )
    return dg.Definitions(
        assets=[
            raw_reference_tables,
            *shared_ingest_tables,
            *(build_ingest_asset(spec, deps) for spec, deps in LANDING_SOURCES),
            mirror_dbt_assets,
            published_mirror_warehouse,
        ],
        asset_checks=build_gx_checks(),
        jobs=[mirror_job],
        executor=dg.in_process_executor,
        resources={
            "warehouse": Warehouse(duckdb_path=str(settings.duckdb_path)),
            "landing": LandingZone(path=str(settings.landing)),
            "publish_target": PublishTarget(
                duckdb_path=str(settings.published_duckdb_path),
                exports_dir=str(settings.exports_dir),
            ),
            "dbt": DbtCliResource(
                project_dir=dbt_project, profiles_dir=str(dbt_project.profiles_dir)
            ),
        },
    )


defs = build_definitions(Settings.from_env())
