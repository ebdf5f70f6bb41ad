"""The landing sensor launches a run for new or changed files only, selecting what they feed."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from dagster_project.definitions import MIRROR_JOB_NAME, defs
from dagster_project.ingest.assets import LandingZone


def evaluate(landing: Path, cursor: str | None = None) -> dg.SensorResult:
    sensor = defs.resolve_sensor_def("landing_zone_sensor")
    context = dg.build_sensor_context(
        cursor=cursor, resources={"landing": LandingZone(path=str(landing))}
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
