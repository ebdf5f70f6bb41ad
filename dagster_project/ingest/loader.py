"""Ingest landing files into raw tables, once each, atomically, recorded in the registry."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import duckdb
from tqdm import tqdm

from dagster_project.ingest import registry
from dagster_project.ingest.landing import sha256_of
from dagster_project.ingest.quarantine import QUARANTINE_DDL
from dagster_project.ingest.registry import FileOutcome, FileRefusedError
from dagster_project.ingest.spec import SourceSpec, naive_utc_now


def ingest_files(
    con: duckdb.DuckDBPyConnection,
    spec: SourceSpec,
    paths: Sequence[Path],
    *,
    log: Callable[[str], None] = print,
    progress: bool = False,
) -> list[FileOutcome]:
    """Load each file version once; one transaction per file.

    New bytes at a known path supersede the previous version (whose rows stay in raw as
    history). A refused file changes nothing but its registry row; the others still load.
    """
    registry.ensure_registry(con)
    con.execute(QUARANTINE_DDL)
    spec.ensure_tables(con)
    outcomes: list[FileOutcome] = []
    for path in tqdm(paths, desc=f"ingest {spec.name}", unit="file", disable=not progress):
        outcome = _ingest_one(con, spec, path)
        if outcome.status not in ("loaded", "unchanged"):
            log(f"{spec.name}: {outcome.as_line()}")
        outcomes.append(outcome)
    return outcomes


def _ingest_one(con: duckdb.DuckDBPyConnection, spec: SourceSpec, path: Path) -> FileOutcome:
    now = naive_utc_now()
    stat = path.stat()
    size, modified = stat.st_size, stat.st_mtime_ns
    untouched = registry.seen_unchanged(con, path, size, modified)
    if untouched:
        registry.touch(con, path, untouched[0], now)
        return FileOutcome(path, spec.name, "unchanged", message=f"already {untouched[1]}")
    sha = sha256_of(path)
    status = registry.version_status(con, path, sha)
    if status == "superseded":
        con.execute("BEGIN TRANSACTION")
        registry.reactivate(con, path, sha, now)
        con.execute("COMMIT")
        return FileOutcome(path, spec.name, "loaded", message="earlier version is current again")
    if status is not None:  # same bytes, touched file: remember the new mtime
        con.execute(
            f"UPDATE {registry.REGISTRY_TABLE} SET modified_ns = ? WHERE path = ? AND sha256 = ?",
            [modified, str(path), sha],
        )
        registry.touch(con, path, sha, now)
        return FileOutcome(path, spec.name, "unchanged", message=f"already {status}")

    def record(outcome: FileOutcome, detected_format: str | None) -> None:
        registry.record(
            con, outcome, sha256=sha, size_bytes=size, modified_ns=modified,
            detected_format=detected_format, now=now,
        )  # fmt: skip

    twin = registry.loaded_elsewhere(con, path, sha)
    if twin:
        outcome = FileOutcome(
            path, spec.name, "duplicate", message=f"same bytes already loaded from {twin}"
        )
        record(outcome, None)
        return outcome
    previous = registry.current_version(con, path)
    con.execute("BEGIN TRANSACTION")
    try:
        result = spec.load_file(con, path, sha256=sha, loaded_at=now)
        registry.supersede(con, path, now)
        message = f"revision of {previous[:12]}" if previous else ""
        outcome = FileOutcome(
            path, spec.name, "loaded", result.rows_read, result.rows_loaded,
            result.rows_quarantined, message,
        )  # fmt: skip
        record(outcome, result.detected_format)
        con.execute("COMMIT")
        return outcome
    except FileRefusedError as exc:
        con.execute("ROLLBACK")
        reason = str(exc)
        if previous:
            reason += "; the previously loaded version of this file stays current"
        outcome = FileOutcome(path, spec.name, "refused", message=reason)
        record(outcome, None)
        return outcome
    except BaseException:
        con.execute("ROLLBACK")
        raise
