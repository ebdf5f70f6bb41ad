"""Ingest landing files into raw tables, once each, atomically, recorded in the registry.

Byte-identical files are loaded once: the copy modified first (ties: the path first in
order) is the canonical one, loaded; the others are registered as its duplicates, with the
reason. A copy modified earlier that arrives after its twin was loaded is registered as a
duplicate too, since the loaded rows are the same bytes: its registry message, and the
loaded twin's, name it the canonical version (nothing is reloaded).

New files of one layout are read in batches (one scan and one transaction per
``MIRROR_INGEST_BATCH_MB`` of files) when their source offers a batch loader; anything a batch
cannot take (a file with unparseable lines, an unreadable gzip, a one-off layout) is loaded
alone, in its own transaction, where it is loaded or refused with its reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.ingest import registry
from dagster_project.ingest.landing import sha256_of
from dagster_project.ingest.quarantine import QUARANTINE_DDL
from dagster_project.ingest.registry import FileOutcome, FileRefusedError
from dagster_project.ingest.spec import LoadResult, SourceSpec, naive_utc_now
from dagster_project.settings import DEFAULT_INGEST_BATCH_BYTES


@dataclass(frozen=True)
class _NewVersion:
    """A file version that is not in the registry yet: it must be read."""

    path: Path
    sha256: str
    size_bytes: int
    modified_ns: int
    previous: str | None  # sha256 of the version it supersedes
    seen_at: dt.datetime


def ingest_files(
    con: duckdb.DuckDBPyConnection,
    spec: SourceSpec,
    paths: Sequence[Path],
    *,
    log: Callable[[str], None] = print,
    on_done: Callable[[Sequence[FileOutcome]], None] | None = None,
    batch_bytes: int | None = None,
) -> list[FileOutcome]:
    """Load each file version once. Returns one outcome per path, in order.

    New bytes at a known path supersede the previous version (whose rows stay in raw as
    history). A refused file changes nothing but its registry row; the others still load.
    ``batch_bytes`` (the resource passes ``MIRROR_INGEST_BATCH_MB``) bounds a batch; 0 = no
    batching.
    ``on_done`` is told the outcomes as files finish (a batch's together): live progress.
    """
    registry.ensure_registry(con)
    con.execute(QUARANTINE_DDL)
    moved = spec.type_in_place(con)
    if moved is not None:
        log(
            f"{spec.name}: {spec.raw_table} typed in place (built by older code); "
            f"{moved} rows whose values do not cast moved to raw.quarantine with their reasons"
        )
    if spec.ensure_tables(con):  # a reference table (re)created empty: no version is loaded
        registry.supersede_source(con, spec.name, naive_utc_now())
    budget = DEFAULT_INGEST_BATCH_BYTES if batch_bytes is None else batch_bytes
    outcomes: dict[Path, FileOutcome] = {}
    same_bytes: dict[str, list[_NewVersion]] = {}  # new versions by sha256

    def done(*finished: FileOutcome) -> None:
        if on_done is not None and finished:
            on_done(finished)

    untouched = _untouched(con, paths)
    registry.touch_many(con, [(path, sha) for path, (sha, _) in untouched.items()], naive_utc_now())
    for path in paths:
        if path in untouched:
            outcomes[path] = FileOutcome(
                path, spec.name, "unchanged", message=f"already {untouched[path][1]}"
            )
            done(outcomes[path])
            continue
        seen = _triage(con, spec, path)
        if isinstance(seen, FileOutcome):
            outcomes[path] = seen
            done(seen)
        else:
            same_bytes.setdefault(seen.sha256, []).append(seen)
    position = {path: i for i, path in enumerate(paths)}
    for group in same_bytes.values():
        group.sort(key=_age)  # the earliest copy first: it is the one read
    new = sorted((group[0] for group in same_bytes.values()), key=lambda v: position[v.path])
    if new:
        spec.check_requires(con)
    alone: list[_NewVersion] = []
    for chunk in _batches(spec, new, budget, alone):
        loaded, left = _load_batch(con, spec, chunk)
        outcomes.update(loaded)
        alone.extend(left)
        done(*loaded.values())
    for version in sorted(alone, key=lambda v: position[v.path]):
        outcomes[version.path] = _load_one(con, spec, version)
        done(outcomes[version.path])
    for first, *later in same_bytes.values():  # copies of a file read in this run
        loaded = first if outcomes[first.path].status == "loaded" else None
        for version in later:
            if loaded is not None:
                outcomes[version.path] = _duplicate(con, spec, version, loaded.path)
            else:  # the earlier copy was refused: judge this one on its own
                outcomes[version.path] = _load_one(con, spec, version)
                if outcomes[version.path].status == "loaded":
                    loaded = version
            done(outcomes[version.path])
    for path in paths:
        if outcomes[path].status not in ("loaded", "unchanged"):
            log(f"{spec.name}: {outcomes[path].as_line()}")
    return [outcomes[path] for path in paths]


def _untouched(
    con: duckdb.DuckDBPyConnection, paths: Sequence[Path]
) -> dict[Path, tuple[str, str]]:
    """(sha256, status) of each of ``paths`` whose size and mtime are those of a version the
    registry has seen (``registry.untouched_versions``): not read, not hashed again."""
    known = registry.untouched_versions(con)
    found: dict[Path, tuple[str, str]] = {}
    for path in paths:
        stat = path.stat()
        seen = known.get((str(path), stat.st_size, stat.st_mtime_ns))
        if seen is not None:
            found[path] = seen
    return found


def _triage(
    con: duckdb.DuckDBPyConnection, spec: SourceSpec, path: Path
) -> FileOutcome | _NewVersion:
    """What the registry knows of ``path``, a file it has not seen with this size and mtime:
    an outcome, or a new version to read."""
    now = naive_utc_now()
    stat = path.stat()
    size, modified = stat.st_size, stat.st_mtime_ns
    sha = sha256_of(path)
    status = registry.version_status(con, path, sha)
    if status == "superseded" and spec.keeps_history:  # its rows are still in the raw table
        con.execute("BEGIN TRANSACTION")
        registry.reactivate(con, path, sha, now)
        con.execute("COMMIT")
        return FileOutcome(path, spec.name, "loaded", message="earlier version is current again")
    if status not in (None, "ignored", "superseded"):  # same bytes, touched: remember the mtime
        con.execute(
            f"UPDATE {registry.REGISTRY_TABLE} SET modified_ns = ? WHERE path = ? AND sha256 = ?",
            [modified, str(path), sha],
        )
        registry.touch(con, path, sha, now)
        return FileOutcome(path, spec.name, "unchanged", message=f"already {status}")
    previous = (
        registry.current_version(con, path=path)
        if spec.keeps_history  # else one current version whatever its path (another checkout)
        else registry.current_version(con, source=spec.name)
    )
    version = _NewVersion(path, sha, size, modified, previous, now)
    twin = registry.loaded_elsewhere(con, path, sha, spec.name)
    if twin is None:
        return version
    twin_path, twin_modified = twin
    if twin_modified is not None and _age(version) < (twin_modified, twin_path):
        return _canonical_duplicate(con, spec, version, Path(twin_path))
    return _duplicate(con, spec, version, Path(twin_path))


def _age(version: _NewVersion) -> tuple[int, str]:
    """Which of two identical copies is the canonical one: modified first, then by path."""
    return version.modified_ns, str(version.path)


def _batches(
    spec: SourceSpec, new: list[_NewVersion], budget: int, alone: list[_NewVersion]
) -> Iterator[list[_NewVersion]]:
    """Chunks of same-layout files of about ``budget`` bytes; the rest goes to ``alone``."""
    if spec.batch_key is None or spec.load_batch is None or budget <= 0:
        alone.extend(new)
        return
    groups: dict[Hashable, list[_NewVersion]] = {}
    for version in new:
        key = spec.batch_key(version.path)
        if key is None:
            alone.append(version)
        else:
            groups.setdefault(key, []).append(version)
    for group in groups.values():
        chunk: list[_NewVersion] = []
        size = 0
        for version in group:
            chunk.append(version)
            size += version.size_bytes
            if size >= budget:
                yield from _batch_or_alone(chunk, alone)
                chunk, size = [], 0
        yield from _batch_or_alone(chunk, alone)


def _batch_or_alone(
    chunk: list[_NewVersion], alone: list[_NewVersion]
) -> Iterator[list[_NewVersion]]:
    if len(chunk) > 1:
        yield chunk
    else:
        alone.extend(chunk)


def _load_batch(
    con: duckdb.DuckDBPyConnection, spec: SourceSpec, chunk: list[_NewVersion]
) -> tuple[dict[Path, FileOutcome], list[_NewVersion]]:
    """One scan, one transaction. If the batch cannot be read as a whole, nothing of it is
    written and every file is handed back to be loaded alone."""
    assert spec.load_batch is not None
    now = naive_utc_now()
    con.execute("BEGIN TRANSACTION")
    try:
        result = spec.load_batch(con, {v.path: v.sha256 for v in chunk}, loaded_at=now)
        outcomes = {}
        for version in chunk:
            if version.path in result.loaded:
                outcomes[version.path] = _record_loaded(
                    con, spec, version, result.loaded[version.path], now
                )
        con.execute("COMMIT")
    except (duckdb.Error, FileRefusedError):
        con.execute("ROLLBACK")
        return {}, chunk
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return outcomes, [v for v in chunk if v.path not in outcomes]


def _load_one(
    con: duckdb.DuckDBPyConnection, spec: SourceSpec, version: _NewVersion
) -> FileOutcome:
    """Load one file in its own transaction, or refuse it with its reason."""
    now = version.seen_at
    con.execute("BEGIN TRANSACTION")
    try:
        result = spec.load_file(con, version.path, sha256=version.sha256, loaded_at=now)
        outcome = _record_loaded(con, spec, version, result, now)
        con.execute("COMMIT")
        return outcome
    except FileRefusedError as exc:
        con.execute("ROLLBACK")
        reason = str(exc)
        if version.previous:
            reason += "; the previously loaded version of this file stays current"
        outcome = FileOutcome(version.path, spec.name, "refused", message=reason)
        _record(con, version, outcome, None, now)
        return outcome
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _record_loaded(
    con: duckdb.DuckDBPyConnection,
    spec: SourceSpec,
    version: _NewVersion,
    result: LoadResult,
    now: dt.datetime,
) -> FileOutcome:
    """Inside the load's transaction: the new version becomes the path's current one (the
    source's, for reference data: every other version's rows were just replaced)."""
    if spec.keeps_history:
        registry.supersede(con, version.path, now)
    else:
        registry.supersede_source(con, spec.name, now)
    message = f"revision of {version.previous[:12]}" if version.previous else ""
    outcome = FileOutcome(
        version.path, spec.name, "loaded", result.rows_read, result.rows_loaded,
        result.rows_quarantined, message,
    )  # fmt: skip
    _record(con, version, outcome, result.detected_format, now)
    return outcome


def _duplicate(
    con: duckdb.DuckDBPyConnection, spec: SourceSpec, version: _NewVersion, twin: Path
) -> FileOutcome:
    """``version`` is a later copy of the loaded ``twin``."""
    message = f"same bytes already loaded from {twin}, the copy modified first"
    outcome = FileOutcome(version.path, spec.name, "duplicate", message=message)
    _record(con, version, outcome, None, version.seen_at)
    return outcome


def _canonical_duplicate(
    con: duckdb.DuckDBPyConnection, spec: SourceSpec, version: _NewVersion, twin: Path
) -> FileOutcome:
    """``version`` was modified before ``twin`` but arrived after it was loaded: the loaded
    rows are its bytes already, so nothing is reloaded; both registry rows say which copy
    is the canonical one."""
    message = (
        f"same bytes already loaded from {twin}; this copy was modified first and is the "
        "canonical version (the loaded rows are its bytes)"
    )
    outcome = FileOutcome(version.path, spec.name, "duplicate", message=message)
    _record(con, version, outcome, None, version.seen_at)
    registry.note(
        con, twin, version.sha256,
        f"same bytes as {version.path}, the canonical version (modified first, arrived later)",
    )  # fmt: skip
    return outcome


def _record(
    con: duckdb.DuckDBPyConnection,
    version: _NewVersion,
    outcome: FileOutcome,
    detected_format: str | None,
    now: dt.datetime,
) -> None:
    registry.record(
        con, outcome, sha256=version.sha256, size_bytes=version.size_bytes,
        modified_ns=version.modified_ns, detected_format=detected_format, now=now,
    )  # fmt: skip
