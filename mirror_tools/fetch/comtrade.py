"""``mirror fetch comtrade``: the command line of the Comtrade download.

The download itself (transport, retries, chunking, atomic CSV files) is the client
:mod:`dagster_project.sources.comtrade_api`, which the Dagster ``comtrade_fetch_schedule`` calls
too; this module only turns arguments and the environment into a
:class:`~dagster_project.sources.comtrade_api.FetchRequest` and prints the outcome.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dagster_project.redaction import RedactingFilter, redact, register_secret
from dagster_project.settings import SAMPLE_LANDING, landing_set_in_env
from dagster_project.sources.comtrade_api import (
    API_KEY_ENV,
    BASE_URL_ENV,
    COMTRADE_HOST,
    FLOWS,
    ComtradeError,
    FetchRequest,
    FetchResult,
    fetch_final_data,
    log,
    parse_hs,
    parse_years,
    periods_for,
    resolve_reporters,
)

FETCH_DESCRIPTION = f"""\
Download UN Comtrade final data (HS, goods) into <landing>/comtrade/ as the 47-column CSV the
ingest reads; the next `mirror run` loads it.

With {API_KEY_ENV} set (a free key from https://comtradedeveloper.un.org, product
"comtrade - v1") the data API is used: up to 250 000 rows per request. Without it the public
preview endpoint is used: 500 rows per request, so results may be TRUNCATED (a warning says
which requests hit the cap). The key is read from the environment only and is never printed.

One file per request chunk (at most 12 periods and a few reporters per request), named
  comtrade_final_{{freq}}_{{reporters}}_{{periods}}_hs-{{codes}}_released-{{fetch date}}.csv
written atomically. Fetching the same reporters/periods again on the same day replaces the
file (the ingest then treats it as a revision). Retries HTTP 429/5xx with backoff.

Environment:
  {API_KEY_ENV}        subscription key (optional; without it: preview, 500 rows)
  MIRROR_LANDING           landing folder (or --landing)
  {BASE_URL_ENV}  API base URL (default {COMTRADE_HOST}; for tests or a proxy)

Examples:
  export {API_KEY_ENV}=...        # do not put the key on the command line
  mirror fetch comtrade --reporters KZ,IT,AT,DE,CZ --hs 2709,2710 --years 2019-2024 --freq A
  mirror fetch comtrade --reporters AUT --hs 2709 --years 2023 --freq M --flows M,X \\
      --landing /data/landing
  mirror run --landing /data/landing            # then ingest and build
"""


def add_comtrade_parser(sources: Any) -> argparse.ArgumentParser:
    """Add ``comtrade`` to the ``mirror fetch`` source parsers."""
    parser = sources.add_parser(
        "comtrade",
        help="UN Comtrade final data through the Comtrade API",
        description=FETCH_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--reporters",
        required=True,
        help="comma-separated ISO-2, ISO-3 or Comtrade codes, e.g. KZ,IT,AUT,276",
    )
    parser.add_argument("--hs", required=True, help="comma-separated HS codes, e.g. 2709,2710")
    parser.add_argument("--years", required=True, help="e.g. 2019-2024, 2019,2021 or 2023")
    parser.add_argument(
        "--freq", required=True, choices=("A", "M"), help="A annual or M monthly data"
    )
    parser.add_argument(
        "--flows",
        help=f"comma-separated flow codes among {','.join(FLOWS)} (default: every flow)",
    )
    parser.add_argument(
        "--landing", help="landing folder (overrides MIRROR_LANDING); files go to <it>/comtrade/"
    )
    parser.add_argument(
        "--breakdown",
        choices=("plus", "classic"),
        default="plus",
        help="plus (default): include partner2/customs/transport breakdowns; classic: totals",
    )
    parser.set_defaults(func=run_fetch)
    return parser


def request_from_args(args: argparse.Namespace) -> FetchRequest:
    """The request the arguments describe; ValueError (one line) when one is wrong."""
    flows = None
    if args.flows:
        flows = tuple(f.strip().upper() for f in args.flows.split(",") if f.strip())
        bad = [f for f in flows if f not in FLOWS]
        if bad:
            raise ValueError(f"unknown flow(s) {', '.join(bad)}: use {','.join(FLOWS)}")
    years = parse_years(args.years)
    return FetchRequest(
        reporters=tuple(resolve_reporters(args.reporters.split(","))),
        hs_codes=tuple(parse_hs(args.hs)),
        periods=tuple(periods_for(args.freq, years)),
        freq=args.freq,
        flows=flows,
        breakdown_mode=args.breakdown,
    )


def _landing_for(args: argparse.Namespace) -> Path:
    raw = args.landing or landing_set_in_env()
    if not raw:
        raise ValueError("no landing folder: pass --landing DIR or set MIRROR_LANDING")
    landing = Path(raw).expanduser().resolve()
    if landing == SAMPLE_LANDING.resolve():
        raise ValueError("refusing to write into the embedded sample; choose another landing")
    return landing


def _api_key_from_env() -> str | None:
    """The key from the environment only (never an argument: shells keep a history)."""
    key = (os.environ.get(API_KEY_ENV) or "").strip()
    register_secret(key)
    return key or None


@contextlib.contextmanager
def _client_log_on_stderr() -> Iterator[None]:
    """The client's warnings (row cap, retries) on stderr, redacted, for this command only."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("mirror fetch: %(levelname)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    log.addHandler(handler)
    previous_level, previous_propagate = log.level, log.propagate
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(previous_level)
        log.propagate = previous_propagate


def _print_result(result: FetchResult, landing: Path) -> None:
    print(
        f"comtrade: {len(result.files)} file(s), {result.rows} rows in {landing / 'comtrade'}"
        + (" (preview endpoint: may be truncated)" if result.preview else "")
        + (f"; {len(result.truncated)} request(s) hit the row cap" if result.truncated else "")
    )
    for path in result.files:
        print(f"  {path.name}")


def run_fetch(args: argparse.Namespace) -> int:
    """``mirror fetch comtrade``: 0 on success, 1 when the API failed, 2 on bad arguments."""
    with _client_log_on_stderr():
        try:
            request = request_from_args(args)
            landing = _landing_for(args)
        except ValueError as exc:
            print(f"mirror fetch: {exc}", file=sys.stderr)
            return 2
        try:
            result = fetch_final_data(request, landing, api_key=_api_key_from_env())
        except ComtradeError as exc:
            print(f"mirror fetch: {redact(exc)}", file=sys.stderr)
            return 1
        _print_result(result, landing)
        return 0
