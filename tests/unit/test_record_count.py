"""The independent record count (ingest/records.py): records, their physical lines, and the
same answer as DuckDB's reader on whatever it is given, however the bytes are chunked."""

from __future__ import annotations

import random
from pathlib import Path

import duckdb
import pytest

from dagster_project.ingest.records import RecordScan, account, scan_records
from dagster_project.ingest.text_files import _reader_sql


def scan(data: bytes, delimiter: str = ",", *, chunk: int | None = None, exact: bool = False):
    step = chunk or max(len(data), 1)
    chunks = [data[i : i + step] for i in range(0, len(data), step)]
    return scan_records(chunks, delimiter, exact=exact)


def spans(s: RecordScan) -> list[tuple[int, int]]:
    return [(s.first_line(o), s.last_line(o)) for o in range(1, s.records + 1)]


CASES: dict[str, tuple[bytes, list[tuple[int, int]], tuple[int, int] | None]] = {
    # name: (file, (first, last) line of each data record, unterminated (ordinal, line))
    "plain": (b"a,b,c\n1,2,3\n4,5,6\n", [(2, 2), (3, 3)], None),
    "no final line break": (b"a,b,c\n1,2,3\n4,5,6", [(2, 2), (3, 3)], None),
    "crlf": (b"a,b,c\r\n1,2,3\r\n4,5,6\r\n", [(2, 2), (3, 3)], None),
    "cr line ends": (b"a,b,c\r1,2,3\r4,5,6\r", [(2, 2), (3, 3)], None),
    "bom": (b'\xef\xbb\xbfa,b,c\n1,"x",3\n', [(2, 2)], None),
    "empty lines": (b"a,b,c\n\n1,2,3\r\n\n\n4,5,6\n\n", [(3, 3), (6, 6)], None),
    "crlf empty line": (b"a,b,c\r\n1,2,3\r\n\r\n4,5,6\r\n", [(2, 2), (4, 4)], None),
    "line break in a quoted field": (
        b'a,b,c\n1,"two\nlines",3\n4,5,6\n',
        [(2, 3), (4, 4)],
        None,
    ),
    "escaped quotes and a line break": (
        b'a,b,c\n1,"say ""hi""\nthere",3\n"4",5,6\n',
        [(2, 3), (4, 4)],
        None,
    ),
    "cut inside a quoted field": (b'a,b,c\n1,2,3\n4,"cu', [(2, 2), (3, 3)], (2, 3)),
    "cut inside a quoted field, line break": (b'a,b,c\n1,2,3\n4,"cu\n', [(2, 2), (3, 3)], (2, 3)),
    "unterminated quote swallows the rest": (
        b'a,b,c\n1,2,3\n4,"x,6\n7,8,9\n10,11,12\n',
        [(2, 2), (3, 5)],
        (2, 3),
    ),
    "lost closing quote runs to the next quote": (
        b'a,b,c\n1,"x,3\n4,"y",6\n7,8,9\n',
        [(2, 3), (4, 4)],
        None,
    ),
    "a quote inside an unquoted field is text": (
        b'a,b,c\n1,5" pipe,3\n4,5,6\n',
        [(2, 2), (3, 3)],
        None,
    ),
    "one space then a quote opens it": (b'a,b,c\n1, "x\ny",3\n4,5,6\n', [(2, 3), (4, 4)], None),
    "two spaces then a quote: text": (b'a,b,c\n1,  "x\ny",3\n', [(2, 2), (3, 3)], None),
    "spaces after a closing quote, then a quote reopens": (
        b'a,b,c\n1,"a" "\n",3\n4,5,6\n',
        [(2, 3), (4, 4)],
        None,
    ),
    "a whitespace line is a record": (b"a,b,c\n1,2,3\n \n", [(2, 2), (3, 3)], None),
    "header only": (b"a,b,c\n", [], None),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_records_and_their_lines(name: str) -> None:
    data, expected, unterminated = CASES[name]
    result = scan(data)
    assert spans(result) == expected
    assert result.unterminated == unterminated
    for chunk in range(1, len(data) + 1):  # every chunking, both ways, says the same
        for exact in (False, True):
            other = scan(data, chunk=chunk, exact=exact)
            assert (spans(other), other.unterminated) == (expected, unterminated), (chunk, exact)


def test_a_closing_quote_followed_by_text_is_noted_with_its_line() -> None:
    assert scan(b'a,b,c\n1,2,3\n4,"x"y,6\n').stray_quote_line == 3
    assert scan(b'a,b,c\n1,"x" ,3\n4,"y",6\n').stray_quote_line is None  # spaces are allowed


def test_reader_lines_count_empty_lines_and_records_not_physical_lines() -> None:
    result = scan(b'a,b,c\n\n1,"x\ny",3\n\n4,5\n')
    # DuckDB calls the short record "line 5": header, empty, record, empty, record
    assert result.ordinal_of_reader_line(5) == 2
    assert result.first_line(2) == 6
    assert result.ordinal_of_reader_line(4) is None  # an empty line


def test_accounting_places_only_a_silently_dropped_last_record() -> None:
    cut = scan(b'a,b,c\n1,2,3\n4,"cu')
    assert account(cut, 1, []).dropped == (2,)  # the reader returned 1 of 2, rejected none
    assert account(cut, 1, [3]).dropped == ()  # it rejected the cut one: nothing dropped
    whole = scan(b"a,b,c\n1,2,3\n4,5,6\n7,8,9\n")
    assert account(whole, 2, []) is None  # one lost, but which one?
    assert account(whole, 3, [9]) is None  # a reject where there is no record


def _random_file(rnd: random.Random) -> tuple[bytes, str]:
    delimiter = rnd.choice([",", ";", "\t"])
    pieces = ["a", "1", delimiter, delimiter, '"', '"', "\n", "\n", " ", '""', "\r\n"]
    fields = ["1", '"q"', f'"a{delimiter}b"', '"m\nl"', "", 'x"y', '"a""b"']
    rows = [delimiter.join(rnd.choice(fields) for _ in range(3)) for _ in range(rnd.randint(0, 6))]
    body = "\n".join(rows) + rnd.choice(["", "\n"])
    body += "".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 30)))
    crlf = "\r\n" in body
    text = delimiter.join("abc") + "\n" + body.replace("\r\n", "\n")
    return (text.replace("\n", "\r\n") if crlf else text).encode(), delimiter


def test_the_count_and_duckdb_agree_or_the_file_has_a_stray_quote(tmp_path: Path) -> None:
    """On random, mostly broken, files: the count matches DuckDB's reader record for record
    (rejects included), or it found a closing quote followed by text, a file it refuses
    (there DuckDB's error recovery restarts records mid-line, unlike any CSV reading)."""
    rnd = random.Random(15)
    path = tmp_path / "f.csv"
    refused = 0
    for _ in range(400):
        data, delimiter = _random_file(rnd)
        path.write_bytes(data)
        con = duckdb.connect()
        try:
            returned = len(
                con.execute(f"SELECT * FROM {_reader_sql(3)}", [str(path), delimiter]).fetchall()
            )
        except duckdb.Error:
            continue  # refused as unreadable (e.g. mixed line ends)
        rejects = [r[0] for r in con.execute("SELECT DISTINCT line FROM _rejects").fetchall()]
        fast = scan(data, delimiter, chunk=rnd.randint(1, 16))
        exact = scan(data, delimiter, exact=True)
        assert (spans(fast), fast.unterminated) == (spans(exact), exact.unterminated), data
        if account(exact, returned, rejects) is None:
            assert exact.stray_quote_line is not None, data
            refused += 1
    assert refused < 20  # the random files are broken; few are beyond placing
