"""The source template: what a source module provides and what the shared machinery does.

A source supplies how its files look: an id, file name patterns, delivered columns, row rules
and a ``stage`` function that reads one file into temp table ``_incoming``. The template does
the rest, the same way for every source: the raw table's DDL, the split of staged rows into the
raw table and ``raw.quarantine``, the row accounting (:meth:`SourceSpec.load_file`); the
loader adds the registry, versions and transactions. ``docs/adding-a-source.md`` is the recipe.

Reference data (the tables of ``data/reference``, the ECB rates) is a source too: the same
spec, with ``reference_file`` (the one file versioned with the code it reads) instead of a
landing folder. Its raw table holds that file's current version only: the file's history is
the repository's, and its readers (dbt staging, a landing source's rules) read it whole.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from dagster_project.ingest import quarantine as q
from dagster_project.ingest import raw_types
from dagster_project.ingest.landing import scan, unmatched
from dagster_project.ingest.sql import quote_ident, table_exists

# Load metadata every raw table carries after its delivered columns.
LOAD_METADATA_COLUMNS: dict[str, str] = {
    "_source_file": "VARCHAR NOT NULL",
    "_file_sha256": "VARCHAR NOT NULL",
    "_loaded_at": "TIMESTAMP NOT NULL",
    "_row_number": "BIGINT NOT NULL",
}


def raw_table_ddl(
    table: str,
    delivered: Sequence[str],
    extra: Mapping[str, str] | None = None,
    types: Mapping[str, str] | None = None,
) -> str:
    """``CREATE TABLE IF NOT EXISTS``: delivered columns with their ``types`` (VARCHAR, as the
    file has them, when not typed), then the load metadata, then source-specific ``extra``
    columns with their types."""
    cols = [f"{quote_ident(c)} {(types or {}).get(c, 'VARCHAR')}" for c in delivered]
    cols += [
        f"{name} {type_}" for name, type_ in {**LOAD_METADATA_COLUMNS, **(extra or {})}.items()
    ]
    return f"CREATE TABLE IF NOT EXISTS {table} (\n  " + ",\n  ".join(cols) + "\n)"


# The types a delivered column may have in raw (DuckDB's names, as information_schema gives
# them): what staging reads without casting. Anything else stays VARCHAR as delivered.
RAW_TYPES = frozenset({"INTEGER", "BIGINT", "DOUBLE", "BOOLEAN", "DATE"})


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


INCOMING = "_incoming"  # the temp table a source's stage step fills


@dataclass(frozen=True)
class Staged:
    """What a source's ``stage`` left in temp table ``_incoming`` (delivered columns as
    VARCHAR + ``_row_number``, one row per record of one file) and how to judge it."""

    detected_format: str  # recorded in raw.file_registry
    rows_rejected: int = 0  # records the reader could not parse (already in raw.quarantine)
    line_offset: int = 1  # data row number + this = file line number (1: one header line)
    columns: tuple[str, ...] | None = None  # staged columns to store (None: the source's)
    rules: tuple[q.Rule, ...] | None = None  # row rules (None: the source's)
    extra_values: Mapping[str, object] = field(default_factory=dict)  # per-file extra columns


# (connection, path, *, sha256, loaded_at) -> Staged; raises FileRefusedError.
Stager = Callable[..., Staged]


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
    """One landing source. ``name`` is its id: its landing folder, its ``source`` in the
    registry and quarantine, its dbt source and staging folder, and the prefix of its raw table
    (``raw.<id>`` or ``raw.<id>_<what>``); its module is ``sources/<id>.py``."""

    name: str
    raw_table: str  # schema-qualified; rows carry _source_file and _file_sha256
    description: str
    patterns: tuple[str, ...]  # file names it reads (fnmatch, below its landing folder)
    columns: tuple[str, ...]  # delivered columns, in this order
    stage: Stager
    rules: tuple[q.Rule, ...] = ()  # tried in order; the first a row breaks quarantines it
    # Delivered columns stored typed (name -> one of RAW_TYPES), the others VARCHAR. A value
    # that does not cast quarantines its row (q.typed, after ``rules``); staging renames.
    column_types: Mapping[str, str] = field(default_factory=dict)
    extra_columns: Mapping[str, str] = field(default_factory=dict)  # name -> type, after metadata
    requires: tuple[str, ...] = ()  # raw tables its rules read (loaded before it)
    # Optional fast path for many small files of one layout: one scan, one transaction.
    batch_key: BatchKey | None = None
    load_batch: BatchLoader | None = None
    # Reference data: where its one file is (a function: a package's file is found when
    # read). None: a landing source, whose files are under the landing zone's <id>/.
    reference_file: Callable[[], Path] | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise ValueError(
                f"source id {self.name!r}: lower case letters, digits and _ (it names a "
                "folder, a module, a table and a dbt source)"
            )
        schema, _, table = self.raw_table.partition(".")
        if schema != "raw" or not (table == self.name or table.startswith(f"{self.name}_")):
            raise ValueError(
                f"source {self.name!r}: raw table {self.raw_table!r} must be "
                f"raw.{self.name} or raw.{self.name}_<what> (one id per source)"
            )
        if self.reference_file is not None and self.load_batch is not None:
            raise ValueError(f"source {self.name!r}: reference data is one file, never a batch")
        for column, type_ in self.column_types.items():
            if column not in self.columns or type_ not in RAW_TYPES:
                raise ValueError(
                    f"source {self.name!r}: column_types[{column!r}] = {type_!r}: a delivered "
                    f"column and one of {sorted(RAW_TYPES)}"
                )

    def row_rules(
        self, rules: Sequence[q.Rule] | None = None, columns: Sequence[str] | None = None
    ) -> tuple[q.Rule, ...]:
        """The rules a staged row is judged by: ``rules`` (None: the source's), then one
        :func:`q.typed` per typed column among ``columns`` (None: all the source's)."""
        present = set(self.columns if columns is None else columns)
        return (
            *(self.rules if rules is None else rules),
            *(q.typed(c, t) for c, t in self.column_types.items() if c in present),
        )

    @property
    def keeps_history(self) -> bool:
        """Whether superseded file versions keep their rows in the raw table (landing
        sources: dbt marks the current version) or are replaced (reference data)."""
        return self.reference_file is None

    @property
    def create_sql(self) -> str:
        """Idempotent DDL of the raw table: delivered columns, load metadata, extra columns."""
        return raw_table_ddl(self.raw_table, self.columns, self.extra_columns, self.column_types)

    def ensure_tables(self, con: duckdb.DuckDBPyConnection) -> bool:
        """Create the raw table if it is missing. A reference table that is missing or whose
        columns are not the spec's (a warehouse built by older code) is created anew: it
        holds nothing but its file's current version, which must then be read again (True).
        A landing source's table of older code is typed first (:meth:`type_in_place`)."""
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        found = self._found_columns(con)
        expected = [(c, self.column_types.get(c, "VARCHAR")) for c in self.columns] + [
            (name, type_.split()[0])
            for name, type_ in {**LOAD_METADATA_COLUMNS, **self.extra_columns}.items()
        ]
        rebuilt = not self.keeps_history and found != expected
        if rebuilt and found:
            con.execute(f"DROP TABLE {self.raw_table}")
        con.execute(self.create_sql)
        return rebuilt

    def _found_columns(self, con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
        """(name, type) of the raw table's columns as the warehouse has them (none: missing)."""
        schema, _, table = self.raw_table.partition(".")
        return con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [schema, table],
        ).fetchall()

    def type_in_place(self, con: duckdb.DuckDBPyConnection) -> int | None:
        """A landing source's raw table built by older code, its typed columns still VARCHAR,
        is typed in place (:mod:`raw_types`): its rows are history, their files may be gone,
        so they are converted, not re-read. Returns the rows that did not cast (moved to
        quarantine), None when there was nothing to convert."""
        if not self.keeps_history:  # reference data: ensure_tables rebuilds and re-reads
            return None
        found = self._found_columns(con)
        to_type = raw_types.untyped_columns(found, self.column_types)
        if not to_type:
            return None

        def create_typed(table: str) -> str:
            return raw_table_ddl(table, self.columns, self.extra_columns, self.column_types)

        return raw_types.convert_in_place(
            con, table=self.raw_table, create_typed=create_typed, source=self.name,
            delivered=self.columns, to_type=to_type, now=naive_utc_now(),
        )  # fmt: skip

    def check_requires(self, con: duckdb.DuckDBPyConnection) -> None:
        """The tables its rules read are there (without them every row would be quarantined)."""
        for table in self.requires:
            if not table_exists(con, table):
                raise RuntimeError(
                    f"{table} is missing: its rules read it, load it before {self.name} files"
                )

    def load_file(
        self, con: duckdb.DuckDBPyConnection, path: Path, *, sha256: str, loaded_at: dt.datetime
    ) -> LoadResult:
        """Append ``path``'s rows to the raw table, the rows breaking a rule to
        ``raw.quarantine``. Runs inside the caller's transaction; the source's ``stage``
        raises FileRefusedError for a file whose structure is unusable. Reference data
        replaces the table's rows (a refused file rolls back to the previous ones)."""
        if not self.keeps_history:
            con.execute(f"DELETE FROM {self.raw_table}")
        staged = self.stage(con, path, sha256=sha256, loaded_at=loaded_at)
        counts = q.split_and_insert_files(
            con, staged=INCOMING, raw_table=self.raw_table,
            columns=self.columns if staged.columns is None else staged.columns,
            rules=self.row_rules(staged.rules, staged.columns),
            source=self.name, files={path: q.FileValues(sha256, dict(staged.extra_values))},
            loaded_at=loaded_at, line_offset=staged.line_offset, single_file=True,
        )  # fmt: skip
        read, quarantined = counts.get(path, (0, 0))
        rejected = staged.rows_rejected  # unparseable records count as read and quarantined
        return LoadResult(
            read + rejected, read - quarantined, quarantined + rejected, staged.detected_format
        )


def naive_utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def files_of(landing: Path, spec: SourceSpec) -> list[Path]:
    """The files a source reads: its landing folder's, or its one reference file."""
    if spec.reference_file is not None:
        return [spec.reference_file()]
    return scan(landing, spec.name, spec.patterns)


def ignored_files_of(landing: Path, spec: SourceSpec) -> list[Path]:
    """Files in the source's folder that it does not read (their name matches no pattern)."""
    if spec.reference_file is not None:
        return []  # it has no landing folder
    return unmatched(landing, spec.name, spec.patterns)
