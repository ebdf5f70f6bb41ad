"""Eurostat Comext monthly bulk files: how they look and how they become ``raw.comext_monthly``.

Two delivered layouts load into the one raw table (``_layout`` says which):

``dat19``       the classic 19-column ``.dat`` (DECLARANT, DECLARANT_ISO, PARTNER, PARTNER_ISO,
                ..., STAT_REGIME, SUPP_UNIT, PERIOD, VALUE_IN_EUROS, QUANTITY_IN_KG,
                SUP_QUANTITY); DECLARANT/PARTNER are Eurostat numeric codes, the ``_ISO``
                columns 2-letter codes.
``products18``  the newer 18-column "products" layout (REPORTER, PARTNER, ..., STAT_PROCEDURE,
                SUPPL_UNIT, PERIOD, VALUE_EUR, VALUE_NAC, QUANTITY_KG, QUANTITY_SUPPL_UNIT);
                REPORTER/PARTNER are 2-letter codes.

The layout is detected from the header; a file matching neither is refused. Codes are stored
as delivered (VARCHAR: leading zeros kept), the regime and the measures typed (COLUMN_TYPES);
the common vocabulary (EL -> GR, UK -> GB, flow 1/2 -> M/X, CN codes zero-padded) is dbt
staging's. Note that
``PARTNER`` holds a numeric Eurostat code in ``dat19`` rows and a 2-letter code in
``products18`` rows. Plain and gzipped files are read (7z archives must be unpacked first).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.ingest import quarantine as q
from dagster_project.ingest.registry import FileRefusedError
from dagster_project.ingest.spec import SourceSpec, Staged
from dagster_project.ingest.text_files import stage_delimited

SOURCE = "comext"
RAW_TABLE = "raw.comext_monthly"

DAT19_COLUMNS: tuple[str, ...] = (
    "DECLARANT", "DECLARANT_ISO", "PARTNER", "PARTNER_ISO", "TRADE_TYPE", "PRODUCT_NC",
    "PRODUCT_SITC", "PRODUCT_CPA2002", "PRODUCT_CPA2008", "PRODUCT_CPA2_1", "PRODUCT_BEC",
    "PRODUCT_SECTION", "FLOW", "STAT_REGIME", "SUPP_UNIT", "PERIOD", "VALUE_IN_EUROS",
    "QUANTITY_IN_KG", "SUP_QUANTITY",
)  # fmt: skip

PRODUCTS18_COLUMNS: tuple[str, ...] = (
    "REPORTER", "PARTNER", "TRADE_TYPE", "PRODUCT_NC", "PRODUCT_SITC", "PRODUCT_CPA21",
    "PRODUCT_CPA22", "PRODUCT_BEC", "PRODUCT_BEC5", "PRODUCT_SECTION", "FLOW",
    "STAT_PROCEDURE", "SUPPL_UNIT", "PERIOD", "VALUE_EUR", "VALUE_NAC", "QUANTITY_KG",
    "QUANTITY_SUPPL_UNIT",
)  # fmt: skip

# The raw table: the classic columns, then the products-layout columns the classic lacks.
COLUMNS: tuple[str, ...] = (
    *DAT19_COLUMNS,
    *(c for c in PRODUCTS18_COLUMNS if c not in DAT19_COLUMNS),
)

EXTRA_COLUMNS: dict[str, str] = {"_layout": "VARCHAR NOT NULL"}

FILE_PATTERNS: tuple[str, ...] = ("*.dat", "*.dat.gz", "*.csv", "*.csv.gz")

# CN codes as Comext delivers them: CN8 (confidential trade under chapter 99 codes, e.g.
# 99272700), 7 digits = a CN8 that lost its leading zero in a spreadsheet (padded in
# staging), and the aggregates TOTAL and 2-digit chapters.
CN_CODE_PATTERN = "[0-9]{7,8}|[0-9]{2}|TOTAL"
PERIOD_PATTERN = "[0-9]{4}(0[1-9]|1[0-2]|52)"


@dataclass(frozen=True)
class Layout:
    """One delivered layout: its columns, the columns it cannot do without, its row rules."""

    name: str
    description: str
    columns: tuple[str, ...]
    required_columns: tuple[str, ...]
    reporter: str
    partner: str
    stat_regime: str
    value: str
    quantities: tuple[str, ...]
    numbers: tuple[str, ...]

    def rules(self) -> tuple[q.Rule, ...]:
        """Row rules, in the order they are tried; the first that fails names the reason."""
        return (
            *(
                q.required(c)
                for c in (self.reporter, self.partner, "PRODUCT_NC", "FLOW", "PERIOD", self.value)
            ),
            q.one_of("FLOW", ("1", "2")),
            q.Rule(
                "PERIOD",
                f"not regexp_full_match(trim({{c}}), '{PERIOD_PATTERN}')",
                "period must be YYYYMM (month 01-12) or YYYY52 (annual total)",
            ),
            q.Rule(
                self.reporter,
                "not regexp_full_match(upper(trim({c})), '[A-Z]{2}')",
                "reporter must be a 2-letter code",
            ),
            q.Rule(
                self.partner,
                "not regexp_full_match(upper(trim({c})), '[A-Z]{2}')",
                "partner must be a 2-letter code",
            ),
            q.Rule(
                "PRODUCT_NC",
                f"not regexp_full_match(trim({{c}}), '{CN_CODE_PATTERN}')",
                "CN code must be 8 digits (7 = a lost leading zero), a 2-digit chapter or TOTAL",
            ),
            q.integer(self.stat_regime),
            *(q.number(c) for c in self.numbers),
            *(q.non_negative(c) for c in (self.value, *self.quantities)),
        )


DAT19 = Layout(
    name="dat19",
    description="Comext classic .dat (19 columns)",
    columns=DAT19_COLUMNS,
    required_columns=(
        "DECLARANT_ISO",
        "PARTNER_ISO",
        "PRODUCT_NC",
        "FLOW",
        "STAT_REGIME",
        "PERIOD",
        "VALUE_IN_EUROS",
        "QUANTITY_IN_KG",
    ),
    reporter="DECLARANT_ISO",
    partner="PARTNER_ISO",
    stat_regime="STAT_REGIME",
    value="VALUE_IN_EUROS",
    quantities=("QUANTITY_IN_KG", "SUP_QUANTITY"),
    numbers=("VALUE_IN_EUROS", "QUANTITY_IN_KG", "SUP_QUANTITY"),
)

PRODUCTS18 = Layout(
    name="products18",
    description="Comext products layout (18 columns)",
    columns=PRODUCTS18_COLUMNS,
    required_columns=(
        "REPORTER",
        "PARTNER",
        "PRODUCT_NC",
        "FLOW",
        "STAT_PROCEDURE",
        "PERIOD",
        "VALUE_EUR",
        "QUANTITY_KG",
    ),
    reporter="REPORTER",
    partner="PARTNER",
    stat_regime="STAT_PROCEDURE",
    value="VALUE_EUR",
    quantities=("QUANTITY_KG", "QUANTITY_SUPPL_UNIT"),
    numbers=("VALUE_EUR", "VALUE_NAC", "QUANTITY_KG", "QUANTITY_SUPPL_UNIT"),
)

LAYOUTS: tuple[Layout, ...] = (DAT19, PRODUCTS18)

# Raw types (SourceSpec.column_types), from the layouts: the statistical regime an integer,
# the measures numbers; codes, flows and periods stay as delivered.
COLUMN_TYPES: dict[str, str] = {
    **{lay.stat_regime: "INTEGER" for lay in LAYOUTS},
    **{c: "DOUBLE" for lay in LAYOUTS for c in lay.numbers},
}


def detect_layout(header: tuple[str, ...] | list[str]) -> Layout:
    """The layout whose required columns are all in ``header``; refuses anything else."""
    present = set(header)
    missing = {lay.name: [c for c in lay.required_columns if c not in present] for lay in LAYOUTS}
    matching = [lay for lay in LAYOUTS if not missing[lay.name]]
    if len(matching) == 1:
        return matching[0]
    if matching:
        raise FileRefusedError(
            "ambiguous Comext header: it has the required columns of both layouts"
        )
    detail = "; ".join(f"{lay.description} lacks {', '.join(missing[lay.name])}" for lay in LAYOUTS)
    raise FileRefusedError(f"not a Comext file: {detail}")


def stage(
    con: duckdb.DuckDBPyConnection, path: Path, *, sha256: str, loaded_at: dt.datetime
) -> Staged:
    """Read one Comext file into ``_incoming``; its header decides the layout and so the
    columns stored and the rules applied (a file matching no layout is refused)."""
    staged = stage_delimited(
        con, path, known_columns=COLUMNS, required_columns=(),
        source=SOURCE, sha256=sha256, loaded_at=loaded_at, what="a Comext file",
    )  # fmt: skip
    layout = detect_layout(staged.header)
    return Staged(
        detected_format=f"comext {layout.name} ({staged.describe()})",
        rows_rejected=staged.rows_rejected,
        columns=layout.columns,
        rules=layout.rules(),
        extra_values={"_layout": layout.name},
    )


SPEC = SourceSpec(
    name=SOURCE,
    raw_table=RAW_TABLE,
    description="Eurostat Comext monthly bulk files (classic .dat 19 columns or products 18)",
    patterns=FILE_PATTERNS,
    columns=COLUMNS,
    stage=stage,
    column_types=COLUMN_TYPES,
    extra_columns=EXTRA_COLUMNS,
)
