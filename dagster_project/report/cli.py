"""``mirror report``: write $MIRROR_HOME/report/index.html from the warehouse (read-only)."""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_report(args: argparse.Namespace) -> int:
    from dagster_project.quality.checks import RESULTS_FILE
    from dagster_project.report.build import ReportSourceError, build_report
    from dagster_project.resources import WarehouseLockedError
    from dagster_project.settings import Settings

    settings = Settings.from_env(args.home, None)
    layout = settings.layout
    # the working warehouse: the report tables (report.rpt_*) are built there and, unlike the
    # marts, not published
    source = layout.duckdb_path
    if not source.exists():
        print(f"mirror report: {source} does not exist; run `mirror run` first")
        return 1
    out = Path(args.out) if args.out else layout.report_path
    try:
        data = build_report(source, out, results_path=layout.gx_docs_dir / RESULTS_FILE)
    except WarehouseLockedError:
        print(
            f"mirror report: {source} is in use by a running build; it writes "
            f"{layout.report_path} when it finishes (or run `mirror report` again then)"
        )
        return 1
    except ReportSourceError as exc:
        print(f"mirror report: {exc}")
        return 1
    print(
        f"report: {out} ({out.stat().st_size / 1e6:.1f} MB, opens offline) from {source}: "
        f"{data.headline['flows']} flows, {data.headline['unexplained_breaches']} unexplained "
        "breaches"
    )
    return 0


def add_report_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write the HTML report ($MIRROR_HOME/report/index.html) from the warehouse",
        description=(
            "Render one self-contained HTML file (plotly.js inlined, opens offline): headline "
            "numbers, biggest unexplained gaps, explanations by corridor, the last check "
            "results and charts. Reads the report tables (report.rpt_*, built by `mirror run`) "
            "of the working warehouse, read-only; `mirror run` writes the same report itself."
        ),
    )
    parser.add_argument("--home", help="working folder (overrides MIRROR_HOME)")
    parser.add_argument("--out", help="output file (default MIRROR_HOME/report/index.html)")
    parser.set_defaults(func=cmd_report)
