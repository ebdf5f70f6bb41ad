"""The sample through a Spark Connect server on 127.0.0.1 (``spark_connect``): dbt is a thin
client (``spark.remote``), the server owns the session, its metastore and its warehouse; the
same marts as DuckDB.

Not in CI (a second Spark driver beside the parity test's on a two-core runner): run it with
``MIRROR_TEST_SPARK_CONNECT=1 uv run pytest -m spark_connect``. The server is started here with
pyspark's own ``spark-submit`` (no ``sbin`` daemon: its PID is this test's child), bound to
127.0.0.1 on a free port, and stopped by PID, as is anything left that mentions its folder.
"""

from __future__ import annotations

import os
import subprocess
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

pytestmark = [pytest.mark.e2e, pytest.mark.spark, pytest.mark.spark_connect]

ENABLE_ENV = "MIRROR_TEST_SPARK_CONNECT"
MANIFEST = Path(__file__).resolve().parents[2] / "dbt" / "target-spark_connect" / "manifest.json"
SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark Connect server (local[2]) on loopback; yields its ``sc://`` address."""
    if os.environ.get(ENABLE_ENV) != "1":
        pytest.skip(f"the Spark Connect test runs only with {ENABLE_ENV}=1 (not in CI)")
    reason = skip_reason("spark_local")  # the server needs the same group and JDK
    if reason:
        pytest.skip(reason)
    import pyspark

    spark_home = Path(pyspark.__file__).parent
    folder = tmp_path_factory.mktemp("spark_connect")
    port = free_port()
    conf = {
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.host": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.sql.warehouse.dir": str(folder / "warehouse"),
        "spark.sql.sources.default": "parquet",
        "spark.sql.legacy.createHiveTableByDefault": "false",
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={folder}/metastore/metastore_db;create=true"
        ),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={folder}/metastore",
    }
    command = [
        str(spark_home / "bin" / "spark-submit"),
        "--class", SERVER_CLASS, "--master", "local[2]", "--driver-memory", "1g",
        "--name", "mirror-connect-test",
        *[arg for key, value in conf.items() for arg in ("--conf", f"{key}={value}")],
    ]  # fmt: skip
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_HOME": str(spark_home)}
    with (folder / "server.log").open("wb") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, 180, [server])
        yield f"sc://127.0.0.1:{port}"
    finally:
        stop_pids([server.pid])
        stop_pids(java_pids_mentioning(str(folder)))


@pytest.fixture(scope="module")
def connect_run(connect_server: str, tmp_path_factory: pytest.TempPathFactory) -> MirrorRun:
    return mirror_run(
        tmp_path_factory.mktemp("spark_connect_home"),
        SAMPLE_COMTRADE.parent,
        "--quiet",
        MIRROR_DBT_TARGET="spark_connect",
        MIRROR_SPARK_REMOTE=connect_server,
        SPARK_LOCAL_IP="127.0.0.1",
    )


def test_spark_connect_builds_the_sample_with_the_duckdb_marts(
    connect_run: MirrorRun, sample_run: MirrorRun
) -> None:
    assert connect_run.returncode == 0, (
        f"{connect_run.stdout[-4000:]}\n{connect_run.stderr[-2000:]}"
    )
    diffs = compare_marts(sample_run.warehouse, connect_run.warehouse, mart_keys(MANIFEST))
    report = "\n".join(d.describe() for d in diffs)
    print(report)
    assert diffs and all(d.equal for d in diffs), report
