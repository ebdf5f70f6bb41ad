"""Faults for real: kill -9 in the middle of ingest and of dbt, two `mirror run` at once with a
reader process hammering the publication, and a landing zone full of bad files.

Each scenario is a real `mirror run` child process on its own MIRROR_HOME; the uninterrupted
reference is the session's `sample_run`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import yaml

from tests.conftest import REPO_ROOT, SAMPLE_COMTRADE, stamp_in_name_order
from tests.e2e.conftest import MirrorRun, clean_environment, mirror_run

pytestmark = pytest.mark.e2e

CORPUS = REPO_ROOT / "tests" / "fixtures" / "bad_input"
# columns that legitimately differ between two homes (paths, load times, run ids)
# provenance, not results: where and when a row was loaded or its estimates computed (two
# independent builds of the same files differ in these only; estimate_vintage says when)
_VOLATILE = ("source_file", "loaded_at", "run_id", "file_path", "landing", "estimate_vintage")


# Runs `mirror run` like the CLI does, but holds the ingest of the n-th loaded file at the last
# moment before its COMMIT (rows already inserted into raw, uncommitted; the registry row
# written), records that in a marker file and sleeps: the test then kills the run there.
# Test code only: it wraps the real registry.record the loader calls inside the transaction.
PAUSING_CLI = r"""
import json, pathlib, sys, time
from dagster_project.ingest import registry
from dagster_project.cli import main

pause_after, marker = int(sys.argv[1]), pathlib.Path(sys.argv[2])
real_record, loaded = registry.record, []

def record(con, outcome, **kwargs):
    real_record(con, outcome, **kwargs)
    if outcome.status == "loaded":
        loaded.append(outcome.path.name)
        if len(loaded) == pause_after:
            rows = con.execute(
                "select count(*) from raw.comtrade_final where _source_file = ?",
                [str(outcome.path)],
            ).fetchone()[0]
            marker.write_text(json.dumps({"file": outcome.path.name, "uncommitted_rows": rows}))
            time.sleep(600)

registry.record = record
sys.exit(main(sys.argv[3:]))
"""


def start_mirror_run(
    home: Path,
    landing: Path,
    *,
    pause_after: int = 0,
    marker: Path | None = None,
    env: dict[str, str] | None = None,
    rebuild: bool = False,
) -> subprocess.Popen[str]:
    """`mirror run` as its own process group (so kill -9 takes dbt with it)."""
    env = clean_environment(**(env or {}))
    args = ["run", "--home", str(home), "--landing", str(landing)]
    args += ["--rebuild"] if rebuild else []
    if pause_after:
        cmd = [sys.executable, "-c", PAUSING_CLI, str(pause_after), str(marker), *args]
    else:
        cmd = [sys.executable, "-m", "dagster_project.cli", *args]
    return subprocess.Popen(
        cmd,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def kill_group(proc: subprocess.Popen[str]) -> None:
    """kill -9 the run and its children (dbt); only the processes this test started."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    # the children (dbt) die too, but on a loaded machine not always before the parent is
    # reaped: wait until the whole group is gone, or a test may find the file still locked
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def mart_fingerprints(db: Path) -> dict[str, tuple[int, str]]:
    """{table: (rows, md5 of every row)} of every table in schema marts, volatile columns off."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'marts' order by 1"
            ).fetchall()
        ]
        out = {}
        for table in tables:
            cols = [
                r[0]
                for r in con.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = 'marts' and table_name = ? order by ordinal_position",
                    [table],
                ).fetchall()
                if not any(v in r[0] for v in _VOLATILE)
            ]
            row = ", ".join(f'"{c}"' for c in cols)  # names read from the catalog, not input
            out[table] = con.execute(
                f"select count(*), md5(coalesce(string_agg(r, '|' order by r), '')) from "
                f'(select cast(row({row}) as varchar) as r from marts."{table}")'
            ).fetchone()
        return out
    finally:
        con.close()


def registry_is_whole(db: Path) -> list[tuple[str, int, int]]:
    """(path, rows_loaded, rows in raw) of every `loaded` file version that does not add up."""
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "select r.path, r.rows_loaded, count(c._source_file) from raw.file_registry r "
            "left join raw.comtrade_final c on c._source_file = r.path and c._file_sha256 = r.sha256 "
            "where r.status = 'loaded' and r.source = 'comtrade' group by all "
            "having r.rows_loaded <> count(c._source_file)"
        ).fetchall()


# kill -9 ------------------------------------------------------------------------------------


def dbt_targets(pgid: int) -> set[Path]:
    """DBT_TARGET_PATH of every dbt process running in process group ``pgid``."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.getpgid(int(proc.name)) != pgid:
                continue
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            if not any(part.endswith(b"dbt") for part in cmdline):
                continue
            cwd = Path(os.readlink(proc / "cwd"))
            env = dict(
                item.split(b"=", 1)
                for item in (proc / "environ").read_bytes().split(b"\0")
                if b"=" in item
            )
        except (OSError, ProcessLookupError):
            continue
        if b"DBT_TARGET_PATH" in env:
            found.add(cwd / env[b"DBT_TARGET_PATH"].decode())  # may be relative to dbt/
    return found


@pytest.fixture(scope="module")
def crashed_then_recovered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    home = tmp_path_factory.mktemp("crash_home")
    landing = tmp_path_factory.mktemp("crash_landing")
    shutil.copytree(SAMPLE_COMTRADE, landing / "comtrade")
    files = sorted(p.name for p in (landing / "comtrade").iterdir())
    facts: dict[str, object] = {"files": len(files)}

    # 1. kill -9 inside the transaction of the 14th of 27 files: its rows are in raw, uncommitted.
    # Small ingest batches (~30 KB of files each), so that several batches commit before it.
    marker = home.parent / "paused.json"
    facts["pause_after"] = len(files) // 2 + 1
    proc = start_mirror_run(
        home, landing, pause_after=facts["pause_after"], marker=marker,
        env={"MIRROR_INGEST_BATCH_MB": "0.03"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the run never reached the middle of ingest"
    finally:
        kill_group(proc)
    facts["paused"] = json.loads(marker.read_text())
    facts["wal_after_ingest_kill"] = Path(f"{home / 'mirror.duckdb'}.wal").exists()
    with duckdb.connect(str(home / "mirror.duckdb"), read_only=True) as con:
        facts["registry_after_ingest_kill"] = con.execute(
            "select regexp_extract(path, '[^/]+$'), status from raw.file_registry "
            "where source = 'comtrade' order by 1"
        ).fetchall()
        facts["victim_rows_after_ingest_kill"] = con.execute(
            "select count(*) from raw.comtrade_final where _source_file like ?",
            ["%/" + facts["paused"]["file"]],
        ).fetchone()[0]
    facts["half_loaded_after_ingest_kill"] = registry_is_whole(home / "mirror.duckdb")

    # 2. kill -9 while dbt is building (staging done, intermediate under way)
    proc = start_mirror_run(home, landing)
    try:
        deadline = time.monotonic() + 180
        targets: set[Path] = set()
        while time.monotonic() < deadline and proc.poll() is None:
            targets |= dbt_targets(proc.pid)
            if any((t / "run" / "mirror" / "models" / "intermediate").exists() for t in targets):
                break
            time.sleep(0.05)
        facts["dbt_seen"] = sorted(str(t) for t in targets)
        facts["run_finished_before_kill"] = proc.poll() is not None
    finally:
        kill_group(proc)
    facts["half_loaded_after_dbt_kill"] = registry_is_whole(home / "mirror.duckdb")

    # 3. the next run completes
    facts["recovered"] = mirror_run(home, landing)
    return facts


def test_kill_in_the_middle_of_ingest_leaves_no_half_loaded_file(crashed_then_recovered) -> None:
    facts = crashed_then_recovered
    victim = facts["paused"]["file"]
    assert facts["paused"]["uncommitted_rows"] > 0  # killed with its rows written, uncommitted
    registry = dict(facts["registry_after_ingest_kill"])
    assert victim not in registry  # its transaction never committed: not marked loaded
    assert facts["victim_rows_after_ingest_kill"] == 0  # and none of its rows survived
    loaded = [name for name, status in registry.items() if status == "loaded"]
    # the batches committed before it are in, whole; its own batch (it included) is not
    assert 0 < len(loaded) < facts["pause_after"]
    assert facts["half_loaded_after_ingest_kill"] == []
    # what was committed before the kill lived only in the WAL: reopening replayed it
    assert facts["wal_after_ingest_kill"]


def test_kill_in_the_middle_of_dbt_then_the_next_run_completes(crashed_then_recovered) -> None:
    facts = crashed_then_recovered
    assert facts["dbt_seen"] and not facts["run_finished_before_kill"], facts
    assert facts["half_loaded_after_dbt_kill"] == []
    recovered: MirrorRun = facts["recovered"]
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert "mirror run succeeded" in recovered.stdout


def test_after_the_crashes_the_marts_equal_an_uninterrupted_run(
    crashed_then_recovered, sample_run: MirrorRun
) -> None:
    recovered: MirrorRun = crashed_then_recovered["recovered"]
    expected = mart_fingerprints(sample_run.warehouse)
    assert expected and all(rows > 0 for rows, _ in expected.values())
    assert mart_fingerprints(recovered.warehouse) == expected
    assert mart_fingerprints(recovered.home / "published" / "mirror.duckdb") == expected
    with recovered.connect() as con:
        assert con.execute(
            "select count(*), sum(rows_loaded) from raw.file_registry where status = 'loaded' "
            "and source = 'comtrade'"
        ).fetchone() == (
            crashed_then_recovered["files"],
            con.execute("select count(*) from raw.comtrade_final").fetchone()[0],
        )
    assert registry_is_whole(recovered.warehouse) == []


# two runs at once, with readers ---------------------------------------------------------------

READER = r"""
import json, sys, time, pathlib, duckdb
home, stop, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
db, exports = home / "published" / "mirror.duckdb", home / "exports"
log = open(out, "w")
while not stop.exists():
    rec = {"t": time.time()}
    try:
        with duckdb.connect(str(db), read_only=True) as con:
            pid = con.execute("select publication_id from main.publication").fetchone()[0]
            tables = con.execute(
                "select table_schema, table_name, row_count from main.publication_tables"
            ).fetchall()
            bad = [
                (s, t, n) for s, t, n in tables
                if con.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0] != n
            ]
        version = exports.resolve()
        manifest = json.loads((version / "publication.json").read_text())
        pq = duckdb.connect()
        pq_bad = []
        for name, info in manifest["tables"].items():
            # a table is its folder; each file says which publication wrote it (a year that
            # did not change keeps the file an earlier publication wrote)
            n = pq.execute(
                "select count(*) from read_parquet(?)", [str(version / info["parquet"])]
            ).fetchone()[0]
            for relative, file in info["files"].items():
                kv = pq.execute(
                    "select value::varchar from parquet_kv_metadata(?) "
                    "where key::varchar = 'publication_id'", [str(version / relative)]
                ).fetchone()[0]
                if kv != file["written_by"]:
                    pq_bad.append(relative)
            if n != info["rows"]:
                pq_bad.append(name)
        pq.close()
        rec.update(ok=not bad and not pq_bad and len(tables) > 0, pid=pid,
                   export_pid=manifest["publication_id"], bad=bad, pq_bad=pq_bad)
    except Exception as exc:
        rec.update(ok=False, error=f"{type(exc).__name__}: {exc}")
    log.write(json.dumps(rec) + "\n"); log.flush()
    time.sleep(0.02)
"""


@pytest.fixture(scope="module")
def two_runs_and_a_reader(
    sample_run: MirrorRun, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, object]]:
    assert sample_run.returncode == 0, sample_run.stdout + sample_run.stderr
    home = tmp_path_factory.mktemp("concurrent") / "home"
    shutil.copytree(sample_run.home, home, symlinks=True)
    before = json.loads((home / "exports" / "publication.json").read_text())["publication_id"]
    stop, out = home.parent / "stop", home.parent / "reader.jsonl"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(home), str(stop), str(out)], cwd=REPO_ROOT
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 2000):
            time.sleep(0.1)
        wait = {"MIRROR_RUN_LOCK_WAIT_SECONDS": "5"}  # fail after 5 s instead of queueing
        # --rebuild: the copied home is up to date, and both must really build and publish
        runs = [
            start_mirror_run(home, sample_run.landing, env=wait, rebuild=True) for _ in range(2)
        ]
        results = [proc.communicate(timeout=600) for proc in runs]
    finally:
        stop.touch()
        reader.wait(timeout=60)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    yield {
        "home": home,
        "before": before,
        "runs": [(p.returncode, so, se) for p, (so, se) in zip(runs, results, strict=True)],
        "records": records,
        "fingerprints": mart_fingerprints(home / "published" / "mirror.duckdb"),
        "expected": mart_fingerprints(sample_run.warehouse),
    }


def test_two_runs_at_once_one_fails_cleanly_the_other_publishes(two_runs_and_a_reader) -> None:
    runs = sorted(two_runs_and_a_reader["runs"], key=lambda r: r[0])
    (ok_code, ok_out, ok_err), (failed_code, failed_out, failed_err) = runs
    assert ok_code == 0, ok_out + ok_err
    assert "mirror run succeeded" in ok_out
    assert failed_code == 1, failed_out + failed_err
    message = failed_out + failed_err
    assert "WarehouseLockedError: another run is using the warehouse" in message
    assert re.search(r"waited \d+s for it to finish", message)
    assert "(pid " in message  # names the holder
    assert "Traceback" not in message  # the cause in a line; the traceback in its log
    log = Path(re.search(r"^Log:\s+(\S+)", failed_out, re.MULTILINE).group(1))
    assert "waiting for another run to release" in log.read_text(encoding="utf-8")
    # the warehouse and the publication are the winner's, whole and unchanged in content
    assert two_runs_and_a_reader["fingerprints"] == two_runs_and_a_reader["expected"]


def test_readers_never_fail_and_always_see_one_whole_publication(two_runs_and_a_reader) -> None:
    records = two_runs_and_a_reader["records"]
    failures = [r for r in records if not r["ok"]]
    assert not failures, failures[:5]
    # a hundred rounds or more of queries while the run rebuilt and republished (about 200
    # on a quiet machine; 194 once on a loaded one, where each round is slower)
    assert len(records) >= 100
    seen = {r["pid"] for r in records}
    assert two_runs_and_a_reader["before"] in seen
    assert len(seen) == 2, seen  # the old publication, then the new one, nothing in between
    # the exports are never behind the DuckDB file (they are swapped first)
    assert all(r["export_pid"] >= r["pid"] for r in records)


# bad input in a whole run ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def bad_input_run(tmp_path_factory: pytest.TempPathFactory) -> MirrorRun:
    landing = tmp_path_factory.mktemp("bad_landing")
    shutil.copytree(SAMPLE_COMTRADE, landing / "comtrade")
    shutil.copytree(CORPUS / "comtrade", landing / "comtrade" / "bad_input")
    stamp_in_name_order(landing / "comtrade" / "bad_input")  # copy_of_... after its original
    return mirror_run(tmp_path_factory.mktemp("bad_home"), landing)


def test_a_run_over_the_bad_input_corpus_continues_and_publishes(bad_input_run) -> None:
    cases = yaml.safe_load((CORPUS / "cases.yml").read_text(encoding="utf-8"))
    assert bad_input_run.returncode == 0, bad_input_run.stdout + bad_input_run.stderr
    out = bad_input_run.stdout
    assert "mirror run succeeded" in out
    refused = sum(1 for c in cases.values() if c["status"] == "refused")
    assert f", {refused} refused, 0 ignored;" in out
    for name, case in cases.items():
        if case["status"] != "loaded":
            assert name in out  # the summary names every refused or duplicate file
    with bad_input_run.connect() as con:
        registry = {
            r[0]: r[1:]
            for r in con.execute(
                "select regexp_extract(path, '[^/]+$'), status, rows_read, rows_loaded, "
                "rows_quarantined from raw.file_registry where path like '%/bad_input/%'"
            ).fetchall()
        }
        assert set(registry) == set(cases)
        for name, case in cases.items():
            status, read, loaded, quarantined = registry[name]
            assert status == case["status"], name
            if status == "loaded":
                assert (read, loaded, quarantined) == (
                    case["read"],
                    case["loaded"],
                    case["quarantined"],
                ), name
                assert read == loaded + quarantined
        good = con.execute(
            "select count(*) from raw.file_registry where status = 'loaded' "
            "and source = 'comtrade' and path not like '%/bad_input/%'"
        ).fetchone()[0]
        assert good == len(list(SAMPLE_COMTRADE.glob("*.csv")))  # the good files all loaded
        # the later release of the revised record wins in the marts
        revised = con.execute(
            "select export_value_usd, is_revised from marts.fct_mirror_trade where freq = 'A' "
            "and period = '2019' and exporter_iso3 = 'KAZ' and importer_iso3 = 'CHN' "
            "and hs6 = '100199'"
        ).fetchone()
        assert revised == (230000000.0, True)
        # a lost leading zero is restored by staging
        assert (
            con.execute(
                "select count(*) from staging.stg_comtrade__final "
                "where source_file like '%excel_mangled_hs.csv' and cmd_code = '070310'"
            ).fetchone()[0]
            == 1
        )
    published = bad_input_run.home / "published" / "mirror.duckdb"
    assert published.exists()
