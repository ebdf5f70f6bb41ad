"""Eurostat ``nrg_ti_coifpm`` (EU imports of crude oil by country/field of production, monthly)
in Eurostat's SDMX-CSV layout, as ``raw.eurostat_nrg_ti_coifpm`` rows.

Columns as Eurostat serves them: ``DATAFLOW, LAST UPDATE, freq, crudeoil, indic_nrg, geo,
TIME_PERIOD, OBS_VALUE, OBS_FLAG`` (one row per importer x crude grade x indicator x month).
``indic_nrg`` ``VOL_THS_BBL`` is thousand barrels, ``VAL_THS_USD`` thousand USD; ``OBS_VALUE``
is stored as DOUBLE, the rest as delivered (VARCHAR); dbt staging pivots them. ``OBS_FLAG``
``c`` = confidential: the value is withheld (empty) and the row is kept, never turned into a
zero. A value that is missing without the ``c`` flag, negative or not a number is
quarantined.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from dagster_project.ingest import quarantine as q
from dagster_project.ingest.spec import SourceSpec, Staged
from dagster_project.ingest.text_files import stage_delimited

SOURCE = "eurostat"
RAW_TABLE = "raw.eurostat_nrg_ti_coifpm"
DATASET = "NRG_TI_COIFPM"

COLUMNS: tuple[str, ...] = (
    "DATAFLOW", "LAST UPDATE", "freq", "crudeoil", "indic_nrg", "geo", "TIME_PERIOD",
    "OBS_VALUE", "OBS_FLAG",
)  # fmt: skip

REQUIRED_COLUMNS: tuple[str, ...] = (
    "DATAFLOW", "freq", "crudeoil", "indic_nrg", "geo", "TIME_PERIOD", "OBS_VALUE",
)  # fmt: skip

# The landing folder eurostat/ may hold other Eurostat datasets later: only files named after
# this dataset belong to this source.
FILE_PATTERNS: tuple[str, ...] = (
    "*nrg_ti_coifpm*.csv",
    "*nrg_ti_coifpm*.csv.gz",
    "*NRG_TI_COIFPM*.csv",
    "*NRG_TI_COIFPM*.csv.gz",
)

_CONFIDENTIAL = "coalesce(contains(lower(\"OBS_FLAG\"), 'c'), false)"

ROW_RULES: tuple[q.Rule, ...] = (
    *(q.required(c) for c in ("DATAFLOW", "freq", "crudeoil", "indic_nrg", "geo", "TIME_PERIOD")),
    q.Rule(
        "DATAFLOW",
        f"not starts_with(upper({{c}}), 'ESTAT:{DATASET}')",
        f"not Eurostat dataset {DATASET.lower()}",
    ),
    q.one_of("freq", ("M",)),
    q.Rule(
        "TIME_PERIOD",
        "not regexp_full_match({c}, '[0-9]{4}-(0[1-9]|1[0-2])')",
        "not a month (YYYY-MM)",
    ),
    q.Rule(
        "OBS_VALUE",
        f"({{c}} is null or trim({{c}}) = '') and not {_CONFIDENTIAL}",
        "missing value without the confidential flag c",
    ),
    q.number("OBS_VALUE"),
    q.non_negative("OBS_VALUE"),
)


def stage(
    con: duckdb.DuckDBPyConnection, path: Path, *, sha256: str, loaded_at: dt.datetime
) -> Staged:
    """Read one SDMX-CSV file into ``_incoming`` (unparseable lines to quarantine)."""
    staged = stage_delimited(
        con, path, known_columns=COLUMNS, required_columns=REQUIRED_COLUMNS,
        source=SOURCE, sha256=sha256, loaded_at=loaded_at,
        what="Eurostat SDMX-CSV (nrg_ti_coifpm)",
    )  # fmt: skip
    return Staged(
        detected_format=f"eurostat sdmx-csv nrg_ti_coifpm ({staged.describe()})",
        rows_rejected=staged.rows_rejected,
    )


SPEC = SourceSpec(
    name=SOURCE,
    raw_table=RAW_TABLE,
    description="Eurostat nrg_ti_coifpm crude oil imports by origin/grade (SDMX-CSV)",
    patterns=FILE_PATTERNS,
    columns=COLUMNS,
    stage=stage,
    rules=ROW_RULES,
    column_types={"OBS_VALUE": "DOUBLE"},  # what staging reads; the rest as delivered
)
