"""The report's data: the report tables (``report.rpt_*``) read-only, with the policy of
``expectations/`` applied as they are read.

Every aggregate the page shows is a dbt model of the report layer (``report.rpt_*``,
``dbt/models/report``: tested and documented there), built from the marts on every run. What
this module adds is the policy that lives in ``expectations/`` rather than in the warehouse,
applied as the tables are read: the class of each status (``statuses.yml``; a status the file
does not know is shown too) and the unexpired waivers, which expire by date. Codes get their
names from ``report.rpt_code_names``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from dagster_project.ingest.sql import table_exists
from dagster_project.quality.suites import StatusVocabulary, Suite, load_suites, load_vocabulary
from dagster_project.resources import connect
from dagster_project.settings import EXPECTATIONS_DIR

SCHEMA = "report"  # dbt_project.yml: models/report -> schema report
BIGGEST_GAPS = 15  # rows of the list of biggest unexplained gaps


class ReportSourceError(RuntimeError):
    """The warehouse has no report tables: the message says what to run."""


@dataclass
class ReportData:
    headline: dict[str, Any]
    by_freq: list[dict[str, Any]]
    status_counts: list[dict[str, Any]]
    biggest_gaps: list[dict[str, Any]]
    explanations: list[dict[str, Any]]
    checks: list[dict[str, Any]]
    chart_series: list[dict[str, Any]]
    gap_bins: list[dict[str, Any]]  # freq, status, bin_start, bin_width, flows
    generated_at: str
    source: str
    notes: list[str] = field(default_factory=list)
    charts: list[dict[str, Any]] = field(default_factory=list)  # subject + its series
    statuses: list[dict[str, Any]] = field(default_factory=list)  # one row per status
    findings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # status -> rows
    countries: dict[str, str] = field(default_factory=dict)  # iso3 -> name
    products: dict[str, str] = field(default_factory=dict)  # hs6 -> description


@dataclass(frozen=True)
class Policy:
    """What ``expectations/`` says on ``today``: each status's class and meaning, the mirror
    suite's unexpired waivers and its corridors (their descriptions)."""

    vocabulary: StatusVocabulary
    suite: Suite | None
    today: dt.date

    @classmethod
    def load(cls, folder: Path, today: dt.date) -> Policy:
        suite = next((s for s in load_suites(folder) if s.waivers or s.tolerances.rules), None)
        return cls(load_vocabulary(folder / "statuses.yml"), suite, today)

    def statuses(self, *classes: str) -> set[str]:
        return set(self.vocabulary.of_class(*classes))

    @property
    def waived_sql(self) -> str:
        """True for a row an unexpired waiver covers (values are pattern-validated)."""
        return self.suite.waived_sql(self.today) if self.suite else "false"

    @property
    def waiver_sql(self) -> str:
        """The id of the unexpired waiver that covers the row, else null."""
        active = self.suite.active_waivers(self.today) if self.suite else []
        if not active:
            return "null"
        cases = " ".join(f"when {w.sql_condition()} then '{w.id}'" for w in active)
        return f"case {cases} end"

    def explanation(self, row: dict[str, Any]) -> str:
        """The sentence behind an explanation: the corridor's route, the waiver's reason, else
        the meaning of the status."""
        suite = self.suite
        if row["kind"] == "corridor":
            corridor = next(
                (c for c in (suite.tolerances.corridors if suite else ()) if c.id == row["label"]),
                None,
            )
            return row.get("corridor_route") or (corridor.description if corridor else "")
        if row["kind"] == "waiver":
            waivers = suite.waivers if suite else ()
            return next((w.reason for w in waivers if w.id == row["label"]), "")
        return self.vocabulary.meanings.get(row["label"], "")


def _rows(con: Any, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _open(duckdb_path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a warehouse that has the report tables."""
    con = connect(duckdb_path, read_only=True)
    if not table_exists(con, f"{SCHEMA}.rpt_status_summary"):
        con.close()
        raise ReportSourceError(
            f"{duckdb_path} has no report tables ({SCHEMA}.rpt_*): run `mirror run` to build "
            "them (the published copy has the marts only)"
        )
    return con


def collect(
    duckdb_path: Path,
    *,
    results_path: Path | None = None,
    expectations_dir: Path = EXPECTATIONS_DIR,
    today: dt.date | None = None,
) -> ReportData:
    """Every number of the report, from the report tables (read-only) and the last check
    results, with the classes and waivers of ``expectations_dir`` as of ``today``."""
    policy = Policy.load(expectations_dir, today or dt.date.today())
    con = _open(duckdb_path)
    try:
        summary = _rows(con, f"select * from {SCHEMA}.rpt_status_summary order by freq, status")
        statuses = _status_table(summary, policy.vocabulary)
        countries, products = _names(con)
        charts = _charts(con)
        data = ReportData(
            headline=_headline(con, summary, policy),
            by_freq=_by_freq(summary, policy),
            status_counts=[{k: r[k] for k in ("freq", "status", "flows")} for r in summary],
            biggest_gaps=_biggest_gaps(con, policy),
            explanations=_explanations(con, policy),
            checks=[],
            chart_series=[r for c in charts for r in c["series"]],
            gap_bins=_rows(con, f"select * from {SCHEMA}.rpt_gap_distribution order by all"),
            generated_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            source=str(duckdb_path),
            charts=charts,
            statuses=statuses,
            findings=_findings(con, statuses),
            countries=countries,
            products=products,
        )
    finally:
        con.close()
    data.checks, data.notes = _check_results(results_path)
    return data


def _headline(con: Any, summary: list[dict[str, Any]], policy: Policy) -> dict[str, Any]:
    """Coverage, flows by class, and the unexplained gaps split by whether a waiver covers them."""
    coverage = _rows(con, f"select * from {SCHEMA}.rpt_coverage")[0]
    breaches = _rows(
        con,
        f"""
        select count(*) filter (where not {policy.waived_sql}) as unexplained_breaches,
               count(*) filter (where {policy.waived_sql}) as waived_breaches
        from {SCHEMA}.rpt_unexplained_gaps
        """,
    )[0]
    compared, explained = policy.statuses("compared"), policy.statuses("explained")
    return coverage | {
        "compared_flows": sum(r["flows"] for r in summary if r["status"] in compared),
        "explained_flows": sum(r["flows"] for r in summary if r["status"] in explained),
        **breaches,
    }


def _sum(rows: Iterable[dict[str, Any]], key: str) -> float | None:
    """Like SQL's sum: None when there is nothing to add."""
    values = [r[key] for r in rows]
    return sum(values) if values else None


def _by_freq(summary: list[dict[str, Any]], policy: Policy) -> list[dict[str, Any]]:
    """Per frequency: flows, and of the compared statuses the value, the share of it within
    tolerance and the net gap."""
    compared = policy.statuses("compared")
    table = []
    for freq in sorted({r["freq"] for r in summary}):
        rows = [r for r in summary if r["freq"] == freq]
        judged = [r for r in rows if r["status"] in compared]
        value = _sum(judged, "value_usd")
        within = _sum(judged, "value_within_tolerance_usd")
        table.append(
            {
                "freq": freq,
                "flows": sum(r["flows"] for r in rows),
                "compared_value_usd": value,
                "share_in_tolerance": within / value if value and within is not None else None,
                "net_gap_usd": _sum(judged, "net_gap_usd"),
            }
        )
    return table


def _status_table(summary: list[dict[str, Any]], voc: StatusVocabulary) -> list[dict[str, Any]]:
    """One row per status (the vocabulary's order, then any other the data has): class,
    meaning, flows by frequency, annual value. New statuses show without code changes."""
    present = {r["status"] for r in summary}
    order = [s for s in voc.classes if s in present] + sorted(present - set(voc.classes))
    table = []
    for status in order:
        by_freq = {r["freq"]: r for r in summary if r["status"] == status}
        table.append(
            {
                "status": status,
                "annual_flows": by_freq.get("A", {}).get("flows", 0),
                "monthly_flows": by_freq.get("M", {}).get("flows", 0),
                "annual_value_usd": by_freq.get("A", {}).get("value_usd"),
                "class": voc.classes.get(status, "not in statuses.yml"),
                "meaning": voc.meanings.get(status, ""),
            }
        )
    return table


def _biggest_gaps(con: Any, policy: Policy) -> list[dict[str, Any]]:
    return _rows(
        con,
        f"""
        select freq, period, exporter_iso3, importer_iso3, hs6, status, export_value_usd,
               import_value_fob_usd, gap_usd, gap_pct, tolerance_pct,
               {policy.waiver_sql} as waiver
        from {SCHEMA}.rpt_unexplained_gaps order by gap_rank limit {BIGGEST_GAPS}
        """,
    )


_EXPLANATION_COLUMNS = (
    "status, exporter_iso3, importer_iso3, hs6, years, first_period, last_period, "
    "export_value_usd, import_value_fob_usd, gap_usd"
)


def _explanations(con: Any, policy: Policy) -> list[dict[str, Any]]:
    """What the corridors and the modelled explanations account for (rpt_explanations), and
    the unexplained annual gaps outside corridors an unexpired waiver accepts, by waiver."""
    rows = _rows(
        con,
        f"""
        select explained_by as label, explained_by_kind as kind, corridor_route,
               {_EXPLANATION_COLUMNS}
        from {SCHEMA}.rpt_explanations
        """,
    )
    if policy.waived_sql != "false":
        rows += _rows(
            con,
            f"""
            select {policy.waiver_sql} as label, 'waiver' as kind, null as corridor_route,
                   status, exporter_iso3, importer_iso3, hs6, count(*) as years,
                   min(period) as first_period, max(period) as last_period,
                   sum(export_value_usd) as export_value_usd,
                   sum(import_value_fob_usd) as import_value_fob_usd,
                   sum(coalesce(import_value_fob_usd, 0)) - sum(coalesce(export_value_usd, 0))
                     as gap_usd
            from {SCHEMA}.rpt_unexplained_gaps
            where freq = 'A' and corridor_id is null and {policy.waived_sql}
            group by all
            """,
        )
    for row in rows:
        row["meaning"] = policy.vocabulary.meanings.get(row["status"], "")
        row["explanation"] = policy.explanation(row)
    key = ("label", "status", "exporter_iso3", "importer_iso3", "hs6")
    return sorted(rows, key=lambda r: tuple(r[k] for k in key))


def _charts(con: Any) -> list[dict[str, Any]]:
    """The declared-vs-mirror charts (rpt_chart_series), each subject with its series."""
    charts: dict[int, dict[str, Any]] = {}
    for row in _rows(
        con, f"select * from {SCHEMA}.rpt_chart_series order by chart_rank, period, importer_iso3"
    ):
        chart = charts.setdefault(
            row["chart_rank"],
            {
                "corridor_id": row["corridor_id"],
                "freq": row["freq"],
                "exporter_iso3": row["exporter_iso3"],
                "hs6": row["hs6"],
                "weight": row["subject_gap_usd"],
                "importers": [],
                "series": [],
            },
        )
        if row["importer_iso3"] not in chart["importers"]:
            chart["importers"].append(row["importer_iso3"])
        chart["series"].append(
            {k: row[k] for k in ("period", "importer_iso3", "export_value_usd")}
            | {"import_value_fob_usd": row["import_value_fob_usd"]}
        )
    for chart in charts.values():
        chart["importers"].sort()
    return list(charts.values())


def _findings(con: Any, statuses: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The largest flows of every status that is not plain agreement (class compared), and of
    the breaches, in the order of the status table."""
    shown = [r["status"] for r in statuses if r["class"] != "compared" or r["status"] == "breach"]
    rows = _rows(
        con,
        f"""
        select status, freq, period, exporter_iso3, importer_iso3, hs6, export_value_usd,
               import_value_fob_usd, gap_pct, status_reason as reason
        from {SCHEMA}.rpt_status_findings
        where status in (select unnest(?)) order by status, finding_rank
        """,
        [shown],
    )
    findings: dict[str, list[dict[str, Any]]] = {status: [] for status in shown}
    for row in rows:
        findings[row.pop("status")].append(row)
    return findings


def _names(con: Any) -> tuple[dict[str, str], dict[str, str]]:
    """ISO-3 -> country name, HS6 -> description (a code without a row: no name)."""
    names: dict[str, dict[str, str]] = {"country": {}, "product": {}}
    sql = f"select code_kind, code, code_name from {SCHEMA}.rpt_code_names"
    for kind, code, name in con.execute(f"{sql} where code_name is not null").fetchall():
        names[kind][code] = name
    return names["country"], names["product"]


def _check_results(results_path: Path | None) -> tuple[list[dict[str, Any]], list[str]]:
    """The last run's check results (written by the checks), and a note saying whose."""
    if not (results_path and results_path.exists()):
        return [], ["No check results found (run `mirror run` first)."]
    document = json.loads(results_path.read_text(encoding="utf-8"))
    note = f"Check results of run {document.get('run_id')} at {document.get('evaluated_at')}."
    return document.get("checks", []), [note]
