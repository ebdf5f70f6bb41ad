"""Ingest landing files into raw tables, once each, atomically, recorded in the registry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path

import duckdb
from tqdm import tqdm

from dagster_project.ingest import registry
from dagster_project.ingest.landing import sha256_of
from dagster_project.ingest.registry import FileOutcome, FileRefusedError

# (connection, path, sha256, loaded_at) -> (rows read, rows loaded, detected format)
FileLoader = Callable[..., tuple[int, int, str]]


def ingest_files(
    con: duckdb.DuckDBPyConnection,
    *,
    source: str,
    raw_table: str,
    paths: Sequence[Path],
    load_file: FileLoader,
    log: Callable[[str], None] = print,
    progress: bool = False,
) -> list[FileOutcome]:
    """Load each file unless its bytes are already loaded; one transaction per file.

    A refused file leaves the warehouse as it was before it; the others still load.
    """
    registry.ensure_registry(con)
    outcomes: list[FileOutcome] = []
    for path in tqdm(paths, desc=f"ingest {source}", unit="file", disable=not progress):
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        sha = sha256_of(path)
        size = path.stat().st_size
        known = registry.previous_sha(con, path)
        if known and known[0] == sha and known[1] in ("loaded", "refused", "duplicate"):
            registry.touch(con, path, now)
            outcome = FileOutcome(path, source, "unchanged", message=f"already {known[1]}")
            outcomes.append(outcome)
            continue
        twin = registry.loaded_elsewhere(con, path, sha)
        con.execute("BEGIN TRANSACTION")
        try:
            if twin:
                outcome = FileOutcome(
                    path, source, "duplicate", message=f"same bytes already loaded from {twin}"
                )
                fmt = None
            else:
                con.execute(f"DELETE FROM {raw_table} WHERE _source_file = ?", [str(path)])
                read, loaded, fmt = load_file(con, path, sha256=sha, loaded_at=now)
                outcome = FileOutcome(path, source, "loaded", rows_read=read, rows_loaded=loaded)
            registry.record(con, outcome, sha256=sha, size_bytes=size, detected_format=fmt, now=now)
            con.execute("COMMIT")
        except FileRefusedError as exc:
            con.execute("ROLLBACK")
            reason = str(exc)
            if known and known[1] == "loaded":
                reason += "; the previously loaded version of this file stays in the warehouse"
            outcome = FileOutcome(path, source, "refused", message=reason)
            registry.record(
                con, outcome, sha256=sha, size_bytes=size, detected_format=None, now=now
            )
        except BaseException:
            con.execute("ROLLBACK")
            raise
        if outcome.status != "loaded":
            log(f"{source}: {outcome.as_line()}")
        outcomes.append(outcome)
    return outcomes
