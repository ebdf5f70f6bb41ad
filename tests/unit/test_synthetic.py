"""The synthetic world (`mirror generate`): deterministic, ingestible, flat memory, honest truth."""

from __future__ import annotations

import argparse
import filecmp
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from dagster_project.ingest.loader import ingest_files
from dagster_project.settings import REFERENCE_DIR
from dagster_project.sources import comtrade, reference
from dagster_project.synthetic import WorldConfig, generate_world
from dagster_project.synthetic.cli import add_generate_parser, config_from_args

# rates raised so that a small world carries every kind of distortion
SMALL = WorldConfig(
    reporters=12,
    products=14,
    years=(2023, 2024),
    freq="AM",
    seed=11,
    rate_misclassification=0.03,
    rate_unit_error=0.03,
    rate_confidential=0.03,
    rate_timing_lag=0.03,
    rate_revision=0.01,
)


def _generate(cfg: WorldConfig, out: Path) -> dict:
    return generate_world(cfg, out, progress=False, log=lambda _m: None)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    _generate(SMALL, out)
    return out


@pytest.fixture(scope="module")
def loaded(world: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for ref in reference.REFERENCE_TABLES:
        reference.load_reference_table(con, ref, REFERENCE_DIR)
    comtrade.SPEC.ensure_tables(con)
    files = sorted((world / "landing" / "comtrade").iterdir())
    outcomes = ingest_files(con, comtrade.SPEC, files, log=lambda _m: None)
    con.execute("CREATE TEMP TABLE outcomes (name VARCHAR, status VARCHAR, q BIGINT)")
    con.executemany(
        "INSERT INTO outcomes VALUES (?, ?, ?)",
        [(o.path.name, o.status, o.rows_quarantined or 0) for o in outcomes],
    )
    return con


def _gt(world: Path, name: str) -> str:
    return f"read_parquet('{world / 'ground_truth' / name}')"


def test_same_seed_same_bytes_and_another_seed_differs(tmp_path: Path, world: Path) -> None:
    cfg = WorldConfig(reporters=8, products=6, years=(2024,), seed=3, gzip=True)
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    _generate(cfg, a)
    _generate(cfg, b)
    _generate(WorldConfig(reporters=8, products=6, years=(2024,), seed=4, gzip=True), c)
    names = sorted(p.name for p in (a / "landing" / "comtrade").iterdir())
    assert names and all(n.endswith(".csv.gz") for n in names)
    assert names == sorted(p.name for p in (b / "landing" / "comtrade").iterdir())
    for n in names:
        assert filecmp.cmp(a / "landing" / "comtrade" / n, b / "landing" / "comtrade" / n, False)
    for n in ("reporters.csv", "files.csv", "corridors/transit_corridors.csv"):
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


def test_files_ingest_through_the_real_loader(loaded: duckdb.DuckDBPyConnection) -> None:
    statuses = dict(
        loaded.execute("SELECT status, count(*) FROM outcomes GROUP BY status").fetchall()
    )
    assert statuses.get("duplicate") == 1  # the planted copy under another name
    assert set(statuses) == {"loaded", "duplicate"}
    assert loaded.execute("SELECT sum(q) FROM outcomes").fetchone()[0] == 0
    assert loaded.execute("SELECT count(*) FROM raw.quarantine").fetchone()[0] == 0
    cols = [r[0] for r in loaded.execute("DESCRIBE raw.comtrade_final").fetchall()][:47]
    assert cols == list(comtrade.COLUMNS)


def test_world_shape_real_codes_and_skew(world: Path, loaded: duckdb.DuckDBPyConnection) -> None:
    unknown_hs = loaded.execute(
        'SELECT count(*) FROM raw.comtrade_final WHERE "cmdCode" NOT IN '
        "(SELECT id FROM raw.ref_hs2022_products)"
    ).fetchone()[0]
    assert unknown_hs == 0
    flows = _gt(world, "true_flows.parquet")
    # skew: the top 10 % of annual flows carry most of the value; the matrix is sparse
    top_share, n_flows = duckdb.execute(
        f"""
        WITH a AS (SELECT true_value_fob_usd v, row_number() OVER (ORDER BY v DESC) r,
                          count(*) OVER () n FROM {flows} WHERE freq = 'A')
        SELECT sum(v) FILTER (r <= n / 10) / sum(v), max(n) FROM a
        """
    ).fetchone()
    assert top_share > 0.5
    cells = SMALL.reporters * (SMALL.reporters - 1) * SMALL.products * len(SMALL.years)
    assert n_flows < 0.8 * cells
    # margins grow with distance
    info = json.loads((world / "ground_truth" / "world.json").read_text())
    assert (
        info["declarations"]
        == loaded.execute("SELECT count(*) FROM raw.comtrade_final").fetchone()[0]
    )


def test_ground_truth_matches_what_was_written(
    world: Path, loaded: duckdb.DuckDBPyConnection
) -> None:
    d = _gt(world, "distortions.parquet")
    raw = "raw.comtrade_final"
    # revisions: one row per re-delivered record in the later release
    planted = duckdb.execute(f"SELECT count(*) FROM {d} WHERE kind = 'revision'").fetchone()[0]
    written = loaded.execute(
        f"SELECT count(*) FROM {raw} WHERE _source_file LIKE '%released-2025-09-30%'"
    ).fetchone()[0]
    assert planted == written > 0
    # confidential flows: every 899 row written is a planted key, and the reverse
    loaded.execute(f"CREATE TEMP TABLE d AS SELECT * FROM {d}")
    nes = loaded.execute(
        f"""
        SELECT count(*) FROM {raw} r WHERE "partnerCode" = '899' AND "partner2Code" = '0'
        """
    ).fetchone()[0]
    keys = loaded.execute("SELECT count(*) FROM d WHERE kind = 'confidential_partner'").fetchone()[
        0
    ]
    assert nes == keys > 0
    # unit errors: the weight of the planted side is 1/1000 of the other side's
    ratios = loaded.execute(
        f"""
        WITH t AS (
            SELECT "freqCode" f, period, "reporterISO" rep, "flowCode" fl, "partnerISO" par,
                   "cmdCode" hs6, "netWgt"::DOUBLE w
            FROM {raw} WHERE "partner2Code" = '0' AND _source_file NOT LIKE '%2025-09-30%'
        )
        SELECT x.w / m.w FROM d
        JOIN t x ON x.fl = 'X' AND x.f = d.freq AND x.period = d.period
             AND x.rep = d.exporter_iso3 AND x.par = d.importer_iso3 AND x.hs6 = d.hs6
        JOIN t m ON m.fl = 'M' AND m.f = d.freq AND m.period = d.period
             AND m.rep = d.importer_iso3 AND m.par = d.exporter_iso3 AND m.hs6 = d.hs6
        WHERE d.kind = 'unit_error'
        """
    ).fetchall()
    assert ratios
    assert all(0.0009 < r < 0.0011 or 900 < r < 1100 for (r,) in ratios)
    # corridors: seeds written, and the origin never declares the destinations directly
    seeds = world / "ground_truth" / "corridors"
    corridor = duckdb.execute(
        f"SELECT * FROM read_csv('{seeds / 'transit_corridors.csv'}', all_varchar = true)"
    ).fetchone()
    dests = [
        r[0]
        for r in duckdb.execute(
            f"SELECT importer_iso3 FROM read_csv('{seeds / 'transit_corridor_importers.csv'}')"
        ).fetchall()
    ]
    direct = loaded.execute(
        f"""SELECT count(*) FROM {raw} WHERE "reporterISO" = ? AND "flowCode" = 'X'
            AND starts_with("cmdCode", ?) AND "partnerISO" IN (SELECT unnest(?))""",
        [corridor[1], corridor[3], dests],
    ).fetchone()[0]
    assert direct == 0 and len(dests) >= 2
    transit = loaded.execute("SELECT count(*) FROM d WHERE kind = 'transit'").fetchone()[0]
    assert transit > 0
    # every planted kind is there, each key with its expectation
    kinds = {r[0] for r in loaded.execute("SELECT DISTINCT kind FROM d").fetchall()}
    assert {"transit", "timing_lag", "misclassification", "unit_error", "confidential",
            "confidential_partner", "revision", "unreliable_reporter"} <= kinds  # fmt: skip
    assert loaded.execute("SELECT count(*) FROM d WHERE expected IS NULL").fetchone()[0] == 0
    # the duplicate is byte-identical to its original
    files = duckdb.execute(
        f"SELECT file, kind FROM read_csv('{world / 'ground_truth' / 'files.csv'}') "
        "WHERE kind LIKE 'duplicate_of:%'"
    ).fetchall()
    assert len(files) == 1
    folder = world / "landing" / "comtrade"
    assert filecmp.cmp(folder / files[0][0], folder / files[0][1].split(":", 1)[1], False)
    # the ground truth is not inside the landing zone
    assert not list(folder.rglob("*.parquet"))


_PEAK_SCRIPT = """
import resource, sys, tempfile
from pathlib import Path
from dagster_project.synthetic import WorldConfig, generate_world
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


def test_cli_sizes_a_world_from_a_target_and_teaches() -> None:
    parser = argparse.ArgumentParser(prog="mirror")
    sub = parser.add_subparsers(dest="command")
    gen = add_generate_parser(sub)
    help_text = gen.format_help()
    for word in ("--target-declarations", "ground_truth", "899", "released-", "--gzip"):
        assert word in help_text
    args = parser.parse_args(
        ["generate", "--out", "x", "--target-declarations", "200000", "--years", "2023-2024"]
    )
    cfg = config_from_args(args)
    assert cfg.years == (2023, 2024) and cfg.freq == "AM"
    from dagster_project.synthetic.world import World

    expected = World.build(cfg).expected_rows_per_year() * len(cfg.years)
    assert 150_000 < expected < 250_000
