"""Batched ingest (many same-layout files in one scan and one transaction) must be an
optimisation only: the raw table, the quarantine and the registry come out exactly as when
every file is loaded alone, line numbers included, and a batch that fails leaves nothing."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import duckdb
import pytest

from dagster_project.ingest.loader import ingest_files
from dagster_project.ingest.spec import files_of
from dagster_project.sources import comtrade
from tests.conftest import REPO_ROOT, SAMPLE_COMTRADE, load_reference_tables

CORPUS = REPO_ROOT / "tests" / "fixtures" / "bad_input"


def fresh() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    load_reference_tables(con)
    return con


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The sample, the bad-input corpus and a copy of one sample file under another name
    (a duplicate within one ingest), all in one landing folder."""
    root = tmp_path_factory.mktemp("landing") / "comtrade"
    shutil.copytree(SAMPLE_COMTRADE, root)
    for path in files_of(CORPUS, comtrade.SPEC):
        shutil.copy(path, root / f"zz_{path.name}")
    twin = sorted(root.glob("comtrade_final_A_*.csv"))[0]
    shutil.copy(twin, root / "zzz_copy_of_an_annual_file.csv")
    return files_of(root.parent, comtrade.SPEC)


def snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """Everything ingest writes, minus wall-clock timestamps."""
    return {
        "raw": con.execute(
            "SELECT * EXCLUDE (_loaded_at) FROM raw.comtrade_final ORDER BY ALL"
        ).fetchall(),
        "quarantine": con.execute(
            "SELECT * EXCLUDE (quarantined_at) FROM raw.quarantine ORDER BY ALL"
        ).fetchall(),
        "registry": con.execute(
            "SELECT * EXCLUDE (first_seen, last_seen) FROM raw.file_registry ORDER BY ALL"
        ).fetchall(),
    }


def test_batches_write_exactly_what_one_file_at_a_time_writes(landing: list[Path]) -> None:
    alone, batched = fresh(), fresh()
    one_by_one = ingest_files(alone, comtrade.SPEC, landing, log=lambda _m: None, batch_bytes=0)
    in_batches = ingest_files(batched, comtrade.SPEC, landing, log=lambda _m: None)
    assert [o.status for o in in_batches] == [o.status for o in one_by_one]
    assert {"loaded", "refused", "duplicate"} <= {o.status for o in in_batches}
    assert [o.message for o in in_batches] == [o.message for o in one_by_one]
    expected, got = snapshot(alone), snapshot(batched)
    assert got["registry"] == expected["registry"]
    assert got["quarantine"] == expected["quarantine"]
    assert len(got["raw"]) == len(expected["raw"]) > 0
    assert got["raw"] == expected["raw"]
    # and it really batched: files loaded together share one load time
    loads = batched.execute(
        "SELECT count(DISTINCT _loaded_at), count(DISTINCT _source_file) FROM raw.comtrade_final"
    ).fetchone()
    assert loads[0] < loads[1] / 2


def test_line_numbers_in_a_batch_are_per_file(tmp_path: Path) -> None:
    lines = sorted(SAMPLE_COMTRADE.glob("comtrade_final_A_*.csv"))[0].read_text().splitlines()
    header, rows = lines[0], lines[1:6]
    folder = tmp_path / "comtrade"
    folder.mkdir()
    first = folder / "a.csv"
    first.write_text("\n".join([header, *rows]) + "\n")
    bad = rows[2].split(",")
    bad[comtrade.COLUMNS.index("primaryValue")] = "12,5"  # a decimal comma: an extra field
    second = folder / "b.csv"
    second.write_text("\n".join([header, rows[0], rows[1], ",".join(bad), rows[3]]) + "\n")
    untypable = rows[1].split(",")
    untypable[comtrade.COLUMNS.index("refYear")] = "20x1"
    third = folder / "c.csv"
    third.write_text("\n".join([header, rows[0], rows[2], ",".join(untypable)]) + "\n")
    con = fresh()
    outcomes = ingest_files(con, comtrade.SPEC, [first, second, third], log=lambda _m: None)
    assert [(o.status, o.rows_read, o.rows_quarantined) for o in outcomes] == [
        ("loaded", 5, 0),
        ("loaded", 4, 1),
        ("loaded", 3, 1),
    ]
    quarantined = con.execute(
        "SELECT source_file, line_number, column_name FROM raw.quarantine ORDER BY 1"
    ).fetchall()
    assert [(q[0], q[1]) for q in quarantined] == [(str(second), 4), (str(third), 4)]
    assert quarantined[1][2] == "refYear"
    numbers = con.execute(
        "SELECT _source_file, list(_row_number ORDER BY _row_number) FROM raw.comtrade_final "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert numbers == [
        (str(first), [1, 2, 3, 4, 5]),
        (str(second), [1, 2, 4]),
        (str(third), [1, 2]),
    ]


def test_a_batch_that_fails_leaves_nothing_and_its_files_load_alone(landing: list[Path]) -> None:
    calls: list[int] = []

    def load_then_fail(con: duckdb.DuckDBPyConnection, files, *, loaded_at):
        comtrade.load_batch(con, files, loaded_at=loaded_at)  # rows are written...
        calls.append(len(files))
        raise duckdb.IOException("disk went away")  # ...then the batch fails

    spec = dataclasses.replace(comtrade.SPEC, load_batch=load_then_fail)
    good = [p for p in landing if p.name.startswith("comtrade_final_")]
    con = fresh()
    outcomes = ingest_files(con, spec, good, log=lambda _m: None)
    assert calls and all(o.status == "loaded" for o in outcomes)
    stored = con.execute("SELECT count(*) FROM raw.comtrade_final").fetchone()[0]
    assert stored == sum(o.rows_loaded for o in outcomes) > 0


def test_a_batch_whose_files_all_have_unreadable_lines_loads_them_alone(tmp_path: Path) -> None:
    lines = sorted(SAMPLE_COMTRADE.glob("comtrade_final_A_*.csv"))[0].read_text().splitlines()
    folder = tmp_path / "comtrade"
    folder.mkdir()
    paths = []
    for name, last in (("a.csv", lines[3]), ("b.csv", lines[4])):
        broken = lines[2] + ",an_extra_field"  # one line the CSV parser cannot read
        (folder / name).write_text("\n".join([lines[0], lines[1], broken, last]) + "\n")
        paths.append(folder / name)
    con = fresh()
    outcomes = ingest_files(con, comtrade.SPEC, paths, log=lambda _m: None)
    assert [(o.status, o.rows_read, o.rows_loaded, o.rows_quarantined) for o in outcomes] == [
        ("loaded", 3, 2, 1),
        ("loaded", 3, 2, 1),
    ]
    assert con.execute("SELECT count(DISTINCT _loaded_at) FROM raw.comtrade_final").fetchone() == (
        2,  # loaded one by one, each in its own transaction
    )
