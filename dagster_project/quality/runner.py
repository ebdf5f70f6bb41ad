"""Run one suite against the warehouse, in the database, and summarise the outcome."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster_project.quality.gx_duckdb import read_only_datasource
from dagster_project.quality.suites import Suite, to_gx_expectation
from dagster_project.resources import connect

# Shown with every mirror-table result: the worst breaches, waived or not.
_TOP_BREACHES_SQL = """
select freq, period, exporter_iso3, importer_iso3, hs6,
       round(export_value_usd, 2) as declared_export_usd,
       round(import_value_fob_usd, 2) as mirror_import_fob_usd,
       round(gap_usd, 2) as gap_usd, round(gap_pct, 2) as gap_pct,
       {waived} as waived
from {table}
where status = 'breach'
order by abs(gap_usd) desc nulls last, freq, period, exporter_iso3, importer_iso3, hs6
limit ?
"""
_MIRROR_COLUMNS = {"status", "gap_usd", "gap_pct", "export_value_usd", "import_value_fob_usd"}


@dataclass(frozen=True)
class ExpectationOutcome:
    name: str
    type: str
    success: bool
    observed: Any
    unexpected_count: int | None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "success": self.success,
            "observed": self.observed,
            "unexpected_count": self.unexpected_count,
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

    @property
    def success(self) -> bool:
        return all(o.success for o in self.outcomes)

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def one_line(self) -> str:
        state = "passed" if self.success else "FAILED"
        text = (
            f"{self.suite.name} [{self.suite.severity}] {state}: "
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
            text += "; failed: " + ", ".join(o.name for o in self.failed)
        expired = self.suite.expired_waivers(self.evaluated_on)
        if expired:
            text += "; EXPIRED waivers: " + ", ".join(w.id for w in expired)
        return text


def _observed(result: Any) -> tuple[Any, int | None]:
    details = result.result or {}
    observed = details.get("observed_value")
    unexpected = details.get("unexpected_count")
    if observed is None and unexpected is not None:
        observed = f"{unexpected} unexpected"
    if isinstance(observed, float):
        observed = round(observed, 6)
    if observed is not None and not isinstance(observed, (int, float, str, bool)):
        observed = str(observed)
    return observed, unexpected


def run_suite(
    suite: Suite, duckdb_path: Path, *, today: dt.date | None = None, top_n: int = 10
) -> SuiteOutcome:
    """Validate ``suite`` on its table (read-only, in-database) and collect context rows."""
    today = today or dt.date.today()
    outcomes: list[ExpectationOutcome] = []
    with read_only_datasource(duckdb_path) as ds:
        asset = ds.add_table_asset(
            name=suite.table, table_name=suite.table, schema_name=suite.schema
        )
        batch = asset.add_batch_definition_whole_table("whole table").get_batch()
        for spec in suite.expectations:
            result = batch.validate(to_gx_expectation(spec, suite, today))
            exc = result.exception_info or {}
            raised = exc.get("raised_exception") if isinstance(exc, dict) else False
            if not raised and isinstance(exc, dict):
                # GX nests metric errors one level down, keyed by metric id
                nested = [
                    v for v in exc.values() if isinstance(v, dict) and v.get("raised_exception")
                ]
                if nested:
                    raised, exc = True, nested[0]
            observed, unexpected = _observed(result)
            outcomes.append(
                ExpectationOutcome(
                    name=spec.name,
                    type=spec.type,
                    success=bool(result.success) and not raised,
                    observed=observed,
                    unexpected_count=unexpected,
                    error=(str(exc.get("exception_message") or "error")[:300] if raised else None),
                )
            )
    con = connect(duckdb_path, read_only=True)
    try:
        table = suite.qualified_table
        row_count = con.execute(f"select count(*) from {table}").fetchone()[0]
        columns = {r[0] for r in con.execute(f"describe {table}").fetchall()}
        breaches = waived = 0
        top: list[dict[str, Any]] = []
        hits: dict[str, int] = {}
        if columns >= _MIRROR_COLUMNS:
            waived_sql = suite.waived_sql(today)
            breaches, waived = con.execute(
                f"select count(*), count(*) filter (where {waived_sql}) "
                f"from {table} where status = 'breach'"
            ).fetchone()
            cur = con.execute(
                _TOP_BREACHES_SQL.replace("{waived}", waived_sql).replace("{table}", table), [top_n]
            )
            names = [d[0] for d in cur.description]
            top = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
            for waiver in suite.active_waivers(today):
                hits[waiver.id] = con.execute(
                    f"select count(*) from {table} "
                    f"where status = 'breach' and {waiver.sql_condition()}"
                ).fetchone()[0]
    finally:
        con.close()
    return SuiteOutcome(
        suite=suite,
        evaluated_on=today,
        outcomes=tuple(outcomes),
        row_count=row_count,
        breaches=breaches,
        waived_breaches=waived,
        top_breaches=tuple(top),
        waiver_hits=hits,
    )
