"""``mirror fetch SOURCE``: download source data into the landing zone.

Only ``comtrade`` so far (:mod:`mirror_tools.fetch.comtrade`); a new source adds a module here
and one line to :func:`add_fetch_parser`.
"""

from __future__ import annotations

import argparse
from typing import Any

from mirror_tools.fetch.comtrade import add_comtrade_parser


def add_fetch_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``fetch`` and its sources to the ``mirror`` sub-command parsers; returns the
    ``fetch comtrade`` parser."""
    fetch = subparsers.add_parser(
        "fetch",
        help="download source data into the landing zone (fetch comtrade --help)",
        description="Download source data into the landing zone.",
    )
    sources = fetch.add_subparsers(dest="source", required=True, metavar="SOURCE")
    return add_comtrade_parser(sources)
