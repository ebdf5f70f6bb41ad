"""The report as a Dagster asset (group publish): $MIRROR_HOME/report/index.html."""

from pathlib import Path

import dagster as dg

from dagster_project.progress import StepProgress
from dagster_project.quality.checks import RESULTS_FILE
from dagster_project.report.build import SCHEMA, build_report, fmt_pct
from dagster_project.resources import Warehouse

REPORT_KEY = dg.AssetKey(["published", "report"])


def report_model_keys() -> list[dg.AssetKey]:
    """Every dbt model of the report layer (from the manifest): the report waits for all of
    them, and so for their tests, so a new rpt_ model is never read before it is built."""
    from dagster_project.publish.docs import load_manifest

    nodes = load_manifest()["nodes"].values()
    names = sorted(
        n["name"] for n in nodes if n["resource_type"] == "model" and n.get("schema") == SCHEMA
    )
    return [dg.AssetKey([SCHEMA, name]) for name in names]


# fct_mirror_trade as well: its blocking GX checks gate what depends on it directly, so the
# report is only written once they passed (the rpt_ models are built before the checks run)
REPORT_DEPS = [dg.AssetKey(["marts", "fct_mirror_trade"]), *report_model_keys()]


@dg.asset(
    key=REPORT_KEY,
    group_name="publish",
    deps=REPORT_DEPS,
    kinds={"html", "plotly"},
    description=(
        "One self-contained HTML report ($MIRROR_HOME/report/index.html, opens offline): "
        "headline numbers, biggest unexplained gaps, explanations by corridor, check results, "
        "charts. Rendered from the report tables (dbt models report.rpt_*), read-only, with "
        "the status classes and unexpired waivers of expectations/. Runs after the blocking "
        "checks on the marts passed."
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
