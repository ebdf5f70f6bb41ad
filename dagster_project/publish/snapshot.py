"""Publish the marts for BI: a new read-only DuckDB file and a new set of Parquet exports,
each built aside and swapped in with one atomic rename.

Layout under ``$MIRROR_HOME`` (``publish()`` takes the two public paths)::

    published/mirror.duckdb          the BI file (0444); tables marts.*, main.publication,
                                     main.publication_tables
    exports -> exports.versions/<id> a symlink, swapped atomically
    exports.versions/<id>/           one complete publication, never modified (0555/0444):
        <table>/<year>-<freq>.parquet a table with a DATE ``period_start`` and a ``freq``:
                                     one file per year and frequency (``2023-A.parquet``,
                                     ``2023-M.parquet``)
        <table>/<year>.parquet       a table with ``period_start`` and no ``freq``
        <table>/all.parquet          any other table (and an empty one)
        publication.json             id, time, run id; every table's rows and column
                                     fingerprint; every file's year, rows, row fingerprint
                                     (and each month's), sha256 and ``written_by`` (the
                                     publication that wrote it)

What changed is the only thing written. Each table is read once into slices (a year and
frequency, a year, or the whole table) with a fingerprint of their rows (:func:`_slices`).
A slice is what one delivery changes together: a revised annual file changes the annual rows
of its year and its neighbours (the annual timing window), not the monthly rows beside them,
which are nine in ten of a year's rows. A slice whose fingerprint
and table columns equal the previous publication's keeps the previous file: a hard link into
the new version, no byte written. The DuckDB file starts as a copy of the previous one with
the changed slices deleted and written again (rows are kept in year order, so a year is whole
row groups), unless that is not cheaper or not safe (:func:`_open_update`); of a changed year
whose months the previous publication recorded, only the months whose fingerprint changed
(one more month changes December's rows, not the eleven before: 1.1 M rows written at 5M
became 0.2 M). Measured at 5M
declarations under a 1 GB cap on a slow day: one more month published in 6.6 s against 38 s
for the whole (``docs/architecture.md``).

What a reader can rely on:

* The pipeline never writes ``published/mirror.duckdb`` or an exports version in place. It
  builds ``published/mirror.duckdb.tmp-<id>`` and ``exports.versions/.tmp-<id>/``, checks them,
  makes them read-only, then renames them into place. A reader opens either the previous or
  the new publication, never a mix or a half-written file, and a reader holding the old file
  open keeps reading the old publication until it reconnects.
* Before the swap, every table of the new DuckDB file is compared slice by slice with the
  warehouse (row counts of every slice, and fingerprints of the slices an update wrote into
  a copy of the previous file) and every new Parquet file's rows are counted: a difference
  publishes nothing.
* The DuckDB file's ``main.publication`` and ``publication.json`` carry the same
  ``publication_id``; each Parquet file's key-value metadata carries the id of the publication
  that wrote it (``written_by``). Row counts in ``main.publication_tables`` /
  ``publication.json`` match the tables.
* ``exports/<table>/*.parquet`` resolved once (open the folder ``exports/`` points to) is a
  consistent set. The previous ``KEEP_EXPORT_VERSIONS - 1`` versions stay on disk, so a
  reader that resolved the link just before a swap can finish; pruning a version removes
  its names only, a file it shares with a newer version stays there.
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

# the layout of an export version this code writes and can reuse (publication.json "layout")
LAYOUT = "table-folders/v3"
SLICE_COLUMN = "period_start"  # a table with this DATE column is exported one file per year
FREQ_COLUMN = "freq"  # ... and per year and frequency when it has this VARCHAR column too
_FREQ_VALUE = re.compile(r"^[A-Za-z0-9]+$")  # what a frequency may be to name a file
ALL_SLICE = "all"  # the one file of a table without it (or of an empty table)
UNDATED_SLICE = "undated"  # rows whose period_start is null
MAX_GROWTH = 1.5  # updates in place stop once the DuckDB file is this much its full size

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
    duckdb_updated: bool = False  # the previous DuckDB file was copied and updated
    written: dict[str, int] = field(default_factory=dict)  # files / rows written and reused


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


@dataclass(frozen=True)
class _Slice:
    """A year and frequency, or a year, of a table with a period (``period_start``), or the
    whole of another table."""

    name: str  # "2024-M", "2024", ALL_SLICE or UNDATED_SLICE
    rows: int
    fingerprint: str  # rows and two 64-bit sums of row hashes: equal means the same rows
    # a year's months ("2024-12") and the fingerprint of each one's rows: an update of the
    # DuckDB file rewrites the months that changed, not the year (empty: not a year)
    months: dict[str, str] = field(default_factory=dict, compare=False)


def _slice_parts(name: str) -> tuple[str, str]:
    """A slice name's year (or UNDATED_SLICE) and frequency ("" for none): "2024-M" is
    ("2024", "M"). A frequency that could not name a file (it names one, and is written into
    SQL) raises ValueError."""
    period, _, freq = name.partition("-")
    if freq and not _FREQ_VALUE.match(freq):
        raise ValueError(
            f"{FREQ_COLUMN} {freq!r} cannot name an export file (letters and digits only)"
        )
    return period, freq


def _slice_where(name: str, by_freq: bool) -> str:
    """The rows of the slice named ``name`` ("2024-M", "2024", ALL_SLICE, UNDATED_SLICE,
    "undated-M") of a table sliced by frequency too (``by_freq``) or not."""
    if name == ALL_SLICE:
        return "true"
    period, freq = _slice_parts(name)
    if by_freq:
        where_freq = f" and {FREQ_COLUMN} = '{freq}'" if freq else f" and {FREQ_COLUMN} is null"
    else:
        where_freq = ""
    if period == UNDATED_SLICE:
        return f"{SLICE_COLUMN} is null{where_freq}"
    year = int(period)  # a range, not year(...) = Y: DuckDB skips row groups by it
    start, end = f"date '{year:04d}-01-01'", f"date '{year + 1:04d}-01-01'"
    return f"{SLICE_COLUMN} >= {start} and {SLICE_COLUMN} < {end}{where_freq}"


@dataclass(frozen=True)
class _Table:
    schema: str
    name: str
    columns: str  # fingerprint of the column names and types, in order
    sliced: bool  # has a DATE column period_start: one export file per year
    by_freq: bool  # ... and a VARCHAR column freq: one per year and frequency
    slices: tuple[_Slice, ...]

    @property
    def key(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.slices)

    def file(self, piece: _Slice) -> str:
        return f"{self.name}/{piece.name}.parquet"

    def where(self, piece: str) -> str:
        """The rows of slice ``piece`` of this table."""
        return _slice_where(piece, self.by_freq)

    def month_where(self, piece: str, month: str) -> str:
        """The rows of one month (``2024-12``) of slice ``piece``, as a range DuckDB prunes
        by (the slice's frequency too: the annual rows of 2024 are January's)."""
        start = f"date '{month}-01'"
        return (
            f"{self.where(piece)} and {SLICE_COLUMN} >= {start} "
            f"and {SLICE_COLUMN} < {start} + interval 1 month"
        )

    @property
    def slice_expression(self) -> str:
        return _slice_expression(self.sliced, self.by_freq)


def _month_expression(sliced: bool) -> str:
    return f"strftime({SLICE_COLUMN}, '%Y-%m')" if sliced else "null::varchar"


def _slice_expression(sliced: bool, by_freq: bool) -> str:
    if not sliced:
        return f"'{ALL_SLICE}'"
    year = f"coalesce(year({SLICE_COLUMN})::varchar, '{UNDATED_SLICE}')"
    return f"{year} || coalesce('-' || {FREQ_COLUMN}, '')" if by_freq else year


def _columns_fingerprint(columns: Sequence[tuple[str, str]]) -> str:
    """A table's (column, type) list, in order, as a short fingerprint."""
    return hashlib.sha256(json.dumps([list(c) for c in columns]).encode()).hexdigest()[:16]


def _describe(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str) -> str:
    columns = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_catalog = ? and table_schema = ? and table_name = ? "
        "order by ordinal_position",
        [catalog, schema, table],
    ).fetchall()
    return _columns_fingerprint(columns)


def _slices(
    con: duckdb.DuckDBPyConnection,
    catalog: str,
    schema: str,
    table: str,
    sliced: bool,
    by_freq: bool,
) -> tuple[_Slice, ...]:
    """One scan: each slice's rows and fingerprint. The fingerprint sums two hashes of every
    row (as HUGEINT, so nothing overflows and a repeated row is not cancelled as XOR would):
    two slices with the same rows in any order agree, and a changed value changes both sums
    (128 bits: a collision is not a practical concern). DuckDB's hash may change with its
    version: then every slice looks changed and is written again, never the reverse."""
    years, months = _fingerprints(con, f"{catalog}.{schema}.{table}", sliced, by_freq)
    for name in years:
        try:
            _slice_parts(name)
        except ValueError as error:
            raise ValueError(
                f"{schema}.{table}: {error}: nothing was published; fix the model's freq values"
            ) from None
    found = tuple(
        _Slice(name, _rows_of(fingerprint), fingerprint, months.get(name, {}))
        for name, fingerprint in years.items()
    )
    return found or (_Slice(ALL_SLICE, 0, "0"),)  # an empty table: one empty file


def _fingerprints(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    sliced: bool,
    by_freq: bool,
    where: str = "true",
) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The fingerprint of each slice of ``relation``'s rows that ``where`` keeps, in slice
    order, and of each month of a year slice (slice -> month -> fingerprint). One scan: the
    sums of a year are the sums of its months."""
    rows = con.execute(
        f"select {_slice_expression(sliced, by_freq)} as slice, "
        f"{_month_expression(sliced)} as month, "
        f"count(*), sum(hash(_mirror_row)::hugeint), sum(hash(_mirror_row, 'mirror')::hugeint) "
        f"from {relation} as _mirror_row where {where} group by 1, 2 order by 1, 2"
    ).fetchall()
    totals: dict[str, tuple[int, int, int]] = {}
    months: dict[str, dict[str, str]] = {}
    for name, month, n, a, b in rows:
        rows_before, first, second = totals.get(name, (0, 0, 0))
        totals[name] = (rows_before + n, first + a, second + b)
        if month is not None:
            months.setdefault(name, {})[month] = _fingerprint(n, a, b)
    return {name: _fingerprint(*total) for name, total in totals.items()}, months


def _fingerprint(rows: int, first: int, second: int) -> str:
    return f"{rows}:{first}:{second}"


def _rows_of(fingerprint: str) -> int:
    """The row count a fingerprint (:func:`_fingerprint`) starts with."""
    return int(fingerprint.split(":", 1)[0])


def _read_tables(
    con: duckdb.DuckDBPyConnection, catalog: str, names: Sequence[tuple[str, str]]
) -> list[_Table]:
    """Each table's columns (one query for all tables), then its slices (one scan each)."""
    columns: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, name, column, data_type in con.execute(
        "select table_schema, table_name, column_name, data_type from information_schema.columns "
        "where table_catalog = ? order by table_schema, table_name, ordinal_position",
        [catalog],
    ).fetchall():
        columns.setdefault((schema, name), []).append((column, data_type))
    tables = []
    for schema, name in names:
        described = columns.get((schema, name), [])
        sliced = (SLICE_COLUMN, "DATE") in described
        by_freq = sliced and (FREQ_COLUMN, "VARCHAR") in described
        tables.append(
            _Table(schema, name, _columns_fingerprint(described), sliced, by_freq,
                   _slices(con, catalog, schema, name, sliced, by_freq))
        )  # fmt: skip
    return tables


@dataclass
class _Previous:
    """The publication in place now, as far as this one can reuse it."""

    manifest: dict[str, Any]
    folder: Path  # its export version

    def _files(self, table: _Table) -> dict[str, Any]:
        """The previous publication's files of this table (file -> its entry), when the table
        had these columns then (else none: nothing of it can be reused)."""
        entry = self.manifest.get("tables", {}).get(table.key)
        if not isinstance(entry, dict) or entry.get("columns") != table.columns:
            return {}
        files = entry.get("files")
        return (
            {k: v for k, v in files.items() if isinstance(v, dict)}
            if isinstance(files, dict)
            else {}
        )

    def file(self, table: _Table, piece: _Slice) -> dict[str, Any] | None:
        """The previous file of this slice when it holds exactly these rows."""
        info = self._files(table).get(table.file(piece))
        if info is None or info.get("fingerprint") != piece.fingerprint:
            return None
        return info if (self.folder / table.file(piece)).is_file() else None

    def slices(self, table: _Table) -> set[str]:
        """The names of the slices the previous publication holds of this table."""
        return {f["slice"] for f in self._files(table).values() if "slice" in f}

    def months(self, table: _Table, piece: _Slice) -> dict[str, str] | None:
        """The months of this slice's previous file and their fingerprints, when the previous
        publication recorded them (else None)."""
        months = self._files(table).get(table.file(piece), {}).get("months")
        return months if isinstance(months, dict) and months else None


def _previous(exports_dir: Path) -> _Previous | None:
    """The current publication's manifest, if it is of this layout and readable; anything
    else means nothing is reused (a full publication)."""
    try:
        manifest = read_manifest(exports_dir)
    except (OSError, ValueError):
        return None
    if manifest.get("layout") != LAYOUT:
        return None
    return _Previous(manifest, exports_dir.resolve())


def _open_update(
    con: duckdb.DuckDBPyConnection,
    previous: _Previous | None,
    published_path: Path,
    tmp_db: Path,
    tables: Sequence[_Table],
) -> int | None:
    """Start the new DuckDB file from a copy of the published one when that is cheaper and
    safe: it is the publication the exports show, in the published storage format, not grown
    past :data:`MAX_GROWTH` of its last full write by earlier updates, and less than half of
    the rows change. Returns the size of that last full write (the copy is then attached as
    ``publication``), or None: the caller writes every table afresh."""
    if previous is None or not published_path.is_file():
        return None
    duck = previous.manifest.get("duckdb", {})
    fresh_bytes = duck.get("fresh_bytes") if isinstance(duck, dict) else None
    if not isinstance(fresh_bytes, int) or published_path.stat().st_size > MAX_GROWTH * fresh_bytes:
        return None
    total = sum(t.rows for t in tables)
    changed = sum(p.rows for t in tables for p in t.slices if previous.file(t, p) is None)
    if total and changed > total / 2:
        return None
    # read in place before copying: a file that is not that publication costs no copy
    con.execute("ATTACH ? AS published_now (READ_ONLY)", [str(published_path)])
    try:
        storage, pub_id = con.execute(
            "select tags['storage_version'], "
            "(select publication_id from published_now.main.publication) "
            "from duckdb_databases() where database_name = 'published_now'"
        ).fetchone()
    finally:
        con.execute("DETACH published_now")
    if storage != f"{PUBLISHED_STORAGE_VERSION}+" or pub_id != previous.manifest.get(
        "publication_id"
    ):
        return None
    shutil.copyfile(published_path, tmp_db)
    os.chmod(tmp_db, 0o644)
    con.execute("ATTACH ? AS publication", [str(tmp_db)])
    return fresh_bytes


@dataclass(frozen=True)
class _Rewritten:
    """What an update wrote into the copy of the previous file, to be fingerprinted again:
    slices written whole, and the (slice, month) written of slices updated month by month."""

    slices: frozenset[str] = frozenset()
    months: frozenset[tuple[str, str]] = frozenset()


def _write_table_into(
    con: duckdb.DuckDBPyConnection, table: _Table, previous: _Previous | None, updating: bool
) -> tuple[int, _Rewritten | None]:
    """Bring ``publication.<table>`` to the source's rows; returns the rows written and what
    was written into the copy (None: the table was written whole). Rows of a table with a
    period are written in year order, so that a later update deletes whole row groups and the
    file does not grow much."""
    target = f"publication.{table.schema}.{table.name}"
    source = f"source.{table.schema}.{table.name}"
    con.execute(f"CREATE SCHEMA IF NOT EXISTS publication.{table.schema}")
    exists = con.execute(
        "select count(*) from duckdb_tables() where database_name = 'publication' "
        "and schema_name = ? and table_name = ?",
        [table.schema, table.name],
    ).fetchone()[0]
    same_columns = (
        exists and _describe(con, "publication", table.schema, table.name) == table.columns
    )
    if not (updating and same_columns and previous is not None):
        con.execute(f"DROP TABLE IF EXISTS {target}")
        order = f" ORDER BY {table.slice_expression}" if table.sliced else ""
        con.execute(f"CREATE TABLE {target} AS SELECT * FROM {source}{order}")
        return table.rows, None
    written = 0
    keep = {p.name for p in table.slices if previous.file(table, p) is not None}
    current = {p.name: p for p in table.slices}
    slices: set[str] = set()
    months: set[tuple[str, str]] = set()
    inserted: list[str] = []  # the ranges to insert from the source, in order
    # Every row outside the slices kept is replaced: changed slices, and slices now gone. Of a
    # changed year whose months the previous publication recorded, only the months that
    # changed or are gone (one new month changes December's rows, not the eleven before it).
    # One DELETE per range, which DuckDB prunes by row group (a condition over every row of
    # every table cost 1 s at 5M), and one INSERT of every range (one INSERT each cost
    # 0.15 s more a range at 5M: each wrote its own row groups).
    for name in sorted((previous.slices(table) | set(current)) - keep):
        piece = current.get(name)
        before = previous.months(table, piece) if piece is not None and piece.months else None
        if piece is None or before is None:
            con.execute(f"DELETE FROM {target} WHERE {table.where(name)}")
            if piece is not None:
                inserted.append(table.where(name))
                slices.add(name)
                written += piece.rows
            continue
        for month in sorted(set(before) | set(piece.months)):
            if before.get(month) == piece.months.get(month):
                continue
            con.execute(f"DELETE FROM {target} WHERE {table.month_where(name, month)}")
            if month in piece.months:
                inserted.append(table.month_where(name, month))
                months.add((name, month))
                written += _rows_of(piece.months[month])
    if inserted:
        ranges = " or ".join(f"({where})" for where in inserted)
        con.execute(f"INSERT INTO {target} SELECT * FROM {source} WHERE {ranges}")
    return written, _Rewritten(frozenset(slices), frozenset(months))


def _verify(
    con: duckdb.DuckDBPyConnection,
    tables: Sequence[_Table],
    rewritten: Mapping[str, _Rewritten],
) -> None:
    """The new DuckDB file holds, slice by slice, the source's rows: the row count of every
    slice, and the fingerprint of every slice and month written into a copy of the previous
    file (what a lost or doubled update would break). What was kept from the copy was only
    spared by the delete, and a table written whole came from the source in one statement:
    their counts suffice (fingerprinting every slice again cost 1.6 s at 5M, a year whose
    month was rewritten 0.4 s). ``rewritten``: table -> what an update wrote into the copy;
    a table absent from it was written whole."""
    for table in tables:
        done = rewritten.get(table.key, _Rewritten())
        name = f"publication.{table.schema}.{table.name}"
        counts = dict(
            con.execute(f"select {table.slice_expression}, count(*) from {name} group by 1")
            .fetchall()
        )  # fmt: skip
        # the fingerprints of what was rewritten: its ranges only, which DuckDB prunes by
        ranges = [table.where(s) for s in sorted(done.slices)]
        ranges += [table.month_where(s, m) for s, m in sorted(done.months)]
        years: dict[str, str] = {}
        got_months: dict[tuple[str, str], str] = {}
        if ranges:
            where = " or ".join(f"({r})" for r in ranges)
            years, months = _fingerprints(con, name, table.sliced, table.by_freq, where)
            got_months = {
                (s, m): f for s, by_month in months.items() for m, f in by_month.items()
                if (s, m) in done.months
            }  # fmt: skip
        got = sorted(
            (piece, n, years.get(piece, "") if piece in done.slices else "")
            for piece, n in counts.items()
        )
        expected = sorted(
            (p.name, p.rows, p.fingerprint if p.name in done.slices else "")
            for p in table.slices
            if p.rows
        )
        expected_months = {
            (p.name, m): f for p in table.slices for m, f in p.months.items()
            if (p.name, m) in done.months
        }  # fmt: skip
        if got != expected or got_months != expected_months:
            raise RuntimeError(
                f"the new publication's {table.key} differs from the warehouse "
                f"({sum(counts.values())} rows against {table.rows}): nothing was published"
            )


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
    """Publish every table of ``schemas`` as a new DuckDB file and a new export version,
    verify both, then swap them in (exports first, then the DuckDB file). What did not change
    since the publication in place is reused: its Parquet files are hard-linked, and its DuckDB
    file is copied and only the changed slices rewritten. ``on_table(name, done, total)``
    hears of each table as it is written (live progress)."""
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
    previous = _previous(exports_dir)
    manifest_tables: dict[str, dict[str, object]] = {}
    stats = {"files_written": 0, "files_reused": 0, "rows_written_parquet": 0,
             "rows_written_duckdb": 0}  # fmt: skip

    # in-memory hub: source attached read-only, publication read-write; spills beside them
    con = duckdb.connect(
        config={
            "memory_limit": memory_limit or memory_limit_from_env(),
            "temp_directory": str(published_path.with_name(f"{published_path.name}.tmp")),
        }
    )
    try:
        _attach_source(con, source_path, lock_wait_seconds)
        names = _tables(con, schemas)
        if not names:
            raise ValueError(f"nothing to publish: no tables in schemas {schemas} of {source_path}")
        tables = _read_tables(con, "source", names)
        timings["fingerprint_s"] = round(time.monotonic() - started, 3)
        fresh_bytes = _open_update(con, previous, published_path, tmp_db, tables)
        updating = fresh_bytes is not None
        if not updating:
            con.execute(
                f"ATTACH ? AS publication (STORAGE_VERSION '{PUBLISHED_STORAGE_VERSION}')",
                [str(tmp_db)],
            )
        published_names = {t.key for t in tables}
        for schema, name in con.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where database_name = 'publication' and schema_name <> 'main'"
        ).fetchall():
            if f"{schema}.{name}" not in published_names:  # a mart that no longer exists
                con.execute(f'DROP TABLE publication."{schema}"."{name}"')
        con.execute("DROP TABLE IF EXISTS publication.main.publication")
        con.execute("DROP TABLE IF EXISTS publication.main.publication_tables")
        con.execute(
            "CREATE TABLE publication.main.publication (publication_id VARCHAR NOT NULL, "
            "published_at TIMESTAMP NOT NULL, run_id VARCHAR, tables INTEGER NOT NULL)"
        )
        con.execute(
            "CREATE TABLE publication.main.publication_tables (table_schema VARCHAR NOT NULL, "
            "table_name VARCHAR NOT NULL, row_count BIGINT NOT NULL, parquet_file VARCHAR)"
        )
        rewritten: dict[str, _Rewritten] = {}  # table -> what an update wrote into the copy
        for table in tables:
            step = time.monotonic()
            written, update = _write_table_into(con, table, previous, updating)
            stats["rows_written_duckdb"] += written
            if update is not None:
                rewritten[table.key] = update
            timings["duckdb_s"] = timings.get("duckdb_s", 0.0) + time.monotonic() - step
            step = time.monotonic()
            (tmp_exports / table.name).mkdir()
            files: dict[str, dict[str, object]] = {}
            for piece in table.slices:
                relative = table.file(piece)
                parquet = tmp_exports / relative
                reused = previous.file(table, piece) if previous is not None else None
                if reused is not None:
                    _link_or_copy(previous.folder / relative, parquet)
                    # the same rows: this publication's months are theirs (recorded here even
                    # when the publication that wrote the file did not record them)
                    files[relative] = {
                        **reused,
                        **({"months": piece.months} if piece.months else {}),
                    }
                    stats["files_reused"] += 1
                    continue
                con.execute(
                    f"COPY (SELECT * FROM source.{table.schema}.{table.name} "
                    f"WHERE {table.where(piece.name)}) TO ? (FORMAT parquet, COMPRESSION zstd, "
                    f"KV_METADATA {{publication_id: '{publication_id}'}})",
                    [str(parquet)],
                )
                exported = con.execute("SELECT count(*) FROM read_parquet(?)", [str(parquet)])
                if exported.fetchone()[0] != piece.rows:
                    raise RuntimeError(f"{relative}: Parquet row count differs from the table")
                files[relative] = {
                    "slice": piece.name,
                    "rows": piece.rows,
                    "fingerprint": piece.fingerprint,
                    **({"months": piece.months} if piece.months else {}),
                    "bytes": parquet.stat().st_size,
                    "sha256": _sha256(parquet),
                    "written_by": publication_id,
                }
                stats["files_written"] += 1
                stats["rows_written_parquet"] += piece.rows
            timings["parquet_s"] = timings.get("parquet_s", 0.0) + time.monotonic() - step
            glob = f"{table.name}/*.parquet"
            con.execute(
                "INSERT INTO publication.main.publication_tables VALUES (?, ?, ?, ?)",
                [table.schema, table.name, table.rows, glob],
            )
            manifest_tables[table.key] = {
                "rows": table.rows,
                "parquet": glob,
                "columns": table.columns,
                "files": files,
            }
            if on_table is not None:
                on_table(table.key, len(manifest_tables), len(tables))
        con.execute(
            "INSERT INTO publication.main.publication VALUES (?, ?, ?, ?)",
            [publication_id, published_at, run_id, len(tables)],
        )
        step = time.monotonic()
        _verify(con, tables, rewritten)
        timings["verify_s"] = time.monotonic() - step
        con.execute("CHECKPOINT publication")
        con.execute("DETACH publication")
        timings["build_s"] = round(time.monotonic() - started, 3)
        if fresh_bytes is None:  # written whole: the size later updates are measured against
            fresh_bytes = tmp_db.stat().st_size
        manifest = {
            "layout": LAYOUT,
            "publication_id": publication_id,
            "published_at": published_at.isoformat() + "Z",
            "run_id": run_id,
            "duckdb_file": str(published_path),
            "duckdb": {"written": "updated" if updating else "whole",
                       "bytes": tmp_db.stat().st_size, "fresh_bytes": fresh_bytes},
            "written": stats,
            "tables": manifest_tables,
        }  # fmt: skip
        (tmp_exports / MANIFEST_NAME).write_text(
            json.dumps(manifest, indent=2) + "\n", encoding="utf-8"
        )
        if Path(f"{tmp_db}.wal").exists():
            raise RuntimeError(f"{tmp_db}.wal left behind: the publication was not checkpointed")
        for path in [tmp_exports / MANIFEST_NAME, tmp_db]:
            os.chmod(path, _READ_ONLY_FILE)
            _fsync(path)
        for folder in [p for p in tmp_exports.iterdir() if p.is_dir()]:
            for path in folder.iterdir():
                if not is_read_only(path):
                    os.chmod(path, _READ_ONLY_FILE)
                    _fsync(path)
            os.chmod(folder, _READ_ONLY_DIR)
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
    timings["total_s"] = time.monotonic() - started
    timings = {k: round(v, 3) for k, v in timings.items()}
    _prune_versions(versions, publication_id, keep_versions)
    return Publication(
        publication_id=publication_id,
        published_at=published_at,
        duckdb_path=published_path,
        tables={t.key: t.rows for t in tables},
        parquet_files=tuple(sorted(final_exports.glob("*/*.parquet"))),
        exports_version_dir=final_exports,
        timings=timings,
        duckdb_updated=updating,
        written=dict(stats),
    )


def _link_or_copy(existing: Path, new: Path) -> None:
    """A file of the previous version into the new one: a hard link (no bytes written; the
    file is read-only and never modified, so both versions share it safely), or a copy where
    the file system has no hard links."""
    try:
        os.link(existing, new)
    except OSError:
        shutil.copy2(existing, new)


def is_read_only(path: Path) -> bool:
    """No write bit for anyone (what ``publish`` sets on every file it publishes)."""
    return not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def read_manifest(exports_dir: Path) -> dict[str, object]:
    """The ``publication.json`` of the export version ``exports_dir`` points to now."""
    return json.loads((exports_dir.resolve() / MANIFEST_NAME).read_text(encoding="utf-8"))
