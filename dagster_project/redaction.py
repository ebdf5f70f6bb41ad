"""Redaction: every text the alerts package emits goes through :func:`redact`.

Secrets come from the alert channel URLs (the whole URL, its user, password, path tokens and
query values) and from environment variables whose name says secret (``*_KEY``, ``*_TOKEN``,
``*_SECRET``, ``*PASSWORD*``, ``MIRROR_ALERT_URLS``). Patterns catch what was never registered:
``scheme://user:password@``, ``token=``/``key=``/``secret=`` query values, Slack/Teams webhook
paths and ``Bearer`` tokens.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from urllib.parse import parse_qsl, unquote, urlsplit

REDACTED = "***"
_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|ALERT_URLS|WEBHOOK)", re.I)
_PATTERNS = [
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://)([^/\s:@]+):([^/\s@]+)@", re.I), rf"\1{REDACTED}@"),
    (
        re.compile(
            r"((?:token|key|apikey|api_key|secret|password|pass|sig|auth)=)[^&\s'\"]+", re.I
        ),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"(hooks\.slack\.com/services/)[^\s'\"]+", re.I), rf"\1{REDACTED}"),
    (re.compile(r"(webhook\.office\.com/)[^\s'\"]+", re.I), rf"\1{REDACTED}"),
    (
        re.compile(r"\b(slack|msteams|discord|tgram|pover|pbul)://[^\s'\"]+", re.I),
        rf"\1://{REDACTED}",
    ),
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.I), rf"\1{REDACTED}"),
    # the Comtrade API key as a header (Azure API management)
    (
        re.compile(r"(Ocp-Apim-Subscription-Key['\"]?\s*[:=]\s*['\"]?)[^&\s'\",}]*", re.I),
        rf"\1{REDACTED}",
    ),
]

_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(secret: str | None) -> None:
    """Remember a secret (at least 4 characters) so :func:`redact` masks it everywhere."""
    if secret and len(secret) >= 4:
        with _lock:
            _secrets.add(secret)
            _secrets.add(unquote(secret))


def register_url(url: str) -> None:
    """A channel URL and every part of it that may carry a credential."""
    url = url.strip()
    register_secret(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    register_secret(parts.username)
    register_secret(parts.password)
    for segment in parts.path.split("/"):
        if len(segment) >= 8:  # tokens in paths (slack://T/B/XXXX, webhook ids)
            register_secret(segment)
    for _, value in parse_qsl(parts.query):
        register_secret(value)


def register_environment(environ: dict[str, str] | None = None) -> None:
    for name, value in (os.environ if environ is None else environ).items():
        if _SECRET_ENV.search(name) and value:
            if name == "MIRROR_ALERT_URLS":
                for url in value.split(","):
                    if url.strip():
                        register_url(url)
            else:
                register_secret(value)


def redact(text: object) -> str:
    out = str(text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        out = out.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        out = pattern.sub(replacement, out)
    return out


def redact_data(value: object) -> object:
    """Redact every string inside a JSON-like structure."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(k): redact_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's final message (and traceback) before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


_FILTER = RedactingFilter()


def install_log_redaction(*names: str) -> None:
    """Attach the filter to our loggers and Apprise's (idempotent)."""
    for name in ("mirror.alerts", "apprise", *names):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
