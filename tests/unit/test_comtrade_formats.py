"""Comtrade bulk files (gzip, tab-separated) and saved JSON API responses: same rules, same table."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from dagster_project.ingest.landing import scan
from dagster_project.ingest.loader import ingest_files
from dagster_project.sources import comtrade
from tests.conftest import load_reference_tables

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "comtrade_bulk"
BULK = "COMTRADE-FINAL-CA3982023H6[2025-05-14].gz"
RESPONSE = "comtrade_response_A_KAZ_2023.json"


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    load_reference_tables(c)
    comtrade.SPEC.ensure_tables(c)
    return c


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "comtrade"
    folder.mkdir()
    for name in (BULK, RESPONSE):
        shutil.copy(FIXTURES / name, folder / name)
    return folder


def ingest(con: duckdb.DuckDBPyConnection, *paths: Path):
    return ingest_files(con, comtrade.SPEC, list(paths), log=lambda _msg: None)


def test_the_landing_scan_finds_bulk_and_json_files(landing: Path) -> None:
    (landing / "COMTRADE-FINAL-CM0402023H6[1900-01-01].txt").write_text("x")
    (landing / "notes.txt").write_text("x")
    names = [p.name for p in scan(landing.parent, "comtrade", comtrade.FILE_PATTERNS)]
    assert names == sorted([BULK, RESPONSE, "COMTRADE-FINAL-CM0402023H6[1900-01-01].txt"])
    assert comtrade.file_kind(Path(BULK)) == "bulk"
    assert comtrade.file_kind(Path("x.json.gz")) == "json"
    assert comtrade.file_kind(Path("x.csv")) == "csv"


def test_release_date_comes_from_a_bulk_file_name() -> None:
    assert comtrade.release_date_from_name(Path(BULK)) == dt.date(2025, 5, 14)
    # comtradeapicall writes [1900-01-01] when the publication date is unknown
    assert (
        comtrade.release_date_from_name(Path("COMTRADE-FINAL-CA0402023H6[1900-01-01].gz")) is None
    )


def test_a_bulk_file_loads_like_the_csv(con: duckdb.DuckDBPyConnection, landing: Path) -> None:
    [outcome] = ingest(con, landing / BULK)
    with gzip.open(FIXTURES / BULK, "rt", encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    assert (outcome.status, outcome.rows_loaded, outcome.rows_quarantined) == (
        "loaded", len(rows) - 1, 0,
    )  # fmt: skip
    assert "bulk" in outcome_format(con) and "tab" in outcome_format(con)
    got = con.execute(
        'select "cmdCode", "primaryValue", "isReported", _file_release_date, _row_number '
        "from raw.comtrade_final order by _row_number limit 1"
    ).fetchone()
    header = rows[0]
    delivered = [rows[1][header.index(c)] for c in ("cmdCode", "primaryValue", "isReported")]
    assert got[:3] == (delivered[0], float(delivered[1]), delivered[2].lower() == "true")
    assert got[3:] == (dt.date(2025, 5, 14), 1)


def outcome_format(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute(
        "select detected_format from raw.file_registry order by last_seen desc limit 1"
    ).fetchone()[0]


def test_a_bulk_file_without_aggr_level_gets_it_from_the_hs_code(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    with gzip.open(FIXTURES / BULK, "rt", encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    drop = rows[0].index("aggrLevel")
    path = tmp_path / "COMTRADE-FINAL-CA3982023H6[2025-05-15].gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as fh:
        csv.writer(fh, delimiter="\t", lineterminator="\n").writerows(
            [r[:drop] + r[drop + 1 :] for r in rows]
        )
    [outcome] = ingest(con, path)
    assert outcome.status == "loaded" and outcome.rows_loaded == len(rows) - 1
    levels = con.execute('select distinct "aggrLevel" from raw.comtrade_final').fetchall()
    assert levels == [(6,)]


def test_a_saved_json_response_loads_through_the_same_rules(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    response = json.loads((landing / RESPONSE).read_text(encoding="utf-8"))
    [outcome] = ingest(con, landing / RESPONSE)
    assert (outcome.status, outcome.rows_loaded) == ("loaded", response["elementCount"])
    assert "JSON" in outcome_format(con)
    first = response["data"][0]
    got = con.execute(
        'select "cmdCode", "reporterCode", "partner2Code", "isReported", "altQty", '
        '"primaryValue", _row_number from raw.comtrade_final order by _row_number limit 1'
    ).fetchone()
    assert got[:3] == (first["cmdCode"], first["reporterCode"], first["partner2Code"])
    assert got[3] is True and got[4] is None  # JSON true a BOOLEAN; null stays NULL
    assert got[5] == first["primaryValue"] and got[6] == 1
    types = dict(
        con.execute("select column_name, column_type from (describe raw.comtrade_final)").fetchall()
    )
    assert {c: types[c] for c in comtrade.COLUMN_TYPES} == comtrade.COLUMN_TYPES
    assert {types[c] for c in comtrade.COLUMNS if c not in comtrade.COLUMN_TYPES} == {"VARCHAR"}


def test_bad_json_records_are_quarantined_with_their_position(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    response = json.loads((FIXTURES / RESPONSE).read_text(encoding="utf-8"))
    response["data"][1]["primaryValue"] = -5
    response["data"][2]["cmdCode"] = "2709X"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(response), encoding="utf-8")
    [outcome] = ingest(con, path)
    assert (outcome.rows_read, outcome.rows_quarantined) == (len(response["data"]), 2)
    quarantined = con.execute(
        "select line_number, column_name, reason from raw.quarantine order by line_number"
    ).fetchall()
    assert quarantined == [
        (2, "primaryValue", "negative value"),
        (3, "cmdCode", "HS code must be 2, 4 or 6 digits (5 = a lost leading zero)"),
    ]


def test_gzipped_json_is_read(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "response.json.gz"
    path.write_bytes(gzip.compress((FIXTURES / RESPONSE).read_bytes()))
    [outcome] = ingest(con, path)
    assert outcome.status == "loaded" and outcome.rows_loaded == 5


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "no `data` array"),  # the not_comtrade.json fixture (GeoJSON)
        (
            '{"statusCode": 400, "error": "Invalid period", "data": null}',
            "statusCode 400: Invalid period",
        ),
        ('[{"cmdCode": "270900"}]', "expected one JSON object"),
        ('{"data": [1, 2]}', "are not objects"),
        ('{"data": [{"cmdCode": "270900", "foo": 1}]}', "lack field(s) freqCode"),
        ('{"data": [', "unreadable JSON"),
    ],
)
def test_json_that_is_not_a_comtrade_response_is_refused_in_one_line(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, content: str | None, reason: str
) -> None:
    path = tmp_path / "response.json"
    if content is None:
        shutil.copy(FIXTURES / "not_comtrade.json", path)
    else:
        path.write_text(content, encoding="utf-8")
    [outcome] = ingest(con, path)
    assert outcome.status == "refused"
    assert reason in outcome.message and "\n" not in outcome.message
    assert con.execute("select count(*) from raw.comtrade_final").fetchone()[0] == 0


def test_an_empty_data_array_loads_nothing(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text('{"elementCount": 0, "data": [], "statusCode": 200}', encoding="utf-8")
    [outcome] = ingest(con, path)
    assert (outcome.status, outcome.rows_read) == ("loaded", 0)
