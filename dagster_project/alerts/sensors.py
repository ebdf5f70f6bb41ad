"""When to alert: a run-failure sensor, a check-evaluation sensor, and ``notify_run``.

* ``mirror_run_failure_alerts`` (run-failure sensor): a blocking (error) GX check failed, so the
  run failed and nothing was published; or the run failed for another reason.
* ``mirror_check_alerts`` (sensor with a cursor over asset-check executions, via
  ``instance.event_log_storage.get_latest_asset_check_execution_by_key``): warn-level failures,
  which never fail a run, and resolutions of any check that passes again.
* :func:`notify_run`: the same decisions for one run, called by ``mirror run`` (no daemon).

Every decision goes through the de-duplication state (``alerts_state.json``), so a breach is
announced once, again when it changes, and its resolution once — whoever sees it first.

An alert is written once the run it reports has finished, so it can say what the run did:
published (and which publication) or not, and why it failed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from dagster_project.alerts.channels import AlertTarget, deliver
from dagster_project.alerts.messages import (
    CheckEvaluation,
    RunFacts,
    check_alert,
    run_failure_alert,
)
from dagster_project.alerts.state import AlertState, Decision, decide
from dagster_project.redaction import redact
from dagster_project.run_failures import run_causes
from dagster_project.settings import HomeLayout

PUBLISHED_KEY = dg.AssetKey(["published", "mirror_warehouse"])


@dataclass(frozen=True)
class Notice:
    """One alert decision and, when something was sent, its title and delivery per channel."""

    decision: Decision
    title: str = ""
    delivery: dict[str, Any] = field(default_factory=dict)


CHECK_SENSOR = "mirror_check_alerts"
RUN_FAILURE_SENSOR = "mirror_run_failure_alerts"


def _plain(metadata: dict[str, Any]) -> dict[str, Any]:
    return {k: getattr(v, "value", v) for k, v in (metadata or {}).items()}


def evaluation_from_entry(entry: Any) -> CheckEvaluation | None:
    """A CheckEvaluation from an ASSET_CHECK_EVALUATION event log entry."""
    event = getattr(entry, "dagster_event", None)
    data = getattr(event, "event_specific_data", None)
    if data is None or not hasattr(data, "passed"):
        return None
    return CheckEvaluation(
        asset=data.asset_key.to_user_string(),
        check=data.check_name,
        passed=bool(data.passed),
        severity="error" if data.severity == dg.AssetCheckSeverity.ERROR else "warn",
        metadata=_plain(data.metadata),
        run_id=entry.run_id,
    )


def run_facts(instance: dg.DagsterInstance, run_id: str | None, ui: str | None = None) -> RunFacts:
    """Whether the run published (and what), how it ended and why it failed; ``ui`` is where
    the Dagster UI of this home is served (the alert links to the run there)."""
    run = instance.get_run_by_id(run_id) if run_id else None
    if run is None:
        return RunFacts(run_id=run_id, ui_url=ui)
    status = {
        dg.DagsterRunStatus.SUCCESS: "success",
        dg.DagsterRunStatus.FAILURE: "failure",
        dg.DagsterRunStatus.CANCELED: "failure",
    }.get(run.status, "unknown")
    publication = None
    for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        mat = entry.dagster_event.step_materialization_data.materialization
        if mat.asset_key == PUBLISHED_KEY:
            value = mat.metadata.get("publication_id")
            publication = str(getattr(value, "value", value) or "unknown id")
    causes = run_causes(instance.all_logs(run.run_id)) if status == "failure" else []
    return RunFacts(
        run_id=run.run_id,
        status=status,
        publication_id=publication,
        failure=causes[0].text() if causes else None,
        ui_url=ui,
    )


def run_finished(instance: dg.DagsterInstance, run_id: str | None) -> bool:
    run = instance.get_run_by_id(run_id) if run_id else None
    return run is None or run.is_finished


def handle_evaluation(
    ev: CheckEvaluation, target: AlertTarget, run: RunFacts | None = None
) -> Notice:
    """Decide (de-duplicated) and deliver; returns what was decided and delivered."""
    with AlertState(HomeLayout(target.home).alerts_state).locked() as entries:
        entry = entries.get(ev.key)
        decision = decide(entry, ev.passed, ev.fingerprint)
        if decision == "send":
            alert = check_alert(ev, "breach", run=run)
            outcome = deliver(alert, target.home, target.urls)
            entries[ev.key] = {
                "fingerprint": ev.fingerprint,
                "severity": ev.severity,
                "run_id": ev.run_id,
                "title": alert.title,
                "since": (entry or {}).get("since") or alert_time(),
            }
            return Notice(decision, alert.title, outcome)
        if decision == "resolve":
            alert = check_alert(ev, "resolved", run=run)
            outcome = deliver(alert, target.home, target.urls)
            entries.pop(ev.key, None)
            return Notice(decision, alert.title, outcome)
    return Notice(decision)


def alert_time() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _run_failure(instance: dg.DagsterInstance, run: Any, target: AlertTarget) -> Notice:
    facts = run_facts(instance, run.run_id, target.ui_url)
    causes = run_causes(instance.all_logs(run.run_id))
    cause = causes[0].text() if causes else "the run failed without a failed step (see its log)"
    details = [line for c in causes[:3] for line in c.details] + [
        f"also: {c.text()}" for c in causes[1:3]
    ]
    key = f"run_failure:{run.job_name}"
    with AlertState(HomeLayout(target.home).alerts_state).locked() as entries:
        if entries.get(key, {}).get("fingerprint") == run.run_id:
            return Notice("repeat")
        alert = run_failure_alert(run.job_name, facts, redact(cause), details)
        outcome = deliver(alert, target.home, target.urls)
        entries[key] = {"fingerprint": run.run_id, "severity": "error", "since": alert_time()}
    return Notice("send", alert.title, outcome)


def _evaluations_of_run(instance: dg.DagsterInstance, run_id: str) -> list[CheckEvaluation]:
    entries = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    evs = [evaluation_from_entry(e) for e in entries]
    return [e for e in evs if e is not None and e.check.startswith("gx_")]


def handle_failed_run(
    instance: dg.DagsterInstance, run: Any, target: AlertTarget
) -> dict[str, Notice]:
    """A failed run: alert its failed blocking checks, else the failure itself."""
    facts = run_facts(instance, run.run_id, target.ui_url)
    failed = [e for e in _evaluations_of_run(instance, run.run_id) if not e.passed]
    blocking = [e for e in failed if e.severity == "error"]
    if blocking:
        return {e.key: handle_evaluation(e, target, facts) for e in blocking}
    return {f"run_failure:{run.job_name}": _run_failure(instance, run, target)}


def notify_run(instance: dg.DagsterInstance, run_id: str, target: AlertTarget) -> dict[str, Notice]:
    """Every alert decision for one finished run (what ``mirror run`` calls). A failed run
    that no blocking GX check explains (a dbt test, the lock, a crash) gets its own alert, even
    when warn-level checks alerted too."""
    notices: dict[str, Notice] = {}
    run = instance.get_run_by_id(run_id)
    facts = run_facts(instance, run_id, target.ui_url)
    evaluations = _evaluations_of_run(instance, run_id)
    for ev in evaluations:
        notices[ev.key] = handle_evaluation(ev, target, facts)
    if run is not None and run.status == dg.DagsterRunStatus.FAILURE:
        if not any(e.severity == "error" and not e.passed for e in evaluations):
            notices[f"run_failure:{run.job_name}"] = _run_failure(instance, run, target)
    elif run is not None:
        with AlertState(HomeLayout(target.home).alerts_state).locked() as entries:
            entries.pop(f"run_failure:{run.job_name}", None)
    return notices


def process_latest_evaluations(
    instance: dg.DagsterInstance,
    check_keys: list[dg.AssetCheckKey],
    cursor: str | None,
    target: AlertTarget,
) -> tuple[str, dict[str, Notice]]:
    """The check sensor's tick: new completed evaluations since ``cursor`` (per-check ids).

    Failed blocking evaluations are left to the run-failure sensor (their run failed).
    """
    from dagster._core.storage.asset_check_execution_record import (
        AssetCheckExecutionRecordStatus as Status,
    )

    seen: dict[str, int] = json.loads(cursor) if cursor else {}
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys)
    decisions: dict[str, Notice] = {}
    for key, record in latest.items():
        name = key.to_user_string()
        if record.id <= seen.get(name, -1) or record.event is None:
            continue
        if record.status not in (Status.SUCCEEDED, Status.FAILED):
            continue  # still planned/running: look again next tick
        ev = evaluation_from_entry(record.event)
        if ev is not None and not run_finished(instance, ev.run_id):
            continue  # say what the run did (published or not) once it has done it: next tick
        seen[name] = record.id
        if ev is None or (ev.severity == "error" and not ev.passed):
            continue
        facts = run_facts(instance, ev.run_id, target.ui_url)
        decisions[ev.key] = handle_evaluation(ev, target, facts)
    return json.dumps(seen, sort_keys=True), decisions


def build_alert_sensors(
    target: AlertTarget, check_keys: list[dg.AssetCheckKey], *, minimum_interval_seconds: int = 30
) -> list[dg.SensorDefinition]:
    """The two alert sensors (running by default: without channels they only write the log
    and ``alerts.jsonl``)."""

    @dg.sensor(
        name=CHECK_SENSOR,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Alerts on warn-level GX check failures (they never fail a run) and announces "
            "resolutions; follows asset-check executions with a cursor. Channels: "
            "MIRROR_ALERT_URLS; always $MIRROR_HOME/alerts.jsonl."
        ),
    )
    def mirror_check_alerts(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        cursor, decisions = process_latest_evaluations(
            context.instance, check_keys, context.cursor, target
        )
        context.update_cursor(cursor)
        sent = {k: n.decision for k, n in decisions.items() if n.decision in ("send", "resolve")}
        return dg.SkipReason(
            f"alerts: {sent}" if sent else f"no new alert ({len(decisions)} evaluations seen)"
        )

    @dg.run_failure_sensor(
        name=RUN_FAILURE_SENSOR,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Alerts when a run fails: the blocking GX checks that failed (nothing was "
            "published), or the step error."
        ),
    )
    def mirror_run_failure_alerts(context: dg.RunFailureSensorContext) -> None:
        decisions = handle_failed_run(context.instance, context.dagster_run, target)
        context.log.info(redact(f"alert decisions: {decisions}"))

    return [mirror_check_alerts, mirror_run_failure_alerts]
