"""GX suites from ``expectations/`` as Dagster asset checks.

One Dagster check per suite and severity: ``gx_<suite>`` carries the expectations of the
suite's own severity, ``gx_<suite>__<other>`` the others. ``error`` checks are blocking (the
step fails, downstream assets such as publish do not run); ``warn`` checks are reported and
alerted. All suites run in ONE step and one GX session (one Data Docs build for the run).
"""

import json
from pathlib import Path
from typing import Any

import dagster as dg

from dagster_project.progress import StepProgress
from dagster_project.quality.runner import (
    SuiteOutcome,
    results_document,
    run_suites,
    uses_tolerance,
)
from dagster_project.quality.suites import Suite, load_suites
from dagster_project.resources import Warehouse
from dagster_project.settings import EXPECTATIONS_DIR

GX_CHECKS_OP = "gx_suites"
RESULTS_FILE = "results.json"


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _md_table(rows: list[dict]) -> str:
    if not rows:
        return "_none_"
    cols = list(dict.fromkeys(c for r in rows for c in r))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def check_metadata(outcome: SuiteOutcome) -> dict[str, dg.MetadataValue | str | int | float]:
    """What a person (and the alert sensors) need: counts, failures, offenders, waivers, docs."""
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
    rules = [
        {
            "id": r.id,
            "match": ", ".join(f"{k}={v}" for k, v in r.match.items()),
            "tolerance_pct": r.tolerance_pct if r.tolerance_pct is not None else "mart",
            "ceiling_pct": r.ceiling_pct or suite.tolerances.hard_ceiling_pct,
            "severity": r.severity,
            "reason": r.reason,
        }
        for r in suite.tolerances.ordered()
    ]
    offenders = [{"expectation": o.name, **row} for o in outcome.failed for row in o.offenders[:5]]
    meta: dict[str, Any] = {
        "summary": outcome.one_line(),
        "severity": outcome.severity or suite.severity,
        "suite_file": dg.MetadataValue.path(str(suite.path)),
        "rows_evaluated": outcome.row_count,
        "expectations_evaluated": len(outcome.outcomes),
        "expectations_failed": len(outcome.failed),
        "failed_rows": sum(o.unexpected_count or 0 for o in outcome.failed),
        "expectations": dg.MetadataValue.md(_md_table([o.as_dict() for o in outcome.outcomes])),
        "offending_rows": dg.MetadataValue.md(_md_table(offenders)),
        # machine-readable, for the alert sensors (no warehouse access needed to alert)
        "failures": dg.MetadataValue.json(
            [
                {
                    "expectation": o.name,
                    "description": o.description,
                    "evaluated": o.evaluated_count,
                    "failed": o.unexpected_count,
                    "error": o.error,
                    "offenders": list(o.offenders),
                }
                for o in outcome.failed
            ]
        ),
        "fingerprint": outcome.fingerprint(),
        # offending rows of this suite can be waived (it reads {flows}: waivers apply)
        "waivable": uses_tolerance(suite),
    }
    if suite.waivers or suite.tolerances.rules or outcome.breaches:
        meta |= {
            "breach_rows": outcome.breaches,
            "waived_breach_rows": outcome.waived_breaches,
            "unwaived_breach_rows": outcome.breaches - outcome.waived_breaches,
            "worst_breaches": dg.MetadataValue.md(_md_table(list(outcome.top_breaches))),
            "waivers": dg.MetadataValue.md(_md_table(waivers)),
            "tolerance_rules": dg.MetadataValue.md(_md_table(rules)),
        }
    if outcome.docs_page:
        # paths, not file:// links: a browser does not open a file:// link from a web page (the
        # Dagster UI, Slack); the pages open from disk, offline (their CSS/JS are bundled)
        meta["data_docs_page"] = dg.MetadataValue.path(outcome.docs_page)
        meta["data_docs"] = dg.MetadataValue.path(
            str(Path(outcome.docs_page).parents[4] / "index.html")
        )
    return meta


def _specs(suites: list[Suite]) -> list[dg.AssetCheckSpec]:
    specs = []
    for suite in suites:
        for severity in suite.severities:
            blocking = severity == "error"
            specs.append(
                dg.AssetCheckSpec(
                    name=suite.check_name(severity),
                    asset=dg.AssetKey([suite.schema, suite.table]),
                    blocking=blocking,
                    description=(
                        f"Great Expectations suite expectations/{suite.path.name}, "
                        f"{severity} expectations ({'blocking' if blocking else 'warning'}): "
                        f"{suite.description}"
                    ),
                )
            )
    return specs


def build_gx_checks(folder: Path = EXPECTATIONS_DIR) -> list[dg.AssetChecksDefinition]:
    suites = load_suites(folder)

    @dg.multi_asset_check(
        specs=_specs(suites),
        name=GX_CHECKS_OP,
        can_subset=True,
        description="Every GX suite of expectations/, in one read-only GX session on DuckDB.",
    )
    def _gx_checks(context: dg.AssetCheckExecutionContext, warehouse: Warehouse):
        selected = {key.name for key in context.selected_asset_check_keys}
        current = [  # re-read: edits to the YAML take effect on the next run
            s
            for s in load_suites(folder)
            if any(s.check_name(sev) in selected for sev in s.severities)
        ]
        duckdb_path = Path(warehouse.duckdb_path)
        docs_dir = warehouse.layout.gx_docs_dir
        progress = StepProgress("checks", len(current), log=context.log)

        def on_suite(name: str, success: bool) -> None:
            progress.advance(1, f"GX suites, last: {name} {'passed' if success else 'FAILED'}")

        outcomes = run_suites(
            current, duckdb_path, docs_dir=docs_dir, run_name=context.run.run_id, on_suite=on_suite
        )
        failed = [o.suite.name for o in outcomes if not o.success]
        progress.finish(
            f"GX suites ({len(outcomes) - len(failed)} passed"
            + (f", FAILED: {', '.join(failed)})" if failed else ")")
        )
        (docs_dir / RESULTS_FILE).write_text(
            json.dumps(results_document(outcomes, context.run.run_id), indent=1, default=str),
            encoding="utf-8",
        )
        for outcome in outcomes:
            for severity in outcome.suite.severities:
                view = outcome.for_severity(severity)
                if view.check_name not in selected:
                    continue
                (context.log.info if view.success else context.log.warning)(view.one_line())
                yield dg.AssetCheckResult(
                    asset_key=dg.AssetKey([outcome.suite.schema, outcome.suite.table]),
                    check_name=view.check_name,
                    passed=view.success,
                    severity=dg.AssetCheckSeverity.ERROR
                    if severity == "error"
                    else dg.AssetCheckSeverity.WARN,
                    metadata=check_metadata(view),
                )

    return [_gx_checks]
