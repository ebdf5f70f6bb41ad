"""The sample on local Spark (``MIRROR_DBT_TARGET=spark_local``) builds every node, passes the
same checks and publishes the same marts as the DuckDB build (issue 16).

``mirror run`` is started as a user would after ``uv sync --group spark`` with a JDK 17; its
marts (loaded back from Spark's Parquet into its working warehouse) are compared with the
session's DuckDB sample run: same keys and row counts, strings, booleans, dates and integers
equal, doubles within 0.01 USD + 1e-9 relative. Skips, saying why, without pyspark or java;
fails instead with MIRROR_TEST_REQUIRE_SPARK=1 (CI, which installs both).
The Spark driver JVM runs inside the dbt child process and ends with it; any left behind
(found by this run's home in its command line) is stopped by its PID.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_COMTRADE
from tests.e2e.conftest import MirrorRun, mirror_run
from tests.e2e.spark_support import (
    compare_marts,
    java_pids_mentioning,
    mart_keys,
    skip_reason,
    stop_pids,
)

pytestmark = [pytest.mark.e2e, pytest.mark.spark]

TARGET = "spark_local"
MANIFEST = Path(__file__).resolve().parents[2] / "dbt" / f"target-{TARGET}" / "manifest.json"


@pytest.fixture(scope="module")
def spark_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MirrorRun, float]]:
    reason = skip_reason(TARGET)
    if reason and os.environ.get("MIRROR_TEST_REQUIRE_SPARK") == "1":  # CI installs Spark
        pytest.fail(f"MIRROR_TEST_REQUIRE_SPARK=1 but {reason}")
    if reason:
        pytest.skip(reason)
    home = tmp_path_factory.mktemp("spark_home")
    started = time.monotonic()
    try:
        run = mirror_run(
            home,
            SAMPLE_COMTRADE.parent,
            "--quiet",
            MIRROR_DBT_TARGET=TARGET,
            SPARK_LOCAL_IP="127.0.0.1",
        )
        yield run, time.monotonic() - started
    finally:
        stop_pids(java_pids_mentioning(str(home)))


def test_spark_local_builds_checks_and_publishes_the_sample(
    spark_run: tuple[MirrorRun, float],
) -> None:
    run, seconds = spark_run
    assert run.returncode == 0, f"{run.stdout[-4000:]}\n{run.stderr[-2000:]}"
    assert "dbt tests" in run.stdout and " 0 failed" in run.stdout, run.stdout
    assert (run.home / "published" / "mirror.duckdb").is_file()
    print(f"spark_local sample run: {seconds:.0f} s")


def test_spark_marts_equal_duckdb_marts(
    spark_run: tuple[MirrorRun, float], sample_run: MirrorRun
) -> None:
    run, _ = spark_run
    assert run.returncode == 0, "the Spark run failed: see the test above"
    assert sample_run.returncode == 0, sample_run.stdout[-3000:]
    diffs = compare_marts(sample_run.warehouse, run.warehouse, mart_keys(MANIFEST))
    assert diffs, "no marts in the DuckDB build"
    report = "\n".join(d.describe() for d in diffs)
    print(report)
    assert all(d.equal for d in diffs), report


def test_no_spark_jvm_left_behind(spark_run: tuple[MirrorRun, float]) -> None:
    """dbt's Spark driver ends with dbt: nothing of this run's home is left running."""
    run, _ = spark_run
    assert java_pids_mentioning(str(run.home)) == []
