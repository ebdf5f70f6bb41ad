"""Delivery: Apprise channels from ``MIRROR_ALERT_URLS`` and the ``alerts.jsonl`` audit trail.

``MIRROR_ALERT_URLS`` is a comma-separated list of Apprise URLs (``slack://…``,
``msteams://…``, ``mailtos://…``, ``json://host:port/path`` / ``jsons://…`` for a generic JSON
webhook, …). Without it alerts go to the log only. Every alert is ALWAYS appended to
``$MIRROR_HOME/alerts.jsonl`` (redacted), with the channels' delivery outcome.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dagster_project.redaction import (
    install_log_redaction,
    redact,
    redact_data,
    register_environment,
    register_url,
)

log = logging.getLogger("mirror.alerts")
ALERT_URLS_ENV = "MIRROR_ALERT_URLS"
JSONL_FILE = "alerts.jsonl"
STATE_FILE = "alerts_state.json"


@dataclass(frozen=True)
class Alert:
    kind: str  # breach | resolved | run_failure
    severity: str  # error | warn | info
    check: str  # check key (asset:check) or the job name of a failed run
    title: str
    body: str
    fingerprint: str
    run_id: str | None = None
    docs: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def notify_type(self) -> str:
        if self.kind == "resolved":
            return "success"
        return "failure" if self.severity == "error" else "warning"


def alert_urls(environ: dict[str, str] | None = None) -> list[str]:
    raw = (os.environ if environ is None else environ).get(ALERT_URLS_ENV, "")
    return [u.strip() for u in raw.split(",") if u.strip()]


def deliver(alert: Alert, home: Path, urls: list[str] | None = None) -> dict[str, Any]:
    """Send ``alert`` to every channel, log it, append it to alerts.jsonl; never raises."""
    install_log_redaction()
    register_environment()
    urls = alert_urls() if urls is None else urls
    for url in urls:
        register_url(url)
    outcome: dict[str, Any] = {"channels": len(urls), "delivered": False, "error": None}
    if urls:
        try:
            import apprise

            sender = apprise.Apprise()
            for url in urls:
                if not sender.add(url):
                    outcome["error"] = "a channel URL was not understood by Apprise"
            if len(sender):
                outcome["delivered"] = bool(
                    sender.notify(body=alert.body, title=alert.title, notify_type=alert.notify_type)
                )
                if not outcome["delivered"]:
                    outcome["error"] = outcome["error"] or "a channel refused the message"
        except Exception as exc:  # a broken channel must never break the run or the sensor
            outcome["error"] = redact(f"{type(exc).__name__}: {exc}")[:300]
    (log.warning if alert.kind != "resolved" else log.info)(
        redact(f"ALERT [{alert.kind}/{alert.severity}] {alert.title}\n{alert.body}")
    )
    if outcome["error"]:
        log.error(redact(f"alert delivery problem: {outcome['error']}"))
    record = {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **asdict(alert),
        "delivery": outcome,
    }
    home.mkdir(parents=True, exist_ok=True)
    with (home / JSONL_FILE).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(redact_data(record), default=str) + "\n")
    return outcome
