"""publish(): a new read-only DuckDB file and a new export version, swapped in atomically;
a failure leaves the previous publication; the run lock keeps two runs apart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from dagster_project.publish import snapshot
from dagster_project.publish.snapshot import is_read_only, publish, read_manifest
from dagster_project.resources import RunLock, WarehouseLockedError, run_lock_path


def make_source(path: Path, rows: int = 3) -> Path:
    con = duckdb.connect(str(path))
    con.execute("create schema if not exists marts")
    con.execute("create schema if not exists staging")
    con.execute("create or replace table marts.fct_x as select range as id from range(?)", [rows])
    # a table with a period: exported one file per year (2020, 2021, 2022)
    con.execute(
        "create or replace table marts.fct_p as select range as id, "
        "(date '2020-01-01' + to_months(range % 36))::date as period_start, range * 1.5 as value "
        "from range(120)"
    )
    con.execute("create or replace table marts.dim_y as select 'a' as code")
    con.execute("create or replace view marts.v_z as select 1 as one")  # views are not published
    con.execute("create or replace table staging.stg_w as select 1 as w")  # nor other schemas
    con.close()
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    make_source(tmp_path / "mirror.duckdb")
    return tmp_path


def do_publish(home: Path, **kw) -> snapshot.Publication:
    return publish(
        home / "mirror.duckdb", home / "published" / "mirror.duckdb", home / "exports", **kw
    )


def kv_id(parquet: Path) -> str:
    return (
        duckdb.connect()
        .execute(
            "select value::varchar from parquet_kv_metadata(?) where key::varchar = "
            "'publication_id'",
            [str(parquet)],
        )
        .fetchone()[0]
    )


def test_publication_is_complete_consistent_and_read_only(home: Path) -> None:
    pub = do_publish(home, run_id="run-1")
    db = home / "published" / "mirror.duckdb"
    assert pub.tables == {"marts.dim_y": 1, "marts.fct_p": 120, "marts.fct_x": 3}
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute(
            "select publication_id, run_id, tables from main.publication"
        ).fetchall() == [(pub.publication_id, "run-1", 3)]
        assert con.execute(
            "select table_name, row_count, parquet_file from main.publication_tables order by 1"
        ).fetchall() == [
            ("dim_y", 1, "dim_y/*.parquet"),
            ("fct_p", 120, "fct_p/*.parquet"),
            ("fct_x", 3, "fct_x/*.parquet"),
        ]
        schemas = {
            r[0]
            for r in con.execute(
                "select distinct table_schema from information_schema.tables"
            ).fetchall()
        }
        assert schemas == {"main", "marts"}
    exports = home / "exports"
    assert exports.is_symlink() and exports.resolve() == pub.exports_version_dir
    assert not os.readlink(exports).startswith("/")  # relative: the home can be moved
    manifest = read_manifest(exports)
    assert manifest["publication_id"] == pub.publication_id
    assert {k: v["rows"] for k, v in manifest["tables"].items()} == pub.tables
    assert sorted(p.relative_to(exports.resolve()).as_posix() for p in pub.parquet_files) == [
        "dim_y/all.parquet",
        "fct_p/2020.parquet",
        "fct_p/2021.parquet",
        "fct_p/2022.parquet",
        "fct_x/all.parquet",
    ]
    for path in pub.parquet_files:
        assert kv_id(path) == pub.publication_id
    with duckdb.connect() as con:  # the documented read: every file of a table's folder
        for name, rows in pub.tables.items():
            glob = str(exports / name.split(".")[1] / "*.parquet")
            assert con.execute("select count(*) from read_parquet(?)", [glob]).fetchone()[0] == rows
        assert (
            con.execute(
                "select count(*) from read_parquet(?) where year(period_start) <> 2021",
                [str(exports / "fct_p" / "2021.parquet")],
            ).fetchone()[0]
            == 0
        )
    for path in [db, *pub.exports_version_dir.rglob("*")]:
        assert is_read_only(path), path
    assert is_read_only(pub.exports_version_dir)
    assert not list((home / "published").glob("*.tmp-*")) and not Path(f"{db}.wal").exists()


def test_republish_swaps_and_an_open_reader_keeps_its_publication(home: Path) -> None:
    first = do_publish(home)
    db = home / "published" / "mirror.duckdb"
    reader = duckdb.connect(str(db), read_only=True)  # a BI tool holding the file open
    old_exports = (home / "exports").resolve()
    make_source(home / "mirror.duckdb", rows=7)
    second = do_publish(home)
    assert second.publication_id != first.publication_id
    # the open reader still sees the first publication, whole
    assert reader.execute("select publication_id from main.publication").fetchone()[0] == (
        first.publication_id
    )
    assert reader.execute("select count(*) from marts.fct_x").fetchone()[0] == 3
    reader.close()
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_x").fetchone()[0] == 7
    assert read_manifest(home / "exports")["publication_id"] == second.publication_id
    assert old_exports.is_dir()  # a reader that resolved the link before the swap can finish


def test_old_export_versions_are_pruned(home: Path) -> None:
    ids = [do_publish(home, keep_versions=2).publication_id for _ in range(4)]
    versions = sorted(p.name for p in (home / "exports.versions").iterdir())
    assert versions == sorted(ids[-2:])


def test_a_failed_publish_leaves_the_previous_one(home: Path, monkeypatch) -> None:
    first = do_publish(home)
    db = home / "published" / "mirror.duckdb"
    before = (db.stat().st_ino, db.read_bytes(), sorted(os.listdir(home / "exports.versions")))
    make_source(home / "mirror.duckdb", rows=9)

    def boom(_path: Path) -> str:
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(snapshot, "_sha256", boom)
    with pytest.raises(OSError, match="disk full"):
        do_publish(home)
    after = (db.stat().st_ino, db.read_bytes(), sorted(os.listdir(home / "exports.versions")))
    assert after == before
    assert read_manifest(home / "exports")["publication_id"] == first.publication_id
    assert not list((home / "published").glob("*.tmp-*"))
    assert not list((home / "exports.versions").glob(".tmp-*"))


def published_rows(db: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(db), read_only=True) as con:
        names = con.execute(
            "select table_name from duckdb_tables() where schema_name = 'marts' order by 1"
        ).fetchall()
        return {
            n: con.execute(f"select * from marts.{n} order by all").fetchall() for (n,) in names
        }


def inodes(pub: snapshot.Publication) -> dict[str, int]:
    return {
        p.relative_to(pub.exports_version_dir).as_posix(): p.stat().st_ino
        for p in pub.parquet_files
    }


def test_what_did_not_change_is_reused_and_the_result_equals_a_whole_publication(
    home: Path, tmp_path_factory
) -> None:
    """A revised year: only its export file is written (the others are hard links to the
    previous version's), the DuckDB file is the previous one with that year replaced, and both
    hold exactly what a publication from nothing holds."""
    first = do_publish(home)
    with duckdb.connect(str(home / "mirror.duckdb")) as con:
        con.execute("update marts.fct_p set value = value + 1 where year(period_start) = 2021")
        con.execute("insert into marts.fct_p values (999, date '2023-03-01', 1.0)")  # a new year
    second = do_publish(home)
    assert second.duckdb_updated
    before, after = inodes(first), inodes(second)
    assert {n for n in after if after[n] == before.get(n)} == {
        "dim_y/all.parquet", "fct_p/2020.parquet", "fct_p/2022.parquet", "fct_x/all.parquet"
    }  # fmt: skip
    assert second.written["files_written"] == 2 and second.written["files_reused"] == 4
    assert second.written["rows_written_duckdb"] == 37  # 2021's 36 rows and 2023's one
    manifest = read_manifest(home / "exports")
    files = manifest["tables"]["marts.fct_p"]["files"]
    assert files["fct_p/2020.parquet"]["written_by"] == first.publication_id
    assert files["fct_p/2021.parquet"]["written_by"] == second.publication_id
    assert kv_id(second.exports_version_dir / "fct_p/2020.parquet") == first.publication_id
    # the same source published from nothing elsewhere: the same rows in every table
    fresh_home = tmp_path_factory.mktemp("fresh")
    (fresh_home / "mirror.duckdb").write_bytes((home / "mirror.duckdb").read_bytes())
    fresh = do_publish(fresh_home)
    assert not fresh.duckdb_updated
    assert published_rows(second.duckdb_path) == published_rows(fresh.duckdb_path)
    with duckdb.connect() as con:
        for name in ("fct_p", "fct_x", "dim_y"):
            read = "select * from read_parquet(?) order by all"
            assert con.execute(read, [str(home / "exports" / name / "*.parquet")]).fetchall() == (
                con.execute(read, [str(fresh_home / "exports" / name / "*.parquet")]).fetchall()
            )
    # the older version keeps its own files whole, and pruning it leaves the links intact
    assert (first.exports_version_dir / "fct_p/2021.parquet").is_file()
    do_publish(home, keep_versions=1)
    assert not first.exports_version_dir.exists()
    assert (
        published_rows(home / "published" / "mirror.duckdb")["fct_p"]
        == (published_rows(fresh.duckdb_path)["fct_p"])
    )


def test_an_update_rewrites_only_the_changed_months_of_a_year(
    home: Path, tmp_path_factory, monkeypatch
) -> None:
    """May 2021 revised, July 2021's rows moved to August: the DuckDB file gets those months
    written again, not the year (the year's Parquet file is written whole: one file per year
    is the exports' layout), and holds what a publication from nothing holds. A previous
    publication that did not record its months: the year whole."""
    do_publish(home)
    with duckdb.connect(str(home / "mirror.duckdb")) as con:
        con.execute("update marts.fct_p set value = -value where period_start = '2021-05-01'")
        con.execute(
            "update marts.fct_p set period_start = '2021-08-01' where period_start = '2021-07-01'"
        )
    pub = do_publish(home)
    assert pub.duckdb_updated and pub.written["files_written"] == 1
    assert pub.written["rows_written_duckdb"] == 3 + 6  # May, and August now
    months = read_manifest(home / "exports")["tables"]["marts.fct_p"]["files"]
    assert "2021-07" not in months["fct_p/2021.parquet"]["months"]
    assert months["fct_p/2021.parquet"]["months"]["2021-08"].startswith("6:")
    assert set(months["fct_p/2020.parquet"]["months"]) == {f"2020-{m:02d}" for m in range(1, 13)}
    fresh_home = tmp_path_factory.mktemp("fresh")
    (fresh_home / "mirror.duckdb").write_bytes((home / "mirror.duckdb").read_bytes())
    assert published_rows(pub.duckdb_path) == published_rows(do_publish(fresh_home).duckdb_path)

    monkeypatch.setattr(snapshot._Previous, "months", lambda self, table, piece: None)
    monkeypatch.setattr(snapshot, "MAX_GROWTH", 100.0)  # a tiny file grows fast by updates
    with duckdb.connect(str(home / "mirror.duckdb")) as con:
        con.execute("update marts.fct_p set value = -value where period_start = '2021-05-01'")
    whole = do_publish(home)
    assert whole.duckdb_updated and whole.written["rows_written_duckdb"] == 36  # all of 2021
    with duckdb.connect(str(fresh_home / "mirror.duckdb")) as con:
        con.execute("update marts.fct_p set value = -value where period_start = '2021-05-01'")
    assert published_rows(whole.duckdb_path) == published_rows(do_publish(fresh_home).duckdb_path)


def test_a_table_with_a_frequency_is_a_file_per_year_and_frequency(
    home: Path, tmp_path_factory
) -> None:
    """A revised annual row (a reporter's revised annual file) rewrites that year's annual
    file, and the annual rows of its month in the DuckDB file, not the monthly rows of the
    year (nine in ten of a year's rows in the marts), although both start in January."""
    with duckdb.connect(str(home / "mirror.duckdb")) as con:
        con.execute(
            "create table marts.fct_f as select range as id, "
            "case when range < 3 then 'A' when range = 39 then null else 'M' end as freq, "
            "(case when range < 3 then date '2020-01-01' + to_years(range) "
            "else date '2020-01-01' + to_months(range % 36) end)::date as period_start, "
            "1.0 as value from range(40)"
        )  # annual 2020-2022, every month of them, and a row of April 2020 without a frequency
    first = do_publish(home)
    files = sorted(p.name for p in first.parquet_files if p.parent.name == "fct_f")
    assert files == [
        "2020-A.parquet", "2020-M.parquet", "2020.parquet", "2021-A.parquet",
        "2021-M.parquet", "2022-A.parquet", "2022-M.parquet",
    ]  # fmt: skip
    with duckdb.connect() as con:
        read = "select distinct freq, year(period_start) from read_parquet(?)"
        folder = first.exports_version_dir / "fct_f"
        assert con.execute(read, [str(folder / "2021-A.parquet")]).fetchall() == [("A", 2021)]
        assert con.execute(read, [str(folder / "2020.parquet")]).fetchall() == [(None, 2020)]
        assert con.execute(read, [str(folder / "2021-M.parquet")]).fetchall() == [("M", 2021)]
    with duckdb.connect(str(home / "mirror.duckdb")) as con:
        con.execute("update marts.fct_f set value = 2 where freq = 'A' and id = 1")
    second = do_publish(home)
    assert second.duckdb_updated
    assert second.written["files_written"] == 1 and second.written["rows_written_duckdb"] == 1
    before, after = inodes(first), inodes(second)
    assert {n for n in after if after[n] != before.get(n)} == {"fct_f/2021-A.parquet"}
    fresh_home = tmp_path_factory.mktemp("fresh")
    (fresh_home / "mirror.duckdb").write_bytes((home / "mirror.duckdb").read_bytes())
    assert published_rows(second.duckdb_path) == published_rows(do_publish(fresh_home).duckdb_path)


def test_a_frequency_that_cannot_name_a_file_publishes_nothing_and_names_the_table(
    home: Path,
) -> None:
    with duckdb.connect(str(home / "mirror.duckdb")) as con:
        con.execute(
            "create table marts.fct_f as select 'A/../x' as freq, date '2020-01-01' as period_start"
        )
    with pytest.raises(ValueError, match=r"marts.fct_f: freq 'A/../x' cannot name an export"):
        do_publish(home)
    assert not (home / "exports").exists()


def test_nothing_changed_writes_no_export_file(home: Path) -> None:
    first = do_publish(home)
    second = do_publish(home)
    assert inodes(second) == inodes(first)
    assert second.written["files_written"] == 0 and second.written["rows_written_duckdb"] == 0
    with duckdb.connect(str(second.duckdb_path), read_only=True) as con:
        assert con.execute("select publication_id from main.publication").fetchone()[0] == (
            second.publication_id
        )


def test_a_changed_table_shape_or_a_dropped_table_is_written_again(home: Path) -> None:
    do_publish(home)
    with duckdb.connect(str(home / "mirror.duckdb")) as con:
        con.execute("alter table marts.fct_x add column note varchar default 'n'")
        con.execute("drop table marts.dim_y")
    pub = do_publish(home)
    assert pub.duckdb_updated
    with duckdb.connect(str(pub.duckdb_path), read_only=True) as con:
        assert con.execute("select * from marts.fct_x order by 1").fetchall() == [
            (0, "n"), (1, "n"), (2, "n")
        ]  # fmt: skip
        tables = con.execute("select table_name from duckdb_tables() where schema_name='marts'")
        assert sorted(r[0] for r in tables.fetchall()) == ["fct_p", "fct_x"]
    assert not (pub.exports_version_dir / "dim_y").exists()


def test_a_grown_file_or_a_foreign_one_is_written_whole(home: Path, monkeypatch) -> None:
    do_publish(home)
    monkeypatch.setattr(snapshot, "MAX_GROWTH", 0.5)  # the file "grew" past its limit
    assert not do_publish(home).duckdb_updated
    monkeypatch.undo()
    db = home / "published" / "mirror.duckdb"
    os.chmod(db, 0o644)  # someone replaced the published file with another publication's
    with duckdb.connect(str(db)) as con:
        con.execute("update main.publication set publication_id = 'another'")
    copies: list[object] = []
    copy = snapshot.shutil.copyfile
    monkeypatch.setattr(snapshot.shutil, "copyfile", lambda *a: copies.append(a) or copy(*a))
    pub = do_publish(home)
    assert not pub.duckdb_updated
    assert copies == []  # told apart before any copy of it
    assert published_rows(db)["fct_p"] and published_rows(db)["fct_x"] == [(0,), (1,), (2,)]


def test_an_update_that_does_not_match_the_warehouse_publishes_nothing(
    home: Path, monkeypatch
) -> None:
    first = do_publish(home)
    with duckdb.connect(str(home / "mirror.duckdb")) as con:
        con.execute("delete from marts.fct_p where year(period_start) = 2022")
    lost = (0, snapshot._Rewritten())  # the update wrote nothing
    monkeypatch.setattr(snapshot, "_write_table_into", lambda *a, **k: lost)
    with pytest.raises(RuntimeError, match=r"fct_p differs from the warehouse"):
        do_publish(home)
    assert read_manifest(home / "exports")["publication_id"] == first.publication_id
    assert not list((home / "published").glob("*.tmp-*"))


@pytest.mark.parametrize("months_recorded", [True, False])
def test_an_update_that_wrote_wrong_values_publishes_nothing(
    home: Path, monkeypatch, months_recorded: bool
) -> None:
    """What an update writes into the copy is checked by its fingerprint, not only its count:
    the months it rewrote, or, when the previous publication did not record its months, the
    year it rewrote whole."""
    first = do_publish(home)
    if not months_recorded:
        monkeypatch.setattr(snapshot._Previous, "months", lambda self, table, piece: None)
    with duckdb.connect(str(home / "mirror.duckdb")) as con:
        con.execute("update marts.fct_p set value = value + 1 where period_start = '2021-02-01'")
    write = snapshot._write_table_into

    def wrong_values(con, table, previous, updating):
        written, update = write(con, table, previous, updating)
        if table.name == "fct_p":  # every row is there, one value of 2021 is not the source's
            if months_recorded:
                assert update.months == {("2021", "2021-02")} and not update.slices
            else:
                assert update.slices == {"2021"} and not update.months
            wrong = 13 if months_recorded else 14  # February, rewritten; March, in the year
            con.execute(f"update publication.marts.fct_p set value = -1 where id = {wrong}")
        return written, update

    monkeypatch.setattr(snapshot, "_write_table_into", wrong_values)
    with pytest.raises(RuntimeError, match=r"fct_p differs from the warehouse \(120 rows"):
        do_publish(home)
    assert read_manifest(home / "exports")["publication_id"] == first.publication_id


def test_leftovers_of_a_killed_publish_are_cleaned(home: Path) -> None:
    do_publish(home)
    stale_db = home / "published" / "mirror.duckdb.tmp-20200101T000000.000000Z-abcdef"
    stale_db.write_bytes(b"half")
    stale_dir = home / "exports.versions" / ".tmp-20200101T000000.000000Z-abcdef"
    stale_dir.mkdir()
    (stale_dir / "fct_x").mkdir()
    (stale_dir / "fct_x" / "all.parquet").write_bytes(b"half")
    os.chmod(stale_dir / "fct_x", 0o555)
    os.chmod(stale_dir, 0o555)
    do_publish(home)
    assert not stale_db.exists() and not stale_dir.exists()


def test_the_first_layout_of_exports_is_migrated(home: Path) -> None:
    legacy = home / "exports"
    legacy.mkdir()
    (legacy / "fct_x.parquet").write_bytes(b"old")
    pub = do_publish(home)
    assert legacy.is_symlink() and read_manifest(legacy)["publication_id"] == pub.publication_id


def test_nothing_to_publish_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        do_publish(tmp_path)
    duckdb.connect(str(tmp_path / "mirror.duckdb")).close()
    with pytest.raises(ValueError, match="nothing to publish"):
        do_publish(tmp_path)
    assert not (tmp_path / "published" / "mirror.duckdb").exists()


def test_unexpected_table_names_are_refused(home: Path) -> None:
    with duckdb.connect(str(home / "mirror.duckdb")) as con:
        con.execute('create table marts."x; drop table y" as select 1 as a')
    with pytest.raises(ValueError, match="unexpected names"):
        do_publish(home)


# A value of every type a mart's dbt contract may declare; a new type in a contract fails the
# test below until it is added here and shown to survive the published storage format.
TYPE_SAMPLES = {
    "varchar": "'KAZ → ITA, naïve'",
    "integer": "-2147483648",
    "bigint": "9223372036854775807",
    "hugeint": "-170141183460469231731687303715884105727",
    "double": "-1.234567890123456e-300",
    "boolean": "true",
    "date": "date '2021-12-31'",
    "timestamp": "timestamp '2026-12-03 13:54:29.292835'",
}


def storage_header_version(path: Path) -> int:
    """The storage version number in a DuckDB file's main header (after checksum + magic)."""
    head = path.read_bytes()[:20]
    assert head[8:12] == b"DUCK", f"{path} is not a DuckDB file"
    return int.from_bytes(head[12:20], "little")


def test_the_publication_is_readable_by_duckdb_1_and_keeps_every_contract_type(
    tmp_path: Path,
) -> None:
    """Written with STORAGE_VERSION v1.0.0 (storage number 64, what DuckDB 1.0 to 1.1 write and
    every 1.x reads; DuckDB 2 writes 999); every type of the marts' contracts round-trips."""
    from dagster_project.publish.docs import contract_types, load_manifest

    declared = {t for cols in contract_types(load_manifest()).values() for t in cols.values()}
    unknown = {str(t) for t in declared} - set(TYPE_SAMPLES)
    assert not unknown, (
        f"the marts' contracts use {sorted(unknown)}: add a sample to TYPE_SAMPLES and check "
        f"that STORAGE_VERSION {snapshot.PUBLISHED_STORAGE_VERSION} can hold it"
    )
    source = tmp_path / "mirror.duckdb"
    with duckdb.connect(str(source)) as con:
        con.execute("create schema marts")
        columns = ", ".join(f"cast({v} as {t}) as c_{t}" for t, v in TYPE_SAMPLES.items())
        nulls = ", ".join(f"cast(null as {t}) as c_{t}" for t in TYPE_SAMPLES)
        con.execute(f"create table marts.all_types as select {columns} union all select {nulls}")
        expected = con.execute("select * from marts.all_types order by all").fetchall()
        types = con.execute("describe marts.all_types").fetchall()
    pub = publish(source, tmp_path / "published" / "mirror.duckdb", tmp_path / "exports")
    assert storage_header_version(pub.duckdb_path) == 64
    with duckdb.connect(str(pub.duckdb_path), read_only=True) as con:
        assert con.execute("select * from marts.all_types order by all").fetchall() == expected
        assert con.execute("describe marts.all_types").fetchall() == types
        assert (
            con.execute(
                "select tags['storage_version'] from duckdb_databases() "
                "where database_name = current_database()"
            ).fetchone()[0]
            == f"{snapshot.PUBLISHED_STORAGE_VERSION}+"
        )
    assert storage_header_version(source) != 64  # the working file stays in DuckDB 2's format


def test_publication_ids_sort_by_time() -> None:
    import datetime as dt

    a = snapshot.new_publication_id(dt.datetime(2026, 1, 1, 0, 0, 0))
    b = snapshot.new_publication_id(dt.datetime(2026, 1, 1, 0, 0, 1))
    assert a < b and snapshot._PUBLICATION_ID.match(a)


# The run lock -------------------------------------------------------------------------------


def test_a_second_run_lock_waits_then_fails_naming_the_holder(tmp_path: Path) -> None:
    db = tmp_path / "mirror.duckdb"
    first = RunLock(db)
    first.acquire(wait_seconds=0, run_id="run-a")
    holder = json.loads(run_lock_path(db).read_text())
    assert holder["pid"] == os.getpid() and holder["run_id"] == "run-a"
    started = time.monotonic()
    with pytest.raises(WarehouseLockedError, match=r"another run is using .* run run-a"):
        RunLock(db).acquire(wait_seconds=0.6, poll=0.1)
    assert time.monotonic() - started >= 0.6
    first.release()
    second = RunLock(db)
    second.acquire(wait_seconds=0)
    second.release()


def test_a_killed_holder_never_leaves_a_stale_lock(tmp_path: Path) -> None:
    db = tmp_path / "mirror.duckdb"
    code = (
        "import sys, time; from pathlib import Path; "
        "from dagster_project.resources import RunLock; "
        f"RunLock(Path({str(db)!r})).acquire(wait_seconds=0, run_id='doomed'); "
        "print('locked', flush=True); time.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(WarehouseLockedError, match="doomed"):
            RunLock(db).acquire(wait_seconds=0)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    lock = RunLock(db)
    assert lock.acquire(wait_seconds=5) < 1  # the kernel released it with the process
    lock.release()


def test_a_whole_write_that_lost_rows_publishes_nothing(home: Path, monkeypatch) -> None:
    """The first publication (no copy to update) is checked by row counts per year."""

    def short_write(con, table, previous, updating) -> tuple[int, None]:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS publication.{table.schema}")
        con.execute(
            f"CREATE TABLE publication.{table.schema}.{table.name} AS "
            f"SELECT * FROM source.{table.schema}.{table.name} LIMIT 1"
        )
        return 1, None

    monkeypatch.setattr(snapshot, "_write_table_into", short_write)
    with pytest.raises(
        RuntimeError, match=r"fct_p differs from the warehouse \(1 rows against 120"
    ):
        do_publish(home)
    assert not (home / "published" / "mirror.duckdb").exists()
    assert not (home / "exports").exists()
