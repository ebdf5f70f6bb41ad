"""Row-level validation shared by all sources: rows that cannot be typed go to
``raw.quarantine`` with file, line, column and reason; the others go to the raw table.

A source describes its rules as SQL predicates over the delivered (VARCHAR) columns of a
staged temp table; nothing from the file itself is ever pasted into SQL.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.ingest.spec import LoadResult

QUARANTINE_TABLE = "raw.quarantine"

QUARANTINE_DDL = f"""
CREATE TABLE IF NOT EXISTS {QUARANTINE_TABLE} (
    source          VARCHAR NOT NULL,
    source_file     VARCHAR NOT NULL,
    file_sha256     VARCHAR NOT NULL,
    line_number     BIGINT,
    column_name     VARCHAR,
    raw_value       VARCHAR,
    reason          VARCHAR NOT NULL,
    raw_record      VARCHAR,
    quarantined_at  TIMESTAMP NOT NULL
)
"""

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_ ()%$./-]*$")


@dataclass(frozen=True)
class Rule:
    """A row is quarantined when ``bad_when`` is true; ``{c}`` stands for the quoted column."""

    column: str
    bad_when: str
    reason: str

    def predicate(self) -> str:
        return self.bad_when.replace("{c}", quote_ident(self.column))


def quote_ident(name: str) -> str:
    """Quote a column name from a source's fixed allow-list (refuses anything unexpected)."""
    if not _IDENT.match(name):
        raise ValueError(f"unexpected column name {name!r}")
    return '"' + name.replace('"', '""') + '"'


# Reusable rules ------------------------------------------------------------------------------


def number(column: str) -> Rule:
    return Rule(column, "{c} is not null and try_cast({c} as double) is null", "not a number")


def non_negative(column: str) -> Rule:
    return Rule(column, "try_cast({c} as double) < 0", "negative value")


def integer(column: str) -> Rule:
    return Rule(column, "{c} is not null and try_cast({c} as bigint) is null", "not an integer")


def required(column: str) -> Rule:
    return Rule(column, "{c} is null or trim({c}) = ''", "missing value")


def one_of(column: str, values: Sequence[str]) -> Rule:
    allowed = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return Rule(
        column, f"{{c}} is not null and {{c}} not in ({allowed})", f"not one of {list(values)}"
    )


def split_and_insert(
    con: duckdb.DuckDBPyConnection,
    *,
    staged: str,
    raw_table: str,
    columns: Sequence[str],
    rules: Sequence[Rule],
    source: str,
    path: Path,
    sha256: str,
    loaded_at: dt.datetime,
    detected_format: str,
    extra_values: dict[str, object] | None = None,
    line_offset: int = 1,
) -> LoadResult:
    """Move rows of temp table ``staged`` (delivered columns + ``_row_number``) into
    ``raw_table`` or ``raw.quarantine``; the first failing rule names the reason.

    ``raw_table`` receives ``columns`` then ``_source_file, _file_sha256, _loaded_at,
    _row_number`` then ``extra_values`` (in that order, by name). ``line_offset`` turns a
    data row number into a file line number (1 for a single header line).
    """
    con.execute(QUARANTINE_DDL)
    cases = " ".join(f"when {rule.predicate()} then {i}" for i, rule in enumerate(rules))
    problem = f"case {cases} end" if rules else "null"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _checked AS SELECT *, {problem} AS _problem FROM {staged}"
    )
    read, quarantined = con.execute("SELECT count(*), count(_problem) FROM _checked").fetchone()
    if quarantined and rules:
        # one pass over the bad rows only: the rule number names column, value and reason
        record = ", ".join(f"{quote_ident(c)} := {quote_ident(c)}" for c in columns)
        value = " ".join(
            f"when {i} then cast({quote_ident(rule.column)} AS VARCHAR)"
            for i, rule in enumerate(rules)
        )
        con.execute(
            f"""
            INSERT INTO {QUARANTINE_TABLE}
            SELECT ?, ?, ?, _row_number + ?, rules.column_name, case _problem {value} end,
                   rules.reason, to_json(struct_pack({record}))::VARCHAR, ?
            FROM _checked
            JOIN (SELECT unnest(?::VARCHAR[]) AS column_name, unnest(?::VARCHAR[]) AS reason,
                         generate_subscripts(?::VARCHAR[], 1) - 1 AS rule_number) AS rules
              ON _checked._problem = rules.rule_number
            ORDER BY _row_number
            """,
            [
                source, str(path), sha256, line_offset, loaded_at,
                [r.column for r in rules], [r.reason for r in rules], [r.reason for r in rules],
            ],
        )  # fmt: skip
    extra = extra_values or {}
    target_cols = [*columns, "_source_file", "_file_sha256", "_loaded_at", "_row_number", *extra]
    select = ", ".join(quote_ident(c) for c in columns)
    placeholders = ", ".join("?" for _ in extra)
    con.execute(
        f"INSERT INTO {raw_table} ({', '.join(quote_ident(c) for c in target_cols)}) "
        f"SELECT {select}, ?, ?, ?, _row_number{', ' + placeholders if extra else ''} "
        "FROM _checked WHERE _problem IS NULL ORDER BY _row_number",
        [str(path), sha256, loaded_at, *extra.values()],
    )
    con.execute("DROP TABLE _checked")
    return LoadResult(read, read - quarantined, quarantined, detected_format)
