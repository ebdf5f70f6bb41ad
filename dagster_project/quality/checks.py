"""GX suites from ``expectations/`` as Dagster asset checks (blocking when severity is error)."""

from pathlib import Path

import dagster as dg

from dagster_project.quality.runner import SuiteOutcome, run_suite
from dagster_project.quality.suites import Suite, load_suite, load_suites
from dagster_project.resources import Warehouse
from dagster_project.settings import EXPECTATIONS_DIR


def _md_table(rows: list[dict]) -> str:
    if not rows:
        return "_none_"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def check_metadata(outcome: SuiteOutcome) -> dict[str, dg.MetadataValue | str | int | float]:
    """What a person reading the check needs: counts, failures, offenders, waivers."""
    suite = outcome.suite
    today = outcome.evaluated_on
    waivers = [
        {
            "id": w.id,
            "pair": f"{w.exporter_iso3}->{w.importer_iso3}",
            "hs6": w.hs6,
            "expires": w.expires.isoformat(),
            "state": "active" if w.is_active(today) else "EXPIRED",
            "breach_rows_covered": outcome.waiver_hits.get(w.id, 0),
            "reason": w.reason,
        }
        for w in suite.waivers
    ]
    return {
        "summary": outcome.one_line(),
        "suite_file": dg.MetadataValue.path(str(suite.path)),
        "rows_evaluated": outcome.row_count,
        "expectations_evaluated": len(outcome.outcomes),
        "expectations_failed": len(outcome.failed),
        "breach_rows": outcome.breaches,
        "waived_breach_rows": outcome.waived_breaches,
        "unwaived_breach_rows": outcome.breaches - outcome.waived_breaches,
        "expectations": dg.MetadataValue.md(_md_table([o.as_dict() for o in outcome.outcomes])),
        "worst_breaches": dg.MetadataValue.md(_md_table(list(outcome.top_breaches))),
        "waivers": dg.MetadataValue.md(_md_table(waivers)),
    }


def _build_check(suite: Suite) -> dg.AssetChecksDefinition:
    blocking = suite.severity == "error"

    @dg.asset_check(
        asset=dg.AssetKey([suite.schema, suite.table]),
        name=f"gx_{suite.name}",
        blocking=blocking,
        description=(
            f"Great Expectations suite expectations/{suite.path.name} "
            f"({'blocking' if blocking else 'warning'}): {suite.description}"
        ),
    )
    def _check(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> dg.AssetCheckResult:
        current = load_suite(suite.path)  # re-read: edits take effect on the next run
        outcome = run_suite(current, Path(warehouse.duckdb_path))
        (context.log.info if outcome.success else context.log.error)(outcome.one_line())
        return dg.AssetCheckResult(
            passed=outcome.success,
            severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
            metadata=check_metadata(outcome),
        )

    return _check


def build_gx_checks(folder: Path = EXPECTATIONS_DIR) -> list[dg.AssetChecksDefinition]:
    return [_build_check(s) for s in load_suites(folder)]
