"""Build the embedded, ILLUSTRATIVE sample of UN Comtrade "final data" files.

The sample mimics the file layout of UN Comtrade final data (47 columns, one file per
reporter and frequency) for Kazakhstan's exports of six HS6 products and the mirror
imports declared by its partners, 2019-2024, annual (A) and monthly (M).

Crude oil (270900) on the importer side is shaped by real public registers copied into
``data/real/``:

* 2019: EU Crude Oil Imports Register (DG Energy), ``data/real/coir/coir_2013_2019_monthly.csv``;
* 2020-01..2023-12: Eurostat ``nrg_ti_coifpm``,
  ``data/real/eurostat/estat_nrg_ti_coifpm_vol_val.csv.gz``.

Everything else (gaps, 2024, China, Kazakhstan's own declarations, non-oil products) is
invented with a seeded pseudo-random generator. The values are NOT official Comtrade
figures. See ``data/sample/README.md`` for the derivation, the planted quirks and oracles.

Usage (from the repository root, standard library only)::

    python3 data/sample/build_sample.py           # build the files, then run the self-check
    python3 data/sample/build_sample.py --check   # only re-read the files and run the self-check
"""

from __future__ import annotations

import csv
import gzip
import random
import sys
from collections import defaultdict
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REAL = REPO / "data" / "real"
OUT = REPO / "data" / "sample" / "comtrade"

COIR_CSV = REAL / "coir" / "coir_2013_2019_monthly.csv"
EUROSTAT_GZ = REAL / "eurostat" / "estat_nrg_ti_coifpm_vol_val.csv.gz"

SEED = 20250630
RELEASE = "2025-06-30"
REVISION_RELEASE = "2025-09-30"
REVISION_PERIOD = (2023, 3)
YEARS = range(2019, 2025)
MONTHS = [(y, m) for y in YEARS for m in range(1, 13)]

BBL_PER_TONNE = Decimal("7.6")  # CPC Blend, API ~45 degrees
CIF_FOB = Decimal("1.06")

HEADER = [
    "typeCode",
    "freqCode",
    "refPeriodId",
    "refYear",
    "refMonth",
    "period",
    "reporterCode",
    "reporterISO",
    "reporterDesc",
    "flowCode",
    "flowDesc",
    "partnerCode",
    "partnerISO",
    "partnerDesc",
    "partner2Code",
    "partner2ISO",
    "partner2Desc",
    "classificationCode",
    "classificationSearchCode",
    "isOriginalClassification",
    "cmdCode",
    "cmdDesc",
    "aggrLevel",
    "isLeaf",
    "customsCode",
    "customsDesc",
    "mosCode",
    "motCode",
    "motDesc",
    "qtyUnitCode",
    "qtyUnitAbbr",
    "qty",
    "isQtyEstimated",
    "altQtyUnitCode",
    "altQtyUnitAbbr",
    "altQty",
    "isAltQtyEstimated",
    "netWgt",
    "isNetWgtEstimated",
    "grossWgt",
    "isGrossWgtEstimated",
    "cifvalue",
    "fobvalue",
    "primaryValue",
    "legacyEstimationFlag",
    "isReported",
    "isAggregate",
]

# Comtrade area codes (NOT ISO numeric for FRA/ITA/USA/CHE), ISO-3 and Comtrade names.
AREAS: dict[str, tuple[int, str]] = {
    "KAZ": (398, "Kazakhstan"),
    "ITA": (381, "Italy"),
    "AUT": (40, "Austria"),
    "DEU": (276, "Germany"),
    "CZE": (203, "Czechia"),
    "NLD": (528, "Netherlands"),
    "FRA": (251, "France"),
    "ESP": (724, "Spain"),
    "ROU": (642, "Romania"),
    "CHN": (156, "China"),
    "RUS": (643, "Russian Federation"),
    "USA": (842, "USA"),
    "CHE": (757, "Switzerland"),
    "_X": (899, "Areas, nes"),  # ISO "_X " in comtrade_areas_not_specified.csv, stripped
    "W00": (0, "World"),
}

# cmdDesc copied from comtrade_hs2022_products.csv (column `text`, "NNNNNN - " prefix removed).
# All six codes are 1:1 between HS2017 and HS2022 in hs_consolidated_correlations.csv.
PRODUCTS: dict[str, str] = {
    "070310": "Vegetables, alliaceous; onions and shallots, fresh or chilled",
    "100199": "Cereals; wheat and meslin, other than durum wheat, other than seed",
    "270900": "Oils; petroleum oils and oils obtained from bituminous minerals, crude",
    "284410": (
        "Uranium; natural uranium and its compounds, alloys, dispersions (including cermets), "
        "ceramic products and mixtures containing natural uranium or natural uranium compounds"
    ),
    "720241": "Ferro-alloys; ferro-chromium, containing by weight more than 4% of carbon",
    "740311": "Copper; refined, unwrought, cathodes and sections of cathodes",
}

EU_CRUDE_IMPORTERS = ["AUT", "DEU", "CZE", "ITA", "NLD", "FRA", "ESP", "ROU"]
TAL_IMPORTERS = ["ITA", "AUT", "DEU", "CZE"]  # KZ declares their crude all to Italy
EUROSTAT_GEO = {
    "AT": "AUT",
    "DE": "DEU",
    "CZ": "CZE",
    "IT": "ITA",
    "NL": "NLD",
    "FR": "FRA",
    "ES": "ESP",
    "RO": "ROU",
}
COIR_NAMES = {
    "Austria": "AUT",
    "Germany": "DEU",
    "Czech Republic": "CZE",
    "Italy": "ITA",
    "Netherlands": "NLD",
    "France": "FRA",
    "Spain": "ESP",
    "Romania": "ROU",
}
CZE_RATIO_YEAR = 2014  # last full calendar year in which COIR has both Czechia and Austria

# Share of AUT/DEU/CZE crude imports from KZ consigned from Italy (partner2 = ITA, via TAL);
# the remainder (if any) is consigned from Kazakhstan itself (DEU: Druzhba pipeline).
TAL_CONSIGNED_SHARE = {"AUT": Decimal("1"), "DEU": Decimal("0.85"), "CZE": Decimal("1")}

# Non-oil pairs: (cmdCode, partner) -> (base FOB USD per month, unit value USD/kg,
#                                        probability that a month has trade)
NON_OIL: dict[tuple[str, str], tuple[int, float, float]] = {
    ("740311", "CHN"): (200_000_000, 8.5, 1.0),
    ("740311", "NLD"): (40_000_000, 8.5, 1.0),
    ("740311", "RUS"): (20_000_000, 8.4, 0.9),
    ("740311", "DEU"): (15_000_000, 8.6, 0.9),
    ("740311", "ITA"): (25_000_000, 8.5, 1.0),
    ("284410", "CHN"): (120_000_000, 110.0, 0.6),
    ("284410", "FRA"): (45_000_000, 115.0, 0.4),
    ("284410", "USA"): (55_000_000, 112.0, 0.4),
    ("284410", "RUS"): (30_000_000, 105.0, 0.4),
    ("284410", "CHE"): (12_000_000, 118.0, 0.25),
    ("100199", "ITA"): (12_000_000, 0.26, 1.0),
    ("100199", "RUS"): (3_000_000, 0.22, 0.8),
    ("100199", "CHN"): (20_000_000, 0.27, 1.0),
    ("100199", "ESP"): (4_000_000, 0.25, 0.7),
    ("100199", "_X"): (2_000_000, 0.24, 0.6),
    ("720241", "NLD"): (60_000_000, 1.3, 1.0),
    ("720241", "CHN"): (50_000_000, 1.25, 1.0),
    ("720241", "USA"): (10_000_000, 1.35, 0.8),
    ("720241", "DEU"): (8_000_000, 1.3, 0.8),
    ("070310", "RUS"): (1_500_000, 0.20, 0.9),
    ("070310", "NLD"): (200_000, 0.25, 0.5),
    ("070310", "DEU"): (120_000, 0.25, 0.5),
}
# Illustrative yearly price level per product (multiplies value and unit value).
YEAR_LEVEL: dict[str, dict[int, float]] = {
    "740311": {2019: 1.00, 2020: 0.97, 2021: 1.50, 2022: 1.45, 2023: 1.40, 2024: 1.50},
    "284410": {2019: 1.00, 2020: 1.05, 2021: 1.10, 2022: 1.30, 2023: 1.70, 2024: 2.00},
    "100199": {2019: 1.00, 2020: 1.05, 2021: 1.25, 2022: 1.60, 2023: 1.30, 2024: 1.10},
    "720241": {2019: 1.00, 2020: 0.90, 2021: 1.30, 2022: 1.60, 2023: 1.20, 2024: 1.10},
    "070310": {2019: 1.00, 2020: 1.10, 2021: 1.00, 2022: 1.20, 2023: 1.15, 2024: 1.05},
}

# Quirk 1a: KAZ export rows with a customs-procedure breakdown (C01 + C02 = C00 total).
CUSTOMS_BREAKDOWN = {("740311", "CHN"): (2021, 2022)}
CUSTOMS_C01_SHARE = Decimal("0.82")
# Quirk 1b: import rows with a mode-of-transport breakdown (Sea 2100 + Pipelines 9110 = total).
MOT_BREAKDOWN = {("CHN", "270900"): (2022, 2023)}
MOT_SEA_SHARE = Decimal("0.15")

C2 = Decimal("0.01")
C3 = Decimal("0.001")


def q2(x: Decimal) -> Decimal:
    return x.quantize(C2, rounding=ROUND_HALF_UP)


def q3(x: Decimal) -> Decimal:
    return x.quantize(C3, rounding=ROUND_HALF_UP)


def fmt(x: Decimal | None) -> str:
    """Render a number as Comtrade does: no trailing zeros, no exponent."""
    if x is None:
        return ""
    s = format(x, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def dec(x: float) -> Decimal:
    return Decimal(repr(x))


# --------------------------------------------------------------------------------------
# Real crude series
# --------------------------------------------------------------------------------------

Month = tuple[int, int]
VolVal = tuple[Decimal, Decimal]  # (thousand barrels, thousand USD CIF)


def read_coir() -> tuple[dict[tuple[str, Month], VolVal], dict[tuple[str, int], Decimal]]:
    """Kazakh crude per reporting country and month from COIR (2019 detail, yearly volumes)."""
    monthly: dict[tuple[str, Month], VolVal] = {}
    yearly_vol: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    with COIR_CSV.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["Country of Origin"] != "Kazakhstan":
                continue
            iso = COIR_NAMES.get(row["Reporting Country"])
            if iso is None:
                continue
            year, month = int(row["date"][:4]), int(row["date"][5:7])
            vol = Decimal(row["Volume (1000 bbl)"] or "0")
            val = Decimal(row["Total Value ($ 1000)"] or "0")
            yearly_vol[(iso, year)] += vol
            if year == 2019:
                old = monthly.get((iso, (year, month)), (Decimal(0), Decimal(0)))
                monthly[(iso, (year, month))] = (old[0] + vol, old[1] + val)
    return monthly, yearly_vol


def read_eurostat() -> tuple[dict[tuple[str, Month], dict[str, Decimal]], set[tuple[str, Month]]]:
    """Published KZ_* sums per importer/month/indicator, and the set of confidential cells."""
    published: dict[tuple[str, Month], dict[str, Decimal]] = defaultdict(
        lambda: defaultdict(Decimal)
    )
    confidential: set[tuple[str, Month]] = set()
    with gzip.open(EUROSTAT_GZ, "rt", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            iso = EUROSTAT_GEO.get(row["geo"])
            if iso is None or not row["crudeoil"].startswith("KZ_"):
                continue
            ym = (int(row["TIME_PERIOD"][:4]), int(row["TIME_PERIOD"][5:7]))
            if ym[0] < 2020:
                continue
            if row["OBS_VALUE"] == "":
                confidential.add((iso, ym))
            else:
                published[(iso, ym)][row["indic_nrg"]] += Decimal(row["OBS_VALUE"])
    return published, confidential


def crude_importer_series() -> tuple[dict[tuple[str, Month], VolVal], dict[Month, Decimal]]:
    """Final (filled) monthly volume/value of Kazakh crude per EU importer, plus avg CIF $/bbl."""
    coir, coir_yearly = read_coir()
    estat, confidential = read_eurostat()
    real: dict[tuple[str, Month], VolVal] = {}
    missing_value: dict[tuple[str, Month], Decimal] = {}  # volume known, value withheld
    for (iso, ym), vv in coir.items():
        real[(iso, ym)] = vv
    for (iso, ym), ind in estat.items():
        vol, val = ind.get("VOL_THS_BBL"), ind.get("VAL_THS_USD")
        if vol is not None and val is not None:
            real[(iso, ym)] = (vol, val)
        elif vol is not None:
            missing_value[(iso, ym)] = vol
    # Average CIF $/bbl per month over the published (non-Czech) importers.
    price: dict[Month, Decimal] = {}
    for ym in MONTHS:
        if ym[0] == 2024:
            price[ym] = price[(2023, ym[1])]
            continue
        tv = sum((v[0] for (i, m), v in real.items() if m == ym), Decimal(0))
        tu = sum((v[1] for (i, m), v in real.items() if m == ym), Decimal(0))
        price[ym] = tu / tv
    for (iso, ym), vol in missing_value.items():
        real[(iso, ym)] = (vol, vol * price[ym])
    ratio = coir_yearly[("CZE", CZE_RATIO_YEAR)] / coir_yearly[("AUT", CZE_RATIO_YEAR)]
    final: dict[tuple[str, Month], VolVal] = {}
    for ym in MONTHS:
        for iso in EU_CRUDE_IMPORTERS:
            if iso == "CZE":
                continue
            if ym[0] == 2024:  # no per-country data after 2023-12: copy same month of 2023
                final[(iso, ym)] = final[(iso, (2023, ym[1]))]
            elif (iso, ym) in real:
                final[(iso, ym)] = real[(iso, ym)]
            elif (iso, ym) in confidential:  # withheld: same month previous year, re-priced
                prev_vol = final[(iso, (ym[0] - 1, ym[1]))][0]
                final[(iso, ym)] = (prev_vol, prev_vol * price[ym])
            else:
                final[(iso, ym)] = (Decimal(0), Decimal(0))
        aut_vol, aut_val = final[("AUT", ym)]
        final[("CZE", ym)] = (aut_vol * ratio, aut_val * ratio)
    return final, price


# --------------------------------------------------------------------------------------
# Record model
# --------------------------------------------------------------------------------------


class Rec:
    """One monthly total record of a reporter/flow/partner/product, with optional breakdowns."""

    def __init__(
        self,
        reporter: str,
        flow: str,
        partner: str,
        cmd: str,
        ym: Month,
        value: Decimal,
        wgt: Decimal,
    ) -> None:
        self.reporter, self.flow, self.partner, self.cmd, self.ym = reporter, flow, partner, cmd, ym
        self.value, self.wgt = q2(value), q3(wgt)
        # breakdown rows: (kind, code) -> (value, weight); kind in customs/mot/partner2
        self.breakdown: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}

    def split(self, kind: str, first: str, second: str, share: Decimal) -> None:
        v1, w1 = q2(self.value * share), q3(self.wgt * share)
        self.breakdown[(kind, first)] = (v1, w1)
        if share < 1:
            self.breakdown[(kind, second)] = (self.value - v1, self.wgt - w1)


BREAKDOWN_DESC = {
    ("customs", "C01"): "Normal exports",
    ("customs", "C02"): "Inward processing",
    ("mot", "2100"): "Sea",
    ("mot", "9110"): "Pipelines",
}


def make_row(
    freq: str,
    year: int,
    month: int | None,
    reporter: str,
    flow: str,
    partner: str,
    cmd: str,
    value: Decimal,
    wgt: Decimal,
    kind: str = "",
    code: str = "",
) -> list[str]:
    rcode, rdesc = AREAS[reporter]
    pcode, pdesc = AREAS[partner]
    p2iso, customs, mot = "W00", "C00", "0"
    if kind == "partner2":
        p2iso = code
    elif kind == "customs":
        customs = code
    elif kind == "mot":
        mot = code
    p2code, p2desc = AREAS[p2iso]
    if freq == "A":
        ref_id, ref_month, period = f"{year}0101", "52", str(year)
    else:
        assert month is not None
        ref_id, ref_month, period = f"{year}{month:02d}01", str(month), f"{year}{month:02d}"
    v = fmt(value)
    return [
        "C",
        freq,
        ref_id,
        str(year),
        ref_month,
        period,
        str(rcode),
        reporter,
        rdesc,
        flow,
        "Export" if flow == "X" else "Import",
        str(pcode),
        partner,
        pdesc,
        str(p2code),
        p2iso,
        p2desc,
        "H5" if year <= 2021 else "H6",
        "HS",
        "True",
        cmd,
        PRODUCTS[cmd],
        "6",
        "True",
        customs,
        BREAKDOWN_DESC.get(("customs", customs), "TOTAL CPC"),
        "0",
        mot,
        BREAKDOWN_DESC.get(("mot", mot), "TOTAL MOT"),
        "8",
        "kg",
        fmt(wgt),
        "False",
        "-1",
        "N/A",
        "",
        "False",
        fmt(wgt),
        "False",
        "",
        "False",
        v if flow == "M" else "",
        v if flow == "X" else "",
        v,
        "0",
        "True",
        "False",
    ]


def rec_rows(freq: str, year: int, month: int | None, r: Rec) -> list[list[str]]:
    rows = [make_row(freq, year, month, r.reporter, r.flow, r.partner, r.cmd, r.value, r.wgt)]
    for (kind, code), (v, w) in sorted(r.breakdown.items()):
        rows.append(
            make_row(freq, year, month, r.reporter, r.flow, r.partner, r.cmd, v, w, kind, code)
        )
    return rows


def sort_key(row: list[str]) -> tuple:
    h = {c: i for i, c in enumerate(HEADER)}
    return (
        row[h["period"]],
        row[h["flowCode"]],
        int(row[h["partnerCode"]]),
        row[h["cmdCode"]],
        row[h["customsCode"]],
        int(row[h["motCode"]]),
        int(row[h["partner2Code"]]),
    )


# --------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------


def build_records() -> list[Rec]:
    rng = random.Random(SEED)
    final, price = crude_importer_series()
    recs: list[Rec] = []
    for ym in MONTHS:
        # --- crude, importer side (EU from the registers, China illustrative)
        imports: dict[str, Rec] = {}
        for iso in EU_CRUDE_IMPORTERS:
            vol, val = final[(iso, ym)]
            if vol <= 0:
                continue
            imports[iso] = Rec(
                iso, "M", "KAZ", "270900", ym, val * 1000, vol * 1_000_000 / BBL_PER_TONNE
            )
        chn_vol = Decimal(1000) + dec(rng.uniform(0, 500))
        imports["CHN"] = Rec(
            "CHN",
            "M",
            "KAZ",
            "270900",
            ym,
            chn_vol * price[ym] * 1000,
            chn_vol * 1_000_000 / BBL_PER_TONNE,
        )
        for iso, share in TAL_CONSIGNED_SHARE.items():
            if iso in imports:
                imports[iso].split("partner2", "ITA", "KAZ", share)
        years = MOT_BREAKDOWN.get(("CHN", "270900"), ())
        if ym[0] in years:
            imports["CHN"].split("mot", "2100", "9110", MOT_SEA_SHARE)
        recs.extend(imports.values())
        # --- crude, exporter side
        tal = [imports[i] for i in TAL_IMPORTERS if i in imports]
        if tal:
            cif = sum((r.value for r in tal), Decimal(0))
            wgt = sum((r.wgt for r in tal), Decimal(0))
            e = dec(rng.uniform(-0.02, 0.02))
            n = dec(rng.uniform(-0.01, 0.01))
            recs.append(
                Rec("KAZ", "X", "ITA", "270900", ym, cif / CIF_FOB * (1 + e), wgt * (1 + n))
            )
        for iso in ["NLD", "FRA", "ESP", "ROU", "CHN"]:
            if iso not in imports:
                continue
            e = dec(rng.uniform(-0.03, 0.03))
            n = dec(rng.uniform(-0.01, 0.01))
            r = imports[iso]
            recs.append(
                Rec("KAZ", "X", iso, "270900", ym, r.value / CIF_FOB / (1 + e), r.wgt * (1 + n))
            )
        # --- non-oil products: exporter first, then the mirror
        for (cmd, partner), (base, uv, p_trade) in sorted(NON_OIL.items()):
            has_trade = rng.random() < p_trade
            swing = rng.uniform(-0.3, 0.3)
            e = rng.uniform(-0.03, 0.03)
            n1, n2 = rng.uniform(-0.05, 0.05), rng.uniform(-0.02, 0.02)
            if not has_trade:
                continue
            level = YEAR_LEVEL[cmd][ym[0]]
            fob = dec(base * level * (1 + swing))
            wgt = fob / dec(uv * level) * dec(1 + n1)
            x = Rec("KAZ", "X", partner, cmd, ym, fob, wgt)
            if ym[0] in CUSTOMS_BREAKDOWN.get((cmd, partner), ()):
                x.split("customs", "C01", "C02", CUSTOMS_C01_SHARE)
            recs.append(x)
            if partner != "_X":  # "Areas, nes" has no mirror
                recs.append(
                    Rec(
                        partner,
                        "M",
                        "KAZ",
                        cmd,
                        ym,
                        x.value * CIF_FOB * dec(1 + e),
                        x.wgt * dec(1 + n2),
                    )
                )
    return recs


def annualise(recs: list[Rec]) -> dict[tuple[str, str, str, str, int], Rec]:
    """Annual records = exact sums of the monthly records (totals and each breakdown row)."""
    out: dict[tuple[str, str, str, str, int], Rec] = {}
    for r in recs:
        k = (r.reporter, r.flow, r.partner, r.cmd, r.ym[0])
        if k not in out:
            a = Rec(r.reporter, r.flow, r.partner, r.cmd, (r.ym[0], 0), Decimal(0), Decimal(0))
            out[k] = a
        a = out[k]
        a.value += r.value
        a.wgt += r.wgt
        for bk, (v, w) in r.breakdown.items():
            ov, ow = a.breakdown.get(bk, (Decimal(0), Decimal(0)))
            a.breakdown[bk] = (ov + v, ow + w)
    return out


def revise(recs: list[Rec]) -> list[Rec]:
    """Revised 2023-03 records of ITA and DEU (values only; weights unchanged)."""
    by_key = {(r.reporter, r.flow, r.partner, r.cmd, r.ym): r for r in recs}
    exports = {
        (r.partner, r.cmd): r for r in recs if r.reporter == "KAZ" and r.ym == REVISION_PERIOD
    }
    plan = [
        ("ITA", "270900", Decimal("1.02")),
        ("ITA", "740311", Decimal("1.02")),
        ("DEU", "270900", Decimal("0.97")),
        ("DEU", "720241", Decimal("0.97")),
    ]
    out: list[Rec] = []
    for reporter, cmd, factor in plan:
        old = by_key[(reporter, "M", "KAZ", cmd, REVISION_PERIOD)]
        new_value = old.value * factor
        if cmd != "270900":  # keep mirror pairs within +-5% after the 1.06 factor
            fob = exports[(reporter, cmd)].value
            if abs(new_value / CIF_FOB - fob) / max(new_value / CIF_FOB, fob) > Decimal("0.045"):
                new_value = fob * CIF_FOB * (2 - factor)  # revise the other way instead
        new = Rec(reporter, "M", "KAZ", cmd, REVISION_PERIOD, new_value, old.wgt)
        if reporter in TAL_CONSIGNED_SHARE and cmd == "270900":
            new.split("partner2", "ITA", "KAZ", TAL_CONSIGNED_SHARE[reporter])
        out.append(new)
    return out


def write_csv(path: Path, rows: Iterable[list[str]]) -> int:
    n = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(HEADER)
        for row in rows:
            w.writerow(row)
            n += 1
    return n


def build() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("comtrade_final_*.csv"):
        old.unlink()
    recs = build_records()
    annual = annualise(recs)
    per_file: dict[tuple[str, str], list[list[str]]] = defaultdict(list)
    for r in recs:
        per_file[("M", r.reporter)].extend(rec_rows("M", r.ym[0], r.ym[1], r))
    for (_, _, _, _, year), a in annual.items():
        per_file[("A", a.reporter)].extend(rec_rows("A", year, None, a))
    for (freq, iso), rows in sorted(per_file.items()):
        name = f"comtrade_final_{freq}_{iso}_2019-2024_released-{RELEASE}.csv"
        n = write_csv(OUT / name, sorted(rows, key=sort_key))
        print(f"{name}: {n} rows")
    rev_rows = [row for r in revise(recs) for row in rec_rows("M", r.ym[0], r.ym[1], r)]
    rev_rows.sort(key=lambda row: (row[7], *sort_key(row)))
    period = f"{REVISION_PERIOD[0]}{REVISION_PERIOD[1]:02d}"
    name = f"comtrade_final_M_ITA-DEU_{period}_released-{REVISION_RELEASE}.csv"
    print(f"{name}: {write_csv(OUT / name, rev_rows)} rows")


# --------------------------------------------------------------------------------------
# Self-check
# --------------------------------------------------------------------------------------


def check() -> None:
    files = sorted(OUT.glob("comtrade_final_*.csv"))
    assert files, "no files"
    totals: dict[tuple[str, str], dict[tuple, Decimal]] = {"A": {}, "M": {}}
    originals = [f for f in files if f"released-{RELEASE}" in f.name]
    for f in files:
        raw = f.read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf") and b"\r" not in raw, f
        with f.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        assert rows[0] == HEADER, f
        for row in rows:
            assert len(row) == 47, (f, row)
        if f not in originals:
            continue
        for row in rows[1:]:
            d = dict(zip(HEADER, row, strict=True))
            assert d["cmdCode"] in PRODUCTS and len(d["cmdCode"]) == 6
            assert (d["cifvalue"] == "") == (d["flowCode"] == "X")
            assert (d["fobvalue"] == "") == (d["flowCode"] == "M")
            if (d["customsCode"], d["motCode"], d["partner2Code"]) != ("C00", "0", "0"):
                continue
            key = (d["reporterISO"], d["flowCode"], d["partnerISO"], d["cmdCode"], d["refYear"])
            sub = (d["refMonth"],) if d["freqCode"] == "M" else ()
            assert key + sub not in totals[d["freqCode"]], ("duplicate", key + sub)
            totals[d["freqCode"]][key + sub] = (Decimal(d["primaryValue"]), Decimal(d["netWgt"]))
    # annual = sum of monthly, value and weight
    msum: dict[tuple, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for k, (v, w) in totals["M"].items():
        msum[k[:5]][0] += v
        msum[k[:5]][1] += w
    assert set(msum) == set(totals["A"])
    for k, (v, w) in totals["A"].items():
        assert msum[k] == [v, w], ("annual != sum of monthly", k)
    # mirror reconciliation for non-crude and non-TAL crude pairs
    worst = Decimal(0)
    for freq in ("A", "M"):
        for k, (fob, _) in totals[freq].items():
            rep, _flow, partner, cmd = k[:4]
            if rep != "KAZ" or partner == "_X" or (cmd == "270900" and partner in TAL_IMPORTERS):
                continue
            cif = totals[freq][(partner, "M", "KAZ", cmd, *k[4:])][0]
            gap = abs(cif / CIF_FOB - fob) / max(cif / CIF_FOB, fob)
            worst = max(worst, gap)
            assert gap <= Decimal("0.05"), (freq, k, gap)
        # every non-crude import has its export counterpart
        for k in totals[freq]:
            if k[1] == "M":
                assert ("KAZ", "X", k[0], k[3], *k[4:]) in totals[freq] or (
                    k[3] == "270900" and k[0] in TAL_IMPORTERS
                ), k
    # TAL: KZ->ITA crude export far exceeds ITA's own crude import from KZ, every year
    for y in map(str, YEARS):
        x = totals["A"][("KAZ", "X", "ITA", "270900", y)][0]
        m = totals["A"][("ITA", "M", "KAZ", "270900", y)][0]
        assert x > m * Decimal("1.5"), (y, x, m)
    # revision file: monthly rows of ITA/DEU for one period, keys that exist in the originals,
    # non-crude pairs still within +-5% of Kazakhstan's FOB after the 1.06 factor
    revisions = [f for f in files if f not in originals]
    assert len(revisions) == 1, revisions
    with revisions[0].open(newline="", encoding="utf-8") as fh:
        rev = list(csv.DictReader(fh))
    assert (
        3
        <= sum(
            1
            for d in rev
            if (d["customsCode"], d["motCode"], d["partner2Code"]) == ("C00", "0", "0")
        )
        <= 6
    )
    for d in rev:
        assert d["freqCode"] == "M" and d["reporterISO"] in ("ITA", "DEU"), d
        assert d["period"] == f"{REVISION_PERIOD[0]}{REVISION_PERIOD[1]:02d}", d
        key = (d["reporterISO"], "M", "KAZ", d["cmdCode"], d["refYear"], d["refMonth"])
        assert key in totals["M"], key
        if d["cmdCode"] != "270900":
            cif = Decimal(d["cifvalue"])
            fob = totals["M"][
                ("KAZ", "X", d["reporterISO"], d["cmdCode"], d["refYear"], d["refMonth"])
            ][0]
            assert abs(cif / CIF_FOB - fob) / max(cif / CIF_FOB, fob) <= Decimal("0.05"), d
    print(
        f"check OK: {len(files)} files, {len(totals['A'])} annual and {len(totals['M'])} monthly "
        f"total records, worst mirror gap {worst:.4f}"
    )


if __name__ == "__main__":
    if "--check" not in sys.argv[1:]:
        build()
    check()
