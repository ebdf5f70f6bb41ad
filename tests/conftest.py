"""Shared test helpers: quiet telemetry, paths to the embedded sample."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_COMTRADE = REPO_ROOT / "data" / "sample" / "comtrade"

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "true")


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
