"""UN Comtrade *final data*: how its files look and how they become ``raw.comtrade_final`` rows.

Files are the CSV the Comtrade API / ``comtradeapicall`` deliver (47 columns, header row).
Every column is stored as delivered (VARCHAR: codes keep their leading zeros, nothing is
rounded); typing happens in dbt staging. Rows that cannot be typed are quarantined with the
reason. A release date in the file name (``..._released-2025-09-30.csv``) orders revisions:
for the same key the later release wins.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb

from dagster_project.ingest import quarantine as q
from dagster_project.ingest.spec import LoadResult, SourceSpec
from dagster_project.ingest.text_files import INCOMING, stage_delimited

SOURCE = "comtrade"
RAW_TABLE = "raw.comtrade_final"
COUNTRY_CODES_TABLE = "raw.ref_comtrade_country_codes"

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
REQUIRED_COLUMNS: tuple[str, ...] = (
    "freqCode", "refYear", "refMonth", "period", "reporterCode", "flowCode",
    "partnerCode", "partner2Code", "cmdCode", "aggrLevel", "customsCode", "motCode",
    "primaryValue",
)  # fmt: skip

FILE_PATTERNS: tuple[str, ...] = ("*.csv", "*.csv.gz")

METADATA_COLUMNS: dict[str, str] = {
    "_source_file": "VARCHAR NOT NULL",
    "_file_sha256": "VARCHAR NOT NULL",
    "_loaded_at": "TIMESTAMP NOT NULL",
    "_row_number": "BIGINT NOT NULL",
    "_file_release_date": "DATE",
}

_KNOWN_AREA = (
    "try_cast({c} as integer) not in "
    f"(select cast(comtrade_code as integer) from {COUNTRY_CODES_TABLE})"
)
_REQUIRED = (
    "freqCode",
    "period",
    "reporterCode",
    "flowCode",
    "partnerCode",
    "cmdCode",
    "primaryValue",
)
_INTEGERS = (
    "refYear",
    "refMonth",
    "reporterCode",
    "partnerCode",
    "partner2Code",
    "aggrLevel",
    "mosCode",
    "motCode",
)
_NUMBERS = ("qty", "altQty", "netWgt", "grossWgt", "cifvalue", "fobvalue", "primaryValue")
_NON_NEGATIVE = ("primaryValue", "cifvalue", "fobvalue", "netWgt", "qty")

# Row rules, in the order they are tried; the first that fails names the quarantine reason.
ROW_RULES: tuple[q.Rule, ...] = (
    *(q.required(c) for c in _REQUIRED),
    q.one_of("freqCode", ("A", "M")),
    *(q.integer(c) for c in _INTEGERS),
    q.Rule("flowCode", "not regexp_full_match({c}, '[A-Z]{1,4}')", "not a Comtrade flow code"),
    q.Rule(
        "cmdCode",
        "not regexp_full_match({c}, 'TOTAL|[0-9]{2}|[0-9]{4}|[0-9]{5}|[0-9]{6}')",
        "HS code must be 2, 4 or 6 digits (5 = a lost leading zero)",
    ),
    *(q.number(c) for c in _NUMBERS),
    *(q.non_negative(c) for c in _NON_NEGATIVE),
    q.Rule("reporterCode", _KNOWN_AREA, "unknown Comtrade area code"),
    q.Rule("partnerCode", _KNOWN_AREA, "unknown Comtrade area code"),
    q.Rule("partner2Code", _KNOWN_AREA, "unknown Comtrade area code"),
)  # fmt: skip

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


def load_file(
    con: duckdb.DuckDBPyConnection, path: Path, *, sha256: str, loaded_at: dt.datetime
) -> LoadResult:
    """Append ``path``'s rows to ``raw.comtrade_final`` (bad rows to ``raw.quarantine``).

    Runs inside the caller's transaction; raises FileRefusedError for a file whose structure
    is wrong, before anything is written.
    """
    has_reference = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'raw' and table_name = 'ref_comtrade_country_codes'"
    ).fetchone()[0]
    if not has_reference:
        raise RuntimeError(
            f"{COUNTRY_CODES_TABLE} is missing: load the reference tables before Comtrade files"
        )
    staged = stage_delimited(
        con, path, known_columns=COLUMNS, required_columns=REQUIRED_COLUMNS,
        source=SOURCE, sha256=sha256, loaded_at=loaded_at, what="Comtrade final data",
    )  # fmt: skip
    result = q.split_and_insert(
        con,
        staged=INCOMING,
        raw_table=RAW_TABLE,
        columns=COLUMNS,
        rules=ROW_RULES,
        source=SOURCE,
        path=path,
        sha256=sha256,
        loaded_at=loaded_at,
        detected_format=f"comtrade final data ({staged.describe()})",
        extra_values={"_file_release_date": release_date_from_name(path)},
    )
    return LoadResult(
        rows_read=result.rows_read + staged.rows_rejected,
        rows_loaded=result.rows_loaded,
        rows_quarantined=result.rows_quarantined + staged.rows_rejected,
        detected_format=result.detected_format,
    )


SPEC = SourceSpec(
    name=SOURCE,
    raw_table=RAW_TABLE,
    patterns=FILE_PATTERNS,
    create_sql=(create_table_sql(),),
    load_file=load_file,
    description="UN Comtrade final data (API CSV, 47 columns)",
)
