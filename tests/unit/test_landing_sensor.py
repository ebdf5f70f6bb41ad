"""The landing sensor launches a run for new or changed files only, selecting what they feed,
over every period partition (before any exists: their ingest, then the build)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from dagster_project.definitions import MIRROR_JOB_NAME, defs
from dagster_project.ingest.assets import LandingZone
from dagster_project.transform.build_plan import PLANNED_TAG
from dagster_project.transform.partitions import PERIOD_PARTITIONS


def evaluate(
    landing: Path, cursor: str | None = None, periods: Sequence[str] = ("A:2020", "A:2021")
) -> dg.SensorResult:
    sensor = defs.resolve_sensor_def("landing_zone_sensor")
    with dg.DagsterInstance.ephemeral() as instance:
        if periods:
            instance.add_dynamic_partitions(PERIOD_PARTITIONS.name, list(periods))
        context = dg.build_sensor_context(
            cursor=cursor, resources={"landing": LandingZone(path=str(landing))}, instance=instance
        )
        return sensor.evaluate_tick(context)


def test_sensor_is_off_by_default_and_targets_the_build_job() -> None:
    sensor = defs.resolve_sensor_def("landing_zone_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    assert sensor.job_name == MIRROR_JOB_NAME


def test_new_then_unchanged_then_changed_files(tmp_path: Path, mini_comtrade: Path) -> None:
    landing = mini_comtrade.parent.parent
    first = evaluate(landing)
    [request] = first.run_requests
    selected = {k.to_user_string() for k in request.asset_selection}
    assert "raw/comtrade_final" in selected and "marts/fct_mirror_trade" in selected
    assert "raw/ref_hs2022_products" not in selected  # not downstream of the changed source
    # the registry is ingested, but is not a way down (transform/scope.py): Comext's staging
    # and the reference tables stay as they are, as `mirror run` leaves them
    assert "raw/file_registry" in selected and "staging/stg_comext__monthly" not in selected
    assert "marts/dim_product" not in selected
    assert request.tags[PLANNED_TAG] == "true"  # the build plan's periods, every partition
    assert request.tags["dagster/asset_partition_range_start"] == "A:2020"
    assert request.tags["dagster/asset_partition_range_end"] == "A:2021"

    quiet = evaluate(landing, first.cursor)
    assert not quiet.run_requests and "no new or changed files" in (quiet.skip_message or "")

    stat = mini_comtrade.stat()
    os.utime(mini_comtrade, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    changed = evaluate(landing, quiet.cursor)
    [again] = changed.run_requests
    assert again.run_key != request.run_key
    assert again.tags["mirror/files"] == "1"


def test_files_of_other_folders_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.csv").write_text("a,b\n1,2\n")
    result = evaluate(tmp_path)
    assert not result.run_requests


def test_before_any_partition_exists_the_files_are_ingested_then_built(
    mini_comtrade: Path,
) -> None:
    landing = mini_comtrade.parent.parent
    first = evaluate(landing, periods=())
    [ingest] = first.run_requests
    selected = {k.to_user_string() for k in ingest.asset_selection}
    assert selected == {"raw/comtrade_final", "raw/file_registry"}
    assert ingest.run_key.endswith("-ingest")
    # the cursor stayed: the next tick (partitions now exist) builds the same files
    [build] = evaluate(landing, first.cursor).run_requests
    assert "marts/fct_mirror_trade" in {k.to_user_string() for k in build.asset_selection}


def test_energy_registers_alone_are_built_without_the_period_models(tmp_path: Path) -> None:
    """Files of a source without periods (Eurostat's crude imports) and no partition: raw may
    never hold a period, so the build runs now, without the (partitioned) period models."""
    (tmp_path / "eurostat").mkdir()
    (tmp_path / "eurostat" / "nrg_ti_coifpm.csv").write_text("freq,unit\nM,THS_BBL\n")
    [build] = evaluate(tmp_path, periods=()).run_requests
    selected = {k.to_user_string() for k in build.asset_selection}
    assert "raw/eurostat_nrg_ti_coifpm" in selected
    assert "marts/fct_crude_import_controls" in selected
    assert not build.run_key.endswith("-ingest")
    period_models = {
        spec.key.to_user_string()
        for spec in defs.resolve_assets_def(dg.AssetKey(["marts", "fct_declarations"])).specs
        if spec.partitions_def
    }
    assert "marts/fct_declarations" in period_models and not selected & period_models
