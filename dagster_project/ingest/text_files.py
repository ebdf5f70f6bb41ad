"""Reading delimited text files the way real downloads arrive.

Tolerated: gzip, UTF-8 with or without BOM, UTF-16 with BOM (transcoded), `,` `;` tab or `|`
delimiters, CRLF, quoted fields (with line breaks in them), empty lines. Records the CSV
parser cannot read (too few or too many columns, an unterminated quote, a line beyond the
size limit) are quarantined with their line number and DuckDB's reason; the rest of the file
loads. A file whose header cannot be read (empty, not text, a truncated gzip before the
header) is refused.

Every file is also counted independently of the parser (:mod:`records`, one streaming pass
over the same bytes): records returned + records quarantined must equal that count. A record
the parser dropped without a word (the last one, cut inside a quoted field) is quarantined
with its lines; a file the two read differently in any other way is refused, since which of
its lines were lost could not be said.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import gzip
import io
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.ingest.quarantine import QUARANTINE_DDL, QUARANTINE_TABLE
from dagster_project.ingest.records import (
    CHUNK_BYTES,
    Accounting,
    RecordScan,
    account,
    disagreement,
    scan_records,
)
from dagster_project.ingest.registry import FileRefusedError
from dagster_project.ingest.spec import INCOMING
from dagster_project.ingest.sql import quote_ident

DELIMITERS = (",", ";", "\t", "|")
MAX_LINE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class StagedFile:
    header: tuple[str, ...]
    delimiter: str
    encoding: str
    compressed: bool
    rows_staged: int  # rows in temp table _incoming
    rows_rejected: int  # unreadable records already written to raw.quarantine

    def describe(self) -> str:
        return _describe(self.delimiter, self.encoding, self.compressed)


def _describe(delimiter: str, encoding_label: str, compressed: bool) -> str:
    delim = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}[delimiter]
    return f"{delim}-delimited, {encoding_label}" + (", gzip" if compressed else "")


def _open_binary(path: Path) -> io.BufferedIOBase:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _detect_encoding(head: bytes) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    return "utf-8"


def _first_line(path: Path) -> tuple[str, str]:
    """(first line decoded, encoding); refuses empty, binary and undecodable files."""
    try:
        with _open_binary(path) as fh:
            head = fh.read(64 * 1024)
    except (OSError, EOFError) as exc:
        raise FileRefusedError(f"unreadable ({type(exc).__name__}: {exc})") from exc
    if not head.strip():
        raise FileRefusedError("empty file: no header row")
    encoding = _detect_encoding(head)
    if encoding == "utf-8" and b"\x00" in head:
        raise FileRefusedError("binary content (NUL bytes) where a text header was expected")
    try:
        text = head.decode(encoding)
    except UnicodeDecodeError as exc:
        # the read may have cut a multi-byte character: retry without the last 3 bytes
        try:
            text = head[:-3].decode(encoding)
        except UnicodeDecodeError:
            raise FileRefusedError(
                f"not UTF-8 or UTF-16 text ({exc.reason} at byte {exc.start}); re-save as UTF-8"
            ) from exc
    return text.lstrip("\ufeff").splitlines()[0] if text.strip() else "", encoding


def _parse_header(line: str) -> tuple[list[str], str]:
    counts = {d: line.count(d) for d in DELIMITERS}
    delimiter = max(DELIMITERS, key=lambda d: counts[d])
    if counts[delimiter] == 0:
        delimiter = ","
    header = [h.strip() for h in next(csv.reader([line], delimiter=delimiter))]
    if not any(header):
        raise FileRefusedError("empty header row")
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise FileRefusedError(f"duplicate column name(s) in header: {', '.join(duplicates)}")
    return header, delimiter


@contextmanager
def _utf8_copy(path: Path, encoding: str) -> Iterator[Path]:
    """Yield a path DuckDB can read as UTF-8 (the file itself, or a transcoded temp copy)."""
    if encoding != "utf-16":
        yield path
        return
    fd, tmp = tempfile.mkstemp(suffix=".csv", prefix="mirror-utf16-")
    try:
        with _open_binary(path) as raw, os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            reader = io.TextIOWrapper(raw, encoding="utf-16", newline="")
            try:
                while chunk := reader.read(1 << 20):
                    out.write(chunk)
            except UnicodeDecodeError as exc:
                raise FileRefusedError(f"invalid UTF-16 ({exc.reason})") from exc
        yield Path(tmp)
    finally:
        Path(tmp).unlink(missing_ok=True)


@dataclass(frozen=True)
class DelimitedHeader:
    """What a delimited file's first line says: enough to read it, or to batch it with others."""

    header: tuple[str, ...]
    delimiter: str
    encoding: str  # utf-8 | utf-8-sig | utf-16
    compressed: bool

    def describe(self) -> str:
        return _describe(self.delimiter, _encoding_label(self.encoding), self.compressed)


def inspect_delimited(path: Path) -> DelimitedHeader:
    """Header, delimiter and encoding of ``path``; FileRefusedError if it has no usable header."""
    line, encoding = _first_line(path)
    header, delimiter = _parse_header(line)
    return DelimitedHeader(tuple(header), delimiter, encoding, path.name.endswith(".gz"))


def _reader_sql(width: int, *, with_filename: bool = False) -> str:
    """``read_csv`` call over ``?`` (one path or a list) with ``width`` positional VARCHAR
    columns (``_c0`` ...): nothing read from a file is ever pasted into SQL."""
    filename = ", filename = true" if with_filename else ""
    columns_sql = "{" + ", ".join(f"'_c{i}': 'VARCHAR'" for i in range(width)) + "}"
    return f"""read_csv(?, columns = {columns_sql}, auto_detect = false, header = true,
                        delim = ?, quote = '"', escape = '"', strict_mode = true,
                        null_padding = false, max_line_size = {MAX_LINE_BYTES},
                        store_rejects = true, rejects_table = '_rejects',
                        rejects_scan = '_rejects_scan'{filename})"""


def _drop_rejects_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DROP TABLE IF EXISTS _rejects")
    con.execute("DROP TABLE IF EXISTS _rejects_scan")


def _name_known_columns(
    con: duckdb.DuckDBPyConnection, header: Sequence[str], known_columns: Sequence[str]
) -> None:
    """Rename the positional columns of ``_incoming`` to their allow-listed names; known
    columns the file lacks are added as NULL; unknown ones stay ``_cN`` and are ignored."""
    for column in known_columns:
        if column in header:
            con.execute(
                f"ALTER TABLE {INCOMING} RENAME COLUMN _c{header.index(column)} "
                f"TO {quote_ident(column)}"
            )
        else:
            con.execute(f"ALTER TABLE {INCOMING} ADD COLUMN {quote_ident(column)} VARCHAR")


def _encoding_label(encoding: str) -> str:
    return {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 with BOM", "utf-16": "UTF-16"}[encoding]


def stage_delimited(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    known_columns: Sequence[str],
    required_columns: Sequence[str],
    source: str,
    sha256: str,
    loaded_at: dt.datetime,
    what: str,
) -> StagedFile:
    """Read ``path`` into temp table ``_incoming`` (every column VARCHAR, + ``_row_number``).

    Columns of ``known_columns`` missing from the file are added as NULL. Unreadable lines go
    to ``raw.quarantine``. Raises FileRefusedError when a required column is missing.
    """
    inspected = inspect_delimited(path)
    header, delimiter, encoding = list(inspected.header), inspected.delimiter, inspected.encoding
    refuse_missing_columns(inspected, required_columns, what)
    with _utf8_copy(path, encoding) as readable, _counting([readable], delimiter) as count:
        _drop_rejects_tables(con)
        try:
            con.execute(
                f"""
                CREATE OR REPLACE TEMP TABLE {INCOMING} AS
                SELECT *, row_number() OVER () AS _row_number
                FROM {_reader_sql(len(header))}
                """,
                [str(readable), delimiter],
            )
        except duckdb.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise FileRefusedError(f"unreadable as delimited text: {first}") from exc
        reject_lines = _reject_lines(con)
        staged = con.execute(f"SELECT count(*) FROM {INCOMING}").fetchone()[0]
        scan, accounting = _account(
            readable, delimiter, count[readable].result(), staged, reject_lines
        )
    rejected = len(accounting.rejected) + len(accounting.dropped)
    if rejected or scan.irregular:
        _renumber(con, scan, accounting)
    if rejected:
        con.execute(QUARANTINE_DDL)
        _quarantine_rejects(con, scan, accounting, header, (source, str(path), sha256), loaded_at)
    _name_known_columns(con, header, known_columns)
    return StagedFile(
        header=tuple(header),
        delimiter=delimiter,
        encoding=_encoding_label(encoding),
        compressed=inspected.compressed,
        rows_staged=staged,
        rows_rejected=rejected,
    )


def _reject_lines(con: duckdb.DuckDBPyConnection) -> list[int]:
    """The reader's ``line`` of each record it rejected (a record may have several errors)."""
    return [r[0] for r in con.execute("SELECT DISTINCT line FROM _rejects ORDER BY 1").fetchall()]


def scan_file(
    path: Path, delimiter: str, *, exact: bool = False, stop: threading.Event | None = None
) -> RecordScan:
    """The independent record count of ``path`` (decompressed, as DuckDB reads it). ``stop``
    ends it early (its answer is then of no use)."""

    def chunks(fh: io.BufferedIOBase) -> Iterator[bytes]:
        while not (stop is not None and stop.is_set()) and (chunk := fh.read(CHUNK_BYTES)):
            yield chunk

    try:
        with _open_binary(path) as fh:
            return scan_records(chunks(fh), delimiter, exact=exact)
    except (OSError, EOFError) as exc:
        raise FileRefusedError(f"unreadable ({type(exc).__name__}: {exc})") from exc


@contextmanager
def _counting(paths: Sequence[Path], delimiter: str) -> Iterator[dict[Path, Future[RecordScan]]]:
    """Count the records of ``paths`` in a thread while DuckDB reads them (its reader runs
    without the GIL): the count then costs little more wall time than the read. Leaving
    the block stops a count still running (the file was refused, say)."""
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="record-count")
    try:
        yield {path: pool.submit(scan_file, path, delimiter, stop=stop) for path in paths}
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


def _account(
    path: Path, delimiter: str, scan: RecordScan, staged: int, reject_lines: list[int]
) -> tuple[RecordScan, Accounting]:
    """Match ``path``'s record count with what the reader made of it; refuses the file when
    they cannot be matched. A second, byte-exact count settles a disagreement the fast count
    might have caused (a stray quote it reads differently from the reader)."""
    accounting = account(scan, staged, reject_lines)
    if accounting is None:
        scan = scan_file(path, delimiter, exact=True)
        accounting = account(scan, staged, reject_lines)
    if accounting is None:
        raise FileRefusedError(disagreement(scan, staged + len(reject_lines)))
    return scan, accounting


def _quarantine_rejects(
    con: duckdb.DuckDBPyConnection,
    scan: RecordScan,
    accounting: Accounting,
    header: Sequence[str],
    file: tuple[str, str, str],
    loaded_at: dt.datetime,
) -> None:
    """One ``raw.quarantine`` row per record the reader rejected or dropped, at its first
    physical line; a record over several lines names them, an unterminated one says so."""
    source, path, sha256 = file
    lines = sorted(accounting.rejected)
    ordinals = [accounting.rejected[line] for line in lines]
    unterminated = scan.unterminated[0] if scan.unterminated else None
    if lines:
        con.execute(
            f"""
            INSERT INTO {QUARANTINE_TABLE}
            SELECT ?, ?, ?, m.first_line,
                   -- the reader's positional name (_c21) back to the header's name
                   coalesce(list_extract(?::VARCHAR[], try_cast(regexp_extract(
                       any_value(r.column_name), '^_c([0-9]+)$', 1) AS INTEGER) + 1),
                       any_value(r.column_name)),
                   NULL,
                   CASE WHEN m.ordinal = ? THEN {_UNTERMINATED_SQL}
                        WHEN m.last_line > m.first_line
                        THEN 'unreadable record (lines ' || m.first_line || '-' || m.last_line
                             || '): '
                        ELSE 'unreadable line: ' END
                   || string_agg(DISTINCT r.error_type, ', ')
                   || ' (' || min(r.error_message) || ')',
                   any_value(r.csv_line), ?
            FROM _rejects AS r
            JOIN (SELECT unnest(?::BIGINT[]) AS line, unnest(?::BIGINT[]) AS ordinal,
                         unnest(?::BIGINT[]) AS first_line, unnest(?::BIGINT[]) AS last_line,
                         ? AS lines) AS m USING (line)
            GROUP BY m.ordinal, m.first_line, m.last_line, m.lines
            ORDER BY m.first_line
            """,
            [
                source, path, sha256, list(header), unterminated, loaded_at, lines, ordinals,
                [scan.first_line(o) for o in ordinals], [scan.last_line(o) for o in ordinals],
                scan.lines,
            ],
        )  # fmt: skip
    for ordinal in accounting.dropped:
        first, last = scan.first_line(ordinal), scan.last_line(ordinal)
        con.execute(
            f"INSERT INTO {QUARANTINE_TABLE} SELECT ?, ?, ?, ?, NULL, NULL, "
            f"{_UNTERMINATED_SQL} || 'the CSV reader returned nothing for it', NULL, ? "
            "FROM (SELECT ? AS first_line, ? AS last_line, ? AS lines) AS m",
            [source, path, sha256, first, loaded_at, first, last, scan.lines],
        )


# "unterminated quoted field from line 23 to end of file (2 lines): " (m: first_line, lines)
_UNTERMINATED_SQL = (
    "'unterminated quoted field from line ' || m.first_line || ' to end of file' "
    "|| CASE WHEN m.lines > m.first_line "
    "THEN ' (' || (m.lines - m.first_line + 1) || ' lines)' ELSE '' END || ': '"
)


def refuse_missing_columns(
    inspected: DelimitedHeader, required_columns: Sequence[str], what: str
) -> None:
    missing = [c for c in required_columns if c not in inspected.header]
    if missing:
        raise FileRefusedError(f"not {what}: missing required column(s) {', '.join(missing)}")


def stage_delimited_batch(
    con: duckdb.DuckDBPyConnection,
    paths: Sequence[Path],
    inspected: DelimitedHeader,
    *,
    known_columns: Sequence[str],
    computed: Mapping[str, str] | None = None,
) -> set[Path]:
    """Read files that share one header, delimiter and UTF-8 encoding in ONE parallel scan
    into temp table ``_incoming``: the ``known_columns`` (VARCHAR; NULL where the files lack
    one), ``_source_file``, ``_row_number`` (the data row ordinal within its file) and the
    ``computed`` columns (name -> SQL over the known columns), in the same pass.

    Returns the files with records the parser could not read, and those whose records are
    not one line each or not all returned (by the independent count): their rows are removed
    from ``_incoming`` so the caller can load them alone (where each bad record is
    quarantined with its line numbers). A file-level read error raises ``duckdb.Error``: load
    the files alone then.
    """
    if inspected.encoding == "utf-16":
        raise ValueError("UTF-16 files are transcoded one by one, not batched")
    header = list(inspected.header)
    named = ", ".join(
        (f"_c{header.index(c)}" if c in header else "NULL::VARCHAR") + f" AS {quote_ident(c)}"
        for c in known_columns
    )
    extra = "".join(f", {sql} AS {quote_ident(name)}" for name, sql in (computed or {}).items())
    with _counting(paths, inspected.delimiter) as count:
        _drop_rejects_tables(con)
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {INCOMING} AS
            SELECT * EXCLUDE (_ordinal),
                   _ordinal - min(_ordinal) OVER (PARTITION BY _source_file) + 1 AS _row_number
                   {extra}
            FROM (
                SELECT {named}, filename AS _source_file, row_number() OVER () AS _ordinal
                FROM {_reader_sql(len(header), with_filename=True)}
            )
            """,
            [[str(p) for p in paths], inspected.delimiter],
        )
        alone = {
            r[0]
            for r in con.execute(
                "SELECT DISTINCT s.file_path FROM _rejects AS r "
                "JOIN _rejects_scan AS s USING (scan_id, file_id)"
            ).fetchall()
        }
        staged = dict(
            con.execute(f"SELECT _source_file, count(*) FROM {INCOMING} GROUP BY 1").fetchall()
        )
        for path in paths:  # the independent count: anything but one line per record goes alone
            if str(path) not in alone:
                scan = count[path].result()
                if scan.irregular or scan.unterminated or scan.records != staged.get(str(path), 0):
                    alone.add(str(path))
        if alone:
            con.execute(
                f"DELETE FROM {INCOMING} WHERE _source_file IN (SELECT unnest(?::VARCHAR[]))",
                [sorted(alone)],
            )
        return {p for p in paths if str(p) in alone}


def _renumber(con: duckdb.DuckDBPyConnection, scan: RecordScan, accounting: Accounting) -> None:
    """Make ``_row_number`` the record's first line - 1 (the data row ordinal when every
    record is one line), skipping the records the reader rejected or dropped, empty lines
    and the extra lines of records with line breaks in quoted fields."""
    ordinals, shifts = scan.steps()
    missing = sorted([*accounting.rejected.values(), *accounting.dropped])
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _line_map AS
        WITH kept AS (
            SELECT r AS ordinal, row_number() OVER (ORDER BY r) AS staged
            FROM range(1, ? + 1) AS records(r)
            WHERE r NOT IN (SELECT unnest(?::BIGINT[]))
        ), steps AS (
            SELECT unnest(?::BIGINT[]) AS ordinal, unnest(?::BIGINT[]) AS shift
        )
        SELECT kept.staged, kept.ordinal + steps.shift AS data_row
        FROM kept ASOF JOIN steps ON kept.ordinal >= steps.ordinal
        """,
        [scan.records, missing, ordinals, shifts],
    )
    con.execute(
        f"""
        UPDATE {INCOMING} SET _row_number = _line_map.data_row
        FROM _line_map WHERE {INCOMING}._row_number = _line_map.staged
        """
    )
    con.execute("DROP TABLE _line_map")
