"""Delivery: Apprise channels from ``MIRROR_ALERT_URLS`` and the ``alerts.jsonl`` audit trail.

:class:`AlertTarget` is where the alerts of one home go, from the settings (the definitions
build the sensors with it; ``mirror run`` passes its own).

``MIRROR_ALERT_URLS`` is a comma-separated list of Apprise URLs (``slack://…``,
``msteams://…``, ``mailtos://…``, ``json://host:port/path`` / ``jsons://…`` for a generic JSON
webhook, …). Without it alerts go to the log only. Every alert is ALWAYS appended to
``$MIRROR_HOME/alerts.jsonl`` (redacted), with the channels' delivery outcome.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
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
from dagster_project.settings import ALERT_URLS_ENV, HomeLayout, Settings

log = logging.getLogger("mirror.alerts")


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


@dataclass(frozen=True)
class AlertTarget:
    """Where the alerts of one ``MIRROR_HOME`` go (``alerts.jsonl`` there, the channels of
    ``MIRROR_ALERT_URLS``) and what they link to (``MIRROR_UI_URL``)."""

    home: Path
    urls: tuple[str, ...] = field(default=(), repr=False)  # secrets
    ui_url: str | None = None

    @classmethod
    def of(cls, settings: Settings) -> AlertTarget:
        return cls(settings.home, settings.alert_urls, settings.ui_url)


def channel_label(index: int, url: str) -> str:
    """How a channel is named in summaries: its position and Apprise scheme, never the URL
    (it carries the secret)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else "?"
    return f"#{index} {scheme}"


class _Captured(logging.Handler):
    """Apprise reports why a send failed only in its log: keep those lines."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _send(url: str, alert: Alert) -> tuple[bool, str | None]:
    """One channel: (delivered, why not). Never raises."""
    try:
        import apprise

        sender = apprise.Apprise()
        if not sender.add(url):
            return False, "the URL is not one Apprise understands"
        captured = _Captured()
        apprise_log = logging.getLogger("apprise")
        apprise_log.addHandler(captured)
        try:
            ok = bool(
                sender.notify(body=alert.body, title=alert.title, notify_type=alert.notify_type)
            )
        finally:
            apprise_log.removeHandler(captured)
        if ok:
            return True, None
        return False, redact(" ".join(captured.lines[-2:]) or "the channel refused the message")[
            :300
        ]
    except Exception as exc:  # a broken channel must never break the run or the sensor
        return False, redact(f"{type(exc).__name__}: {exc}")[:300]


def deliver(alert: Alert, home: Path, urls: Sequence[str] = ()) -> dict[str, Any]:
    """Send ``alert`` to every channel, log it, append it to alerts.jsonl; never raises.

    Returns (and records) what happened on each channel: ``{"channels": [{"channel": "#1
    json", "delivered": True, "error": None}, ...], "configured": 2, "delivered": 1}``.
    ``delivered`` counts the channels that accepted it: 0 when none is configured.
    """
    install_log_redaction()
    register_environment()
    for url in urls:
        register_url(url)
    channels = []
    for index, url in enumerate(urls, start=1):
        ok, error = _send(url, alert)
        channels.append({"channel": channel_label(index, url), "delivered": ok, "error": error})
    outcome: dict[str, Any] = {
        "configured": len(urls),
        "delivered": sum(c["delivered"] for c in channels),
        "channels": channels,
    }
    (log.warning if alert.kind != "resolved" else log.info)(
        redact(f"ALERT [{alert.kind}/{alert.severity}] {alert.title}\n{alert.body}")
    )
    for channel in channels:
        if not channel["delivered"]:
            log.error(redact(f"alert not delivered to {channel['channel']}: {channel['error']}"))
    record = {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **asdict(alert),
        "delivery": outcome,
    }
    home.mkdir(parents=True, exist_ok=True)
    with HomeLayout(home).alerts_log.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(redact_data(record), default=str) + "\n")
    return outcome


def delivery_summary(outcome: dict[str, Any]) -> str:
    """``delivered to 1 of 2 channels (#1 json: ok; #2 slack: FAILED connection refused)`` or
    ``no channel configured (MIRROR_ALERT_URLS): log and alerts.jsonl only``."""
    if not outcome.get("configured"):
        return f"no channel configured ({ALERT_URLS_ENV}): log and {HomeLayout.ALERTS_LOG} only"
    parts = [
        f"{c['channel']}: ok" if c["delivered"] else f"{c['channel']}: FAILED ({c['error']})"
        for c in outcome.get("channels", [])
    ]
    return (
        f"delivered to {outcome.get('delivered', 0)} of {outcome['configured']} channel"
        f"{'s' if outcome['configured'] != 1 else ''} ({'; '.join(parts)})"
    )
