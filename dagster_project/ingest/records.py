"""An independent, quote-aware count of the records of a delimited text file.

DuckDB's CSV reader is the loader; this is its auditor. It reads the same bytes in one
streaming pass and says how many records the file holds, which physical lines each occupies
and whether the file ends inside a quoted field, so that ingest can check that every record
was either returned by the reader or quarantined, and give quarantined records their real line
numbers (a quoted field may legally hold line breaks: one record, several lines).

It follows the reader's dialect (``strict_mode``, quote and escape ``"``; DuckDB's CSV state
machine):

* a ``"`` opens a quoted field at the start of a field (after the delimiter or a line break,
  or after one space there) or right after a closing quote and spaces; anywhere else it is an
  ordinary character (``5" pipe``);
* inside a quoted field ``""`` is a quote and line breaks belong to the field;
* after a closing quote, text other than spaces is an error the reader reports
  (``UNQUOTED VALUE``); the record still ends at the next line break outside quotes;
* records end at ``\n`` (``\r\n`` in a CRLF file) or ``\r`` (a file with CR line ends);
* an empty line (``\r`` alone in a CRLF file) is no record: the reader skips it, and so does
  this count (it is noted, so that line numbers stay right);
* a quoted field still open at the end of the file makes the last record unterminated.

Cost: one pass, one chunk (plus an unfinished line) in memory. Whole lines of a chunk are
taken at C speed (``split``, ``count``) when they are *plain*: no empty line, an even number
of quotes on each, every quote next to a delimiter or line break. Anything else (a line break
in a quoted field, a stray quote) goes through the byte-exact state machine, which jumps from
quote to quote with ``bytes.find``. Both give the same answer (tested on every chunking).
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

CHUNK_BYTES = 4 * 1024 * 1024
_QUOTE = ord('"')
_CR = ord("\r")
_LF = ord("\n")
_SPACE = ord(" ")

# Where the reader stands outside quoted fields, as far as a quote's meaning goes.
_FIELD_START = 0  # after a delimiter or line break: a quote opens a quoted field
_ONE_SPACE = 1  # one space after a field start: a quote still opens one
_AFTER_CLOSE = 2  # after a closing quote (and spaces): a quote reopens the field
_INSIDE = 3  # inside an unquoted field (or after junk): a quote is a character


@dataclass
class RecordScan:
    """What the independent count found.

    Ordinals number the data records from 1 (the header is not one). A *reader line* is the
    ``line`` DuckDB gives a rejected record: it counts the header and every record and every
    empty line as one, however many physical lines a record spans.
    """

    header_end_line: int = 1  # the header record's last physical line
    records: int = 0  # data records (empty lines are not records)
    lines: int = 0  # physical lines (a last line without a line break counts)
    # the ordinal of the record after each empty line
    empty_before: array = field(default_factory=lambda: array("q"))
    # the records spanning more than one line: ordinal, first and last line
    multi_ordinal: array = field(default_factory=lambda: array("q"))
    multi_first: array = field(default_factory=lambda: array("q"))
    multi_last: array = field(default_factory=lambda: array("q"))
    # (ordinal, first line) of a record whose quoted field is still open at the end of file
    unterminated: tuple[int, int] | None = None
    # first line where a closing quote is followed by text (the reader's UNQUOTED VALUE)
    stray_quote_line: int | None = None
    # cumulative extra lines of the multi-line records (built when first needed)
    _extra: array | None = field(default=None, repr=False, compare=False)

    @property
    def irregular(self) -> bool:
        """Records and physical lines do not correspond one to one (line numbers need
        :meth:`first_line`; else record ``n`` is on line ``n + 1``)."""
        return bool(self.empty_before or self.multi_ordinal or self.header_end_line != 1)

    def add_multi_line(self, ordinal: int, first: int, last: int) -> None:
        self.multi_ordinal.append(ordinal)
        self.multi_first.append(first)
        self.multi_last.append(last)
        self._extra = None

    def _extra_before(self, ordinal: int) -> int:
        """Lines taken by multi-line records before ``ordinal``, beyond their first."""
        if self._extra is None:
            total, self._extra = 0, array("q", [0])
            for first, last in zip(self.multi_first, self.multi_last, strict=True):
                total += last - first
                self._extra.append(total)
        return self._extra[bisect.bisect_left(self.multi_ordinal, ordinal)]

    def first_line(self, ordinal: int) -> int:
        return (
            self.header_end_line
            + ordinal
            + bisect.bisect_right(self.empty_before, ordinal)
            + self._extra_before(ordinal)
        )

    def last_line(self, ordinal: int) -> int:
        i = bisect.bisect_left(self.multi_ordinal, ordinal)
        if i < len(self.multi_ordinal) and self.multi_ordinal[i] == ordinal:
            return self.multi_last[i]
        return self.first_line(ordinal)

    def reader_line(self, ordinal: int) -> int:
        return 1 + ordinal + bisect.bisect_right(self.empty_before, ordinal)

    def ordinal_of_reader_line(self, reader_line: int) -> int | None:
        """The record DuckDB calls ``line`` (None: an empty line, or no record at all)."""
        lo, hi = 1, self.records
        while lo <= hi:
            mid = (lo + hi) // 2
            at = self.reader_line(mid)
            if at == reader_line:
                return mid
            if at < reader_line:
                lo = mid + 1
            else:
                hi = mid - 1
        return None

    def steps(self) -> tuple[list[int], list[int]]:
        """(ordinals, shifts): from each of these ordinals on, a record's first line is
        ``ordinal + shift + 1``; one step per empty line or multi-line record."""
        changes: dict[int, int] = {}
        for ordinal in self.empty_before:
            changes[ordinal] = changes.get(ordinal, 0) + 1
        for ordinal, first, last in zip(
            self.multi_ordinal, self.multi_first, self.multi_last, strict=True
        ):
            changes[ordinal + 1] = changes.get(ordinal + 1, 0) + last - first
        shift = self.header_end_line - 1
        ordinals, shifts = [1], [shift]
        for ordinal in sorted(changes):
            shift += changes[ordinal]
            ordinals.append(ordinal)
            shifts.append(shift)
        return ordinals, shifts


class _Scanner:
    """The state machine; :func:`scan_records` feeds it chunks."""

    def __init__(self, delimiter: str, newline: int) -> None:
        self.nl = newline
        self.nl_bytes = bytes([newline])
        # an empty line between two terminators (CRLF files: "\r" alone)
        self.empties = (b"\n\n", b"\n\r\n") if newline == _LF else (b"\r\r",)
        self.scan = RecordScan()
        self.line = 1  # physical line of the current position
        self.in_header = True
        self.content = False  # the current record has begun
        self.start_line = 1  # first line of the current record
        self.quoted = False
        self.quote_pending = False  # a quote ended the previous chunk inside a quoted field
        self.delim_bytes = delimiter.encode()
        self.state = _FIELD_START
        self.last = -1  # the last byte of the file so far
        self.before_quote = frozenset((ord(delimiter), newline))
        self.after_quote = frozenset((ord(delimiter), newline, _CR))

    def _has_content(self, buf: bytes, i: int, j: int) -> bool:
        """``buf[i:j]`` (no line break in it) is more than nothing or the CR of a CRLF."""
        return j > i and not (j - i == 1 and buf[i] == _CR and self.nl == _LF)

    def _begin(self) -> None:
        if not self.content:
            self.content = True
            self.start_line = self.line

    def _end_line(self) -> None:
        """A line break outside quotes: the current record (if any) ends here."""
        s = self.scan
        if self.content:
            if self.in_header:
                self.in_header = False
                s.header_end_line = self.line
            else:
                s.records += 1
                if self.line != self.start_line:
                    s.add_multi_line(s.records, self.start_line, self.line)
        elif not self.in_header:
            s.empty_before.append(s.records + 1)
        self.content = False
        self.line += 1

    def _outside(self, buf: bytes, i: int, j: int) -> None:
        """``buf[i:j]`` holds no quote and lies outside quoted fields."""
        if i >= j:
            return
        nl = self.nl_bytes
        if self.state == _AFTER_CLOSE and self.scan.stray_quote_line is None:
            ends = [k for k in (buf.find(self.delim_bytes, i, j), buf.find(nl, i, j)) if k >= 0]
            end = min(ends) if ends else j
            if nl == b"\n" and end > i and buf[end - 1] == _CR:
                end -= 1
            if buf.count(b" ", i, end) != end - i:
                self.scan.stray_quote_line = self.line
        first = buf.find(nl, i, j)
        if first < 0:
            if self._has_content(buf, i, j):
                self._begin()
            self._field_state(buf, i, j)
            return
        if self._has_content(buf, i, first):
            self._begin()
        self._end_line()
        last = buf.rfind(nl, first, j)
        if last > first:
            if self.in_header or any(buf.find(e, first, last + 1) >= 0 for e in self.empties):
                pos = first  # the rare case: line by line
                while pos < last:
                    nxt = buf.find(nl, pos + 1, last + 1)
                    if self._has_content(buf, pos + 1, nxt):
                        self._begin()
                    self._end_line()
                    pos = nxt
            else:  # every line in between is a one-line record
                middle = buf.count(nl, first + 1, last + 1)
                self.scan.records += middle
                self.line += middle
        if self._has_content(buf, last + 1, j):
            self._begin()
        self._field_state(buf, last, j)

    def _field_state(self, buf: bytes, i: int, j: int) -> None:
        """The state after ``buf[i:j]`` (outside quotes, no quote in it)."""
        k = max(buf.rfind(self.delim_bytes, i, j), buf.rfind(self.nl_bytes, i, j))
        state = self.state
        if k >= 0:
            state, i = _FIELD_START, k + 1
        if i < j:
            if state == _FIELD_START:
                state = _ONE_SPACE if j - i == 1 and buf[i] == _SPACE else _INSIDE
            elif state == _AFTER_CLOSE:
                state = _AFTER_CLOSE if buf.count(b" ", i, j) == j - i else _INSIDE
            else:
                state = _INSIDE
        self.state = state

    def at_record_start(self) -> bool:
        return not (self.in_header or self.content or self.quoted or self.quote_pending)

    def feed_lines(self, buf: bytes, exact: bool) -> None:
        """Feed ``buf``, which ends with a line break: at C speed when it is plain."""
        if exact or not (self.at_record_start() and self._plain(buf)):
            self.feed(buf)

    def _plain(self, buf: bytes) -> bool:
        """Account for ``buf`` (whole lines, from a record start) at C speed when it is
        plain: no empty line, an even number of quotes on every line, and each quote
        opening a field right after a delimiter or line break or closing one right before
        them (or doubled inside it). Then every line is one record."""
        nl = self.nl_bytes
        empties = self.empties if b"\r" in buf else self.empties[:1]  # no CR: no CRLF
        if any(e in buf or buf.startswith(e[1:]) for e in empties):
            return False  # an empty line (the one before buf ended with a line break)
        lines = buf.count(nl)
        pieces = buf.split(b'"')
        if len(pieces) > 1:
            if len(pieces) % 2 == 0:
                return False  # an odd number of quotes
            if nl in b"".join(pieces[1::2]):
                return False  # a line break inside a quoted field
            outside = pieces[::2]  # the text between quoted fields
            before, after = self.before_quote, self.after_quote
            if any(text and text[-1] not in before for text in outside[:-1]):
                return False  # a quote after text: part of the text
            if any(text and text[0] not in after for text in outside[1:]):
                return False  # text after a closing quote
        self.scan.records += lines
        self.line += lines
        self.last = buf[-1]
        return True

    def feed(self, buf: bytes) -> None:
        n, i = len(buf), 0
        if not n:
            return
        self.last = buf[-1]
        if self.quote_pending:
            self.quote_pending = False
            if buf[0] == _QUOTE:  # "" across the chunk boundary: still quoted
                i = 1
            else:
                self.quoted = False
                self.state = _AFTER_CLOSE
        while i < n:
            if self.quoted:
                j = buf.find(b'"', i)
                if j < 0:
                    self.line += buf.count(self.nl_bytes, i)
                    return
                self.line += buf.count(self.nl_bytes, i, j)
                if j + 1 == n:
                    self.quote_pending = True
                    return
                if buf[j + 1] == _QUOTE:  # an escaped quote
                    i = j + 2
                    continue
                self.quoted = False
                self.state = _AFTER_CLOSE
                i = j + 1
                continue
            j = buf.find(b'"', i)
            self._outside(buf, i, n if j < 0 else j)
            if j < 0:
                return
            # outside quoted fields a quote opens one at the start of a field (after at
            # most one space) or right after a closing quote (and spaces); else it is text
            self._begin()
            self.quoted = self.state != _INSIDE
            i = j + 1

    def finish(self) -> RecordScan:
        s = self.scan
        ends_with_break = self.last == self.nl
        if self.quoted and not self.quote_pending:  # a quoted field open at the end
            last_line = self.line - 1 if ends_with_break else self.line
            if self.in_header:
                s.header_end_line = last_line
            else:
                s.records += 1
                s.unterminated = (s.records, self.start_line)
                if last_line != self.start_line:
                    s.add_multi_line(s.records, self.start_line, last_line)
            s.lines = last_line
        else:
            if self.content:  # a last line without a line break
                self._end_line()
            s.lines = self.line - 1
        # empty lines after the last record shift no record
        while s.empty_before and s.empty_before[-1] > s.records:
            s.empty_before.pop()
        return s


def detect_newline(head: bytes) -> int:
    """The record terminator the reader will use: ``\\r`` when the first line ends with a
    lone CR, else ``\\n`` (``\\r\\n`` files end their lines with ``\\n``)."""
    lf, cr = head.find(b"\n"), head.find(b"\r")
    if cr >= 0 and (lf < 0 or cr < lf) and head[cr + 1 : cr + 2] != b"\n":
        return _CR
    return _LF


def scan_records(chunks: Iterable[bytes], delimiter: str, *, exact: bool = False) -> RecordScan:
    """Count the records of a delimited file given as a stream of byte chunks (UTF-8, BOM
    already removed or not: it is part of the header). Whole lines are checked at once; only
    the bytes after the last line break of a chunk wait for the next one."""
    scanner: _Scanner | None = None
    left = b""
    for chunk in chunks:
        buf = left + chunk if left else chunk
        if scanner is None:  # the line end is known once the first line is
            if b"\n" not in buf[:-1] and len(buf) < 1 << 16:
                left = buf
                continue
            scanner = _Scanner(delimiter, detect_newline(buf[: 1 << 16]))
        cut = buf.rfind(scanner.nl_bytes) + 1
        if cut == 0 and len(buf) < 4 * CHUNK_BYTES:
            left = buf  # a long line: wait for its end
            continue
        if cut == 0:  # no line break for long: stream it through the byte-level machine
            cut = len(buf)
        scanner.feed_lines(buf[:cut], exact)
        left = buf[cut:]
    if scanner is None:
        if not left:
            return RecordScan(header_end_line=0)
        scanner = _Scanner(delimiter, detect_newline(left))
    scanner.feed(left)
    return scanner.finish()


@dataclass(frozen=True)
class Accounting:
    """How the reader's output maps onto the records counted: each rejected record (by the
    reader's ``line``) is a counted record, and ``dropped`` lists the counted records the
    reader neither returned nor rejected (they must be quarantined by the caller)."""

    rejected: dict[int, int]  # reader line -> ordinal
    dropped: tuple[int, ...] = ()


def account(scan: RecordScan, returned: int, reject_lines: Sequence[int]) -> Accounting | None:
    """Match the reader's output (``returned`` rows, rejects at ``reject_lines``) with the
    count. None when they disagree in a way that cannot be pinned on particular records."""
    rejected = {line: scan.ordinal_of_reader_line(line) for line in reject_lines}
    if any(ordinal is None for ordinal in rejected.values()):
        return None
    ordinals: dict[int, int] = {line: o for line, o in rejected.items() if o is not None}
    seen = returned + len(ordinals)
    if seen == scan.records:
        return Accounting(ordinals)
    # The one loss that can be placed: the last record, open in a quoted field to the end of
    # the file (a download cut inside a quoted field), neither returned nor rejected.
    last = scan.records
    if (
        seen == last - 1
        and scan.unterminated is not None
        and scan.unterminated[0] == last
        and all(o < last for o in ordinals.values())
    ):
        return Accounting(ordinals, dropped=(last,))
    return None


def disagreement(scan: RecordScan, reader_records: int) -> str:
    """One line for a file refused because the reader and the count disagree."""
    where = ""
    if scan.stray_quote_line is not None:
        where = f"; a closing quote is followed by text on line {scan.stray_quote_line}"
    elif scan.unterminated is not None:
        where = f"; a quoted field is open from line {scan.unterminated[1]} to the end of file"
    return (
        f"the CSV reader made {reader_records} records of what a quote-aware count finds to be "
        f"{scan.records}{where}: fix the quoting and deliver the file again"
    )
