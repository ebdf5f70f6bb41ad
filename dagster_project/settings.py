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
