"""Canary: GX must compute real metrics on a DuckDB file (the shim in quality/gx_duckdb.py).

Without the shim every expectation 'fails' with 'list index out of range' and nothing raises;
these tests would then see success=False / no observed value.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from dagster_project.quality.gx_duckdb import read_only_datasource


@pytest.fixture(scope="module")
def tiny_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gx") / "tiny.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.t AS SELECT range AS x FROM range(7)")
    con.close()
    return path


def test_gx_reports_real_observed_value_on_duckdb(tiny_warehouse: Path) -> None:
    import great_expectations as gx

    with read_only_datasource(tiny_warehouse) as ds:
        batch = (
            ds.add_table_asset(name="t", table_name="t", schema_name="marts")
            .add_batch_definition_whole_table("all")
            .get_batch()
        )
        result = batch.validate(
            gx.expectations.ExpectTableRowCountToBeBetween(min_value=7, max_value=7)
        )
        assert result.success, result.exception_info
        assert result.result["observed_value"] == 7


def test_gx_failing_expectation_fails_for_the_right_reason(tiny_warehouse: Path) -> None:
    import great_expectations as gx

    with read_only_datasource(tiny_warehouse) as ds:
        batch = (
            ds.add_table_asset(name="t", table_name="t", schema_name="marts")
            .add_batch_definition_whole_table("all")
            .get_batch()
        )
        result = batch.validate(
            gx.expectations.UnexpectedRowsExpectation(
                unexpected_rows_query="select * from {batch} where x > 4"
            )
        )
        assert not result.success
        assert not result.exception_info.get("raised_exception", False), result.exception_info
        assert result.result["observed_value"] == 2


def test_file_is_free_after_the_session(tiny_warehouse: Path) -> None:
    with read_only_datasource(tiny_warehouse) as ds:
        ds.add_table_asset(name="t", table_name="t", schema_name="marts")
    con = duckdb.connect(str(tiny_warehouse))  # read-write: fails if GX still holds the file
    con.close()


def test_gx_connections_get_the_warehouse_memory_limit(
    tiny_warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlalchemy as sa

    monkeypatch.setenv("MIRROR_DUCKDB_MEMORY_LIMIT", "300MiB")
    with read_only_datasource(tiny_warehouse) as ds, ds.get_engine().connect() as connection:
        limit = connection.execute(sa.text("select current_setting('memory_limit')")).scalar()
    assert limit == "300.0 MiB"


def test_a_broken_query_does_not_poison_the_next_expectations(tiny_warehouse: Path) -> None:
    """One expectation naming a missing column reports its error; the next ones still run
    (without the rollback in the shim DuckDB's aborted transaction fails every later query)."""
    import great_expectations as gx

    with read_only_datasource(tiny_warehouse) as ds:
        batch = (
            ds.add_table_asset(name="t", table_name="t", schema_name="marts")
            .add_batch_definition_whole_table("all")
            .get_batch()
        )
        broken = batch.validate(
            gx.expectations.UnexpectedRowsExpectation(
                unexpected_rows_query="select * from {batch} where no_such_column > 4"
            )
        )
        assert not broken.success
        after = batch.validate(
            gx.expectations.UnexpectedRowsExpectation(
                unexpected_rows_query="select * from {batch} where x > 4"
            )
        )
        assert not after.exception_info.get("raised_exception", False), after.exception_info
        assert after.result["observed_value"] == 2


def test_gx_is_imported_in_the_background() -> None:
    """The dbt step starts GX's import in a thread; a fresh interpreter has GX loaded after it."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from dagster_project.quality.gx_duckdb import import_gx_in_background\n"
        "assert 'great_expectations' not in sys.modules\n"
        "thread = import_gx_in_background()\n"
        "thread.join(300)\n"
        "print('great_expectations' in sys.modules, thread.name)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, check=True
    )
    assert done.stdout.strip() == "True import great_expectations"
