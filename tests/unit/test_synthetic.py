"""The synthetic world (`mirror generate`): deterministic, ingestible, flat memory, honest truth.

Every planted kind is checked three ways: it is planted, it is in the ground truth with the
status that names its cause, and the written files show it the way a customs file would."""

from __future__ import annotations

import argparse
import filecmp
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from dagster_project.ingest.loader import ingest_files
from dagster_project.sources import comtrade
from mirror_tools.generate.cli import add_generate_parser, config_from_args
from mirror_tools.generate.world import EXPECTED, NES_CODES, World, WorldConfig, generate_world
from tests.conftest import load_reference_tables

# rates raised so that a small world carries every kind of distortion; 2021 is a freight year
SMALL = WorldConfig(
    reporters=14,
    products=16,
    years=(2021, 2022),
    freq="AM",
    seed=11,
    corridors=2,
    rate_misclassification=0.04,
    rate_unit_error=0.02,
    rate_confidential=0.02,
    rate_nes_partner=0.04,
    rate_timing_lag=0.03,
    rate_revision=0.01,
)
KEY = ["freq", "period", "exporter_iso3", "importer_iso3", "hs6"]


def _generate(cfg: WorldConfig, out: Path) -> dict:
    return generate_world(cfg, out, progress=False, log=lambda _m: None)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    _generate(SMALL, out)
    return out


@pytest.fixture(scope="module")
def loaded(world: Path) -> duckdb.DuckDBPyConnection:
    """The world through the real loader, with ``latest`` (the latest release of each row),
    ``d`` (the planted keys) and ``rep`` (reporters.csv)."""
    con = duckdb.connect()
    load_reference_tables(con)
    comtrade.SPEC.ensure_tables(con)
    files = sorted((world / "landing" / "comtrade").iterdir())
    outcomes = ingest_files(con, comtrade.SPEC, files, log=lambda _m: None)
    con.execute("CREATE TEMP TABLE outcomes (name VARCHAR, status VARCHAR, q BIGINT)")
    con.executemany(
        "INSERT INTO outcomes VALUES (?, ?, ?)",
        [(o.path.name, o.status, o.rows_quarantined or 0) for o in outcomes],
    )
    con.execute(
        """
        CREATE TEMP VIEW latest AS
        SELECT *, try_cast("primaryValue" AS DOUBLE) AS v FROM raw.comtrade_final
        QUALIFY row_number() OVER (
            PARTITION BY "freqCode", period, "reporterCode", "flowCode", "partnerCode",
                         "partner2Code", "cmdCode"
            ORDER BY _file_release_date DESC) = 1
        """
    )
    con.execute(f"CREATE TEMP TABLE d AS SELECT * FROM {_gt(world, 'distortions.parquet')}")
    con.execute(f"CREATE TEMP TABLE t AS SELECT * FROM {_gt(world, 'true_flows.parquet')}")
    con.execute(
        "CREATE TEMP TABLE rep AS SELECT * FROM read_csv(?, all_varchar = true)",
        [str(world / "ground_truth" / "reporters.csv")],
    )
    return con


def _gt(world: Path, name: str) -> str:
    return f"read_parquet('{world / 'ground_truth' / name}')"


def _csv(world: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(world / "ground_truth" / name, dtype=str, keep_default_na=False)


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> object:
    return con.execute(sql, params or []).fetchone()[0]


# ---- determinism, ingest, shape ---------------------------------------------------------


def test_same_seed_same_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    cfg = WorldConfig(reporters=10, products=6, years=(2024,), seed=3, gzip=True)
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    _generate(cfg, a)
    _generate(cfg, b)
    _generate(WorldConfig(reporters=10, products=6, years=(2024,), seed=4, gzip=True), c)
    names = sorted(p.name for p in (a / "landing" / "comtrade").iterdir())
    assert names and all(n.endswith(".csv.gz") for n in names)
    assert names == sorted(p.name for p in (b / "landing" / "comtrade").iterdir())
    for n in names:
        assert filecmp.cmp(a / "landing" / "comtrade" / n, b / "landing" / "comtrade" / n, False)
    for n in ("reporters.csv", "files.csv", "corridors.csv", "reexports.csv"):
        assert (a / "ground_truth" / n).read_bytes() == (b / "ground_truth" / n).read_bytes()
    q = "SELECT * FROM read_parquet(?) ORDER BY ALL"
    for n in ("true_flows.parquet", "distortions.parquet"):
        rows = [duckdb.execute(q, [str(d / "ground_truth" / n)]).fetchall() for d in (a, b)]
        assert rows[0] == rows[1]
    differ = [
        n
        for n in names
        if (c / "landing" / "comtrade" / n).exists()
        and (a / "landing" / "comtrade" / n).read_bytes()
        != (c / "landing" / "comtrade" / n).read_bytes()
    ]
    assert differ


@pytest.mark.parametrize("freq", ["A", "M"])
def test_a_tiny_world_is_generated(tmp_path: Path, freq: str) -> None:
    """Two or three reporters leave some exporter without a flow in a year (an empty chunk):
    the world is still written, with its ground truth (it failed in numpy's zfill of [])."""
    months = (1,) if freq == "M" else None
    cfg = WorldConfig(reporters=2 if freq == "A" else 3, products=2, years=(2024,), freq=freq,
                      months=months, seed=41)  # fmt: skip
    summary = _generate(cfg, tmp_path)
    assert summary["files"] >= 1
    assert (tmp_path / "ground_truth" / "true_flows.parquet").is_file()


def test_files_ingest_through_the_real_loader(loaded: duckdb.DuckDBPyConnection) -> None:
    statuses = dict(
        loaded.execute("SELECT status, count(*) FROM outcomes GROUP BY status").fetchall()
    )
    assert statuses.get("duplicate") == 1  # the planted copy under another name
    assert set(statuses) == {"loaded", "duplicate"}
    assert _one(loaded, "SELECT sum(q) FROM outcomes") == 0
    assert _one(loaded, "SELECT count(*) FROM raw.quarantine") == 0
    cols = [r[0] for r in loaded.execute("DESCRIBE raw.comtrade_final").fetchall()][:47]
    assert cols == list(comtrade.COLUMNS)


def test_world_shape_real_codes_and_skew(world: Path, loaded: duckdb.DuckDBPyConnection) -> None:
    unknown_hs = _one(
        loaded,
        'SELECT count(*) FROM raw.comtrade_final WHERE "cmdCode" NOT IN '
        "(SELECT id FROM raw.ref_hs2022_products)",
    )
    assert unknown_hs == 0
    # skew: the top 10 % of annual flows carry most of the value; the matrix is sparse
    top_share, n_flows = loaded.execute(
        """
        WITH a AS (SELECT true_value_fob_usd v, row_number() OVER (ORDER BY v DESC) r,
                          count(*) OVER () n FROM t WHERE freq = 'A')
        SELECT sum(v) FILTER (r <= n / 10) / sum(v), max(n) FROM a
        """
    ).fetchone()
    assert top_share > 0.5
    cells = SMALL.reporters * (SMALL.reporters - 1) * SMALL.products * len(SMALL.years)
    assert n_flows < 0.8 * cells
    info = json.loads((world / "ground_truth" / "world.json").read_text())
    assert info["declarations"] == _one(loaded, "SELECT count(*) FROM raw.comtrade_final")


# ---- ground truth ------------------------------------------------------------------------


def test_every_kind_is_planted_once_per_key_with_the_status_naming_its_cause(
    world: Path, loaded: duckdb.DuckDBPyConnection
) -> None:
    kinds = {r[0] for r in loaded.execute("SELECT DISTINCT kind FROM d").fetchall()}
    assert set(EXPECTED) <= kinds, set(EXPECTED) - kinds
    wrong = loaded.execute("SELECT DISTINCT kind, expected FROM d").fetchall()
    assert all(EXPECTED[k] == e for k, e in wrong), wrong
    keys = ", ".join(KEY)
    shared = loaded.execute(
        f"SELECT {keys}, list(DISTINCT kind) FROM d GROUP BY ALL HAVING count(DISTINCT kind) > 1"
    ).fetchall()
    assert shared == []
    # a planted row is a key some side declared, with the declared values as written
    assert (
        _one(
            loaded,
            "SELECT count(*) FROM d WHERE declared_export_usd IS NULL AND declared_import_usd IS NULL",
        )
        == 0
    )
    # revisions: one row per re-delivered record in the later release
    planted = _one(loaded, "SELECT count(*) FROM d WHERE kind = 'revision'")
    written = _one(
        loaded,
        "SELECT count(*) FROM raw.comtrade_final WHERE _source_file LIKE '%released-2025-09-30%'",
    )
    assert planted == written > 0
    # the ground truth is not inside the landing zone, and no corridor seed is written
    folder = world / "landing" / "comtrade"
    assert not list(folder.rglob("*.parquet"))
    assert not (world / "ground_truth" / "corridors").exists()


def test_unit_errors_and_duplicate_file_as_written(
    world: Path, loaded: duckdb.DuckDBPyConnection
) -> None:
    ratios = loaded.execute(
        """
        WITH l AS (SELECT "freqCode" f, period, "reporterISO" rep, "flowCode" fl,
                          "partnerISO" par, "cmdCode" hs6, "netWgt"::DOUBLE w
                   FROM latest WHERE "partner2Code" = '0')
        SELECT x.w / m.w FROM d
        JOIN l x ON x.fl = 'X' AND x.f = d.freq AND x.period = d.period
             AND x.rep = d.exporter_iso3 AND x.par = d.importer_iso3 AND x.hs6 = d.hs6
        JOIN l m ON m.fl = 'M' AND m.f = d.freq AND m.period = d.period
             AND m.rep = d.importer_iso3 AND m.par = d.exporter_iso3 AND m.hs6 = d.hs6
        WHERE d.kind = 'unit_error'
        """
    ).fetchall()
    assert ratios
    assert all(0.0009 < r < 0.0011 or 900 < r < 1100 for (r,) in ratios)
    files = _csv(world, "files.csv")
    dup = files[files.kind.str.startswith("duplicate_of:")]
    assert len(dup) == 1
    folder = world / "landing" / "comtrade"
    original = dup.kind.iloc[0].split(":", 1)[1]
    assert filecmp.cmp(folder / dup.file.iloc[0], folder / original, False)


# ---- nes-declared partners and confidential flows -----------------------------------------


def test_nes_partners_are_written_as_customs_files_show_them(
    loaded: duckdb.DuckDBPyConnection,
) -> None:
    codes = ", ".join(f"'{c}'" for c in NES_CODES)
    # every row to or from a non-country partner is a planted nes_area key, and the reverse
    written = set(
        loaded.execute(
            f"""
            SELECT "freqCode", period,
                   CASE WHEN "flowCode" = 'X' THEN "reporterISO" ELSE "partnerISO" END,
                   CASE WHEN "flowCode" = 'X' THEN "partnerISO" ELSE "reporterISO" END, "cmdCode"
            FROM latest WHERE "partnerCode" IN ({codes}) AND "partner2Code" = '0'
            """
        ).fetchall()
    )
    planted = set(loaded.execute("SELECT " + ", ".join(KEY) + " FROM d WHERE kind = 'nes_area'")
                  .fetchall())  # fmt: skip
    assert written == planted and planted
    used = {r[0] for r in loaded.execute(f"""SELECT DISTINCT "partnerCode"::VARCHAR FROM latest
                                            WHERE "partnerCode" IN ({codes})""").fetchall()}  # fmt: skip
    assert {"899", "839", "837", "838"} <= used
    assert used & {"568", "577", "879"}  # a regional nes of the true partner's region
    # both sides book to nes areas; 899 whole cells are `confidential`, the rest `nes_partner`
    sides = loaded.execute(
        "SELECT kind, list(DISTINCT side ORDER BY side) FROM d "
        "WHERE kind IN ('confidential', 'nes_partner') GROUP BY kind ORDER BY kind"
    ).fetchall()
    assert sides == [("confidential", ["M", "X"]), ("nes_partner", ["M", "X"])]
    assert _one(loaded, "SELECT count(*) FROM d WHERE kind = 'confidential' "
                "AND variant <> '899 whole'") == 0  # fmt: skip
    # whole: the true key lost the booking side; share: both sides remain, the area has 30-90 %
    lost = loaded.execute(
        """
        SELECT variant LIKE '% whole', bool_and(CASE side WHEN 'X' THEN declared_export_usd IS NULL
                                                           ELSE declared_import_usd IS NULL END),
               bool_and(declared_export_usd IS NULL OR declared_import_usd IS NULL)
        FROM d WHERE kind IN ('confidential', 'nes_partner') GROUP BY 1 ORDER BY 1
        """
    ).fetchall()
    assert lost == [(False, False, False), (True, True, True)]
    shares = loaded.execute(
        "SELECT min(planted_share), max(planted_share) FROM d "
        "WHERE kind = 'nes_partner' AND variant LIKE '% share'"
    ).fetchone()
    assert 0.3 <= shares[0] <= shares[1] <= 0.9


# ---- neighbouring-code declarations ---------------------------------------------------------


def test_misclassification_either_side_another_heading_and_whole_cells(
    loaded: duckdb.DuckDBPyConnection,
) -> None:
    rows = loaded.execute(
        """
        SELECT side, variant, hs6, detail, declared_export_usd, declared_import_usd
        FROM d WHERE kind = 'misclassification'
        """
    ).fetchall()
    assert {r[0] for r in rows} == {"X", "M"}
    assert {v.split()[0] for _, v, *_ in rows} == {"same_heading", "other_heading"}
    for side, variant, hs6, detail, x, m in rows:
        direction, other = detail.split()
        assert direction in ("to", "from")
        assert other[:2] == hs6[:2] and other != hs6
        assert (other[:4] == hs6[:4]) == variant.startswith("same_heading")
        if direction == "to" and variant.endswith("whole"):  # the true code lost that side
            assert (x if side == "X" else m) is None
    # pairs: every 'to' key has its 'from' key
    pairs = _one(
        loaded,
        """
        SELECT count(*) FROM d a
        ANTI JOIN d b ON b.kind = 'misclassification' AND b.freq = a.freq
            AND b.period = a.period AND b.exporter_iso3 = a.exporter_iso3
            AND b.importer_iso3 = a.importer_iso3 AND b.hs6 = split_part(a.detail, ' ', 2)
        WHERE a.kind = 'misclassification' AND a.detail LIKE 'to %'
        """,
    )
    assert pairs == 0


# ---- transit corridors ----------------------------------------------------------------------


def test_transit_corridors_vary_and_exist_only_in_the_ground_truth(
    world: Path, loaded: duckdb.DuckDBPyConnection
) -> None:
    corridors = _csv(world, "corridors.csv")
    assert len(corridors) == 2
    assert set(corridors.consignment_rows) == {"true", "false"}
    radius = World.build(SMALL)
    for c in corridors.itertuples():
        dests = c.destinations_iso3.split()
        hub = int(radius.countries.index[radius.countries.iso3 == c.hub_iso3][0])
        for d in dests:  # where transit goods plausibly go: within reach of the hub
            j = int(radius.countries.index[radius.countries.iso3 == d][0])
            assert radius.distance[hub, j] <= SMALL.corridor_radius_km, (c.hub_iso3, d)
        params = [c.origin_iso3, c.hs_prefix, dests]
        direct = _one(
            loaded,
            """SELECT count(*) FROM latest WHERE "reporterISO" = ? AND "flowCode" = 'X'
               AND starts_with("cmdCode", ?) AND "partnerISO" IN (SELECT unnest(?))""",
            params,
        )
        assert direct == 0 and len(dests) >= 2
        consigned = _one(
            loaded,
            """SELECT count(*) FROM latest WHERE "partnerISO" = ? AND "flowCode" = 'M'
               AND starts_with("cmdCode", ?) AND "reporterISO" IN (SELECT unnest(?))
               AND "partner2ISO" = ?""",
            [*params, c.hub_iso3],
        )
        assert (consigned > 0) == (c.consignment_rows == "true")
        hub_imports = _one(
            loaded,
            """SELECT count(*) FROM latest WHERE "reporterISO" = ? AND "flowCode" = 'M'
               AND "partnerISO" = ? AND starts_with("cmdCode", ?)""",
            [c.hub_iso3, c.origin_iso3, c.hs_prefix],
        )
        assert (hub_imports > 0) == (c.hub_imports == "true")
    roles = loaded.execute(
        "SELECT variant, count(DISTINCT detail) FROM d WHERE kind = 'transit' GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert roles == [("origin->destination", 2), ("origin->hub", 2)]


# ---- re-exports -----------------------------------------------------------------------------


def test_reexports_rx_rows_counted_in_exports_and_declared_by_origin(
    world: Path, loaded: duckdb.DuckDBPyConnection
) -> None:
    arrangements = _csv(world, "reexports.csv")
    assert len(arrangements) >= 1
    assert _one(loaded, """SELECT count(*) FROM latest WHERE "flowCode" = 'RX'
                           AND "flowDesc" <> 'Re-export'""") == 0  # fmt: skip
    for a in arrangements.itertuples():
        per_period = loaded.execute(
            """
            WITH l AS (SELECT * FROM latest WHERE "cmdCode" = ? AND "partner2Code" = '0')
            SELECT p.f, p.period,
                (SELECT sum(v) FROM l WHERE "freqCode" = p.f AND period = p.period
                   AND "reporterISO" = ? AND "partnerISO" = ? AND "flowCode" = 'X') AS x_hub,
                (SELECT sum(v) FROM l WHERE "freqCode" = p.f AND period = p.period
                   AND "reporterISO" = ? AND "partnerISO" = ? AND "flowCode" = 'RX') AS rx,
                (SELECT sum(v) FROM l WHERE "freqCode" = p.f AND period = p.period
                   AND "reporterISO" = ? AND "partnerISO" = ? AND "flowCode" = 'M') AS m_from_hub,
                (SELECT sum(v) FROM l WHERE "freqCode" = p.f AND period = p.period
                   AND "reporterISO" = ? AND "partnerISO" = ? AND "flowCode" = 'M') AS m_from_o,
                (SELECT sum(v) FROM l WHERE "freqCode" = p.f AND period = p.period
                   AND "reporterISO" = ? AND "partnerISO" = ? AND "flowCode" = 'X') AS x_o,
                (SELECT sum(v) FROM l WHERE "freqCode" = p.f AND period = p.period
                   AND "reporterISO" = ? AND "partnerISO" = ? AND "flowCode" = 'X') AS x_o_hub,
                (SELECT sum(v) FROM l WHERE "freqCode" = p.f AND period = p.period
                   AND "reporterISO" = ? AND "partnerISO" = ? AND "flowCode" = 'M') AS m_hub_o
            FROM (SELECT DISTINCT "freqCode" f, period FROM l) p ORDER BY ALL
            """,
            [a.hs6, a.hub_iso3, a.destination_iso3, a.hub_iso3, a.destination_iso3,
             a.destination_iso3, a.hub_iso3, a.destination_iso3, a.origin_iso3,
             a.origin_iso3, a.destination_iso3, a.origin_iso3, a.hub_iso3, a.hub_iso3,
             a.origin_iso3],
        ).fetchall()  # fmt: skip
        assert len(per_period) == 2 + 24  # every year and month
        for _f, _period, x_hub, rx, m_from_hub, m_from_o, x_o, x_o_hub, m_hub_o in per_period:
            share = float(a.share)
            # the hub's total exports include its re-exports: X = domestic exports + RX
            assert rx > 0 and x_hub >= rx - 0.01
            if m_from_hub is None:
                assert abs(x_hub - rx) <= 0.02  # no domestic exports of it to j
            # the destination declares the origin: M(j <- o) carries what X(o -> j) lacks
            assert m_from_o > (x_o or 0.0) + 0.9 * rx
            # origin -> hub declared by both sides, the re-exported share included
            assert x_o_hub > rx / share * 0.9 and m_hub_o > 0.9 * x_o_hub
    keys = loaded.execute(
        "SELECT variant, side, count(*) FROM d WHERE kind = 're_export' GROUP BY ALL ORDER BY 1"
    ).fetchall()
    assert [(v, s) for v, s, _ in keys] == [("hub->destination", "X"), ("origin->destination", "M")]


def test_a_late_declaration_is_declared_the_next_month(loaded: duckdb.DuckDBPyConnection) -> None:
    """timing_lag moves part of month t to t + 1 on the import side; the goods are declared in
    t + 1 even when nothing else of the cell moved that month: over the two months the importer
    declares what the exporter declares (CIF), never less."""
    keys = loaded.execute(
        """
        SELECT exporter_iso3, importer_iso3, hs6, min(period) AS t
        FROM d WHERE kind = 'timing_lag' GROUP BY ALL
        """
    ).fetchall()
    assert keys, "no timing_lag planted"
    for exporter, importer, hs6, t in keys:
        t1 = f"{t[:4]}{int(t[4:]) + 1:02d}"
        x, m, m_next = loaded.execute(
            """
            WITH l AS (SELECT * FROM latest WHERE "freqCode" = 'M' AND "cmdCode" = ?
                       AND "partner2Code" = '0')
            SELECT
              (SELECT sum(v) FROM l WHERE period IN (?, ?) AND "reporterISO" = ?
                 AND "partnerISO" = ? AND "flowCode" = 'X'),
              (SELECT sum(v) FROM l WHERE period = ? AND "reporterISO" = ?
                 AND "partnerISO" = ? AND "flowCode" = 'M'),
              (SELECT sum(v) FROM l WHERE period = ? AND "reporterISO" = ?
                 AND "partnerISO" = ? AND "flowCode" = 'M')
            """,
            [hs6, t, t1, exporter, importer, t, importer, exporter, t1, importer, exporter],
        ).fetchone()
        if x is None or m is None:
            continue  # a silent reporter or a nes booking took this cell's side
        assert m_next is not None, (exporter, importer, hs6, t)
        assert m + m_next >= 0.95 * x, (exporter, importer, hs6, t, x, m, m_next)


# ---- import valuation and margins -------------------------------------------------------------


def test_import_valuation_cif_fob_and_both(loaded: duckdb.DuckDBPyConnection) -> None:
    by_valuation = dict(
        loaded.execute(
            """
            SELECT r.import_valuation,
                   [count(*), count(l.cifvalue), count(l.fobvalue),
                    count(*) FILTER (l.cifvalue = l."primaryValue"),
                    count(*) FILTER (l.fobvalue = l."primaryValue"),
                    count(*) FILTER (l.fobvalue::DOUBLE < l.cifvalue::DOUBLE)]
            FROM latest l JOIN rep r ON r.iso3 = l."reporterISO"
            WHERE l."flowCode" = 'M' GROUP BY 1
            """
        ).fetchall()
    )
    assert set(by_valuation) == {"cif", "fob", "cif_and_fob"}
    n, cif, fob, cif_primary, fob_primary, _ = by_valuation["fob"]
    assert n > 0 and cif == 0 and fob == n and fob_primary == n
    n, cif, fob, cif_primary, _, fob_below_cif = by_valuation["cif_and_fob"]
    assert n > 0 and cif == fob == cif_primary == fob_below_cif == n
    n, cif, fob, cif_primary, *_ = by_valuation["cif"]
    assert n > 0 and cif == cif_primary == n and fob == 0
    exports = loaded.execute(
        """SELECT count(*), count(cifvalue), count(*) FILTER (fobvalue = "primaryValue")
           FROM latest WHERE "flowCode" IN ('X', 'RX')"""
    ).fetchone()
    assert exports[1] == 0 and exports[2] == exports[0] > 0
    # FOB importers' values agree with the exporters' without a margin; CIF importers' do not
    ratio = dict(
        loaded.execute(
            """
            SELECT r.import_valuation, median(m.v / x.v)
            FROM latest m JOIN rep r ON r.iso3 = m."reporterISO"
            JOIN latest x ON x."flowCode" = 'X' AND m."flowCode" = 'M'
                AND x."freqCode" = m."freqCode" AND x.period = m.period
                AND x."reporterISO" = m."partnerISO" AND x."partnerISO" = m."reporterISO"
                AND x."cmdCode" = m."cmdCode" AND m."partner2Code" = '0'
            JOIN rep e ON e.iso3 = x."reporterISO" AND e.unreliable = 'False'
            WHERE r.unreliable = 'False' GROUP BY 1
            """
        ).fetchall()
    )
    assert abs(ratio["fob"] - 1) < 0.01 and ratio["cif"] > 1.04


def test_margins_move_by_year_and_chapter(world: Path, loaded: duckdb.DuckDBPyConnection) -> None:
    by_year = dict(
        loaded.execute(
            "SELECT left(period, 4), avg(true_cif_fob_margin) FROM t GROUP BY 1"
        ).fetchall()
    )
    assert 0.025 < by_year["2021"] - by_year["2022"] < 0.06  # a freight-cost year
    shifts = json.loads((world / "ground_truth" / "world.json").read_text())["margin_year_shift"]
    assert 0.03 <= shifts["2021"] <= 0.05 and abs(shifts["2022"]) < 0.02
    # same pair and year, different chapters: different margins
    spread = _one(
        loaded,
        """SELECT max(n) FROM (SELECT count(DISTINCT true_cif_fob_margin) n FROM t
           GROUP BY exporter_iso3, importer_iso3, left(period, 4))""",
    )
    assert spread > 1


# ---- innocent one-sided flows ----------------------------------------------------------------


def _one_sided_on_the_silent_side(con: duckdb.DuckDBPyConnection, kind: str) -> tuple[int, int]:
    return con.execute(
        f"""SELECT count(*), count(*) FILTER (CASE side WHEN 'X' THEN declared_export_usd IS NULL
                                               AND declared_import_usd IS NOT NULL
                                               ELSE declared_import_usd IS NULL
                                               AND declared_export_usd IS NOT NULL END)
            FROM d WHERE kind = '{kind}'"""
    ).fetchone()


def test_a_late_release_leaves_one_period_of_one_reporter_missing(
    world: Path, loaded: duckdb.DuckDBPyConnection
) -> None:
    reporters = _csv(world, "reporters.csv")
    late = reporters[reporters.role == "late_release"]
    assert len(late) == 1
    iso = late.iso3.iloc[0]
    missing = late.missing_periods.iloc[0].split()  # e.g. A 2021 M 202210
    periods = dict(zip(missing[::2], missing[1::2], strict=True))
    assert set(periods) == {"A", "M"}
    for freq, period in periods.items():
        rows = dict(
            loaded.execute(
                """SELECT period = ?, count(*) FROM latest WHERE "reporterISO" = ?
                   AND "freqCode" = ? GROUP BY 1""",
                [period, iso, freq],
            ).fetchall()
        )
        assert rows.get(True, 0) == 0 and rows.get(False, 0) > 0
        # every declaration a partner made about it in that period is a planted key
        unplanted = _one(
            loaded,
            """
            SELECT count(*) FROM latest l
            ANTI JOIN d ON d.kind = 'partner_not_reported' AND d.freq = l."freqCode"
                AND d.period = l.period AND d.hs6 = l."cmdCode"
                AND ((l."flowCode" = 'X' AND d.exporter_iso3 = l."reporterISO"
                      AND d.importer_iso3 = l."partnerISO")
                  OR (l."flowCode" = 'M' AND d.importer_iso3 = l."reporterISO"
                      AND d.exporter_iso3 = l."partnerISO"))
            WHERE l."partnerISO" = ? AND l."freqCode" = ? AND l.period = ?
              AND l."flowCode" IN ('X', 'M') AND l."partner2Code" = '0'
            """,
            [iso, freq, period],
        )
        assert unplanted == 0
    n, one_sided = _one_sided_on_the_silent_side(loaded, "partner_not_reported")
    assert n == one_sided > 0


def test_non_reporting_country_appears_only_as_a_partner(
    world: Path, loaded: duckdb.DuckDBPyConnection
) -> None:
    reporters = _csv(world, "reporters.csv")
    silent = reporters[reporters.role == "non_reporting"].iso3.tolist()
    assert len(silent) == 1
    assert _one(loaded, """SELECT count(*) FROM raw.comtrade_final
                           WHERE "reporterISO" IN (SELECT unnest(?))""", [silent]) == 0  # fmt: skip
    assert _one(loaded, """SELECT count(*) FROM raw.comtrade_final
                           WHERE "partnerISO" IN (SELECT unnest(?))""", [silent]) > 0  # fmt: skip
    n, one_sided = _one_sided_on_the_silent_side(loaded, "non_reporting")
    assert n == one_sided > 0


def test_a_reporter_omits_declarations_below_its_threshold(
    world: Path, loaded: duckdb.DuckDBPyConnection
) -> None:
    reporters = _csv(world, "reporters.csv")
    thr = reporters[reporters.role == "reporting_threshold"]
    assert len(thr) == 1
    below, above = loaded.execute(
        """SELECT count(*) FILTER (v < CASE "freqCode" WHEN 'A' THEN ? ELSE ? END),
                  count(*) FROM latest WHERE "reporterISO" = ?""",
        [SMALL.threshold_usd_annual, SMALL.threshold_usd_monthly, thr.iso3.iloc[0]],
    ).fetchone()
    assert below == 0 and above > 0
    n, one_sided = _one_sided_on_the_silent_side(loaded, "reporting_threshold")
    assert n == one_sided > 0


# ---- memory and the command line ---------------------------------------------------------------

_PEAK_SCRIPT = """
import resource, sys, tempfile
from pathlib import Path
from mirror_tools.generate.world import WorldConfig, generate_world
years = tuple(range(2025 - int(sys.argv[1]), 2025))
with tempfile.TemporaryDirectory() as d:
    s = generate_world(WorldConfig(reporters=16, products=16, years=years, seed=5), Path(d),
                       progress=False, log=lambda m: None)
print(s["declarations"], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_memory_does_not_grow_with_the_size_of_the_world() -> None:
    def run(years: int) -> tuple[int, int]:
        out = subprocess.run(
            [sys.executable, "-c", _PEAK_SCRIPT, str(years)],
            capture_output=True,
            text=True,
            check=True,
        )
        declarations, peak_kb = map(int, out.stdout.split()[-2:])
        return declarations, peak_kb

    small, small_peak = run(1)
    large, large_peak = run(10)
    assert large > 8 * small and large > 100_000
    assert large_peak < small_peak * 1.25 + 20_000, (small_peak, large_peak)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mirror")
    add_generate_parser(parser.add_subparsers(dest="command"))
    return parser


def test_cli_sizes_a_world_from_a_target_and_teaches() -> None:
    parser = argparse.ArgumentParser(prog="mirror")
    gen_help = add_generate_parser(parser.add_subparsers(dest="command")).format_help()
    for word in (
        "--target-declarations",
        "ground_truth",
        "899",
        "released-",
        "--gzip",
        "--rate-scale",
        "nes_partner",
        "re_export",
        "below_threshold",
        "fobvalue",
    ):
        assert word in gen_help, word  # fmt: skip
    args = parser.parse_args(
        ["generate", "--out", "x", "--target-declarations", "200000", "--years", "2023-2024"]
    )
    cfg = config_from_args(args)
    assert cfg.years == (2023, 2024) and cfg.freq == "AM"
    expected = World.build(cfg).expected_rows_per_year() * len(cfg.years)
    assert 150_000 < expected < 250_000


def test_cli_target_size_of_an_annual_only_world() -> None:
    """`mirror generate --target-declarations 2e5 --freq A` raised TypeError (issue 13)."""
    args = _parser().parse_args(
        ["generate", "--out", "x", "--target-declarations", "2e5", "--freq", "A"]
    )
    cfg = config_from_args(args)
    assert cfg.freq == "A"
    expected = World.build(cfg).expected_rows_per_year() * len(cfg.years)
    assert 150_000 < expected < 250_000


def test_cli_rates_corridors_and_reexports() -> None:
    args = _parser().parse_args(["generate", "--out", "x", "--rate-scale", "3"])
    cfg = config_from_args(args)
    base = WorldConfig()
    assert cfg.rate_nes_partner == pytest.approx(3 * base.rate_nes_partner)
    assert cfg.rate_misclassification == pytest.approx(3 * base.rate_misclassification)
    args = _parser().parse_args(["generate", "--out", "x", "--corridors", "2", "--reexports", "3"])
    world = World.build(replace(config_from_args(args), reporters=20, products=40))
    assert len(world.corridors) == 2 and len(world.reexports) == 3
    assert {c.consignment for c in world.corridors} == {True, False}
    with pytest.raises(ValueError, match="rate-scale"):
        config_from_args(_parser().parse_args(["generate", "--out", "x", "--rate-scale", "-1"]))
