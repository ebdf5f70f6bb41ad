"""Typing a raw table built by older code (delivered columns all VARCHAR) in place.

The rows in such a table already passed their source's rules, so nearly every value casts; the
few that do not (columns that had no rule then: a unit code, a flag, an integer beyond the
INTEGER range) are moved to ``raw.quarantine`` with the reason a new load would give, and their
file version's counts in ``raw.file_registry`` move from loaded to quarantined: no row is lost
and every file still adds up. One transaction: a failure leaves the table as it was.
Idempotent: a table whose columns have their types already is left alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence

import duckdb

from dagster_project.ingest import quarantine as q
from dagster_project.ingest import registry
from dagster_project.ingest.sql import quote_ident


def untyped_columns(
    found: Sequence[tuple[str, str]], column_types: Mapping[str, str]
) -> dict[str, str]:
    """Typed columns (name -> type) that ``found`` (the table's (name, type) pairs) still
    holds as VARCHAR."""
    found_types = dict(found)
    return {
        c: t for c, t in column_types.items() if found_types.get(c) == "VARCHAR" and t != "VARCHAR"
    }


def convert_in_place(
    con: duckdb.DuckDBPyConnection,
    *,
    table: str,
    create_typed: Callable[[str], str],
    source: str,
    delivered: Sequence[str],
    to_type: Mapping[str, str],
    now: dt.datetime,
) -> int:
    """Retype ``table``'s columns ``to_type`` (VARCHAR now). ``create_typed(name)`` is the DDL
    of the typed table under ``name`` (a new table, renamed to ``table`` at the end). Returns
    the rows quarantined."""
    rules = [q.typed(c, t) for c, t in to_type.items()]
    problem = q.problem_sql(rules)
    schema, _, name = table.partition(".")
    staging_name = f"{name}__typing"
    columns = [
        row[0]
        for row in con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [schema, name],
        ).fetchall()
    ]
    select = ", ".join(
        f"cast({quote_ident(c)} AS {to_type[c]})" if c in to_type else quote_ident(c)
        for c in columns
    )
    record = ", ".join(f"{quote_ident(c)} := {quote_ident(c)}" for c in delivered)
    value = " ".join(f"when {i} then {quote_ident(r.column)}" for i, r in enumerate(rules))
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _untypable AS "
            f"SELECT *, {problem} AS _problem FROM {table} WHERE {problem} IS NOT NULL"
        )
        failing = con.execute("SELECT count(*) FROM _untypable").fetchone()
        moved = int(failing[0]) if failing else 0
        if moved:
            # the line is not known here (a file's header lines are its reader's business):
            # the reason gives the data row, raw_record the delivered text
            con.execute(
                f"""
                INSERT INTO {q.QUARANTINE_TABLE}
                SELECT ?, _source_file, _file_sha256, NULL, rules.column_name,
                       case _problem {value} end,
                       replace(rules.reason, '{{value}}',
                               concat('''', case _problem {value} end, ''''))
                           || ' (data row ' || _row_number || ', found typing ' || ? || ')',
                       to_json(struct_pack({record}))::VARCHAR, ?
                FROM _untypable
                JOIN (SELECT unnest(?::VARCHAR[]) AS column_name,
                             unnest(?::VARCHAR[]) AS reason,
                             generate_subscripts(?::VARCHAR[], 1) - 1 AS rule_number) AS rules
                  ON _untypable._problem = rules.rule_number
                ORDER BY _source_file, _row_number
                """,
                [
                    source, table, now,
                    [r.column for r in rules], [r.reason for r in rules],
                    [r.reason for r in rules],
                ],
            )  # fmt: skip
            con.execute(
                f"""
                UPDATE {registry.REGISTRY_TABLE} AS r
                SET rows_loaded = r.rows_loaded - m.n,
                    rows_quarantined = r.rows_quarantined + m.n
                FROM (SELECT _source_file, _file_sha256, count(*) AS n
                      FROM _untypable GROUP BY ALL) AS m
                WHERE r.path = m._source_file AND r.sha256 = m._file_sha256
                """
            )
        con.execute(create_typed(f"{schema}.{staging_name}"))
        con.execute(
            f"INSERT INTO {schema}.{staging_name} SELECT {select} FROM {table} "
            f"WHERE {problem} IS NULL"
        )
        con.execute(f"DROP TABLE {table}")
        con.execute(f"ALTER TABLE {schema}.{staging_name} RENAME TO {name}")
        con.execute("DROP TABLE _untypable")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return moved
