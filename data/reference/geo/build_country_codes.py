"""Build the UN Comtrade area code -> ISO 3166-1 country mapping.

Run from the repository root::

    uv run --with pycountry python data/reference/geo/build_country_codes.py

Inputs (all in ``data/reference/geo/``):

* ``comtrade_reporterAreas.json`` / ``comtrade_partnerAreas.json`` -- Comtrade's own
  area lists (``{"results": [{"id": "381", "text": "Italy"}, ...]}``).
* ``comtrade_areas_not_specified.csv`` -- Comtrade's "not elsewhere specified" areas,
  bunkers, free zones etc., with Comtrade's pseudo ISO codes (``_X ``, ``S19`` ...).
* ``comtrade_iso_exceptions.csv`` -- hand-maintained ``comtrade_code,iso3,reason``.
  ``reason`` must start with an area-type tag (``country:``, ``group:``,
  ``historic:``, ``area_nes:``, ``world:``, ``other:``); the tag sets the row's
  ``area_type``.

Output: ``comtrade_country_codes.csv`` with columns
``comtrade_code,iso3,iso2,country_name,area_type,is_reporter,is_partner``.

Resolution of iso3 (first hit wins):

1. the Comtrade code equals a current ISO 3166-1 numeric code (pycountry);
2. the exceptions file;
3. ``PartnerCodeIsoAlpha3`` / ``PartnerCodeIsoAlpha2`` of areas_not_specified.csv
   (whitespace stripped: Comtrade pads some codes, e.g. ``"_X "``);
4. empty.

area_type (first hit wins): ``world`` for code 0; the exceptions-file tag;
``area_nes`` if listed in areas_not_specified.csv; ``country`` if iso3 is a current
ISO 3166-1 country; ``historic`` if the text starts with "Fmr" or contains
"(before"/"...19xx)"; ``group`` if the text looks like an aggregate ("nes", "EU-",
"Customs Union", "ASEAN" ...); otherwise ``other``.

Uniqueness rule: the warehouse needs exactly one ``country`` row per iso3. If two
``country`` rows share an iso3 and exactly one of them is tagged ``country`` in the
exceptions file (Comtrade's own code, e.g. 699 India), that row stays ``country`` and
the ISO-numeric twin (e.g. 356 "India, excl. Sikkim") becomes ``other`` (keeping its
own iso3). Any other duplicate is an error: the script exits with status 1.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pycountry

HERE = Path(__file__).resolve().parent
REPORTERS = HERE / "comtrade_reporterAreas.json"
PARTNERS = HERE / "comtrade_partnerAreas.json"
NOT_SPECIFIED = HERE / "comtrade_areas_not_specified.csv"
EXCEPTIONS = HERE / "comtrade_iso_exceptions.csv"
OUTPUT = HERE / "comtrade_country_codes.csv"

COLUMNS = [
    "comtrade_code",
    "iso3",
    "iso2",
    "country_name",
    "area_type",
    "is_reporter",
    "is_partner",
]
AREA_TYPES = ("world", "country", "area_nes", "group", "historic", "other")

HISTORIC_TEXT = re.compile(r"^Fmr\b|\(before\b|\b1[89]\d\d\)$")
GROUP_TEXT = re.compile(
    r"\bnes\b|\bEU-\d+|Customs Union|\bASEAN\b|\bEFTA\b|\bLAIA\b|\bCACM\b", re.IGNORECASE
)


class IsoCountry(Protocol):
    """The part of a pycountry ISO 3166-1 record this script uses."""

    alpha_2: str
    alpha_3: str


@dataclass(frozen=True)
class Exception_:
    """One row of the hand-maintained exceptions file."""

    iso3: str
    area_type: str
    reason: str


@dataclass
class Row:
    """One output row."""

    comtrade_code: int
    iso3: str
    iso2: str
    country_name: str
    area_type: str
    is_reporter: bool
    is_partner: bool

    def as_csv(self) -> dict[str, str]:
        return {
            "comtrade_code": str(self.comtrade_code),
            "iso3": self.iso3,
            "iso2": self.iso2,
            "country_name": self.country_name,
            "area_type": self.area_type,
            "is_reporter": "true" if self.is_reporter else "false",
            "is_partner": "true" if self.is_partner else "false",
        }


def fail(message: str) -> None:
    """Print an error and exit with status 1."""
    print(f"ERROR: {message}", file=sys.stderr)
    sys.exit(1)


def load_areas(path: Path) -> dict[int, str]:
    """Return {comtrade_code: text} from a Comtrade areas JSON, skipping non-numeric ids."""
    with path.open(encoding="utf-8") as fh:
        results = json.load(fh)["results"]
    areas: dict[int, str] = {}
    for item in results:
        raw = str(item["id"]).strip()
        if not raw.isdigit():  # e.g. "all"
            continue
        areas[int(raw)] = item["text"]
    return areas


def load_not_specified(path: Path) -> dict[int, tuple[str, str]]:
    """Return {comtrade_code: (iso3, iso2)} from comtrade_areas_not_specified.csv."""
    out: dict[int, tuple[str, str]] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for rec in csv.DictReader(fh):
            code = int(rec["id"].strip())
            out[code] = (
                (rec["PartnerCodeIsoAlpha3"] or "").strip(),
                (rec["PartnerCodeIsoAlpha2"] or "").strip(),
            )
    return out


def load_exceptions(path: Path) -> dict[int, Exception_]:
    """Return {comtrade_code: Exception_}; the area type is the tag before ':' in reason."""
    out: dict[int, Exception_] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != ["comtrade_code", "iso3", "reason"]:
            fail(f"{path.name}: expected header comtrade_code,iso3,reason, got {reader.fieldnames}")
        for rec in reader:
            code = int(rec["comtrade_code"].strip())
            tag, sep, _ = rec["reason"].partition(":")
            tag = tag.strip()
            if not sep or tag not in AREA_TYPES:
                fail(f"{path.name}: code {code}: reason must start with one of {AREA_TYPES} + ':'")
            if code in out:
                fail(f"{path.name}: code {code} listed twice")
            out[code] = Exception_(rec["iso3"].strip(), tag, rec["reason"].strip())
    return out


def iso_country_by_numeric(code: int) -> IsoCountry | None:
    """Current ISO 3166-1 country whose numeric code equals ``code`` (zero-padded)."""
    return pycountry.countries.get(numeric=f"{code:03d}")


def iso_country_by_alpha3(iso3: str) -> IsoCountry | None:
    """Current ISO 3166-1 country for an alpha-3 code, if it is one."""
    if len(iso3) != 3 or not iso3.isalpha():
        return None
    return pycountry.countries.get(alpha_3=iso3.upper())


def classify_by_text(text: str) -> str | None:
    """Fallback area type from Comtrade's text, or None."""
    if HISTORIC_TEXT.search(text):
        return "historic"
    if GROUP_TEXT.search(text):
        return "group"
    return None


def build() -> tuple[list[Row], list[str]]:
    """Build the rows; return them with a list of notes on unresolved codes."""
    reporters = load_areas(REPORTERS)
    partners = load_areas(PARTNERS)
    not_specified = load_not_specified(NOT_SPECIFIED)
    exceptions = load_exceptions(EXCEPTIONS)

    for code, exc in exceptions.items():
        if code != 0 and iso_country_by_numeric(code) is not None:
            fail(
                f"{EXCEPTIONS.name}: code {code} is a current ISO numeric code; "
                "exceptions are only for codes the numeric lookup cannot resolve"
            )
        if exc.area_type == "country" and iso_country_by_alpha3(exc.iso3) is None:
            fail(
                f"{EXCEPTIONS.name}: code {code} tagged country but {exc.iso3!r} is not ISO 3166-1"
            )

    names: dict[int, str] = {**partners, **reporters}
    notes: list[str] = []
    rows: list[Row] = []
    for code in sorted(names):
        text = names[code]
        iso3 = iso2 = ""
        numeric_hit = iso_country_by_numeric(code) if code != 0 else None
        if numeric_hit is not None:
            iso3, iso2 = numeric_hit.alpha_3, numeric_hit.alpha_2
        elif code in exceptions:
            iso3 = exceptions[code].iso3
            real = iso_country_by_alpha3(iso3)
            iso2 = real.alpha_2 if real is not None else ""
        elif code in not_specified:
            iso3, iso2 = not_specified[code]

        if code == 0:
            area_type = "world"
        elif code in exceptions:
            area_type = exceptions[code].area_type
        elif code in not_specified:
            area_type = "area_nes"
        elif numeric_hit is not None:
            area_type = "country"
        else:
            area_type = classify_by_text(text) or "other"
            notes.append(
                f"{code} {text!r}: not resolved (no ISO numeric, no exception) -> {area_type}"
            )

        rows.append(Row(code, iso3, iso2, text, area_type, code in reporters, code in partners))
    return rows, notes


def enforce_one_country_per_iso3(rows: list[Row], exceptions: dict[int, Exception_]) -> list[str]:
    """Apply the twin rule; exit 1 on duplicates it cannot settle. Return notes."""
    by_iso3: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if row.area_type == "country":
            by_iso3[row.iso3].append(row)
    notes: list[str] = []
    errors: list[str] = []
    for iso3, group in sorted(by_iso3.items()):
        if len(group) < 2:
            continue
        winners = [
            r
            for r in group
            if r.comtrade_code in exceptions and exceptions[r.comtrade_code].area_type == "country"
        ]
        listing = ", ".join(f"{r.comtrade_code} {r.country_name!r}" for r in group)
        if len(winners) != 1:
            errors.append(f"iso3 {iso3} used by several country rows: {listing}")
            continue
        for r in group:
            if r is not winners[0]:
                r.area_type = "other"
                notes.append(
                    f"{r.comtrade_code} {r.country_name!r}: ISO-numeric twin of "
                    f"{winners[0].comtrade_code} ({iso3}) -> other"
                )
    if errors:
        fail("duplicate country iso3:\n  " + "\n  ".join(errors))
    return notes


def main() -> int:
    """Build, check, write and summarise the mapping."""
    rows, unresolved = build()
    twin_notes = enforce_one_country_per_iso3(rows, load_exceptions(EXCEPTIONS))

    with OUTPUT.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row.as_csv())

    counts = Counter(r.area_type for r in rows)
    print(f"wrote {OUTPUT.name}: {len(rows)} rows")
    for area_type in AREA_TYPES:
        print(f"  {area_type:<9} {counts.get(area_type, 0)}")
    n_rep = sum(r.is_reporter for r in rows)
    n_par = sum(r.is_partner for r in rows)
    print(f"  reporters {n_rep}, partners {n_par}")
    print("twin rule applied:" if twin_notes else "twin rule applied: none")
    for note in twin_notes:
        print(f"  {note}")
    print(
        "codes not resolved by ISO numeric, exceptions or areas_not_specified:"
        if unresolved
        else "codes not resolved: none"
    )
    for note in unresolved:
        print(f"  {note}")
    no_iso3 = [r for r in rows if not r.iso3]
    print(f"rows with empty iso3 ({len(no_iso3)}):")
    for r in no_iso3:
        print(f"  {r.comtrade_code} {r.country_name!r} [{r.area_type}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
