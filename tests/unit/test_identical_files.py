"""Byte-identical files: the copy modified first (ties: by path) is the one loaded, the others
are registered as its duplicates with the reason, in one ingest or across ingests, batched or
not; a copy modified earlier that arrives after its twin was loaded changes no rows, and the
registry names it the canonical version."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import duckdb
import pytest

from dagster_project.ingest.loader import ingest_files
from dagster_project.ingest.registry import FileOutcome
from dagster_project.sources import comtrade
from tests.conftest import load_reference_tables

T0 = 1_700_000_000 * 10**9


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    load_reference_tables(c)
    return c


def copy(source: Path, name: str, modified_s: int) -> Path:
    path = source.parent / name
    if path != source:
        path.write_bytes(source.read_bytes())
    os.utime(path, ns=(T0 + modified_s * 10**9, T0 + modified_s * 10**9))
    return path


def ingest(con: duckdb.DuckDBPyConnection, *paths: Path, batch_bytes: int = 0) -> list[FileOutcome]:
    return ingest_files(
        con, comtrade.SPEC, list(paths), log=lambda _m: None, batch_bytes=batch_bytes
    )


def loaded_from(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    rows = con.execute(
        "SELECT _source_file, count(*) FROM raw.comtrade_final GROUP BY 1"
    ).fetchall()
    return {Path(path).name: n for path, n in rows}


def registry(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str | None]]:
    rows = con.execute("SELECT path, status, message FROM raw.file_registry").fetchall()
    return {Path(path).name: (status, message) for path, status, message in rows}


@pytest.mark.parametrize("batch_bytes", [0, 10**9])
def test_the_copy_modified_first_is_loaded_whatever_its_name(
    con: duckdb.DuckDBPyConnection, mini_comtrade: Path, batch_bytes: int
) -> None:
    later = copy(mini_comtrade, "a_copy_released-2025-06-30.csv", 20)
    first = copy(mini_comtrade, "b_copy_released-2025-06-30.csv", 10)
    latest = copy(mini_comtrade, "c_copy_released-2025-06-30.csv", 30)
    outcomes = ingest(con, later, mini_comtrade, first, latest, batch_bytes=batch_bytes)
    statuses = {o.path.name: o.status for o in outcomes}
    assert statuses == {
        later.name: "duplicate",
        mini_comtrade.name: "duplicate",
        first.name: "loaded",
        latest.name: "duplicate",
    }
    assert loaded_from(con) == {first.name: 12}
    for outcome in outcomes:
        if outcome.status == "duplicate":
            assert (
                outcome.message
                == f"same bytes already loaded from {first}, the copy modified first"
            )
            assert registry(con)[outcome.path.name] == ("duplicate", outcome.message)


def test_a_tie_in_modification_time_goes_to_the_path_first_in_order(
    con: duckdb.DuckDBPyConnection, mini_comtrade: Path
) -> None:
    b = copy(mini_comtrade, "b_released-2025-06-30.csv", 10)
    a = copy(mini_comtrade, "a_released-2025-06-30.csv", 10)
    outcomes = ingest(con, b, a)
    assert [o.status for o in outcomes] == ["duplicate", "loaded"]
    assert loaded_from(con) == {a.name: 12}


def test_a_later_copy_in_a_later_ingest_changes_nothing(
    con: duckdb.DuckDBPyConnection, mini_comtrade: Path
) -> None:
    first = copy(mini_comtrade, mini_comtrade.name, 10)
    ingest(con, first)
    before = registry(con)
    later = copy(mini_comtrade, "copy_released-2025-06-30.csv", 20)
    outcomes = ingest(con, first, later)
    assert [o.status for o in outcomes] == ["unchanged", "duplicate"]
    assert outcomes[1].message == f"same bytes already loaded from {first}, the copy modified first"
    assert loaded_from(con) == {first.name: 12}
    assert registry(con)[first.name] == before[first.name]
    assert [o.status for o in ingest(con, first, later)] == ["unchanged", "unchanged"]


def test_an_earlier_copy_arriving_after_the_load_is_named_canonical_and_nothing_is_reloaded(
    con: duckdb.DuckDBPyConnection, mini_comtrade: Path
) -> None:
    loaded = copy(mini_comtrade, mini_comtrade.name, 20)
    ingest(con, loaded)
    earlier = copy(mini_comtrade, "older_copy_released-2025-06-30.csv", 10)
    [_unchanged, outcome] = ingest(con, loaded, earlier)
    assert outcome.status == "duplicate"
    assert outcome.message == (
        f"same bytes already loaded from {loaded}; this copy was modified first and is the "
        "canonical version (the loaded rows are its bytes)"
    )
    assert loaded_from(con) == {loaded.name: 12}  # the same bytes: kept, not reloaded
    status, message = registry(con)[loaded.name]
    assert status == "loaded"
    assert message == (
        f"same bytes as {earlier}, the canonical version (modified first, arrived later)"
    )
    # and again: nothing changes, the note is not repeated
    assert [o.status for o in ingest(con, loaded, earlier)] == ["unchanged", "unchanged"]
    assert registry(con)[loaded.name] == (status, message)


def test_when_the_first_copy_is_refused_the_next_one_loads_and_the_rest_are_its_duplicates(
    con: duckdb.DuckDBPyConnection, mini_comtrade: Path
) -> None:
    """Same bytes, but the earliest is named .json: read as JSON, refused. The next copy
    loads; the last is a duplicate of it, not a second load."""
    as_json = copy(mini_comtrade, "saved_response.json", 10)
    second = copy(mini_comtrade, mini_comtrade.name, 20)
    third = copy(mini_comtrade, "copy_released-2025-06-30.csv", 30)
    outcomes = ingest(con, third, second, as_json)
    assert [o.status for o in outcomes] == ["duplicate", "loaded", "refused"]
    assert (
        outcomes[0].message == f"same bytes already loaded from {second}, the copy modified first"
    )
    assert loaded_from(con) == {second.name: 12}


def test_the_same_bytes_in_another_source_are_loaded_there_too(
    con: duckdb.DuckDBPyConnection, mini_comtrade: Path
) -> None:
    """A duplicate is the same bytes already loaded *by the same source*: another source's
    copy, modified first or not, is not in this source's raw table, so it is loaded."""
    other = dataclasses.replace(
        comtrade.SPEC, name="comtrade_other", raw_table="raw.comtrade_other"
    )
    later = copy(mini_comtrade, mini_comtrade.name, 20)
    ingest(con, later)
    earlier = copy(mini_comtrade, "other_copy_released-2025-06-30.csv", 10)
    [outcome] = ingest_files(con, other, [earlier], log=lambda _m: None)
    assert (outcome.status, outcome.rows_loaded) == ("loaded", 12)
    assert registry(con)[later.name] == ("loaded", None)
    assert loaded_from(con) == {later.name: 12}
