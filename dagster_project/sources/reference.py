"""Reference tables versioned with the code: the CSVs of ``data/reference`` (see its
PROVENANCE.md), each a source of the one template (:class:`SourceSpec`) like a landing source.

Each table is one id, ``ref_<what>``: its raw table ``raw.ref_<what>``, its ``source`` in
``raw.file_registry`` and ``raw.quarantine``, its table of dbt source ``reference``
(``staging/reference/``). Its file is registered with its version (sha256, size) and read
again only when that changes; a line that breaks a rule is quarantined with its reason. The
raw table holds the file's current version only (git keeps its history). Columns are stored
as delivered (VARCHAR: codes keep their leading zeros); staging types and renames them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import duckdb

from dagster_project.ingest import quarantine as q
from dagster_project.ingest.spec import SourceSpec, Staged, Stager
from dagster_project.ingest.text_files import stage_delimited
from dagster_project.settings import REFERENCE_DIR


def reference_file(relative_path: str) -> Callable[[], Path]:
    """The file below ``data/reference``, found when it is read (a clear error if it is not)."""

    def locate() -> Path:
        path = REFERENCE_DIR / relative_path
        if not path.is_file():
            raise FileNotFoundError(
                f"reference file {path} is missing: restore it from git "
                "(data/reference/PROVENANCE.md says where it comes from)"
            )
        return path

    return locate


def csv_stage(source: str, columns: tuple[str, ...], what: str) -> Stager:
    """The ``stage`` of a reference CSV: the tolerant delimited reader, every column required
    (a file without one is refused, the previous version stays)."""

    def stage(
        con: duckdb.DuckDBPyConnection, path: Path, *, sha256: str, loaded_at: dt.datetime
    ) -> Staged:
        staged = stage_delimited(
            con, path, known_columns=columns, required_columns=columns, source=source,
            sha256=sha256, loaded_at=loaded_at, what=what,
        )  # fmt: skip
        return Staged(f"{what} ({staged.describe()})", rows_rejected=staged.rows_rejected)

    return stage


def csv_reference(
    name: str,
    relative_path: str,
    description: str,
    columns: tuple[str, ...],
    rules: tuple[q.Rule, ...],
    *,
    what: str,
) -> SourceSpec:
    """A reference table read from ``data/reference/<relative_path>`` into ``raw.<name>``."""
    return SourceSpec(
        name=name,
        raw_table=f"raw.{name}",
        description=f"{description} (data/reference/{relative_path})",
        patterns=(),
        columns=columns,
        stage=csv_stage(name, columns, what),
        rules=rules,
        reference_file=reference_file(relative_path),
    )


_ZERO_OR_ONE = ("0", "1")

COUNTRY_CODES = csv_reference(
    "ref_comtrade_country_codes",
    "geo/comtrade_country_codes.csv",
    "UN Comtrade reporter/partner area codes with ISO-3/ISO-2 and area type",
    ("comtrade_code", "iso3", "iso2", "country_name", "area_type", "is_reporter", "is_partner"),
    (
        q.required("comtrade_code"),
        q.integer("comtrade_code"),
        q.required("country_name"),
        q.one_of("area_type", ("world", "country", "area_nes", "group", "historic", "other")),
        q.one_of("is_reporter", ("true", "false")),
        q.one_of("is_partner", ("true", "false")),
    ),
    what="the Comtrade area code table",
)

HS2022_PRODUCTS = csv_reference(
    "ref_hs2022_products",
    "hs/comtrade_hs2022_products.csv",
    "UN Comtrade HS 2022 (H6) nomenclature: chapters, headings and HS6 leaves",
    ("id", "text", "parent", "isLeaf", "aggrlevel", "standardUnitAbbr"),
    (
        q.required("id"),
        q.required("text"),
        q.one_of("isLeaf", _ZERO_OR_ONE),
        q.integer("aggrlevel"),
    ),
    what="the Comtrade HS 2022 product list",
)

HS_CORRELATIONS = csv_reference(
    "ref_hs_correlations",
    "hs/hs_consolidated_correlations.csv",
    "UNSD HS version correlations, every revision pair 1992 -> 2022 (codes lost their "
    "leading zeros in this file)",
    ("code.after", "code.before", "Relationship", "adjustment"),
    # older SITC-era rows (non-numeric codes) are data, left out in staging, not bad lines
    tuple(q.required(c) for c in ("code.after", "code.before", "adjustment")),
    what="the UNSD HS correlation table",
)

CEPII_COLUMNS: tuple[str, ...] = (
    "exporter", "importer", "contig", "comlang_off", "comlang_ethno", "colony", "comcol",
    "curcol", "col45", "smctry", "dist", "distcap", "distw", "distwces",
)  # fmt: skip

CEPII_GEODIST = csv_reference(
    "ref_cepii_geodist",
    "geo/cepii_geodist_pairs.csv",
    "CEPII GeoDist bilateral distances and contiguity by ISO-3 pair (gravity variables)",
    CEPII_COLUMNS,
    (
        q.required("exporter"),
        q.required("importer"),
        *(q.one_of(c, _ZERO_OR_ONE) for c in ("contig", "comlang_off")),
        *(q.number(c) for c in ("dist", "distw")),
        *(q.non_negative(c) for c in ("dist", "distw")),
    ),
    what="the CEPII GeoDist pair table",
)
