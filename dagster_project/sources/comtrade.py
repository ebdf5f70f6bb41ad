"""UN Comtrade *final data*: how its files look and how they become ``raw.comtrade_final`` rows.

Files are the CSV the Comtrade API / ``comtradeapicall`` deliver (47 columns, header row).
Every column is stored as delivered (VARCHAR: codes keep their leading zeros, nothing is
rounded); typing happens in dbt staging. A release date in the file name
(``..._released-2025-09-30.csv``) orders revisions: for the same key the later release wins.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from dagster_project.ingest.registry import FileRefusedError

SOURCE = "comtrade"
RAW_TABLE = "raw.comtrade_final"

# The 47 columns of Comtrade final data, in delivery order.
COLUMNS: tuple[str, ...] = (
    "typeCode", "freqCode", "refPeriodId", "refYear", "refMonth", "period",
    "reporterCode", "reporterISO", "reporterDesc", "flowCode", "flowDesc",
    "partnerCode", "partnerISO", "partnerDesc", "partner2Code", "partner2ISO", "partner2Desc",
    "classificationCode", "classificationSearchCode", "isOriginalClassification",
    "cmdCode", "cmdDesc", "aggrLevel", "isLeaf", "customsCode", "customsDesc",
    "mosCode", "motCode", "motDesc", "qtyUnitCode", "qtyUnitAbbr", "qty", "isQtyEstimated",
    "altQtyUnitCode", "altQtyUnitAbbr", "altQty", "isAltQtyEstimated",
    "netWgt", "isNetWgtEstimated", "grossWgt", "isGrossWgtEstimated",
    "cifvalue", "fobvalue", "primaryValue", "legacyEstimationFlag", "isReported", "isAggregate",
)  # fmt: skip

# Without these a row cannot be placed in a mirror pair; a file lacking one is refused.
REQUIRED_COLUMNS: frozenset[str] = frozenset(
    {
        "freqCode", "refYear", "refMonth", "period", "reporterCode", "flowCode",
        "partnerCode", "partner2Code", "cmdCode", "aggrLevel", "customsCode", "motCode",
        "primaryValue",
    }
)  # fmt: skip

FILE_PATTERNS: tuple[str, ...] = ("*.csv", "*.csv.gz")

METADATA_COLUMNS: dict[str, str] = {
    "_source_file": "VARCHAR NOT NULL",
    "_file_sha256": "VARCHAR NOT NULL",
    "_file_release_date": "DATE",
    "_loaded_at": "TIMESTAMP NOT NULL",
    "_row_number": "BIGINT NOT NULL",
}

_RELEASE_RE = re.compile(r"released-(\d{4}-\d{2}-\d{2})")


def create_table_sql() -> str:
    """DDL of ``raw.comtrade_final``: delivered columns as VARCHAR plus load metadata."""
    cols = [f'"{c}" VARCHAR' for c in COLUMNS]
    cols += [f"{name} {type_}" for name, type_ in METADATA_COLUMNS.items()]
    return f"CREATE TABLE IF NOT EXISTS {RAW_TABLE} (\n  " + ",\n  ".join(cols) + "\n)"


def release_date_from_name(path: Path) -> dt.date | None:
    """The ``released-YYYY-MM-DD`` stamp in a file name, if any (invalid dates are ignored)."""
    match = _RELEASE_RE.search(path.name)
    if not match:
        return None
    try:
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None


def check_header(header: list[str]) -> tuple[list[str], list[str]]:
    """Return (missing required columns, unknown extra columns) for a file's header."""
    present = set(header)
    missing = sorted(REQUIRED_COLUMNS - present)
    extra = [c for c in header if c not in COLUMNS]
    return missing, extra


def _read_header(path: Path) -> list[str]:
    import csv
    import gzip

    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:  # type: ignore[operator]
            header = next(csv.reader(fh), None)
    except UnicodeDecodeError as exc:
        raise FileRefusedError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except (OSError, EOFError) as exc:
        raise FileRefusedError(f"unreadable: {exc}") from exc
    if not header:
        raise FileRefusedError("empty file: no header row")
    return [h.strip() for h in header]


def load_file(con, path: Path, *, sha256: str, loaded_at: dt.datetime) -> tuple[int, int, str]:
    """Append ``path``'s rows to ``raw.comtrade_final``; return (rows read, rows loaded, format).

    Runs inside the caller's transaction. Raises :class:`FileRefusedError` for a file whose
    structure is wrong, before anything is written.
    """
    header = _read_header(path)
    missing, extra = check_header(header)
    if missing:
        raise FileRefusedError(
            "not Comtrade final data: missing required column(s) " + ", ".join(missing)
        )
    present = set(header)
    select_cols = ", ".join(f'"{c}"' if c in present else f'NULL AS "{c}"' for c in COLUMNS)
    # Column names come from the fixed COLUMNS allow-list; the path and metadata are bound.
    sql = f"""
        INSERT INTO {RAW_TABLE}
        SELECT {select_cols},
               ? AS _source_file, ? AS _file_sha256, ?::DATE AS _file_release_date,
               ? AS _loaded_at, row_number() OVER () AS _row_number
        FROM read_csv(?, all_varchar = true, header = true, delim = ',', quote = '"',
                      escape = '"', strict_mode = true, null_padding = false)
    """
    try:
        con.execute(sql, [str(path), sha256, release_date_from_name(path), loaded_at, str(path)])
    except Exception as exc:  # duckdb raises several types for malformed CSV
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FileRefusedError(f"malformed CSV: {first_line}") from exc
    loaded = con.execute(
        f"SELECT count(*) FROM {RAW_TABLE} WHERE _source_file = ?", [str(path)]
    ).fetchone()[0]
    fmt = "comtrade_final_csv" + ("+gzip" if path.name.endswith(".gz") else "")
    if extra:
        fmt += f" (+{len(extra)} unknown column(s) ignored: {', '.join(extra[:5])})"
    return loaded, loaded, fmt
