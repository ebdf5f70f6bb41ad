"""Publish the marts for BI: a new read-only DuckDB file and a new set of Parquet exports,
each built aside and swapped in with one atomic rename.

Layout under ``$MIRROR_HOME`` (``publish()`` takes the two public paths)::

    published/mirror.duckdb          the BI file (0444); tables marts.*, main.publication,
                                     main.publication_tables
    exports -> exports.versions/<id> a symlink, swapped atomically
    exports.versions/<id>/           one complete publication, never modified (0555/0444):
        <table>.parquet              Parquet key-value metadata ``publication_id`` = <id>
        publication.json             id, time, run id, every table's rows, file and sha256

What a reader can rely on:

* The pipeline never writes ``published/mirror.duckdb`` or an exports version in place. It
  builds ``published/mirror.duckdb.tmp-<id>`` and ``exports.versions/.tmp-<id>/``, checks them,
  makes them read-only, then renames them into place. A reader opens either the previous or
  the new publication, never a mix or a half-written file, and a reader holding the old file
  open keeps reading the old publication until it reconnects.
* Everything of one publication carries the same ``publication_id`` (table
  ``main.publication``, ``publication.json``, each Parquet file's key-value metadata) and the
  row counts in ``main.publication_tables`` / ``publication.json`` match the tables.
* ``exports/<table>.parquet`` resolved once (open the folder ``exports/`` points to, or check
  ``publication_id``) is a consistent set. The previous ``KEEP_EXPORT_VERSIONS - 1`` versions
  stay on disk, so a reader that resolved the link just before a swap can finish.
* The exports are swapped first and the DuckDB file right after (microseconds apart): for an
  instant the exports can be one publication ahead of the DuckDB file, never behind.
* A publish that fails (or is killed) before the swap leaves the previous publication as it
  was; its temporary files are removed then or by the next publish.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import stat
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from dagster_project.resources import WarehouseLockedError
from dagster_project.settings import memory_limit_from_env

PUBLISHED_SCHEMAS = ("marts",)
# The published file is written in the storage format of DuckDB 1.0 so that every DuckDB 1.x
# client reads it (the PyPI CLI, the node driver behind Evidence, JDBC/ODBC drivers, Superset's
# duckdb-engine): the working warehouse is DuckDB 2's format, which no 1.x client opens. v1.0.0
# is the oldest storage version that keeps everything the marts use (BIGINT, INTEGER, DOUBLE,
# VARCHAR, BOOLEAN, DATE, TIMESTAMP, NOT NULL), verified value for value by
# tests/unit/test_publish.py; the newer formats only add compression (the file is 15-20 % larger)
# and types such as VARIANT (v1.5.0), which DuckDB refuses to write into an older format with a
# message naming the type: then raise this, and say so in docs/bi.md.
PUBLISHED_STORAGE_VERSION = "v1.0.0"
KEEP_EXPORT_VERSIONS = 3  # the current one and two before it
MANIFEST_NAME = "publication.json"
VERSIONS_SUFFIX = ".versions"
TMP_MARK = ".tmp-"

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
_PUBLICATION_ID = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{6}$")
_READ_ONLY_FILE = 0o444
_READ_ONLY_DIR = 0o555


@dataclass(frozen=True)
class Publication:
    publication_id: str
    published_at: dt.datetime
    duckdb_path: Path
    tables: dict[str, int]  # "schema.table" -> rows
    parquet_files: tuple[Path, ...]  # inside the export version folder
    exports_version_dir: Path
    timings: dict[str, float] = field(default_factory=dict)


def new_publication_id(now: dt.datetime) -> str:
    """Sortable by time, unique: ``20261128T065001.123456Z-1a2b3c``."""
    return f"{now:%Y%m%dT%H%M%S.%fZ}-{uuid.uuid4().hex[:6]}"


def versions_dir(exports_dir: Path) -> Path:
    return exports_dir.with_name(exports_dir.name + VERSIONS_SUFFIX)


def _tables(con: duckdb.DuckDBPyConnection, schemas: Sequence[str]) -> list[tuple[str, str]]:
    rows = con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_catalog = 'source' and table_schema in (select unnest(?)) "
        "and table_type = 'BASE TABLE' "
        "order by 1, 2",
        [list(schemas)],
    ).fetchall()
    bad = [f"{s}.{t}" for s, t in rows if not (_IDENT.match(s) and _IDENT.match(t))]
    if bad:
        raise ValueError(f"refusing to publish tables with unexpected names: {bad}")
    names = [t for _, t in rows]
    clashes = sorted({t for t in names if names.count(t) > 1})
    if clashes:
        raise ValueError(f"two published schemas have tables of the same name: {clashes}")
    return [(s, t) for s, t in rows]


def _attach_source(con: duckdb.DuckDBPyConnection, source_path: Path, wait_seconds: float) -> None:
    """ATTACH the working warehouse read-only, waiting briefly if another process writes it."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            con.execute("ATTACH ? AS source (READ_ONLY)", [str(source_path)])
            return
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() > deadline:
                raise WarehouseLockedError(
                    f"cannot publish: {source_path} is locked by another process"
                ) from exc
            time.sleep(0.25)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_writable_and_remove(path: Path) -> None:
    """Remove a (read-only) file, folder or symlink; a missing path is fine."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
        return
    if not path.exists():
        return
    for root, dirs, _files in os.walk(path):
        os.chmod(root, 0o755)
        for d in dirs:
            os.chmod(Path(root) / d, 0o755)
    shutil.rmtree(path, ignore_errors=True)


def _clean_stale_temporaries(published_path: Path, versions: Path) -> None:
    """Leftovers of a publish that was killed before its swap (one run at a time: run lock)."""
    for tmp in published_path.parent.glob(f"{published_path.name}{TMP_MARK}*"):
        tmp.unlink(missing_ok=True)
    if versions.is_dir():
        for tmp in versions.glob(f"{TMP_MARK}*"):
            _make_writable_and_remove(tmp)


def _swap_symlink(link: Path, target_name: str) -> None:
    """Point ``link`` at ``<versions>/<target_name>`` atomically (rename of a new symlink)."""
    relative = Path(link.name + VERSIONS_SUFFIX) / target_name
    if link.exists() and not link.is_symlink():
        # first publish after the single-folder layout: move the old folder aside once
        legacy = versions_dir(link) / f"legacy-{time.strftime('%Y%m%dT%H%M%S')}"
        os.replace(link, legacy)
    tmp_link = link.with_name(f"{link.name}{TMP_MARK}{uuid.uuid4().hex[:6]}")
    os.symlink(relative, tmp_link)
    os.replace(tmp_link, link)


def _prune_versions(versions: Path, current: str, keep: int) -> list[str]:
    """Delete export versions beyond the ``keep`` newest (never the current one)."""
    names = sorted(  # newest first; a legacy folder (not a publication id) counts as oldest
        (p.name for p in versions.iterdir() if p.is_dir() and not p.name.startswith(TMP_MARK)),
        key=lambda n: (bool(_PUBLICATION_ID.match(n)), n),
        reverse=True,
    )
    doomed = [n for n in names if n != current][max(keep - 1, 0) :]
    for name in doomed:
        _make_writable_and_remove(versions / name)
    return doomed


def publish(
    source_path: Path,
    published_path: Path,
    exports_dir: Path,
    *,
    run_id: str = "",
    schemas: tuple[str, ...] = PUBLISHED_SCHEMAS,
    keep_versions: int = KEEP_EXPORT_VERSIONS,
    lock_wait_seconds: float = 10.0,
    memory_limit: str | None = None,
    on_table: Callable[[str, int, int], None] | None = None,
) -> Publication:
    """Copy every table of ``schemas`` into a fresh DuckDB file and a fresh export folder,
    verify both, then swap them in (exports first, then the DuckDB file). ``on_table(name,
    done, total)`` hears of each table as it is copied (live progress)."""
    if not source_path.exists():
        raise FileNotFoundError(f"nothing to publish: {source_path} does not exist")
    timings: dict[str, float] = {}
    started = time.monotonic()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    publication_id = new_publication_id(now)
    published_at = now.replace(microsecond=0)
    assert _PUBLICATION_ID.match(publication_id)  # it is written into SQL as a literal below
    versions = versions_dir(exports_dir)
    published_path.parent.mkdir(parents=True, exist_ok=True)
    versions.mkdir(parents=True, exist_ok=True)
    _clean_stale_temporaries(published_path, versions)
    tmp_db = published_path.with_name(f"{published_path.name}{TMP_MARK}{publication_id}")
    tmp_exports = versions / f"{TMP_MARK}{publication_id}"
    tmp_exports.mkdir()
    counts: dict[str, int] = {}
    manifest_tables: dict[str, dict[str, object]] = {}

    # in-memory hub: source attached read-only, publication read-write; spills beside them
    con = duckdb.connect(
        config={
            "memory_limit": memory_limit or memory_limit_from_env(),
            "temp_directory": str(published_path.with_name(f"{published_path.name}.tmp")),
        }
    )
    try:
        _attach_source(con, source_path, lock_wait_seconds)
        tables = _tables(con, schemas)
        if not tables:
            raise ValueError(f"nothing to publish: no tables in schemas {schemas} of {source_path}")
        con.execute(
            f"ATTACH ? AS publication (STORAGE_VERSION '{PUBLISHED_STORAGE_VERSION}')",
            [str(tmp_db)],
        )
        con.execute(
            "CREATE TABLE publication.main.publication (publication_id VARCHAR NOT NULL, "
            "published_at TIMESTAMP NOT NULL, run_id VARCHAR, tables INTEGER NOT NULL)"
        )
        con.execute(
            "CREATE TABLE publication.main.publication_tables (table_schema VARCHAR NOT NULL, "
            "table_name VARCHAR NOT NULL, row_count BIGINT NOT NULL, parquet_file VARCHAR)"
        )
        for schema, table in tables:
            # schema and table are allow-listed identifiers (checked in _tables)
            con.execute(f"CREATE SCHEMA IF NOT EXISTS publication.{schema}")
            con.execute(
                f"CREATE TABLE publication.{schema}.{table} AS "
                f"SELECT * FROM source.{schema}.{table}"
            )
            rows = con.execute(f"SELECT count(*) FROM publication.{schema}.{table}").fetchone()[0]
            counts[f"{schema}.{table}"] = rows
            parquet = tmp_exports / f"{table}.parquet"
            con.execute(
                f"COPY (SELECT * FROM publication.{schema}.{table}) TO ? (FORMAT parquet, "
                f"COMPRESSION zstd, KV_METADATA {{publication_id: '{publication_id}'}})",
                [str(parquet)],
            )
            exported = con.execute("SELECT count(*) FROM read_parquet(?)", [str(parquet)])
            if exported.fetchone()[0] != rows:
                raise RuntimeError(f"{parquet.name}: Parquet row count differs from the table")
            con.execute(
                "INSERT INTO publication.main.publication_tables VALUES (?, ?, ?, ?)",
                [schema, table, rows, parquet.name],
            )
            manifest_tables[f"{schema}.{table}"] = {
                "rows": rows,
                "parquet": parquet.name,
                "bytes": parquet.stat().st_size,
                "sha256": _sha256(parquet),
            }
            if on_table is not None:
                on_table(f"{schema}.{table}", len(manifest_tables), len(tables))
        con.execute(
            "INSERT INTO publication.main.publication VALUES (?, ?, ?, ?)",
            [publication_id, published_at, run_id, len(tables)],
        )
        con.execute("CHECKPOINT publication")
        con.execute("DETACH publication")
        timings["build_s"] = round(time.monotonic() - started, 3)

        manifest = {
            "publication_id": publication_id,
            "published_at": published_at.isoformat() + "Z",
            "run_id": run_id,
            "duckdb_file": str(published_path),
            "tables": manifest_tables,
        }
        (tmp_exports / MANIFEST_NAME).write_text(
            json.dumps(manifest, indent=2) + "\n", encoding="utf-8"
        )
        if Path(f"{tmp_db}.wal").exists():
            raise RuntimeError(f"{tmp_db}.wal left behind: the publication was not checkpointed")
        for path in [*tmp_exports.iterdir(), tmp_db]:
            os.chmod(path, _READ_ONLY_FILE)
            _fsync(path)
        os.chmod(tmp_exports, _READ_ONLY_DIR)
        final_exports = versions / publication_id
        os.replace(tmp_exports, final_exports)
    except BaseException:
        con.close()
        _make_writable_and_remove(tmp_exports)
        tmp_db.unlink(missing_ok=True)
        Path(f"{tmp_db}.wal").unlink(missing_ok=True)
        raise
    con.close()

    # The swap: two renames, exports first. Nothing before this line touched what readers see.
    _swap_symlink(exports_dir, publication_id)
    os.replace(tmp_db, published_path)
    _fsync(published_path.parent)
    _fsync(exports_dir.parent)
    timings["total_s"] = round(time.monotonic() - started, 3)
    _prune_versions(versions, publication_id, keep_versions)
    return Publication(
        publication_id=publication_id,
        published_at=published_at,
        duckdb_path=published_path,
        tables=counts,
        parquet_files=tuple(sorted(final_exports.glob("*.parquet"))),
        exports_version_dir=final_exports,
        timings=timings,
    )


def is_read_only(path: Path) -> bool:
    """No write bit for anyone (what ``publish`` sets on every file it publishes)."""
    return not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def read_manifest(exports_dir: Path) -> dict[str, object]:
    """The ``publication.json`` of the export version ``exports_dir`` points to now."""
    return json.loads((exports_dir.resolve() / MANIFEST_NAME).read_text(encoding="utf-8"))
