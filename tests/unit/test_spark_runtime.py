"""The Spark runtime without Spark: MIRROR_DBT_TARGET and what a Spark target needs (one line
saying what to do), the profiles' targets, and the Parquet hand-over with the DuckDB working
warehouse (dagster_project/transform/spark.py)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import duckdb
import pytest
import yaml

from dagster_project import settings
from dagster_project.settings import HomeLayout, Settings, SettingsError
from dagster_project.transform import spark
from dagster_project.transform.project import manifest_folder


def env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"MIRROR_HOME": str(tmp_path / "home"), **values}


def fake_java(tmp_path: Path) -> str:
    java_home = tmp_path / "jdk"
    (java_home / "bin").mkdir(parents=True)
    (java_home / "bin" / "java").write_text("#!/bin/sh\n")
    return str(java_home)


def test_the_default_target_is_duckdb(tmp_path: Path) -> None:
    s = Settings.from_env(environ=env(tmp_path))
    assert s.dbt_target == "duckdb" and not s.uses_spark
    assert manifest_folder("duckdb") == "target"  # the DuckDB parse stays where it was
    assert manifest_folder("spark_local") == "target-spark_local"


def test_an_unknown_target_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as exc:
        Settings.from_env(environ=env(tmp_path, MIRROR_DBT_TARGET="spark"))
    assert str(exc.value).splitlines() == [
        "MIRROR_DBT_TARGET='spark' is not a target of dbt/profiles.yml; use one of duckdb, "
        "spark_local, spark_cluster, spark_connect (default duckdb; docs/spark.md)"
    ]


def test_without_pyspark_it_says_to_install_the_spark_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name.startswith("pyspark") else real(name, *a),
    )
    with pytest.raises(SettingsError, match=r"install the spark group: uv sync --group spark$"):
        Settings.from_env(environ=env(tmp_path, MIRROR_DBT_TARGET="spark_local"))


@pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="no spark group")
def test_without_java_it_says_to_install_a_jdk_17(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SettingsError) as exc:
        Settings.from_env(
            environ=env(
                tmp_path, MIRROR_DBT_TARGET="spark_local", JAVA_HOME=str(tmp_path / "empty")
            )
        )
    assert len(str(exc.value).splitlines()) == 1
    assert "install a JDK 17 (apt-get install openjdk-17-jre-headless)" in str(exc.value)


@pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="no spark group")
def test_cluster_and_connect_need_their_url(tmp_path: Path) -> None:
    java = fake_java(tmp_path)
    with pytest.raises(SettingsError, match="needs MIRROR_SPARK_MASTER"):
        Settings.from_env(environ=env(tmp_path, MIRROR_DBT_TARGET="spark_cluster", JAVA_HOME=java))
    with pytest.raises(SettingsError, match="needs MIRROR_SPARK_REMOTE"):
        Settings.from_env(environ=env(tmp_path, MIRROR_DBT_TARGET="spark_connect"))
    s = Settings.from_env(
        environ=env(
            tmp_path,
            MIRROR_DBT_TARGET="spark_cluster",
            MIRROR_SPARK_MASTER="spark://127.0.0.1:7077",
            JAVA_HOME=java,
        )
    )
    assert s.uses_spark


def test_every_target_is_a_profile_output() -> None:
    """One name each: MIRROR_DBT_TARGET's values are the outputs of dbt/profiles.yml."""
    profiles = yaml.safe_load((settings.DBT_PROJECT_DIR / "profiles.yml").read_text())
    outputs = profiles["mirror"]["outputs"]
    assert set(outputs) == set(settings.DBT_TARGETS)
    assert {outputs[t]["type"] for t in settings.SPARK_TARGETS} == {"spark"}
    local = outputs["spark_local"]["server_side_parameters"]
    assert local["spark.master"] == "local[2]"
    assert local["spark.driver.bindAddress"] == local["spark.driver.host"] == "127.0.0.1"
    assert local["spark.ui.enabled"] == "false"


def test_spark_local_binds_to_loopback_unless_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # export_to_environ writes os.environ: a copy for this test
    monkeypatch.setattr(
        os, "environ", {k: v for k, v in os.environ.items() if k != "SPARK_LOCAL_IP"}
    )
    Settings(home=tmp_path).export_to_environ()
    assert "SPARK_LOCAL_IP" not in os.environ
    assert os.environ["MIRROR_DBT_TARGET"] == "duckdb"
    Settings(home=tmp_path, dbt_target="spark_local").export_to_environ()
    assert os.environ["SPARK_LOCAL_IP"] == "127.0.0.1"
    assert os.environ["MIRROR_SPARK_DIR"] == str(tmp_path.resolve() / "spark")


def test_raw_goes_to_parquet_with_timestamps_as_instants(tmp_path: Path) -> None:
    layout = HomeLayout(tmp_path)
    (layout.spark_dir / "out" / "marts" / "old").mkdir(parents=True)  # a previous build's
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema raw")
    con.execute(
        "create table raw.t as select 1 as id, 'a' as s, timestamp '2024-01-02 03:04:05' as ts"
    )
    sent = spark.export_raw(con, layout, ["raw.t"])
    assert sent.tables == {"raw.t": 1}
    assert not (layout.spark_dir / "out").exists()
    path = layout.spark_dir / "raw" / "t" / "data.parquet"
    con.execute("set TimeZone = 'UTC'")
    row = con.execute(f"select typeof(ts), ts::varchar from '{path}'").fetchone()
    assert row == ("TIMESTAMP WITH TIME ZONE", "2024-01-02 03:04:05+00")
    with pytest.raises(RuntimeError, match=r"raw\.missing is a dbt source"):
        spark.export_raw(con, layout, ["raw.missing"])


def test_outputs_come_back_with_the_contract_types(tmp_path: Path) -> None:
    layout = HomeLayout(tmp_path)
    folder = layout.spark_dir / "out" / "marts" / "fct_x"
    folder.mkdir(parents=True)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute(
        f"copy (select 7::bigint as n, 'k' as key, 1.5::double as v) "
        f"to '{folder / 'part-0.parquet'}' (format parquet)"
    )
    con.execute("create schema marts")
    con.execute("create table marts.fct_x as select 'stale' as key")
    con.execute("create table marts.not_rebuilt as select 1 as a")
    models = {
        "marts.fct_x": {"n": "hugeint", "key": "varchar", "v": "double"},
        "marts.not_rebuilt": {"a": "integer"},
    }
    back = spark.load_outputs(con, layout, models)
    assert back.tables == {"marts.fct_x": 1}
    types = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_name = 'fct_x' order by ordinal_position"
    ).fetchall()
    assert types == [("n", "HUGEINT"), ("key", "VARCHAR"), ("v", "DOUBLE")]
    assert con.execute("select * from marts.fct_x").fetchall() == [(7, "k", 1.5)]
    assert con.execute("select * from marts.not_rebuilt").fetchall() == [(1,)]


def test_the_manifest_says_what_goes_and_what_comes_back() -> None:
    manifest = {
        "sources": {
            "a": {"schema": "raw", "name": "comtrade", "identifier": "comtrade_final"},
            "b": {"schema": "raw", "name": "file_registry", "identifier": None},
        },
        "nodes": {
            "m": {
                "resource_type": "model",
                "schema": "marts",
                "name": "dim_x",
                "columns": {"c": {"data_type": "varchar"}},
            },
            "i": {"resource_type": "model", "schema": "intermediate", "name": "int_y"},
            "t": {"resource_type": "test", "schema": "marts", "name": "t"},
        },
    }
    assert spark.source_tables(manifest) == ["raw.comtrade_final", "raw.file_registry"]
    assert spark.output_models(manifest) == {"marts.dim_x": {"c": "varchar"}}
