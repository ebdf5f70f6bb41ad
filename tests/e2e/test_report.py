"""The HTML report on the embedded sample: renders offline, shows the warehouse's numbers."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dagster_project.quality.suites import load_vocabulary
from dagster_project.report.build import build_report, collect, fmt_usd
from dagster_project.report.cli import add_report_parser  # noqa: F401  (wiring target)
from dagster_project.settings import EXPECTATIONS_DIR
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
    args = argparse.Namespace(home=str(sample_run.home), out=str(out))
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
    data = collect(sample_run.warehouse)
    with sample_run.connect() as con:
        with_gap = con.execute(
            "select count(*) from marts.fct_mirror_trade where gap_pct is not null"
        ).fetchone()[0]
    assert sum(b["flows"] for b in data.gap_bins) == with_gap > 0
    assert len(data.gap_bins) < with_gap
    assert all(float(b["bin_start"]) % float(b["bin_width"]) == 0 for b in data.gap_bins)


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


# What the report computed in Python from the marts before its aggregates became dbt models
# (issue 14), kept as the oracle the report tables must agree with: the same flows, statuses,
# findings, charts and explanations, from fct_mirror_trade directly. {compared} / {explained}:
# the classes of expectations/statuses.yml; the sample has no waiver.
LEGACY = {
    "by_freq": """
        select freq, count(*) as flows,
               sum(greatest(export_value_usd, import_value_fob_usd))
                 filter (where status in ({compared})) as compared_value_usd,
               sum(gap_usd) filter (where status in ({compared})) as net_gap_usd
        from marts.fct_mirror_trade group by freq order by freq""",
    "statuses": """
        select status, count(*) filter (where freq = 'A') as annual_flows,
               count(*) filter (where freq = 'M') as monthly_flows,
               sum(greatest(coalesce(export_value_usd, 0), coalesce(import_value_fob_usd, 0)))
                 filter (where freq = 'A') as annual_value_usd
        from marts.fct_mirror_trade group by status order by status""",
    "biggest_gaps": """
        select freq, period, exporter_iso3, importer_iso3, hs6 from marts.fct_mirror_trade
        where status in ({compared}) and abs(gap_pct) > tolerance_pct
        order by (freq = 'A') desc, abs(gap_usd) desc limit 15""",
    "explanations": """
        select coalesce(corridor_id, case when status not in ({compared}) then status end)
                 as label, status, exporter_iso3, importer_iso3, hs6, count(*) as years,
               min(period) as first_period, max(period) as last_period,
               sum(export_value_usd) as export_value_usd,
               sum(import_value_fob_usd) as import_value_fob_usd
        from marts.fct_mirror_trade
        where freq = 'A' and status <> 'ok'
          and (status in ({explained}) or corridor_id is not null or declared_sides <> 'both')
        group by all order by label, status, exporter_iso3, importer_iso3, hs6""",
    "findings": """
        select status, list([freq, period, exporter_iso3, importer_iso3, hs6] order by
                 (freq = 'A') desc, greatest(export_value_usd, import_value_fob_usd) desc
                 nulls last, period, exporter_iso3, importer_iso3, hs6)[1:5] as flows
        from marts.fct_mirror_trade group by status""",
    "corridor_charts": """
        select corridor_id, exporter_iso3, hs6,
               list(distinct importer_iso3 order by importer_iso3) as importers
        from marts.fct_mirror_trade where corridor_id is not null and freq = 'A'
        group by all order by sum(abs(gap_usd)) desc, exporter_iso3, hs6 limit 8""",
    "gap_charts": """
        with gaps as (
          select exporter_iso3, hs6, importer_iso3, sum(abs(gap_usd)) as gap
          from marts.fct_mirror_trade
          where status in ({compared}) and freq = (select min(freq) from marts.fct_mirror_trade)
          group by all),
        ranked as (
          select *, row_number() over (partition by exporter_iso3, hs6
                                       order by gap desc, importer_iso3) as rank from gaps)
        select exporter_iso3, hs6,
               list(importer_iso3 order by importer_iso3) filter (where rank <= 8) as importers
        from ranked group by all order by sum(gap) desc, exporter_iso3, hs6 limit 8""",
}


def _legacy(con: Any, name: str) -> list[dict[str, Any]]:
    voc = load_vocabulary(EXPECTATIONS_DIR / "statuses.yml")
    sql = LEGACY[name].format(
        compared=voc.sql_list(voc.of_class("compared")),
        explained=voc.sql_list(voc.of_class("explained")),
    )
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _keys(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return [tuple(r[k] for k in keys) for r in rows]


def test_the_report_tables_show_what_the_report_computed_from_the_marts(
    sample_run: MirrorRun,
) -> None:
    """Moving the aggregates into dbt (report.rpt_*) changed no content: every section agrees
    with the Python-era queries on the marts, row for row (amounts to the cent)."""
    data = collect(sample_run.warehouse)
    with sample_run.connect() as con:
        legacy = {name: _legacy(con, name) for name in LEGACY}
        flows, first, last = con.execute(
            "select count(*), min(period) filter (where freq = 'A'), "
            "max(period) filter (where freq = 'A') from marts.fct_mirror_trade"
        ).fetchone()
    assert (data.headline["flows"], data.headline["first_year"], data.headline["last_year"]) == (
        flows, first, last
    )  # fmt: skip
    for mine, theirs in zip(data.by_freq, legacy["by_freq"], strict=True):
        assert (mine["freq"], mine["flows"]) == (theirs["freq"], theirs["flows"])
        for key in ("compared_value_usd", "net_gap_usd"):
            assert mine[key] == pytest.approx(theirs[key], abs=0.01)
    statuses = sorted(data.statuses, key=lambda r: r["status"])
    for mine, theirs in zip(statuses, legacy["statuses"], strict=True):
        for key, value in theirs.items():
            assert mine[key] == (
                pytest.approx(value, abs=0.01) if isinstance(value, float) else value
            )
    keys = ("freq", "period", "exporter_iso3", "importer_iso3", "hs6")
    assert _keys(data.biggest_gaps, keys) == _keys(legacy["biggest_gaps"], keys)
    explanation_keys = ("label", "status", "exporter_iso3", "importer_iso3", "hs6", "years")
    assert legacy["explanations"], "the sample's corridor is explained"
    assert _keys(data.explanations, explanation_keys) == _keys(
        legacy["explanations"], explanation_keys
    )
    for mine, theirs in zip(data.explanations, legacy["explanations"], strict=True):
        for key in ("export_value_usd", "import_value_fob_usd"):
            assert mine[key] == pytest.approx(theirs[key], abs=0.01)
    legacy_findings = {r["status"]: [tuple(f) for f in r["flows"]] for r in legacy["findings"]}
    assert data.findings, "the sample has statuses with findings"
    for status, rows in data.findings.items():
        assert _keys(rows, keys) == legacy_findings[status]
    corridors = _keys(
        legacy["corridor_charts"], ("corridor_id", "exporter_iso3", "hs6", "importers")
    )
    drawn = {(c[1], c[2]) for c in corridors}
    gaps = [
        (None, *row)
        for row in _keys(legacy["gap_charts"], ("exporter_iso3", "hs6", "importers"))
        if (row[0], row[1]) not in drawn
    ]
    charts = _keys(data.charts, ("corridor_id", "exporter_iso3", "hs6", "importers"))
    assert charts == (corridors + gaps)[:8]
