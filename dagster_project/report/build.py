"""Build the report: read the report tables (dbt models ``report.rpt_*``) read-only
(:mod:`.tables`), render one self-contained HTML file (:mod:`.page`), write it atomically."""

from __future__ import annotations

from pathlib import Path

from dagster_project.report.page import fmt_pct, fmt_usd, named, render
from dagster_project.report.tables import SCHEMA, ReportData, ReportSourceError, collect
from dagster_project.settings import EXPECTATIONS_DIR

__all__ = [
    "SCHEMA",
    "ReportData",
    "ReportSourceError",
    "build_report",
    "collect",
    "fmt_pct",
    "fmt_usd",
    "named",
    "render",
]


def build_report(
    duckdb_path: Path,
    out_path: Path,
    *,
    results_path: Path | None = None,
    expectations_dir: Path = EXPECTATIONS_DIR,
) -> ReportData:
    """Write the report atomically to ``out_path``; return the numbers it shows."""
    data = collect(duckdb_path, results_path=results_path, expectations_dir=expectations_dir)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(".tmp")
    tmp.write_text(render(data), encoding="utf-8")
    tmp.replace(out_path)
    return data
