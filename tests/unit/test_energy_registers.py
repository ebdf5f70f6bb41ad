"""Energy import registers: Eurostat nrg_ti_coifpm (SDMX-CSV) and DG Energy COIR (workbooks
and flattened CSV) - raw loads, confidentiality, row accounting, refusals, oracles."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import openpyxl
import pytest

from dagster_project.ingest.loader import ingest_files
from dagster_project.sources import coir, eurostat
from tests.conftest import REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "energy"
EUROSTAT_SLICE = FIXTURES / "estat_nrg_ti_coifpm_slice.csv.gz"
COIR_DIR = REPO_ROOT / "data" / "real" / "coir"
COIR_2019 = COIR_DIR / "Crude_Oil_Imports_Reporting_Country_2019.xlsx"
COIR_FLAT = COIR_DIR / "coir_2013_2019_monthly.csv"
HEADER = list(coir.DELIVERED_NAMES.values())[:7]


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def ingest(con: duckdb.DuckDBPyConnection, spec, *paths: Path):
    return ingest_files(con, spec, list(paths), log=lambda _msg: None)


def slice_lines() -> list[str]:
    with gzip.open(EUROSTAT_SLICE, "rt", encoding="utf-8") as fh:
        return fh.read().splitlines()


def assert_accounting(con: duckdb.DuckDBPyConnection, outcomes) -> None:
    for outcome in outcomes:
        assert outcome.rows_read == outcome.rows_loaded + outcome.rows_quarantined
        registry = con.execute(
            "select rows_read, rows_loaded, rows_quarantined from raw.file_registry where path = ?",
            [str(outcome.path)],
        ).fetchone()
        assert registry == (outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined)


# Eurostat -----------------------------------------------------------------------------------


def test_eurostat_slice_loads_every_row_with_confidential_rows_kept(
    con: duckdb.DuckDBPyConnection,
) -> None:
    outcomes = ingest(con, eurostat.SPEC, EUROSTAT_SLICE)
    [outcome] = outcomes
    lines = slice_lines()
    assert (outcome.status, outcome.rows_read) == ("loaded", len(lines) - 1)
    assert outcome.rows_quarantined == 0
    assert_accounting(con, outcomes)
    cz = con.execute(
        "select count(*), count(OBS_VALUE), bool_and(OBS_FLAG = 'c') "
        "from raw.eurostat_nrg_ti_coifpm where geo = 'CZ' and crudeoil like 'KZ\\_%' escape '\\'"
    ).fetchone()
    assert cz[0] > 0 and cz[1] == 0 and cz[2], "Czech Kazakh rows: kept, no value, flag c"


def test_eurostat_bad_values_are_quarantined_with_line_and_reason(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    lines = slice_lines()
    good = lines[1]
    prefix = good.rsplit(",", 2)[0]
    path = tmp_path / "estat_nrg_ti_coifpm_bad.csv"
    path.write_text(
        "\n".join(
            [
                lines[0],
                good,
                prefix + ",-5,",  # negative
                prefix + ",n/a,",  # not a number
                prefix + ",,",  # missing without the confidential flag
                prefix + ",,c",  # confidential: kept
                "ESTAT:NRG_TI_CPIMP(1.0)" + good[len("ESTAT:NRG_TI_COIFPM(1.0)") :],
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    outcomes = ingest(con, eurostat.SPEC, path)
    assert [(o.rows_read, o.rows_loaded, o.rows_quarantined) for o in outcomes] == [(6, 2, 4)]
    assert_accounting(con, outcomes)
    reasons = con.execute(
        "select line_number, column_name, reason from raw.quarantine order by line_number"
    ).fetchall()
    assert reasons == [
        (3, "OBS_VALUE", "negative value"),
        (4, "OBS_VALUE", "not a number"),
        (5, "OBS_VALUE", "missing value without the confidential flag c"),
        (7, "DATAFLOW", "not Eurostat dataset nrg_ti_coifpm"),
    ]


def test_eurostat_file_without_sdmx_columns_is_refused(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = tmp_path / "nrg_ti_coifpm.csv"
    path.write_text("geo,time,value\nAT,2021-01,1\n", encoding="utf-8")
    [outcome] = ingest(con, eurostat.SPEC, path)
    assert outcome.status == "refused"
    assert "missing required column(s) DATAFLOW" in outcome.message


# COIR workbooks -----------------------------------------------------------------------------


def _kz_austria(con: duckdb.DuckDBPyConnection, period_type: str, layout: str) -> float:
    return con.execute(
        """
        select sum(cast("Volume (1000 bbl)" as double)) from raw.coir_crude_imports
        where "Reporting Country" = 'Austria' and "Country of Origin" = 'Kazakhstan'
          and _row_kind = 'detail' and _period_type = ? and _layout = ?
          and year(_period_start) = 2019
        """,
        [period_type, layout],
    ).fetchone()[0]


def test_coir_2019_workbook_reproduces_the_austrian_kazakh_control_total(
    con: duckdb.DuckDBPyConnection,
) -> None:
    outcomes = ingest(con, coir.SPEC, COIR_2019)
    [outcome] = outcomes
    assert outcome.status == "loaded" and outcome.rows_quarantined == 0
    assert_accounting(con, outcomes)
    annual = _kz_austria(con, "annual", "xlsx_sheet")
    assert annual == pytest.approx(26606.58, abs=0.005)
    assert _kz_austria(con, "monthly", "xlsx_sheet") == pytest.approx(annual, abs=0.05)
    # the annual sheet is marked, one per workbook; twelve monthly sheets
    sheets = con.execute(
        "select _period_type, count(distinct _sheet_name) from raw.coir_crude_imports group by 1"
    ).fetchall()
    assert sorted(sheets) == [("annual", 1), ("monthly", 12)]


def test_coir_blocks_are_forward_filled_and_totals_marked(
    con: duckdb.DuckDBPyConnection,
) -> None:
    ingest(con, coir.SPEC, COIR_2019)
    row = con.execute(
        """
        select "Reporting Country", _reporter_filled, _row_number, _sheet_name
        from raw.coir_crude_imports
        where _period_type = 'annual' and "Country of Origin" = 'Kazakhstan'
          and "Volume (1000 bbl)" = '26606.58'
        """
    ).fetchone()
    assert row == ("Austria", True, 11, "Detailed Crude Oil Imports - cu")  # Excel row 11
    kinds = dict(
        con.execute(
            "select _row_kind, count(*) from raw.coir_crude_imports "
            "where _period_type = 'annual' group by 1"
        ).fetchall()
    )
    assert kinds["world_total"] == 1 and kinds["reporter_total"] >= 20
    # the Sum: row equals its detail rows (control total)
    detail, total = con.execute(
        """
        select sum(cast("Volume (1000 bbl)" as double)) filter (where _row_kind = 'detail'),
               sum(cast("Volume (1000 bbl)" as double)) filter (where _row_kind = 'reporter_total')
        from raw.coir_crude_imports
        where _period_type = 'annual' and "Reporting Country" = 'Austria'
        """
    ).fetchone()
    assert detail == pytest.approx(total, abs=0.05)


def test_coir_confidential_marker_is_kept_as_delivered_not_zero(
    con: duckdb.DuckDBPyConnection,
) -> None:
    ingest(con, coir.SPEC, COIR_2019)
    values = con.execute(
        """
        select distinct "Total Value ($ 1000)" from raw.coir_crude_imports
        where try_cast("Total Value ($ 1000)" as double) is null
        """
    ).fetchall()
    assert values == [("(3)",)]
    zeros = con.execute(
        "select count(*) from raw.coir_crude_imports where \"Total Value ($ 1000)\" = '0'"
    ).fetchone()[0]
    assert zeros == 0


def test_coir_flat_csv_lands_in_the_same_table_marked_by_layout(
    con: duckdb.DuckDBPyConnection,
) -> None:
    outcomes = ingest(con, coir.SPEC, COIR_2019, COIR_FLAT)
    assert [o.status for o in outcomes] == ["loaded", "loaded"]
    assert_accounting(con, outcomes)
    assert _kz_austria(con, "monthly", "flat_csv") == pytest.approx(26606.58, abs=0.05)
    layouts = dict(
        con.execute("select _layout, count(*) from raw.coir_crude_imports group by 1").fetchall()
    )
    assert set(layouts) == {"xlsx_sheet", "flat_csv"}
    assert layouts["flat_csv"] == outcomes[1].rows_loaded


def _workbook(path: Path, rows: list[list[object]], title: str = "EU COI - Jan") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = title
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


def test_workbook_without_the_register_header_is_refused(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = _workbook(
        tmp_path / "not_coir.xlsx",
        [[None, "Jan - 2019"], [None, "Country", "Partner", "Volume"], [None, "AT", "KZ", 1]],
    )
    [outcome] = ingest(con, coir.SPEC, path)
    assert outcome.status == "refused"
    assert "no header row" in outcome.message and "'EU COI - Jan'" in outcome.message
    assert con.execute("select count(*) from raw.coir_crude_imports").fetchone()[0] == 0


def test_non_xlsx_bytes_are_refused(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0 legacy compound document")
    [outcome] = ingest(con, coir.SPEC, path)
    assert outcome.status == "refused" and "re-save as .xlsx" in outcome.message


def test_broken_workbook_rows_are_quarantined_at_their_excel_row(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = _workbook(
        tmp_path / "broken.xlsx",
        [
            [None, "EUROPEAN COMMISSION_x000D_Directorate-General for Energy", None, None,
             None, None, "Feb - 2019"],
            [],
            [None, *HEADER],
            [None, "Austria", "Kazakhstan", "Kazakhstan Crude", 100.5, 6000, 59.7, 0.01],
            [None, None, "Libya", "Light (>40o)", -3, 100, 33.3, 0.0],
            [None, None, "Norway", "Ekofisk", "lots", 100, 1, 0.0],
            [None, None, "Iraq", "Basrah Light", 50, "(3)", "(3)", 0.005],
            [None, "Austria", None, "Sum:", 147.5, 6100, 41.4, 0.015],
            [None, "(1) Source: Council Regulation (EC) n°2964/95"],
        ],
        title="EU COI - Feb",
    )  # fmt: skip
    outcomes = ingest(con, coir.SPEC, path)
    assert [(o.rows_read, o.rows_loaded, o.rows_quarantined) for o in outcomes] == [(5, 3, 2)]
    assert_accounting(con, outcomes)
    quarantined = con.execute(
        "select line_number, column_name, reason, raw_record like '%EU COI - Feb%' "
        "from raw.quarantine order by line_number"
    ).fetchall()
    assert quarantined == [
        (5, "Volume (1000 bbl)", "negative value", True),
        (6, "Volume (1000 bbl)", "not a number (nor the confidential marker (3))", True),
    ]
    loaded = con.execute(
        'select "Reporting Country", "Country of Origin", "Total Value ($ 1000)", _row_kind, '
        "_period_type, _period_start from raw.coir_crude_imports order by _row_number"
    ).fetchall()
    assert [r[:4] for r in loaded] == [
        ("Austria", "Kazakhstan", "6000", "detail"),
        ("Austria", "Iraq", "(3)", "detail"),
        ("Austria", None, "6100", "reporter_total"),
    ]
    assert {(r[4], str(r[5])) for r in loaded} == {("monthly", "2019-02-01")}


def test_period_cells_are_parsed() -> None:
    assert coir.parse_period("Jan - 2019").period_type == "monthly"
    annual = coir.parse_period("1-12/2019")
    assert (annual.period_type, str(annual.start), str(annual.end)) == (
        "annual",
        "2019-01-01",
        "2019-12-31",
    )
    assert coir.parse_period("1-6/2020").period_type == "year_to_date"
    assert coir.parse_period("Sept - 2018").start.month == 9
    assert coir.parse_period("EUROPEAN COMMISSION") is None
