"""Every record of a delimited file is loaded or quarantined, at its physical line.

For each text format a source reads (Comtrade API CSV and bulk text, Comext .dat, Eurostat
SDMX-CSV, the flattened COIR register), real rows are written out with the faults downloads
have: the last line cut inside a quoted field, a closing quote lost in the middle, no final
line break, CRLF, a BOM, empty lines, a quoted field holding a line break. The oracle is
Python's ``csv`` module (quote-aware, independent of DuckDB and of the ingest's own count):
the first lines of the records it finds must be exactly the lines of the loaded rows
(``_row_number + 1``) plus the lines of the quarantined ones, no more, no fewer.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from dagster_project.ingest import text_files
from dagster_project.ingest.loader import ingest_files
from dagster_project.ingest.registry import FileOutcome
from dagster_project.ingest.spec import SourceSpec
from dagster_project.sources import coir, comext, comtrade, eurostat
from tests.conftest import REPO_ROOT, load_reference_tables, sample_file

FIXTURES = REPO_ROOT / "tests" / "fixtures"


@dataclass(frozen=True)
class Format:
    """A text format a source reads: its rows, the delimiter and a text column to quote."""

    spec: SourceSpec
    file_name: str
    read: Callable[[], str]
    delimiter: str
    quoted_column: str  # a text column, written quoted (legal CSV, same value)


def _gunzip(path: Path) -> Callable[[], str]:
    return lambda: gzip.decompress(path.read_bytes()).decode("utf-8")


FORMATS = {
    "comtrade_csv": Format(
        comtrade.SPEC,
        "comtrade_final_M_KAZ_released-2025-06-30.csv",
        lambda: sample_file("M", "KAZ").read_text(encoding="utf-8"),
        ",",
        "cmdDesc",
    ),
    "comtrade_bulk": Format(
        comtrade.SPEC,
        "COMTRADE-FINAL-CA3982023H6[2025-05-14].txt",
        _gunzip(FIXTURES / "comtrade_bulk" / "COMTRADE-FINAL-CA3982023H6[2025-05-14].gz"),
        "\t",
        "cmdDesc",
    ),
    "comext_dat": Format(
        comext.SPEC,
        "full202052.dat",
        lambda: (FIXTURES / "comext" / "full202052.dat").read_text(encoding="utf-8"),
        ",",
        "PARTNER_ISO",
    ),
    "eurostat_sdmx": Format(
        eurostat.SPEC,
        "estat_nrg_ti_coifpm_cut.csv",
        _gunzip(FIXTURES / "energy" / "estat_nrg_ti_coifpm_slice.csv.gz"),
        ",",
        "DATAFLOW",
    ),
    "coir_flat_csv": Format(
        coir.SPEC,
        "coir_2013_2019_monthly.csv",
        lambda: (REPO_ROOT / "data" / "real" / "coir" / "coir_2013_2019_monthly.csv").read_text(
            encoding="utf-8"
        ),
        ",",
        coir.CRUDE,
    ),
}
ROWS = 7  # data records written by each variant


def _field(value: str, quoted: bool, delimiter: str) -> str:
    if quoted or any(c in value for c in (delimiter, '"', "\n", "\r")):
        return '"' + value.replace('"', '""') + '"'
    return value


def _render(fields: list[str], delimiter: str, quoted: int | None) -> str:
    return delimiter.join(_field(v, i == quoted, delimiter) for i, v in enumerate(fields))


@dataclass
class Parts:
    """The format's header and rows, parsed, and how to write them back."""

    fmt: Format

    def __post_init__(self) -> None:
        records = list(csv.reader(io.StringIO(self.fmt.read()), delimiter=self.fmt.delimiter))
        self.header = records[0]
        rows = [r for r in records[1:] if r]
        self.rows = [list(rows[i % len(rows)]) for i in range(ROWS)]  # small fixtures repeat
        self.q = self.header.index(self.fmt.quoted_column)

    def line(self, i: int, *, quoted: bool = True) -> str:
        return _render(self.rows[i], self.fmt.delimiter, self.q if quoted else None)

    def header_line(self) -> str:
        return _render(self.header, self.fmt.delimiter, None)

    def opening_quote(self, i: int) -> int:
        """Position of the opening quote of the quoted column in line ``i``."""
        before = _render(self.rows[i][: self.q], self.fmt.delimiter, None)
        return len(before) + (len(self.fmt.delimiter) if self.q else 0)

    def without_closing_quote(self, i: int) -> str:
        line = self.line(i)
        start = self.opening_quote(i)
        end = line.index('"', start + 1)
        while line.startswith('""', end):  # an escaped quote: not the closing one
            end = line.index('"', end + 2)
        return line[:end] + line[end + 1 :]

    def short(self, i: int) -> str:
        """Line ``i`` with only its first two fields: too few columns."""
        return self.fmt.delimiter.join(self.rows[i][:2])


# Each variant: (text of the file, a reason expected in the quarantine or None).
def cut_in_quote(p: Parts) -> tuple[str, str | None]:
    lines = [p.header_line()] + [p.line(i) for i in range(ROWS - 1)]
    cut = p.line(ROWS - 1)[: p.opening_quote(ROWS - 1) + 3]
    return "\n".join(lines) + "\n" + cut, f"unterminated quoted field from line {ROWS + 1} "


def cut_in_quote_then_line_break(p: Parts) -> tuple[str, str | None]:
    text, reason = cut_in_quote(p)
    return text + "\n", reason


def lost_closing_quote(p: Parts) -> tuple[str, str | None]:
    """Line 4 loses its closing quote: the field runs on to line 5's opening quote."""
    lines = [p.header_line()] + [p.line(i) for i in range(ROWS)]
    lines[3] = p.without_closing_quote(2)
    return "\n".join(lines) + "\n", "(lines 4-5)"


def lost_closing_quote_to_end_of_file(p: Parts) -> tuple[str, str | None]:
    """Line 4 loses its closing quote and no quote follows: the rest of the file is in it."""
    for row in p.rows[3:]:  # nothing after it needs quotes
        row[p.q] = row[p.q].replace(p.fmt.delimiter, " ")
    lines = [p.header_line()] + [p.line(i, quoted=False) for i in range(ROWS)]
    lines[3] = p.without_closing_quote(2)
    return "\n".join(lines) + "\n", "unterminated quoted field from line 4 to end of file (5 lines)"


def no_final_line_break(p: Parts) -> tuple[str, str | None]:
    return "\n".join([p.header_line()] + [p.line(i) for i in range(ROWS)]), None


def crlf(p: Parts) -> tuple[str, str | None]:
    text, reason = lost_closing_quote(p)
    return text.replace("\n", "\r\n"), reason


def crlf_cut_in_quote(p: Parts) -> tuple[str, str | None]:
    text, reason = cut_in_quote(p)
    return text.replace("\n", "\r\n"), reason


def bom(p: Parts) -> tuple[str, str | None]:
    text, reason = cut_in_quote(p)
    return "\ufeff" + text, reason


def empty_lines(p: Parts) -> tuple[str, str | None]:
    """Empty lines in the middle and at the end; a short line after them (line 6)."""
    lines = [p.header_line(), p.line(0), p.line(1), "", "", p.short(2)]
    lines += [p.line(i) for i in range(3, ROWS)] + ["", ""]
    return "\n".join(lines), "unreadable line: MISSING COLUMNS"


def line_break_in_quoted_field(p: Parts) -> tuple[str, str | None]:
    """Record 1 holds a line break in its quoted field (one record, lines 2-3); a short
    record follows on line 5."""
    p.rows[0][p.q] = p.rows[0][p.q][:3] + "\n" + p.rows[0][p.q][3:]
    lines = [p.header_line(), p.line(0), p.line(1), p.short(2)]
    lines += [p.line(i) for i in range(3, ROWS)]
    return "\n".join(lines) + "\n", "unreadable line: MISSING COLUMNS"


VARIANTS = {
    f.__name__: f
    for f in (
        cut_in_quote,
        cut_in_quote_then_line_break,
        lost_closing_quote,
        lost_closing_quote_to_end_of_file,
        no_final_line_break,
        crlf,
        crlf_cut_in_quote,
        bom,
        empty_lines,
        line_break_in_quoted_field,
    )
}


def oracle_first_lines(text: str, delimiter: str) -> list[int]:
    """First physical line of every data record, by Python's csv module."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=delimiter)
    firsts, consumed = [], 0
    for i, record in enumerate(reader):
        first, consumed = consumed + 1, reader.line_num
        if i and record:  # not the header, not an empty line
            firsts.append(first)
    return firsts


def fresh(spec: SourceSpec) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    if spec is comtrade.SPEC:
        load_reference_tables(con)
    return con


def ingest_one(
    tmp_path: Path, fmt: Format, text: str, *, batched: bool = False
) -> tuple[duckdb.DuckDBPyConnection, FileOutcome]:
    """Ingest the file alone, or (``batched``) beside a clean copy of the same layout so
    that the batch reader sees it first."""
    folder = tmp_path / fmt.spec.name
    folder.mkdir(parents=True)
    path = folder / fmt.file_name
    path.write_bytes(text.encode("utf-8"))
    paths = [path]
    if batched:
        clean = folder / ("a_clean_" + fmt.file_name)
        clean.write_bytes(no_final_line_break(Parts(fmt))[0].encode("utf-8") + b"\n")
        paths.insert(0, clean)
    con = fresh(fmt.spec)
    outcomes = ingest_files(
        con, fmt.spec, paths, log=lambda _m: None, batch_bytes=10**9 if batched else 0
    )
    return con, outcomes[-1]


def assert_every_record_accounted(
    con: duckdb.DuckDBPyConnection, fmt: Format, outcome: FileOutcome, text: str
) -> list[tuple[int, str]]:
    assert outcome.status == "loaded", outcome.as_line()
    expected = oracle_first_lines(text, fmt.delimiter)
    loaded = [
        r[0]
        for r in con.execute(
            f"SELECT _row_number + 1 FROM {fmt.spec.raw_table} WHERE _source_file = ?",
            [str(outcome.path)],
        ).fetchall()
    ]
    quarantined = con.execute(
        "SELECT line_number, reason FROM raw.quarantine WHERE source_file = ? ORDER BY 1",
        [str(outcome.path)],
    ).fetchall()
    assert outcome.rows_read == len(expected), outcome.as_line()
    assert outcome.rows_read == outcome.rows_loaded + outcome.rows_quarantined
    assert (outcome.rows_loaded, outcome.rows_quarantined) == (len(loaded), len(quarantined))
    assert sorted(loaded + [line for line, _reason in quarantined]) == expected
    return quarantined


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("fmt_name", sorted(FORMATS))
def test_every_record_is_loaded_or_quarantined_at_its_line(
    tmp_path: Path, fmt_name: str, variant: str
) -> None:
    fmt = FORMATS[fmt_name]
    text, reason = VARIANTS[variant](Parts(fmt))
    con, outcome = ingest_one(tmp_path, fmt, text)
    quarantined = assert_every_record_accounted(con, fmt, outcome, text)
    if reason is not None:
        assert any(reason in r for _line, r in quarantined), quarantined


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("fmt_name", ["comtrade_csv", "comtrade_bulk"])
def test_the_batch_reader_leaves_such_files_to_be_loaded_alone(
    tmp_path: Path, fmt_name: str, variant: str
) -> None:
    fmt = FORMATS[fmt_name]
    text, _reason = VARIANTS[variant](Parts(fmt))
    con, outcome = ingest_one(tmp_path, fmt, text, batched=True)
    assert_every_record_accounted(con, fmt, outcome, text)


def test_the_cut_record_is_quarantined_with_its_lines_and_text(tmp_path: Path) -> None:
    fmt = FORMATS["comtrade_csv"]
    text, _reason = cut_in_quote(Parts(fmt))
    con, outcome = ingest_one(tmp_path, fmt, text)
    assert (outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined) == (7, 6, 1)
    [(line, reason, record)] = con.execute(
        "SELECT line_number, reason, raw_record FROM raw.quarantine"
    ).fetchall()
    assert line == 8
    assert reason.startswith("unterminated quoted field from line 8 to end of file")
    assert record == text.splitlines()[-1]


def test_a_record_the_reader_drops_without_a_word_is_quarantined(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's symptom (read 22 of 23, nothing quarantined), with a reader that drops
    the cut last record instead of rejecting it: the count still finds it."""
    real = text_files._reject_lines

    def silent_reader(con: duckdb.DuckDBPyConnection) -> list[int]:
        con.execute("DELETE FROM _rejects WHERE line = (SELECT max(line) FROM _rejects)")
        return real(con)

    monkeypatch.setattr(text_files, "_reject_lines", silent_reader)
    fmt = FORMATS["comtrade_csv"]
    text, _reason = cut_in_quote(Parts(fmt))
    con, outcome = ingest_one(tmp_path, fmt, text)
    quarantined = assert_every_record_accounted(con, fmt, outcome, text)
    assert quarantined == [
        (
            8,
            "unterminated quoted field from line 8 to end of file: "
            "the CSV reader returned nothing for it",
        )
    ]


def test_a_file_the_reader_and_the_count_read_differently_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loss that cannot be pinned on a record (here: a reader that drops a record in the
    middle without a word) refuses the file rather than load it short."""
    real = text_files._reject_lines

    def lossy_reader(con: duckdb.DuckDBPyConnection) -> list[int]:
        con.execute(f"DELETE FROM {text_files.INCOMING} WHERE _row_number = 3")
        return real(con)

    monkeypatch.setattr(text_files, "_reject_lines", lossy_reader)
    fmt = FORMATS["comext_dat"]
    text, _reason = no_final_line_break(Parts(fmt))
    con, outcome = ingest_one(tmp_path, fmt, text)
    assert outcome.status == "refused"
    assert outcome.message == (
        "the CSV reader made 6 records of what a quote-aware count finds to be 7: "
        "fix the quoting and deliver the file again"
    )
    assert con.execute("SELECT count(*) FROM raw.comext_monthly").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM raw.quarantine").fetchone() == (0,)
