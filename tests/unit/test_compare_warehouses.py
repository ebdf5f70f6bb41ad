"""benchmarks/compare_warehouses.py: the proof that a refactoring left the marts unchanged
must itself see a change, down to a double's last bit."""

from __future__ import annotations

from pathlib import Path

import duckdb

from benchmarks.compare_warehouses import compare

ROWS = "(1, 'a', 0.1 + 0.2), (2, NULL, 1.5), (2, NULL, 1.5)"


def warehouse(path: Path, rows: str = ROWS, loaded_at: str = "2024-01-01") -> Path:
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    con.execute(
        f"create table marts.t as select *, '{loaded_at}' as _loaded_at from (values {rows}) v(k, s, x)"
    )
    con.close()
    return path


def test_identical_tables_pass(tmp_path: Path) -> None:
    a, b = warehouse(tmp_path / "a.duckdb"), warehouse(tmp_path / "b.duckdb")
    assert compare(a, b, ["marts"], set(), out=lambda _l: None) == []


def test_a_value_a_duplicate_or_a_last_bit_is_a_difference(tmp_path: Path) -> None:
    a = warehouse(tmp_path / "a.duckdb")
    changed = {
        "value": "(1, 'b', 0.1 + 0.2), (2, NULL, 1.5), (2, NULL, 1.5)",
        "duplicate": "(1, 'a', 0.1 + 0.2), (2, NULL, 1.5)",
        "last bit": "(1, 'a', 0.3), (2, NULL, 1.5), (2, NULL, 1.5)",
    }
    for name, rows in changed.items():
        b = warehouse(tmp_path / f"{name}.duckdb", rows)
        assert compare(a, b, ["marts"], set(), out=lambda _l: None), name


def test_ignored_columns_are_left_out(tmp_path: Path) -> None:
    a = warehouse(tmp_path / "a.duckdb")
    b = warehouse(tmp_path / "b.duckdb", loaded_at="2025-06-30")
    assert compare(a, b, ["marts"], set(), out=lambda _l: None)
    assert compare(a, b, ["marts"], {"_loaded_at"}, out=lambda _l: None) == []
