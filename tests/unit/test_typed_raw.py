"""Typed raw tables: a source declares its columns' types once (``SourceSpec.column_types``);
the raw table has them, a value that does not cast quarantines its row with the column and
the text, and a table built by older code (all VARCHAR) is typed in place, losing nothing."""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import duckdb
import pytest

from dagster_project.ingest.loader import ingest_files
from dagster_project.ingest.spec import SourceSpec
from dagster_project.sources import comtrade
from tests.conftest import load_reference_tables

# the source as the code before typed raw had it: every delivered column VARCHAR
UNTYPED = dataclasses.replace(comtrade.SPEC, column_types={})


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    load_reference_tables(c)
    return c


def ingest(con: duckdb.DuckDBPyConnection, spec: SourceSpec, *paths: Path) -> list:
    return ingest_files(con, spec, list(paths), log=lambda _msg: None, batch_bytes=0)


def with_value(source: Path, target: Path, column: str, value: str, row: int = 0) -> Path:
    """A copy of ``source`` whose data row ``row`` has ``value`` in ``column``."""
    rows = list(csv.reader(io.StringIO(source.read_text(encoding="utf-8"))))
    rows[1 + row][rows[0].index(column)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(out.getvalue(), encoding="utf-8")
    return target


def table_rows(con: duckdb.DuckDBPyConnection, table: str = "raw.comtrade_final") -> list:
    """The rows without their load time (two loads differ only in it)."""
    return con.execute(
        f"select * exclude (_loaded_at) from {table} order by _source_file, _row_number"
    ).fetchall()


def test_the_raw_table_has_the_declared_types(con: duckdb.DuckDBPyConnection) -> None:
    comtrade.SPEC.ensure_tables(con)
    types = dict(
        con.execute("select column_name, column_type from (describe raw.comtrade_final)").fetchall()
    )
    for column in comtrade.COLUMNS:
        assert types[column] == comtrade.COLUMN_TYPES.get(column, "VARCHAR")


@pytest.mark.parametrize(
    ("column", "text", "type_"),
    [("qtyUnitCode", "kg", "INTEGER"), ("isReported", "maybe", "BOOLEAN"),
     ("refYear", "3000000000", "INTEGER")],
)  # fmt: skip
def test_a_value_that_does_not_cast_quarantines_its_row_naming_column_and_text(
    con: duckdb.DuckDBPyConnection, mini_comtrade: Path, column: str, text: str, type_: str
) -> None:
    path = with_value(mini_comtrade, mini_comtrade.parent / "bad_released-2025-06-30.csv",
                      column, text, row=2)  # fmt: skip
    [outcome] = ingest(con, comtrade.SPEC, path)
    assert (outcome.status, outcome.rows_loaded, outcome.rows_quarantined) == ("loaded", 11, 1)
    [(line, name, value, reason, record)] = con.execute(
        "select line_number, column_name, raw_value, reason, raw_record from raw.quarantine"
    ).fetchall()
    assert (line, name, value) == (4, column, text)  # header + two good rows before it
    assert reason == f"{column} '{text}' is not {type_}"
    assert f'"{column}":"{text}"' in record  # the delivered text is kept


def test_a_source_declares_only_delivered_columns_and_known_types() -> None:
    with pytest.raises(ValueError, match="column_types\\['nope'\\]"):
        dataclasses.replace(comtrade.SPEC, column_types={"nope": "INTEGER"})
    with pytest.raises(ValueError, match="one of"):
        dataclasses.replace(comtrade.SPEC, column_types={"qty": "HUGEINT"})


def test_a_table_built_by_older_code_is_typed_in_place_as_a_fresh_load_types_it(
    con: duckdb.DuckDBPyConnection, mini_comtrade: Path
) -> None:
    ingest(con, UNTYPED, mini_comtrade)
    assert con.execute(
        "select data_type from information_schema.columns where table_name = 'comtrade_final' "
        "and column_name = 'primaryValue'"
    ).fetchone() == ("VARCHAR",)
    assert comtrade.SPEC.type_in_place(con) == 0
    fresh = duckdb.connect()
    load_reference_tables(fresh)
    ingest(fresh, comtrade.SPEC, mini_comtrade)
    assert table_rows(con) == table_rows(fresh)
    assert comtrade.SPEC.type_in_place(con) is None  # idempotent: nothing left to convert
    # and the next ingest with the new code sees the file as unchanged, nothing reloaded
    [outcome] = ingest(con, comtrade.SPEC, mini_comtrade)
    assert outcome.status == "unchanged"


def test_a_row_that_does_not_cast_when_typing_in_place_goes_to_quarantine(
    con: duckdb.DuckDBPyConnection, mini_comtrade: Path
) -> None:
    """The old code had no rule on qtyUnitCode: its text is in raw. Typing moves that row to
    quarantine with its reason and text, and the file's registry counts still add up."""
    path = with_value(mini_comtrade, mini_comtrade.parent / "old_released-2025-06-30.csv",
                      "qtyUnitCode", "kg", row=5)  # fmt: skip
    [outcome] = ingest(con, UNTYPED, path)
    assert (outcome.rows_loaded, outcome.rows_quarantined) == (12, 0)
    logged: list[str] = []
    ingest_files(con, comtrade.SPEC, [path], log=logged.append, batch_bytes=0)
    assert any("typed in place" in line and "1 rows" in line for line in logged)
    assert con.execute("select count(*) from raw.comtrade_final").fetchone() == (11,)
    [(column, value, reason, record)] = con.execute(
        "select column_name, raw_value, reason, raw_record from raw.quarantine"
    ).fetchall()
    assert (column, value) == ("qtyUnitCode", "kg")
    assert reason.startswith("qtyUnitCode 'kg' is not INTEGER (data row 6, found typing")
    assert '"qtyUnitCode":"kg"' in record
    assert con.execute(
        "select rows_read, rows_loaded, rows_quarantined from raw.file_registry"
    ).fetchone() == (12, 11, 1)


def test_typing_in_place_is_all_or_nothing(
    con: duckdb.DuckDBPyConnection, mini_comtrade: Path
) -> None:
    """A failure half-way (here: the rename) leaves the VARCHAR table and the quarantine as
    they were."""
    path = with_value(mini_comtrade, mini_comtrade.parent / "old_released-2025-06-30.csv",
                      "qtyUnitCode", "kg", row=5)  # fmt: skip
    ingest(con, UNTYPED, path)
    before = table_rows(con)
    real_execute = duckdb.DuckDBPyConnection.execute

    class Failing:
        def __getattr__(self, name: str) -> object:
            return getattr(con, name)

        def execute(self, sql: str, *args: object) -> object:
            if sql.startswith("ALTER TABLE"):
                raise duckdb.IOException("disk full")
            return real_execute(con, sql, *args)

    with pytest.raises(duckdb.IOException):
        comtrade.SPEC.type_in_place(Failing())  # type: ignore[arg-type]
    assert table_rows(con) == before
    assert con.execute("select count(*) from raw.quarantine").fetchone() == (0,)
