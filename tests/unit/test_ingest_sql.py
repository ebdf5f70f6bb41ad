"""ingest/sql.py: the catalog lookup shared by the ingest, the build plan and the report."""

import dataclasses

import duckdb
import pytest

from dagster_project.ingest.sql import table_exists
from dagster_project.sources import comtrade


def test_table_exists_finds_only_that_schema_and_table() -> None:
    con = duckdb.connect()
    con.execute("create schema raw")
    con.execute("create table raw.present (x integer)")
    assert table_exists(con, "raw.present")
    assert not table_exists(con, "raw.absent")
    assert not table_exists(con, "other.present")


def test_a_source_whose_rule_tables_are_missing_says_which() -> None:
    con = duckdb.connect()
    spec = dataclasses.replace(comtrade.SPEC, requires=("raw.no_such_table",))
    with pytest.raises(RuntimeError, match=r"raw\.no_such_table is missing: its rules read it"):
        spec.check_requires(con)
    con.execute("create schema raw")
    con.execute("create table raw.no_such_table (x integer)")
    spec.check_requires(con)  # there now: nothing to say
