"""Why a run failed, in a line or two, from its Dagster events (the CLI summary, the alert).

Dagster wraps an exception raised in a step in its own errors ("Error occurred while
executing op …", "Error occurred while initializing resource …"); the cause a person needs is
the first exception of the chain that is not Dagster's own, without its module path. A step
that raised ``dagster.Failure`` (the dbt step does, naming the failed test) gives its
description and a ``details`` text. Tracebacks stay in the event log and the log file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from dagster_project.quality.offenders import is_flow, offender_line

# "dagster_project.resources.WarehouseLockedError: ..." -> "WarehouseLockedError: ..."
_MODULE_PREFIX = re.compile(r"^(?:[A-Za-z_]\w*\.)+(?P<name>[A-Za-z_]\w*):")


@dataclass(frozen=True)
class Cause:
    step: str | None
    line: str
    details: tuple[str, ...] = field(default_factory=tuple)

    def text(self) -> str:
        return f"{self.step}: {self.line}" if self.step else self.line


def _first_line(message: str) -> str:
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    if not lines:
        return ""
    return _MODULE_PREFIX.sub(lambda m: f"{m['name']}:", lines[0])


def _error_chain(error: Any) -> list[Any]:
    """A SerializableErrorInfo and the errors behind it (cause, else context), at most 20."""
    chain = []
    while error is not None and len(chain) < 20:
        chain.append(error)
        error = getattr(error, "cause", None) or getattr(error, "context", None)
    return chain


def error_cause(error: Any) -> str:
    """The first non-Dagster exception of a SerializableErrorInfo chain (cause, then context)."""
    chain = _error_chain(error)
    for err in chain:
        cls = str(getattr(err, "cls_name", "") or "")
        if cls and not cls.startswith("Dagster"):
            return _first_line(err.message) or cls
    return _first_line(chain[-1].message) if chain else "unknown error"


def step_failure_cause(step: str | None, data: Any) -> Cause:
    """The cause of one STEP_FAILURE (or RUN_FAILURE) event's data."""
    user = getattr(data, "user_failure_data", None)
    if user is not None and getattr(user, "description", None):
        details = getattr((user.metadata or {}).get("details"), "value", None) or ""
        return Cause(step, user.description.strip(), tuple(details.splitlines()))
    error = getattr(data, "error", None)
    return Cause(step, error_cause(error) if error is not None else "failed (no error recorded)")


# what Dagster raises in a step whose blocking asset checks failed; its message only lists
# the checks ("1 blocking asset check failed with ERROR severity:" and "asset: check" lines)
CHECKS_FAILED_ERROR = "DagsterAssetCheckFailedError"


# worst offending rows named under a failed check's cause: one per failed expectation, at most
FAILED_EXPECTATIONS_SHOWN = 3


def _worst_offenders(metadata: Any) -> tuple[str, ...]:
    """The worst offending row of each failed expectation (the check's ``failures`` metadata,
    what the GX checks write), as ``expectation: KAZ→ITA HS 270900 2022 (A): ...``, without
    the landing files (the alert and the run's log list them)."""
    failures = getattr((metadata or {}).get("failures"), "value", None) or []
    lines: list[str] = []
    shown: dict[str, str] = {}  # a row already shown -> the expectation it was shown for
    for failure in failures:
        offenders = (failure.get("offenders") or []) if isinstance(failure, dict) else []
        if not offenders or len(lines) >= FAILED_EXPECTATIONS_SHOWN:
            continue
        name = failure.get("expectation")
        row = {k: v for k, v in offenders[0].items() if k != "source_files"}
        text = offender_line(row)
        if text in shown:
            lines.append(f"{name}: worst the same flow as {shown[text]}")
            continue
        shown[text] = str(name)
        lines.append(f"{name}: {'worst ' if is_flow(row) else ''}{text}")
    return tuple(lines)


def failed_check_causes(step: str | None, evaluations: list[Any]) -> list[Cause]:
    """One cause per failed ERROR-severity check evaluated in ``step``: the check, its asset
    and the summary the check wrote (which expectations failed, how many rows), with the worst
    offending row of each failed expectation under it."""
    causes = []
    for ev in evaluations:
        if ev.passed or getattr(ev.severity, "value", ev.severity) != "ERROR":
            continue
        summary = getattr((ev.metadata or {}).get("summary"), "value", None)
        line = f"{ev.check_name} failed on {ev.asset_key.to_user_string()}"
        causes.append(
            Cause(step, f"{line}: {summary}" if summary else line, _worst_offenders(ev.metadata))
        )
    return causes


def run_causes(events: list[Any]) -> list[Cause]:
    """One cause per distinct failure of a run (the same error in several steps: named once,
    with the steps), from its STEP_FAILURE events, else its RUN_FAILURE. A step failed by its
    blocking checks is caused by those checks, each named with its summary."""
    from dagster import DagsterEventType

    causes: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    fallback: list[Cause] = []
    evaluations: dict[str | None, list[Any]] = {}
    for event in events:
        event = getattr(event, "dagster_event", event)
        if event is not None and event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluations.setdefault(event.step_key, []).append(event.event_specific_data)
    for event in events:
        event = getattr(event, "dagster_event", event)
        if event is None:
            continue
        if event.event_type == DagsterEventType.STEP_FAILURE:
            data = event.event_specific_data
            by_checks = []
            chain = _error_chain(getattr(data, "error", None))
            if any(getattr(err, "cls_name", None) == CHECKS_FAILED_ERROR for err in chain):
                by_checks = failed_check_causes(event.step_key, evaluations.get(event.step_key, []))
            for cause in by_checks or [step_failure_cause(event.step_key, data)]:
                causes.setdefault((cause.line, cause.details), []).append(event.step_key or "?")
        elif event.event_type == DagsterEventType.RUN_FAILURE:
            data = event.event_specific_data
            if getattr(data, "error", None) is not None:
                fallback.append(Cause(None, error_cause(data.error)))
    if causes:
        out = []
        for (line, details), steps in causes.items():
            step = steps[0] if len(steps) == 1 else f"{steps[0]} and {len(steps) - 1} more steps"
            out.append(Cause(step, line, details))
        return out
    return fallback
