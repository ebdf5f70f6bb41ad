"""Alert messages: what broke, why it matters, the worst flows, the change, where to look."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from dagster_project.alerts.channels import Alert
from dagster_project.redaction import redact

WHY = {
    "error": (
        "Blocking check: the run failed and NOTHING was published; BI tools keep the previous "
        "publication until this is fixed, explained (status), tolerated (tolerance rule) or "
        "waived (expectations/*.yml)."
    ),
    "warn": (
        "Warning: the run went on and the marts were published, but these figures look wrong "
        "and may mislead users until someone checks them."
    ),
}


@dataclass(frozen=True)
class CheckEvaluation:
    """One asset check evaluation, as the sensors read it from the event log."""

    asset: str
    check: str
    passed: bool
    severity: str  # error | warn
    metadata: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None

    @property
    def key(self) -> str:
        return f"{self.asset}:{self.check}"

    @property
    def fingerprint(self) -> str:
        given = self.metadata.get("fingerprint")
        if given:
            return str(given)
        names = sorted(str(f.get("expectation")) for f in self.metadata.get("failures") or [])
        return hashlib.sha256(f"{self.key}|{names}".encode()).hexdigest()[:16]


def _usd(value: Any) -> str:
    if value is None:
        return "n/a"
    v = float(value)
    for unit, size in (("bn", 1e9), ("m", 1e6), ("k", 1e3)):
        if abs(v) >= size:
            return f"{v / size:,.2f} {unit} USD"
    return f"{v:,.0f} USD"


def _signed_usd(value: Any) -> str:
    return ("+" if value is not None and float(value) > 0 else "") + _usd(value)


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):+.1f} %"


def offender_line(row: dict[str, Any]) -> str:
    """One offending row, as a sentence a statistician reads."""
    if {"exporter_iso3", "importer_iso3", "hs6"} <= set(row):
        text = (
            f"{row['exporter_iso3']}→{row['importer_iso3']} HS {row['hs6']} "
            f"{row.get('period')} ({row.get('freq')}): declared export "
            f"{_usd(row.get('declared_export_usd'))} vs mirror import (FOB) "
            f"{_usd(row.get('mirror_import_fob_usd'))}, gap {_signed_usd(row.get('gap_usd'))} "
            f"({_pct(row.get('gap_pct'))})"
        )
        if row.get("check_tolerance_pct") is not None:
            text += f", tolerance {float(row['check_tolerance_pct']):g} %"
        if row.get("previous_period"):
            change = None
            if row.get("gap_usd") is not None and row.get("previous_gap_usd") is not None:
                change = float(row["gap_usd"]) - float(row["previous_gap_usd"])
            text += (
                f"; previous period {row['previous_period']}: gap "
                f"{_signed_usd(row.get('previous_gap_usd'))} ({_pct(row.get('previous_gap_pct'))})"
                + (f", change {_signed_usd(change)}" if change is not None else "")
            )
        else:
            text += "; no mirror comparison in the previous period"
        return text
    return ", ".join(f"{k}={v}" for k, v in row.items())


def check_alert(ev: CheckEvaluation, kind: str, docs: str | None = None) -> Alert:
    docs = docs or ev.metadata.get("data_docs_page") or ev.metadata.get("data_docs")
    if kind == "resolved":
        title = f"[mirror] RESOLVED {ev.check} on {ev.asset}"
        body = (
            f"{ev.check} ({ev.severity}) passes again on {ev.asset}.\n"
            f"{ev.metadata.get('summary', '')}\n"
            f"Dagster run: {ev.run_id}\nData Docs: {docs or 'n/a'}"
        )
    else:
        failures = ev.metadata.get("failures") or []
        title = f"[mirror] {ev.severity.upper()} {ev.check} failed on {ev.asset}"
        lines = [
            f"Check {ev.check} ({ev.severity}, "
            f"{'blocking' if ev.severity == 'error' else 'non-blocking'}) failed on {ev.asset}.",
            f"Why it matters: {WHY.get(ev.severity, WHY['warn'])}",
            f"Summary: {ev.metadata.get('summary', '')}",
        ]
        for failure in failures:
            lines.append("")
            count = failure.get("failed")
            evaluated = failure.get("evaluated")
            lines.append(
                f"- {failure.get('expectation')}: {failure.get('description') or ''}".rstrip(": ")
                + (f" ({count} of {evaluated} rows)" if count is not None else "")
            )
            if failure.get("error"):
                lines.append(f"    error: {failure['error']}")
            for row in (failure.get("offenders") or [])[:5]:
                lines.append(f"    {offender_line(row)}")
        lines += ["", f"Dagster run: {ev.run_id}", f"Data Docs: {docs or 'n/a'}"]
        body = "\n".join(lines)
    return Alert(
        kind=kind,
        severity=ev.severity if kind != "resolved" else "info",
        check=ev.key,
        title=redact(title),
        body=redact(body),
        fingerprint=ev.fingerprint,
        run_id=ev.run_id,
        docs=str(docs) if docs else None,
        details={
            "passed": ev.passed,
            "failures": [
                {k: v for k, v in f.items() if k != "offenders"}
                | {"offenders": (f.get("offenders") or [])[:5]}
                for f in ev.metadata.get("failures") or []
            ]
            if kind != "resolved"
            else [],
        },
    )


def run_failure_alert(job: str, run_id: str, error: str) -> Alert:
    return Alert(
        kind="run_failure",
        severity="error",
        check=job,
        title=redact(f"[mirror] run of {job} FAILED"),
        body=redact(
            f"The run {run_id} of {job} failed before any blocking check failed: {error}\n"
            f"Why it matters: nothing was published; BI tools keep the previous publication.\n"
            f"Dagster run: {run_id}"
        ),
        fingerprint=f"run:{run_id}",
        run_id=run_id,
    )
