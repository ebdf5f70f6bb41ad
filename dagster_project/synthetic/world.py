"""The synthetic world: countries, products, gravity, true flows, declarations, distortions.

Everything is deterministic from ``WorldConfig.seed``: the world set-up (countries, products,
margins, corridors, unreliable reporters) from the seed and the sizes, every exporter x year
chunk from ``(seed, exporter's Comtrade code, year)``. A chunk is generated with numpy, written
(declaration rows to the reporters' files, ground truth to part files) and dropped, so memory
does not grow with reporters x products x years.

Model of one chunk (exporter *i*, year *y*):

* a cell (importer *j*, product *k*) trades with probability
  ``min(1, a_ij * u_k)``: ``a_ij`` from a gravity score (Zipf country masses / distance), ``u_k``
  the product's popularity: a sparse matrix where large pairs trade most products;
* the annual true FOB value is lognormal around ``scale_ij * s_k`` (``s_k`` Pareto): a few pairs
  and products carry most of the value; active months ~ Binomial(12, q_k), shares gamma(2);
* declarations: exporter X = true x (1 + U[-2 %, 2 %]); importer M (CIF) = true x (1 + m_ij) x
  (1 + U[-2 %, 2 %]), with the true margin ``ln(1 + m_ij) = 0.01 + 0.008 ln(distance_km)
  - 0.01 contiguity`` (CEPII ``dist``); weights = value / unit value (+-2 % per side);
  unreliable reporters get lognormal noise (sigma ``unreliable_sigma``) on every value;
* annual rows are the sums of the (rounded) monthly rows, as in Comtrade final data.

Planted distortions (each cell at most one, never on unreliable reporters or corridor cells),
recorded with every mirror key they touch in ``ground_truth/distortions.parquet``:

``transit``             origin declares exports of an HS4 prefix to the hub; the true importers
                        (hub + destinations) declare imports from the origin (destinations also
                        with a consignment breakdown row, partner2 = hub). Seeds written to
                        ``ground_truth/corridors/``. Expected: ``explained_transit``.
``timing_lag``          (monthly) the importer declares 40-80 % of month t in month t+1 (t < 12).
                        Expected: ``explained_timing``.
``misclassification``   the exporter declares 30-70 % of the cell under a neighbouring HS6 of the
                        same heading. Expected: flagged (breach / one-sided).
``unit_error``          one side writes net weight in tonnes (kg / 1000), value unchanged.
                        Expected: ``quantity_flag = likely_unit_error_x1000``.
``confidential``        Comtrade has no confidential flag: one side declares the flow against
                        partner 899 "Areas, nes" (the usual suppression). Expected: the true key
                        flagged (one-sided), the 899 key (``confidential_partner``)
                        ``unallocated``.
``revision``            the first release carries a wrong value (x1.3-1.8 or x0.45-0.7) in one
                        declaration; a later ``released-`` file re-delivers the right one.
                        Expected: the later release wins (not flagged, ``is_revised``).
``unreliable_reporter`` every declaration of a few reporters is noisy. Expected: flagged where
                        material; low reliability score.
``duplicate_file``      one file is delivered twice under another name (``... (1).csv``):
                        listed in ``ground_truth/files.csv``; expected: registered as duplicate.

A planted key is *material* when the declared values (after the true margin) differ by more
than the HS chapter's tolerance, or one side is missing; unit errors, revisions and 899 keys are
always material. Recall is computed over material keys.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import time
from collections.abc import Callable
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
CORRIDOR_HEADER = (
    "corridor_id,origin_iso3,declared_partner_iso3,hs_prefix,route,valid_from,valid_to,evidence"
)

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

AREAS_NES = (899, "_X", "Areas, nes")
WORLD_P2 = "0,W00,World,"
DEFAULT_RELEASE = "2025-06-30"
DEFAULT_REVISION_RELEASE = "2025-09-30"

# margin law: ln(1 + m) = A + B ln(distance km) + C contiguity
MARGIN_A, MARGIN_B, MARGIN_C = 0.01, 0.008, -0.01
BASE_VALUE_USD = 2e7  # median annual value of the largest pair for a median product
MIN_MONTH_VALUE_USD = 25.0


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
    corridors: int | None = None  # default max(1, reporters // 15) when reporters >= 6
    unreliable_share: float = 0.05
    unreliable_sigma: float = 0.35
    rate_misclassification: float = 0.004
    rate_unit_error: float = 0.003
    rate_confidential: float = 0.002
    rate_timing_lag: float = 0.004
    rate_revision: float = 0.002

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

    @property
    def annual(self) -> bool:
        return "A" in self.freq

    @property
    def monthly(self) -> bool:
        return "M" in self.freq


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


def _product_order(seed: int) -> pd.DataFrame:
    """Every HS 2022 leaf, headings in a seeded order, leaves of a heading together."""
    hs = pd.read_csv(HS_CSV, dtype=str, keep_default_na=False)
    hs = hs[(hs.aggrlevel == "6") & (hs.id.str.fullmatch(r"[0-9]{6}"))]
    hs = hs.assign(desc=hs.text.str.replace(r"^[0-9]{6} - ", "", regex=True), heading=hs.id.str[:4])
    headings = np.array(sorted(hs.heading.unique()))
    rng = np.random.default_rng([seed, 4])
    rank = {h: r for r, h in enumerate(headings[rng.permutation(len(headings))])}
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


@dataclass
class World:
    cfg: WorldConfig
    countries: pd.DataFrame
    products: pd.DataFrame
    distance: np.ndarray
    contiguous: np.ndarray
    margin: np.ndarray
    activity: np.ndarray  # a_ij
    value_scale: np.ndarray  # scale_ij
    popularity: np.ndarray  # u_k
    product_scale: np.ndarray  # s_k
    unit_value: np.ndarray  # USD/kg
    month_share: np.ndarray  # q_k
    neighbour: np.ndarray  # index of a neighbouring product in the same heading, or -1
    tolerance: np.ndarray  # per product, %
    unreliable: np.ndarray  # bool per country
    corridors: list[Corridor] = field(default_factory=list)

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
        margin = np.exp(MARGIN_A + MARGIN_B * np.log(distance) + MARGIN_C * contiguous) - 1
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
        heading = products.heading.to_numpy()
        neighbour = np.full(p, -1)
        for k in range(p):
            same = [x for x in (k + 1, k - 1) if 0 <= x < p and heading[x] == heading[k]]
            if same:
                neighbour[k] = same[0]
        tol = _tolerances()
        tolerance = np.array([tol.get(h[:2], 10.0) for h in products.hs6])
        world = cls(
            cfg,
            countries,
            products,
            distance,
            contiguous,
            margin,
            activity,
            value_scale,
            pop,
            scale,
            uv,
            q,
            neighbour,
            tolerance,
            np.zeros(n, dtype=bool),
        )
        world._choose_corridors_and_unreliable()
        return world

    def _choose_corridors_and_unreliable(self) -> None:
        cfg, n = self.cfg, self.n
        rng = np.random.default_rng([cfg.seed, 7, n, self.p])
        want = cfg.corridors if cfg.corridors is not None else max(1, n // 15)
        used: set[int] = set()
        prefixes = list(dict.fromkeys(self.products.heading))
        rng.shuffle(prefixes)
        for c in range(want if n >= 6 else 0):
            hubs = [h for h in range(min(10, n)) if h not in used]
            if not hubs or not prefixes:
                break
            hub = int(rng.choice(hubs))
            others = [x for x in range(n) if x != hub and x not in used]
            near = sorted(others, key=lambda x: self.distance[hub, x])
            dests = near[: int(rng.integers(2, 4))]
            rest = [x for x in others if x not in dests]
            if len(dests) < 2 or not rest:
                break
            origin = int(rng.choice(rest[: max(3, len(rest) // 2)]))
            prefix = prefixes.pop()
            iso = self.countries.iso3
            cid = f"syn-{iso[origin].lower()}-{iso[hub].lower()}-{prefix}-{c + 1}"
            self.corridors.append(Corridor(cid, origin, hub, [int(d) for d in dests], prefix))
            used |= {origin, hub, *dests}
        candidates = [x for x in range(3, n) if x not in used]
        k = min(len(candidates), max(1, round(cfg.unreliable_share * n))) if n >= 5 else 0
        if k:
            self.unreliable[rng.choice(candidates, size=k, replace=False)] = True

    # ---- sizing ----------------------------------------------------------------------

    def expected_rows_per_year(self) -> float:
        """Expected declaration rows of one full year (both sides, the configured freqs)."""
        q = self.month_share
        months = 12 * q + (1 - q) ** 12
        per_cell = (2.0 if self.cfg.annual else 0.0) + (2.0 * months if self.cfg.monthly else 0.0)
        if self.cfg.months is not None:
            per_cell = 2.0 * months * len(self.cfg.months) / 12
        total = 0.0
        for i in range(self.n):
            prob = np.minimum(1.0, self.activity[i][:, None] * self.popularity[None, :])
            prob[i] = 0.0
            total += float((prob * per_cell[None, :]).sum())
        return total


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


class _Formatter:
    """Pre-built text segments of the 47 columns; only the numbers are formatted per row."""

    def __init__(self, world: World) -> None:
        c = world.countries
        self.area = [
            f"{code},{iso},{_csv_field(name)},"
            for code, iso, name in zip(c.comtrade_code, c.iso3, c.country_name, strict=True)
        ]
        self.area.append(f"{AREAS_NES[0]},{AREAS_NES[1]},{_csv_field(AREAS_NES[2])},")  # -1
        self.iso = [*c.iso3.tolist(), AREAS_NES[1]]
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
    ) -> list[str]:
        flow_seg = "X,Export," if flow == "X" else "M,Import,"
        periods = {m: self.period(freq, year, m) for m in range(13)}
        area, cmd = self.area, self.cmd
        tail = "{w:.3f},False,-1,N/A,,False,{w:.3f},False,,False,{c},{f},{v:.2f},0,True,False\n"
        out = []
        for r, pa, q2, k, m, v, w in zip(
            reporter.tolist(),
            partner.tolist(),
            p2.tolist(),
            product.tolist(),
            month.tolist(),
            value.tolist(),
            weight.tolist(),
            strict=True,
        ):
            vs = f"{v:.2f}"
            out.append(
                periods[m]
                + area[r]
                + flow_seg
                + area[pa]
                + (WORLD_P2 if q2 < 0 else area[q2])
                + cmd[k]
                + tail.format(w=w, v=v, c=vs if flow == "M" else "", f=vs if flow == "X" else "")
            )
        return out


# --------------------------------------------------------------------------------------
# One chunk: exporter i, year y
# --------------------------------------------------------------------------------------

KINDS = ("misclassification", "unit_error", "confidential", "timing_lag")
EXPECTED = {
    "transit": "explained_transit",
    "timing_lag": "explained_timing",
    "misclassification": "flagged",
    "unit_error": "likely_unit_error_x1000",
    "confidential": "flagged",
    "confidential_partner": "unallocated",
    "revision": "latest_release_wins",
    "unreliable_reporter": "flagged",
}


@dataclass
class _Chunk:
    x: pd.DataFrame  # partner, product, month, value, weight (reporter = exporter)
    m: pd.DataFrame  # reporter, partner, p2, product, month, value, weight
    truth: pd.DataFrame  # importer, product, month, true value, true weight
    plants: pd.DataFrame  # kind, side, exporter, importer, product, month


def _chunk(w: World, i: int, year: int, m_confidential_used: set[tuple[int, int]]) -> _Chunk:
    cfg = w.cfg
    rng = np.random.default_rng([cfg.seed, int(w.countries.comtrade_code[i]), year])
    n = w.n
    partners = np.delete(np.arange(n), i)
    prob = np.minimum(1.0, w.activity[i, partners][:, None] * w.popularity[None, :])
    active = rng.random(prob.shape) < prob
    corridor_cell = np.zeros_like(active)
    corridor_of: dict[int, Corridor] = {}
    for cor in w.corridors:
        if cor.origin != i:
            continue
        ks = np.flatnonzero(w.products.hs6.str.startswith(cor.hs_prefix).to_numpy())
        for member in (cor.hub, *cor.destinations):
            row = int(np.flatnonzero(partners == member)[0])
            corridor_cell[row, ks] = True
            corridor_of[member] = cor
    active |= corridor_cell
    cj_loc, ck = np.nonzero(active)
    cj = partners[cj_loc]
    cells = len(cj)
    is_corr = corridor_cell[cj_loc, ck]

    value = w.value_scale[i, cj] * w.product_scale[ck] * np.exp(rng.normal(0.0, 1.2, cells))
    value = np.where(is_corr, value * 20 + 5e6, np.maximum(value, 2000.0))
    mask = rng.random((cells, 12)) < w.month_share[ck][:, None]
    mask[is_corr] = True
    none = ~mask.any(axis=1)
    mask[np.flatnonzero(none), rng.integers(0, 12, none.sum())] = True
    shares = rng.gamma(2.0, 1.0, (cells, 12)) * mask
    true = value[:, None] * shares / shares.sum(axis=1, keepdims=True)
    true = np.where(mask, np.maximum(true, MIN_MONTH_VALUE_USD), 0.0)
    true_w = true / w.unit_value[ck][:, None]

    margin = w.margin[i, cj][:, None]
    x = true * (1 + rng.uniform(-0.02, 0.02, (cells, 12)))
    mv = true * (1 + margin) * (1 + rng.uniform(-0.02, 0.02, (cells, 12)))
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
    share = rng.uniform(0.3, 0.7, cells)
    lag_share = rng.uniform(0.4, 0.8, cells)
    lag_pick = rng.random((cells, 11))
    eligible = ~is_corr & ~w.unreliable[cj] & ~w.unreliable[i]
    rates = [
        cfg.rate_misclassification,
        cfg.rate_unit_error,
        cfg.rate_confidential,
        cfg.rate_timing_lag if cfg.monthly else 0.0,
    ]
    edges = np.cumsum(rates)
    kind = np.searchsorted(edges, draw, side="right")  # len(KINDS) = none
    kind[~eligible] = len(KINDS)
    kind[(kind == 0) & (w.neighbour[ck] < 0)] = len(KINDS)

    x_partner = np.repeat(cj[:, None], 12, axis=1)
    m_partner = np.full((cells, 12), i)
    extra_x: list[tuple[np.ndarray, ...]] = []
    plants: list[tuple[str, str, int, int, int, int]] = []  # kind, side, exp, imp, k, month

    def mark(kind_name: str, side: str, c: int, importer: int, k: int, months: np.ndarray) -> None:
        for mo in months:
            plants.append((kind_name, side, i, importer, k, int(mo)))
        if cfg.annual:
            plants.append((kind_name, side, i, importer, k, 0))

    for c in np.flatnonzero(kind < len(KINDS)):
        months = np.flatnonzero(mask[c]) + 1
        j, k = int(cj[c]), int(ck[c])
        name = KINDS[kind[c]]
        if name == "misclassification":
            k2 = int(w.neighbour[k])
            extra_x.append(
                (np.full(len(months), j), np.full(len(months), k2), months,
                 x[c, months - 1] * share[c], xw[c, months - 1] * share[c])
            )  # fmt: skip
            x[c] *= 1 - share[c]
            xw[c] *= 1 - share[c]
            mark(name, "X", c, j, k, months)
            mark(name, "X", c, j, k2, months)
        elif name == "unit_error":
            side = "X" if side_draw[c] else "M"
            if side == "X":
                xw[c] /= 1000.0
            else:
                mw[c] /= 1000.0
            mark(name, side, c, j, k, months)
        elif name == "confidential":
            side = "X" if side_draw[c] or (j, k) in m_confidential_used else "M"
            if side == "X":
                x_partner[c] = -1
                mark(name, "X", c, j, k, months)
                mark("confidential_partner", "X", c, -1, k, months)
            else:
                m_confidential_used.add((j, k))
                m_partner[c] = -1
                mark(name, "M", c, j, k, months)
                for mo in [*months.tolist(), *([0] if cfg.annual else [])]:
                    plants.append(("confidential_partner", "M", -1, j, k, int(mo)))
        elif name == "timing_lag":
            options = np.flatnonzero(mask[c, :11])
            if not len(options):
                continue
            t = int(options[int(lag_pick[c, 0] * len(options))])
            moved, moved_w = mv[c, t] * lag_share[c], mw[c, t] * lag_share[c]
            mv[c, t] -= moved
            mv[c, t + 1] += moved
            mw[c, t] -= moved_w
            mw[c, t + 1] += moved_w
            for mo in (t + 1, t + 2):
                plants.append((name, "M", i, j, k, mo))

    # transit: the origin declares the destinations' goods to the hub
    for c in np.flatnonzero(is_corr):
        j = int(cj[c])
        cor = corridor_of[j]
        if j != cor.hub:
            x_partner[c] = cor.hub
    for member, cor in corridor_of.items():
        ks = np.flatnonzero(w.products.hs6.str.startswith(cor.hs_prefix).to_numpy())
        for k in ks:
            for mo in [*range(1, 13), *([0] if cfg.annual else [])]:
                plants.append(("transit", "X", i, member, int(k), mo))

    # unreliable reporters: every key they declare
    for c in np.flatnonzero(w.unreliable[cj] | w.unreliable[i]):
        months = np.flatnonzero(mask[c]) + 1
        side = "X" if w.unreliable[i] else "M"
        mark("unreliable_reporter", side, c, int(cj[c]), int(ck[c]), months)

    # ---- long format -------------------------------------------------------------------
    month_idx = np.tile(np.arange(1, 13), (cells, 1))
    xm = (x > 0) & mask
    xs = [x_partner[xm], np.repeat(ck[:, None], 12, 1)[xm], month_idx[xm], x[xm], xw[xm]]
    for e in extra_x:
        xs = [np.concatenate([a, b]) for a, b in zip(xs, e, strict=True)]
    xdf = pd.DataFrame(
        dict(zip(("partner", "product", "month", "value", "weight"), xs, strict=True))
    )
    xdf = xdf.groupby(["partner", "product", "month"], as_index=False, sort=True).sum()
    mm = mv > 0
    mdf = pd.DataFrame(
        {
            "reporter": np.repeat(cj[:, None], 12, 1)[mm],
            "partner": m_partner[mm],
            "product": np.repeat(ck[:, None], 12, 1)[mm],
            "month": month_idx[mm],
            "value": mv[mm],
            "weight": mw[mm],
        }
    )
    if cfg.months is not None:
        xdf = xdf[xdf.month.isin(cfg.months)]
        mdf = mdf[mdf.month.isin(cfg.months)]
    xdf = xdf.assign(value=xdf.value.round(2), weight=xdf.weight.round(3))
    mdf = mdf.assign(value=mdf.value.round(2), weight=mdf.weight.round(3))
    mdf = mdf.assign(p2=-1)
    tm = mask
    truth = pd.DataFrame(
        {
            "importer": np.repeat(cj[:, None], 12, 1)[tm],
            "product": np.repeat(ck[:, None], 12, 1)[tm],
            "month": month_idx[tm],
            "value": true[tm],
            "weight": true_w[tm],
        }
    )
    if cfg.months is not None:
        truth = truth[truth.month.isin(cfg.months)]
    plants_df = pd.DataFrame(
        plants, columns=["kind", "side", "exporter", "importer", "product", "month"]
    )
    if cfg.months is not None:
        plants_df = plants_df[plants_df.month.isin(cfg.months)]
    return _Chunk(xdf, mdf, truth, plants_df)


def _annual(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    a = df.groupby(keys, as_index=False, sort=True)[["value", "weight"]].sum()
    return a.assign(month=0, value=a.value.round(2), weight=a.weight.round(3))


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
    iso = np.array(fmt.iso, dtype=object)  # index -1 = areas nes
    hs6 = world.products.hs6.to_numpy()
    files: dict[str, tuple[str, int]] = {}
    m_conf_used: set[tuple[int, int]] = set()
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
        for i in range(world.n):
            ch = _chunk(world, i, year, m_conf_used)
            decl: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
            if cfg.monthly:
                decl["M"] = (ch.x, ch.m)
            if cfg.annual:
                decl["A"] = (
                    _annual(ch.x, ["partner", "product"]),
                    _annual(ch.m, ["reporter", "partner", "p2", "product"]),
                )
            # consignment breakdown rows of corridor destinations (partner2 = hub)
            for cor in world.corridors:
                if cor.origin != i:
                    continue
                in_prefix = pd.Series(hs6).str.startswith(cor.hs_prefix).to_numpy()
                for f, (xf, mf) in list(decl.items()):
                    sel = mf.reporter.isin(cor.destinations) & in_prefix[mf["product"].to_numpy()]
                    sel &= mf.partner == i
                    decl[f] = (xf, pd.concat([mf, mf[sel].assign(p2=cor.hub)], ignore_index=True))
            # revisions: the first release carries a wrong value, a later one the right one
            planted_keys = set(
                zip(ch.plants.importer, ch.plants["product"], ch.plants.month, strict=True)
            )
            rev_plants: list[pd.DataFrame] = [ch.plants]
            for f, (xf, mf) in list(decl.items()):
                if f != rev_freq:
                    continue
                revised: list[tuple[str, pd.DataFrame]] = []
                new_frames = []
                for flow, df in (("X", xf), ("M", mf)):
                    importer = df.partner if flow == "X" else df.reporter
                    rep_ok = (not world.unreliable[i]) & ~world.unreliable[importer.to_numpy()]
                    if flow == "M":
                        rep_ok &= (df.partner == i).to_numpy() & (df.p2 < 0).to_numpy()
                    else:
                        rep_ok &= (df.partner >= 0).to_numpy()
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
                    wrong = df.value.to_numpy().copy()
                    wrong[pick] = np.round(wrong[pick] * factor[pick], 2)
                    revised.append((flow, df[pick]))
                    new_frames.append(df.assign(value=wrong))
                    chosen = df[pick]
                    rev_plants.append(
                        pd.DataFrame(
                            {
                                "kind": "revision",
                                "side": flow,
                                "exporter": i,
                                "importer": chosen.partner if flow == "X" else chosen.reporter,
                                "product": chosen["product"],
                                "month": chosen.month,
                            }
                        )
                    )
                decl[f] = (new_frames[0], new_frames[1])
                for flow, df in revised:
                    counts["declarations"] += len(df)
                    if len(df):
                        reporter = np.full(len(df), i) if flow == "X" else df.reporter.to_numpy()
                        p2 = np.full(len(df), -1) if flow == "X" else df.p2.to_numpy()
                        writer.write(
                            f"comtrade_final_{f}_revisions_{label}_released-{cfg.revision_release}",
                            fmt.lines(f, year, flow, reporter, df.partner.to_numpy(), p2,
                                      df["product"].to_numpy(), df.month.to_numpy(),
                                      df.value.to_numpy(), df.weight.to_numpy()),
                        )  # fmt: skip
            ch.plants = pd.concat(rev_plants, ignore_index=True)
            # write declarations
            for f in freqs:
                xf, mf = decl[f]
                writer.write(
                    f"comtrade_final_{f}_{iso[i]}_{label}_released-{cfg.release}",
                    fmt.lines(f, year, "X", np.full(len(xf), i), xf.partner.to_numpy(),
                              np.full(len(xf), -1), xf["product"].to_numpy(),
                              xf.month.to_numpy(), xf.value.to_numpy(), xf.weight.to_numpy()),
                )  # fmt: skip
                counts["declarations"] += len(xf) + len(mf)
                for j, g in mf.groupby("reporter", sort=True):
                    writer.write(
                        f"comtrade_final_{f}_{iso[j]}_{label}_released-{cfg.release}",
                        fmt.lines(f, year, "M", g.reporter.to_numpy(), g.partner.to_numpy(),
                                  g.p2.to_numpy(), g["product"].to_numpy(), g.month.to_numpy(),
                                  g.value.to_numpy(), g.weight.to_numpy()),
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
            t["true_cif_fob_margin"] = world.margin[i, t.importer.to_numpy()].round(6)
            t = t[["freq", "period", "exporter_iso3", "importer_iso3", "hs6",
                   "true_value_fob_usd", "true_net_weight_kg", "true_cif_fob_margin"]]  # fmt: skip
            t.to_csv(parts / "true_flows.csv", mode="a", header=truth_first, index=False)
            truth_first = False
            counts["true_flows"] += len(t)
            pl = _materiality(world, ch.plants, decl, i, iso, hs6, year)
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


def _materiality(
    world: World,
    plants: pd.DataFrame,
    decl: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
    i: int,
    iso: np.ndarray,
    hs6: np.ndarray,
    year: int,
) -> pd.DataFrame:
    """Planted keys with the declared values as written and whether the gap is material."""
    cols = ["kind", "side", "expected", "freq", "period", "exporter_iso3", "importer_iso3",
            "hs6", "declared_export_usd", "declared_import_usd", "planted_gap_pct",
            "tolerance_pct", "material"]  # fmt: skip
    if plants.empty:
        return pd.DataFrame(columns=cols)
    plants = plants.drop_duplicates().astype(
        {"exporter": "int64", "importer": "int64", "product": "int64", "month": "int64"}
    )
    xs, ms = [], []
    for xf, mf in decl.values():
        xs.append(xf[["partner", "product", "month", "value"]])
        tot = mf[mf.p2 < 0]
        ms.append(tot[["reporter", "partner", "product", "month", "value"]])
    x = pd.concat(xs).rename(columns={"partner": "importer", "value": "x"})
    m = pd.concat(ms).rename(columns={"reporter": "importer", "partner": "exporter", "value": "m"})
    d = plants.merge(
        x.assign(exporter=i), on=["exporter", "importer", "product", "month"], how="left"
    )
    d = d.merge(m, on=["exporter", "importer", "product", "month"], how="left")
    exp_idx = d.exporter.to_numpy()
    imp_idx = d.importer.to_numpy()
    margin = np.where((exp_idx >= 0) & (imp_idx >= 0), world.margin[exp_idx, imp_idx], 0.06)
    mfob = d.m.to_numpy() / (1 + margin)
    xv = d.x.to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = 100 * (mfob - xv) / np.fmax(mfob, xv)
    tol = world.tolerance[d["product"].to_numpy()]
    one_sided = np.isnan(xv) ^ np.isnan(mfob)
    always = d.kind.isin(["unit_error", "revision", "confidential_partner"]).to_numpy()
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
            "'exporter_iso3': 'VARCHAR', 'importer_iso3': 'VARCHAR'}"
        )
        con.execute(
            f"COPY (SELECT * FROM read_csv(?, header = true, types = {types})) "
            f"TO '{truth_dir / (name + '.parquet')}' (FORMAT parquet)",
            [str(src)],
        )
    con.close()
    shutil.rmtree(parts)
    corridors = truth_dir / "corridors"
    corridors.mkdir()
    iso = world.countries.iso3
    with (corridors / "transit_corridors.csv").open("w", encoding="utf-8", newline="") as fh:
        fh.write(CORRIDOR_HEADER + "\n")
        w = csv.writer(fh, lineterminator="\n")
        for c in world.corridors:
            dests = ", ".join(iso[d] for d in c.destinations)
            route = f"synthetic: {iso[c.origin]} -> {iso[c.hub]} -> {dests}"
            evidence = "planted by mirror generate (synthetic world)"
            w.writerow([c.corridor_id, iso[c.origin], iso[c.hub], c.hs_prefix, route,
                        "2000-01-01", "", evidence])  # fmt: skip
    with (corridors / "transit_corridor_importers.csv").open("w", encoding="utf-8") as fh:
        fh.write("corridor_id,importer_iso3\n")
        for c in world.corridors:
            for d in c.destinations:
                fh.write(f"{c.corridor_id},{iso[d]}\n")
    rep = world.countries.assign(
        rank=np.arange(world.n) + 1,
        unreliable=world.unreliable,
        noise_sigma=np.where(world.unreliable, world.cfg.unreliable_sigma, 0.0),
    )
    rep.to_csv(truth_dir / "reporters.csv", index=False)
    pd.DataFrame(
        [(n, k, r) for n, (k, r) in sorted(files.items())], columns=["file", "kind", "rows"]
    ).to_csv(truth_dir / "files.csv", index=False)
    counts["files"] = len(files)
