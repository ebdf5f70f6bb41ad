"""``mirror report``: write $MIRROR_HOME/report/index.html from the warehouse (read-only)."""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_report(args: argparse.Namespace) -> int:
    from dagster_project.quality.checks import RESULTS_FILE
    from dagster_project.report.build import build_report
    from dagster_project.settings import Settings

    settings = Settings.from_env(args.home, None)
    layout = settings.layout
    source = layout.duckdb_path
    if args.source == "published" or (
        args.source == "auto" and layout.published_duckdb_path.exists()
    ):
        source = layout.published_duckdb_path  # never locked by a running build
    if not source.exists():
        print(f"mirror report: {source} does not exist; run `mirror run` first")
        return 1
    out = Path(args.out) if args.out else layout.report_path
    data = build_report(source, out, results_path=layout.gx_docs_dir / RESULTS_FILE)
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
            "results and charts. Reads the published copy when there is one (never locked), "
            "else the working warehouse, read-only."
        ),
    )
    parser.add_argument("--home", help="working folder (overrides MIRROR_HOME)")
    parser.add_argument("--out", help="output file (default MIRROR_HOME/report/index.html)")
    parser.add_argument(
        "--source",
        choices=("auto", "published", "working"),
        default="auto",
        help="which DuckDB file to read (default: published if present, else working)",
    )
    parser.set_defaults(func=cmd_report)
