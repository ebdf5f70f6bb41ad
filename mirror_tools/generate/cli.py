"""``mirror generate``: write a synthetic world of Comtrade files with its ground truth."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from mirror_tools import MissingToolDependency, import_tool

if TYPE_CHECKING:  # numpy/pandas are imported only when a world is generated
    from mirror_tools.generate.world import WorldConfig

NEEDS = ("numpy", "pandas")  # beyond the project's own dependencies: the `tools` group

DEFAULT_SEED = 20250701

DESCRIPTION = """\
Write a synthetic world of UN Comtrade final-data files (the 47-column CSV the landing zone
ingests) for N reporters x P HS6 products x Y years, deterministic from --seed, streamed to
disk one exporter x year at a time (memory does not grow with the size).

Real Comtrade country codes (the N largest traders of a fixed ranking) and real HS 2022
six-digit codes; gravity-like pair sizes, lognormal/Pareto values, a sparse matrix; CIF/FOB
margins growing with CEPII distance, higher in freight-cost years (2021) and varying by HS
chapter; a few importers value imports FOB (primaryValue = fobvalue, cifvalue empty), a few
fill both cifvalue and fobvalue.

Planted (each mirror key it touches listed in ground_truth/distortions.parquet with the status
that names the cause; see mirror_tools/generate/world.py for the exact rules):
  transit              corridors origin -> hub -> destinations, with or without consignment
                       (partner2) rows, hub importing part or nothing      explained_transit
  re_export            an entrepot declares RX (Re-export) rows and counts them in X; the
                       destination declares the origin                     re_export
  timing_lag           (monthly) part of month t declared in t+1           explained_timing
  misclassification    either side, 30-100 % of a cell under a neighbouring HS6 of the
                       heading (or of another heading of the chapter)      explained_classification
  confidential         the whole cell to partner 899 "Areas, nes"          explained_unallocated
  nes_partner          whole or 30-90 % to 839 Special Categories, 837 Bunkers, 838 Free
                       Zones or a regional nes (568, 577, 879)             explained_unallocated
                       (the key with the area as partner: nes_area         unallocated)
  partner_not_reported one reporter's year (annual) / month (monthly) missing
                                                                           partner_not_reported
  non_reporting        one or two countries never report                  non_reporting_partner
  reporting_threshold  one reporter omits declarations < 50k USD (A) / 10k (M)
                                                                           below_threshold
  unit_error           net weight in tonnes         quantity_flag = likely_unit_error_x1000
  revision             a wrong first release, re-delivered in a later `released-` file
  unreliable_reporter  noisy values on every declaration of a few reporters         breach
  duplicate_file       an exact duplicate file under another name

Layout under --out:
  landing/comtrade/*.csv[.gz]        the files: mirror run --landing OUT/landing (give the
                                     pipeline this folder and nothing else)
  ground_truth/true_flows.parquet    true FOB value of every flow (freq, period, exporter,
                                     importer, hs6) and its true CIF/FOB margin
  ground_truth/distortions.parquet   every planted distortion: kind, variant, side, the mirror
                                     keys it touches, expected status, materiality
  ground_truth/corridors.csv,        the corridors and re-export arrangements, for scoring only
  ground_truth/reexports.csv         (not dbt seeds: the pipeline must find them in the data)
  ground_truth/reporters.csv         roles (unreliable, non_reporting, late_release,
                                     reporting_threshold) and import valuation per reporter
  ground_truth/files.csv, world.json
"""

EPILOG = """\
examples:
  mirror generate --out /tmp/world --reporters 20 --products 30 --years 2022-2024
  mirror generate --out /tmp/w1m --target-declarations 1000000 --years 2020-2024 --freq AM
  mirror generate --out /tmp/jan --reporters 40 --products 110 --years 2025 --freq M \\
      --months 1          # one month of new files (same world: same seed and sizes)
  mirror generate --out /tmp/small --reporters 15 --products 30 --years 2020-2024 --freq A \
      --rate-scale 4      # a small world that still carries every kind (accuracy suite)
"""


def _years(text: str) -> tuple[int, ...]:
    """``2024``, ``2020-2024`` or ``2019,2021``; a bare count ``5`` means the 5 years to 2024."""
    text = text.strip()
    if m := re.fullmatch(r"(\d{4})-(\d{4})", text):
        a, b = int(m.group(1)), int(m.group(2))
        if b < a:
            raise argparse.ArgumentTypeError(f"empty year range {text}")
        return tuple(range(a, b + 1))
    if re.fullmatch(r"\d{1,2}", text):
        return tuple(range(2025 - int(text), 2025))
    try:
        return tuple(int(y) for y in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not years: {text!r} (2024, 2020-2024, 5)") from None


def _months(text: str) -> tuple[int, ...]:
    if m := re.fullmatch(r"(\d{1,2})-(\d{1,2})", text.strip()):
        return tuple(range(int(m.group(1)), int(m.group(2)) + 1))
    return tuple(int(x) for x in text.split(","))


def add_generate_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "generate",
        help="write a synthetic world of Comtrade files with planted distortions and truth",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", required=True, help="folder to write (landing/ and ground_truth/)")
    p.add_argument("--reporters", type=int, help="N countries (default 40, or from the target)")
    p.add_argument("--products", type=int, help="P HS6 products (default 100, or from target)")
    p.add_argument(
        "--years", type=_years, default=_years("2020-2024"), help="2020-2024 (default), 2024, 5"
    )
    p.add_argument("--freq", choices=("A", "M", "AM"), default="AM", help="annual, monthly, both")
    p.add_argument("--months", type=_months, help="only these months (1, 1-3): a monthly slice")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    p.add_argument("--gzip", action="store_true", help="write .csv.gz instead of .csv")
    p.add_argument(
        "--target-declarations",
        type=float,
        help="size the world automatically (e.g. 1e6): products (and reporters unless given)",
    )
    p.add_argument(
        "--rate-scale",
        type=float,
        default=1.0,
        help="multiply the per-cell distortion rates (misclassification, unit error, "
        "confidential, nes partner, timing lag, revision): e.g. 4 for a small world that "
        "should still carry every kind",
    )
    p.add_argument(
        "--corridors",
        type=int,
        help="transit corridors (default: 1 per 15 reporters; consecutive corridors alternate "
        "between consignment rows and values only)",
    )
    p.add_argument(
        "--reexports",
        type=int,
        help="re-export arrangements origin -> entrepot -> destination (default: 1 per 8 "
        "reporters, when an entrepot is among them)",
    )
    p.add_argument("--no-duplicate", action="store_true", help="do not plant the duplicate file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_generate)
    return p


def _world() -> ModuleType:
    """The generator module, imported on first use (it needs numpy and pandas)."""
    return import_tool("mirror_tools.generate.world", needs=NEEDS)


def config_from_args(args: argparse.Namespace) -> WorldConfig:
    world = _world()
    reporters, products = args.reporters, args.products
    if args.target_declarations:
        reporters, products = world.size_for_target(
            int(args.target_declarations),
            reporters=reporters,
            years=len(args.years),
            freq=args.freq,
            seed=args.seed,
        )
    if args.rate_scale < 0:
        raise ValueError(f"--rate-scale must be >= 0, not {args.rate_scale}")
    defaults = world.WorldConfig()
    rates = {f: getattr(defaults, f) * args.rate_scale for f in world.RATE_FIELDS}
    return world.WorldConfig(
        **rates,
        reporters=reporters or 40,
        products=products or 100,
        years=tuple(args.years),
        freq=args.freq,
        seed=args.seed,
        gzip=args.gzip,
        months=tuple(args.months) if args.months else None,
        duplicate_file=not args.no_duplicate,
        corridors=args.corridors,
        reexports=args.reexports,
    )


def run_generate(args: argparse.Namespace) -> int:
    """``mirror generate``: 0 when the world is written, 2 on a bad argument or missing numpy."""
    try:
        cfg = config_from_args(args)
    except (ValueError, MissingToolDependency) as exc:
        print(f"mirror generate: {exc}", file=sys.stderr)
        return 2
    _world().generate_world(cfg, Path(args.out), progress=not args.quiet)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mirror")
    sub = parser.add_subparsers(dest="command", required=True)
    add_generate_parser(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
