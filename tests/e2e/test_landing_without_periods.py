"""A landing folder whose raw holds no period (no Comtrade or Comext row) builds and publishes.

The period models are Dagster partitions of the periods in raw (transform/partitions.py), and
Dagster cannot record a partitioned asset, nor anything downstream of it, in a run without
partitions. An energy desk with only the crude-oil registers (Eurostat, COIR) has no period
partition, ever; a first run on an empty landing folder has none yet. `mirror run` then builds
without the period models in Dagster's selection (dbt builds them apart, empty), publishes,
records the build (the next run is up to date), and a later delivery of trade files builds over
the partitions it brings.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass

import duckdb
import pytest

from tests.conftest import REPO_ROOT, SAMPLE_COMTRADE
from tests.e2e.conftest import MirrorRun, assets_of_transform_runs, mirror_run

pytestmark = pytest.mark.e2e

REAL = REPO_ROOT / "data" / "real"


@dataclass
class Runs:
    empty: MirrorRun
    energy: MirrorRun
    energy_again: MirrorRun
    energy_counts: dict[str, int]
    with_trade: MirrorRun
    trade_counts: dict[str, int]


def published_counts(run: MirrorRun) -> dict[str, int]:
    con = duckdb.connect(str(run.home / "published" / "mirror.duckdb"), read_only=True)
    try:
        return {
            table: con.execute(f"select count(*) from marts.{table}").fetchone()[0]
            for table in ("fct_crude_import_controls", "fct_declarations", "fct_mirror_trade")
        }
    finally:
        con.close()


def dbt_tests_passed(run: MirrorRun) -> int:
    [count] = re.findall(r"dbt tests +(\d+) passed", run.stdout)
    return int(count)


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    empty = mirror_run(tmp_path_factory.mktemp("empty_home"), tmp_path_factory.mktemp("empty"))
    landing = tmp_path_factory.mktemp("energy_landing")
    shutil.copytree(REAL / "eurostat", landing / "eurostat")
    shutil.copytree(REAL / "coir", landing / "coir")
    home = tmp_path_factory.mktemp("energy_home")
    energy = mirror_run(home, landing)
    energy_counts = published_counts(energy) if energy.returncode == 0 else {}
    energy_again = mirror_run(home, landing)
    shutil.copytree(SAMPLE_COMTRADE, landing / "comtrade")
    with_trade = mirror_run(home, landing)
    trade_counts = published_counts(with_trade) if with_trade.returncode == 0 else {}
    return Runs(empty, energy, energy_again, energy_counts, with_trade, trade_counts)


def test_an_empty_landing_folder_builds_and_says_raw_is_empty(runs: Runs) -> None:
    assert runs.empty.returncode == 0, runs.empty.stdout + runs.empty.stderr
    assert "NOTE: raw holds no row of any landing source: the marts are empty" in runs.empty.stdout


def test_energy_registers_alone_build_check_and_publish(runs: Runs) -> None:
    assert runs.energy.returncode == 0, runs.energy.stdout + runs.energy.stderr
    assert "gx_fct_mirror_trade_structural PASSED" in runs.energy.stdout
    assert runs.energy_counts["fct_crude_import_controls"] > 0
    assert runs.energy_counts["fct_declarations"] == runs.energy_counts["fct_mirror_trade"] == 0
    assert "NOTE: raw holds no row" not in runs.energy.stdout
    # the build was recorded as complete: the same files again change nothing
    assert runs.energy_again.returncode == 0, runs.energy_again.stdout
    assert "up to date" in runs.energy_again.stdout


def test_trade_files_delivered_later_build_over_their_partitions(runs: Runs) -> None:
    assert runs.with_trade.returncode == 0, runs.with_trade.stdout + runs.with_trade.stderr
    assert runs.trade_counts["fct_declarations"] > 0 and runs.trade_counts["fct_mirror_trade"] > 0
    # over partitions, the period models and their dbt tests are Dagster's again
    checked = assets_of_transform_runs(runs.with_trade.home, checks=True)[-1]
    assert {"intermediate/int_trade__declarations", "marts/fct_declarations"} <= checked
    assert dbt_tests_passed(runs.with_trade) > 0
    assert "fct_declarations" in runs.with_trade.stdout.split("Built:")[1]
