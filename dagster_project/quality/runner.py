"""Run suites against the warehouse, in the database, and summarise the outcome.

One GX session validates every suite (one ``ValidationDefinition`` each) read-only on the
DuckDB file; GX issues aggregate SQL. The offending rows shown in Dagster and in alerts (the
worst N, with the previous period's gap) and a fingerprint of *all* offending keys are computed
by DuckDB too: no fact table is pulled into Python. Data Docs are built into ``docs_dir``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster_project.quality import lineage
from dagster_project.quality.data_docs import bundle_static_assets
from dagster_project.quality.gx_duckdb import gx_session
from dagster_project.quality.suites import ExpectationSpec, Suite, to_gx_expectation
from dagster_project.resources import connect

_KEYS = ("freq", "period", "exporter_iso3", "importer_iso3", "hs6")
_MIRROR_COLUMNS = {"status", "gap_usd", "gap_pct", "export_value_usd", "import_value_fob_usd"}
# The mart's column naming the corridor a flow was attributed to: a corridor rule matches it
# as well as the corridor's pairs (a table without the column: the pairs alone).
CORRIDOR_COLUMN = "corridor_id"

# Columns shown with an offending row when the query has them: the tolerance that judged it,
# and the transit corridor applied to its pair (a breach it did not close: the alert says what
# the corridor attributed, so the reader knows which route's declarations are missing).
_SHOWN = (
    "check_tolerance_pct",
    "tolerance_rule",
    "is_waived",
    CORRIDOR_COLUMN,
    "corridor_source",
    "corridor_declared_partner_iso3",
    "corridor_allocation_share",
)

_OFFENDING = "temp.main.mirror_offending_rows"  # one failed expectation's rows at a time

# The worst offending fact rows of a query, with the same flow's gap one period earlier: the
# worst N are chosen first, so that only they are joined with the fact table (joining every
# offending row cost 0.4 s a query on the 5M warehouse).
_OFFENDERS_SQL = """
with q as (
    select * from ({query})
    order by abs(gap_usd) desc nulls last, freq, period, exporter_iso3, importer_iso3, hs6
    limit {limit}
)
select q.freq, q.period, q.exporter_iso3, q.importer_iso3, q.hs6,
       round(q.export_value_usd, 2) as declared_export_usd,
       round(q.import_value_fob_usd, 2) as mirror_import_fob_usd,
       round(q.gap_usd, 2) as gap_usd, round(q.gap_pct, 2) as gap_pct,
       {extra}
       p.period as previous_period,
       round(p.gap_usd, 2) as previous_gap_usd, round(p.gap_pct, 2) as previous_gap_pct
from q
left join {table} as p
  on p.freq = q.freq and p.exporter_iso3 = q.exporter_iso3
 and p.importer_iso3 = q.importer_iso3 and p.hs6 = q.hs6
 and p.period_start = q.period_start - (case when q.freq = 'A' then interval 12 month
                                             else interval 1 month end)
order by abs(q.gap_usd) desc nulls last, q.freq, q.period, q.exporter_iso3, q.importer_iso3,
         q.hs6
"""


@dataclass(frozen=True)
class ExpectationOutcome:
    name: str
    type: str
    success: bool
    observed: Any
    unexpected_count: int | None
    error: str | None = None
    severity: str = "error"
    description: str | None = None
    evaluated_count: int | None = None
    offenders: tuple[dict[str, Any], ...] = ()
    fingerprint: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "severity": self.severity,
            "success": self.success,
            "evaluated": self.evaluated_count,
            "failed": self.unexpected_count,
            "observed": self.observed,
            **({"error": self.error} if self.error else {}),
        }


@dataclass(frozen=True)
class SuiteOutcome:
    suite: Suite
    evaluated_on: dt.date
    outcomes: tuple[ExpectationOutcome, ...]
    row_count: int
    breaches: int = 0
    waived_breaches: int = 0
    top_breaches: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    waiver_hits: dict[str, int] = field(default_factory=dict)  # active waiver id -> breach rows
    docs_page: str | None = None  # Data Docs page of this validation (file path)
    severity: str | None = None  # set on a per-severity view (see ``for_severity``)

    @property
    def success(self) -> bool:
        return all(o.success for o in self.outcomes)

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    @property
    def check_name(self) -> str:
        return self.suite.check_name(self.severity or self.suite.severity)

    def for_severity(self, severity: str) -> SuiteOutcome:
        """The expectations of one severity: what one Dagster check reports."""
        return SuiteOutcome(
            suite=self.suite,
            evaluated_on=self.evaluated_on,
            outcomes=tuple(o for o in self.outcomes if o.severity == severity),
            row_count=self.row_count,
            breaches=self.breaches,
            waived_breaches=self.waived_breaches,
            top_breaches=self.top_breaches,
            waiver_hits=self.waiver_hits,
            docs_page=self.docs_page,
            severity=severity,
        )

    def fingerprint(self) -> str:
        """Identifies *what* fails (expectations and their offending keys), not when."""
        parts = sorted(f"{o.name}:{o.fingerprint}" for o in self.failed)
        return hashlib.sha256(f"{self.check_name}|{'|'.join(parts)}".encode()).hexdigest()[:16]

    def one_line(self) -> str:
        state = "passed" if self.success else "FAILED"
        severity = self.severity or self.suite.severity
        text = (
            f"{self.suite.name} [{severity}] {state}: "
            f"{len(self.outcomes) - len(self.failed)}/{len(self.outcomes)} expectations"
        )
        if self.breaches:
            text += f"; {self.breaches} breach rows, {self.waived_breaches} waived"
        if self.waiver_hits:
            text += (
                " ("
                + ", ".join(
                    f"{w.id}: {self.waiver_hits.get(w.id, 0)} rows, expires {w.expires}"
                    for w in self.suite.active_waivers(self.evaluated_on)
                )
                + ")"
            )
        if self.failed:
            text += "; failed: " + ", ".join(_failed_text(o) for o in self.failed)
        expired = self.suite.expired_waivers(self.evaluated_on)
        if expired:
            text += "; EXPIRED waivers: " + ", ".join(w.id for w in expired)
        return text


def _failed_text(outcome: ExpectationOutcome) -> str:
    """A failed expectation in the summary: its unexpected rows, else what GX observed (an
    empty table's row count says ``observed 0``, which the name alone did not)."""
    if outcome.unexpected_count:
        return f"{outcome.name} ({outcome.unexpected_count})"
    if outcome.observed is not None:
        return f"{outcome.name} (observed {outcome.observed})"
    return outcome.name


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, (int, str, bool)) or value is None:
        return value
    return str(value)


def _observed(result: Any) -> tuple[Any, int | None]:
    details = result.result or {}
    observed = details.get("observed_value")
    unexpected = details.get("unexpected_count")
    if unexpected is None and isinstance(observed, int) and not isinstance(observed, bool):
        unexpected = observed if result.expectation_config.type.startswith("unexpected") else None
    if observed is None and unexpected is not None:
        observed = f"{unexpected} unexpected"
    return _plain(observed), unexpected


def _error_of(result: Any) -> str | None:
    exc = result.exception_info or {}
    if not isinstance(exc, dict):
        return None
    if exc.get("raised_exception"):
        return str(exc.get("exception_message") or "error")[:300]
    # GX nests metric errors one level down, keyed by metric id
    for value in exc.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message") or "error")[:300]
    return None


def _rows(cur: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cur.description]
    return [{k: _plain(v) for k, v in zip(names, row, strict=True)} for row in cur.fetchall()]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()[:16]


class _Database:
    """Read-only DuckDB queries of one suite (counts, offenders, fingerprints)."""

    def __init__(self, con: Any, suite: Suite, today: dt.date, corridor_column: str | None):
        self.con, self.suite, self.today = con, suite, today
        self.table = suite.qualified_table
        self.corridor_column = corridor_column
        # offending mirror rows still without their landing files (attach_source_files)
        self.awaiting_files: list[dict[str, Any]] = []

    def attach_source_files(self) -> None:
        """Give every offending mirror row shown the landing files a person opens to check it:
        one lookup for all the suite's rows (a lookup per failed expectation cost 0.13 s each
        at 5M, and the worst breaches are mostly the same rows as the worst unwaived ones)."""
        rows, self.awaiting_files = self.awaiting_files, []
        distinct = {tuple(r.get(k) for k in _KEYS): r for r in rows}
        found = dict(
            zip(distinct, lineage.source_files(self.con, list(distinct.values())), strict=True)
        )
        for row in rows:
            row["source_files"] = found[tuple(row.get(k) for k in _KEYS)]

    def render(self, query: str) -> str:
        rendered = self.suite.render_query(query, self.today, corridor_column=self.corridor_column)
        return rendered.replace("{batch}", self.table).replace("{{", "{").replace("}}", "}")

    def count(self, query: str) -> int:
        return int(self.con.execute(f"select count(*) from ({self.render(query)})").fetchone()[0])

    def offenders(self, query: str, limit: int) -> tuple[list[dict[str, Any]], str]:
        """The worst ``limit`` rows ``query`` returns, and a fingerprint of all of them.

        The fingerprint does not depend on the rows' order: the count and the XOR of each
        row's MD5 (of its fact keys, or of the whole row for a query without them). A sorted
        concatenation of every key said the same and cost a sort of every offending row."""
        sql = self.render(query)
        columns = [d[0] for d in self.con.execute(f"select * from ({sql}) limit 0").description]
        if set(_KEYS) <= set(columns) and {*_MIRROR_COLUMNS, "period_start"} <= set(columns):
            shown = [c for c in _SHOWN if c in columns]
            # the query runs once: the columns the worst rows and the fingerprint read are kept
            # in a temporary table (the read-only file is not written), which both then scan
            # (running the query twice cost 0.15-0.3 s a failed expectation at 5M)
            kept = ", ".join(
                dict.fromkeys([*_KEYS, *sorted(_MIRROR_COLUMNS), "period_start", *shown])
            )
            self.con.execute(
                f"create or replace temp table {_OFFENDING} as select {kept} from ({sql})"
            )
            sql = f"select * from {_OFFENDING}"
            extra = "".join(f"q.{c}, " for c in shown if c != "is_waived")
            extra += "q.is_waived as waived, " if "is_waived" in shown else ""
            offenders = _OFFENDERS_SQL.format(
                extra=extra, query=sql, table=self.table, limit=int(limit)
            )
            rows = _rows(self.con.execute(offenders))
            self.awaiting_files.extend(rows)
            row_text = " || '|' || ".join(f"coalesce(cast({k} as varchar), '')" for k in _KEYS)
        else:
            # in the rows' own order (every column): an unordered limit showed different rows
            # of the same result from run to run (a tie-free order is all that is asked here)
            rows = _rows(self.con.execute(f"select * from ({sql}) order by all limit {int(limit)}"))
            row_text = "cast(q as varchar)"
        count, digest = self.con.execute(
            f"select count(*), bit_xor(md5_number({row_text})) from ({sql}) as q"
        ).fetchone()
        return rows, _md5(f"{count}:{digest or 0}")

    def breach_stats(self, top_n: int) -> tuple[int, int, list[dict[str, Any]], dict[str, int]]:
        flows = self.render("select * from {flows}")
        breaches, waived = self.con.execute(
            f"select count(*), count(*) filter (where is_waived) from ({flows}) where is_breach"
        ).fetchone()
        top, _ = self.offenders("select * from {flows} where is_breach", top_n)
        hits = {
            w.id: self.con.execute(
                f"select count(*) from ({flows}) where is_breach and {w.sql_condition()}"
            ).fetchone()[0]
            for w in self.suite.active_waivers(self.today)
        }
        return int(breaches), int(waived), top, hits


def uses_tolerance(suite: Suite) -> bool:
    return bool(suite.waivers or suite.tolerances.rules) or any(
        "{flows}" in (s.query or "") or "{waived}" in (s.query or "") for s in suite.expectations
    )


def run_suites(
    suites: list[Suite],
    duckdb_path: Path,
    *,
    today: dt.date | None = None,
    top_n: int = 10,
    docs_dir: Path | None = None,
    run_name: str | None = None,
    on_suite: Callable[[str, bool], None] | None = None,
) -> list[SuiteOutcome]:
    """Validate ``suites`` (read-only, in-database) in one GX session; build Data Docs (with
    their CSS/JS bundled: they open offline). ``on_suite(name, success)`` hears of each suite as
    GX finishes it."""
    today = today or dt.date.today()
    targets = _describe_tables(suites, duckdb_path)
    gx_results, docs_pages = _validate_in_gx(
        targets, duckdb_path, today=today, docs_dir=docs_dir, run_name=run_name, on_suite=on_suite
    )
    return _summarise(targets, duckdb_path, gx_results, docs_pages, today=today, top_n=top_n)


@dataclass(frozen=True)
class _Target:
    """A suite and its table's columns, which decide whether its rules may name a corridor and
    whether breach statistics apply."""

    suite: Suite
    columns: frozenset[str]
    corridor_column: str | None


GxResults = dict[str, dict[str, Any]]  # suite name -> expectation name -> GX result


def _describe_tables(suites: list[Suite], duckdb_path: Path) -> list[_Target]:
    """Phase 1: each suite's table columns, read before GX opens the file."""
    con = connect(duckdb_path, read_only=True)
    try:
        targets = []
        for suite in suites:
            described = con.execute(f"describe {suite.qualified_table}").fetchall()
            columns = frozenset(r[0] for r in described)
            corridor_column = CORRIDOR_COLUMN if CORRIDOR_COLUMN in columns else None
            targets.append(_Target(suite, columns, corridor_column))
        return targets
    finally:
        con.close()


def _validate_in_gx(
    targets: list[_Target],
    duckdb_path: Path,
    *,
    today: dt.date,
    docs_dir: Path | None,
    run_name: str | None,
    on_suite: Callable[[str, bool], None] | None,
) -> tuple[GxResults, dict[str, str]]:
    """Phase 2: one GX session validates every suite, then builds the Data Docs; returns the
    GX results and each suite's Data Docs page."""
    gx_results: GxResults = {}
    docs_pages: dict[str, str] = {}
    with gx_session(duckdb_path, docs_dir=docs_dir) as (ctx, ds):
        from great_expectations.core.run_identifier import RunIdentifier

        run_id = RunIdentifier(run_name=run_name or f"mirror-{dt.datetime.now():%Y%m%dT%H%M%S}")
        batches: dict[str, Any] = {}
        for target in targets:
            validation = _gx_validation(ctx, ds, batches, target, today)
            result = validation.run(result_format="SUMMARY", run_id=run_id)
            if on_suite is not None:
                on_suite(target.suite.name, bool(result.success))
            gx_results[target.suite.name] = {
                r.expectation_config.meta.get("name"): r for r in result.results
            }
        if docs_dir is not None:
            docs_pages = _build_data_docs(ctx, docs_dir, targets, run_id.run_name)
    return gx_results, docs_pages


def _gx_validation(
    ctx: Any, ds: Any, batches: dict[str, Any], target: _Target, today: dt.date
) -> Any:
    """The suite as a GX ``ValidationDefinition`` of its table (one batch definition per
    table, shared by the suites of that table through ``batches``)."""
    import great_expectations as gx

    suite = target.suite
    table = suite.qualified_table
    if table not in batches:
        asset = ds.add_table_asset(name=table, table_name=suite.table, schema_name=suite.schema)
        batches[table] = asset.add_batch_definition_whole_table("whole table")
    gx_suite = ctx.suites.add(gx.ExpectationSuite(name=suite.name))
    for spec in suite.expectations:
        gx_suite.add_expectation(
            to_gx_expectation(spec, suite, today, corridor_column=target.corridor_column)
        )
    return ctx.validation_definitions.add(
        gx.ValidationDefinition(name=suite.name, data=batches[table], suite=gx_suite)
    )


def _build_data_docs(
    ctx: Any, docs_dir: Path, targets: list[_Target], run_name: str
) -> dict[str, str]:
    """Data Docs with their CSS/JS bundled; suite name -> the page of this run's validation."""
    ctx.build_data_docs()
    bundle_static_assets(docs_dir)
    docs_pages: dict[str, str] = {}
    for target in targets:
        name = target.suite.name
        pages = sorted((docs_dir / "validations" / name / run_name).glob("*/*.html"))
        if pages:
            docs_pages[name] = str(pages[-1])
    return docs_pages


def _summarise(
    targets: list[_Target],
    duckdb_path: Path,
    gx_results: GxResults,
    docs_pages: dict[str, str],
    *,
    today: dt.date,
    top_n: int,
) -> list[SuiteOutcome]:
    """Phase 3: what GX does not say, asked of DuckDB after GX closed the file: row counts,
    the worst offenders and the fingerprint of all, breach statistics."""
    con = connect(duckdb_path, read_only=True)
    try:
        return [
            _suite_outcome(
                _Database(con, t.suite, today, t.corridor_column),
                t,
                gx_results[t.suite.name],
                docs_pages.get(t.suite.name),
                top_n=top_n,
            )
            for t in targets
        ]
    finally:
        con.close()


def _suite_outcome(
    db: _Database,
    target: _Target,
    results: dict[str, Any],
    docs_page: str | None,
    *,
    top_n: int,
) -> SuiteOutcome:
    suite = target.suite
    row_count = int(db.con.execute(f"select count(*) from {suite.qualified_table}").fetchone()[0])
    expectations = tuple(
        _expectation_outcome(db, spec, results.get(spec.name), row_count, top_n)
        for spec in suite.expectations
    )
    breaches = waived = 0
    top: list[dict[str, Any]] = []
    hits: dict[str, int] = {}
    if target.columns >= _MIRROR_COLUMNS and uses_tolerance(suite):
        breaches, waived, top, hits = db.breach_stats(top_n)
    db.attach_source_files()
    return SuiteOutcome(
        suite=suite,
        evaluated_on=db.today,
        outcomes=expectations,
        row_count=row_count,
        breaches=breaches,
        waived_breaches=waived,
        top_breaches=tuple(top),
        waiver_hits=hits,
        docs_page=docs_page,
    )


def _expectation_outcome(
    db: _Database, spec: ExpectationSpec, result: Any, row_count: int, top_n: int
) -> ExpectationOutcome:
    """GX's verdict on one expectation, with the offenders and fingerprint DuckDB adds."""
    severity = db.suite.severity_of(spec)
    if result is None:
        return ExpectationOutcome(
            spec.name, spec.type, False, None, None, "no result from GX", severity=severity
        )
    error = _error_of(result)
    observed, unexpected = _observed(result)
    success = bool(result.success) and error is None
    evaluated: int | None = (result.result or {}).get("element_count")
    offenders: list[dict[str, Any]] = []
    fingerprint = ""
    if spec.type == "unexpected_rows" and error is None:
        if spec.evaluated_where:
            evaluated = db.count(f"select * from {{flows}} where {spec.evaluated_where}")
        if not success:
            offenders, fingerprint = db.offenders(spec.query or "", top_n)
    elif not success:
        partial = (result.result or {}).get("partial_unexpected_list") or []
        offenders = [{"value": _plain(v)} for v in partial[:top_n]]
        fingerprint = _md5(json.dumps([unexpected, partial], default=str))
    return ExpectationOutcome(
        name=spec.name,
        type=spec.type,
        success=success,
        observed=observed,
        unexpected_count=unexpected,
        error=error,
        severity=severity,
        description=spec.description,
        evaluated_count=row_count if evaluated is None else int(evaluated),
        offenders=tuple(offenders),
        fingerprint=fingerprint or (_md5(error) if error else ""),
    )


def run_suite(
    suite: Suite,
    duckdb_path: Path,
    *,
    today: dt.date | None = None,
    top_n: int = 10,
    docs_dir: Path | None = None,
) -> SuiteOutcome:
    """Validate one suite; see :func:`run_suites`."""
    return run_suites([suite], duckdb_path, today=today, top_n=top_n, docs_dir=docs_dir)[0]


def results_document(outcomes: list[SuiteOutcome], run_id: str | None) -> dict[str, Any]:
    """What the report and alerts read back: one entry per Dagster check (suite x severity)."""
    checks = []
    for outcome in outcomes:
        for severity in outcome.suite.severities:
            view = outcome.for_severity(severity)
            checks.append(
                {
                    "check": view.check_name,
                    "suite": outcome.suite.name,
                    "severity": severity,
                    "passed": view.success,
                    "summary": view.one_line(),
                    "expectations": [o.as_dict() for o in view.outcomes],
                    "offenders": {o.name: list(o.offenders) for o in view.failed},
                    "docs_page": outcome.docs_page,
                }
            )
    return {
        "run_id": run_id,
        "evaluated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "checks": checks,
    }
