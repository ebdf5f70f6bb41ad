"""Comext bulk files: both layouts into one raw table, gzip, row quarantine, refusals."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import duckdb
import pytest

from dagster_project.ingest.loader import ingest_files
from dagster_project.sources import comext

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "comext"
DAT19_MONTH = FIXTURES / "full202101.dat"  # 14 rows: 7 good, 7 bad
DAT19_ANNUAL = FIXTURES / "full202052.dat"  # 3 rows, annual totals
PRODUCTS18_GZ = FIXTURES / "full_v2_202401.dat.gz"  # 7 rows: 6 good, 1 bad


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    comext.SPEC.ensure_tables(c)
    return c


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    """Copies of the fixtures (the registry records paths; tests may rewrite files)."""
    folder = tmp_path / "comext"
    folder.mkdir()
    for path in (DAT19_MONTH, DAT19_ANNUAL, PRODUCTS18_GZ):
        shutil.copy(path, folder / path.name)
    return folder


def ingest(con: duckdb.DuckDBPyConnection, *paths: Path):
    return ingest_files(con, comext.SPEC, list(paths), log=lambda _msg: None)


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


def test_raw_table_has_both_layouts_columns_and_metadata(con: duckdb.DuckDBPyConnection) -> None:
    columns = [r[0] for r in rows(con, "describe raw.comext_monthly")]
    assert set(comext.DAT19_COLUMNS) <= set(columns)
    assert set(comext.PRODUCTS18_COLUMNS) <= set(columns)
    assert len(comext.DAT19_COLUMNS) == 19 and len(comext.PRODUCTS18_COLUMNS) == 18
    assert columns[-5:] == ["_source_file", "_file_sha256", "_loaded_at", "_row_number", "_layout"]
    types = {r[0]: r[1] for r in rows(con, "describe raw.comext_monthly")}
    assert {c: types[c] for c in comext.COLUMN_TYPES} == comext.COLUMN_TYPES
    assert {types[c] for c in comext.COLUMNS if c not in comext.COLUMN_TYPES} == {"VARCHAR"}
    assert comext.COLUMN_TYPES["STAT_REGIME"] == "INTEGER"
    assert comext.COLUMN_TYPES["VALUE_NAC"] == "DOUBLE"


def test_each_layout_loads_with_per_file_counts(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    month, annual, products = (landing / p.name for p in (DAT19_MONTH, DAT19_ANNUAL, PRODUCTS18_GZ))
    outcomes = ingest(con, month, annual, products)
    counts = [(o.status, o.rows_read, o.rows_loaded, o.rows_quarantined) for o in outcomes]
    assert counts == [("loaded", 14, 7, 7), ("loaded", 3, 3, 0), ("loaded", 7, 6, 1)]
    for o in outcomes:
        assert o.rows_read == o.rows_loaded + o.rows_quarantined
        loaded = rows(
            con, "select count(*) from raw.comext_monthly where _source_file = ?", [str(o.path)]
        )[0][0]
        quarantined = rows(
            con, "select count(*) from raw.quarantine where source_file = ?", [str(o.path)]
        )[0][0]
        assert (loaded, quarantined) == (o.rows_loaded, o.rows_quarantined)
    by_layout = rows(
        con,
        "select _source_file, _layout, count(*) from raw.comext_monthly group by all order by 1",
    )
    assert by_layout == [
        (str(annual), "dat19", 3),
        (str(month), "dat19", 7),
        (str(products), "products18", 6),
    ]
    formats = dict(rows(con, "select path, detected_format from raw.file_registry"))
    assert formats[str(month)].startswith("comext dat19 (comma-delimited")
    assert formats[str(products)] == "comext products18 (comma-delimited, UTF-8, gzip)"


def test_codes_stay_as_delivered_text_measures_are_numbers(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    ingest(con, landing / DAT19_MONTH.name, landing / PRODUCTS18_GZ.name)
    dat = rows(
        con,
        "select DECLARANT, DECLARANT_ISO, PARTNER, PARTNER_ISO, PRODUCT_NC, _row_number "
        "from raw.comext_monthly where _layout = 'dat19' order by _row_number",
    )
    assert dat[0] == ("038", "AT", "079", "KZ", "27090090", 1)
    assert {r[4] for r in dat} == {"27090090", "99272700", "7031019"}  # padding is dbt's job
    products = rows(
        con,
        "select REPORTER, PARTNER, VALUE_EUR, VALUE_NAC, DECLARANT from raw.comext_monthly "
        "where _layout = 'products18' and REPORTER in ('CZ', 'EL') order by REPORTER",
    )
    assert products == [
        ("CZ", "KZ", 52840000.0, 1303380000.0, None),
        ("EL", "KZ", 88410000.0, 88410000.0, None),
    ]


def test_bad_rows_are_quarantined_with_line_and_reason(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    ingest(con, landing / DAT19_MONTH.name, landing / PRODUCTS18_GZ.name)
    quarantined = rows(
        con,
        "select regexp_extract(source_file, '[^/]+$'), line_number, column_name, raw_value, "
        "reason from raw.quarantine order by source_file, line_number",
    )
    assert quarantined[:6] == [
        ("full202101.dat", 9, "VALUE_IN_EUROS", None, "missing value"),
        ("full202101.dat", 10, "FLOW", "3", "not one of ['1', '2']"),
        (
            "full202101.dat", 11, "PERIOD", "20211",
            "period must be YYYYMM (month 01-12) or YYYY52 (annual total)",
        ),
        ("full202101.dat", 12, "VALUE_IN_EUROS", "-5000", "negative value"),
        ("full202101.dat", 13, "VALUE_IN_EUROS", "12O00", "not a number"),
        (
            "full202101.dat", 14, "PRODUCT_NC", "270900",
            "CN code must be 8 digits (7 = a lost leading zero), a 2-digit chapter or TOTAL",
        ),
    ]  # fmt: skip
    ragged = quarantined[6]
    assert ragged[:2] == ("full202101.dat", 15)
    assert ragged[4].startswith("unreadable line: MISSING COLUMNS")
    assert quarantined[7] == (
        "full_v2_202401.dat.gz",
        8,
        "PARTNER",
        "KAZ",
        "partner must be a 2-letter code",
    )
    # the quarantined record keeps the delivered columns of its own layout only
    record = rows(con, "select raw_record from raw.quarantine where line_number = 12")[0][0]
    assert '"VALUE_IN_EUROS":"-5000"' in record and 'VALUE_EUR"' not in record
    # data row numbers skip the quarantined lines
    assert [r[0] for r in rows(
        con, "select _row_number from raw.comext_monthly where _layout = 'dat19' order by 1"
    )] == [1, 2, 3, 4, 5, 6, 7]  # fmt: skip


def test_confidential_and_seven_digit_codes_are_kept(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    ingest(con, landing / DAT19_MONTH.name)
    kept = rows(
        con,
        "select DECLARANT_ISO, PRODUCT_NC, FLOW from raw.comext_monthly "
        "where PRODUCT_NC in ('99272700', '7031019') order by 1",
    )
    assert kept == [("CZ", "99272700", "1"), ("DE", "7031019", "2")]


@pytest.mark.parametrize(
    ("header", "missing"),
    [
        (
            "DECLARANT,PARTNER,PRODUCT_NC,FLOW,PERIOD,VALUE_IN_EUROS",
            "Comext classic .dat (19 columns) lacks DECLARANT_ISO, PARTNER_ISO, STAT_REGIME, "
            "QUANTITY_IN_KG; Comext products layout (18 columns) lacks REPORTER, "
            "STAT_PROCEDURE, VALUE_EUR, QUANTITY_KG",
        ),
        ("typeCode,freqCode,refYear", "Comext classic .dat (19 columns) lacks DECLARANT_ISO"),
    ],
)
def test_a_file_of_neither_layout_is_refused_with_what_is_missing(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, header: str, missing: str
) -> None:
    path = tmp_path / "other.dat"
    path.write_text(header + "\n" + ",".join("1" for _ in header.split(",")) + "\n")
    [outcome] = ingest(con, path)
    assert outcome.status == "refused"
    assert outcome.message.startswith("not a Comext file: ")
    assert missing in outcome.message and "\n" not in outcome.message
    assert rows(con, "select count(*) from raw.comext_monthly")[0][0] == 0
    assert rows(con, "select status from raw.file_registry") == [("refused",)]


def test_unreadable_lines_of_a_refused_file_leave_no_quarantine_rows(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = tmp_path / "other.dat"
    path.write_text("a,b,c\n1,2,3\n1,2\n")
    [outcome] = ingest(con, path)
    assert outcome.status == "refused"
    assert rows(con, "select count(*) from raw.quarantine")[0][0] == 0


def test_plain_and_gzip_copies_of_one_file_load_the_same_rows(
    con: duckdb.DuckDBPyConnection, landing: Path, tmp_path: Path
) -> None:
    gz = tmp_path / "full202101.dat.gz"
    gz.write_bytes(gzip.compress(DAT19_MONTH.read_bytes()))
    plain = tmp_path / "full_v2_202401.dat"
    plain.write_bytes(gzip.decompress(PRODUCTS18_GZ.read_bytes()))
    outcomes = ingest(con, landing / DAT19_MONTH.name, gz, landing / PRODUCTS18_GZ.name, plain)
    assert [(o.status, o.rows_loaded) for o in outcomes] == [
        ("loaded", 7),
        ("loaded", 7),
        ("loaded", 6),
        ("loaded", 6),
    ]
    same = rows(
        con,
        "select count(*) from (select * exclude (_source_file, _file_sha256, _loaded_at) "
        "from raw.comext_monthly where _source_file = ? "
        "except select * exclude (_source_file, _file_sha256, _loaded_at) "
        "from raw.comext_monthly where _source_file = ?)",
        [str(gz), str(landing / DAT19_MONTH.name)],
    )
    assert same == [(0,)]


def test_same_bytes_twice_is_a_no_op(con: duckdb.DuckDBPyConnection, landing: Path) -> None:
    ingest(con, landing / PRODUCTS18_GZ.name)
    [again] = ingest(con, landing / PRODUCTS18_GZ.name)
    assert again.status == "unchanged"
    assert rows(con, "select count(*) from raw.comext_monthly")[0][0] == 6


def test_spec_finds_plain_and_gzipped_files(landing: Path) -> None:
    from dagster_project.ingest.landing import scan

    found = [p.name for p in scan(landing.parent, comext.SPEC.name, comext.SPEC.patterns)]
    assert found == ["full202052.dat", "full202101.dat", "full_v2_202401.dat.gz"]
