"""Quoting of column names in the SQL the ingest machinery writes, and the catalog lookup
every part of the warehouse code asks before reading a table that may not exist yet.

Column names come from each source's fixed allow-list, never from a file; quoting still
refuses anything unexpected, so a typo in a source module fails loudly instead of producing
SQL that means something else.
"""

from __future__ import annotations

import re

import duckdb

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_ ()%$./-]*$")


def quote_ident(name: str) -> str:
    """Quote a column name from a source's fixed allow-list (refuses anything unexpected)."""
    if not _IDENT.match(name):
        raise ValueError(f"unexpected column name {name!r}")
    return '"' + name.replace('"', '""') + '"'


def table_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    """Whether ``schema.table`` exists in the warehouse ``con`` (read only is enough)."""
    schema, _, name = qualified.partition(".")
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchone()
    return bool(found and found[0])
