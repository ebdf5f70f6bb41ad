"""Settings read once from the environment (or CLI flags), typed and validated.

``MIRROR_HOME``     working folder; the warehouse is ``$MIRROR_HOME/mirror.duckdb``
                    (default ``./warehouse``).
``MIRROR_LANDING``  folder of raw source files laid out by source (``comtrade/``, ...);
                    default: the embedded sample in ``data/sample``.
``MIRROR_INGEST_BATCH_MB``  how many MB of same-layout landing files ingest reads in one
                    scan and one transaction (default 128; 0 = one file at a time). Larger
                    batches are faster and use more memory (about 8x the batch size).
``MIRROR_DUCKDB_MEMORY_LIMIT``  DuckDB's memory_limit for every warehouse connection and
                    dbt (default ``80%`` of RAM, DuckDB's own default; e.g. ``1GB``: larger
                    joins then spill to ``<warehouse>.tmp`` and run somewhat slower).
``MIRROR_RUN_LOCK_WAIT_SECONDS``  how long a run waits for another run of the same home.
``MIRROR_UI_URL``   where the Dagster UI of this home is served (``http://host:3000``): alerts
                    then link to the run and the checks there.
``MIRROR_ALERT_URLS``  Apprise URLs of the alert channels (secrets: never printed).

:func:`validate_environment` checks all of them at once, before a run starts any step: a bad
value stops the run with one line per problem instead of failing every step that reads it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_LANDING = REPO_ROOT / "data" / "sample"
REFERENCE_DIR = REPO_ROOT / "data" / "reference"
EXPECTATIONS_DIR = REPO_ROOT / "expectations"
DBT_PROJECT_DIR = REPO_ROOT / "dbt"


DEFAULT_INGEST_BATCH_MB = 128


class SettingsError(ValueError):
    """A setting is missing or unusable; the message says which and why."""


DEFAULT_DUCKDB_MEMORY_LIMIT = "80%"
_MEMORY_LIMIT = re.compile(r"^\s*\d+(\.\d+)?\s*(%|(k|m|g|t)i?b|bytes)\s*$", re.IGNORECASE)


def duckdb_memory_limit() -> str:
    """``MIRROR_DUCKDB_MEMORY_LIMIT`` as DuckDB's ``memory_limit`` (``80%``, ``1GB``, ...)."""
    value = os.environ.get("MIRROR_DUCKDB_MEMORY_LIMIT", "").strip()
    if not value:
        return DEFAULT_DUCKDB_MEMORY_LIMIT
    if not _MEMORY_LIMIT.match(value):
        raise SettingsError(
            f"MIRROR_DUCKDB_MEMORY_LIMIT={value!r} is not a memory size; use e.g. 1GB, "
            f"512MiB or 50% (default {DEFAULT_DUCKDB_MEMORY_LIMIT})"
        )
    return value


def ingest_batch_bytes() -> int:
    """``MIRROR_INGEST_BATCH_MB`` in bytes (0 = no batching)."""
    raw = os.environ.get("MIRROR_INGEST_BATCH_MB", "").strip()
    if not raw:
        return DEFAULT_INGEST_BATCH_MB * 1024 * 1024
    try:
        megabytes = float(raw)
    except ValueError:
        megabytes = -1
    if megabytes < 0:
        raise SettingsError(
            f"MIRROR_INGEST_BATCH_MB={raw!r} is not a size in MB; use a number >= 0 "
            f"(default {DEFAULT_INGEST_BATCH_MB}; 0 loads one file at a time)"
        )
    return int(megabytes * 1024 * 1024)


RUN_LOCK_WAIT_ENV = "MIRROR_RUN_LOCK_WAIT_SECONDS"
DEFAULT_RUN_LOCK_WAIT_SECONDS = 1800.0
UI_URL_ENV = "MIRROR_UI_URL"
ALERT_URLS_ENV = "MIRROR_ALERT_URLS"
_URL = re.compile(r"^https?://[^\s/?#]+(:\d+)?(/[^\s]*)?$", re.IGNORECASE)
_APPRISE_URL = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$", re.IGNORECASE)


def run_lock_wait_seconds(default: float = DEFAULT_RUN_LOCK_WAIT_SECONDS) -> float:
    """``MIRROR_RUN_LOCK_WAIT_SECONDS`` (0: fail at once when another run holds the home)."""
    raw = os.environ.get(RUN_LOCK_WAIT_ENV, "").strip()
    if not raw:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1
    if seconds < 0:
        raise SettingsError(
            f"{RUN_LOCK_WAIT_ENV}={raw!r} is not a number of seconds >= 0 "
            f"(default {DEFAULT_RUN_LOCK_WAIT_SECONDS:.0f}; 0 fails at once if another run holds "
            "the warehouse)"
        )
    return seconds


def ui_url() -> str | None:
    """``MIRROR_UI_URL`` without a trailing slash, or None."""
    raw = os.environ.get(UI_URL_ENV, "").strip()
    if not raw:
        return None
    if not _URL.match(raw):
        raise SettingsError(
            f"{UI_URL_ENV}={raw!r} is not an http(s) URL; set it to where `dagster dev` (or "
            "dagster-webserver) serves this MIRROR_HOME, e.g. http://mirror.example.org:3000"
        )
    return raw.rstrip("/")


def alert_urls() -> list[str]:
    """``MIRROR_ALERT_URLS``: comma-separated Apprise URLs (never echoed: they hold secrets)."""
    raw = os.environ.get(ALERT_URLS_ENV, "")
    urls = [u.strip() for u in raw.split(",") if u.strip()]
    bad = [str(i) for i, url in enumerate(urls, start=1) if not _APPRISE_URL.match(url)]
    if bad:
        raise SettingsError(
            f"{ALERT_URLS_ENV}: entr{'y' if len(bad) == 1 else 'ies'} {', '.join(bad)} of "
            f"{len(urls)} {'is' if len(bad) == 1 else 'are'} not an Apprise URL "
            "(scheme://…, e.g. slack://…, json://host:port/path); the value is not shown, it "
            "may hold a secret"
        )
    return urls


def validate_environment() -> None:
    """Every MIRROR_* setting read from the environment, checked before a run starts: raises
    one SettingsError naming each bad setting (one line each)."""
    problems = []
    for check in (duckdb_memory_limit, ingest_batch_bytes, run_lock_wait_seconds, ui_url,
                  alert_urls):  # fmt: skip
        try:
            check()
        except SettingsError as exc:
            problems.append(str(exc))
    if problems:
        raise SettingsError("\n".join(problems))


@dataclass(frozen=True)
class Settings:
    home: Path
    landing: Path

    @property
    def duckdb_path(self) -> Path:
        """The working warehouse: only the pipeline run that owns it may open it."""
        return self.home / "mirror.duckdb"

    @property
    def published_dir(self) -> Path:
        return self.home / "published"

    @property
    def published_duckdb_path(self) -> Path:
        """The read-only copy BI tools open; replaced atomically after checks pass."""
        return self.published_dir / "mirror.duckdb"

    @property
    def exports_dir(self) -> Path:
        return self.home / "exports"

    @classmethod
    def from_env(
        cls, home: str | Path | None = None, landing: str | Path | None = None
    ) -> Settings:
        """Resolve settings: explicit arguments win over the environment, then defaults."""
        home_path = (
            Path(home or os.environ.get("MIRROR_HOME") or "warehouse").expanduser().resolve()
        )
        landing_path = (
            Path(landing or os.environ.get("MIRROR_LANDING") or SAMPLE_LANDING)
            .expanduser()
            .resolve()
        )
        if not landing_path.is_dir():
            raise SettingsError(
                f"MIRROR_LANDING={landing_path} is not a folder; point it at a folder laid out "
                "by source (comtrade/, ...) or unset it to use the embedded sample"
            )
        if home_path.exists() and not home_path.is_dir():
            raise SettingsError(f"MIRROR_HOME={home_path} exists and is not a folder")
        return cls(home=home_path, landing=landing_path)

    def export_to_environ(self) -> None:
        """Make the settings visible to child processes (dbt reads MIRROR_DUCKDB_PATH)."""
        os.environ["MIRROR_HOME"] = str(self.home)
        os.environ["MIRROR_LANDING"] = str(self.landing)
        os.environ["MIRROR_DUCKDB_PATH"] = str(self.duckdb_path)
        os.environ["MIRROR_REFERENCE_DIR"] = str(REFERENCE_DIR)
