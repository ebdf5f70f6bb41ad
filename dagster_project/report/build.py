"""Build the report: read the warehouse read-only, render one self-contained HTML file.

Everything the page shows is computed by DuckDB (aggregates, top-N); plotly.js is inlined once
(``include_plotlyjs=True``), so the file opens offline. Sections are data-driven: statuses
come from ``expectations/statuses.yml`` (their class and meaning) and from the data (a status
the vocabulary does not know is shown too), explanations are grouped by ``corridor_id`` when
the mart has it, else by waiver, else by status; the declared-vs-mirror charts are drawn for
every corridor the data has, else for the flows with the largest gaps. Codes are shown with
their names (``marts.dim_country``, ``marts.dim_product``).
"""

from __future__ import annotations

import datetime as dt
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster_project.quality.suites import Suite, load_suites, load_vocabulary
from dagster_project.resources import connect
from dagster_project.settings import EXPECTATIONS_DIR

GAP_BIN_WIDTH = 2  # percentage points per bar of the gap distribution
FACT = "marts.fct_mirror_trade"
MAX_CHARTS = 8  # declared-vs-mirror charts (corridors first, then the largest gaps)
CHART_IMPORTERS = 8  # destinations per chart
FINDINGS_PER_STATUS = 5


@dataclass
class ReportData:
    headline: dict[str, Any]
    by_freq: list[dict[str, Any]]
    status_counts: list[dict[str, Any]]
    biggest_gaps: list[dict[str, Any]]
    explanations: list[dict[str, Any]]
    checks: list[dict[str, Any]]
    chart_series: list[dict[str, Any]]
    gap_bins: list[dict[str, Any]]  # freq, status, bin_start (gap %, 2-point bins), flows
    generated_at: str
    source: str
    notes: list[str] = field(default_factory=list)
    charts: list[dict[str, Any]] = field(default_factory=list)  # subject + its series
    statuses: list[dict[str, Any]] = field(default_factory=list)  # one row per status
    findings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # status -> rows
    countries: dict[str, str] = field(default_factory=dict)  # iso3 -> name
    products: dict[str, str] = field(default_factory=dict)  # hs6 -> description


def _rows(con: Any, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _sql_list(values: list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values) or "null"


def _mirror_suite(folder: Path) -> Suite | None:
    return next((s for s in load_suites(folder) if s.waivers or s.tolerances.rules), None)


def collect(
    duckdb_path: Path,
    *,
    results_path: Path | None = None,
    expectations_dir: Path = EXPECTATIONS_DIR,
    today: dt.date | None = None,
) -> ReportData:
    """Every number of the report, from the warehouse (read-only) and the last check results."""
    today = today or dt.date.today()
    voc = load_vocabulary(expectations_dir / "statuses.yml")
    compared = _sql_list(voc.of_class("compared"))
    explained = _sql_list(voc.of_class("explained"))
    suite = _mirror_suite(expectations_dir)
    waived = suite.waived_sql(today) if suite else "false"
    waiver_case = (
        "case "
        + " ".join(f"when {w.sql_condition()} then '{w.id}'" for w in suite.active_waivers(today))
        + " end"
        if suite and suite.active_waivers(today)
        else "null"
    )
    con = connect(duckdb_path, read_only=True)
    try:
        columns = {r[0] for r in con.execute(f"describe {FACT}").fetchall()}
        corridor = "corridor_id" if "corridor_id" in columns else "null"
        one_sided = "declared_sides <> 'both'" if "declared_sides" in columns else "false"
        headline = _rows(
            con,
            f"""
            select count(*) as flows,
                   count(distinct exporter_iso3) filter (where export_value_usd is not null)
                     + count(distinct importer_iso3) filter (where import_value_usd is not null)
                     as reporter_sides,
                   count(distinct hs6) as products,
                   min(period) filter (where freq = 'A') as first_year,
                   max(period) filter (where freq = 'A') as last_year,
                   count(*) filter (where status in ({compared})) as compared_flows,
                   count(*) filter (where status in ({compared}) and abs(gap_pct) > tolerance_pct
                                    and not {waived}) as unexplained_breaches,
                   count(*) filter (where status in ({compared}) and abs(gap_pct) > tolerance_pct
                                    and {waived}) as waived_breaches,
                   count(*) filter (where status in ({explained})) as explained_flows
            from {FACT}
            """,
        )[0]
        by_freq = _rows(
            con,
            f"""
            select freq, count(*) as flows,
                   sum(greatest(export_value_usd, import_value_fob_usd))
                     filter (where status in ({compared})) as compared_value_usd,
                   sum(greatest(export_value_usd, import_value_fob_usd))
                     filter (where status in ({compared}) and abs(gap_pct) <= tolerance_pct)
                   / nullif(sum(greatest(export_value_usd, import_value_fob_usd))
                     filter (where status in ({compared})), 0) as share_in_tolerance,
                   sum(gap_usd) filter (where status in ({compared})) as net_gap_usd
            from {FACT} group by freq order by freq
            """,
        )
        status_counts = _rows(
            con, f"select freq, status, count(*) as flows from {FACT} group by all order by all"
        )
        biggest = _rows(
            con,
            f"""
            select freq, period, exporter_iso3, importer_iso3, hs6, status,
                   export_value_usd, import_value_fob_usd, gap_usd, gap_pct, tolerance_pct,
                   {waiver_case} as waiver
            from {FACT}
            where status in ({compared}) and abs(gap_pct) > tolerance_pct
            order by (freq = 'A') desc, abs(gap_usd) desc limit 15
            """,
        )
        explanations = _rows(
            con,
            f"""
            with tagged as (
              select *, coalesce({corridor}, {waiver_case},
                                 case when status not in ({compared}) then status end) as label
              from {FACT}
              where freq = 'A' and status not in ('ok')
                and (status in ({explained}) or {corridor} is not null or {waived}
                     or {one_sided})
            )
            select label, status, exporter_iso3, importer_iso3, hs6,
                   count(*) as years, min(period) as first_period, max(period) as last_period,
                   sum(export_value_usd) as export_value_usd,
                   sum(import_value_fob_usd) as import_value_fob_usd,
                   sum(coalesce(import_value_fob_usd, 0)) - sum(coalesce(export_value_usd, 0))
                     as gap_usd
            from tagged group by all
            order by label, status, exporter_iso3, importer_iso3, hs6
            """,
        )
        countries, products = _names(con)
        charts = _chart_subjects(con, corridor, compared)
        for chart in charts:
            chart["series"] = _rows(
                con,
                f"""
                select period, importer_iso3, sum(export_value_usd) as export_value_usd,
                       sum(import_value_fob_usd) as import_value_fob_usd
                from {FACT}
                where freq = ? and exporter_iso3 = ? and hs6 = ?
                  and importer_iso3 in (select unnest(?))
                group by all order by period, importer_iso3
                """,
                [chart["freq"], chart["exporter_iso3"], chart["hs6"], chart["importers"]],
            )
        statuses = _status_table(con, voc)
        findings = {
            row["status"]: _rows(
                con,
                f"""
                select freq, period, exporter_iso3, importer_iso3, hs6, export_value_usd,
                       import_value_fob_usd, gap_pct,
                       {"status_reason" if "status_reason" in columns else "null"} as reason
                from {FACT} where status = ?
                order by (freq = 'A') desc,
                         greatest(export_value_usd, import_value_fob_usd) desc nulls last,
                         period, exporter_iso3, importer_iso3, hs6
                limit {FINDINGS_PER_STATUS}
                """,
                [row["status"]],
            )
            for row in statuses
            if row["class"] != "compared" or row["status"] == "breach"
        }
        corridor_routes = {}
        has_corridors = con.execute(
            "select count(*) from information_schema.columns where table_schema = 'reference' "
            "and table_name = 'transit_corridors' and column_name in ('corridor_id', 'route')"
        ).fetchone()[0]
        if has_corridors == 2:  # the corridor seed names the route: that is the explanation
            corridor_routes = dict(
                con.execute("select corridor_id, route from reference.transit_corridors").fetchall()
            )
        # binned in DuckDB: the page and the memory stay small whatever the number of flows
        gaps = _rows(
            con,
            f"""
            select freq, status, floor(gap_pct / {GAP_BIN_WIDTH}) * {GAP_BIN_WIDTH} as bin_start,
                   count(*) as flows
            from {FACT} where gap_pct is not null group by all order by all
            """,
        )
    finally:
        con.close()
    checks: list[dict[str, Any]] = []
    notes: list[str] = []
    if results_path and results_path.exists():
        document = json.loads(results_path.read_text(encoding="utf-8"))
        checks = document.get("checks", [])
        notes.append(
            f"Check results of run {document.get('run_id')} at {document.get('evaluated_at')}."
        )
    else:
        notes.append("No check results found (run `mirror run` first).")
    meanings = voc.meanings
    for row in explanations:
        row["meaning"] = meanings.get(row["status"], "")
        waiver = next((w for w in (suite.waivers if suite else ()) if w.id == row["label"]), None)
        corridor_def = next(
            (c for c in (suite.tolerances.corridors if suite else ()) if c.id == row["label"]),
            None,
        )
        row["explanation"] = (
            corridor_routes.get(row["label"])
            or (corridor_def.description if corridor_def else None)
            if row["label"] in corridor_routes or corridor_def
            else waiver.reason
            if waiver
            else corridor_def.description
            if corridor_def
            else meanings.get(row["label"], "")
        )
    return ReportData(
        headline=headline,
        by_freq=by_freq,
        status_counts=status_counts,
        biggest_gaps=biggest,
        explanations=explanations,
        checks=checks,
        chart_series=[r for c in charts for r in c["series"]],
        gap_bins=gaps,
        generated_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        source=str(duckdb_path),
        notes=notes,
        charts=charts,
        statuses=statuses,
        findings=findings,
        countries=countries,
        products=products,
    )


def _names(con: Any) -> tuple[dict[str, str], dict[str, str]]:
    """ISO-3 -> country name, HS6 -> description (the dims; a code without a row: no name)."""
    countries = dict(
        con.execute(
            "select iso3, any_value(country_name order by not is_country, comtrade_code) "
            "from marts.dim_country where iso3 is not null group by iso3"
        ).fetchall()
    )
    products = dict(con.execute("select hs6, description from marts.dim_product").fetchall())
    return countries, products


def _chart_subjects(con: Any, corridor: str, compared: str) -> list[dict[str, Any]]:
    """What the declared-vs-mirror charts show: every corridor of the data (its origin, product
    and importers), then the exporter x product flows with the largest gaps, up to MAX_CHARTS."""
    subjects: list[dict[str, Any]] = []
    if corridor != "null":
        subjects = _rows(
            con,
            f"""
            select {corridor} as corridor_id, any_value(freq order by freq) as freq,
                   exporter_iso3, hs6,
                   list(distinct importer_iso3 order by importer_iso3) as importers,
                   sum(abs(coalesce(gap_usd, 0))) as weight
            from {FACT}
            where {corridor} is not null and freq = 'A'
            group by all order by weight desc, exporter_iso3, hs6 limit {MAX_CHARTS}
            """,
        )
    seen = {(s["exporter_iso3"], s["hs6"]) for s in subjects}
    largest = _rows(
        con,
        f"""
        with gaps as (
          select freq, exporter_iso3, hs6, importer_iso3, sum(abs(gap_usd)) as gap
          from {FACT}
          where status in ({compared}) and gap_usd is not null
            and freq = (select min(freq) from {FACT})  -- 'A' when there are annual rows
          group by all
        ),
        ranked as (
          select *, row_number() over (partition by freq, exporter_iso3, hs6
                                       order by gap desc, importer_iso3) as rank
          from gaps
        )
        select null as corridor_id, freq, exporter_iso3, hs6,
               list(importer_iso3 order by importer_iso3) filter (where rank <= {CHART_IMPORTERS})
                 as importers,
               sum(gap) as weight
        from ranked group by all order by weight desc, exporter_iso3, hs6 limit {MAX_CHARTS}
        """,
    )
    for subject in largest:
        if len(subjects) >= MAX_CHARTS:
            break
        if (subject["exporter_iso3"], subject["hs6"]) not in seen:
            subjects.append(subject)
    return subjects


def _status_table(con: Any, voc: Any) -> list[dict[str, Any]]:
    """One row per status (the vocabulary's, then any other the data has): class, meaning,
    flows by frequency, value, the largest flow. New statuses show without code changes."""
    rows = _rows(
        con,
        f"""
        select status,
               count(*) filter (where freq = 'A') as annual_flows,
               count(*) filter (where freq = 'M') as monthly_flows,
               sum(greatest(coalesce(export_value_usd, 0), coalesce(import_value_fob_usd, 0)))
                 filter (where freq = 'A') as annual_value_usd
        from {FACT} group by status
        """,
    )
    by_status = {r["status"]: r for r in rows}
    order = list(voc.classes) + sorted(set(by_status) - set(voc.classes))
    table = []
    for status in order:
        row = by_status.get(status)
        if row is None:
            continue
        table.append(
            row
            | {
                "class": voc.classes.get(status, "not in statuses.yml"),
                "meaning": voc.meanings.get(status, ""),
            }
        )
    return table


# Rendering ---------------------------------------------------------------------------------


def fmt_usd(value: Any) -> str:
    if value is None:
        return "-"
    v = float(value)
    for unit, size in (("bn", 1e9), ("m", 1e6), ("k", 1e3)):
        if abs(v) >= size:
            return f"{v / size:,.2f} {unit}"
    return f"{v:,.0f}"


def fmt_pct(value: Any, signed: bool = True) -> str:
    if value is None:
        return "-"
    return f"{float(value):+.1f} %" if signed else f"{float(value):.1f} %"


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str, Any]]) -> str:
    if not rows:
        return "<p class='muted'>none</p>"
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title, _ in columns)
    body = []
    for row in rows:
        cells = []
        for key, _, fmt in columns:
            value = row.get(key)
            text = fmt(value) if fmt else ("-" if value is None else str(value))
            num = " class='num'" if fmt in (fmt_usd, fmt_pct) else ""
            cells.append(f"<td{num}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


_PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]  # fmt: skip


def named(code: Any, names: dict[str, str]) -> str:
    """``KAZ Kazakhstan``: a code with its name when the dims have one."""
    if code is None:
        return "-"
    name = names.get(str(code))
    return f"{code} {name}" if name else str(code)


def _chart_title(chart: dict[str, Any], data: ReportData) -> str:
    exporter = named(chart["exporter_iso3"], data.countries)
    product = named(chart["hs6"], data.products)
    if len(product) > 60:
        product = product[:59] + "…"
    why = f"corridor {chart['corridor_id']}" if chart.get("corridor_id") else "largest gaps"
    return (
        f"{exporter}, HS {product} ({why}, {'annual' if chart['freq'] == 'A' else 'monthly'}): "
        "left bar = what the exporter declares, hatched right bar = what each importer "
        "declares (FOB)"
    )


def _figures(data: ReportData) -> list[tuple[str, Any]]:
    import plotly.graph_objects as go

    figures = []
    for index, chart in enumerate(data.charts):
        series = chart["series"]
        if not series:
            continue
        periods = sorted({r["period"] for r in series})
        importers = sorted({r["importer_iso3"] for r in series})
        fig = go.Figure()
        for i, importer in enumerate(importers):
            values = {r["period"]: r for r in series if r["importer_iso3"] == importer}
            color = _PALETTE[i % len(_PALETTE)]
            label = named(importer, data.countries)
            fig.add_bar(
                name=label,
                x=periods,
                y=[(values.get(p) or {}).get("export_value_usd") for p in periods],
                offsetgroup="declared",
                legendgroup=importer,
                marker={"color": color},
            )
            fig.add_bar(
                name=f"{label} (its own declaration)",
                showlegend=False,
                x=periods,
                y=[(values.get(p) or {}).get("import_value_fob_usd") for p in periods],
                offsetgroup="mirror",
                legendgroup=importer,
                marker={"color": color, "pattern": {"shape": "/"}, "opacity": 0.75},
            )
        fig.update_layout(
            barmode="stack",
            title={"text": _chart_title(chart, data), "font": {"size": 13}},
            yaxis_title="USD",
            height=480,
            legend={"orientation": "v", "font": {"size": 11}},
            margin={"t": 60, "l": 60, "r": 20, "b": 40},
        )
        figures.append((f"chart-flow-{index}", fig))
    if data.gap_bins:
        fig = go.Figure()
        for freq in sorted({r["freq"] for r in data.gap_bins}):
            for status in sorted({r["status"] for r in data.gap_bins if r["freq"] == freq}):
                bins = [r for r in data.gap_bins if r["freq"] == freq and r["status"] == status]
                fig.add_bar(
                    x=[float(r["bin_start"]) + GAP_BIN_WIDTH / 2 for r in bins],
                    y=[r["flows"] for r in bins],
                    width=GAP_BIN_WIDTH,
                    name=f"{'annual' if freq == 'A' else 'monthly'} · {status}",
                    opacity=0.8,
                )
        fig.update_layout(
            barmode="stack",
            title="Gap distribution: gap % of the larger declaration (import at FOB minus export)",
            xaxis_title="gap_pct",
            yaxis_title="flows",
            yaxis_type="log",
            height=420,
            margin={"t": 60, "l": 60, "r": 20, "b": 40},
        )
        figures.append(("chart-gaps", fig))
    return figures


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;
max-width:1300px;color:#222;padding:0 16px}
h1{margin-bottom:4px}h2{margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
.muted{color:#777}.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{border:1px solid #ddd;border-radius:8px;padding:10px 14px;min-width:150px}
.card .v{font-size:1.6em;font-weight:600}.card .l{color:#666;font-size:.85em}
table{border-collapse:collapse;font-size:.86em;margin:8px 0;width:100%}
th,td{border-bottom:1px solid #eee;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f6f6}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.pass{color:#18794e;font-weight:600}.fail{color:#c62828;font-weight:600}
.warn{color:#b26a00;font-weight:600}
"""


def render(data: ReportData) -> str:
    h = data.headline
    annual = next((r for r in data.by_freq if r["freq"] == "A"), {})
    cards = [
        (f"{h['flows']:,}", "mirror flows (A + M)"),
        (f"{h['compared_flows']:,}", "compared (both sides declared)"),
        (
            fmt_pct(100 * (annual.get("share_in_tolerance") or 0), False),
            "annual value in tolerance",
        ),
        (f"{h['unexplained_breaches']:,}", "unexplained breaches"),
        (f"{h['waived_breaches']:,}", "waived breaches"),
        (f"{h['explained_flows']:,}", "explained flows"),
        (f"{h['first_year']}-{h['last_year']}", "years"),
    ]
    checks_html = (
        _table(
            [
                {
                    "state": "PASSED" if c["passed"] else "FAILED",
                    "check": c["check"],
                    "severity": c["severity"],
                    "summary": c["summary"],
                }
                for c in data.checks
            ],
            [
                ("state", "", None),
                ("check", "check", None),
                ("severity", "severity", None),
                ("summary", "summary", None),
            ],
        )
        if data.checks
        else "<p class='muted'>no check results</p>"
    )
    docs = next((c.get("docs_page") for c in data.checks if c.get("docs_page")), None)
    if docs:
        # relative: the report ($MIRROR_HOME/report/) and the docs ($MIRROR_HOME/docs/gx/) are
        # opened from the same disk; a file:// link would break once the folder is copied
        index = Path(docs).parents[4] / "index.html"
        checks_html += (
            "<p>Great Expectations Data Docs (open offline): "
            f"<a href='../docs/gx/index.html'>{html.escape(str(index))}</a></p>"
        )
    figures = _figures(data)
    charts = []
    countries, products = data.countries, data.products

    def country(value: Any) -> str:
        return named(value, countries)

    def product(value: Any) -> str:
        text = named(value, products)
        return text if len(text) <= 70 else text[:69] + "…"

    for i, (div_id, fig) in enumerate(figures):
        charts.append(
            fig.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=div_id)
        )  # plotly.js inlined once: the file opens offline
    gap_cols = [
        ("freq", "freq", None),
        ("period", "period", None),
        ("exporter_iso3", "exporter", country),
        ("importer_iso3", "importer", country),
        ("hs6", "HS6", product),
        ("status", "status", None),
        ("export_value_usd", "declared export USD", fmt_usd),
        ("import_value_fob_usd", "mirror import FOB USD", fmt_usd),
        ("gap_usd", "gap USD", fmt_usd),
        ("gap_pct", "gap", fmt_pct),
        ("tolerance_pct", "tolerance %", None),
        ("waiver", "waiver", None),
    ]
    expl_cols = [
        ("label", "explanation", None),
        ("status", "status", None),
        ("exporter_iso3", "exporter", country),
        ("importer_iso3", "importer", country),
        ("hs6", "HS6", product),
        ("first_period", "from", None),
        ("last_period", "to", None),
        ("export_value_usd", "declared export USD", fmt_usd),
        ("import_value_fob_usd", "mirror import FOB USD", fmt_usd),
        ("gap_usd", "gap USD", fmt_usd),
    ]
    reasons: dict[str, str] = {}
    totals: dict[str, list[float]] = {}
    for row in data.explanations:
        if row.get("explanation"):
            reasons[row["label"]] = row["explanation"]
        total = totals.setdefault(row["label"], [0.0, 0.0])
        total[0] += row["export_value_usd"] or 0
        total[1] += row["import_value_fob_usd"] or 0
    explained_html = "".join(
        f"<p><b>{html.escape(str(label))}</b>: {html.escape(reasons.get(label, ''))}<br>"
        f"<span class='muted'>all years, all pairs of this explanation: declared export "
        f"{fmt_usd(t[0])} USD vs mirror import (FOB) {fmt_usd(t[1])} USD, gap "
        f"{fmt_usd(t[1] - t[0])} USD"
        + (f" ({fmt_pct(100 * (t[1] - t[0]) / max(t))})" if max(t) else "")
        + "</span></p>"
        for label, t in totals.items()
    )
    freq_cols = [
        ("freq", "freq", None),
        ("flows", "flows", None),
        ("compared_value_usd", "compared value USD", fmt_usd),
        ("share_pct", "value in tolerance", lambda v: fmt_pct(v, False)),
        ("net_gap_usd", "net gap USD", fmt_usd),
    ]
    by_freq = [r | {"share_pct": 100 * (r["share_in_tolerance"] or 0)} for r in data.by_freq]
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>mirror — mirror trade statistics report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Mirror trade statistics</h1>",
        f"<p class='muted'>Generated {data.generated_at} from {html.escape(data.source)}. "
        + " ".join(html.escape(n) for n in data.notes)
        + "</p>",
        "<div class='cards'>"
        + "".join(
            f"<div class='card'><div class='v'>{html.escape(v)}</div>"
            f"<div class='l'>{html.escape(label)}</div></div>"
            for v, label in cards
        )
        + "</div>",
        _table(by_freq, freq_cols),
        "<h2>Biggest unexplained gaps</h2>",
        "<p class='muted'>Flows declared by both sides whose gap exceeds the mart's tolerance "
        "(annual first, by absolute gap). A waiver marks a known, accepted case.</p>",
        _table(data.biggest_gaps, gap_cols),
        "<h2>Explanations by corridor</h2>",
        "<p class='muted'>Annual flows a corridor, a waiver or a modelled explanation "
        "accounts for, grouped by explanation.</p>",
        explained_html,
        _table(data.explanations, expl_cols),
        "<h2>Charts</h2>",
        *charts,
        "<h2>Check results</h2>",
        checks_html,
        "<h2>Statuses</h2>",
        "<p class='muted'>Every status of the mirror table (expectations/statuses.yml gives "
        "its class and meaning; a status the data has and the file does not is shown too). "
        "Value: the larger declaration of each annual flow.</p>",
        _table(
            data.statuses,
            [
                ("status", "status", None),
                ("class", "class", None),
                ("meaning", "meaning", None),
                ("annual_flows", "annual flows", None),
                ("monthly_flows", "monthly flows", None),
                ("annual_value_usd", "annual value USD", fmt_usd),
            ],
        ),
        "<h2>Findings by status</h2>",
        "<p class='muted'>The largest flows of every status that is not a plain agreement "
        "(annual first), with the reason the mart gives.</p>",
        *(
            f"<h3>{html.escape(status)}</h3>"
            + _table(
                rows,
                [
                    ("freq", "freq", None),
                    ("period", "period", None),
                    ("exporter_iso3", "exporter", country),
                    ("importer_iso3", "importer", country),
                    ("hs6", "HS6", product),
                    ("export_value_usd", "declared export USD", fmt_usd),
                    ("import_value_fob_usd", "mirror import FOB USD", fmt_usd),
                    ("gap_pct", "gap", fmt_pct),
                    ("reason", "reason", None),
                ],
            )
            for status, rows in data.findings.items()
        ),
        "</body></html>",
    ]
    return "\n".join(parts)


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
