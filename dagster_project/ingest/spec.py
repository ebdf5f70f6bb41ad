"""What every source module provides to the shared ingest machinery."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb

from dagster_project.ingest.landing import scan, unmatched
from dagster_project.ingest.sql import quote_ident

# Load metadata every raw table carries after its delivered columns.
LOAD_METADATA_COLUMNS: dict[str, str] = {
    "_source_file": "VARCHAR NOT NULL",
    "_file_sha256": "VARCHAR NOT NULL",
    "_loaded_at": "TIMESTAMP NOT NULL",
    "_row_number": "BIGINT NOT NULL",
}


def raw_table_ddl(
    table: str, delivered: Sequence[str], extra: Mapping[str, str] | None = None
) -> str:
    """``CREATE TABLE IF NOT EXISTS``: delivered columns as VARCHAR (as the file has them),
    then the load metadata, then source-specific ``extra`` columns with their types."""
    cols = [f"{quote_ident(c)} VARCHAR" for c in delivered]
    cols += [
        f"{name} {type_}" for name, type_ in {**LOAD_METADATA_COLUMNS, **(extra or {})}.items()
    ]
    return f"CREATE TABLE IF NOT EXISTS {table} (\n  " + ",\n  ".join(cols) + "\n)"


@dataclass(frozen=True)
class LoadResult:
    """Counts of one file's load. Always: rows_read == rows_loaded + rows_quarantined."""

    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    detected_format: str

    def __post_init__(self) -> None:
        if self.rows_read != self.rows_loaded + self.rows_quarantined:
            raise AssertionError(
                f"row accounting broken: read {self.rows_read} != loaded {self.rows_loaded} "
                f"+ quarantined {self.rows_quarantined}"
            )

    def plus_rejected(self, rejected: int) -> LoadResult:
        """Add lines the reader could not parse (already in raw.quarantine) to the counts."""
        return replace(
            self,
            rows_read=self.rows_read + rejected,
            rows_quarantined=self.rows_quarantined + rejected,
        )


# (connection, path, *, sha256, loaded_at) -> LoadResult; raises FileRefusedError.
FileLoader = Callable[..., LoadResult]


@dataclass(frozen=True)
class BatchResult:
    """What a batch load did: counts of the files it loaded, and the files it left to be
    loaded one by one (lines its fast reader could not parse, say)."""

    loaded: dict[Path, LoadResult]
    load_alone: tuple[Path, ...] = ()


# (path) -> a key: files with equal keys can be loaded in one batch; None = load it alone.
BatchKey = Callable[[Path], Hashable | None]
# (connection, {path: sha256}, *, loaded_at) -> BatchResult; runs in the caller's transaction.
BatchLoader = Callable[..., BatchResult]


@dataclass(frozen=True)
class SourceSpec:
    """One landing source: its folder, file patterns, raw table(s) and loader."""

    name: str  # landing sub-folder and registry `source`
    raw_table: str  # schema-qualified; rows carry _source_file and _file_sha256
    patterns: tuple[str, ...]
    create_sql: tuple[str, ...]  # idempotent DDL for its raw table(s)
    load_file: FileLoader
    description: str
    # Optional fast path for many small files of one layout: one scan, one transaction.
    batch_key: BatchKey | None = None
    load_batch: BatchLoader | None = None

    def ensure_tables(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        for statement in self.create_sql:
            con.execute(statement)


def naive_utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def files_of(landing: Path, spec: SourceSpec) -> list[Path]:
    return scan(landing, spec.name, spec.patterns)


def ignored_files_of(landing: Path, spec: SourceSpec) -> list[Path]:
    """Files in the source's folder that it does not read (their name matches no pattern)."""
    return unmatched(landing, spec.name, spec.patterns)
