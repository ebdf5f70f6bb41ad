"""The sample on a two-worker Spark standalone cluster on 127.0.0.1 (``spark_cluster``):
the driver in dbt, the executors in two worker JVMs, the same marts as DuckDB.

Not in CI (four JVMs on a two-core runner): run it with
``MIRROR_TEST_SPARK_CLUSTER=1 uv run pytest -m spark_cluster``. The master and the workers
are started here with pyspark's own ``spark-class`` (no ``sbin/start-*.sh`` daemons: their
PIDs are this test's children) and stopped by PID, as is anything left that mentions the
test's folders.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_COMTRADE
from tests.e2e.conftest import MirrorRun, mirror_run
from tests.e2e.spark_support import (
    compare_marts,
    free_port,
    java_pids_mentioning,
    mart_keys,
    skip_reason,
    stop_pids,
    wait_for_port,
)

pytestmark = [pytest.mark.e2e, pytest.mark.spark, pytest.mark.spark_cluster]

ENABLE_ENV = "MIRROR_TEST_SPARK_CLUSTER"
MANIFEST = Path(__file__).resolve().parents[2] / "dbt" / "target-spark_cluster" / "manifest.json"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A standalone master and two one-core workers on loopback; yields the master URL."""
    if os.environ.get(ENABLE_ENV) != "1":
        pytest.skip(f"the two-worker cluster test runs only with {ENABLE_ENV}=1 (not in CI)")
    reason = skip_reason("spark_local")  # the cluster needs the same group and JDK
    if reason:
        pytest.skip(reason)
    import pyspark

    spark_class = Path(pyspark.__file__).parent / "bin" / "spark-class"
    folder = tmp_path_factory.mktemp("spark_cluster")
    env = {
        **os.environ,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_HOME": str(spark_class.parent.parent),
        "SPARK_LOG_DIR": str(folder / "logs"),
        "SPARK_WORKER_DIR": str(folder / "work"),
    }
    port = free_port()
    master_url = f"spark://127.0.0.1:{port}"
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (folder / f"{name}.log").open("wb")
        # spark-class execs java: the PID is the daemon's
        proc = subprocess.Popen(
            [str(spark_class), *args], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        procs.append(proc)
        return proc

    try:
        start(
            "master",
            "org.apache.spark.deploy.master.Master",
            "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(free_port()),
        )  # fmt: skip
        wait_for_port(port, 120, procs)
        for i in (1, 2):
            start(
                f"worker{i}",
                "org.apache.spark.deploy.worker.Worker",
                master_url,
                "--host", "127.0.0.1", "--cores", "1", "--memory", "1g",
                "--webui-port", str(free_port()), "--work-dir", str(folder / f"work{i}"),
            )  # fmt: skip
        time.sleep(10)  # the workers register with the master
        yield master_url
    finally:
        stop_pids(p.pid for p in reversed(procs))
        stop_pids(java_pids_mentioning(str(folder)))


@pytest.fixture(scope="module")
def cluster_run(cluster: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MirrorRun]:
    home = tmp_path_factory.mktemp("spark_cluster_home")
    try:
        yield mirror_run(
            home,
            SAMPLE_COMTRADE.parent,
            "--quiet",
            MIRROR_DBT_TARGET="spark_cluster",
            MIRROR_SPARK_MASTER=cluster,
            MIRROR_SPARK_EXECUTOR_MEMORY="768m",
            SPARK_LOCAL_IP="127.0.0.1",
        )
    finally:
        stop_pids(java_pids_mentioning(str(home)))


def test_two_worker_cluster_builds_the_sample_with_the_duckdb_marts(
    cluster_run: MirrorRun, sample_run: MirrorRun
) -> None:
    assert cluster_run.returncode == 0, (
        f"{cluster_run.stdout[-4000:]}\n{cluster_run.stderr[-2000:]}"
    )
    diffs = compare_marts(sample_run.warehouse, cluster_run.warehouse, mart_keys(MANIFEST))
    report = "\n".join(d.describe() for d in diffs)
    print(report)
    assert diffs and all(d.equal for d in diffs), report
