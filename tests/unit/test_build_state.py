"""build_state: `mirror run` does nothing only when nothing it reads changed, and anything it
cannot read counts as a change (the check may cause extra work, never skip needed work)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from dagster_project import build_state
from dagster_project.build_state import BuildInputs
from dagster_project.ingest.registry import REGISTRY_DDL
from dagster_project.settings import Settings


def _registry(con: duckdb.DuckDBPyConnection, files: list[Path], status: str = "loaded") -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute(REGISTRY_DDL)
    for i, path in enumerate(files):
        stat = path.stat()
        con.execute(
            "INSERT INTO raw.file_registry (path, sha256, size_bytes, modified_ns, source, status,"
            " first_seen, last_seen) VALUES (?, ?, ?, ?, 'comtrade', ?, now(), now())",
            [str(path), f"sha{i}", stat.st_size, stat.st_mtime_ns, status],
        )


@pytest.fixture
def home(tmp_path: Path) -> Settings:
    landing = tmp_path / "landing" / "comtrade"
    landing.mkdir(parents=True)
    for name in ("a.csv", "b.csv"):
        (landing / name).write_text("x\n1\n")
    settings = Settings.from_env(tmp_path / "home", tmp_path / "landing", environ={})
    settings.home.mkdir()
    with duckdb.connect(str(settings.duckdb_path)) as con:
        _registry(con, sorted(landing.iterdir()))
        inputs = build_state.current_inputs(con)
    settings.layout.published_dir.mkdir()
    settings.layout.published_duckdb_path.write_bytes(b"published")
    build_state.record_published(settings.layout, inputs, "pub-1")
    return settings


def test_unchanged_inputs_are_up_to_date(home: Settings) -> None:
    check = build_state.quick_check(home)
    assert check.up_to_date, check.reason
    assert check.publication_id == "pub-1"


def test_a_touched_landing_file_is_not_up_to_date(home: Settings) -> None:
    path = home.landing / "comtrade" / "a.csv"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    check = build_state.quick_check(home)
    assert not check.up_to_date
    assert check.reason == f"{path} is new or changed"


def test_a_new_landing_file_is_not_up_to_date(home: Settings) -> None:
    (home.landing / "comtrade" / "c.csv").write_text("x\n2\n")
    assert "c.csv is new or changed" in build_state.quick_check(home).reason


def test_a_removed_landing_file_changes_nothing(home: Settings) -> None:
    """The ingest keeps the rows of a file that left the landing zone, so the marts stand."""
    (home.landing / "comtrade" / "b.csv").unlink()
    assert build_state.quick_check(home).up_to_date


def test_an_old_version_put_back_is_not_up_to_date(home: Settings) -> None:
    """The size and mtime of a *superseded* version prove nothing: the ingest hashes such a
    file (and makes that version current again), so the quick check must not skip it."""
    path = home.landing / "comtrade" / "a.csv"
    with duckdb.connect(str(home.duckdb_path)) as con:
        con.execute("UPDATE raw.file_registry SET status = 'superseded' WHERE sha256 = 'sha0'")
        con.execute(
            "INSERT INTO raw.file_registry (path, sha256, size_bytes, modified_ns, source, status,"
            " first_seen, last_seen) VALUES (?, 'sha-new', 99, 1, 'comtrade', 'loaded', now(),"
            " now())",
            [str(path)],
        )
    assert build_state.quick_check(home).reason == f"{path} is new or changed"


def test_a_new_day_is_a_change(home: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build_state, "today_utc", lambda: "2999-01-01")
    check = build_state.quick_check(home)
    assert (check.up_to_date, check.reason) == (False, "changed: day")


def test_a_registry_change_is_a_data_change(home: Settings) -> None:
    """A file's version changed state (here: loaded, then refused) with the file untouched."""
    with duckdb.connect(str(home.duckdb_path)) as con:
        con.execute("UPDATE raw.file_registry SET status = 'refused' WHERE sha256 = 'sha0'")
    assert build_state.quick_check(home).reason == "changed: landing data"


def test_last_seen_is_not_a_change(home: Settings) -> None:
    """Every ingest stamps ``last_seen``; that is not new data."""
    with duckdb.connect(str(home.duckdb_path)) as con:
        con.execute("UPDATE raw.file_registry SET last_seen = now() + INTERVAL 1 DAY")
    assert build_state.quick_check(home).up_to_date


def test_nothing_published_or_unreadable_is_a_change(home: Settings) -> None:
    home.layout.published_inputs_path.write_text("{not json")
    assert build_state.quick_check(home).reason == "nothing published yet"
    build_state.forget_published(home.layout)
    assert not home.layout.published_inputs_path.exists()
    assert build_state.quick_check(home).reason == "nothing published yet"


def test_a_fingerprint_without_its_published_file_is_ignored(home: Settings) -> None:
    home.layout.published_duckdb_path.unlink()
    assert build_state.published_inputs(home.layout) is None


def test_a_warehouse_held_by_a_writer_counts_as_changed(home: Settings) -> None:
    """Another process building (holding the file for writing): the run goes ahead and
    waits its turn at the run lock instead of trusting what it could not read."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
            "print('open', flush=True); time.sleep(60)",
            str(home.duckdb_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        check = build_state.quick_check(home)
    finally:
        holder.kill()
        holder.wait()
    assert not check.up_to_date
    assert check.reason.startswith("warehouse not readable now")


def test_code_fingerprint_follows_the_project_not_its_build_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "dbt"
    (project / "models").mkdir(parents=True)
    (project / "target").mkdir()
    model = project / "models" / "m.sql"
    model.write_text("select 1 as x")
    monkeypatch.setattr(build_state, "DBT_PROJECT_DIR", project)
    before = build_state.code_fingerprint()
    (project / "target" / "manifest.json").write_text("{}")
    assert build_state.code_fingerprint() == before, "dbt's output is not an input"
    model.write_text("select 2 as x")
    assert build_state.code_fingerprint() != before


def test_describe_change_names_every_part() -> None:
    now = BuildInputs("d1", "c1", "2026-01-02")
    assert now.describe_change(None) == "nothing published yet"
    assert now.describe_change(now) == "unchanged"
    then = BuildInputs("d0", "c0", "2026-01-01")
    assert now.describe_change(then) == "changed: landing data, code or rules, day"
