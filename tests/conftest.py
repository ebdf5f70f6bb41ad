"""Shared test helpers: quiet telemetry, paths to the embedded sample."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from dagster_project.ingest.landing import sha256_of
from dagster_project.ingest.spec import naive_utc_now
from dagster_project.sources import reference

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_COMTRADE = REPO_ROOT / "data" / "sample" / "comtrade"

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "true")


def load_reference_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The tables of ``data/reference`` (Comtrade's rules read its area codes), loaded by their
    specs' own load step: the registry a test looks at holds only the files it ingests."""
    for spec in (
        reference.COUNTRY_CODES, reference.HS2022_PRODUCTS, reference.HS_CORRELATIONS,
        reference.CEPII_GEODIST,
    ):  # fmt: skip
        assert spec.reference_file is not None
        path = spec.reference_file()
        spec.ensure_tables(con)
        spec.load_file(con, path, sha256=sha256_of(path), loaded_at=naive_utc_now())


def stamp_in_name_order(folder: Path) -> None:
    """Modification times a second apart in name order (of the files below ``folder``): of
    two identical copies the one first by name is then the one modified first, the copy
    ingest loads (a checkout or a copy leaves the times to chance)."""
    base = 1_700_000_000 * 10**9
    for i, path in enumerate(sorted(p for p in folder.rglob("*") if p.is_file())):
        os.utime(path, ns=(base + i * 10**9, base + i * 10**9))


def sample_file(freq: str, reporter: str) -> Path:
    matches = sorted(
        SAMPLE_COMTRADE.glob(f"comtrade_final_{freq}_{reporter}_2019-2024_released-*.csv")
    )
    assert matches, f"no sample file for {freq} {reporter}"
    return matches[0]


@pytest.fixture
def mini_comtrade(tmp_path: Path) -> Path:
    """A real-format Comtrade file: the header and the first 12 data rows of a sample file."""
    lines = sample_file("A", "KAZ").read_text(encoding="utf-8").splitlines(keepends=True)
    path = tmp_path / "comtrade" / "mini_released-2025-06-30.csv"
    path.parent.mkdir()
    path.write_text("".join(lines[:13]), encoding="utf-8")
    return path
