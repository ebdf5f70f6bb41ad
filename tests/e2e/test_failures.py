"""Every failure names its cause in a line or two, in the summary and in the alert, with the
traceback in the run's log only; nothing in the landing zone is invisible.

Real `.venv/bin/mirror run` child processes: bad settings, a held run lock, a dbt test that the
landing data breaks (with a PDF and a stray folder in the landing zone)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from dagster_project.resources import RunLock
from tests.conftest import REPO_ROOT, SAMPLE_COMTRADE
from tests.e2e.conftest import MirrorRun, mirror_run

pytestmark = pytest.mark.e2e

# One observation of Eurostat nrg_ti_coifpm delivered twice, with a value and as confidential:
# ingest loads both lines (each is well-formed); the staging model's invariant "a confidential
# value is null" then fails its dbt test on the merged row.
CONTRADICTORY_EUROSTAT = (
    "DATAFLOW,LAST UPDATE,freq,crudeoil,indic_nrg,geo,TIME_PERIOD,OBS_VALUE,OBS_FLAG\n"
    "ESTAT:NRG_TI_COIFPM(1.0),28/02/24 11:00:00,M,KZ_CPC_BLN,VAL_THS_USD,AT,2021-01,123362.743,\n"
    "ESTAT:NRG_TI_COIFPM(1.0),28/02/24 11:00:00,M,KZ_CPC_BLN,VAL_THS_USD,AT,2021-01,,c\n"
)


def last_alert(home: Path) -> dict:
    lines = (home / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    return json.loads(lines[-1])


def run_log(run: MirrorRun) -> str:
    match = re.search(r"^Log:\s+(\S+)", run.stdout, re.MULTILINE)
    path = Path(match.group(1)) if match else run.home / "logs" / "last_run.log"
    return path.read_text(encoding="utf-8")


def cause_lines(run: MirrorRun) -> list[str]:
    """The lines of the summary's Cause block."""
    block = run.stdout.split("\nCause:\n", 1)[1].split("\n\n", 1)[0]
    return block.splitlines()


def test_bad_settings_stop_the_run_before_any_step(tmp_path: Path) -> None:
    home = tmp_path / "home"
    run = mirror_run(home, SAMPLE_COMTRADE.parent, MIRROR_DUCKDB_MEMORY_LIMIT="banana")
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.strip().splitlines() == [
        "mirror: MIRROR_DUCKDB_MEMORY_LIMIT='banana' is not a memory size; use e.g. 1GB, "
        "512MiB or 50% (default 80%)"
    ]
    assert not (home / "mirror.duckdb").exists()  # no step ran
    alert = last_alert(home)
    assert alert["kind"] == "run_failure" and "did not start" in alert["title"]
    assert "MIRROR_DUCKDB_MEMORY_LIMIT='banana'" in alert["body"]


def test_a_held_run_lock_is_one_line_and_an_alert(tmp_path: Path) -> None:
    home = tmp_path / "home"
    lock = RunLock(home / "mirror.duckdb")
    lock.acquire(wait_seconds=0, run_id="the-other-run")
    try:
        run = mirror_run(home, SAMPLE_COMTRADE.parent, MIRROR_RUN_LOCK_WAIT_SECONDS="0")
    finally:
        lock.release()
    assert run.returncode == 1, run.stdout + run.stderr
    [cause] = cause_lines(run)
    assert cause.strip().startswith("WarehouseLockedError: another run is using the warehouse")
    assert "run the-other-run" in cause  # names the holder
    assert "Traceback" not in run.stdout + run.stderr
    assert "Stack Trace:" not in run.stdout + run.stderr
    log = run_log(run)  # the stack trace is kept, in the run's log
    assert "Stack Trace:" in log and "resources.py" in log
    alert = last_alert(home)
    assert alert["kind"] == "run_failure"
    assert "WarehouseLockedError: another run is using the warehouse" in alert["title"]
    assert "unknown error" not in alert["body"]


@pytest.fixture(scope="module")
def broken_landing_run(tmp_path_factory: pytest.TempPathFactory) -> MirrorRun:
    landing = tmp_path_factory.mktemp("broken_landing")
    shutil.copytree(SAMPLE_COMTRADE, landing / "comtrade")
    (landing / "comtrade" / "methodology.pdf").write_bytes(b"%PDF-1.4 not a declaration\n")
    (landing / "eurostat").mkdir()
    (landing / "eurostat" / "estat_nrg_ti_coifpm_contradictory.csv").write_text(
        CONTRADICTORY_EUROSTAT, encoding="utf-8"
    )
    (landing / "comtrad").mkdir()  # a misspelt source folder
    (landing / "comtrad" / "comtrade_final_A_NOR.csv").write_text("freqCode\nA\n")
    before = sorted(p.name for p in (REPO_ROOT / "dbt" / "target").iterdir())
    run = mirror_run(tmp_path_factory.mktemp("broken_home"), landing)
    after = sorted(p.name for p in (REPO_ROOT / "dbt" / "target").iterdir())
    assert after == before, "the run wrote into the repository's dbt/target"
    return run


def test_a_failed_dbt_test_names_the_test_its_model_and_rows(broken_landing_run) -> None:
    run = broken_landing_run
    assert run.returncode == 1, run.stdout + run.stderr
    cause, *rows = cause_lines(run)
    # the model's rules are one test: the cause names the broken rule, its count, the key
    assert re.search(
        r"mirror_dbt_assets: dbt test model_rules_stg_eurostat__crude_imports failed on "
        r"staging\.stg_eurostat__crude_imports: confidential_value_is_null \(not "
        r"\(is_value_confidential and value_thousand_usd is not null\)\): 1 row, "
        r"e\.g\. geo_code=AT, crude_grade=KZ_CPC_BLN, period_month=2021-01-01",
        cause,
    ), cause
    # every broken rule below it, with the offending row's key (the file it came from)
    assert rows and rows[0].strip().startswith("confidential_value_is_null (not ")
    assert "estat_nrg_ti_coifpm_contradictory.csv" in rows[0] or len(rows[0]) >= 290
    assert "Traceback" not in run.stdout + run.stderr
    assert "GX suites    not run" in run.stdout and "(NOT updated by this run)" in run.stdout
    alert = last_alert(run.home)
    assert alert["kind"] == "run_failure"
    assert "model_rules_stg_eurostat__crude_imports" in alert["title"]
    assert "confidential_value_is_null" in alert["title"]
    assert "estat_nrg_ti_coifpm_contradictory.csv" in alert["body"]
    assert "before any blocking check" not in alert["body"]


def test_nothing_in_the_landing_zone_is_invisible(broken_landing_run) -> None:
    run = broken_landing_run
    out = run.stdout
    assert "ignored methodology.pdf: not read: no comtrade file is named like this" in out
    assert "outside the source folders: 1 files ignored" in out
    assert "ignored comtrade_final_A_NOR.csv: not read: not in a source folder" in out
    with duckdb.connect(str(run.warehouse), read_only=True) as con:
        ignored = con.execute(
            "select regexp_extract(path, '[^/]+$'), source, message from raw.file_registry "
            "where status = 'ignored' order by 1"
        ).fetchall()
        every_file = {r[0] for r in con.execute("select path from raw.file_registry").fetchall()}
    assert [(name, source) for name, source, _ in ignored] == [
        ("comtrade_final_A_NOR.csv", "landing"),
        ("methodology.pdf", "comtrade"),
    ]
    assert all(message.startswith("not read:") for _, _, message in ignored)
    on_disk = {str(p) for p in run.landing.rglob("*") if p.is_file()}
    assert on_disk <= every_file  # every file: loaded, refused or ignored, with its reason


def test_a_corridor_whose_importers_do_not_report_is_named_in_the_breach(
    tmp_path: Path,
) -> None:
    """KAZ and ITA alone (the route's importers AUT, DEU and CZE deliver nothing): the seeded
    corridor kz-it-tal applies but attributes all of KAZ's crude to ITA, and the gap stays. A
    breach, rightly (nothing in the data explains it), whose reason, summary and alert say
    what the corridor attributed, so whoever is paged knows whose declarations are missing."""
    landing = tmp_path / "landing" / "comtrade"
    landing.mkdir(parents=True)
    for reporter in ("KAZ", "ITA"):
        name = f"comtrade_final_A_{reporter}_2019-2024_released-2025-06-30.csv"
        shutil.copyfile(SAMPLE_COMTRADE / name, landing / name)
    run = mirror_run(tmp_path / "home", landing.parent)
    assert run.returncode == 1, run.stdout + run.stderr
    note = "transit corridor kz-it-tal (seed only)"
    with duckdb.connect(str(run.warehouse), read_only=True) as con:
        reasons = con.execute(
            "select status_reason from marts.fct_mirror_trade where status = 'breach' "
            "and exporter_iso3 = 'KAZ' and importer_iso3 = 'ITA' and hs6 = '270900'"
        ).fetchall()
    assert len(reasons) == 6, reasons  # 2019-2024
    assert all(
        f"; {note} does not close it: 100.0% of what KAZ declared to ITA is attributed to ITA"
        in reason
        for (reason,) in reasons
    ), reasons
    # the summary's cause names the check, then the worst flow of each failed expectation
    cause, worst, *more = cause_lines(run)
    assert cause.startswith("  gx_suites: gx_fct_mirror_trade failed on marts/fct_mirror_trade")
    assert worst.startswith("    no_unwaived_breach: worst KAZ→ITA HS 270900 ")
    assert f"{note} attributes 100.0 % of what KAZ declared to ITA to ITA" in worst
    assert "files:" not in worst and len(more) <= 2
    alert = last_alert(run.home)
    assert alert["kind"] == "breach" and "gx_fct_mirror_trade" in alert["title"]
    assert f"{note} attributes 100.0 % of what KAZ declared to ITA to ITA" in alert["body"]
