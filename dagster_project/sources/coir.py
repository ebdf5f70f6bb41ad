"""DG Energy Crude Oil Imports Register (COIR) as ``raw.coir_crude_imports`` rows.

Two layouts of the same register land in ``coir/``:

``xlsx_sheet``  the original workbooks (``Crude_Oil_Imports_Reporting_Country_2019.xlsx``):
    one sheet per month (``EU COI - Jan`` ... ``EU COI - Dec``, period cell ``Jan - 2019``)
    plus a cumulative sheet (``Detailed Crude Oil Imports - cu...``, period cell
    ``1-12/2019``); title rows (with ``_x000D_`` artefacts) above a header row (row 5 on the
    annual sheet, row 7 and repeated before every reporter block on the monthly ones); the
    reporting country only on the first row of its block (merged cells: forward-filled here);
    a ``Sum:`` row per reporter, a ``World`` row, and a footnote cell at the bottom.
    Confidential values are the footnote marker ``(3)`` ("Données confidentielles /
    confidential data") in the value and price columns.
``flat_csv``    ``coir_2013_2019_monthly.csv``: one row per reporting country x origin x crude
    type x month (``date`` = month end); no subtotal rows; confidential values are empty.

Every record row is kept as delivered (VARCHAR), with its layout, sheet, period
(``_period_type`` monthly / annual / year_to_date and ``_period_start`` / ``_period_end``) and
kind (``_row_kind`` detail / reporter_total / world_total) so staging never double counts:
the annual sheet repeats the monthly sheets, the flat CSV repeats the workbooks' months, and
``Sum:`` / ``World`` rows repeat the detail rows. Title, header, blank and footnote rows are
layout, not records (they are not counted as rows read). ``_row_number`` is the Excel row
(quarantine line numbers point at it; the sheet is in the quarantined record) or the CSV data
row. Volumes stay in thousand barrels, values in thousand USD.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.ingest import quarantine as q
from dagster_project.ingest.registry import FileRefusedError
from dagster_project.ingest.spec import SourceSpec, Staged
from dagster_project.ingest.sql import quote_ident
from dagster_project.ingest.text_files import INCOMING, stage_delimited

SOURCE = "coir"
RAW_TABLE = "raw.coir_crude_imports"

REPORTER = "Reporting Country"
ORIGIN = "Country of Origin"
CRUDE = "Type of crude oil"
VOLUME = "Volume (1000 bbl)"
VALUE = "Total Value ($ 1000)"
PRICE = "CIF price (2) ($/bbl)"
# Delivered as "% of Total Imports" (a fraction of the EU total, not a percentage); the
# shared identifier allow-list refuses a name starting with "%", so it is stored under this one.
SHARE = "Pct of Total Imports"
SHARE_DELIVERED = "% of Total Imports"
DATE = "date"

# Delivered columns (the workbook header; the flat CSV adds ``date``).
COLUMNS: tuple[str, ...] = (REPORTER, ORIGIN, CRUDE, VOLUME, VALUE, PRICE, SHARE, DATE)
DELIVERED_NAMES: dict[str, str] = {c: c for c in COLUMNS} | {SHARE: SHARE_DELIVERED}
REQUIRED_XLSX: tuple[str, ...] = (REPORTER, ORIGIN, CRUDE, VOLUME, VALUE)
REQUIRED_CSV: tuple[str, ...] = (*REQUIRED_XLSX, DATE)

# Derived while reading, stored next to the delivered columns (also in quarantined records).
LAYOUT_COLUMNS: dict[str, str] = {
    "_layout": "VARCHAR",  # xlsx_sheet | flat_csv
    "_sheet_name": "VARCHAR",
    "_sheet_period": "VARCHAR",  # the period cell as delivered ('Jan - 2019', '1-12/2019')
    "_period_type": "VARCHAR",  # monthly | annual | year_to_date
    "_period_start": "DATE",  # xlsx: first day of the sheet's period (CSV: from `date`)
    "_period_end": "DATE",
    "_row_kind": "VARCHAR",  # detail | reporter_total | world_total
    "_reporter_filled": "BOOLEAN",  # reporting country forward-filled from its block
}
STAGED_COLUMNS: tuple[str, ...] = (*COLUMNS, *LAYOUT_COLUMNS)

FILE_PATTERNS: tuple[str, ...] = ("*.xlsx", "*.xls", "*.csv", "*.csv.gz")

# Footnote (3) of the register: "Données confidentielles / confidential data".
CONFIDENTIAL_MARKERS: tuple[str, ...] = ("(3)",)
HEADER_SEARCH_ROWS = 20
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_PERIOD = re.compile(r"^([A-Za-z]{3})[a-z]*\.?\s*-\s*(\d{4})$")
_CUMULATIVE_PERIOD = re.compile(r"^(\d{1,2})\s*-\s*(\d{1,2})\s*/\s*(\d{4})$")
_SPACES = re.compile(r"\s+")


def _measure_rules(column: str) -> tuple[q.Rule, ...]:
    markers = ", ".join(f"'{m}'" for m in CONFIDENTIAL_MARKERS)
    return (
        q.Rule(
            column,
            f"{{c}} is not null and trim({{c}}) not in ({markers}) "
            "and try_cast({c} as double) is null",
            "not a number (nor the confidential marker (3))",
        ),
        q.non_negative(column),
    )


ROW_RULES: tuple[q.Rule, ...] = (
    q.required(REPORTER),
    q.Rule(ORIGIN, "_row_kind = 'detail' and ({c} is null or trim({c}) = '')", "missing value"),
    q.Rule(CRUDE, "_row_kind = 'detail' and ({c} is null or trim({c}) = '')", "missing value"),
    q.required(VOLUME),
    *_measure_rules(VOLUME),
    *_measure_rules(VALUE),
    *_measure_rules(PRICE),
    *_measure_rules(SHARE),
    q.Rule(
        DATE,
        "_layout = 'flat_csv' and try_cast({c} as date) is null",
        "not a date (YYYY-MM-DD)",
    ),
)


# Reading the workbooks -------------------------------------------------------------------------


def clean_text(value: object) -> str | None:
    """Cell text without ``_x000D_`` artefacts, line breaks and repeated spaces."""
    if value is None:
        return None
    text = str(value).replace("_x000D_", " ").replace("\u00a0", " ")
    text = _SPACES.sub(" ", text).strip()
    return text or None


def _cell_text(value: object) -> str | None:
    """A cell as delivered text: numbers keep Python's shortest round-trip repr."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (int, dt.date, dt.datetime)):
        return str(value)
    return clean_text(value)


@dataclass(frozen=True)
class SheetPeriod:
    text: str
    period_type: str
    start: dt.date
    end: dt.date


def parse_period(text: str) -> SheetPeriod | None:
    """``Jan - 2019`` (a month) or ``1-12/2019`` (months 1 to 12: annual; 1-6: year to date)."""
    cleaned = clean_text(text) or ""
    match = _MONTH_PERIOD.match(cleaned)
    if match and match.group(1).lower() in MONTHS:
        month = MONTHS.index(match.group(1).lower()) + 1
        year = int(match.group(2))
        return SheetPeriod(cleaned, "monthly", dt.date(year, month, 1), _month_end(year, month))
    match = _CUMULATIVE_PERIOD.match(cleaned)
    if match:
        first, last, year = int(match.group(1)), int(match.group(2)), int(match.group(3))
        if not 1 <= first <= last <= 12:
            return None
        if first == last:
            kind = "monthly"
        elif first == 1 and last == 12:
            kind = "annual"
        else:
            kind = "year_to_date"
        return SheetPeriod(cleaned, kind, dt.date(year, first, 1), _month_end(year, last))
    return None


def _month_end(year: int, month: int) -> dt.date:
    first_next = dt.date(year + month // 12, month % 12 + 1, 1)
    return first_next - dt.timedelta(days=1)


def _header_map(row: tuple[object, ...]) -> dict[str, int] | None:
    """Column index of each known header name, if ``row`` is a COIR header row."""
    texts = [clean_text(v) for v in row]
    if REPORTER not in texts:
        return None
    return {
        name: texts.index(delivered)
        for name, delivered in DELIVERED_NAMES.items()
        if delivered in texts
    }


def _sheet_records(ws, path: Path) -> Iterator[tuple]:
    """Staged rows of one sheet: (*COLUMNS, *LAYOUT_COLUMNS, _row_number)."""
    period: SheetPeriod | None = None
    header: dict[str, int] | None = None
    reporter: str | None = None
    for row_number, raw in enumerate(ws.iter_rows(values_only=True), start=1):
        row = tuple(raw)
        if header is None:
            for value in row:
                if period is None and isinstance(value, str):
                    period = parse_period(value)
            header = _header_map(row)
            if header is None:
                if row_number >= HEADER_SEARCH_ROWS:
                    raise FileRefusedError(_no_header(ws.title))
                continue
            missing = [c for c in REQUIRED_XLSX if c not in header]
            if missing:
                raise FileRefusedError(
                    f"not a COIR workbook: sheet {ws.title!r} header row {row_number} lacks "
                    f"{', '.join(missing)}"
                )
            if period is None:
                raise FileRefusedError(
                    f"sheet {ws.title!r}: no period cell ('Jan - 2019' or '1-12/2019') "
                    "above the header row"
                )
            continue
        if _header_map(row) is not None:  # header repeated before the next reporter block
            reporter = None
            continue
        cells = {name: _cell_text(row[i]) if i < len(row) else None for name, i in header.items()}
        if all(cells.get(c) is None for c in COLUMNS if c != REPORTER):
            continue  # blank, title or footnote row: layout, not a record
        filled = False
        if cells.get(REPORTER):
            reporter = cells[REPORTER]
        elif reporter is not None:
            cells[REPORTER] = reporter
            filled = True
        if (cells.get(CRUDE) or "").rstrip(":").lower() == "sum":
            kind = "reporter_total"
        elif cells.get(ORIGIN) is None and (cells.get(REPORTER) or "").lower() == "world":
            kind = "world_total"
        else:
            kind = "detail"
        yield (
            *(cells.get(c) for c in COLUMNS),
            "xlsx_sheet", ws.title, period.text, period.period_type, period.start, period.end,
            kind, filled, row_number,
        )  # fmt: skip
        if kind != "detail":
            reporter = None  # the block ends with its Sum: row
    if header is None:
        raise FileRefusedError(_no_header(ws.title))


def _no_header(sheet: str) -> str:
    return (
        f"not a COIR workbook: sheet {sheet!r} has no header row "
        f"({', '.join(REQUIRED_XLSX)}) in its first {HEADER_SEARCH_ROWS} rows"
    )


def read_workbook(path: Path) -> list[tuple]:
    """Every record row of every sheet; raises FileRefusedError for an unusable workbook."""
    import openpyxl  # imported here: only this source needs it

    if not zipfile.is_zipfile(path):
        hint = " (legacy .xls: re-save as .xlsx)" if path.suffix.lower() == ".xls" else ""
        raise FileRefusedError(f"not an .xlsx workbook (no ZIP container){hint}")
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for broken packages
        raise FileRefusedError(f"unreadable workbook ({type(exc).__name__}: {exc})") from exc
    try:
        records: list[tuple] = []
        for ws in wb.worksheets:
            records.extend(_sheet_records(ws, path))
        return records
    finally:
        wb.close()


def _stage_workbook(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    records = read_workbook(path)
    typed = {**{c: "VARCHAR" for c in COLUMNS}, **LAYOUT_COLUMNS, "_row_number": "BIGINT"}
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {INCOMING} ("
        + ", ".join(f"{quote_ident(c)} {t}" for c, t in typed.items())
        + ")"
    )
    if records:
        placeholders = ", ".join("?" for _ in typed)
        con.executemany(f"INSERT INTO {INCOMING} VALUES ({placeholders})", records)
    return len(records)


def _stage_flat_csv(
    con: duckdb.DuckDBPyConnection, path: Path, *, sha256: str, loaded_at: dt.datetime
):
    staged = stage_delimited(
        con, path, known_columns=[c for c in COLUMNS if c != SHARE],
        required_columns=REQUIRED_CSV,
        source=SOURCE, sha256=sha256, loaded_at=loaded_at,
        what="the flattened COIR register (coir_2013_2019_monthly.csv)",
    )  # fmt: skip
    if SHARE_DELIVERED in staged.header:
        position = staged.header.index(SHARE_DELIVERED)  # an int: nothing from the file
        con.execute(f"ALTER TABLE {INCOMING} RENAME COLUMN _c{position} TO {quote_ident(SHARE)}")
    else:
        con.execute(f"ALTER TABLE {INCOMING} ADD COLUMN {quote_ident(SHARE)} VARCHAR")
    defaults = {
        "_layout": "'flat_csv'",
        "_sheet_name": "NULL",
        "_sheet_period": "NULL",
        "_period_type": "'monthly'",
        "_period_start": "NULL",
        "_period_end": "NULL",
        "_row_kind": "'detail'",
        "_reporter_filled": "false",
    }
    for column, type_ in LAYOUT_COLUMNS.items():
        con.execute(
            f"ALTER TABLE {INCOMING} ADD COLUMN {column} {type_} DEFAULT {defaults[column]}"
        )
    # period from `date` (month end); try_cast: a bad date is quarantined by ROW_RULES
    con.execute(
        f"UPDATE {INCOMING} SET "
        f"_period_start = date_trunc('month', try_cast({quote_ident(DATE)} AS DATE)), "
        f"_period_end = try_cast({quote_ident(DATE)} AS DATE)"
    )
    return staged


def stage(
    con: duckdb.DuckDBPyConnection, path: Path, *, sha256: str, loaded_at: dt.datetime
) -> Staged:
    """Read one workbook (every record row of every sheet) or flat CSV into ``_incoming``,
    with the layout columns that say which rows repeat which."""
    if path.name.lower().endswith((".xlsx", ".xls")):
        if _stage_workbook(con, path) == 0:
            raise FileRefusedError("COIR workbook without any data row")
        # _row_number is the Excel row already: quarantine line numbers point at it
        return Staged("coir workbook (xlsx_sheet)", line_offset=0, columns=STAGED_COLUMNS)
    staged = _stage_flat_csv(con, path, sha256=sha256, loaded_at=loaded_at)
    return Staged(
        f"coir flattened register (flat_csv, {staged.describe()})",
        rows_rejected=staged.rows_rejected,
        columns=STAGED_COLUMNS,
    )


SPEC = SourceSpec(
    name=SOURCE,
    raw_table=RAW_TABLE,
    description="DG Energy Crude Oil Imports Register (xlsx workbooks and flattened CSV)",
    patterns=FILE_PATTERNS,
    columns=COLUMNS,
    stage=stage,
    rules=ROW_RULES,
    extra_columns=LAYOUT_COLUMNS,
)
