"""Alert messages: what broke, why it matters, the worst flows, the change, where to look.

Every sentence is true of the run it reports: whether it published (a warn-level failure in a
run that failed for another reason published nothing), links that open (the Dagster UI when
``MIRROR_UI_URL`` is set; Data Docs as a path on the server, they work offline), the landing
files behind each offending flow and, for a breach, a waiver entry ready to paste.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dagster_project.alerts.channels import Alert
from dagster_project.quality.offenders import offender_line, pct, signed_usd
from dagster_project.redaction import redact

BLOCKING_CONSEQUENCE = (
    "Blocking check: the run failed and NOTHING was published; BI tools keep the previous "
    "publication until this is fixed, explained (status), tolerated (tolerance rule) or "
    "waived (expectations/*.yml)."
)
WAIVER_DAYS = 90  # the expiry a pasted waiver starts with: waivers are reviewed, not forever


@dataclass(frozen=True)
class RunFacts:
    """What happened to the run an alert is about (read from its events once it finished)."""

    run_id: str | None = None
    status: str = "unknown"  # success | failure | unknown
    publication_id: str | None = None  # set when this run published the marts
    failure: str | None = None  # the run's own failure cause, one line
    ui_url: str | None = None  # MIRROR_UI_URL

    def run_link(self) -> str:
        if self.run_id and self.ui_url:
            return f"{self.ui_url}/runs/{self.run_id}"
        hint = "set MIRROR_UI_URL to link the Dagster UI; `dagster dev` with this DAGSTER_HOME"
        return f"{self.run_id or 'n/a'} ({hint} shows it)"

    def asset_link(self, asset: str, view: str = "checks") -> str | None:
        return f"{self.ui_url}/assets/{asset}?view={view}" if self.ui_url else None


def warn_consequence(run: RunFacts) -> str:
    """What a warn-level failure means for users, given what the run actually did."""
    if run.publication_id:
        return (
            f"Warning (non-blocking): the run published the marts (publication "
            f"{run.publication_id}) with these figures; they look wrong and may mislead users "
            "until someone checks them."
        )
    if run.status == "failure":
        return (
            "Warning (non-blocking). The run failed for another reason and published NOTHING"
            + (f" ({run.failure})" if run.failure else "")
            + "; BI tools keep the previous publication."
        )
    if run.status == "success":
        return (
            "Warning (non-blocking): this run did not publish (it did not include the publish "
            "step); the current publication may carry the same figures."
        )
    return "Warning (non-blocking): whether the run published the marts is not known yet."


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


def waiver_entries(offenders: Iterable[dict[str, Any]], today: dt.date) -> str | None:
    """YAML for ``waivers:`` of the suite, one entry per flow (pair x HS6 x freq) of the
    offending rows, spanning their periods. It parses as it is (``mirror checks`` lists it); its
    reason is left for a person to write: a waiver without one is not a decision."""
    flows: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for row in offenders:
        if {"exporter_iso3", "importer_iso3", "hs6", "freq", "period"} <= set(row):
            key = (row["exporter_iso3"], row["importer_iso3"], str(row["hs6"]), row["freq"])
            flows.setdefault(key, []).append(row)
    if not flows:
        return None
    expires = today + dt.timedelta(days=WAIVER_DAYS)
    lines = []
    for (exporter, importer, hs6, freq), rows in flows.items():
        periods = sorted(str(r["period"]) for r in rows)
        observed = "; ".join(
            f"{r['period']}: gap {signed_usd(r.get('gap_usd'))} ({pct(r.get('gap_pct'))})"
            for r in sorted(rows, key=lambda r: str(r["period"]))
        )
        ident = f"waive-{exporter}-{importer}-{hs6}-{freq}".lower()
        lines += [
            f"  - id: {ident}",
            f"    exporter_iso3: {exporter}",
            f"    importer_iso3: {importer}",
            f'    hs6: "{hs6}"',
            f"    freq: {freq}",
            f'    period_from: "{periods[0]}"',
            f'    period_to: "{periods[-1]}"',
            "    reason: >-",
            f"      REPLACE WITH why this gap is accepted, and the evidence. Observed {observed}.",
            f"    expires: {expires.isoformat()}",
            "    owner: REPLACE WITH who answers for it",
        ]
    return "\n".join(lines)


def check_alert(
    ev: CheckEvaluation,
    kind: str,
    docs: str | None = None,
    run: RunFacts | None = None,
    today: dt.date | None = None,
) -> Alert:
    run = run or RunFacts(run_id=ev.run_id)
    docs = docs or ev.metadata.get("data_docs_page") or ev.metadata.get("data_docs")
    docs_line = f"Data Docs (a file on the server; works offline): {docs}" if docs else None
    links = [f"Dagster run: {run.run_link()}"]
    check_page = run.asset_link(ev.asset)
    if check_page:
        links.append(f"Check in the Dagster UI: {check_page}")
    if docs_line:
        links.append(docs_line)
    if kind == "resolved":
        title = f"[mirror] RESOLVED {ev.check} on {ev.asset}"
        body = "\n".join(
            [
                f"{ev.check} ({ev.severity}) passes again on {ev.asset}.",
                str(ev.metadata.get("summary", "")),
                *links,
            ]
        )
    else:
        failures = ev.metadata.get("failures") or []
        title = f"[mirror] {ev.severity.upper()} {ev.check} failed on {ev.asset}"
        consequence = BLOCKING_CONSEQUENCE if ev.severity == "error" else warn_consequence(run)
        lines = [
            f"Check {ev.check} ({ev.severity}, "
            f"{'blocking' if ev.severity == 'error' else 'non-blocking'}) failed on {ev.asset}.",
            f"Why it matters: {consequence}",
            f"Summary: {ev.metadata.get('summary', '')}",
        ]
        offenders: list[dict[str, Any]] = []
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
                offenders.append(row)
        waivers = waiver_entries(offenders, today or dt.date.today())
        if waivers and ev.metadata.get("waivable"):
            suite = ev.metadata.get("suite_file") or "the suite's yml in expectations/"
            lines += [
                "",
                f"To accept these gaps, paste under `waivers:` in {suite} (write the reason):",
                waivers,
            ]
        lines += ["", *links]
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
            "published": run.publication_id,
            "run_url": run.run_link() if run.ui_url else None,
            "failures": [
                {k: v for k, v in f.items() if k != "offenders"}
                | {"offenders": (f.get("offenders") or [])[:5]}
                for f in ev.metadata.get("failures") or []
            ]
            if kind != "resolved"
            else [],
        },
    )


def run_failure_alert(job: str, run: RunFacts, cause: str, details: Iterable[str] = ()) -> Alert:
    """A run that failed for a reason other than a blocking GX check: the cause first."""
    detail_lines = [f"    {line}" for line in details]
    body = "\n".join(
        [
            f"The run of {job} failed: {cause}",
            *detail_lines,
            "Why it matters: nothing was published; BI tools keep the previous publication.",
            f"Dagster run: {run.run_link()}",
        ]
    )
    return Alert(
        kind="run_failure",
        severity="error",
        check=job,
        title=redact(f"[mirror] run of {job} FAILED: {cause}"[:200]),
        body=redact(body),
        fingerprint=f"run:{run.run_id}",
        run_id=run.run_id,
        details={"cause": redact(cause), "run_url": run.run_link() if run.ui_url else None},
    )


def not_started_alert(job: str, cause: str) -> Alert:
    """A run refused before any step: its settings are wrong (one line per bad setting)."""
    return Alert(
        kind="run_failure",
        severity="error",
        check=job,
        title=redact(f"[mirror] run of {job} did not start: {cause.splitlines()[0]}"[:200]),
        body=redact(
            f"The run of {job} did not start: its settings are wrong.\n{cause}\n"
            "Why it matters: nothing ran and nothing was published; BI tools keep the previous "
            "publication."
        ),
        fingerprint="settings:" + hashlib.sha256(cause.encode()).hexdigest()[:16],
        details={"cause": redact(cause)},
    )
