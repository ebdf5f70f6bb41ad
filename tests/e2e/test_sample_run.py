"""`mirror run` on the embedded sample: real values in the marts, checks, publication."""

from __future__ import annotations

import csv
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.conftest import REPO_ROOT, SAMPLE_COMTRADE, sample_file
from tests.e2e.conftest import MirrorRun, mirror_run

pytestmark = pytest.mark.e2e


def csv_rows(path):
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def total_row(freq: str, reporter: str, **match: str) -> dict[str, str]:
    """The one total-level row (no breakdown) of a sample file matching ``match``."""
    rows = [
        r
        for r in csv_rows(sample_file(freq, reporter))
        if all(r[k] == v for k, v in match.items())
        and r["customsCode"] == "C00"
        and r["motCode"] == "0"
        and r["partner2Code"] == "0"
    ]
    assert len(rows) == 1, (reporter, match, len(rows))
    return rows[0]


def test_run_succeeds_and_summarises(sample_run: MirrorRun) -> None:
    assert sample_run.returncode == 0, sample_run.stdout + sample_run.stderr
    out = sample_run.stdout
    assert "mirror run succeeded" in out
    assert "comtrade_final: 27 files loaded, 0 unchanged, 0 refused, 0 ignored" in out
    marts = next(line for line in out.splitlines() if line.startswith("  marts "))
    for mart in ("dim_country", "dim_product", "fct_mirror_trade", "fct_reconciled_trade"):
        assert mart in marts
    assert "gx_fct_mirror_trade      PASSED (error)" in out
    assert "gx_fct_mirror_trade_structural PASSED (error)" in out
    assert "Alerts:" in out
    assert str(sample_run.warehouse) in out


def test_a_first_build_reuses_the_parse_made_while_the_run_started(sample_run: MirrorRun) -> None:
    """transform/home_parse.py: a new home's dbt parse runs beside Dagster's start and the
    ingest, and the build takes it instead of parsing the whole project itself."""
    assert sample_run.returncode == 0, sample_run.stdout + sample_run.stderr
    assert (sample_run.home / "dbt" / "parse" / "partial_parse.msgpack").is_file()
    log = (sample_run.home / "dbt" / "build" / "dbt.log").read_text(encoding="utf-8")
    assert "Registered adapter" in log  # dbt's log of the first build
    assert "Unable to do partial parsing" not in log


def test_a_moved_home_parses_beside_the_run_not_in_its_build(
    sample_run: MirrorRun, tmp_path: Path
) -> None:
    """A home copied to another folder holds parses made for its old warehouse path, which dbt
    refuses (the profile's hash includes the path). `mirror run` there parses again in the
    background (home_parse.py: the profile's values are recorded with the parse), so the
    build does not parse the whole project itself."""
    assert sample_run.returncode == 0, sample_run.stdout + sample_run.stderr
    moved = tmp_path / "moved"
    shutil.copytree(sample_run.home, moved, symlinks=True)
    parse = moved / "dbt" / "parse" / "partial_parse.msgpack"
    before = parse.stat().st_mtime_ns
    run = mirror_run(moved, sample_run.landing, "--rebuild")
    assert run.returncode == 0, run.stdout + run.stderr
    assert parse.stat().st_mtime_ns != before  # parsed again, for the new path
    assert str(moved / "mirror.duckdb") in (moved / "dbt" / "parse_profile.json").read_text()
    log = (moved / "dbt" / "build" / "dbt.log").read_text(encoding="utf-8")
    assert "Registered adapter" in log
    assert "Unable to do partial parsing" not in log


def test_every_delivered_row_is_in_raw(sample_run: MirrorRun) -> None:
    delivered = sum(len(csv_rows(p)) for p in SAMPLE_COMTRADE.glob("*.csv"))
    with sample_run.connect() as con:
        loaded = con.execute("select count(*) from raw.comtrade_final").fetchone()[0]
        registry = con.execute(
            "select count(*), sum(rows_read), sum(rows_loaded), sum(rows_quarantined) "
            "from raw.file_registry where status = 'loaded' and source = 'comtrade'"
        ).fetchone()
    assert loaded == delivered
    assert registry == (27, delivered, delivered, 0)


def test_kz_it_crude_row_and_its_gap_by_hand(sample_run: MirrorRun) -> None:
    exported = float(
        total_row("A", "KAZ", period="2021", partnerCode="381", cmdCode="270900", flowCode="X")[
            "fobvalue"
        ]
    )
    imported = float(
        total_row("A", "ITA", period="2021", partnerCode="398", cmdCode="270900", flowCode="M")[
            "cifvalue"
        ]
    )
    assert (exported, imported) == (5642963904.53, 691740000.0)  # the README's oracle numbers
    with sample_run.connect() as con:
        row = con.execute(
            "select export_value_usd, import_value_usd, import_value_fob_usd, gap_usd, gap_pct, "
            "tolerance_pct, status, cif_fob_method, cif_fob_factor, corridor_id, "
            "corridor_declared_partner_iso3, residual_gap_pct from marts.fct_mirror_trade "
            "where freq = 'A' and period = '2021' and exporter_iso3 = 'KAZ' "
            "and importer_iso3 = 'ITA' and hs6 = '270900'"
        ).fetchone()
    factor = row[8]
    # estimated: the sample has too few chapter-27 flows in a year for the year's own intercept,
    # so the chapter's margin is shifted by the year's effect measured on all chapters
    assert row[7] == "estimated_chapter" and 1.0 <= factor <= 1.2
    import_fob = imported / factor
    gap = import_fob - exported
    gap_pct = 100 * gap / max(import_fob, exported)
    assert row[0] == pytest.approx(exported)
    assert row[1] == pytest.approx(imported)
    assert row[2] == pytest.approx(import_fob)
    assert row[3] == pytest.approx(gap) and row[4] == pytest.approx(gap_pct)
    assert gap_pct < -85  # a huge declared gap ...
    # ... explained by the Trieste/TAL corridor: what is left is within tolerance
    assert row[5:7] == (10.0, "explained_transit")
    assert row[9:11] == ("kz-it-tal", "ITA")
    assert abs(row[11]) <= 10


def test_breakdown_rows_do_not_inflate_totals(sample_run: MirrorRun) -> None:
    total = float(
        total_row("A", "KAZ", period="2021", partnerCode="156", cmdCode="740311", flowCode="X")[
            "fobvalue"
        ]
    )
    assert total == 3366413270.06
    with sample_run.connect() as con:
        value = con.execute(
            "select export_value_usd from marts.fct_mirror_trade where freq = 'A' and period = '2021' "
            "and exporter_iso3 = 'KAZ' and importer_iso3 = 'CHN' and hs6 = '740311'"
        ).fetchone()[0]
        consigned = con.execute(
            "select count(*) from staging.stg_comtrade__final where is_breakdown and partner2_code = 381"
        ).fetchone()[0]
    assert value == pytest.approx(total)
    assert consigned > 0  # the Trieste consignment rows are there, just not in the totals


def test_comtrade_codes_map_to_iso3(sample_run: MirrorRun) -> None:
    with sample_run.connect() as con:
        importers = {
            r[0]
            for r in con.execute(
                "select distinct importer_iso3 from marts.fct_mirror_trade"
            ).fetchall()
        }
        dims = dict(
            con.execute(
                "select comtrade_code, iso3 from marts.dim_country where comtrade_code in (251, 381, 842, 757, 40)"
            ).fetchall()
        )
    assert {"FRA", "ITA", "USA", "CHE", "AUT", "_X"} <= importers
    assert not any(i.startswith("#") for i in importers)  # every code was known
    assert dims == {251: "FRA", 381: "ITA", 842: "USA", 757: "CHE", 40: "AUT"}


def test_the_later_release_wins_for_revised_records(sample_run: MirrorRun) -> None:
    with sample_run.connect() as con:
        value, revised = con.execute(
            "select import_value_usd, is_revised from marts.fct_mirror_trade where freq = 'M' "
            "and period = '202303' and exporter_iso3 = 'KAZ' and importer_iso3 = 'ITA' and hs6 = '270900'"
        ).fetchone()
    assert (value, revised) == (325095420.0, True)  # the 2025-09-30 release, not 318721000


def test_statuses_on_the_sample(sample_run: MirrorRun) -> None:
    with sample_run.connect() as con:
        breaches = con.execute(
            "select count(*) from marts.fct_mirror_trade where status = 'breach'"
        ).fetchone()[0]
        tal = con.execute(
            "select importer_iso3, count(*), count(*) filter (where status = 'explained_transit') "
            "from marts.fct_mirror_trade where hs6 = '270900' "
            "and importer_iso3 in ('ITA', 'AUT', 'DEU', 'CZE') group by 1 order by 1"
        ).fetchall()
        nes = con.execute(
            "select distinct status from marts.fct_mirror_trade where importer_iso3 = '_X'"
        ).fetchall()
    assert breaches == 0  # every gap of the sample is explained, without any waiver
    assert [r[0] for r in tal] == ["AUT", "CZE", "DEU", "ITA"]
    assert all(total == explained for _, total, explained in tal), tal
    assert nes == [("unallocated",)]


def test_the_corridor_attributes_kz_crude_to_the_true_importers(sample_run: MirrorRun) -> None:
    with sample_run.connect() as con:
        rows = con.execute(
            "select attributed_importer_iso3, allocation_share, attributed_export_value_usd, "
            "importer_declared_fob_usd, residual_gap_pct, share_source "
            "from marts.fct_transit_allocation where corridor_id = 'kz-it-tal' "
            "and freq = 'A' and period = '2021' and hs6 = '270900' order by 1"
        ).fetchall()
        declared = con.execute(
            "select export_value_usd from marts.fct_mirror_trade where freq = 'A' "
            "and period = '2021' and exporter_iso3 = 'KAZ' and importer_iso3 = 'ITA' "
            "and hs6 = '270900'"
        ).fetchone()[0]
    assert [r[0] for r in rows] == ["AUT", "CZE", "DEU", "ITA"]
    assert sum(r[1] for r in rows) == pytest.approx(1.0)
    with sample_run.connect() as con:
        found = con.execute(
            "select member_importers, corridor_source, strength, evidence_periods "
            "from marts.fct_transit_corridors where corridor_id = 'kz-it-tal'"
        ).fetchone()
        evidence = con.execute(
            "select consignee_importers, deficit_importers, consignment_coverage, "
            "pattern_coverage from marts.fct_transit_evidence where freq = 'A' "
            "and period = '2021' and origin_iso3 = 'KAZ' and hub_iso3 = 'ITA' and hs6 = '270900'"
        ).fetchone()
    # the declarations alone point at the same corridor: the seed only names it
    assert found[:3] == ("AUT,CZE,DEU", "seed_confirmed_by_data", 1.0) and found[3] >= 2
    assert evidence[0] == evidence[1] == "AUT,CZE,DEU"
    assert evidence[2] > 0.9 and evidence[3] == pytest.approx(1.0, abs=0.1)
    assert sum(r[2] for r in rows) == pytest.approx(declared)  # nothing lost or invented
    bases = {r[0]: r[3] for r in rows}
    for importer, share, _, _, residual, source in rows:
        assert share == pytest.approx(bases[importer] / sum(bases.values()))  # from declarations
        assert abs(residual) <= 10 and source == "customs_imports"


def test_reconciled_layers_and_reliability(sample_run: MirrorRun) -> None:
    with sample_run.connect() as con:
        methods = dict(
            con.execute(
                "select reconciliation_method, count(*) from marts.fct_reconciled_trade group by 1"
            ).fetchall()
        )
        missing = con.execute(
            "select count(*) from marts.fct_reconciled_trade where balanced_value_usd is null "
            "or reconciliation_method is null"
        ).fetchone()[0]
        reporters = con.execute(
            "select count(distinct reporter_iso3) from marts.fct_reporter_reliability"
        ).fetchone()[0]
    assert missing == 0 and reporters >= 10
    assert any("transit_attributed" in m for m in methods)
    assert any(m.startswith("inverse_variance_weighted") for m in methods)


def test_published_copy_is_complete_and_read_only(sample_run: MirrorRun) -> None:
    published = sample_run.home / "published" / "mirror.duckdb"
    assert not published.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    con = duckdb.connect(str(published), read_only=True)
    try:
        pub_counts = {
            t: con.execute(f"select count(*) from marts.{t}").fetchone()[0]
            for t in ("fct_mirror_trade", "dim_country", "dim_product")
        }
        assert con.execute("select count(*) from main.publication").fetchone()[0] == 1
    finally:
        con.close()
    with sample_run.connect() as con:
        for table, count in pub_counts.items():
            assert con.execute(f"select count(*) from marts.{table}").fetchone()[0] == count
    parquet = sample_run.home / "exports" / "fct_mirror_trade" / "*.parquet"
    rows = (
        duckdb.connect()
        .execute("select count(*) from read_parquet(?)", [str(parquet)])
        .fetchone()[0]
    )
    assert rows == pub_counts["fct_mirror_trade"]


def repository_files() -> dict[str, int]:
    """Size of every file of the repository but the environment and caches."""
    skip = {".venv", ".git", "__pycache__", ".pytest_cache", ".ruff_cache"}
    return {
        str(p.relative_to(REPO_ROOT)): p.stat().st_size
        for p in REPO_ROOT.rglob("*")
        if p.is_file() and not skip & set(p.relative_to(REPO_ROOT).parts)
    }


def test_a_non_terminal_run_prints_no_progress(sample_run: MirrorRun) -> None:
    assert "dbt build:" not in sample_run.stderr and "\r" not in sample_run.stderr
    assert sample_run.stderr.strip().splitlines()[-1].startswith("mirror: building ")


@pytest.fixture(scope="module")
def second_run(sample_run: MirrorRun) -> dict[str, object]:
    """`mirror run --rebuild` on the same home, watched on a terminal (a pty): everything is
    built again, from the same raw data."""
    checksum = (
        "select count(*), md5(string_agg(cast(t as varchar), '|' order by cast(t as varchar))) "
        "from marts.fct_mirror_trade as t"
    )
    with sample_run.connect() as con:
        before = con.execute(checksum).fetchone()
    files_before = repository_files()
    again = mirror_run(sample_run.home, sample_run.landing, "--rebuild", tty=True)
    with again.connect() as con:
        after = con.execute(checksum).fetchone()
    return {
        "run": again,
        "same_marts": before == after,
        "files": (files_before, repository_files()),
    }


def test_a_second_run_changes_nothing(second_run) -> None:
    again: MirrorRun = second_run["run"]
    assert again.returncode == 0, again.stdout + again.stderr
    assert (
        "comtrade_final: 0 files loaded, 27 unchanged, 0 refused, 0 ignored; 0 rows loaded, "
        "0 quarantined" in again.stdout
    )
    assert second_run["same_marts"]
    before, after = second_run["files"]
    grown = {f: (before.get(f), size) for f, size in after.items() if before.get(f) != size}
    assert not grown, f"the second run changed the repository: {grown}"


def test_a_second_run_reuses_dbts_parse_of_the_project(second_run) -> None:
    """dbt parsed the project once, in the first run: the rebuild's dbt commands reuse that
    parse (a full parse is most of dbt's start on a loaded machine)."""
    again: MirrorRun = second_run["run"]
    assert again.returncode == 0, again.stdout + again.stderr
    log = (again.home / "dbt" / "build" / "dbt.log").read_text(encoding="utf-8")
    assert "Unable to do partial parsing" not in log
    assert "Registered adapter" in log  # it is dbt's log of this build


def test_a_run_with_nothing_new_does_nothing(second_run) -> None:
    """Issue 15: the landing files, code and rules of the last publication, the same day: no
    Dagster run, no build, the publication untouched; a touched (not changed) file is caught
    after the ingest instead, and then nothing is rebuilt either."""
    home: Path = second_run["run"].home
    landing: Path = second_run["run"].landing
    published = home / "published" / "mirror.duckdb"
    before = published.stat().st_mtime_ns
    idle = mirror_run(home, landing)
    assert idle.returncode == 0, idle.stdout + idle.stderr
    assert idle.stdout.startswith("mirror run: up to date in "), idle.stdout
    assert "`mirror run --rebuild` builds anyway" in idle.stdout
    assert published.stat().st_mtime_ns == before

    touched = sorted((landing / "comtrade").glob("*.csv"))[0]
    times = touched.stat()
    os.utime(touched, ns=(times.st_atime_ns, times.st_mtime_ns + 10**9))
    try:
        caught = mirror_run(home, landing)
    finally:
        os.utime(touched, ns=(times.st_atime_ns, times.st_mtime_ns))
    assert caught.returncode == 0, caught.stdout + caught.stderr
    assert "up to date: the ingest changed nothing" in caught.stdout, caught.stdout
    assert "0 files loaded, 27 unchanged" in caught.stdout
    assert "GX suites    not run (nothing to check: nothing rebuilt)" in caught.stdout
    assert published.stat().st_mtime_ns == before


def test_a_run_on_a_terminal_shows_live_progress(second_run) -> None:
    terminal: str = second_run["run"].stderr
    lines = [part.replace("\x1b[K", "") for part in re.split(r"[\r\n]+", terminal)]
    finished = [line for line in lines if re.match(r"\[\s*\d+\.\ds\] ", line)]

    def seen(pattern: str) -> bool:
        return any(re.search(pattern, line) for line in finished)

    assert seen(r"ingest comtrade: 27/27 files \(0 loaded, 27 unchanged")
    assert seen(r"dbt build: (\d+)/\1 nodes built and tested")
    assert seen(r"dbt build: \d+/\d+ nodes \(0 failed\), last: model ")  # as they finish
    assert seen(r"dbt build: \d+/\d+ nodes \(0 failed\), running model ")  # and start
    assert seen(r"checks: 3/3 GX suites")
    assert seen(r"publish: (\d+)/\1 tables published as ")
    # the dbt project did not change since the first run: its docs site is not regenerated
    assert seen(r"dbt docs: 1/1 site at .* unchanged: the dbt project did not change")
    assert "mirror run succeeded" not in terminal  # the summary goes to stdout


def test_an_unwaived_breach_fails_the_run_and_blocks_publication(breach_run: MirrorRun) -> None:
    assert breach_run.returncode == 1, breach_run.stdout + breach_run.stderr
    out = breach_run.stdout
    assert "mirror run FAILED" in out
    assert "gx_fct_mirror_trade      FAILED (error)" in out
    assert "no_unwaived_breach" in out
    assert "(NOT updated by this run)" in out
    assert not (breach_run.home / "published" / "mirror.duckdb").exists()
    with breach_run.connect() as con:
        row = con.execute(
            "select status, round(gap_pct, 1) from marts.fct_mirror_trade where freq = 'A' and period = '2021' "
            "and exporter_iso3 = 'KAZ' and importer_iso3 = 'FRA' and hs6 = '270900'"
        ).fetchone()
    assert row[0] == "breach" and row[1] > 10


def test_the_kz_corridor_is_found_without_its_seed(sample_run: MirrorRun, tmp_path: Path) -> None:
    """Issue 12: the seed is a confirmation, not a prerequisite. On a copy of the sample
    warehouse whose corridor seeds are emptied, the transit models rebuilt by dbt find
    KAZ -> ITA -> {AUT, CZE, DEU} in the declarations alone and explain every row."""
    copy = tmp_path / "no_seed.duckdb"
    shutil.copyfile(sample_run.warehouse, copy)
    con = duckdb.connect(str(copy))
    con.execute("delete from reference.transit_corridor_importers")
    con.execute("delete from reference.transit_corridors")
    con.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIRROR_", "DAGSTER_HOME"))}
    env.update(MIRROR_DUCKDB_PATH=str(copy), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    dbt = Path(sys.executable).parent / "dbt"
    proc = subprocess.run(
        # --full-refresh: the corridors are an estimate, kept until refreshed (what `mirror`
        # does when the seeds change: they are part of the code fingerprint)
        [str(dbt), "run", "--quiet", "--full-refresh", "--select", "int_transit__corridors+",
         "--project-dir", "dbt", "--profiles-dir", "dbt",
         "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    con = duckdb.connect(str(copy), read_only=True)
    try:
        corridor = con.execute(
            "select corridor_id, corridor_source, is_applied, member_importers, strength "
            "from marts.fct_transit_corridors where origin_iso3 = 'KAZ'"
        ).fetchall()
        statuses = con.execute(
            "select importer_iso3, count(*), count(*) filter (where status = 'explained_transit' "
            "and corridor_id = 'det-kaz-ita-2709') from marts.fct_mirror_trade "
            "where exporter_iso3 = 'KAZ' and hs6 = '270900' "
            "and importer_iso3 in ('ITA', 'AUT', 'DEU', 'CZE') group by 1 order by 1"
        ).fetchall()
        breaches = con.execute(
            "select count(*) from marts.fct_mirror_trade where status = 'breach'"
        ).fetchone()[0]
    finally:
        con.close()
    assert corridor == [("det-kaz-ita-2709", "detected", True, "AUT,CZE,DEU", 1.0)]
    assert [r[0] for r in statuses] == ["AUT", "CZE", "DEU", "ITA"]
    assert all(total == explained for _, total, explained in statuses), statuses
    assert breaches == 0


README_HOME = "/home/you/mirror/warehouse"  # the home the README's sample output shows


def normalised(text: str, home: str) -> str:
    """A summary with what differs from run to run (home, durations, memory, log name) masked."""
    text = text.replace(home, README_HOME)
    text = re.sub(r"^(mirror run succeeded in )[\d.]+s$", r"\1<t>s", text, flags=re.MULTILINE)
    text = re.sub(r"Peak memory: \d+ MB \(this process\), \d+ MB", "Peak memory: <n> MB", text)
    return re.sub(r"run-\d{8}T\d{6}-\d+\.log", "run-<time>-<pid>.log", text)


def readme_sample_output() -> str:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split("fails when it drifts:\n\n```\n", 1)[1].split("\n```", 1)[0]


def test_the_readme_shows_the_output_of_a_real_run(sample_run: MirrorRun) -> None:
    """The README's sample output is a real run's, and its timing is of the same order."""
    shown = readme_sample_output()
    actual = sample_run.stdout.rstrip("\n")
    assert normalised(shown, README_HOME) == normalised(actual, str(sample_run.home)), (
        "README.md's sample output is stale; paste this run's instead (home shown as "
        f"{README_HOME}):\n{actual.replace(str(sample_run.home), README_HOME)}"
    )
    claimed = float(re.search(r"succeeded in ([\d.]+)s", shown).group(1))
    took = float(re.search(r"succeeded in ([\d.]+)s", actual).group(1))
    assert claimed / 4 <= took <= claimed * 4, (claimed, took)
