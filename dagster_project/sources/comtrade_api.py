"""The UN Comtrade download client: final data into the landing zone.

Used by ``mirror fetch comtrade`` (its command line is :mod:`mirror_tools.fetch.comtrade`) and by
the ``comtrade_fetch_schedule`` (:mod:`dagster_project.sources.comtrade_schedule`): the schedule
is part of the Dagster code location, so the client it calls stays in this package.

Data come through ``comtradeapicall`` (``getFinalData`` with ``COMTRADE_API_KEY``; without a
key ``previewFinalData``, the public preview endpoint limited to 500 rows per request). Each
request chunk becomes one CSV in ``<landing>/comtrade/`` in exactly the 47-column format
``dagster_project.sources.comtrade`` ingests, named
``comtrade_final_{freq}_{reporters}_{periods}_hs-{codes}[_flows-…]_released-{date}.csv``
and written atomically (temp file + rename), so a running ingest never sees half a file.

Limits handled: at most 12 periods per call; a chunk that returns the row cap (250 000 with a
key, 500 in preview) is split in two and fetched again, and when it cannot be split any more
it is kept with a warning that it may be truncated. HTTP 429 and 5xx are retried with
exponential backoff + jitter (bounded; ``Retry-After`` honoured); 401/403 end with a one-line
"key refused" error.

The API key never appears in logs, exceptions, file names or file contents: it only travels
in the ``Ocp-Apim-Subscription-Key`` request header, every message goes through :func:`redact`, and
the module logger carries a redacting filter.

The transport adapter
---------------------
``comtradeapicall`` hard-codes ``https://comtradeapi.un.org`` and calls
``urllib3.PoolManager().request``; on an HTTP error it prints the body and returns None, so
the status (and ``Retry-After``) is lost. :func:`comtrade_transport` is the ONE place that
changes this: for the duration of a call it replaces the ``urllib3`` name inside
``comtradeapicall.PreviewGet`` and ``comtradeapicall.DataAvailability`` with a stand-in
that (1) sends the request to ``base_url`` instead of ``https://comtradeapi.un.org``
(``MIRROR_COMTRADE_BASE_URL``, default the real host; tests point it at a local server),
(2) refuses any other host, (3) moves the key from the ``subscription-key`` query parameter
comtradeapicall adds to the ``Ocp-Apim-Subscription-Key`` header (URLs are logged by urllib3
at DEBUG level and by proxies; headers are not), and (4) raises :class:`ComtradeHTTPError` /
:class:`ComtradeConnectionError` (key redacted) instead of printing.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import email.utils
import hashlib
import logging
import math
import os
import random
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3

from dagster_project.redaction import RedactingFilter, redact, register_secret
from dagster_project.settings import (
    COMTRADE_BASE_URL_ENV,
    REFERENCE_DIR,
    comtrade_base_url_from_env,
)
from dagster_project.sources.comtrade import COLUMNS

log = logging.getLogger("mirror.comtrade_api")

API_KEY_ENV = "COMTRADE_API_KEY"
BASE_URL_ENV = COMTRADE_BASE_URL_ENV
COMTRADE_HOST = "https://comtradeapi.un.org"
KEY_QUERY_PARAM = "subscription-key"  # how comtradeapicall passes the key
KEY_HEADER = "Ocp-Apim-Subscription-Key"  # how the adapter sends it (Azure APIM header)
COUNTRY_CODES_CSV = REFERENCE_DIR / "geo" / "comtrade_country_codes.csv"

MAX_PERIODS_PER_CALL = 12
ROW_CAP_WITH_KEY = 250_000
ROW_CAP_PREVIEW = 500
REPORTERS_PER_CALL_WITH_KEY = 5
REPORTERS_PER_CALL_PREVIEW = 1
DEFAULT_MAX_ATTEMPTS = 3
BACKOFF_BASE_SECONDS = 2.0
MAX_WAIT_SECONDS = 300.0
REQUEST_TIMEOUT_SECONDS = 120.0
FLOWS = ("M", "X", "RM", "RX")


# Errors --------------------------------------------------------------------------------------


class ComtradeError(RuntimeError):
    """A fetch failed; the message is one line and never contains the API key."""


class ComtradeAuthError(ComtradeError):
    """HTTP 401/403: the key is missing, wrong or not subscribed."""


class ComtradeHTTPError(ComtradeError):
    """A non-200 answer from the API (raised by the transport adapter)."""

    def __init__(self, status: int, retry_after: float | None, detail: str) -> None:
        self.status = status
        self.retry_after = retry_after
        super().__init__(redact(f"HTTP {status}{': ' + detail if detail else ''}"))


class ComtradeConnectionError(ComtradeError):
    """The API could not be reached (DNS, refused connection, timeout)."""


# Redaction -----------------------------------------------------------------------------------

log.addFilter(RedactingFilter())


# Transport adapter (the ONE place that redirects comtradeapicall) ------------------------------


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


class _RoutingClient:
    """What ``urllib3.PoolManager()`` returns inside comtradeapicall while patched."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.calls: list[str] = []  # request paths (no query string: it holds the key)
        self._pool = urllib3.PoolManager(retries=False)

    def request(self, method: str, url: str, fields: Any = None, **kwargs: Any) -> Any:
        if not url.startswith(COMTRADE_HOST + "/"):
            raise ComtradeError(f"refusing to call an unexpected host: {redact(url)[:120]}")
        path = url[len(COMTRADE_HOST) :]
        self.calls.append(path)
        kwargs["timeout"] = self.timeout
        kwargs.pop("preload_content", None)
        # The key goes in the APIM header, not the query string: URLs end up in urllib3's
        # debug log and in proxies' access logs.
        fields = dict(fields or {})
        key = fields.pop(KEY_QUERY_PARAM, None)
        headers = dict(kwargs.pop("headers", None) or {})
        if key:
            register_secret(key)
            headers[KEY_HEADER] = key
        try:
            resp = self._pool.request(
                method, self.base_url + path, fields=fields, headers=headers, **kwargs
            )
        except urllib3.exceptions.HTTPError as exc:
            host = urllib3.util.parse_url(self.base_url).host
            raise ComtradeConnectionError(
                redact(f"cannot reach the Comtrade API at {host}: {type(exc).__name__}")
            ) from None
        if resp.status != 200:
            body = resp.data.decode("utf-8", "replace").strip().replace("\n", " ")[:200]
            raise ComtradeHTTPError(
                resp.status, _retry_after_seconds(resp.headers.get("Retry-After")), body
            )
        return resp


class _Urllib3Standin:
    """Replaces the ``urllib3`` module name inside comtradeapicall's modules."""

    exceptions = urllib3.exceptions

    def __init__(self, client: _RoutingClient) -> None:
        self._client = client

    def PoolManager(self, *args: Any, **kwargs: Any) -> _RoutingClient:
        return self._client

    def ProxyManager(self, *args: Any, **kwargs: Any) -> _RoutingClient:
        return self._client


_transport_lock = threading.Lock()


def _comtradeapicall_modules() -> list[Any]:
    from comtradeapicall import DataAvailability, PreviewGet

    return [PreviewGet, DataAvailability]


def resolve_base_url(base_url: str | None = None) -> str:
    """Explicit argument, else ``MIRROR_COMTRADE_BASE_URL``, else the real Comtrade host."""
    return (base_url or comtrade_base_url_from_env() or COMTRADE_HOST).rstrip("/")


@contextlib.contextmanager
def comtrade_transport(
    base_url: str | None = None, *, timeout: float = REQUEST_TIMEOUT_SECONDS
) -> Iterator[_RoutingClient]:
    """Route comtradeapicall's HTTP calls through :class:`_RoutingClient` (see module doc)."""
    client = _RoutingClient(resolve_base_url(base_url), timeout)
    standin = _Urllib3Standin(client)
    with _transport_lock:
        modules = _comtradeapicall_modules()
        saved = [m.urllib3 for m in modules]
        try:
            for module in modules:
                module.urllib3 = standin
            yield client
        finally:
            for module, original in zip(modules, saved, strict=True):
                module.urllib3 = original


def call_with_retries(
    call: Callable[[], Any],
    *,
    what: str,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> Any:
    """Run ``call``; retry HTTP 429 / 5xx / connection errors with backoff + jitter.

    Waits ``Retry-After`` when the server sends it, else ``2 s * 2**(attempt-1)`` plus up to
    2 s of jitter. Gives up after ``max_attempts`` or when asked to wait over 5 minutes.
    """
    rng = rng or random.Random()
    for attempt in range(1, max_attempts + 1):
        try:
            return call()
        except ComtradeHTTPError as exc:
            if exc.status in (401, 403):
                raise ComtradeAuthError(
                    f"Comtrade API refused the key (HTTP {exc.status}): check {API_KEY_ENV} "
                    "(the key is not shown)"
                ) from None
            if exc.status != 429 and not 500 <= exc.status < 600:
                raise ComtradeError(redact(f"Comtrade API {what}: {exc}")) from None
            problem, detail, retry_after = f"HTTP {exc.status}", str(exc), exc.retry_after
        except ComtradeConnectionError as exc:
            problem, detail, retry_after = str(exc), str(exc), None
        if attempt == max_attempts:
            raise ComtradeError(
                redact(
                    f"Comtrade API {what}: {problem} on all {max_attempts} attempts; giving up "
                    "(the service may be down or rate-limiting: try again later)"
                )
            ) from None
        if retry_after is not None:
            delay = retry_after
        else:
            delay = BACKOFF_BASE_SECONDS * 2 ** (attempt - 1) + rng.uniform(0, BACKOFF_BASE_SECONDS)
        if delay > MAX_WAIT_SECONDS:
            raise ComtradeError(
                f"Comtrade API {what}: {problem}, asked to wait {delay:.0f}s; giving up"
            ) from None
        log.warning(
            "%s: %s (attempt %d/%d), retrying in %.1fs",
            what,
            detail,
            attempt,
            max_attempts,
            delay,
        )
        sleep(delay)
    raise AssertionError("unreachable")


# Requests: reporters, periods, chunks --------------------------------------------------------


@dataclass(frozen=True)
class Reporter:
    code: int
    iso3: str


def load_country_codes(path: Path = COUNTRY_CODES_CSV) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [row for row in csv.DictReader(fh) if row.get("area_type") == "country"]


def resolve_reporters(tokens: Sequence[str], path: Path = COUNTRY_CODES_CSV) -> list[Reporter]:
    """ISO-2, ISO-3 or Comtrade codes -> Comtrade reporters (countries only, input order)."""
    rows = load_country_codes(path)
    by_key: dict[str, Reporter] = {}
    for row in rows:
        reporter = Reporter(int(row["comtrade_code"]), row["iso3"] or row["comtrade_code"])
        for key in (row["iso3"], row["iso2"], str(int(row["comtrade_code"]))):
            if key:
                by_key.setdefault(key.upper(), reporter)
    found: list[Reporter] = []
    unknown: list[str] = []
    for token in (t.strip() for t in tokens):
        if not token:
            continue
        key = str(int(token)) if token.isdigit() else token.upper()
        if key in by_key:
            if by_key[key] not in found:
                found.append(by_key[key])
        else:
            unknown.append(token)
    if unknown:
        raise ValueError(
            f"unknown reporter(s) {', '.join(unknown)}: use ISO-2, ISO-3 or Comtrade codes of "
            f"countries listed in {path.name}"
        )
    if not found:
        raise ValueError("no reporters given")
    return found


def parse_years(text: str) -> list[int]:
    """``2019-2024``, ``2019,2021`` or ``2023`` -> sorted years."""
    years: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        match = re.fullmatch(r"(\d{4})(?:-(\d{4}))?", part)
        if not match:
            raise ValueError(f"bad year range {part!r}: use e.g. 2019-2024 or 2019,2021")
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        if last < first:
            raise ValueError(f"bad year range {part!r}: the end is before the start")
        years.update(range(first, last + 1))
    if not years:
        raise ValueError("no years given")
    return sorted(years)


def parse_hs(text: str) -> list[str]:
    codes = [c.strip() for c in text.split(",") if c.strip()]
    bad = [c for c in codes if not re.fullmatch(r"TOTAL|\d{2}|\d{4}|\d{6}", c)]
    if bad or not codes:
        raise ValueError(f"bad HS code(s) {', '.join(bad) or '(none)'}: use 2, 4 or 6 digits")
    return codes


def periods_for(freq: str, years: Sequence[int]) -> list[str]:
    if freq == "A":
        return [str(y) for y in years]
    return [f"{y}{m:02d}" for y in years for m in range(1, 13)]


def _chunks(items: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


@dataclass(frozen=True)
class FetchRequest:
    reporters: tuple[Reporter, ...]
    hs_codes: tuple[str, ...]
    periods: tuple[str, ...]
    freq: str  # 'A' or 'M'
    flows: tuple[str, ...] | None = None  # None: every flow
    breakdown_mode: str = "plus"  # 'plus' includes partner2 / customs / transport breakdowns


@dataclass(frozen=True)
class Chunk:
    reporters: tuple[Reporter, ...]
    periods: tuple[str, ...]

    def describe(self) -> str:
        return f"{'-'.join(r.iso3 for r in self.reporters)} {_period_label(self.periods)}"

    def split(self) -> list[Chunk] | None:
        if len(self.periods) > 1:
            half = len(self.periods) // 2
            return [
                Chunk(self.reporters, self.periods[:half]),
                Chunk(self.reporters, self.periods[half:]),
            ]
        if len(self.reporters) > 1:
            half = len(self.reporters) // 2
            return [
                Chunk(self.reporters[:half], self.periods),
                Chunk(self.reporters[half:], self.periods),
            ]
        return None


def plan_chunks(request: FetchRequest, reporters_per_call: int) -> list[Chunk]:
    """Requests of at most 12 periods and ``reporters_per_call`` reporters each."""
    return [
        Chunk(tuple(reporters), tuple(periods))
        for reporters in _chunks(request.reporters, reporters_per_call)
        for periods in _chunks(request.periods, MAX_PERIODS_PER_CALL)
    ]


def _period_label(periods: Sequence[str]) -> str:
    ordered = sorted(periods)
    return ordered[0] if len(ordered) == 1 else f"{ordered[0]}-{ordered[-1]}"


def _selection_label(request: FetchRequest) -> str:
    """HS codes and flows of a request, so fetches of other products never overwrite it."""
    codes = sorted(request.hs_codes)
    label = "hs-" + (
        "-".join(codes)
        if len(codes) <= 4
        else f"{codes[0]}-{len(codes)}codes-"
        + hashlib.sha256(",".join(codes).encode()).hexdigest()[:8]
    )
    if request.flows:
        label += "_flows-" + "-".join(sorted(request.flows))
    return label


def file_name(request: FetchRequest, chunk: Chunk, release_date: dt.date) -> str:
    reporters = "-".join(r.iso3 for r in chunk.reporters)
    return (
        f"comtrade_final_{request.freq}_{reporters}_{_period_label(chunk.periods)}"
        f"_{_selection_label(request)}_released-{release_date.isoformat()}.csv"
    )


# Writing -------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    """One value as comtradeapicall's DataFrame -> CSV would deliver it (bools True/False)."""
    if value is None:
        return ""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "True" if value else "False"
    if isinstance(value, float) or type(value).__name__.startswith("float"):
        number = float(value)
        if math.isnan(number):
            return ""
        if number.is_integer() and abs(number) < 1e15:
            return str(int(number))
        return repr(number)
    if type(value).__name__.startswith("int"):
        return str(int(value))
    return str(value)


def write_csv_atomically(records: Sequence[dict[str, Any]], target: Path) -> None:
    """Write the 47 delivered columns (header = COLUMNS) to ``target`` via temp file + rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(COLUMNS)
            for record in records:
                writer.writerow([_cell(record.get(c)) for c in COLUMNS])
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _records(frame: Any) -> list[dict[str, Any]]:
    if frame is None:
        raise ComtradeError("Comtrade API returned no usable answer")
    return frame.to_dict(orient="records")


# Fetching ------------------------------------------------------------------------------------


@dataclass
class FetchResult:
    files: list[Path] = field(default_factory=list)
    rows: int = 0
    preview: bool = False
    truncated: list[str] = field(default_factory=list)  # chunks that hit the row cap
    requests: int = 0


def fetch_final_data(
    request: FetchRequest,
    landing: Path,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    release_date: dt.date | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
    progress: bool | None = None,
    reporters_per_call: int | None = None,
    rng: random.Random | None = None,
) -> FetchResult:
    """Download ``request`` into ``landing/comtrade/`` (one CSV per chunk); see module doc.

    ``api_key`` None means no key: the preview endpoint (500 rows per request). Raises
    ComtradeError (one line, key-free) when a chunk cannot be fetched; files of chunks
    fetched before stay (each is complete).
    """
    register_secret(api_key)
    preview = not api_key
    cap = ROW_CAP_PREVIEW if preview else ROW_CAP_WITH_KEY
    if preview:
        log.warning(
            "no %s set: using the public preview endpoint (at most %d rows per request); "
            "results may be truncated",
            API_KEY_ENV,
            ROW_CAP_PREVIEW,
        )
    per_call = reporters_per_call or (
        REPORTERS_PER_CALL_PREVIEW if preview else REPORTERS_PER_CALL_WITH_KEY
    )
    release = release_date or dt.datetime.now(dt.UTC).date()
    target_dir = landing / "comtrade"
    result = FetchResult(preview=preview)
    queue = plan_chunks(request, per_call)

    from tqdm import tqdm

    disable = not sys.stderr.isatty() if progress is None else not progress
    bar = tqdm(total=len(queue), desc="comtrade fetch", unit="chunk", disable=disable)
    try:
        with comtrade_transport(base_url) as client:
            while queue:
                chunk = queue.pop(0)
                what = f"final data {request.freq} {chunk.describe()}"
                frame = call_with_retries(
                    lambda chunk=chunk: _download(request, chunk, api_key, cap),
                    what=what,
                    max_attempts=max_attempts,
                    sleep=sleep,
                    rng=rng,
                )
                records = _records(frame)
                if len(records) >= cap:
                    parts = chunk.split()
                    if parts:
                        log.warning(
                            "%s: %d rows = the row cap; splitting into %d smaller requests",
                            what,
                            len(records),
                            len(parts),
                        )
                        queue[:0] = parts
                        bar.total += len(parts) - 1
                        bar.refresh()
                        continue
                    log.warning(
                        "%s: %d rows = the row cap and the request cannot be split further; "
                        "the file may be TRUNCATED (fewer HS codes or flows per fetch help%s)",
                        what,
                        len(records),
                        "" if api_key else f"; set {API_KEY_ENV} for 250 000 rows",
                    )
                    result.truncated.append(chunk.describe())
                bar.update(1)
                if not records:
                    log.info("%s: no data", what)
                    continue
                target = target_dir / file_name(request, chunk, release)
                write_csv_atomically(records, target)
                result.files.append(target)
                result.rows += len(records)
                log.info("%s: %d rows -> %s", what, len(records), target.name)
            result.requests = len(client.calls)
    finally:
        bar.close()
    return result


def _download(request: FetchRequest, chunk: Chunk, api_key: str | None, cap: int) -> Any:
    import comtradeapicall

    kwargs = dict(
        typeCode="C",
        freqCode=request.freq,
        clCode="HS",
        period=",".join(chunk.periods),
        reporterCode=",".join(str(r.code) for r in chunk.reporters),
        cmdCode=",".join(request.hs_codes),
        flowCode=",".join(request.flows) if request.flows else None,
        partnerCode=None,
        partner2Code=None,
        customsCode=None,
        motCode=None,
        maxRecords=cap,
        breakdownMode=request.breakdown_mode,
        includeDesc=True,
    )
    try:
        if api_key:
            return comtradeapicall.getFinalData(api_key, **kwargs)
        return comtradeapicall.previewFinalData(**kwargs)
    except (KeyError, ValueError) as exc:  # a 200 answer without a `data` array
        raise ComtradeError(
            redact(f"unexpected Comtrade API answer ({type(exc).__name__}: {exc})")
        ) from None
