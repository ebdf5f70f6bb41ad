"""Every source at once, from real files: the sample (Comtrade), the real Eurostat and COIR
downloads, the Comext fixtures and a corrupted file, in one landing zone.

One fixture runs `mirror run` three times (first load; the same files again; a revision
dropped in) and snapshots what the tests assert, so the tests do not depend on their order.
"""

from __future__ import annotations

import csv
import gzip
import shutil
from dataclasses import dataclass
from typing import Any

import duckdb
import pytest

from dagster_project.sources import REFERENCE_SOURCES
from tests.conftest import REPO_ROOT, SAMPLE_COMTRADE
from tests.e2e.conftest import MirrorRun, mirror_run

pytestmark = pytest.mark.e2e

REAL = REPO_ROOT / "data" / "real"
COMEXT_FIXTURES = REPO_ROOT / "tests" / "fixtures" / "comext"
REVISION_NAME = "comtrade_final_M_ITA_202303_released-2025-12-01.csv"
REVISED_VALUE = 330000000.0


@dataclass
class Snapshot:
    first: MirrorRun
    registry: list[dict[str, Any]]
    oracle: dict[str, Any]
    second: MirrorRun
    counts_first: dict[str, int]
    counts_second: dict[str, int]
    third: MirrorRun
    revisions: list[tuple]
    fct_value_after_revision: float


def query(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


RAW_TABLES = ("comtrade_final", "comext_monthly", "eurostat_nrg_ti_coifpm", "coir_crude_imports")


def raw_counts(run: MirrorRun) -> dict[str, int]:
    with run.connect() as con:
        return {t: con.execute(f"select count(*) from raw.{t}").fetchone()[0] for t in RAW_TABLES}


@pytest.fixture(scope="session")
def real(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    landing = tmp_path_factory.mktemp("real_landing")
    shutil.copytree(SAMPLE_COMTRADE, landing / "comtrade")
    shutil.copytree(REAL / "eurostat", landing / "eurostat")
    shutil.copytree(REAL / "coir", landing / "coir")
    (landing / "comext").mkdir()
    for path in COMEXT_FIXTURES.glob("*.dat*"):
        shutil.copy(path, landing / "comext" / path.name)
    # a download cut short: half of a gzip stream
    whole = gzip.compress(next(SAMPLE_COMTRADE.glob("comtrade_final_M_KAZ_*.csv")).read_bytes())
    (landing / "comtrade" / "broken_download.csv.gz").write_bytes(whole[: len(whole) // 2])

    home = tmp_path_factory.mktemp("real_home")
    first = mirror_run(home, landing)
    with first.connect() as con:
        registry = query(con, "select * from raw.file_registry order by path")
        oracle = query(
            con,
            """
            select
              (select sum(volume_thousand_bbl) from staging.stg_coir__crude_imports
                where row_kind = 'detail' and period_type = 'annual' and layout = 'xlsx_sheet'
                  and period_year = 2019 and reporter_iso2 = 'AT' and origin_iso2 = 'KZ'
                  and is_current_file_version) as coir_at_kz_2019_annual,
              (select sum(volume_thousand_bbl) from staging.stg_coir__crude_imports
                where row_kind = 'detail' and layout = 'flat_csv'
                  and period_year = 2019 and reporter_iso2 = 'AT' and origin_iso2 = 'KZ'
                  and is_current_file_version) as coir_at_kz_2019_flat,
              (select sum(volume_thousand_bbl) from staging.stg_eurostat__crude_imports
                where importer_iso2 = 'AT' and origin_iso2 = 'KZ'
                  and year(period_month) = 2021) as eurostat_at_kz_2021,
              (select count(*) from staging.stg_eurostat__crude_imports
                where importer_iso2 = 'CZ' and origin_iso2 = 'KZ') as eurostat_cz_kz_rows,
              (select count(*) from staging.stg_eurostat__crude_imports
                where importer_iso2 = 'CZ' and origin_iso2 = 'KZ'
                  and is_volume_confidential and volume_thousand_bbl is null)
                as eurostat_cz_kz_confidential_null,
              (select count(*) from staging.stg_comext__monthly) as comext_rows,
              (select customs_volume_thousand_bbl from marts.fct_crude_import_controls
                where freq = 'A' and period = '2019' and importer_iso3 = 'AUT'
                  and origin_iso3 = 'KAZ') as control_at_kz_2019_customs_kbbl,
              (select register_volume_thousand_bbl from marts.fct_crude_import_controls
                where freq = 'A' and period = '2019' and importer_iso3 = 'AUT'
                  and origin_iso3 = 'KAZ') as control_at_kz_2019_register_kbbl,
              (select string_agg(exporter_iso3 || '>' || importer_iso3 || ' ' || hs6 || ' '
                                 || freq || period || ' ' || declared_sides, ', '
                                 order by freq, period)
                 from marts.fct_mirror_trade where status = 'breach') as breaches,
              (select string_agg(distinct status, ',' order by status) from marts.fct_mirror_trade
                where exporter_iso3 = 'KAZ' and hs6 = '270900'
                  and importer_iso3 in ('ITA', 'AUT', 'DEU', 'CZE')) as tal_statuses,
              (select count(*) from staging.stg_comext__monthly where value_usd is not null)
                as comext_rows_in_usd
            """,
        )[0]
    counts_first = raw_counts(first)

    second = mirror_run(home, landing)
    counts_second = raw_counts(second)

    original = next((landing / "comtrade").glob("comtrade_final_M_ITA_2019-2024_*.csv"))
    with original.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    [target] = [
        r
        for r in rows
        if (
            r["period"],
            r["partnerCode"],
            r["cmdCode"],
            r["customsCode"],
            r["motCode"],
            r["partner2Code"],
        )
        == ("202303", "398", "270900", "C00", "0", "0")
    ]
    target["cifvalue"] = target["primaryValue"] = f"{REVISED_VALUE:.2f}"
    with (landing / "comtrade" / REVISION_NAME).open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerow(target)
    third = mirror_run(home, landing)
    with third.connect() as con:
        revisions = con.execute(
            "select revision_number, primary_value_usd, previous_value_usd, valid_from, is_current "
            "from intermediate.int_comtrade__revisions where freq = 'M' and period = '202303' "
            "and reporter_code = 381 and flow_code = 'M' and partner_code = 398 and hs6 = '270900' "
            "order by revision_number"
        ).fetchall()
        fct_value = con.execute(
            "select import_value_usd from marts.fct_mirror_trade where freq = 'M' and period = '202303' "
            "and exporter_iso3 = 'KAZ' and importer_iso3 = 'ITA' and hs6 = '270900'"
        ).fetchone()[0]
    return Snapshot(
        first, registry, oracle, second, counts_first, counts_second, third, revisions, fct_value
    )


# The Comext fixtures invent Greek imports of Kazakh crude (January 2021 and 2024) that the
# sample's Kazakh declarations (12 partners, Greece not among them) do not mirror: material
# one-sided flows nothing explains, so each run fails its blocking check on exactly these two
# breaches (issue 11: a -100 % gap is judged like any other) and publishes nothing.
GREEK_BREACHES = "KAZ>GRC 270900 M202101 import_only, KAZ>GRC 270900 M202401 import_only"


def fails_only_on_the_greek_breaches(run: MirrorRun) -> bool:
    return run.returncode == 1 and "no_unwaived_breach (2)" in run.stdout


def test_all_sources_load_and_the_corrupted_file_is_refused(real: Snapshot) -> None:
    assert fails_only_on_the_greek_breaches(real.first), real.first.stdout + real.first.stderr
    by_source: dict[str, set[str]] = {}
    for row in real.registry:
        by_source.setdefault(row["source"], set()).add(row["status"])
    assert by_source == {
        "comtrade": {"loaded", "refused"},
        "comext": {"loaded"},
        "eurostat": {"loaded"},
        "coir": {"loaded"},
        **{spec.name: {"loaded"} for spec in REFERENCE_SOURCES},  # registered like any source
    }
    [refused] = [r for r in real.registry if r["status"] == "refused"]
    assert refused["path"].endswith("broken_download.csv.gz")
    assert refused["message"] and len(refused["message"].splitlines()) == 1
    assert (
        "refused  broken_download.csv.gz" in real.first.stdout
        or "refused broken_download.csv.gz" in real.first.stdout
    )
    assert all(v > 0 for v in real.counts_first.values()), real.counts_first


def test_rows_read_equal_loaded_plus_quarantined_for_every_file(real: Snapshot) -> None:
    for row in real.registry:
        if row["status"] == "loaded":
            assert row["rows_read"] == row["rows_loaded"] + row["rows_quarantined"], row["path"]


def hand_sum_coir_flat(reporter: str, origin: str, year: str) -> float:
    with (REAL / "coir" / "coir_2013_2019_monthly.csv").open(encoding="utf-8", newline="") as fh:
        return sum(
            float(r["Volume (1000 bbl)"])
            for r in csv.DictReader(fh)
            if r["Reporting Country"] == reporter
            and r["Country of Origin"] == origin
            and r["date"].startswith(year)
            and r["Volume (1000 bbl)"]
        )


def hand_sum_eurostat(geo: str, origin_prefix: str, year: str) -> float:
    with gzip.open(
        REAL / "eurostat" / "estat_nrg_ti_coifpm_vol_val.csv.gz", "rt", encoding="utf-8"
    ) as fh:
        return sum(
            float(r["OBS_VALUE"])
            for r in csv.DictReader(fh)
            if r["geo"] == geo
            and r["crudeoil"].startswith(origin_prefix)
            and r["indic_nrg"] == "VOL_THS_BBL"
            and r["TIME_PERIOD"].startswith(year)
            and r["OBS_VALUE"]
        )


def test_staging_agrees_with_hand_computed_register_totals(real: Snapshot) -> None:
    oracle = real.oracle
    assert oracle["coir_at_kz_2019_annual"] == pytest.approx(
        26606.58, abs=0.005
    )  # the register's figure
    assert oracle["coir_at_kz_2019_flat"] == pytest.approx(
        hand_sum_coir_flat("Austria", "Kazakhstan", "2019"), abs=0.005
    )
    assert oracle["eurostat_at_kz_2021"] == pytest.approx(
        hand_sum_eurostat("AT", "KZ_", "2021"), abs=0.005
    )
    assert oracle["eurostat_cz_kz_rows"] > 0
    assert oracle["eurostat_cz_kz_confidential_null"] == oracle["eurostat_cz_kz_rows"]  # never zero
    assert oracle["comext_rows"] > 0 and oracle["comext_rows_in_usd"] > 0


def test_with_the_registers_the_corridor_and_controls_hold(real: Snapshot) -> None:
    oracle = real.oracle
    # the sample's Austrian crude volume was derived from COIR at 7.6 bbl/t: the control total
    # in barrels, computed back from customs kilograms, meets the register's figure
    assert oracle["control_at_kz_2019_register_kbbl"] == pytest.approx(26606.58, abs=0.01)
    assert oracle["control_at_kz_2019_customs_kbbl"] == pytest.approx(26606.58, rel=1e-6)
    assert oracle["tal_statuses"] == "explained_transit"
    assert oracle["breaches"] == GREEK_BREACHES


def test_dropping_the_same_files_again_changes_nothing(real: Snapshot) -> None:
    assert fails_only_on_the_greek_breaches(real.second), real.second.stdout + real.second.stderr
    assert real.counts_second == real.counts_first
    for line in real.second.stdout.splitlines():
        if " files loaded, " in line:
            assert ": 0 files loaded," in line and "0 rows loaded" in line, line


def test_a_revised_file_produces_a_revision(real: Snapshot) -> None:
    assert fails_only_on_the_greek_breaches(real.third), real.third.stdout + real.third.stderr
    values = [(r[0], r[1], r[2], r[4]) for r in real.revisions]
    assert values == [
        (1, 318721000.0, None, False),
        (2, 325095420.0, 318721000.0, False),
        (3, REVISED_VALUE, 325095420.0, True),
    ]
    assert str(real.revisions[-1][3]) == "2025-12-01"
    assert real.fct_value_after_revision == REVISED_VALUE
