"""`mirror`: the command line. Thin: it runs the same Dagster job the UI runs.

mirror run                       build everything from the landing zone and publish
mirror run --home DIR --landing DIR
mirror checks                    list the GX suites, their expectations and waivers
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dagster_project.publish.docs import add_docs_parser
from dagster_project.report.cli import add_report_parser
from dagster_project.settings import EXPECTATIONS_DIR, Settings, SettingsError
from dagster_project.sources.comtrade_api import add_fetch_parser
from dagster_project.synthetic.cli import add_generate_parser

DESCRIPTION = """\
mirror builds a warehouse of mirror trade statistics: what country A says it exported to B,
against what B says it imported from A, with the gap explained or flagged.

Settings (flags win over the environment):
  MIRROR_HOME     working folder (default ./warehouse); warehouse file MIRROR_HOME/mirror.duckdb,
                  BI copy MIRROR_HOME/published/mirror.duckdb, Parquet in MIRROR_HOME/exports/
  MIRROR_LANDING  folder of raw files by source: comtrade/ (default: the embedded sample)
  DAGSTER_HOME    Dagster run history (default MIRROR_HOME/dagster), shared with `dagster dev`

Examples:
  mirror run                                  # the embedded sample into ./warehouse
  mirror run --home /srv/mirror --landing /data/customs
  mirror ingest --landing /data/customs       # only load new files; see raw.file_registry
  mirror checks                               # what the reconciliation checks enforce
  mirror fetch comtrade --reporters KZ,IT --hs 2709 --years 2019-2024 --freq A --landing DIR
  mirror generate --out /tmp/world --target-declarations 1e6   # synthetic world + ground truth
  mirror report                               # the HTML report of the last build
"""

_QUIET_ENV = {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "GX_ANALYTICS_ENABLED": "false",
    "DAGSTER_DISABLE_TELEMETRY": "true",
}


def _prepare_dagster_home(settings: Settings) -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or settings.home / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _summarise(result: Any, settings: Settings, elapsed: float) -> list[str]:
    from dagster import DagsterEventType

    ingest: list[str] = []
    built: dict[str, list[str]] = defaultdict(list)
    checks: list[tuple[str, bool, str, str]] = []
    failures: list[str] = []
    for event in result.all_events:
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            mat = event.step_materialization_data.materialization
            key = mat.asset_key.to_user_string()
            meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
            if "files_seen" in meta:
                ingest.append(
                    f"{key.split('/')[-1]}: {meta.get('files_loaded', 0)} files loaded, "
                    f"{meta.get('files_unchanged', 0)} unchanged, "
                    f"{meta.get('files_refused', 0)} refused; "
                    f"{meta.get('rows_loaded_this_run', 0)} rows loaded, "
                    f"{meta.get('rows_quarantined_this_run', 0)} quarantined "
                    f"({meta.get('dagster/row_count', '?')} rows in {key.replace('/', '.')})"
                )
                ingest += [f"    {line}" for line in _problem_files(meta.get("files"))]
            built[key.split("/")[0]].append(key.split("/", 1)[-1])
        elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            ev = event.event_specific_data
            meta = {k: getattr(v, "value", v) for k, v in ev.metadata.items()}
            checks.append(
                (ev.check_name, ev.passed, ev.severity.value, str(meta.get("summary", "")))
            )
        elif event.event_type == DagsterEventType.STEP_FAILURE:
            err = event.event_specific_data.error
            failures.append(
                f"{event.step_key}: {err.message.strip().splitlines()[0] if err else 'failed'}"
            )

    verb = "run" if built.get("marts") or not result.success else "ingest"
    lines = [f"mirror {verb} {'succeeded' if result.success else 'FAILED'} in {elapsed:.1f}s", ""]
    lines += ["Ingest:"] + [f"  {line}" for line in ingest or ["(no ingest ran)"]]
    lines += ["", "Built:"]
    for schema in ("raw", "reference", "staging", "intermediate", "marts", "published"):
        if built.get(schema):
            lines.append(f"  {schema:<12} {', '.join(sorted(built[schema]))}")
    gx = [c for c in checks if c[0].startswith("gx_")]
    dbt_tests = [c for c in checks if not c[0].startswith("gx_")]
    lines += ["", "Checks:"]
    passed = sum(c[1] for c in dbt_tests)
    lines.append(f"  dbt tests    {passed} passed, {len(dbt_tests) - passed} failed")
    for name, passed, severity, summary in gx:
        lines.append(
            f"  {name:<24} {'PASSED' if passed else 'FAILED'} ({severity.lower()}): {summary}"
        )
    for name, passed, severity, _ in dbt_tests:
        if not passed:
            lines.append(f"  dbt test failed ({severity}): {name}")
    if failures:
        lines += ["", "Failures:"] + [f"  {f}" for f in failures]
    lines += [
        "",
        f"Warehouse:   {settings.duckdb_path}",
        f"Published:   {settings.published_duckdb_path}"
        + ("" if "published" in built else "  (NOT updated by this run)"),
        f"Exports:     {settings.exports_dir}",
        f"Run history: {os.environ.get('DAGSTER_HOME')} (open with `uv run dagster dev`)",
        f"dbt log:     {settings.home / 'logs' / 'last_run.log'}",
    ]
    return lines


def _problem_files(table: object) -> list[str]:
    """Refused/duplicate files and files with quarantined rows, from the ingest metadata table."""
    text = str(getattr(table, "md_str", table) or "")
    problems = []
    for row in text.splitlines()[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        if len(cells) == 6 and (cells[1] in ("refused", "duplicate") or cells[4] not in ("0", "")):
            problems.append(f"{cells[1]} {cells[0]}: {cells[5] or cells[4] + ' rows quarantined'}")
    return problems


def cmd_run(args: argparse.Namespace) -> int:
    from dagster_project.definitions import MIRROR_JOB_NAME

    return _execute(args, MIRROR_JOB_NAME)


def cmd_ingest(args: argparse.Namespace) -> int:
    from dagster_project.definitions import INGEST_JOB_NAME

    return _execute(args, INGEST_JOB_NAME)


def _execute(args: argparse.Namespace, job_name: str) -> int:
    settings = Settings.from_env(args.home, args.landing)
    settings.home.mkdir(parents=True, exist_ok=True)
    for key, value in _QUIET_ENV.items():
        os.environ.setdefault(key, value)
    _prepare_dagster_home(settings)
    started = time.monotonic()

    from dagster import DagsterInstance

    from dagster_project.definitions import build_definitions

    defs = build_definitions(settings)
    job = defs.resolve_job_def(job_name)
    log_level = "DEBUG" if args.verbose else "WARNING"
    print(f"mirror: building {settings.duckdb_path} from {settings.landing} ...", file=sys.stderr)
    log_path = settings.home / "logs" / "last_run.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with DagsterInstance.get() as instance, log_path.open("w", encoding="utf-8") as log_file:
        # dbt's own log lines go to stdout; keep them in a file unless --verbose
        sink = sys.stdout if args.verbose else log_file
        with contextlib.redirect_stdout(sink):
            result = job.execute_in_process(
                instance=instance,
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
            )
        # no daemon behind the CLI: apply the alert sensors' logic to this run now
        from dagster_project.alerts.sensors import notify_run

        alerts = notify_run(instance, result.run_id, settings.home)
    print("\n".join(_summarise(result, settings, time.monotonic() - started)))
    sent = sum(decision in ("send", "resolve") for decision in alerts.values())
    print(f"Alerts:      {sent} sent (audit trail: {settings.home / 'alerts.jsonl'})")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"Peak memory: {peak_mb:.0f} MB (this process), {child_mb:.0f} MB (largest child: dbt)")
    return 0 if result.success else 1


def cmd_checks(args: argparse.Namespace) -> int:
    from dagster_project.quality.suites import load_suites

    for suite in load_suites(EXPECTATIONS_DIR):
        print(f"{suite.path.name}: {suite.qualified_table} [{suite.severity}] {suite.description}")
        for spec in suite.expectations:
            print(f"  - {spec.name}" + (f": {spec.description}" if spec.description else ""))
        for w in suite.waivers:
            print(
                f"  waiver {w.id}: {w.exporter_iso3}->{w.importer_iso3} HS {w.hs6}, "
                f"expires {w.expires} — {w.reason}"
            )
    return 0


def _add_location_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--home", help="working folder (overrides MIRROR_HOME; default ./warehouse)"
    )
    parser.add_argument(
        "--landing", help="landing folder (overrides MIRROR_LANDING; default: embedded sample)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show Dagster and dbt logs")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mirror", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser(
        "run",
        help="ingest the landing zone, build the marts, run the checks, publish",
        description=(
            "Materialise every asset: ingest -> dbt (staging, intermediate, marts) -> GX checks "
            "-> publish. Exit code 0 when every blocking check passed, 1 otherwise (nothing is "
            "published then)."
        ),
    )
    _add_location_flags(run)
    run.set_defaults(func=cmd_run)
    ingest = sub.add_parser(
        "ingest",
        help="only load new or changed landing files into raw (no dbt, no checks, no publish)",
        description=(
            "Load every new or changed file of the landing zone into raw.* (the same step the "
            "landing sensor launches), then print what happened to each file. Files already "
            "loaded are skipped; bad rows go to raw.quarantine; unusable files are refused "
            "with a reason in raw.file_registry."
        ),
    )
    _add_location_flags(ingest)
    ingest.set_defaults(func=cmd_ingest)
    checks = sub.add_parser(
        "checks", help="list the reconciliation checks, their expectations and waivers"
    )
    checks.set_defaults(func=cmd_checks)
    add_fetch_parser(sub)
    add_docs_parser(sub)
    add_report_parser(sub)
    add_generate_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"mirror: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
