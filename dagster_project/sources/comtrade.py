"""UN Comtrade *final data*: how its files look and how they become ``raw.comtrade_final`` rows.

Three shapes of the same 47 columns are ingested from ``landing/comtrade/``:

* CSV as the Comtrade API / ``comtradeapicall`` / ``mirror fetch comtrade`` deliver it
  (header row; ``*.csv``, ``*.csv.gz``);
* Comtrade **bulk** final files as ``comtradeapicall.bulkDownloadFinalFile`` saves them:
  gzip-compressed tab-separated text named
  ``COMTRADE-FINAL-{type}{freq}{reporter:03}{period}{classification}[{publicationDate}].gz``
  (``.txt`` when decompressed; ``COMBINED-COMTRADE-FINAL-...`` when combined). The
  publication date in brackets is the release date. A bulk file without ``aggrLevel``
  gets it from the length of ``cmdCode``;
* saved **JSON API responses** (``*.json``, ``*.json.gz``): the ``data`` array of a
  final-data response ``{"elementCount": .., "data": [{..47 fields..}], ...}``. Values are
  kept as JSON text (``true``/``false``, numbers as written); anything that is not such a
  response is refused with a one-line reason.

All three land in the same temp table ``_incoming`` (VARCHAR columns + ``_row_number``) and
go through the same ROW_RULES (the source template, :class:`SourceSpec`).

Codes, ISO codes and descriptions are stored as delivered (VARCHAR: leading zeros kept);
years, months, numeric codes, measures and flags are stored typed (COLUMN_TYPES, the types
staging reads them as). Rows that cannot be typed are quarantined with the reason. A release
date in the file name (``..._released-2025-09-30.csv`` or a bulk file's ``[2025-09-30]``)
orders revisions: for the same key the later release wins.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Hashable
from pathlib import Path

import duckdb

from dagster_project.ingest import quarantine as q
from dagster_project.ingest.registry import FileRefusedError
from dagster_project.ingest.spec import BatchResult, LoadResult, SourceSpec, Staged
from dagster_project.ingest.sql import quote_ident
from dagster_project.ingest.text_files import (
    INCOMING,
    inspect_delimited,
    refuse_missing_columns,
    stage_delimited,
    stage_delimited_batch,
)

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

# Bulk files may lack aggrLevel (it is derived from cmdCode then).
BULK_REQUIRED_COLUMNS: tuple[str, ...] = tuple(c for c in REQUIRED_COLUMNS if c != "aggrLevel")

BULK_PATTERNS: tuple[str, ...] = (
    "COMTRADE-FINAL-*.gz",
    "COMTRADE-FINAL-*.txt",
    "COMBINED-COMTRADE-FINAL-*.gz",
    "COMBINED-COMTRADE-FINAL-*.txt",
)
JSON_PATTERNS: tuple[str, ...] = ("*.json", "*.json.gz")
FILE_PATTERNS: tuple[str, ...] = ("*.csv", "*.csv.gz", *BULK_PATTERNS, *JSON_PATTERNS)

EXTRA_COLUMNS: dict[str, str] = {"_file_release_date": "DATE"}

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
# Raw types (SourceSpec.column_types): what dbt staging reads, without casting.
COLUMN_TYPES: dict[str, str] = {
    **{c: "INTEGER" for c in (*_INTEGERS, "qtyUnitCode")},
    **{c: "DOUBLE" for c in ("qty", "netWgt", "grossWgt", "cifvalue", "fobvalue", "primaryValue")},
    **{c: "BOOLEAN" for c in ("isReported", "isAggregate")},
}
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
# comtradeapicall's bulk names: COMTRADE-FINAL-CA3982023H6[2024-07-02].gz
_BULK_NAME_RE = re.compile(r"^(?:COMBINED-)?COMTRADE-FINAL-.*\.(?:gz|txt)$")
_BULK_RELEASE_RE = re.compile(r"\[(\d{4}-\d{2}-\d{2})\]")
_NO_PUBLICATION_DATE = dt.date(1900, 1, 1)  # comtradeapicall's stand-in for "none"


def release_date_from_name(path: Path) -> dt.date | None:
    """The ``released-YYYY-MM-DD`` stamp (or a bulk file's ``[YYYY-MM-DD]``) in a file name.

    Invalid dates and comtradeapicall's ``[1900-01-01]`` placeholder give None.
    """
    match = _RELEASE_RE.search(path.name) or _BULK_RELEASE_RE.search(path.name)
    if not match:
        return None
    try:
        date = dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None
    return None if date == _NO_PUBLICATION_DATE else date


def file_kind(path: Path) -> str:
    """'bulk', 'json' or 'csv': which reader a landing file needs (by its name)."""
    name = path.name
    if _BULK_NAME_RE.match(name):
        return "bulk"
    if name.lower().endswith((".json", ".json.gz")):
        return "json"
    return "csv"


def stage_json_response(
    con: duckdb.DuckDBPyConnection, path: Path, *, max_bytes: int | None = None
) -> int:
    """Read a saved Comtrade final-data JSON response into temp table ``_incoming``.

    Every known column becomes VARCHAR (JSON text as delivered; absent keys NULL) plus
    ``_row_number`` (1 = the first element of ``data``). Raises FileRefusedError (one line)
    for anything that is not a final-data response. Returns the number of rows staged.
    """
    limit = max_bytes or max(path.stat().st_size * 2, 16 * 1024 * 1024)
    try:
        docs = con.execute(
            "SELECT json_type(json) AS t, json_type(json, '$.data') AS dt, "
            "json_array_length(json, '$.data') AS n, "
            "json_extract_string(json, '$.error') AS err, "
            "json_extract_string(json, '$.statusCode') AS status "
            "FROM read_json_objects(?, format = 'unstructured', "
            f"maximum_object_size = {int(limit)})",
            [str(path)],
        ).fetchall()
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FileRefusedError(f"not a Comtrade JSON response: unreadable JSON ({first})") from exc
    if len(docs) != 1 or docs[0][0] != "OBJECT":
        raise FileRefusedError(
            "not a Comtrade JSON response: expected one JSON object with a `data` array"
        )
    _type, data_type, _n, error, status = docs[0]
    if data_type != "ARRAY":
        detail = f" (statusCode {status}: {error})" if error else ""
        raise FileRefusedError(f"not a Comtrade JSON response: no `data` array{detail}")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _json_records AS
        SELECT unnest(json_extract(json, '$.data[*]')) AS rec,
               unnest(range(1, json_array_length(json, '$.data')::BIGINT + 1)) AS _row_number
        FROM read_json_objects(?, format = 'unstructured', maximum_object_size = {int(limit)})
        """,
        [str(path)],
    )
    not_objects = con.execute(
        "SELECT count(*) FROM _json_records WHERE json_type(rec) <> 'OBJECT'"
    ).fetchone()[0]
    if not_objects:
        raise FileRefusedError(
            f"not a Comtrade JSON response: {not_objects} element(s) of `data` are not objects"
        )
    keys = {
        r[0]
        for r in con.execute("SELECT DISTINCT unnest(json_keys(rec)) FROM _json_records").fetchall()
    }
    rows = con.execute("SELECT count(*) FROM _json_records").fetchone()[0]
    missing = [c for c in REQUIRED_COLUMNS if c not in keys]
    if rows and missing:
        raise FileRefusedError(
            f"not Comtrade final data: `data` records lack field(s) {', '.join(missing)}"
        )
    # Column names come from the COLUMNS allow-list, never from the file.
    select = ", ".join(
        f"json_extract_string(rec, {_json_path(c)}) AS {quote_ident(c)}" for c in COLUMNS
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {INCOMING} AS "
        f"SELECT {select}, _row_number FROM _json_records ORDER BY _row_number"
    )
    con.execute("DROP TABLE _json_records")
    return rows


def _json_path(column: str) -> str:
    """SQL literal of the JSON path of an allow-listed column name."""
    return "'" + json.dumps("$." + column)[1:-1].replace("'", "''") + "'"


def _derive_missing_aggr_level(con: duckdb.DuckDBPyConnection, header: tuple[str, ...]) -> None:
    """Bulk files without ``aggrLevel``: the HS level is the length of ``cmdCode``."""
    if "aggrLevel" in header:
        return
    con.execute(
        f"UPDATE {INCOMING} SET \"aggrLevel\" = CASE WHEN \"cmdCode\" = 'TOTAL' THEN '0' "
        "WHEN regexp_full_match(\"cmdCode\", '[0-9]{5}') THEN '6' "
        'ELSE cast(length("cmdCode") AS VARCHAR) END WHERE "cmdCode" IS NOT NULL'
    )


def stage(
    con: duckdb.DuckDBPyConnection, path: Path, *, sha256: str, loaded_at: dt.datetime
) -> Staged:
    """Read one CSV, bulk or JSON file into ``_incoming``; the release date in its name
    goes to ``_file_release_date``. Refuses a file whose structure is wrong."""
    kind = file_kind(path)
    if kind == "json":
        stage_json_response(con, path)
        # a JSON record has no header line: report its position in `data`
        return Staged(
            "comtrade final data (JSON API response)",
            line_offset=0,
            extra_values=_extra_values(path),
        )
    staged = stage_delimited(
        con, path, known_columns=COLUMNS,
        required_columns=_required_columns(kind),
        source=SOURCE, sha256=sha256, loaded_at=loaded_at, what="Comtrade final data",
    )  # fmt: skip
    if kind == "bulk":
        _derive_missing_aggr_level(con, staged.header)
    return Staged(
        _detected_format(kind, staged.describe()),
        rows_rejected=staged.rows_rejected,
        extra_values=_extra_values(path),
    )


def batch_key(path: Path) -> Hashable | None:
    """Delimited UTF-8 files with the same kind and header can be read in one scan."""
    kind = file_kind(path)
    if kind == "json":
        return None
    try:
        inspected = inspect_delimited(path)
        refuse_missing_columns(inspected, _required_columns(kind), "Comtrade final data")
    except FileRefusedError:
        return None  # loaded alone, where it is refused with its reason
    if inspected.encoding == "utf-16":
        return None
    return (kind, inspected)


def load_batch(
    con: duckdb.DuckDBPyConnection, files: dict[Path, str], *, loaded_at: dt.datetime
) -> BatchResult:
    """Append the rows of many files with one :func:`batch_key` in one scan (inside the
    caller's transaction). Files with unparseable lines are left to be loaded alone."""
    first = next(iter(files))
    kind, inspected = file_kind(first), inspect_delimited(first)
    load_alone = stage_delimited_batch(
        con, list(files), inspected, known_columns=COLUMNS,
        computed={"_problem": q.problem_sql(SPEC.row_rules())},
    )  # fmt: skip
    if kind == "bulk":  # after the rules, as they let a NULL aggrLevel pass
        _derive_missing_aggr_level(con, inspected.header)
    batch = {path: sha for path, sha in files.items() if path not in load_alone}
    counts = q.split_and_insert_files(
        con, staged=INCOMING, raw_table=RAW_TABLE, columns=COLUMNS, rules=SPEC.row_rules(),
        source=SOURCE, loaded_at=loaded_at, line_offset=1, checked=True,
        files={path: q.FileValues(sha, _extra_values(path)) for path, sha in batch.items()},
    )  # fmt: skip
    detected = _detected_format(kind, inspected.describe())
    loaded = {}
    for path in batch:
        read, quarantined = counts.get(path, (0, 0))
        loaded[path] = LoadResult(read, read - quarantined, quarantined, detected)
    return BatchResult(loaded, tuple(sorted(load_alone)))


def _required_columns(kind: str) -> tuple[str, ...]:
    return BULK_REQUIRED_COLUMNS if kind == "bulk" else REQUIRED_COLUMNS


def _detected_format(kind: str, layout: str) -> str:
    prefix = "comtrade bulk final file" if kind == "bulk" else "comtrade final data"
    return f"{prefix} ({layout})"


def _extra_values(path: Path) -> dict[str, object]:
    return {"_file_release_date": release_date_from_name(path)}


SPEC = SourceSpec(
    name=SOURCE,
    raw_table=RAW_TABLE,
    description="UN Comtrade final data (API CSV, bulk .gz, saved JSON responses; 47 columns)",
    patterns=FILE_PATTERNS,
    columns=COLUMNS,
    stage=stage,
    rules=ROW_RULES,
    column_types=COLUMN_TYPES,
    extra_columns=EXTRA_COLUMNS,
    requires=(COUNTRY_CODES_TABLE,),
    batch_key=batch_key,
    load_batch=load_batch,
)
