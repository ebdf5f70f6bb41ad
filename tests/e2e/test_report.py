"""The HTML report on the embedded sample: renders offline, shows the warehouse's numbers."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dagster_project.report.build import build_report, collect, fmt_usd
from dagster_project.report.cli import add_report_parser  # noqa: F401  (wiring target)
from tests.e2e.conftest import MirrorRun

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def report(sample_run: MirrorRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert sample_run.returncode == 0, sample_run.stdout + sample_run.stderr
    out = tmp_path_factory.mktemp("report") / "index.html"
    build_report(
        sample_run.warehouse, out, results_path=sample_run.home / "docs" / "gx" / "results.json"
    )
    return out


def test_report_is_self_contained_and_shows_the_warehouse_numbers(
    sample_run: MirrorRun, report: Path
) -> None:
    page = report.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc=", page)  # plotly.js inline: nothing to fetch
    assert page.count("Plotly.newPlot") >= 2  # flow charts + gap distribution
    with sample_run.connect() as con:
        flows = con.execute("select count(*) from marts.fct_mirror_trade").fetchone()[0]
        kz_it_2021 = con.execute(
            "select export_value_usd from marts.fct_mirror_trade where freq = 'A' "
            "and period = '2021' and exporter_iso3 = 'KAZ' and importer_iso3 = 'ITA' "
            "and hs6 = '270900'"
        ).fetchone()[0]
        importers = {
            r[0]
            for r in con.execute(
                "select distinct importer_iso3 from marts.fct_mirror_trade where freq = 'A' "
                "and exporter_iso3 = 'KAZ' and hs6 = '270900' "
                "and importer_iso3 in ('AUT', 'DEU', 'CZE')",
            ).fetchall()
        }
    assert f"{flows:,}" in page
    assert fmt_usd(kz_it_2021) in page or str(round(kz_it_2021, 2)) in page
    assert importers == {"AUT", "DEU", "CZE"}
    names = {"AUT": "Austria", "DEU": "Germany", "CZE": "Czechia"}
    for importer in importers:  # the Trieste/TAL importers are explained, with their names
        assert f"<td>{importer} {names[importer]}</td>" in page
    assert "<td>KAZ Kazakhstan</td>" in page and "270900 Oils; petroleum oils" in page
    assert "gx_fct_mirror_trade" in page  # check results
    assert "Explanations by corridor" in page


def test_report_command_writes_into_mirror_home(sample_run: MirrorRun, tmp_path: Path) -> None:
    import argparse

    from dagster_project.report.cli import cmd_report

    out = tmp_path / "r.html"
    args = argparse.Namespace(home=str(sample_run.home), out=str(out), source="published")
    assert cmd_report(args) == 0 and out.stat().st_size > 1_000_000  # plotly.js inlined


@pytest.mark.skipif(not shutil.which("chromium"), reason="chromium not installed")
def test_report_renders_in_a_headless_browser(report: Path, tmp_path: Path) -> None:
    png = tmp_path / "report.png"
    subprocess.run(
        [
            "chromium", "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--no-first-run",
            f"--screenshot={png}", "--window-size=1400,2000", report.as_uri(),
        ],
        capture_output=True, timeout=120, check=False,
        env={**os.environ, "HOME": str(tmp_path)},
    )  # fmt: skip
    assert png.exists() and png.stat().st_size > 50_000  # a blank page is ~10 kB


def test_gap_distribution_is_binned_in_the_warehouse(sample_run: MirrorRun) -> None:
    """Every flow with a gap is in exactly one bar; the page carries bars, not rows."""
    from dagster_project.report.build import GAP_BIN_WIDTH, collect

    data = collect(sample_run.warehouse)
    with sample_run.connect() as con:
        with_gap = con.execute(
            "select count(*) from marts.fct_mirror_trade where gap_pct is not null"
        ).fetchone()[0]
    assert sum(b["flows"] for b in data.gap_bins) == with_gap > 0
    assert len(data.gap_bins) < with_gap
    assert all(float(b["bin_start"]) % GAP_BIN_WIDTH == 0 for b in data.gap_bins)


def test_a_chart_per_corridor_and_for_the_largest_gaps(sample_run: MirrorRun) -> None:
    data = collect(sample_run.warehouse)
    with sample_run.connect() as con:
        corridors = {
            r[0]
            for r in con.execute(
                "select distinct corridor_id from marts.fct_mirror_trade "
                "where corridor_id is not null and freq = 'A'"
            ).fetchall()
        }
    drawn = {c["corridor_id"] for c in data.charts if c["corridor_id"]}
    assert corridors and drawn == corridors  # every corridor the data has, none invented
    tal = next(c for c in data.charts if c["corridor_id"] == "kz-it-tal")
    assert (tal["exporter_iso3"], tal["hs6"]) == ("KAZ", "270900")
    assert {"AUT", "CZE", "DEU", "ITA"} <= set(tal["importers"])
    assert any(c["corridor_id"] is None for c in data.charts)  # then the largest gaps
    assert all(c["series"] for c in data.charts)


def test_every_status_of_the_data_is_in_the_status_table(sample_run: MirrorRun) -> None:
    data = collect(sample_run.warehouse)
    with sample_run.connect() as con:
        statuses = dict(
            con.execute("select status, count(*) from marts.fct_mirror_trade group by 1").fetchall()
        )
    table = {r["status"]: r for r in data.statuses}
    assert set(table) == set(statuses)
    for status, flows in statuses.items():
        assert table[status]["annual_flows"] + table[status]["monthly_flows"] == flows
        assert table[status]["class"] in ("compared", "explained", "not_compared")
