"""Reading delimited text files the way real downloads arrive.

Tolerated: gzip, UTF-8 with or without BOM, UTF-16 with BOM (transcoded), `,` `;` tab or `|`
delimiters, CRLF, quoted fields. Lines the CSV parser cannot read (too few or too many
columns, an unterminated quote, a line beyond the size limit) are quarantined with their line
number and DuckDB's reason; the rest of the file loads. A file whose header cannot be read
(empty, not text, a truncated gzip before the header) is refused.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import gzip
import io
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.ingest.quarantine import QUARANTINE_DDL, QUARANTINE_TABLE
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
    rows_rejected: int  # unreadable lines already written to raw.quarantine

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
    with _utf8_copy(path, encoding) as readable:
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
    rejected_lines = [
        r[0] for r in con.execute("SELECT DISTINCT line FROM _rejects ORDER BY line").fetchall()
    ]
    staged = con.execute(f"SELECT count(*) FROM {INCOMING}").fetchone()[0]
    if rejected_lines:
        _renumber_around_rejects(con, staged, rejected_lines)
        con.execute(QUARANTINE_DDL)
        con.execute(
            f"""
            INSERT INTO {QUARANTINE_TABLE}
            SELECT ?, ?, ?, line,
                   -- the reader's positional name (_c21) back to the header's name
                   coalesce(list_extract(?::VARCHAR[], try_cast(regexp_extract(
                       any_value(column_name), '^_c([0-9]+)$', 1) AS INTEGER) + 1),
                       any_value(column_name)),
                   NULL,
                   'unreadable line: ' || string_agg(DISTINCT error_type, ', ')
                   || ' (' || min(error_message) || ')',
                   any_value(csv_line), ?
            FROM _rejects GROUP BY line ORDER BY line
            """,
            [source, str(path), sha256, header, loaded_at],
        )
    _name_known_columns(con, header, known_columns)
    return StagedFile(
        header=tuple(header),
        delimiter=delimiter,
        encoding=_encoding_label(encoding),
        compressed=inspected.compressed,
        rows_staged=staged,
        rows_rejected=len(rejected_lines),
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

    Returns the files with lines the parser could not read: their rows are removed from
    ``_incoming`` so the caller can load them alone (where each bad line is quarantined with
    its number). A file-level read error raises ``duckdb.Error``: load the files alone then.
    """
    if inspected.encoding == "utf-16":
        raise ValueError("UTF-16 files are transcoded one by one, not batched")
    header = list(inspected.header)
    named = ", ".join(
        (f"_c{header.index(c)}" if c in header else "NULL::VARCHAR") + f" AS {quote_ident(c)}"
        for c in known_columns
    )
    extra = "".join(f", {sql} AS {quote_ident(name)}" for name, sql in (computed or {}).items())
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
    with_rejects = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT s.file_path FROM _rejects AS r "
            "JOIN _rejects_scan AS s USING (scan_id, file_id)"
        ).fetchall()
    }
    if with_rejects:
        con.execute(
            f"DELETE FROM {INCOMING} WHERE _source_file IN (SELECT unnest(?::VARCHAR[]))",
            [sorted(with_rejects)],
        )
    return {p for p in paths if str(p) in with_rejects}


def _renumber_around_rejects(
    con: duckdb.DuckDBPyConnection, staged: int, rejected_lines: list[int]
) -> None:
    """Make ``_row_number`` the data row ordinal (file line - 1) despite skipped lines."""
    last_line = 1 + staged + len(rejected_lines)
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _line_map AS
        SELECT row_number() OVER (ORDER BY line) AS ordinal, line - 1 AS data_row
        FROM range(2, ? + 1) AS lines(line)
        WHERE line NOT IN (SELECT unnest(?::BIGINT[]))
        """,
        [last_line, rejected_lines],
    )
    con.execute(
        f"""
        UPDATE {INCOMING} SET _row_number = _line_map.data_row
        FROM _line_map WHERE {INCOMING}._row_number = _line_map.ordinal
        """
    )
    con.execute("DROP TABLE _line_map")
