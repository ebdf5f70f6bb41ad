"""Reference data goes through the one source template: registered with its file version,
read again only when that version changes, its table replaced by the new version's rows,
bad lines quarantined with their reason, an unusable file refused with the old rows kept."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import duckdb
import pytest

from dagster_project.ingest.landing import sha256_of
from dagster_project.ingest.loader import ingest_files
from dagster_project.ingest.registry import FileOutcome
from dagster_project.ingest.spec import SourceSpec, files_of, ignored_files_of
from dagster_project.sources import REFERENCE_SOURCES, reference

CODES = reference.COUNTRY_CODES


def copy_of(spec: SourceSpec, folder: Path) -> tuple[SourceSpec, Path]:
    """The spec reading a copy of its file in ``folder`` (a file the test may change)."""
    assert spec.reference_file is not None
    path = folder / spec.reference_file().name
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(spec.reference_file(), path)
    return dataclasses.replace(spec, reference_file=lambda: path), path


def ingest(con: duckdb.DuckDBPyConnection, spec: SourceSpec) -> FileOutcome:
    [outcome] = ingest_files(con, spec, files_of(Path("/no/landing"), spec), log=lambda _m: None)
    return outcome


def rows(con: duckdb.DuckDBPyConnection, spec: SourceSpec) -> list[tuple]:
    return con.execute(
        f"select _file_sha256, count(*), min(_loaded_at) from {spec.raw_table} group by 1"
    ).fetchall()


def registry(con: duckdb.DuckDBPyConnection, spec: SourceSpec) -> list[tuple]:
    return con.execute(
        "select path, sha256, size_bytes, status from raw.file_registry where source = ? "
        "order by first_seen, path",
        [spec.name],
    ).fetchall()


def rewrite(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize("spec", REFERENCE_SOURCES, ids=lambda s: s.name)
def test_every_reference_file_loads_whole_under_its_rules(spec: SourceSpec) -> None:
    """The rules hold for the data shipped: nothing of it is quarantined, and a reference
    source reads its one file, never a landing folder."""
    con = duckdb.connect()
    assert ignored_files_of(Path("/no/landing"), spec) == []
    outcome = ingest(con, spec)
    assert (outcome.status, outcome.rows_quarantined) == ("loaded", 0)
    assert outcome.rows_loaded == outcome.rows_read > 0
    assert con.execute(f"select count(*) from {spec.raw_table}").fetchone() == (
        outcome.rows_loaded,
    )


def test_an_unchanged_file_is_not_read_again(tmp_path: Path) -> None:
    spec, path = copy_of(CODES, tmp_path / "repo")
    con = duckdb.connect()
    first = ingest(con, spec)
    assert first.status == "loaded"
    before = rows(con, spec)
    assert registry(con, spec) == [
        (str(path), sha256_of(path), path.stat().st_size, "loaded"),
    ]
    again = ingest(con, spec)
    assert (again.status, again.rows_loaded) == ("unchanged", 0)
    assert rows(con, spec) == before  # same rows, same _loaded_at: not reloaded


def test_a_changed_file_replaces_the_table(tmp_path: Path) -> None:
    spec, path = copy_of(CODES, tmp_path / "repo")
    con = duckdb.connect()
    ingest(con, spec)
    old_sha = sha256_of(path)
    rewrite(path, ",Italy,", ",Italia,")
    outcome = ingest(con, spec)
    new_sha = sha256_of(path)
    assert (outcome.status, outcome.message) == ("loaded", f"revision of {old_sha[:12]}")
    # the table holds the new version only; the registry keeps both versions
    [(sha, count, _loaded_at)] = rows(con, spec)
    assert (sha, count) == (new_sha, outcome.rows_loaded)
    assert con.execute(
        "select country_name from raw.ref_comtrade_country_codes where comtrade_code = '381'"
    ).fetchone() == ("Italia",)
    assert [(sha, status) for _p, sha, _s, status in registry(con, spec)] == [
        (old_sha, "superseded"),
        (new_sha, "loaded"),
    ]


def test_a_bad_line_is_quarantined_with_its_reason(tmp_path: Path) -> None:
    spec, path = copy_of(CODES, tmp_path / "repo")
    rewrite(path, "\n381,ITA,", "\nIT381,ITA,")
    lines = path.read_text(encoding="utf-8").splitlines()
    line = next(n for n, text in enumerate(lines, start=1) if text.startswith("IT381"))
    con = duckdb.connect()
    outcome = ingest(con, spec)
    assert (outcome.status, outcome.rows_quarantined) == ("loaded", 1)
    assert outcome.rows_loaded == outcome.rows_read - 1
    assert con.execute(
        "select source, source_file, line_number, column_name, raw_value, reason "
        "from raw.quarantine"
    ).fetchall() == [
        ("ref_comtrade_country_codes", str(path), line, "comtrade_code", "IT381",
         "not an integer"),
    ]  # fmt: skip
    assert con.execute(
        "select count(*) from raw.ref_comtrade_country_codes where country_name = 'Italy'"
    ).fetchone() == (0,)


def test_an_unusable_file_is_refused_and_the_previous_version_stays(tmp_path: Path) -> None:
    spec, path = copy_of(CODES, tmp_path / "repo")
    con = duckdb.connect()
    ingest(con, spec)
    before = rows(con, spec)
    rewrite(path, "comtrade_code,", "code,")
    outcome = ingest(con, spec)
    assert outcome.status == "refused"
    assert outcome.message == (
        "not the Comtrade area code table: missing required column(s) comtrade_code; "
        "the previously loaded version of this file stays current"
    )
    assert rows(con, spec) == before
    assert [status for *_rest, status in registry(con, spec)] == ["loaded", "refused"]


def test_going_back_to_an_earlier_version_reads_it_again(tmp_path: Path) -> None:
    """Its rows were replaced, so an earlier version (a git revert) is read again, not merely
    marked current as a landing file's would be."""
    spec, path = copy_of(CODES, tmp_path / "repo")
    original = path.read_bytes()
    con = duckdb.connect()
    ingest(con, spec)
    rewrite(path, ",Italy,", ",Italia,")
    ingest(con, spec)
    path.write_bytes(original)
    outcome = ingest(con, spec)
    assert (outcome.status, outcome.rows_loaded) == ("loaded", outcome.rows_read)
    [(sha, _count, _at)] = rows(con, spec)
    assert sha == sha256_of(path)
    assert [status for *_rest, status in registry(con, spec)] == ["loaded", "superseded"]


def test_one_current_version_whatever_the_path(tmp_path: Path) -> None:
    """Two checkouts sharing a warehouse read the file at two paths: the same bytes are not
    read twice, and the table always holds the version of the checkout that ran last."""
    spec_a, path_a = copy_of(CODES, tmp_path / "checkout_a")
    spec_b, path_b = copy_of(CODES, tmp_path / "checkout_b")
    con = duckdb.connect()
    assert ingest(con, spec_a).status == "loaded"
    assert ingest(con, spec_b).status == "duplicate"
    rewrite(path_a, ",Italy,", ",Italia,")
    assert ingest(con, spec_a).status == "loaded"
    assert rows(con, spec_a)[0][0] == sha256_of(path_a)
    # checkout b still has the old bytes: they are read again, not taken as "unchanged"
    assert ingest(con, spec_b).status == "loaded"
    assert [sha for sha, _n, _at in rows(con, spec_b)] == [sha256_of(path_b)]
    statuses = {(p, status) for p, _sha, _size, status in registry(con, spec_a)}
    assert (str(path_b), "loaded") in statuses
    assert (str(path_a), "loaded") not in statuses


def test_reference_data_is_never_a_batch() -> None:
    with pytest.raises(ValueError, match="reference data is one file"):
        dataclasses.replace(CODES, batch_key=lambda _p: 1, load_batch=lambda *_a, **_k: None)


def test_a_table_built_by_older_code_is_rebuilt_and_read_again(tmp_path: Path) -> None:
    """A warehouse of the code that reloaded reference tables whole (no load metadata, no
    registry row), or a table dropped by hand while the registry says its file is loaded:
    the table is created anew and its file read again, never left empty as "unchanged"."""
    spec, path = copy_of(CODES, tmp_path / "repo")
    con = duckdb.connect()
    con.execute("create schema raw")
    con.execute(
        f"create table {spec.raw_table} as select * from read_csv(?, all_varchar = true)",
        [str(path)],
    )
    outcome = ingest(con, spec)
    assert (outcome.status, outcome.rows_loaded) == ("loaded", outcome.rows_read)
    assert [sha for sha, _n, _at in rows(con, spec)] == [sha256_of(path)]
    con.execute(f"drop table {spec.raw_table}")
    again = ingest(con, spec)
    assert (again.status, again.rows_loaded) == ("loaded", outcome.rows_loaded)
    assert ingest(con, spec).status == "unchanged"
