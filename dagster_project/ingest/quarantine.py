"""Row-level validation shared by all sources: rows that cannot be typed go to
``raw.quarantine`` with file, line, column and reason; the others go to the raw table.

A source describes its rules as SQL predicates over the delivered (VARCHAR) columns of a
staged temp table; nothing from the file itself is ever pasted into SQL. A reason may hold
``{value}``: the quarantine row's reason then names the offending text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.ingest.sql import quote_ident

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


@dataclass(frozen=True)
class Rule:
    """A row is quarantined when ``bad_when`` is true; ``{c}`` stands for the quoted column."""

    column: str
    bad_when: str
    reason: str

    def predicate(self) -> str:
        return self.bad_when.replace("{c}", quote_ident(self.column))


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


def typed(column: str, type_: str) -> Rule:
    """The column's raw type (``SourceSpec.column_types``): a value that does not cast to it
    quarantines its row, so that the typed raw table never holds a silent NULL."""
    return Rule(
        column,
        f"{{c}} is not null and try_cast({{c}} as {type_}) is null",
        f"{column} {{value}} is not {type_}",
    )


def problem_sql(rules: Sequence[Rule]) -> str:
    """SQL of the number of the first rule a row breaks (NULL when it breaks none)."""
    cases = " ".join(f"when {rule.predicate()} then {i}" for i, rule in enumerate(rules))
    return f"case {cases} end" if rules else "null"


@dataclass(frozen=True)
class FileValues:
    """What the raw table records of one file beside its rows: its hash and extra columns."""

    sha256: str
    extra: dict[str, object]


def split_and_insert_files(
    con: duckdb.DuckDBPyConnection,
    *,
    staged: str,
    raw_table: str,
    columns: Sequence[str],
    rules: Sequence[Rule],
    source: str,
    files: dict[Path, FileValues],
    loaded_at: dt.datetime,
    line_offset: int = 1,
    single_file: bool = False,
    checked: bool = False,
) -> dict[Path, tuple[int, int]]:
    """Move rows of temp table ``staged`` (delivered columns + ``_row_number``) into
    ``raw_table`` or ``raw.quarantine``; the first failing rule names the reason.

    ``raw_table`` receives ``columns`` then ``_source_file, _file_sha256, _loaded_at,
    _row_number`` then each file's extra values (in that order, by name). ``line_offset``
    turns a data row number into a file line number (1 for a single header line).
    ``staged`` has a ``_source_file`` column (unless ``single_file``: then every row is the
    one file's).
    ``checked``: ``staged`` already has ``_problem`` = :func:`problem_sql` of ``rules`` (and
    is consumed). Every file's extra values must name the same columns. Returns (rows read,
    rows quarantined) per file that had rows.
    """
    con.execute(QUARANTINE_DDL)
    if not files:  # e.g. every file of a batch had unreadable lines: nothing to move here
        con.execute(f"DROP TABLE IF EXISTS {staged}")
        return {}
    extra_columns = list(next(iter(files.values())).extra)
    extra_sql = "".join(f", {quote_ident(c)}" for c in extra_columns)
    # one row per file, typed like the raw table's columns
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _files AS SELECT _source_file, _file_sha256{extra_sql} "
        f"FROM {raw_table} LIMIT 0"
    )
    con.executemany(
        f"INSERT INTO _files VALUES (?, ?{', ?' * len(extra_columns)})",
        [[str(p), v.sha256, *(v.extra[c] for c in extra_columns)] for p, v in files.items()],
    )
    if checked:  # the stager computed _problem while reading
        con.execute(f"ALTER TABLE {staged} RENAME TO _checked")
    else:
        source_file = "?::VARCHAR AS _source_file, " if single_file else ""
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _checked AS "
            f"SELECT *, {source_file}{problem_sql(rules)} AS _problem FROM {staged}",
            [str(next(iter(files)))] if single_file else [],
        )
    counts = {
        Path(name): (read, quarantined)
        for name, read, quarantined in con.execute(
            "SELECT _source_file, count(*), count(_problem) FROM _checked GROUP BY 1"
        ).fetchall()
    }
    if rules and any(quarantined for _read, quarantined in counts.values()):
        # one pass over the bad rows only: the rule number names column, value and reason
        record = ", ".join(f"{quote_ident(c)} := {quote_ident(c)}" for c in columns)
        value = " ".join(
            f"when {i} then cast({quote_ident(rule.column)} AS VARCHAR)"
            for i, rule in enumerate(rules)
        )
        con.execute(
            f"""
            INSERT INTO {QUARANTINE_TABLE}
            SELECT ?, _checked._source_file, _files._file_sha256, _row_number + ?,
                   rules.column_name, case _problem {value} end,
                   replace(rules.reason, '{{value}}',
                           concat('''', case _problem {value} end, '''')),
                   to_json(struct_pack({record}))::VARCHAR, ?
            FROM _checked
            JOIN _files USING (_source_file)
            JOIN (SELECT unnest(?::VARCHAR[]) AS column_name, unnest(?::VARCHAR[]) AS reason,
                         generate_subscripts(?::VARCHAR[], 1) - 1 AS rule_number) AS rules
              ON _checked._problem = rules.rule_number
            ORDER BY _checked._source_file, _row_number
            """,
            [
                source, line_offset, loaded_at,
                [r.column for r in rules], [r.reason for r in rules], [r.reason for r in rules],
            ],
        )  # fmt: skip
    target_cols = [*columns, "_source_file", "_file_sha256", "_loaded_at", "_row_number"]
    target_cols += extra_columns
    select = ", ".join(f"_checked.{quote_ident(c)}" for c in columns)
    extra_select = "".join(f", _files.{quote_ident(c)}" for c in extra_columns)
    con.execute(
        f"INSERT INTO {raw_table} ({', '.join(quote_ident(c) for c in target_cols)}) "
        f"SELECT {select}, _checked._source_file, _files._file_sha256, ?, _row_number"
        f"{extra_select} FROM _checked JOIN _files USING (_source_file) "
        "WHERE _problem IS NULL",
        [loaded_at],
    )
    con.execute("DROP TABLE _checked")
    con.execute("DROP TABLE _files")
    return counts
