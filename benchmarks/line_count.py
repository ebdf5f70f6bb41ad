"""What the independent record count costs: a synthetic Comtrade CSV of N lines (the sample's
rows repeated, a quoted description on every line), read by DuckDB as ingest reads it, alone
and with the count of ``ingest/records.py`` running beside it as ingest runs it (a thread),
and the count alone. Not part of the test suite.

    uv run python benchmarks/line_count.py --lines 1000000 5000000 [--gzip] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import gzip
import time
from pathlib import Path

import duckdb

from dagster_project.ingest.text_files import _counting, _reader_sql, inspect_delimited, scan_file
from tests.conftest import sample_file


def build(path: Path, lines: int) -> None:
    rows = sample_file("M", "KAZ").read_bytes().splitlines()
    header, body = rows[0], rows[1:]
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wb") as out:  # type: ignore[operator]
        out.write(header + b"\n")
        block = b"\n".join(body) + b"\n"
        written = 0
        while written + len(body) <= lines:
            out.write(block)
            written += len(body)
        out.write(b"".join(row + b"\n" for row in body[: lines - written]))


def _read(path: Path, width: int, delimiter: str) -> int:
    con = duckdb.connect()
    con.execute(
        "CREATE TEMP TABLE _incoming AS SELECT *, row_number() OVER () AS _row_number "
        f"FROM {_reader_sql(width)}",
        [str(path), delimiter],
    )
    return con.execute("SELECT count(*) FROM _incoming").fetchone()[0]


def measure(path: Path) -> dict[str, float]:
    inspected = inspect_delimited(path)
    width, delimiter = len(inspected.header), inspected.delimiter
    start = time.perf_counter()
    rows = _read(path, width, delimiter)
    reader = time.perf_counter() - start
    start = time.perf_counter()
    with _counting([path], delimiter) as count:
        assert _read(path, width, delimiter) == rows
        assert count[path].result().records == rows
    both = time.perf_counter() - start
    start = time.perf_counter()
    assert scan_file(path, delimiter).records == rows
    alone = time.perf_counter() - start
    return {"rows": rows, "reader_s": reader, "both_s": both, "count_s": alone}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--dir", type=Path, default=Path("/tmp"))
    args = parser.parse_args()
    for lines in args.lines:
        path = args.dir / f"line_count_{lines}.csv{'.gz' if args.gzip else ''}"
        if not path.exists():
            build(path, lines)
        result = measure(path)
        size = f"{path.stat().st_size / 1e6:,.0f} MB{' gzip' if args.gzip else ''}"
        overhead = 100 * (result["both_s"] / result["reader_s"] - 1)
        print(
            f"{lines:>10,} lines, {size}: DuckDB read {result['reader_s']:.1f} s; with the "
            f"count beside it {result['both_s']:.1f} s (+{overhead:.0f} %); "
            f"the count alone {result['count_s']:.1f} s"
        )


if __name__ == "__main__":
    main()
