"""The synthetic world: countries, products, gravity, true flows, declarations, distortions.

Everything is deterministic from ``WorldConfig.seed``: the world set-up (countries, products,
margins, roles: corridors, re-exports, unreliable, silent and FOB-reporting countries) from the
seed and the sizes, every exporter x year chunk from ``(seed, exporter's Comtrade code, year)``.
A chunk is generated with numpy, written (declaration rows to the reporters' files, ground truth
to part files) and dropped, so memory does not grow with reporters x products x years.

Model of one chunk (exporter *i*, year *y*):

* a cell (importer *j*, product *k*) trades with probability
  ``min(1, a_ij * u_k)``: ``a_ij`` from a gravity score (Zipf country masses / distance), ``u_k``
  the product's popularity: a sparse matrix where large pairs trade most products;
* the annual true FOB value is lognormal around ``scale_ij * s_k`` (``s_k`` Pareto): a few pairs
  and products carry most of the value; active months ~ Binomial(12, q_k), shares gamma(2);
* declarations: exporter X = true x (1 + U[-2 %, 2 %]); importer M (CIF) = true x (1 + m) x
  (1 + U[-2 %, 2 %]) with the true margin ``ln(1 + m) = 0.01 + 0.008 ln(distance_km)
  - 0.01 contiguity + a_year + a_chapter`` (CEPII ``dist``): ``a_year`` is +3 to +5 points in
  the freight-cost years (``freight_years``, default 2021), N(0, 0.5 pt) otherwise; ``a_chapter``
  N(0, 1 pt) per HS chapter. ``true_flows.true_cif_fob_margin`` is the margin of each key;
* valuation of imports (``reporters.csv`` ``import_valuation``): most importers fill
  ``cifvalue`` (= ``primaryValue``); ``fob`` importers (USA, CAN, AUS when present, as in
  Comtrade) declare ``primaryValue`` = FOB value, ``fobvalue`` filled, ``cifvalue`` empty;
  ``cif_and_fob`` importers fill both (``primaryValue`` = CIF, ``fobvalue`` = CIF / (1 + true
  margin) +- 0.5 %); weights = value / unit value (+-2 % per side); unreliable reporters get
  lognormal noise (sigma ``unreliable_sigma``) on every value;
* annual rows are the sums of the (rounded) monthly rows, as in Comtrade final data.

True flows (``ground_truth/true_flows.parquet``) are what crossed each border: a transit
corridor's goods are origin -> final importer; re-exported goods are origin -> hub and hub ->
destination (both real trade), never origin -> destination.

Planted kinds (a cell carries at most one; never on unreliable reporters, corridor, re-export or
silent-reporter cells), recorded with every mirror key they touch in
``ground_truth/distortions.parquet`` (``kind``, ``variant``, ``detail``, ``side``, ``expected``:
the status that names the cause, ``planted_share``, ``material``):

``transit``             origin declares exports of an HS4 prefix to the hub; the final importers
                        declare imports from the origin. Per corridor: the destinations give a
                        consignment breakdown row (partner2 = hub) or none (found from values
                        alone); the hub imports part itself or nothing (pure transit: the
                        origin -> hub key is export-only); destinations are drawn among the
                        countries within 2,500 km of the hub (CEPII population-weighted
                        distance), not only the nearest; a hub has at least two. Variant
                        ``origin->hub`` / ``origin->destination``, detail = corridor id
                        (``ground_truth/corridors.csv``: for scoring only, never a seed).
                        Expected ``explained_transit``.
``re_export``           an entrepot hub P (HKG, SGP, NLD, BEL, ARE when present) imports HS6 k
                        from origin o (both declare it) and re-exports a share (20-80 %) to j:
                        P declares flow ``RX`` (Re-export) to j and includes it in its total
                        exports X to j; j declares the import from o (country of origin). So
                        M(j <- o) > X(o -> j) and X(P -> j) > M(j <- P). Variants
                        ``hub->destination`` and ``origin->destination``
                        (``ground_truth/reexports.csv``). Expected ``re_export`` on both keys.
``timing_lag``          (monthly) the importer declares 40-80 % of month t in month t+1 (t < 12).
                        Expected ``explained_timing``.
``misclassification``   either side declares a share of the cell (30-90 %, or all of it in
                        ``misclassification_whole`` of cases: each key one-sided) under a
                        neighbouring HS6 of the same heading, or (``misclassification_other_
                        heading``, ~25 %) of another heading of the same chapter. Both HS6 keys;
                        variant ``same_heading``/``other_heading`` + ``whole``/``share``, detail
                        ``to <code>`` (the true code's key) / ``from <code>`` (the code declared).
                        Expected ``explained_classification``.
``confidential``        one side books the whole cell to partner 899 "Areas, nes".
``nes_partner``         one side books the cell, whole or a share (30-90 %), to another
                        non-country partner: 839 Special Categories, 837 Bunkers, 838 Free
                        Zones, the regional nes of the true partner (568 Other Europe / 577
                        Other Africa / 879 Western Asia, nes), or a share to 899. For both:
                        the true country key expects ``explained_unallocated``; the key whose
                        partner is the area (kind ``nes_area``, same variant, detail = the true
                        partner) expects ``unallocated``. Variant ``<code> whole|share``.
``unit_error``          one side writes net weight in tonnes (kg / 1000), value unchanged.
                        Expected ``quantity_flag = likely_unit_error_x1000``.
``revision``            the first release carries a wrong value (x1.3-1.8 or x0.45-0.7) in one
                        declaration; a later ``released-`` file re-delivers the right one.
                        Expected: the later release wins (``is_revised``, ``ok`` /
                        ``explained_cif_fob``).
``unreliable_reporter`` every declaration of a few reporters is noisy. Expected ``breach`` where
                        material; low reliability score.
``partner_not_reported`` one reporter's declarations of one period are missing (a late release:
                        a year of its annual files, a month of its monthly files); every key it
                        leaves one-sided. Expected ``partner_not_reported``.
``non_reporting``       one or two countries never report: they appear only as partners.
                        Expected ``non_reporting_partner``.
``reporting_threshold`` one reporter omits every declaration below a threshold (50k USD annual,
                        10k monthly). Expected ``below_threshold``.
``duplicate_file``      one file is delivered twice under another name (``... (1).csv``):
                        listed in ``ground_truth/files.csv``; expected: registered as duplicate.

A planted key is *material* when the declared values (after the true margin; FOB importers'
values as declared) differ by more than the HS chapter's tolerance, or one side is missing;
unit errors, revisions and ``nes_area`` keys are always material. Recall is computed over
material keys.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from dagster_project.settings import DBT_PROJECT_DIR, REFERENCE_DIR
from dagster_project.sources.comtrade import COLUMNS

COUNTRY_CODES_CSV = REFERENCE_DIR / "geo" / "comtrade_country_codes.csv"
CEPII_CSV = REFERENCE_DIR / "geo" / "cepii_geodist_pairs.csv"
HS_CSV = REFERENCE_DIR / "hs" / "comtrade_hs2022_products.csv"
TOLERANCES_CSV = DBT_PROJECT_DIR / "seeds" / "mirror_tolerances.csv"

# A stable size order: the largest goods traders first (approximate ranking, fixed here so
# the world does not depend on any download), then every other country by ISO-3.
LARGEST_TRADERS: tuple[str, ...] = (
    "CHN", "USA", "DEU", "NLD", "JPN", "FRA", "KOR", "ITA", "GBR", "BEL", "HKG", "MEX", "CAN",
    "IND", "SGP", "ESP", "CHE", "ARE", "POL", "RUS", "VNM", "AUS", "BRA", "THA", "MYS", "SAU",
    "AUT", "CZE", "SWE", "IDN", "TUR", "IRL", "DNK", "NOR", "HUN", "SVK", "ZAF", "FIN", "PRT",
    "ISR", "CHL", "PHL", "ROU", "KAZ", "ARG", "NZL", "GRC", "QAT", "EGY", "NGA", "COL", "PER",
    "UKR", "BGD", "PAK", "KWT", "MAR", "IRQ", "DZA", "SVN", "HRV", "LTU", "BGR", "LUX", "EST",
    "LVA", "OMN", "ECU", "CRI", "BLR", "AGO", "SRB", "TUN", "GTM", "PAN", "LKA", "KEN", "URY",
    "UZB", "AZE",
)  # fmt: skip

# Entrepots: countries whose trade statistics carry large declared re-exports.
ENTREPOTS: tuple[str, ...] = ("HKG", "SGP", "NLD", "BEL", "ARE")
# Importers that value their imports FOB in Comtrade (primaryValue = fobvalue).
FOB_IMPORTERS: tuple[str, ...] = ("USA", "CAN", "AUS")

# Non-country partners a declaration can be booked to (Comtrade area_type area_nes). 490
# "Other Asia, nes" (Taiwan in practice) and codes whose pseudo ISO is shared (A79) are left out.
NES_CONFIDENTIAL = 899
NES_CODES: tuple[int, ...] = (899, 839, 837, 838, 568, 577, 879)


def _iso_set(codes: str) -> frozenset[str]:
    return frozenset(codes.split())


# Regional nes areas and the countries (UN M49 regions) whose trade they may stand for.
REGIONAL_NES: dict[int, frozenset[str]] = {
    568: _iso_set(  # Europe
        "ALB AND AUT BEL BGR BIH BLR CHE CZE DEU DNK ESP EST FIN FRA FRO GBR GIB GRC HRV HUN "
        "IRL ISL ITA LIE LTU LUX LVA MCO MDA MKD MLT MNE NLD NOR POL PRT ROU RUS SMR SRB SVK "
        "SVN SWE UKR VAT"
    ),
    577: _iso_set(  # Africa
        "AGO BDI BEN BFA BWA CAF CIV CMR COD COG COM CPV DJI DZA EGY ERI ESH ETH GAB GHA GIN "
        "GMB GNB GNQ KEN LBR LBY LSO MAR MDG MLI MOZ MRT MUS MWI MYT NAM NER NGA REU RWA SDN "
        "SEN SHN SLE SOM SSD STP SWZ SYC TCD TGO TUN TZA UGA ZAF ZMB ZWE"
    ),
    879: _iso_set(  # Western Asia
        "ARE ARM AZE BHR CYP GEO IRQ ISR JOR KWT LBN OMN PSE QAT SAU SYR TUR YEM"
    ),
}

WORLD_P2 = "0,W00,World,"
DEFAULT_RELEASE = "2025-06-30"
DEFAULT_REVISION_RELEASE = "2025-09-30"

# margin law: ln(1 + m) = A + B ln(distance km) + C contiguity (+ year and chapter shifts)
MARGIN_A, MARGIN_B, MARGIN_C = 0.01, 0.008, -0.01
# margin of a key whose partner is not a country (materiality only: such keys always count)
NES_MARGIN = 0.06
BASE_VALUE_USD = 2e7  # median annual value of the largest pair for a median product
MIN_MONTH_VALUE_USD = 25.0
# rates of the per-cell kinds, multiplied by ``mirror generate --rate-scale``
RATE_FIELDS: tuple[str, ...] = (
    "rate_misclassification", "rate_unit_error", "rate_confidential", "rate_nes_partner",
    "rate_timing_lag", "rate_revision",
)  # fmt: skip


@dataclass(frozen=True)
class WorldConfig:
    reporters: int = 40
    products: int = 100
    years: tuple[int, ...] = (2020, 2021, 2022, 2023, 2024)
    freq: str = "AM"  # "A", "M" or "AM"
    seed: int = 20250701
    gzip: bool = False
    months: tuple[int, ...] | None = None  # a slice: only these months (monthly files only)
    release: str = DEFAULT_RELEASE
    revision_release: str = DEFAULT_REVISION_RELEASE
    duplicate_file: bool = True
    # transit corridors: default max(1, reporters // 15) when reporters >= 6
    corridors: int | None = None
    # probability that the first corridor's destinations give partner2 rows; the next corridors
    # alternate (both patterns in any world of two corridors); 0 or 1: none or all
    corridor_consignment: float = 0.5
    corridor_hub_imports: float = 0.6  # probability the hub imports part of the flow itself
    # destinations drawn among the countries this close to the hub (CEPII dist)
    corridor_radius_km: float = 2500.0
    # re-export arrangements (origin -> entrepot -> destination, one HS6 each):
    # default max(1, reporters // 8) when an entrepot is among the reporters
    reexports: int | None = None
    reexport_share: tuple[float, float] = (0.2, 0.8)
    unreliable_share: float = 0.05
    unreliable_sigma: float = 0.35
    # innocent one-sided flows (each needs >= 8 reporters)
    non_reporting: int | None = None  # countries that never report: default 1 (2 from 25)
    late_release: bool = True  # one reporter's year (annual) / month (monthly) is missing
    threshold_reporter: bool = True  # one reporter omits declarations below the thresholds
    threshold_usd_annual: float = 50_000.0
    threshold_usd_monthly: float = 10_000.0
    # valuation of imports
    fob_importers: int = 2  # primaryValue = FOB, cifvalue empty (USA, CAN, AUS first)
    cif_and_fob_importers: int = 2  # cifvalue and fobvalue both filled
    # CIF/FOB margins: intercept shifts (log points) by year and by HS chapter
    freight_years: tuple[int, ...] = (2021,)
    freight_shift: tuple[float, float] = (0.03, 0.05)
    margin_year_sigma: float = 0.005
    margin_chapter_sigma: float = 0.01
    # per-cell kinds (probability per cell and year)
    rate_misclassification: float = 0.004
    rate_unit_error: float = 0.003
    # booking to non-country partners is among the commonest causes of one-sided flows
    rate_confidential: float = 0.002  # the whole cell to 899 "Areas, nes"
    rate_nes_partner: float = 0.004  # whole or share to another non-country partner
    rate_timing_lag: float = 0.004
    rate_revision: float = 0.002
    misclassification_other_heading: float = 0.25
    misclassification_whole: float = 0.25
    nes_partner_whole: float = 0.5

    def __post_init__(self) -> None:
        if self.freq not in ("A", "M", "AM"):
            raise ValueError(f"freq must be A, M or AM, not {self.freq!r}")
        if self.reporters < 2:
            raise ValueError("at least 2 reporters")
        if self.products < 1:
            raise ValueError("at least 1 product")
        if self.months is not None and (
            "A" in self.freq or not all(1 <= m <= 12 for m in self.months)
        ):
            raise ValueError("a month slice (months) needs freq M and months in 1..12")
        lo, hi = self.reexport_share
        if not 0 < lo <= hi < 1:
            raise ValueError("reexport_share must be 0 < low <= high < 1")

    @property
    def annual(self) -> bool:
        return "A" in self.freq

    @property
    def monthly(self) -> bool:
        return "M" in self.freq

    @property
    def month_list(self) -> tuple[int, ...]:
        return tuple(sorted(self.months)) if self.months else tuple(range(1, 13))

    def threshold(self, freq: str) -> float:
        return self.threshold_usd_annual if freq == "A" else self.threshold_usd_monthly


# --------------------------------------------------------------------------------------
# Reference data
# --------------------------------------------------------------------------------------


def _countries() -> pd.DataFrame:
    """Country reporters that CEPII knows, in the stable size order."""
    codes = pd.read_csv(COUNTRY_CODES_CSV, dtype=str, keep_default_na=False)
    codes = codes[
        (codes.area_type == "country") & (codes.is_reporter == "true") & (codes.iso3 != "")
    ]
    cepii = set(pd.read_csv(CEPII_CSV, usecols=["exporter"], dtype=str).exporter.unique())
    codes = codes[codes.iso3.isin(cepii)].drop_duplicates("iso3")
    order = {iso: i for i, iso in enumerate(LARGEST_TRADERS)}
    codes = codes.assign(_o=codes.iso3.map(lambda s: order.get(s, len(order))))
    codes = codes.sort_values(["_o", "iso3"]).reset_index(drop=True)
    return codes[["comtrade_code", "iso3", "country_name"]].assign(
        comtrade_code=lambda d: d.comtrade_code.astype(int)
    )


def _nes_areas() -> pd.DataFrame:
    """The non-country partners of ``NES_CODES`` as the reference data names them."""
    codes = pd.read_csv(COUNTRY_CODES_CSV, dtype=str, keep_default_na=False)
    codes = codes.assign(comtrade_code=codes.comtrade_code.astype(int))
    areas = codes.set_index("comtrade_code").loc[list(NES_CODES)].reset_index()
    wrong = areas[areas.area_type != "area_nes"]
    if len(wrong):
        raise ValueError(f"not area_nes in {COUNTRY_CODES_CSV}: {wrong.comtrade_code.tolist()}")
    return areas[["comtrade_code", "iso3", "country_name"]]


def _product_order(seed: int) -> pd.DataFrame:
    """Every HS 2022 leaf, headings in a seeded order, leaves of a heading together.

    Half of the headings are followed by another heading of the same chapter, so that a world
    of a few dozen products has codes of different headings within one chapter (the
    misclassification kind moves goods between them)."""
    hs = pd.read_csv(HS_CSV, dtype=str, keep_default_na=False)
    hs = hs[(hs.aggrlevel == "6") & (hs.id.str.fullmatch(r"[0-9]{6}"))]
    hs = hs.assign(desc=hs.text.str.replace(r"^[0-9]{6} - ", "", regex=True), heading=hs.id.str[:4])
    headings = np.array(sorted(hs.heading.unique()))
    rng = np.random.default_rng([seed, 4])
    perm = headings[rng.permutation(len(headings))]
    pair_draw = rng.random(len(perm))
    by_chapter: dict[str, list[str]] = {}
    for h in perm:
        by_chapter.setdefault(h[:2], []).append(h)
    placed: set[str] = set()
    order: list[str] = []
    for h, u in zip(perm, pair_draw, strict=True):
        if h in placed:
            continue
        order.append(h)
        placed.add(h)
        if u < 0.5:
            sibling = next((s for s in by_chapter[h[:2]] if s not in placed), None)
            if sibling is not None:
                order.append(sibling)
                placed.add(sibling)
    rank = {h: r for r, h in enumerate(order)}
    hs = hs.assign(_r=hs.heading.map(rank)).sort_values(["_r", "id"]).reset_index(drop=True)
    return hs[["id", "desc", "heading"]].rename(columns={"id": "hs6"})


def _tolerances() -> dict[str, float]:
    if not TOLERANCES_CSV.is_file():
        return {}
    t = pd.read_csv(TOLERANCES_CSV, dtype={"hs_chapter": str})
    return dict(zip(t.hs_chapter, t.tolerance_pct.astype(float), strict=True))


def _csv_field(text: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow([text])
    return buf.getvalue()


# --------------------------------------------------------------------------------------
# The world (set-up independent of the years)
# --------------------------------------------------------------------------------------


@dataclass
class Corridor:
    corridor_id: str
    origin: int
    hub: int
    destinations: list[int]
    hs_prefix: str
    consignment: bool = True  # destinations declare a partner2 = hub breakdown row
    hub_imports: bool = True  # the hub imports part of the flow itself


@dataclass
class ReExport:
    reexport_id: str
    origin: int
    hub: int
    destination: int
    product: int
    share: float


@dataclass
class World:
    cfg: WorldConfig
    countries: pd.DataFrame
    products: pd.DataFrame
    nes_areas: pd.DataFrame
    distance: np.ndarray
    contiguous: np.ndarray
    log_margin: np.ndarray  # ln(1 + m) of the distance law, before year and chapter shifts
    product_margin_shift: np.ndarray  # per product: its chapter's intercept shift
    activity: np.ndarray  # a_ij
    value_scale: np.ndarray  # scale_ij
    popularity: np.ndarray  # u_k
    product_scale: np.ndarray  # s_k
    unit_value: np.ndarray  # USD/kg
    month_share: np.ndarray  # q_k
    neighbour: np.ndarray  # a neighbouring product of the same heading, or -1
    neighbour_other: np.ndarray  # the nearest product of another heading, same chapter, or -1
    tolerance: np.ndarray  # per product, %
    unreliable: np.ndarray  # bool per country
    valuation: np.ndarray  # per country: 'cif', 'fob' or 'cif_and_fob'
    corridors: list[Corridor] = field(default_factory=list)
    reexports: list[ReExport] = field(default_factory=list)
    non_reporting: list[int] = field(default_factory=list)
    late_reporter: int | None = None
    late_annual: int | None = None  # year whose annual declarations of late_reporter are missing
    late_monthly: tuple[int, int] | None = None  # (year, month) missing from its monthly files
    threshold_reporter: int | None = None
    _year_shift: dict[int, float] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.countries)

    @property
    def p(self) -> int:
        return len(self.products)

    @classmethod
    def build(cls, cfg: WorldConfig) -> World:
        all_countries = _countries()
        if cfg.reporters > len(all_countries):
            raise ValueError(f"at most {len(all_countries)} reporters (countries CEPII knows)")
        countries = all_countries.head(cfg.reporters).reset_index(drop=True)
        order = _product_order(cfg.seed)
        if cfg.products > len(order):
            raise ValueError(f"at most {len(order)} HS 2022 six-digit products")
        products = order.head(cfg.products).reset_index(drop=True)
        n, p = len(countries), len(products)
        iso = countries.iso3.tolist()
        cepii = pd.read_csv(CEPII_CSV, usecols=["exporter", "importer", "contig", "dist"])
        cepii = cepii[cepii.exporter.isin(iso) & cepii.importer.isin(iso)]
        pos = {c: i for i, c in enumerate(iso)}
        distance = np.full((n, n), 5000.0)
        contiguous = np.zeros((n, n))
        ei = cepii.exporter.map(pos).to_numpy()
        ii = cepii.importer.map(pos).to_numpy()
        distance[ei, ii] = np.maximum(cepii.dist.to_numpy(dtype=float), 10.0)
        contiguous[ei, ii] = cepii.contig.to_numpy(dtype=float)
        log_margin = MARGIN_A + MARGIN_B * np.log(distance) + MARGIN_C * contiguous
        mass = 1.0 / (np.arange(n) + 1.0) ** 1.1
        gravity = np.outer(mass, mass) / distance**0.8
        np.fill_diagonal(gravity, 0.0)
        gravity /= gravity.max()
        with np.errstate(divide="ignore"):
            activity = np.minimum(3.0, 2.5 * gravity**0.4)
            value_scale = BASE_VALUE_USD * gravity**0.6
        # product attributes, each from its own stream so they do not change with P
        pop, scale, uv, q = (np.empty(p) for _ in range(4))
        for k, code in enumerate(products.hs6):
            r = np.random.default_rng([cfg.seed, 6, int(code)])
            pop[k] = r.beta(1.5, 3.0)
            scale[k] = (1.0 + r.pareto(1.3)) * 0.5
            uv[k] = float(np.exp(r.normal(np.log(3.0), 1.3)))
            q[k] = r.beta(4.0, 2.0)
        chapter = products.hs6.str[:2].to_numpy()
        chapter_shift = {
            ch: float(np.random.default_rng([cfg.seed, 13, int(ch)]).normal(0.0, 1.0))
            for ch in sorted(set(chapter))
        }
        product_margin_shift = cfg.margin_chapter_sigma * np.array(
            [chapter_shift[ch] for ch in chapter]
        )
        neighbour, neighbour_other = _neighbours(products)
        tol = _tolerances()
        tolerance = np.array([tol.get(h[:2], 10.0) for h in products.hs6])
        world = cls(
            cfg=cfg,
            countries=countries,
            products=products,
            nes_areas=_nes_areas(),
            distance=distance,
            contiguous=contiguous,
            log_margin=log_margin,
            product_margin_shift=product_margin_shift,
            activity=activity,
            value_scale=value_scale,
            popularity=pop,
            product_scale=scale,
            unit_value=uv,
            month_share=q,
            neighbour=neighbour,
            neighbour_other=neighbour_other,
            tolerance=tolerance,
            unreliable=np.zeros(n, dtype=bool),
            valuation=np.full(n, "cif", dtype=object),
        )
        world._choose_roles()
        return world

    # ---- roles -----------------------------------------------------------------------

    def _choose_roles(self) -> None:
        """Who does what, from the seed: silent and noisy reporters first (exclusive roles,
        never an entrepot), then corridors and re-exports among the others, then valuations."""
        cfg, n = self.cfg, self.n
        rng = np.random.default_rng([cfg.seed, 7, n, self.p])
        iso = self.countries.iso3.tolist()
        pos = {c: x for x, c in enumerate(iso)}
        entrepots = [pos[c] for c in ENTREPOTS if c in pos]
        taken: set[int] = set()

        def pick(candidates: Iterable[int], k: int) -> list[int]:
            free = [c for c in candidates if c not in taken and c not in entrepots]
            k = min(k, len(free))
            if k <= 0:
                return []
            chosen = sorted(int(x) for x in rng.choice(free, size=k, replace=False))
            taken.update(chosen)
            return chosen

        if n >= 8:
            want = cfg.non_reporting if cfg.non_reporting is not None else (1 if n < 25 else 2)
            self.non_reporting = pick(range(n // 2, n), want)
            if cfg.late_release:
                late = pick(range(2, n), 1)
                self.late_reporter = late[0] if late else None
            if cfg.threshold_reporter:  # a small reporter: it has small declarations to omit
                thr = pick(range(n // 2, n), 1)
                self.threshold_reporter = thr[0] if thr else None
        if self.late_reporter is not None:
            years = sorted(cfg.years)
            if cfg.annual and len(years) >= 2:
                self.late_annual = int(years[int(rng.integers(0, len(years)))])
            months = cfg.month_list
            if cfg.monthly and len(years) * len(months) >= 2:
                self.late_monthly = (
                    int(years[int(rng.integers(0, len(years)))]),
                    int(months[int(rng.integers(0, len(months)))]),
                )
        if n >= 5:
            k = max(1, round(cfg.unreliable_share * n))
            self.unreliable[pick(range(3, n), k)] = True
        self._choose_corridors(rng, taken)
        self._choose_reexports(rng, taken, entrepots)
        fob_first = [pos[c] for c in FOB_IMPORTERS if c in pos]
        no_valuation = set(self.non_reporting) | set(np.flatnonzero(self.unreliable).tolist())
        fob = [c for c in fob_first if c not in no_valuation][: cfg.fob_importers]
        rest = [c for c in range(n) if c not in no_valuation and c not in fob]
        extra = max(0, cfg.fob_importers - len(fob))
        if extra and rest:
            fob += [int(x) for x in rng.choice(rest, size=min(extra, len(rest)), replace=False)]
        rest = [c for c in rest if c not in fob]
        both = cfg.cif_and_fob_importers
        both_ids = (
            [int(x) for x in rng.choice(rest, size=min(both, len(rest)), replace=False)]
            if both and rest and n >= 4
            else []
        )
        if n >= 4:
            self.valuation[fob] = "fob"
            self.valuation[both_ids] = "cif_and_fob"

    def _choose_corridors(self, rng: np.random.Generator, taken: set[int]) -> None:
        cfg, n = self.cfg, self.n
        want = cfg.corridors if cfg.corridors is not None else max(1, n // 15)
        used: set[int] = set(taken)
        prefixes = list(dict.fromkeys(self.products.heading))
        rng.shuffle(prefixes)
        consignment_first = bool(rng.random() < cfg.corridor_consignment)
        iso = self.countries.iso3

        def near(hub: int) -> list[int]:
            """Free countries within the corridor radius of a hub (where transit goods go)."""
            return [
                x
                for x in range(n)
                if x != hub and x not in used and self.distance[hub, x] <= cfg.corridor_radius_km
            ]

        for c in range(want if n >= 6 else 0):
            # a hub is a port country with at least two free countries within reach: one of
            # the 10 largest traders when one qualifies
            hubs = [h for h in range(n) if h not in used and len(near(h)) >= 2]
            hubs = [h for h in hubs if h < 10] or hubs
            if not hubs or not prefixes:
                break
            hub = int(rng.choice(hubs))
            others = [x for x in range(n) if x != hub and x not in used]
            pool = near(hub)  # any of them, not only the nearest
            count = min(int(rng.integers(2, 4)), len(pool))
            dests = sorted(int(x) for x in rng.choice(pool, size=count, replace=False))
            rest = [x for x in others if x not in dests]
            if not rest:
                break
            origin = int(rng.choice(rest[: max(3, len(rest) // 2)]))
            prefix = prefixes.pop()
            # alternate consignment rows / values only, so two corridors show both patterns
            consignment = consignment_first if c % 2 == 0 else not consignment_first
            if cfg.corridor_consignment in (0.0, 1.0):
                consignment = cfg.corridor_consignment == 1.0
            hub_imports = bool(rng.random() < cfg.corridor_hub_imports)
            cid = f"syn-{iso[origin].lower()}-{iso[hub].lower()}-{prefix}-{c + 1}"
            self.corridors.append(
                Corridor(cid, origin, hub, dests, prefix, consignment, hub_imports)
            )
            used |= {origin, hub, *dests}

    def _choose_reexports(
        self, rng: np.random.Generator, taken: set[int], entrepots: list[int]
    ) -> None:
        cfg, n = self.cfg, self.n
        hubs = [h for h in entrepots if h not in taken]
        want = cfg.reexports if cfg.reexports is not None else max(1, n // 8)
        if not hubs or n < 4:
            return
        corridor_products = {
            k for c in self.corridors for k in self.products_with_prefix(c.hs_prefix).tolist()
        }
        free_products = [k for k in range(self.p) if k not in corridor_products]
        free_products = [int(k) for k in rng.permutation(free_products)]
        iso = self.countries.iso3
        start = int(rng.integers(0, len(hubs)))
        for r in range(want):
            if not free_products:
                break
            hub = hubs[(start + r) % len(hubs)]
            others = [x for x in range(n) if x != hub and x not in taken]
            if len(others) < 2:
                break
            origin = int(rng.choice(others))
            near = sorted(
                (x for x in others if x != origin), key=lambda x: (self.distance[hub, x], x)
            )
            destination = int(rng.choice(near[: max(3, len(near) // 3)]))
            k = free_products.pop()
            share = float(rng.uniform(*cfg.reexport_share))
            rid = f"rx-{iso[origin].lower()}-{iso[hub].lower()}-{iso[destination].lower()}-{r + 1}"
            self.reexports.append(ReExport(rid, origin, hub, destination, k, round(share, 4)))

    # ---- derived ---------------------------------------------------------------------

    def products_with_prefix(self, prefix: str) -> np.ndarray:
        return np.flatnonzero(self.products.hs6.str.startswith(prefix).to_numpy())

    def year_shift(self, year: int) -> float:
        """The margin law's intercept shift of a year (log points): freight-cost years high."""
        if year not in self._year_shift:
            r = np.random.default_rng([self.cfg.seed, 12, year])
            if year in self.cfg.freight_years:
                shift = float(r.uniform(*self.cfg.freight_shift))
            else:
                shift = float(r.normal(0.0, self.cfg.margin_year_sigma))
            self._year_shift[year] = shift
        return self._year_shift[year]

    def margin_of(self, exporter: Any, importer: Any, product: Any, year: int) -> np.ndarray:
        """True CIF/FOB margin of flows (country indices; NES_MARGIN where one is not)."""
        e, i, k = np.broadcast_arrays(
            np.asarray(exporter, dtype=np.int64),
            np.asarray(importer, dtype=np.int64),
            np.asarray(product, dtype=np.int64),
        )
        countries = (e >= 0) & (e < self.n) & (i >= 0) & (i < self.n)
        base = self.log_margin[np.clip(e, 0, self.n - 1), np.clip(i, 0, self.n - 1)]
        m = np.exp(base + self.year_shift(year) + self.product_margin_shift[k]) - 1
        return np.where(countries, m, NES_MARGIN)

    @property
    def fob_reporter(self) -> np.ndarray:
        return self.valuation == "fob"

    def silent(self, year: int) -> np.ndarray:
        """Countries some of whose declarations of ``year`` are missing (bool per country)."""
        out = np.zeros(self.n, dtype=bool)
        out[self.non_reporting] = True
        if self.threshold_reporter is not None:
            out[self.threshold_reporter] = True
        late_years = {self.late_annual, self.late_monthly[0] if self.late_monthly else None}
        if self.late_reporter is not None and year in late_years:
            out[self.late_reporter] = True
        return out

    def silence_reason(
        self, reporter: np.ndarray, freq: str, year: int, month: np.ndarray, value: np.ndarray
    ) -> np.ndarray:
        """Why a declaration is not delivered ('' = it is): the kind it plants."""
        out = np.full(len(reporter), "", dtype=object)
        if self.threshold_reporter is not None:
            small = (reporter == self.threshold_reporter) & (value < self.cfg.threshold(freq))
            out[small] = "reporting_threshold"
        if self.late_reporter is not None:
            late = reporter == self.late_reporter
            if freq == "A" and self.late_annual == year:
                out[late] = "partner_not_reported"
            if freq == "M" and self.late_monthly is not None and self.late_monthly[0] == year:
                out[late & (month == self.late_monthly[1])] = "partner_not_reported"
        out[np.isin(reporter, self.non_reporting)] = "non_reporting"
        return out

    def reexport_flow(self, r: int, year: int) -> tuple[np.ndarray, np.ndarray]:
        """(origin -> hub true monthly value, the part re-exported to the destination):
        from its own stream, so the origin's and the hub's chunks agree."""
        rx = self.reexports[r]
        g = np.random.default_rng([self.cfg.seed, 14, r, year])
        annual = float(np.exp(g.normal(np.log(8e6), 0.5)))
        shares = g.gamma(2.0, 1.0, 12)
        true = annual * shares / shares.sum()
        return true, true * rx.share

    # ---- sizing ----------------------------------------------------------------------

    def expected_rows_per_year(self) -> float:
        """Expected declaration rows of one full year (both sides, the configured freqs)."""
        q = self.month_share
        months = 12 * q + (1 - q) ** 12
        per_cell = np.zeros_like(q)
        if self.cfg.annual:
            per_cell += 2.0
        if self.cfg.monthly:
            per_cell += 2.0 * months
        if self.cfg.months is not None:
            per_cell = 2.0 * months * len(self.cfg.months) / 12
        total = 0.0
        for i in range(self.n):
            prob = np.minimum(1.0, self.activity[i][:, None] * self.popularity[None, :])
            prob[i] = 0.0
            total += float((prob * per_cell[None, :]).sum())
        return total


def _neighbours(products: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per product: the adjacent product of the same heading (the next code, else the
    previous), and the nearest product (in world order) of another heading of its chapter."""
    p = len(products)
    heading = products.heading.to_numpy()
    chapter = products.hs6.str[:2].to_numpy()
    neighbour = np.full(p, -1)
    neighbour_other = np.full(p, -1)
    by_chapter: dict[str, list[int]] = {}
    for k in range(p):
        by_chapter.setdefault(chapter[k], []).append(k)
    for k in range(p):
        same = [x for x in (k + 1, k - 1) if 0 <= x < p and heading[x] == heading[k]]
        if same:
            neighbour[k] = same[0]
        other = [x for x in by_chapter[chapter[k]] if heading[x] != heading[k]]
        if other:
            neighbour_other[k] = min(other, key=lambda x: (abs(x - k), x))
    return neighbour, neighbour_other


def size_for_target(
    target: int, *, reporters: int | None, years: int, freq: str, seed: int
) -> tuple[int, int]:
    """(reporters, products) whose expected declaration count is close to ``target``."""
    n_max = len(_countries())
    n = reporters or min(n_max, max(10, round(40 * (target / 1e6) ** 0.35)))
    p_max = len(_product_order(seed))
    while True:
        probe_cfg = WorldConfig(reporters=n, products=min(400, p_max), freq=freq, seed=seed)
        probe = World.build(probe_cfg)
        per_product = probe.expected_rows_per_year() * years / probe.p
        products = max(1, round(target / per_product))
        if products <= p_max or reporters or n >= n_max:
            break
        n = min(n_max, int(n * 1.3) + 1)
    # products differ: refine on the actual prefix of the product order (twice is enough)
    for _ in range(2):
        products = min(products, p_max)
        cfg = WorldConfig(reporters=n, products=products, freq=freq, seed=seed)
        expected = World.build(cfg).expected_rows_per_year() * years
        products = max(1, round(products * target / expected))
    return n, min(products, p_max)


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


class _Files:
    """Open landing files of one year, created lazily, deterministic bytes (gzip mtime 0)."""

    def __init__(self, folder: Path, gz: bool) -> None:
        self.folder, self.gz = folder, gz
        self.handles: dict[str, IO[str]] = {}
        self.rows: dict[str, int] = {}
        self.header = ",".join(COLUMNS) + "\n"

    def write(self, name: str, lines: list[str]) -> None:
        if not lines:
            return
        fh = self.handles.get(name)
        if fh is None:
            path = self.folder / (name + (".csv.gz" if self.gz else ".csv"))
            if self.gz:
                raw = gzip.GzipFile(
                    filename="", mode="wb", fileobj=path.open("wb"), mtime=0, compresslevel=4
                )
                fh = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            else:
                fh = path.open("w", encoding="utf-8", newline="", buffering=1 << 20)
            fh.write(self.header)
            self.handles[name] = fh
            self.rows[name] = 0
        fh.write("".join(lines))
        self.rows[name] += len(lines)

    def close(self) -> dict[str, int]:
        for fh in self.handles.values():
            raw = getattr(fh, "buffer", None)
            fh.close()
            if isinstance(raw, gzip.GzipFile) and raw.fileobj is not None:
                raw.fileobj.close()
        done = {n + (".csv.gz" if self.gz else ".csv"): r for n, r in self.rows.items()}
        self.handles, self.rows = {}, {}
        return done


FLOW_SEGMENTS = {"X": "X,Export,", "M": "M,Import,", "RX": "RX,Re-export,"}


class _Formatter:
    """Pre-built text segments of the 47 columns; only the numbers are formatted per row.

    Area indices: 0..n-1 the world's countries, n.. the non-country partners of NES_CODES."""

    def __init__(self, world: World) -> None:
        c, a = world.countries, world.nes_areas
        self.area = [
            f"{code},{iso},{_csv_field(name)},"
            for code, iso, name in [
                *zip(c.comtrade_code, c.iso3, c.country_name, strict=True),
                *zip(a.comtrade_code, a.iso3, a.country_name, strict=True),
            ]
        ]
        self.iso = [*c.iso3.tolist(), *a.iso3.tolist()]
        self.valuation = world.valuation.tolist()
        self.cmd = [
            f"H6,HS,True,{code},{_csv_field(desc)},6,True,C00,TOTAL CPC,0,0,TOTAL MOT,8,kg,"
            for code, desc in zip(world.products.hs6, world.products.desc, strict=True)
        ]

    @staticmethod
    def period(freq: str, year: int, month: int) -> str:
        if freq == "A":
            return f"C,A,{year}0101,{year},52,{year},"
        return f"C,M,{year}{month:02d}01,{year},{month},{year}{month:02d},"

    def lines(
        self,
        freq: str,
        year: int,
        flow: str,
        reporter: np.ndarray,
        partner: np.ndarray,
        p2: np.ndarray,
        product: np.ndarray,
        month: np.ndarray,
        value: np.ndarray,
        weight: np.ndarray,
        fob: np.ndarray | None = None,
    ) -> list[str]:
        """Comtrade rows. Exports and re-exports: fobvalue = primaryValue. Imports by the
        reporter's valuation: cif (cifvalue = primaryValue), fob (fobvalue = primaryValue,
        cifvalue empty) or cif_and_fob (cifvalue = primaryValue, fobvalue = ``fob``)."""
        flow_seg = FLOW_SEGMENTS[flow]
        periods = {m: self.period(freq, year, m) for m in range(13)}
        area, cmd = self.area, self.cmd
        tail = "{w:.3f},False,-1,N/A,,False,{w:.3f},False,,False,{c},{f},{v},0,True,False\n"
        fobs = fob.tolist() if fob is not None else [float("nan")] * len(value)
        out = []
        for r, pa, q2, k, m, v, w, fv in zip(
            reporter.tolist(),
            partner.tolist(),
            p2.tolist(),
            product.tolist(),
            month.tolist(),
            value.tolist(),
            weight.tolist(),
            fobs,
            strict=True,
        ):
            vs = f"{v:.2f}"
            if flow != "M" or self.valuation[r] == "fob":
                c, f = "", vs
            elif self.valuation[r] == "cif_and_fob":
                c, f = vs, f"{fv:.2f}"
            else:
                c, f = vs, ""
            out.append(
                periods[m]
                + area[r]
                + flow_seg
                + area[pa]
                + (WORLD_P2 if q2 < 0 else area[q2])
                + cmd[k]
                + tail.format(w=w, v=vs, c=c, f=f)
            )
        return out


# --------------------------------------------------------------------------------------
# One chunk: exporter i, year y
# --------------------------------------------------------------------------------------

# kinds drawn per cell, in the order of their rates
CELL_KINDS = ("misclassification", "unit_error", "confidential", "nes_partner", "timing_lag")
EXPECTED = {
    "transit": "explained_transit",
    "re_export": "re_export",
    "timing_lag": "explained_timing",
    "misclassification": "explained_classification",
    "unit_error": "likely_unit_error_x1000",
    "confidential": "explained_unallocated",
    "nes_partner": "explained_unallocated",
    "nes_area": "unallocated",
    "revision": "latest_release_wins",
    "unreliable_reporter": "breach",
    "partner_not_reported": "partner_not_reported",
    "non_reporting": "non_reporting_partner",
    "reporting_threshold": "below_threshold",
}
PLANT_COLUMNS = ("kind", "variant", "detail", "side", "exporter", "importer", "product", "month",
                 "share")  # fmt: skip
X_COLUMNS = ("partner", "product", "month", "value", "weight")
M_COLUMNS = ("reporter", "partner", "product", "month", "value", "weight")


@dataclass
class _Decl:
    """The declarations of one chunk at one frequency."""

    x: pd.DataFrame  # partner, product, month, value, weight (reporter = exporter)
    m: pd.DataFrame  # reporter, partner, p2, product, month, value, weight, fob
    rx: pd.DataFrame  # re-exports: partner, product, month, value, weight


@dataclass
class _Chunk:
    x: pd.DataFrame
    m: pd.DataFrame
    rx: pd.DataFrame
    truth: pd.DataFrame  # importer, product, month, true value, true weight
    plants: pd.DataFrame  # PLANT_COLUMNS


def _long(arrays: list[tuple[np.ndarray, ...]], columns: tuple[str, ...]) -> pd.DataFrame:
    if not arrays:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns}).astype(
            {c: "int64" for c in columns[:-2]}
        )
    cols = [np.concatenate([a[n] for a in arrays]) for n in range(len(columns))]
    return pd.DataFrame(dict(zip(columns, cols, strict=True)))


def _chunk(w: World, i: int, year: int, nes_used: set[tuple[Any, ...]]) -> _Chunk:
    cfg = w.cfg
    rng = np.random.default_rng([cfg.seed, int(w.countries.comtrade_code[i]), year])
    n, p = w.n, w.p
    hs6 = w.products.hs6.to_numpy()
    iso = w.countries.iso3.to_numpy()
    partners = np.delete(np.arange(n), i)
    row_of = np.full(n, -1)
    row_of[partners] = np.arange(n - 1)
    prob = np.minimum(1.0, w.activity[i, partners][:, None] * w.popularity[None, :])
    active = rng.random(prob.shape) < prob

    # cells no distortion may touch: [importer, product]
    silent = w.silent(year)
    blocked = np.zeros((n, p), dtype=bool)
    blocked[w.unreliable | silent] = True
    if w.unreliable[i] or silent[i]:
        blocked[:] = True
    corridor_cell = np.zeros_like(active)
    pure_hub = np.zeros_like(active)
    corridor_of: dict[int, Corridor] = {}
    my_corridors = [c for c in w.corridors if c.origin == i]
    for cor in my_corridors:
        ks = w.products_with_prefix(cor.hs_prefix)
        for member in cor.destinations:
            corridor_cell[row_of[member], ks] = True
            corridor_of[member] = cor
        if cor.hub_imports:
            corridor_cell[row_of[cor.hub], ks] = True
        else:
            pure_hub[row_of[cor.hub], ks] = True
        corridor_of[cor.hub] = cor
        blocked[np.ix_([cor.hub, *cor.destinations], ks)] = True
    rx_cell = np.zeros_like(active)
    rx_of: dict[tuple[int, int], int] = {}
    for r, rx in enumerate(w.reexports):
        if rx.origin == i:
            rx_cell[row_of[rx.hub], rx.product] = True
            rx_of[(rx.hub, rx.product)] = r
            blocked[[rx.hub, rx.destination], rx.product] = True
        if rx.hub == i:
            blocked[rx.destination, rx.product] = True
    active = (active | corridor_cell | rx_cell) & ~pure_hub
    cj_loc, ck = np.nonzero(active)
    cj = partners[cj_loc]
    cells = len(cj)
    is_corr = corridor_cell[cj_loc, ck]
    is_rx = rx_cell[cj_loc, ck]

    value = w.value_scale[i, cj] * w.product_scale[ck] * np.exp(rng.normal(0.0, 1.2, cells))
    value = np.where(is_corr, value * 20 + 5e6, np.maximum(value, 2000.0))
    mask = rng.random((cells, 12)) < w.month_share[ck][:, None]
    mask[is_corr | is_rx] = True
    none = ~mask.any(axis=1)
    mask[np.flatnonzero(none), rng.integers(0, 12, none.sum())] = True
    shares = rng.gamma(2.0, 1.0, (cells, 12)) * mask
    true = value[:, None] * shares / shares.sum(axis=1, keepdims=True)
    true = np.where(mask, np.maximum(true, MIN_MONTH_VALUE_USD), 0.0)
    for c in np.flatnonzero(is_rx):  # the hub's imports include what it re-exports
        true[c] = w.reexport_flow(rx_of[(int(cj[c]), int(ck[c]))], year)[0]
    true_w = true / w.unit_value[ck][:, None]

    margin = w.margin_of(i, cj, ck, year)[:, None]
    declared_margin = np.where(w.fob_reporter[cj][:, None], 0.0, margin)
    x = true * (1 + rng.uniform(-0.02, 0.02, (cells, 12)))
    mv = true * (1 + declared_margin) * (1 + rng.uniform(-0.02, 0.02, (cells, 12)))
    xw = true_w * (1 + rng.uniform(-0.02, 0.02, (cells, 12)))
    mw = true_w * (1 + rng.uniform(-0.02, 0.02, (cells, 12)))
    noise_x = np.exp(rng.normal(0.0, cfg.unreliable_sigma, (cells, 12)))
    noise_m = np.exp(rng.normal(0.0, cfg.unreliable_sigma, (cells, 12)))
    if w.unreliable[i]:
        x *= noise_x
    mv = np.where(w.unreliable[cj][:, None], mv * noise_m, mv)

    # ---- plants (at most one per cell) -------------------------------------------------
    draw = rng.random(cells)
    side_draw = rng.random(cells) < 0.5  # True: exporter side
    share = rng.uniform(0.3, 0.9, cells)
    whole_draw = rng.random(cells)
    variant_draw = rng.random(cells)
    nes_pick = rng.random(cells)
    lag_share = rng.uniform(0.4, 0.8, cells)
    lag_pick = rng.random(cells)
    none_kind = len(CELL_KINDS)
    rates = [
        cfg.rate_misclassification,
        cfg.rate_unit_error,
        cfg.rate_confidential,
        cfg.rate_nes_partner,
        cfg.rate_timing_lag if cfg.monthly else 0.0,
    ]
    kind = np.searchsorted(np.cumsum(rates), draw, side="right")
    kind[blocked[cj, ck]] = none_kind
    no_neighbour = (w.neighbour[ck] < 0) & (w.neighbour_other[ck] < 0)
    kind[(kind == 0) & no_neighbour] = none_kind
    claimed = set(zip(cj[kind < none_kind].tolist(), ck[kind < none_kind].tolist(), strict=True))

    x_partner = cj.copy()
    extra_x: list[tuple[np.ndarray, ...]] = []  # X_COLUMNS
    extra_m: list[tuple[np.ndarray, ...]] = []  # M_COLUMNS
    rx_rows: list[tuple[np.ndarray, ...]] = []  # X_COLUMNS
    extra_truth: list[tuple[np.ndarray, ...]] = []  # importer, product, month, value, weight
    plants: list[tuple[Any, ...]] = []  # PLANT_COLUMNS

    def mark(
        kind_name: str,
        variant: str,
        detail: str,
        side: str,
        exporter: int,
        importer: int,
        k: int,
        months: Iterable[int],
        sh: float = float("nan"),
        annual: bool = True,
    ) -> None:
        for mo in months:
            plants.append((kind_name, variant, detail, side, exporter, importer, k, int(mo), sh))
        if annual and cfg.annual:
            plants.append((kind_name, variant, detail, side, exporter, importer, k, 0, sh))

    def full(v: int, months: np.ndarray) -> np.ndarray:
        return np.full(len(months), v)

    area_index = {int(code): n + a for a, code in enumerate(w.nes_areas.comtrade_code)}
    area_iso = dict(zip(area_index.values(), w.nes_areas.iso3, strict=True))

    def nes_code(partner: int, pick: float) -> int:
        """Special categories, bunkers, free zones, or the true partner's regional nes (899
        when its region has none)."""
        options = [839, 837, 838]
        regional = [c for c, members in REGIONAL_NES.items() if iso[partner] in members]
        options.append(regional[0] if regional else NES_CONFIDENTIAL)
        return options[min(int(pick * len(options)), len(options) - 1)]

    for c in np.flatnonzero(kind < none_kind):
        months = np.flatnonzero(mask[c]) + 1
        j, k = int(cj[c]), int(ck[c])
        name = CELL_KINDS[kind[c]]
        if name == "misclassification":
            want_other = variant_draw[c] < cfg.misclassification_other_heading
            k_same, k_other = int(w.neighbour[k]), int(w.neighbour_other[k])
            k2 = k_other if (want_other and k_other >= 0) or k_same < 0 else k_same
            if blocked[j, k2] or (j, k2) in claimed:
                continue
            claimed.add((j, k2))
            where = "other_heading" if k2 == k_other else "same_heading"
            sh = 1.0 if whole_draw[c] < cfg.misclassification_whole else float(share[c])
            variant = f"{where} {'whole' if sh == 1.0 else 'share'}"
            side = "X" if side_draw[c] else "M"
            mo = months - 1
            if side == "X":
                extra_x.append((full(j, months), full(k2, months), months,
                                x[c, mo] * sh, xw[c, mo] * sh))  # fmt: skip
                x[c] *= 1 - sh
                xw[c] *= 1 - sh
            else:
                extra_m.append((full(j, months), full(i, months), full(k2, months), months,
                                mv[c, mo] * sh, mw[c, mo] * sh))  # fmt: skip
                mv[c] *= 1 - sh
                mw[c] *= 1 - sh
            mark(name, variant, f"to {hs6[k2]}", side, i, j, k, months, sh)
            mark(name, variant, f"from {hs6[k]}", side, i, j, k2, months, sh)
        elif name == "unit_error":
            side = "X" if side_draw[c] else "M"
            if side == "X":
                xw[c] /= 1000.0
            else:
                mw[c] /= 1000.0
            mark(name, "net weight in tonnes", "", side, i, j, k, months)
        elif name in ("confidential", "nes_partner"):
            whole = name == "confidential" or whole_draw[c] < cfg.nes_partner_whole
            sides = ("X", "M") if side_draw[c] else ("M", "X")
            chosen: tuple[str, int] | None = None
            for side in sides:
                code = (
                    NES_CONFIDENTIAL
                    if name == "confidential"
                    else nes_code(j if side == "X" else i, float(nes_pick[c]))
                )
                a = area_index[code]
                reporter = i if side == "X" else j
                if (side, reporter, a, k, year) not in nes_used:
                    nes_used.add((side, reporter, a, k, year))
                    chosen = (side, code)
                    break
            if chosen is None:
                continue
            side, code = chosen
            a = area_index[code]
            # 899 with the whole cell is the `confidential` kind: a nes_partner moving the
            # whole cell to 899 would be the same thing, so it moves a share
            sh = 1.0 if whole and (name == "confidential" or code != NES_CONFIDENTIAL) else None
            sh = float(share[c]) if sh is None else sh
            variant = f"{code} {'whole' if sh == 1.0 else 'share'}"
            mo = months - 1
            if side == "X":
                extra_x.append((full(a, months), full(k, months), months,
                                x[c, mo] * sh, xw[c, mo] * sh))  # fmt: skip
                x[c] *= 1 - sh
                xw[c] *= 1 - sh
                mark(name, variant, area_iso[a], "X", i, j, k, months, sh)
                mark("nes_area", variant, str(iso[j]), "X", i, a, k, months, sh)
            else:
                extra_m.append((full(j, months), full(a, months), full(k, months), months,
                                mv[c, mo] * sh, mw[c, mo] * sh))  # fmt: skip
                mv[c] *= 1 - sh
                mw[c] *= 1 - sh
                mark(name, variant, area_iso[a], "M", i, j, k, months, sh)
                mark("nes_area", variant, str(iso[i]), "M", a, j, k, months, sh)
        elif name == "timing_lag":
            options = np.flatnonzero(mask[c, :11])
            if not len(options):
                continue
            t = int(options[int(lag_pick[c] * len(options))])
            moved, moved_w = mv[c, t] * lag_share[c], mw[c, t] * lag_share[c]
            mv[c, t] -= moved
            mv[c, t + 1] += moved
            mw[c, t] -= moved_w
            mw[c, t + 1] += moved_w
            # the importer declares the late part in t + 1 even if nothing else of the cell
            # moved that month (without this the value vanished: only masked months are
            # written, and the pipeline was scored on goods nobody declared)
            mask[c, t + 1] = True
            mark(name, "month t+1", "", "M", i, j, k, (t + 1, t + 2), float(lag_share[c]),
                 annual=False)  # fmt: skip

    # transit: the origin declares the destinations' goods to the hub
    for c in np.flatnonzero(is_corr):
        cor = corridor_of[int(cj[c])]
        if int(cj[c]) != cor.hub:
            x_partner[c] = cor.hub
    for cor in my_corridors:
        for member in (cor.hub, *cor.destinations):
            variant = "origin->hub" if member == cor.hub else "origin->destination"
            for k in w.products_with_prefix(cor.hs_prefix).tolist():
                mark("transit", variant, cor.corridor_id, "X", i, member, k, range(1, 13))

    # re-exports: the destination declares the origin; the hub declares RX and includes it in X
    all_months = np.arange(1, 13)
    for r, rx in enumerate(w.reexports):
        if i not in (rx.origin, rx.hub):
            continue
        _true, re_exported = w.reexport_flow(r, year)
        k, dest = rx.product, rx.destination
        weight = re_exported / w.unit_value[k]
        if rx.origin == i:
            dm = 0.0 if w.fob_reporter[dest] else float(w.margin_of(rx.hub, dest, k, year))
            val = re_exported * (1 + dm) * (1 + rng.uniform(-0.02, 0.02, 12))
            wt = weight * (1 + rng.uniform(-0.02, 0.02, 12))
            extra_m.append((full(dest, all_months), full(i, all_months), full(k, all_months),
                            all_months, val, wt))  # fmt: skip
            mark("re_export", "origin->destination", rx.reexport_id, "M", i, dest, k,
                 all_months, rx.share)  # fmt: skip
        if rx.hub == i:
            val = re_exported * (1 + rng.uniform(-0.02, 0.02, 12))
            wt = weight * (1 + rng.uniform(-0.02, 0.02, 12))
            row = (full(dest, all_months), full(k, all_months), all_months, val, wt)
            extra_x.append(row)
            rx_rows.append(row)
            extra_truth.append(
                (full(dest, all_months), full(k, all_months), all_months, re_exported, weight)
            )
            mark("re_export", "hub->destination", rx.reexport_id, "X", i, dest, k, all_months,
                 rx.share)  # fmt: skip

    # unreliable reporters: every key they declare (a key a silent partner leaves one-sided
    # is re-planted under the silence's kind by _silence)
    noisy = w.unreliable[cj] | w.unreliable[i]
    for c in np.flatnonzero(noisy):
        months = np.flatnonzero(mask[c]) + 1
        side = "X" if w.unreliable[i] else "M"
        mark("unreliable_reporter", f"sigma {cfg.unreliable_sigma}", "", side, i, int(cj[c]),
             int(ck[c]), months)  # fmt: skip

    # ---- long format -------------------------------------------------------------------
    month_idx = np.tile(np.arange(1, 13), (cells, 1))
    products = np.repeat(ck[:, None], 12, 1)
    xm = (x > 0) & mask
    xdf = _long(
        [(np.repeat(x_partner[:, None], 12, 1)[xm], products[xm], month_idx[xm], x[xm], xw[xm]),
         *extra_x],
        X_COLUMNS,
    )  # fmt: skip
    xdf = xdf.groupby(["partner", "product", "month"], as_index=False, sort=True).sum()
    mm = (mv > 0) & mask
    mdf = _long(
        [(np.repeat(cj[:, None], 12, 1)[mm], np.full(int(mm.sum()), i), products[mm],
          month_idx[mm], mv[mm], mw[mm]), *extra_m],
        M_COLUMNS,
    )  # fmt: skip
    mdf = mdf.groupby(["reporter", "partner", "product", "month"], as_index=False, sort=True).sum()
    rxdf = _long(rx_rows, X_COLUMNS)
    if cfg.months is not None:
        xdf = xdf[xdf.month.isin(cfg.months)]
        mdf = mdf[mdf.month.isin(cfg.months)]
        rxdf = rxdf[rxdf.month.isin(cfg.months)]
    # the FOB value importers report: their CIF value less the true margin (+-0.5 %) for
    # cif_and_fob importers, the declared value itself for FOB importers
    rep = mdf.reporter.to_numpy()
    fob = np.where(
        w.valuation[rep] == "cif_and_fob",
        mdf.value.to_numpy()
        / (1 + w.margin_of(i, rep, mdf["product"].to_numpy(), year))
        * (1 + rng.uniform(-0.005, 0.005, len(mdf))),
        np.where(w.valuation[rep] == "fob", mdf.value.to_numpy(), np.nan),
    )
    xdf = xdf.assign(value=xdf.value.round(2), weight=xdf.weight.round(3))
    rxdf = rxdf.assign(value=rxdf.value.round(2), weight=rxdf.weight.round(3))
    mdf = mdf.assign(value=mdf.value.round(2), weight=mdf.weight.round(3), fob=np.round(fob, 2))
    mdf = mdf.assign(p2=-1)[["reporter", "partner", "p2", "product", "month", "value", "weight",
                            "fob"]]  # fmt: skip
    tm = mask
    truth = _long(
        [(np.repeat(cj[:, None], 12, 1)[tm], products[tm], month_idx[tm], true[tm],
          true_w[tm]), *extra_truth],
        ("importer", "product", "month", "value", "weight"),
    )  # fmt: skip
    truth = truth.groupby(["importer", "product", "month"], as_index=False, sort=True).sum()
    if cfg.months is not None:
        truth = truth[truth.month.isin(cfg.months)]
    plants_df = pd.DataFrame(plants, columns=list(PLANT_COLUMNS))
    if cfg.months is not None:
        plants_df = plants_df[plants_df.month.isin([0, *cfg.months])]
    return _Chunk(xdf, mdf, rxdf, truth, plants_df)


def _annual(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    sums = [c for c in ("value", "weight", "fob") if c in df.columns]
    a = df.groupby(keys, as_index=False, sort=True)[sums].sum(min_count=1)
    a = a.assign(month=0, value=a.value.round(2), weight=a.weight.round(3))
    if "fob" in a.columns:
        a = a.assign(fob=a.fob.round(2))
    return a


def _silence(
    w: World, decl: dict[str, _Decl], i: int, year: int
) -> tuple[dict[str, _Decl], pd.DataFrame]:
    """Remove the declarations silent reporters do not deliver; the keys they leave planted."""
    plants: list[pd.DataFrame] = []
    out: dict[str, _Decl] = {}
    for f, d in decl.items():
        xr = w.silence_reason(
            np.full(len(d.x), i), f, year, d.x.month.to_numpy(), d.x.value.to_numpy()
        )
        rr = w.silence_reason(
            np.full(len(d.rx), i), f, year, d.rx.month.to_numpy(), d.rx.value.to_numpy()
        )
        mr = w.silence_reason(
            d.m.reporter.to_numpy(), f, year, d.m.month.to_numpy(), d.m.value.to_numpy()
        )
        gone_x = d.x[(xr != "") & (d.x.partner < w.n).to_numpy()]
        gone_m = d.m[(mr != "") & (d.m.partner < w.n).to_numpy() & (d.m.p2 < 0).to_numpy()]
        for gone, reasons, side in (
            (gone_x, xr[(xr != "") & (d.x.partner < w.n).to_numpy()], "X"),
            (gone_m, mr[(mr != "") & (d.m.partner < w.n).to_numpy() & (d.m.p2 < 0).to_numpy()],
             "M"),
        ):  # fmt: skip
            if gone.empty:
                continue
            silent_reporter = i if side == "X" else gone.reporter.to_numpy()
            variant = [
                _silence_variant(w, r, f, year, mo)
                for r, mo in zip(
                    np.broadcast_to(silent_reporter, len(gone)).tolist(),
                    gone.month.tolist(),
                    strict=True,
                )
            ]
            plants.append(
                pd.DataFrame(
                    {
                        "kind": reasons,
                        "variant": variant,
                        "detail": "",
                        "side": side,
                        "exporter": i if side == "X" else gone.partner.to_numpy(),
                        "importer": (gone.partner if side == "X" else gone.reporter).to_numpy(),
                        "product": gone["product"].to_numpy(),
                        "month": gone.month.to_numpy(),
                        "share": np.nan,
                    }
                )
            )
        out[f] = _Decl(d.x[xr == ""], d.m[mr == ""], d.rx[rr == ""])
    frame = (
        pd.concat(plants, ignore_index=True)
        if plants
        else pd.DataFrame(columns=list(PLANT_COLUMNS))
    )
    return out, frame


def _plant_keys(plants: pd.DataFrame) -> pd.Series:
    """(exporter, importer, product, month) of each plant row."""
    return pd.Series(
        list(zip(plants.exporter, plants.importer, plants["product"], plants.month, strict=True)),
        index=plants.index,
        dtype=object,
    )


def _silence_variant(w: World, reporter: int, freq: str, year: int, month: int) -> str:
    if reporter in w.non_reporting:
        return "never reports"
    if reporter == w.late_reporter:
        return f"{freq} {year}" if freq == "A" else f"{freq} {year}{month:02d}"
    return f"below {w.cfg.threshold(freq):,.0f} USD"


# --------------------------------------------------------------------------------------
# The whole world
# --------------------------------------------------------------------------------------


def generate_world(
    cfg: WorldConfig,
    out: Path,
    *,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Write ``out/landing/comtrade/*`` and ``out/ground_truth/*``; return the summary."""
    from tqdm import tqdm

    started = time.monotonic()
    world = World.build(cfg)
    out = Path(out)
    landing = out / "landing" / "comtrade"
    truth_dir = out / "ground_truth"
    for d in (landing, truth_dir):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    parts = truth_dir / "_parts"
    parts.mkdir()
    fmt = _Formatter(world)
    iso = np.array(fmt.iso, dtype=object)  # countries, then non-country areas
    hs6 = world.products.hs6.to_numpy()
    files: dict[str, tuple[str, int]] = {}
    nes_used: set[tuple[Any, ...]] = set()
    counts = {"declarations": 0, "true_flows": 0, "planted_keys": 0}
    rng_rev = np.random.default_rng([cfg.seed, 9])
    if cfg.months is None:
        label_of = str
    else:
        ms = sorted(cfg.months)
        span = f"{ms[0]:02d}" if len(ms) == 1 else f"{ms[0]:02d}-{ms[-1]:02d}"
        label_of = lambda y: f"{y}{span}"  # noqa: E731
    freqs = [f for f in ("A", "M") if f in cfg.freq]
    rev_freq = "M" if cfg.monthly else "A"
    bar = tqdm(total=len(cfg.years) * world.n, desc="generate", unit="chunk", disable=not progress)
    truth_first = plants_first = True
    for year in cfg.years:
        writer = _Files(landing, cfg.gzip)
        label = label_of(year)
        quiet = world.unreliable | world.silent(year)
        for i in range(world.n):
            ch = _chunk(world, i, year, nes_used)
            decl: dict[str, _Decl] = {}
            if cfg.monthly:
                decl["M"] = _Decl(ch.x, ch.m, ch.rx)
            if cfg.annual:
                decl["A"] = _Decl(
                    _annual(ch.x, ["partner", "product"]),
                    _annual(ch.m, ["reporter", "partner", "p2", "product"]),
                    _annual(ch.rx, ["partner", "product"]),
                )
            decl, silent_plants = _silence(world, decl, i, year)
            if len(silent_plants):  # a missing side names the cause, not the noise
                gone = set(_plant_keys(silent_plants))
                superseded = (ch.plants.kind == "unreliable_reporter").to_numpy() & _plant_keys(
                    ch.plants
                ).isin(gone).to_numpy()
                ch.plants = ch.plants[~superseded]
            # consignment breakdown rows of corridor destinations (partner2 = hub)
            for cor in world.corridors:
                if cor.origin != i or not cor.consignment:
                    continue
                in_prefix = pd.Series(hs6).str.startswith(cor.hs_prefix).to_numpy()
                for d in decl.values():
                    mf = d.m
                    sel = mf.reporter.isin(cor.destinations) & in_prefix[mf["product"].to_numpy()]
                    sel &= (mf.partner == i) & (mf.p2 < 0)
                    d.m = pd.concat([mf, mf[sel].assign(p2=cor.hub)], ignore_index=True)
            # revisions: the first release carries a wrong value, a later one the right one
            plants_so_far = pd.concat([ch.plants, silent_plants], ignore_index=True)
            planted_keys = set(
                zip(plants_so_far.importer, plants_so_far["product"], plants_so_far.month,
                    strict=True)
            )  # fmt: skip
            rev_plants: list[pd.DataFrame] = [plants_so_far]
            for f, d in decl.items():
                if f != rev_freq:
                    continue
                for flow in ("X", "M"):
                    df = d.x if flow == "X" else d.m
                    importer = (df.partner if flow == "X" else df.reporter).to_numpy()
                    country = importer < world.n
                    rep_ok = (not quiet[i]) & country & ~quiet[np.where(country, importer, 0)]
                    if flow == "M":
                        rep_ok &= (df.partner == i).to_numpy() & (df.p2 < 0).to_numpy()
                    free = (
                        ~pd.Series(
                            list(zip(importer, df["product"], df.month, strict=True)), dtype=object
                        )
                        .isin(planted_keys)
                        .to_numpy()
                    )
                    pick = rep_ok & free & (rng_rev.random(len(df)) < cfg.rate_revision)
                    factor = np.where(
                        rng_rev.random(len(df)) < 0.5,
                        rng_rev.uniform(1.3, 1.8, len(df)),
                        rng_rev.uniform(0.45, 0.7, len(df)),
                    )
                    right = df[pick]
                    wrong = df.assign(value=np.where(pick, np.round(df.value * factor, 2),
                                                     df.value))  # fmt: skip
                    if flow == "M":
                        wrong = wrong.assign(
                            fob=np.where(pick, np.round(df.fob * factor, 2), df.fob)
                        )
                        d.m = wrong
                    else:
                        d.x = wrong
                    rev_plants.append(
                        pd.DataFrame(
                            {
                                "kind": "revision",
                                "variant": "first release wrong",
                                "detail": cfg.revision_release,
                                "side": flow,
                                "exporter": i,
                                "importer": importer[pick],
                                "product": right["product"].to_numpy(),
                                "month": right.month.to_numpy(),
                                "share": np.nan,
                            }
                        )
                    )
                    if len(right):
                        counts["declarations"] += len(right)
                        reporter = np.full(len(right), i) if flow == "X" else right.reporter
                        p2 = np.full(len(right), -1) if flow == "X" else right.p2
                        writer.write(
                            f"comtrade_final_{f}_revisions_{label}_released-{cfg.revision_release}",
                            fmt.lines(f, year, flow, np.asarray(reporter),
                                      right.partner.to_numpy(), np.asarray(p2),
                                      right["product"].to_numpy(), right.month.to_numpy(),
                                      right.value.to_numpy(), right.weight.to_numpy(),
                                      right.fob.to_numpy() if flow == "M" else None),
                        )  # fmt: skip
            all_plants = pd.concat(rev_plants, ignore_index=True)
            # write declarations
            for f in freqs:
                d = decl[f]
                name = f"comtrade_final_{f}_{iso[i]}_{label}_released-{cfg.release}"
                for flow, df in (("X", d.x), ("RX", d.rx)):
                    writer.write(
                        name,
                        fmt.lines(f, year, flow, np.full(len(df), i), df.partner.to_numpy(),
                                  np.full(len(df), -1), df["product"].to_numpy(),
                                  df.month.to_numpy(), df.value.to_numpy(),
                                  df.weight.to_numpy()),
                    )  # fmt: skip
                counts["declarations"] += len(d.x) + len(d.rx) + len(d.m)
                for j, g in d.m.groupby("reporter", sort=True):
                    writer.write(
                        f"comtrade_final_{f}_{iso[j]}_{label}_released-{cfg.release}",
                        fmt.lines(f, year, "M", g.reporter.to_numpy(), g.partner.to_numpy(),
                                  g.p2.to_numpy(), g["product"].to_numpy(), g.month.to_numpy(),
                                  g.value.to_numpy(), g.weight.to_numpy(), g.fob.to_numpy()),
                    )  # fmt: skip
            # ground truth of the chunk
            truth_rows = []
            if cfg.monthly:
                truth_rows.append(ch.truth.assign(freq="M"))
            if cfg.annual:
                truth_rows.append(_annual(ch.truth, ["importer", "product"]).assign(freq="A"))
            t = pd.concat(truth_rows, ignore_index=True)
            t = _keyed(t, year, i, t.importer.to_numpy(), iso, hs6)
            t["true_value_fob_usd"] = t.value.round(2)
            t["true_net_weight_kg"] = t.weight.round(3)
            t["true_cif_fob_margin"] = world.margin_of(
                i, t.importer.to_numpy(), t["product"].to_numpy(), year
            ).round(6)
            t = t[["freq", "period", "exporter_iso3", "importer_iso3", "hs6",
                   "true_value_fob_usd", "true_net_weight_kg", "true_cif_fob_margin"]]  # fmt: skip
            t.to_csv(parts / "true_flows.csv", mode="a", header=truth_first, index=False)
            truth_first = False
            counts["true_flows"] += len(t)
            pl = _materiality(world, all_plants, decl, i, iso, hs6, year)
            pl.to_csv(parts / "distortions.csv", mode="a", header=plants_first, index=False)
            plants_first = False
            counts["planted_keys"] += len(pl)
            bar.update(1)
        for name, rows in writer.close().items():
            files[name] = ("revision" if "_revisions_" in name else "original", rows)
    bar.close()

    if cfg.duplicate_file and files:
        originals = sorted((n for n, (k, _) in files.items() if k == "original"))
        src = min(originals, key=lambda n: ((landing / n).stat().st_size, n))
        stem, ext = (
            (src[: -len(".csv.gz")], ".csv.gz") if src.endswith(".gz") else (src[:-4], ".csv")
        )
        dup = f"{stem} (1){ext}"
        shutil.copyfile(landing / src, landing / dup)
        files[dup] = (f"duplicate_of:{src}", files[src][1])

    _finish_ground_truth(world, truth_dir, parts, files, counts)
    summary = {
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
        "reporters": world.n,
        "products": world.p,
        "files": len(files),
        **counts,
        "landing": str(out / "landing"),
        "ground_truth": str(truth_dir),
        "margin_year_shift": {str(y): round(world.year_shift(y), 6) for y in cfg.years},
        "seconds": round(time.monotonic() - started, 1),
    }
    (truth_dir / "world.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    log(
        f"generated {counts['declarations']:,} declarations in {len(files)} files "
        f"({world.n} reporters x {world.p} products x {len(cfg.years)} years, {cfg.freq}) "
        f"in {summary['seconds']}s -> {out / 'landing'}; ground truth in {truth_dir}"
    )
    return summary


def _keyed(
    df: pd.DataFrame,
    year: int,
    exporter: Any,
    importer: np.ndarray,
    iso: np.ndarray,
    hs6: np.ndarray,
) -> pd.DataFrame:
    if df.empty:  # an exporter without a flow that year (a tiny world): zfill refuses []
        return df.assign(freq=[], period=[], exporter_iso3=[], importer_iso3=[], hs6=[])
    month = df.month.to_numpy()
    period = np.where(
        month == 0, str(year), np.char.add(str(year), np.char.zfill(month.astype(str), 2))
    )
    exp = iso[exporter] if np.ndim(exporter) else np.full(len(df), iso[exporter], dtype=object)
    return df.assign(
        freq=np.where(month == 0, "A", "M"),
        period=period,
        exporter_iso3=exp,
        importer_iso3=iso[importer],
        hs6=hs6[df["product"].to_numpy()],
    )


DISTORTION_COLUMNS = (
    "kind", "variant", "detail", "side", "expected", "freq", "period", "exporter_iso3",
    "importer_iso3", "hs6", "declared_export_usd", "declared_import_usd", "planted_gap_pct",
    "tolerance_pct", "planted_share", "material",
)  # fmt: skip


def _materiality(
    world: World,
    plants: pd.DataFrame,
    decl: dict[str, _Decl],
    i: int,
    iso: np.ndarray,
    hs6: np.ndarray,
    year: int,
) -> pd.DataFrame:
    """Planted keys with the declared values as written and whether the gap is material."""
    cols = list(DISTORTION_COLUMNS)
    if plants.empty:
        return pd.DataFrame(columns=cols)
    plants = plants.drop_duplicates(
        subset=["kind", "side", "exporter", "importer", "product", "month"]
    ).astype({"exporter": "int64", "importer": "int64", "product": "int64", "month": "int64"})
    xs, ms = [], []
    for d in decl.values():
        xs.append(d.x[["partner", "product", "month", "value"]])
        tot = d.m[d.m.p2 < 0]
        ms.append(tot[["reporter", "partner", "product", "month", "value"]])
    x = pd.concat(xs).rename(columns={"partner": "importer", "value": "x"})
    m = pd.concat(ms).rename(columns={"reporter": "importer", "partner": "exporter", "value": "m"})
    d = plants.merge(
        x.assign(exporter=i), on=["exporter", "importer", "product", "month"], how="left"
    )
    d = d.merge(m, on=["exporter", "importer", "product", "month"], how="left")
    exp_idx = d.exporter.to_numpy()
    imp_idx = d.importer.to_numpy()
    margin = world.margin_of(exp_idx, imp_idx, d["product"].to_numpy(), year)
    fob_importer = (imp_idx < world.n) & world.fob_reporter[np.clip(imp_idx, 0, world.n - 1)]
    mfob = d.m.to_numpy() / (1 + np.where(fob_importer, 0.0, margin))
    xv = d.x.to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = 100 * (mfob - xv) / np.fmax(mfob, xv)
    tol = world.tolerance[d["product"].to_numpy()]
    one_sided = np.isnan(xv) ^ np.isnan(mfob)
    always = d.kind.isin(["unit_error", "revision", "nes_area"]).to_numpy()
    material = always | one_sided | (np.abs(np.nan_to_num(gap)) > tol)
    # a key no side declared (a corridor member silent that period) is not a planted row
    present = ~(np.isnan(xv) & np.isnan(mfob))
    d = _keyed(d, year, exp_idx, imp_idx, iso, hs6)
    d = d.assign(
        expected=d.kind.map(EXPECTED),
        declared_export_usd=xv,
        declared_import_usd=d.m.to_numpy(),
        planted_gap_pct=np.round(gap, 3),
        tolerance_pct=tol,
        planted_share=d.share.astype(float).round(4),
        material=material,
    )
    return d[present][cols]


def _finish_ground_truth(
    world: World,
    truth_dir: Path,
    parts: Path,
    files: dict[str, tuple[str, int]],
    counts: dict[str, int],
) -> None:
    import duckdb

    con = duckdb.connect()
    for name in ("true_flows", "distortions"):
        src = parts / f"{name}.csv"
        if not src.exists():
            continue
        types = (
            "{'freq': 'VARCHAR', 'period': 'VARCHAR', 'hs6': 'VARCHAR', "
            "'exporter_iso3': 'VARCHAR', 'importer_iso3': 'VARCHAR'"
            + (
                ", 'kind': 'VARCHAR', 'variant': 'VARCHAR', 'detail': 'VARCHAR', "
                "'side': 'VARCHAR', 'expected': 'VARCHAR', 'planted_share': 'DOUBLE', "
                "'declared_export_usd': 'DOUBLE', 'declared_import_usd': 'DOUBLE', "
                "'planted_gap_pct': 'DOUBLE', 'tolerance_pct': 'DOUBLE', 'material': 'BOOLEAN'"
                if name == "distortions"
                else ""
            )
            + "}"
        )
        con.execute(
            f"COPY (SELECT * FROM read_csv(?, header = true, types = {types})) "
            f"TO '{truth_dir / (name + '.parquet')}' (FORMAT parquet)",
            [str(src)],
        )
    con.close()
    shutil.rmtree(parts)
    iso = world.countries.iso3
    hs6 = world.products.hs6
    # for scoring only: the pipeline is never given these (no dbt seed format on purpose)
    with (truth_dir / "corridors.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["corridor_id", "origin_iso3", "hub_iso3", "destinations_iso3", "hs_prefix",
                    "consignment_rows", "hub_imports"])  # fmt: skip
        for c in world.corridors:
            w.writerow([c.corridor_id, iso[c.origin], iso[c.hub],
                        " ".join(iso[d] for d in c.destinations), c.hs_prefix,
                        str(c.consignment).lower(), str(c.hub_imports).lower()])  # fmt: skip
    with (truth_dir / "reexports.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["reexport_id", "origin_iso3", "hub_iso3", "destination_iso3", "hs6",
                    "share"])  # fmt: skip
        for r in world.reexports:
            w.writerow([r.reexport_id, iso[r.origin], iso[r.hub], iso[r.destination],
                        hs6[r.product], r.share])  # fmt: skip
    role = np.full(world.n, "", dtype=object)
    role[world.non_reporting] = "non_reporting"
    if world.late_reporter is not None:
        role[world.late_reporter] = "late_release"
    if world.threshold_reporter is not None:
        role[world.threshold_reporter] = "reporting_threshold"
    role[world.unreliable] = "unreliable"
    late = []
    if world.late_annual is not None:
        late.append(f"A {world.late_annual}")
    if world.late_monthly is not None:
        late.append(f"M {world.late_monthly[0]}{world.late_monthly[1]:02d}")
    cfg = world.cfg
    rep = world.countries.assign(
        rank=np.arange(world.n) + 1,
        unreliable=world.unreliable,
        noise_sigma=np.where(world.unreliable, cfg.unreliable_sigma, 0.0),
        role=role,
        missing_periods=np.where(role == "late_release", " ".join(late), ""),
        threshold_usd=np.where(
            role == "reporting_threshold",
            f"A {cfg.threshold_usd_annual:.0f} M {cfg.threshold_usd_monthly:.0f}",
            "",
        ),
        import_valuation=world.valuation,
    )
    rep.to_csv(truth_dir / "reporters.csv", index=False)
    pd.DataFrame(
        [(n, k, r) for n, (k, r) in sorted(files.items())], columns=["file", "kind", "rows"]
    ).to_csv(truth_dir / "files.csv", index=False)
    counts["files"] = len(files)
