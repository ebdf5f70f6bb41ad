"""Comtrade format: header checks, typing-free raw load, registry idempotency, refusals."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
from pathlib import Path

import duckdb
import pytest

from dagster_project.ingest.loader import ingest_files
from dagster_project.sources import comtrade
from tests.conftest import load_reference_tables


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    load_reference_tables(c)
    comtrade.SPEC.ensure_tables(c)
    return c


def ingest(con: duckdb.DuckDBPyConnection, *paths: Path):
    return ingest_files(con, comtrade.SPEC, list(paths), log=lambda _msg: None)


def test_the_47_delivered_columns_and_metadata_are_in_the_raw_table(
    con: duckdb.DuckDBPyConnection,
) -> None:
    columns = [r[0] for r in con.execute("describe raw.comtrade_final").fetchall()]
    assert columns[:47] == list(comtrade.COLUMNS)
    assert len(comtrade.COLUMNS) == 47
    assert columns[47:] == [
        "_source_file",
        "_file_sha256",
        "_loaded_at",
        "_row_number",
        "_file_release_date",
    ]


def test_release_date_is_read_from_the_file_name() -> None:
    assert comtrade.release_date_from_name(Path("x_released-2025-09-30.csv")) == dt.date(
        2025, 9, 30
    )
    assert comtrade.release_date_from_name(Path("x_released-2025-13-40.csv")) is None
    assert comtrade.release_date_from_name(Path("x.csv")) is None


def test_rows_load_codes_as_delivered_numbers_typed_with_lineage(
    con: duckdb.DuckDBPyConnection, mini_comtrade: Path
) -> None:
    [outcome] = ingest(con, mini_comtrade)
    assert (outcome.status, outcome.rows_read, outcome.rows_loaded) == ("loaded", 12, 12)
    row = con.execute(
        "select cmdCode, partnerCode, primaryValue, _row_number, _file_release_date "
        "from raw.comtrade_final order by _row_number limit 1"
    ).fetchone()
    header, first = list(csv.reader(mini_comtrade.read_text().splitlines()))[:2]
    delivered = dict(zip(header, first, strict=True))
    assert row[0] == delivered["cmdCode"]  # an HS code is text, as delivered
    assert row[1] == int(delivered["partnerCode"])
    assert row[2] == float(delivered["primaryValue"])
    assert row[3] == 1 and row[4] == dt.date(2025, 6, 30)
    registry = con.execute(
        "select status, rows_read, rows_loaded, rows_quarantined from raw.file_registry"
    ).fetchall()
    assert registry == [("loaded", 12, 12, 0)]


def test_leading_zero_hs_codes_stay_strings(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    from tests.conftest import sample_file

    src = sample_file("A", "KAZ").read_text(encoding="utf-8").splitlines(keepends=True)
    onion_rows = [line for line in src if ",070310," in line]
    assert onion_rows, "the sample must contain HS 070310"
    path = tmp_path / "onions.csv"
    path.write_text(src[0] + "".join(onion_rows), encoding="utf-8")
    ingest(con, path)
    codes = {
        r[0] for r in con.execute("select distinct cmdCode from raw.comtrade_final").fetchall()
    }
    assert codes == {"070310"}


def test_same_bytes_twice_is_a_no_op(con: duckdb.DuckDBPyConnection, mini_comtrade: Path) -> None:
    ingest(con, mini_comtrade)
    [again] = ingest(con, mini_comtrade)
    assert again.status == "unchanged"
    assert con.execute("select count(*) from raw.comtrade_final").fetchone()[0] == 12


def test_same_bytes_under_another_name_is_a_duplicate(
    con: duckdb.DuckDBPyConnection, mini_comtrade: Path, tmp_path: Path
) -> None:
    twin = tmp_path / "copy_of_mini.csv"
    twin.write_bytes(mini_comtrade.read_bytes())
    outcomes = ingest(con, mini_comtrade, twin)
    assert [o.status for o in outcomes] == ["loaded", "duplicate"]
    assert con.execute("select count(*) from raw.comtrade_final").fetchone()[0] == 12


CURRENT_ROWS = """
    select count(*) from raw.comtrade_final as r
    join raw.file_registry as f on r._source_file = f.path and r._file_sha256 = f.sha256
    where f.status = 'loaded'
"""


def test_new_bytes_at_a_known_path_supersede_the_old_version(
    con: duckdb.DuckDBPyConnection, mini_comtrade: Path
) -> None:
    original = mini_comtrade.read_bytes()
    ingest(con, mini_comtrade)
    lines = mini_comtrade.read_text().splitlines(keepends=True)
    mini_comtrade.write_text("".join(lines[:6]))
    [outcome] = ingest(con, mini_comtrade)
    assert (outcome.status, outcome.rows_loaded) == ("loaded", 5)
    assert outcome.message.startswith("revision of ")
    assert con.execute(CURRENT_ROWS).fetchone()[0] == 5
    # the old version's rows stay queryable as history
    assert con.execute("select count(*) from raw.comtrade_final").fetchone()[0] == 17
    statuses = con.execute("select status from raw.file_registry order by first_seen").fetchall()
    assert statuses == [("superseded",), ("loaded",)]
    # going back to the first bytes makes that version current again, without reloading
    mini_comtrade.write_bytes(original)
    [back] = ingest(con, mini_comtrade)
    assert back.status == "loaded" and back.rows_loaded == 0
    assert con.execute(CURRENT_ROWS).fetchone()[0] == 12


def test_gzip_and_utf8_bom_are_read(
    con: duckdb.DuckDBPyConnection, mini_comtrade: Path, tmp_path: Path
) -> None:
    gz = tmp_path / "mini.csv.gz"
    gz.write_bytes(gzip.compress(mini_comtrade.read_bytes()))
    bom = tmp_path / "bom.csv"
    text = mini_comtrade.read_text().splitlines(keepends=True)
    bom.write_text("\ufeff" + "".join([text[0], *text[5:8]]), encoding="utf-8")
    outcomes = ingest(con, gz, bom)
    assert [(o.status, o.rows_loaded) for o in outcomes] == [("loaded", 12), ("loaded", 3)]
    assert (
        con.execute("select count(*) from raw.comtrade_final where typeCode = 'C'").fetchone()[0]
        == 15
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"typeCode,freqCode\nC,A\n", "missing required column"),
        ("typeCode,période\n".encode("latin-1"), "not UTF-8"),
    ],
)
def test_structurally_wrong_files_are_refused_with_a_reason(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    [outcome] = ingest(con, path)
    assert outcome.status == "refused"
    assert reason in outcome.message
    row = con.execute("select status, message from raw.file_registry").fetchone()
    assert row[0] == "refused" and reason in row[1]
    assert con.execute("select count(*) from raw.comtrade_final").fetchone()[0] == 0


def test_a_refused_file_does_not_stop_the_good_ones(
    con: duckdb.DuckDBPyConnection, mini_comtrade: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "a_bad.csv"
    bad.write_text("hello\n")
    outcomes = ingest(con, bad, mini_comtrade)
    assert [o.status for o in outcomes] == ["refused", "loaded"]
    assert con.execute("select count(*) from raw.comtrade_final").fetchone()[0] == 12


def test_unreadable_and_untypable_rows_are_quarantined_with_line_and_reason(
    con: duckdb.DuckDBPyConnection, mini_comtrade: Path
) -> None:
    lines = mini_comtrade.read_text().splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    cells = next(csv.reader([lines[3]]))
    negative = cells.copy()
    negative[header.index("primaryValue")] = "-5"
    unknown = cells.copy()
    unknown[header.index("partnerCode")] = "999999"
    text = [
        *lines[:3],  # lines 1-3: header + 2 good rows
        "C,A,2019,too,few,columns\n",  # line 4: ragged
        to_csv(negative),  # line 5: negative value
        *lines[4:6],  # lines 6-7: good
        to_csv(unknown),  # line 8: unknown area code
    ]
    mini_comtrade.write_text("".join(text))
    [outcome] = ingest(con, mini_comtrade)
    assert (outcome.status, outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined) == (
        "loaded",
        7,
        4,
        3,
    )
    quarantined = con.execute(
        "select line_number, column_name, raw_value, reason from raw.quarantine order by line_number"
    ).fetchall()
    assert quarantined[0][0] == 4 and quarantined[0][3].startswith(
        "unreadable line: MISSING COLUMNS"
    )
    assert quarantined[1] == (5, "primaryValue", "-5", "negative value")
    assert quarantined[2] == (8, "partnerCode", "999999", "unknown Comtrade area code")
    rows = con.execute("select _row_number from raw.comtrade_final order by 1").fetchall()
    assert [r[0] for r in rows] == [1, 2, 5, 6]  # data row = file line - 1, around the gaps


def to_csv(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()


def test_semicolon_crlf_and_utf16_files_load(
    con: duckdb.DuckDBPyConnection, mini_comtrade: Path, tmp_path: Path
) -> None:
    rows = list(csv.reader(io.StringIO(mini_comtrade.read_text())))
    semi = tmp_path / "semi.csv"
    with semi.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, delimiter=";", lineterminator="\r\n").writerows(rows[:4])
    utf16 = tmp_path / "utf16.csv"
    utf16.write_text(to_csv(rows[0]) + to_csv(rows[5]) + to_csv(rows[6]), encoding="utf-16")
    outcomes = ingest(con, semi, utf16)
    assert [(o.status, o.rows_loaded) for o in outcomes] == [("loaded", 3), ("loaded", 2)]
    formats = dict(con.execute("select path, detected_format from raw.file_registry").fetchall())
    assert "semicolon-delimited" in formats[str(semi)] and "UTF-16" in formats[str(utf16)]
    assert con.execute("select count(distinct cmdCode) from raw.comtrade_final").fetchone()[0] >= 1
