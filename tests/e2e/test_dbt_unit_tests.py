"""The dbt unit tests run here, in CI, and not in every production build (issue 15).

A unit test feeds a model fixed rows and compares its output: it tests the SQL, which changes
only with the code, so `mirror run` leaves them out (``--exclude-resource-type unit_test``)
and this test runs all of them against a copy of the sample warehouse (dbt reads the column
types of a model's inputs from the warehouse).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT
from tests.e2e.conftest import MirrorRun


def test_every_dbt_unit_test_passes(sample_run: MirrorRun, tmp_path: Path) -> None:
    assert sample_run.returncode == 0, sample_run.stdout + sample_run.stderr
    copy = tmp_path / "unit.duckdb"
    shutil.copyfile(sample_run.warehouse, copy)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIRROR_", "DAGSTER_HOME"))}
    env.update(MIRROR_DUCKDB_PATH=str(copy), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    dbt = Path(sys.executable).parent / "dbt"
    target = tmp_path / "target"
    proc = subprocess.run(
        [str(dbt), "test", "--select", "test_type:unit",
         "--project-dir", "dbt", "--profiles-dir", "dbt",
         "--target-path", str(target), "--log-path", str(tmp_path / "logs")],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    results = json.loads((target / "run_results.json").read_text())["results"]
    unit = [r for r in results if r["unique_id"].startswith("unit_test.")]
    manifest = json.loads((REPO_ROOT / "dbt" / "target" / "manifest.json").read_text())
    assert len(unit) == len(manifest["unit_tests"]) > 0
    assert all(r["status"] == "pass" for r in unit)


def test_the_production_build_runs_no_unit_test(sample_run: MirrorRun) -> None:
    results = json.loads((sample_run.home / "dbt" / "build" / "run_results.json").read_text())
    kinds = {r["unique_id"].split(".")[0] for r in results["results"]}
    assert "unit_test" not in kinds
    assert {"model", "test", "seed"} <= kinds
