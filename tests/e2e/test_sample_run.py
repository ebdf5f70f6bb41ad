"""`mirror run` on the embedded sample: real values in the marts, checks, publication."""

from __future__ import annotations

import csv
import datetime as dt
import stat

import duckdb
import pytest

from dagster_project.quality.runner import run_suite
from dagster_project.quality.suites import load_suite
from dagster_project.settings import EXPECTATIONS_DIR
from tests.conftest import SAMPLE_COMTRADE, sample_file
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
    assert "comtrade_final: 27 files loaded, 0 unchanged, 0 refused" in out
    assert "marts        dim_country, dim_product, fct_mirror_trade" in out
    assert "gx_fct_mirror_trade      PASSED (error)" in out
    assert "waived" in out
    assert str(sample_run.warehouse) in out


def test_every_delivered_row_is_in_raw(sample_run: MirrorRun) -> None:
    delivered = sum(len(csv_rows(p)) for p in SAMPLE_COMTRADE.glob("*.csv"))
    with sample_run.connect() as con:
        loaded = con.execute("select count(*) from raw.comtrade_final").fetchone()[0]
        registry = con.execute(
            "select count(*), sum(rows_read), sum(rows_loaded), sum(rows_quarantined) "
            "from raw.file_registry where status = 'loaded'"
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
    import_fob = imported / 1.06
    gap = import_fob - exported  # -4,990,378,998.87
    gap_pct = 100 * gap / max(import_fob, exported)  # -88.44 %
    with sample_run.connect() as con:
        row = con.execute(
            "select export_value_usd, import_value_usd, import_value_fob_usd, gap_usd, gap_pct, "
            "tolerance_pct, status, cif_fob_method from marts.fct_mirror_trade "
            "where freq = 'A' and period = '2021' and exporter_iso3 = 'KAZ' "
            "and importer_iso3 = 'ITA' and hs6 = '270900'"
        ).fetchone()
    assert row[0] == pytest.approx(exported)
    assert row[1] == pytest.approx(imported)
    assert row[2] == pytest.approx(import_fob)
    assert row[3] == pytest.approx(gap) and row[3] == pytest.approx(-4990378998.87, abs=0.01)
    assert row[4] == pytest.approx(gap_pct) and row[4] == pytest.approx(-88.435, abs=0.001)
    assert row[5:] == (10.0, "breach", "fixed_factor")


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
            "select distinct exporter_iso3, importer_iso3, hs6 from marts.fct_mirror_trade where status = 'breach'"
        ).fetchall()
        tal = dict(
            con.execute(
                "select importer_iso3, any_value(status) from marts.fct_mirror_trade "
                "where hs6 = '270900' and importer_iso3 in ('AUT', 'DEU', 'CZE') group by 1"
            ).fetchall()
        )
        nes = con.execute(
            "select distinct status from marts.fct_mirror_trade where importer_iso3 = '_X'"
        ).fetchall()
    assert breaches == [("KAZ", "ITA", "270900")]  # only the Trieste/TAL case
    assert tal == {"AUT": "import_only", "DEU": "import_only", "CZE": "import_only"}
    assert nes == [("unallocated",)]


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
    parquet = sample_run.home / "exports" / "fct_mirror_trade.parquet"
    rows = (
        duckdb.connect()
        .execute("select count(*) from read_parquet(?)", [str(parquet)])
        .fetchone()[0]
    )
    assert rows == pub_counts["fct_mirror_trade"]


def test_the_waiver_stops_covering_the_breach_once_expired(sample_run: MirrorRun) -> None:
    suite = load_suite(EXPECTATIONS_DIR / "fct_mirror_trade.yml")
    [waiver] = suite.waivers
    before = run_suite(suite, sample_run.warehouse, today=waiver.expires)
    after = run_suite(suite, sample_run.warehouse, today=waiver.expires + dt.timedelta(days=1))
    assert before.success and before.waived_breaches == before.breaches > 0
    assert before.waiver_hits == {waiver.id: before.breaches}
    assert f"{waiver.id}: {before.breaches} rows, expires {waiver.expires}" in before.one_line()
    assert not after.success and after.waived_breaches == 0
    assert {o.name for o in after.failed} >= {
        "no_unwaived_breach",
        "value_weighted_share_in_tolerance",
    }
    assert "EXPIRED waivers: kz-it-crude-trieste-tal" in after.one_line()
    worst = after.top_breaches[0]
    assert (worst["exporter_iso3"], worst["importer_iso3"], worst["hs6"]) == (
        "KAZ",
        "ITA",
        "270900",
    )


def test_a_second_run_changes_nothing(sample_run: MirrorRun) -> None:
    checksum = (
        "select count(*), md5(string_agg(cast(t as varchar), '|' order by cast(t as varchar))) "
        "from marts.fct_mirror_trade as t"
    )
    with sample_run.connect() as con:
        before = con.execute(checksum).fetchone()
    again = mirror_run(sample_run.home, sample_run.landing)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (
        "comtrade_final: 0 files loaded, 27 unchanged, 0 refused; 0 rows loaded, 0 quarantined"
        in again.stdout
    )
    with again.connect() as con:
        assert con.execute(checksum).fetchone() == before


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
