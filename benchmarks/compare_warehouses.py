"""Are two warehouses' tables the same, row for row? For a refactoring that must not change
what the marts say: build the same landing zone before and after, then compare.

    MIRROR_HOME=/tmp/before uv run mirror run      # on the old code
    MIRROR_HOME=/tmp/after  uv run mirror run      # on the new code
    uv run python benchmarks/compare_warehouses.py /tmp/before/mirror.duckdb \\
        /tmp/after/mirror.duckdb --schema marts

Per table of each schema: the same columns with the same types, the same row count, no row
of one missing from the other (``EXCEPT ALL`` both ways: duplicates count) and the same
sha256 of the rows printed as text in sorted order (a double that changed in its last bit
prints differently). ``--ignore-columns`` leaves out columns that legitimately differ from
run to run (say ``_loaded_at`` in raw). Exit code 0 when every table is identical, 1 when one
is not, each difference on its own line.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def tables(con: duckdb.DuckDBPyConnection, catalog: str, schema: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_catalog = ? AND table_schema = ? ORDER BY 1",
            [catalog, schema],
        ).fetchall()
    ]


def columns(
    con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str
) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = ? AND table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [catalog, schema, table],
    ).fetchall()


def rows_sha256(con: duckdb.DuckDBPyConnection, relation: str, select: str) -> str:
    """sha256 of the rows as text, sorted: equal only if every value prints the same."""
    digest = hashlib.sha256()
    cursor = con.execute(f"SELECT {select} FROM {relation} ORDER BY ALL")
    while batch := cursor.fetchmany(10_000):
        for row in batch:
            digest.update(repr(row).encode("utf-8") + b"\n")
    return digest.hexdigest()


def compare_table(
    con: duckdb.DuckDBPyConnection, schema: str, table: str, ignored: set[str]
) -> list[str]:
    """The differences of one table between catalogs ``a`` and ``b`` (empty: identical)."""
    cols_a = [c for c in columns(con, "a", schema, table) if c[0] not in ignored]
    cols_b = [c for c in columns(con, "b", schema, table) if c[0] not in ignored]
    name = f"{schema}.{table}"
    if cols_a != cols_b:
        return [f"{name}: columns differ: {cols_a} != {cols_b}"]
    select = ", ".join(quote(c) for c, _type in cols_a)
    rel_a, rel_b = f"a.{quote(schema)}.{quote(table)}", f"b.{quote(schema)}.{quote(table)}"
    problems = []
    count_a = con.execute(f"SELECT count(*) FROM {rel_a}").fetchone()[0]
    count_b = con.execute(f"SELECT count(*) FROM {rel_b}").fetchone()[0]
    if count_a != count_b:
        problems.append(f"{name}: {count_a} rows != {count_b} rows")
    for left, right, label in ((rel_a, rel_b, "first"), (rel_b, rel_a, "second")):
        only = con.execute(
            f"SELECT count(*) FROM (SELECT {select} FROM {left} EXCEPT ALL "
            f"SELECT {select} FROM {right})"
        ).fetchone()[0]
        if only:
            problems.append(f"{name}: {only} rows only in the {label} warehouse")
    if not problems and rows_sha256(con, rel_a, select) != rows_sha256(con, rel_b, select):
        problems.append(f"{name}: same rows by value but they print differently")
    return problems


def compare(
    first: Path,
    second: Path,
    schemas: list[str],
    ignored: set[str],
    out: Callable[[str], None] = print,
) -> list[str]:
    """Every difference between the two warehouses' tables of ``schemas``."""
    con = duckdb.connect()
    con.execute("ATTACH ? AS a (READ_ONLY)", [str(first)])
    con.execute("ATTACH ? AS b (READ_ONLY)", [str(second)])
    problems: list[str] = []
    for schema in schemas:
        in_a, in_b = tables(con, "a", schema), tables(con, "b", schema)
        if not in_a and not in_b:
            problems.append(f"{schema}: no table in either warehouse")
        for table in sorted(set(in_a) ^ set(in_b)):
            problems.append(
                f"{schema}.{table}: only in the {'first' if table in in_a else 'second'}"
            )
        for table in sorted(set(in_a) & set(in_b)):
            found = compare_table(con, schema, table, ignored)
            rows = con.execute(f"SELECT count(*) FROM a.{quote(schema)}.{quote(table)}").fetchone()[
                0
            ]
            out(f"{'DIFFERS  ' if found else 'identical'} {schema}.{table} ({rows} rows)")
            problems += found
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("first", type=Path, help="a warehouse file (mirror.duckdb)")
    parser.add_argument("second", type=Path, help="the warehouse file to compare it with")
    parser.add_argument(
        "--schema",
        action="append",
        dest="schemas",
        help="schema to compare (repeat; default marts)",
    )
    parser.add_argument(
        "--ignore-columns", default="", help="comma-separated columns left out (e.g. _loaded_at)"
    )
    args = parser.parse_args(argv)
    for path in (args.first, args.second):
        if not path.is_file():
            parser.error(f"{path} is not a file: give the mirror.duckdb of a built home")
    ignored = {c.strip() for c in args.ignore_columns.split(",") if c.strip()}
    problems = compare(args.first, args.second, args.schemas or ["marts"], ignored)
    for problem in problems:
        print(problem, file=sys.stderr)
    print("identical" if not problems else f"{len(problems)} difference(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
