"""Reference tables copied into the repo (``data/reference``, see its PROVENANCE.md).

They are loaded into ``raw.ref_*`` as delivered (every column VARCHAR, codes keep their
leading zeros); dbt staging types and renames them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb


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
