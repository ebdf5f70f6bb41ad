"""``raw.file_registry``: one row per landing file, the memory that makes ingest idempotent.

A file is ``loaded`` (its rows are in the raw table), ``refused`` (nothing loaded; ``message``
says why) or ``duplicate`` (the same bytes are already loaded from another path). Loading the
same bytes again is a no-op; new bytes at a known path replace that file's rows atomically.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

REGISTRY_TABLE = "raw.file_registry"

REGISTRY_DDL = f"""
CREATE TABLE IF NOT EXISTS {REGISTRY_TABLE} (
    path              VARCHAR PRIMARY KEY,
    sha256            VARCHAR NOT NULL,
    size_bytes        BIGINT NOT NULL,
    source            VARCHAR NOT NULL,
    detected_format   VARCHAR,
    rows_read         BIGINT,
    rows_loaded       BIGINT,
    rows_quarantined  BIGINT,
    status            VARCHAR NOT NULL,
    message           VARCHAR,
    first_seen        TIMESTAMP NOT NULL,
    last_seen         TIMESTAMP NOT NULL
)
"""


class FileRefusedError(Exception):
    """A file's structure is unusable; nothing of it is loaded. The message is one line."""


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one landing file in one ingest."""

    path: Path
    source: str
    status: str  # loaded | unchanged | duplicate | refused
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    message: str = ""

    def as_line(self) -> str:
        detail = f" ({self.message})" if self.message else ""
        return (
            f"{self.status:<9} {self.path.name}: read {self.rows_read}, loaded {self.rows_loaded}, "
            f"quarantined {self.rows_quarantined}{detail}"
        )


def ensure_registry(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute(REGISTRY_DDL)


def previous_sha(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[str, str] | None:
    """(sha256, status) recorded for ``path``, if the registry knows it."""
    row = con.execute(
        f"SELECT sha256, status FROM {REGISTRY_TABLE} WHERE path = ?", [str(path)]
    ).fetchone()
    return (row[0], row[1]) if row else None


def loaded_elsewhere(con: duckdb.DuckDBPyConnection, path: Path, sha256: str) -> str | None:
    """Another path whose identical bytes are already loaded, if any."""
    row = con.execute(
        f"SELECT path FROM {REGISTRY_TABLE} WHERE sha256 = ? AND status = 'loaded' AND path <> ?",
        [sha256, str(path)],
    ).fetchone()
    return row[0] if row else None


def touch(con: duckdb.DuckDBPyConnection, path: Path, now: dt.datetime) -> None:
    con.execute(f"UPDATE {REGISTRY_TABLE} SET last_seen = ? WHERE path = ?", [now, str(path)])


def record(
    con: duckdb.DuckDBPyConnection,
    outcome: FileOutcome,
    *,
    sha256: str,
    size_bytes: int,
    detected_format: str | None,
    now: dt.datetime,
) -> None:
    """Insert or update the registry row of ``outcome.path`` (call inside the load transaction)."""
    con.execute(
        f"""
        INSERT INTO {REGISTRY_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (path) DO UPDATE SET
            sha256 = excluded.sha256, size_bytes = excluded.size_bytes,
            source = excluded.source, detected_format = excluded.detected_format,
            rows_read = excluded.rows_read, rows_loaded = excluded.rows_loaded,
            rows_quarantined = excluded.rows_quarantined, status = excluded.status,
            message = excluded.message, last_seen = excluded.last_seen
        """,
        [
            str(outcome.path), sha256, size_bytes, outcome.source, detected_format,
            outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined,
            outcome.status, outcome.message or None, now, now,
        ],
    )  # fmt: skip
