"""Every file under the landing zone is read by a source or registered as ignored."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from dagster_project.ingest import registry
from dagster_project.ingest.landing import outside_sources, scan, unmatched


def make_landing(root: Path) -> None:
    for name in ("comtrade/a.csv", "comtrade/sub/b.csv.gz", "comtrade/notes.pdf",
                 "README.md", "comtrad/c.csv", "eurostat/.hidden"):  # fmt: skip
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)


def test_files_are_matched_unmatched_or_outside(tmp_path: Path) -> None:
    make_landing(tmp_path)
    patterns = ("*.csv", "*.csv.gz")
    names = lambda paths: [str(p.relative_to(tmp_path)) for p in paths]  # noqa: E731
    assert names(scan(tmp_path, "comtrade", patterns)) == [
        "comtrade/a.csv",
        "comtrade/sub/b.csv.gz",
    ]
    assert names(unmatched(tmp_path, "comtrade", patterns)) == ["comtrade/notes.pdf"]
    assert names(unmatched(tmp_path, "eurostat", patterns)) == ["eurostat/.hidden"]
    assert names(outside_sources(tmp_path, ["comtrade", "eurostat"])) == [
        "README.md",
        "comtrad/c.csv",
    ]


def test_an_ignored_file_is_registered_once_and_hashed_once(tmp_path: Path, monkeypatch) -> None:
    make_landing(tmp_path)
    pdf = tmp_path / "comtrade" / "notes.pdf"
    con = duckdb.connect()
    registry.ensure_registry(con)
    now = dt.datetime(2026, 1, 1)
    outcome = registry.record_ignored(con, pdf, "comtrade", "not read: a PDF", now)
    assert (outcome.status, outcome.message) == ("ignored", "not read: a PDF")

    def no_hash(_path: Path) -> str:
        raise AssertionError("an untouched ignored file is hashed again")

    monkeypatch.setattr("dagster_project.ingest.landing.sha256_of", no_hash)
    registry.record_ignored(con, pdf, "comtrade", "not read: a PDF", now + dt.timedelta(days=1))
    rows = con.execute(
        "select source, status, message, last_seen from raw.file_registry"
    ).fetchall()
    assert rows == [("comtrade", "ignored", "not read: a PDF", now + dt.timedelta(days=1))]
