"""The report's page: one self-contained HTML file from :class:`ReportData`, rendered with the
Jinja2 templates of ``templates/``; plotly.js is inlined once (``include_plotlyjs=True``), so the
file opens offline."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from dagster_project.quality.offenders import scaled
from dagster_project.report.tables import ReportData

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


def fmt_usd(value: Any) -> str:
    return "-" if value is None else scaled(value)


def fmt_pct(value: Any, signed: bool = True) -> str:
    if value is None:
        return "-"
    return f"{float(value):+.1f} %" if signed else f"{float(value):.1f} %"


def named(code: Any, names: dict[str, str]) -> str:
    """``KAZ Kazakhstan``: a code with its name when the dims have one."""
    if code is None:
        return "-"
    name = names.get(str(code))
    return f"{code} {name}" if name else str(code)


def _shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]  # fmt: skip


def _chart_title(chart: dict[str, Any], data: ReportData) -> str:
    exporter = named(chart["exporter_iso3"], data.countries)
    product = _shortened(named(chart["hs6"], data.products), 60)
    why = f"corridor {chart['corridor_id']}" if chart.get("corridor_id") else "largest gaps"
    return (
        f"{exporter}, HS {product} ({why}, {'annual' if chart['freq'] == 'A' else 'monthly'}): "
        "left bar = what the exporter declares, hatched right bar = what each importer "
        "declares (FOB)"
    )


def _flow_figure(chart: dict[str, Any], data: ReportData) -> Any:
    """Stacked bars per period: the exporter's declarations to each importer (left) against
    each importer's own (hatched, right)."""
    import plotly.graph_objects as go

    series = chart["series"]
    periods = sorted({r["period"] for r in series})
    fig = go.Figure()
    for i, importer in enumerate(sorted({r["importer_iso3"] for r in series})):
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
    return fig


def _gap_figure(bins: list[dict[str, Any]]) -> Any:
    """The gap distribution: flows per bin, stacked by frequency and status, log scale."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for freq in sorted({r["freq"] for r in bins}):
        for status in sorted({r["status"] for r in bins if r["freq"] == freq}):
            group = [r for r in bins if r["freq"] == freq and r["status"] == status]
            fig.add_bar(
                x=[float(r["bin_start"]) + float(r["bin_width"]) / 2 for r in group],
                y=[r["flows"] for r in group],
                width=float(group[0]["bin_width"]),  # one width for all bins
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
    return fig


def _charts_html(data: ReportData) -> list[Markup]:
    """Every chart as an HTML fragment; plotly.js is inlined in the first: the file opens
    offline."""
    figures = [
        (f"chart-flow-{i}", _flow_figure(chart, data))
        for i, chart in enumerate(data.charts)
        if chart["series"]
    ]
    if data.gap_bins:
        figures.append(("chart-gaps", _gap_figure(data.gap_bins)))
    return [
        Markup(fig.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=div_id))
        for i, (div_id, fig) in enumerate(figures)
    ]


def _cards(data: ReportData) -> list[tuple[str, str]]:
    h = data.headline
    annual = next((r for r in data.by_freq if r["freq"] == "A"), {})
    return [
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


def _explanation_totals(data: ReportData) -> list[dict[str, Any]]:
    """Per explanation, all years and pairs together: declared export, mirror import, gap."""
    totals: dict[str, dict[str, Any]] = {}
    for row in data.explanations:
        total = totals.setdefault(
            row["label"], {"label": row["label"], "reason": "", "export": 0.0, "import": 0.0}
        )
        total["reason"] = row.get("explanation") or total["reason"]
        total["export"] += row["export_value_usd"] or 0
        total["import"] += row["import_value_fob_usd"] or 0
    for total in totals.values():
        total["gap"] = total["import"] - total["export"]
        larger = max(total["export"], total["import"])
        total["gap_pct"] = 100 * total["gap"] / larger if larger else None
    return list(totals.values())


def _data_docs(data: ReportData) -> str | None:
    """Where the GX Data Docs index is, from the check results (None without them)."""
    docs = next((c.get("docs_page") for c in data.checks if c.get("docs_page")), None)
    return str(Path(docs).parents[4] / "index.html") if docs else None


def _cell(value: Any, kind: str | None, data: ReportData) -> str:
    """A table cell's text: ``kind`` says how the column is formatted."""
    if kind == "usd":
        return fmt_usd(value)
    if kind == "pct":
        return fmt_pct(value)
    if kind == "share":
        return fmt_pct(value, False)
    if kind == "country":
        return named(value, data.countries)
    if kind == "product":
        return _shortened(named(value, data.products), 70)
    if kind == "passed":
        return "PASSED" if value else "FAILED"
    return "-" if value is None else str(value)


@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(data: ReportData) -> str:
    """The page: ``templates/report.html.j2`` with the data and what is derived for display."""
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            data=data,
            cards=_cards(data),
            by_freq=[r | {"share_pct": 100 * (r["share_in_tolerance"] or 0)} for r in data.by_freq],
            explanation_totals=_explanation_totals(data),
            charts=_charts_html(data),
            data_docs=_data_docs(data),
            cell=lambda value, kind: _cell(value, kind, data),
            fmt_usd=fmt_usd,
            fmt_pct=fmt_pct,
        )
    )
