"""The report as a Dagster asset (group publish): $MIRROR_HOME/report/index.html."""

from pathlib import Path

import dagster as dg

from dagster_project.progress import StepProgress
from dagster_project.quality.checks import RESULTS_FILE
from dagster_project.report.build import build_report, fmt_pct
from dagster_project.resources import Warehouse

REPORT_KEY = dg.AssetKey(["published", "report"])
REPORT_DEPS = [
    dg.AssetKey(["marts", "fct_mirror_trade"]),
    dg.AssetKey(["marts", "dim_country"]),
    dg.AssetKey(["marts", "dim_product"]),
]


@dg.asset(
    key=REPORT_KEY,
    group_name="publish",
    deps=REPORT_DEPS,
    kinds={"html", "plotly"},
    description=(
        "One self-contained HTML report ($MIRROR_HOME/report/index.html, opens offline): "
        "headline numbers, biggest unexplained gaps, explanations by corridor, check results, "
        "charts. Runs after the blocking checks on the marts passed; reads the warehouse "
        "read-only."
    ),
)
def mirror_report(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    duckdb_path = Path(warehouse.duckdb_path)
    out = warehouse.layout.report_path
    progress = StepProgress("report", 1, log=context.log)
    results = warehouse.layout.gx_docs_dir / RESULTS_FILE
    data = build_report(duckdb_path, out, results_path=results)
    annual = next((r for r in data.by_freq if r["freq"] == "A"), {})
    progress.advance(1)
    progress.finish(f"written to {out}")
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.path(str(out)),
            "size_bytes": out.stat().st_size,
            "flows": data.headline["flows"],
            "unexplained_breaches": data.headline["unexplained_breaches"],
            "annual_value_in_tolerance": fmt_pct(
                100 * (annual.get("share_in_tolerance") or 0), False
            ),
        }
    )
