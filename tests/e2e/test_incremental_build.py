"""The guarantee of the incremental build (issue 15): building only the periods a change
touches gives the marts a full rebuild with the same estimate vintage gives, byte for byte.

On the embedded sample: its last month (202412) is held back and the rest built (the
estimates computed: vintage V1); then the month arrives as a file of its own, with a revision
of one reporter-year (KAZ 2020, a later release), and only those two periods are built; then
`mirror run --rebuild` builds every period again with V1 kept, and every marts table must be
identical to the incremental result (benchmarks/compare_warehouses.py: same rows, and the same
text of every value in sorted order). Then, on a copy of that home, `mirror run
--refresh-estimates` computes every estimate again (vintage V2, the reliability scores
following the revision), and must equal a build of the same landing from nothing, but for the
vintage. Its decision is unit-tested too (tests/unit/test_build_plan.py).
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from benchmarks.compare_warehouses import compare
from tests.conftest import SAMPLE_COMTRADE
from tests.e2e.conftest import MirrorRun, assets_of_transform_runs, mirror_run

HELD_BACK_MONTH = "202412"
MONTH_FILE = f"comtrade_final_M_ALL_{HELD_BACK_MONTH}_released-2025-07-31.csv"
REVISED_FILE = "comtrade_final_A_KAZ_2020_released-2025-09-30.csv"
REVISED_SOURCE = "comtrade_final_A_KAZ_2019-2024_released-2025-06-30.csv"
REVISION_FACTOR = 1.001


def _split_sample(landing: Path) -> list[dict[str, str]]:
    """The sample into ``landing/comtrade`` without the held-back month; its rows returned."""
    target = landing / "comtrade"
    target.mkdir(parents=True)
    held: list[dict[str, str]] = []
    for path in sorted(SAMPLE_COMTRADE.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            fields = list(reader.fieldnames or [])
            rows = list(reader)
        kept = [r for r in rows if r["period"] != HELD_BACK_MONTH]
        held += [r for r in rows if r["period"] == HELD_BACK_MONTH]
        _write(target / path.name, fields, kept)
    assert held, f"the sample has no rows of {HELD_BACK_MONTH}"
    return held


def _write(path: Path, fields: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _fields() -> list[str]:
    with (SAMPLE_COMTRADE / REVISED_SOURCE).open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f).fieldnames or [])


def _revision_of_kaz_2020() -> tuple[list[dict[str, str]], dict[str, str]]:
    """KAZ's 2020 annual rows re-delivered, its largest declaration 0.1 % higher (a revision
    within tolerance: the sample's blocking checks still pass and the run publishes)."""
    with (SAMPLE_COMTRADE / REVISED_SOURCE).open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["period"] == "2020"]
    totals = [  # a total declaration of an HS6 code to a partner, no breakdown
        r
        for r in rows
        if r["aggrLevel"] == "6"
        and r["flowCode"] in ("X", "M")
        and r["partnerCode"] != "0"
        and r["partner2Code"] in ("", "0")
        and r["customsCode"] in ("", "C00")
        and r["motCode"] in ("", "0")
        and r["mosCode"] in ("", "0")
    ]
    largest = max(totals, key=lambda r: float(r["primaryValue"] or 0))
    for column in ("primaryValue", "fobvalue", "cifvalue"):
        if largest[column]:
            largest[column] = f"{float(largest[column]) * REVISION_FACTOR:.2f}"
    return rows, largest


def _dbt_build_line(run: MirrorRun) -> str:
    """The build plan the dbt step logged, from this run's own log (the summary names it)."""
    log_lines = [line for line in run.stdout.splitlines() if line.startswith("Log:")]
    assert log_lines, f"no log in the summary:\n{run.stdout}"
    log = Path(log_lines[0].split()[1]).read_text(encoding="utf-8")
    plans = [line for line in log.splitlines() if "mirror_dbt_assets - dbt build plan: " in line]
    assert len(plans) == 1, f"not one build plan in the run's log: {plans}"
    return plans[0].split("dbt build plan: ", 1)[1]


def _periods_rebuilt(run: MirrorRun) -> dict[str, str]:
    """What each window model and trailing model rebuilt, as the dbt step logged it (macros
    delete_window_periods and delete_trailing_periods: its periods, as freq:period)."""
    log = Path(run.stdout.split("Log:", 1)[1].split()[0]).read_text(encoding="utf-8")
    found = {}
    for line in log.splitlines():
        if " - mirror_dbt_assets - dbt: " not in line:
            continue
        if ": periods rebuilt: " in line:
            model, rebuilt = line.split(" - dbt: ", 1)[1].split(": periods rebuilt: ")
            found[model] = rebuilt.strip()
    return found


def _query(warehouse: Path, sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _reliability_years_changed(before: Path, after: Path) -> set[str]:
    """The years whose reliability scores differ between two warehouses (its vintage aside)."""
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{before}' AS before (READ_ONLY)")
        con.execute(f"ATTACH '{after}' AS after (READ_ONLY)")
        table = "marts.fct_reporter_reliability"
        columns = "* EXCLUDE (estimate_vintage)"
        rows = con.execute(
            f"SELECT DISTINCT period_year::VARCHAR FROM ((SELECT {columns} FROM after.{table} "
            f"EXCEPT ALL SELECT {columns} FROM before.{table}) UNION ALL (SELECT {columns} FROM "
            f"before.{table} EXCEPT ALL SELECT {columns} FROM after.{table}))"
        ).fetchall()
    finally:
        con.close()
    return {row[0] for row in rows}


def _vintages(warehouse: Path, table: str) -> set[object]:
    return {r[0] for r in _query(warehouse, f"SELECT DISTINCT estimate_vintage FROM {table}")}


@dataclass(frozen=True)
class Builds:
    """The three runs (one home) and a copy of the warehouse after each of the first two."""

    first: MirrorRun
    first_copy: Path
    incremental: MirrorRun
    incremental_copy: Path
    full: MirrorRun


def build_change_and_rebuild(root: Path, landing: Path, change: Callable[[], None]) -> Builds:
    """Build ``landing`` in a new home under ``root``, apply ``change`` to the landing files,
    build again (the incremental build), then ``--rebuild``; copies of the warehouse after the
    first two."""
    home = root / "home"
    first = mirror_run(home, landing)
    assert first.returncode == 0, first.stdout + first.stderr
    first_copy = root / "first.duckdb"
    shutil.copyfile(home / "mirror.duckdb", first_copy)
    change()
    incremental = mirror_run(home, landing)
    assert incremental.returncode == 0, incremental.stdout + incremental.stderr
    incremental_copy = root / "incremental.duckdb"
    shutil.copyfile(home / "mirror.duckdb", incremental_copy)
    full = mirror_run(home, landing, "--rebuild")
    assert full.returncode == 0, full.stdout + full.stderr
    return Builds(first, first_copy, incremental, incremental_copy, full)


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Builds]:
    root = tmp_path_factory.mktemp("incremental")
    landing = root / "landing"
    held = _split_sample(landing)

    def add_the_month_and_a_revision() -> None:
        _write(landing / "comtrade" / MONTH_FILE, _fields(), held)
        rows, _largest = _revision_of_kaz_2020()
        _write(landing / "comtrade" / REVISED_FILE, _fields(), rows)

    yield build_change_and_rebuild(root, landing, add_the_month_and_a_revision)


def test_the_first_build_computes_the_estimates_and_stamps_every_row(builds: Builds) -> None:
    assert _dbt_build_line(builds.first).startswith(
        "estimates refreshed (no build recorded in this warehouse), every period: vintage "
    )
    vintage = _vintages(builds.first_copy, "intermediate.int_cif_fob__margins")
    assert len(vintage) == 1 and None not in vintage
    for table in (
        "intermediate.int_reporter__noise",
        "marts.fct_mirror_trade",
        "marts.fct_reporter_reliability",
        "marts.fct_reconciled_trade",
    ):
        assert _vintages(builds.first_copy, table) == vintage, table


def test_a_new_month_and_a_revision_build_their_periods_alone(builds: Builds) -> None:
    assert _dbt_build_line(builds.incremental) == (
        f"2 period(s) (2 file version(s) changed): A:2020, M:{HELD_BACK_MONTH}"
    )
    # the timing windows and the gaps: the periods whose window reaches those periods
    # (A:2020 +/- 1 year; 202412 +/- 1 month); what judges the gaps: those window periods and
    # the recurrence windows after them (a year: itself; a month: the 11 months after it), of
    # their frequency (the annual rows of 2024 and the months before 202411 stay as they
    # are); the reporters' frequencies did not change
    window_models = ("int_mirror__timing_windows", "int_mirror__gaps")
    trailing_models = (
        "int_mirror__classification",
        "int_unallocated__claims",
        *(f"int_unallocated__step_{step}" for step in range(1, 6)),
        "int_unallocated__allocation",
        "fct_mirror_trade",
        "fct_reconciled_trade",
    )
    months = ["202411", "202412", *(f"2025{month:02d}" for month in range(1, 13))]
    assert _periods_rebuilt(builds.incremental) == {
        **dict.fromkeys(window_models, "A:2019, A:2020, A:2021, M:202411, M:202412, M:202501"),
        **dict.fromkeys(
            trailing_models, ", ".join(["A:2019", "A:2020", "A:2021", *(f"M:{m}" for m in months)])
        ),
    }
    assert _periods_rebuilt(builds.full) == dict.fromkeys(
        (*window_models, *trailing_models), "every period"
    )
    # the reliability scores are an estimate: kept as they were, though KAZ's revised year
    # would move the scores of 2020 (and a new month those of 2024)
    assert _reliability_years_changed(builds.first_copy, builds.incremental_copy) == set()
    # the snapshot of the reporters' frequencies went with the successful build
    snapshots = "select count(*) from duckdb_tables() where schema_name = 'build' and table_name like '%_before%'"
    assert _query(builds.incremental_copy, snapshots) == [(0,)]
    count = f"SELECT count(*) FROM marts.fct_declarations WHERE period = '{HELD_BACK_MONTH}'"
    assert _query(builds.first_copy, count) == [(0,)]
    assert _query(builds.incremental_copy, count)[0][0] > 0
    # the estimates are kept: the new month's rows carry the first build's vintage
    assert _vintages(builds.incremental_copy, "marts.fct_mirror_trade") == _vintages(
        builds.first_copy, "intermediate.int_cif_fob__margins"
    )


def test_a_revised_reporter_year_is_rebuilt(builds: Builds) -> None:
    _rows, largest = _revision_of_kaz_2020()
    revised_value = float(largest["primaryValue"])

    def kaz_2020(warehouse: Path) -> tuple[float, int]:
        rows = _query(
            warehouse,
            "SELECT sum(value_usd), count(*) FILTER (WHERE is_revised) "
            "FROM marts.fct_declarations "
            "WHERE freq = 'A' AND period = '2020' AND reporter_iso3 = 'KAZ'",
        )
        return rows[0]  # type: ignore[return-value]

    before, revised_before = kaz_2020(builds.first_copy)
    after, revised_after = kaz_2020(builds.incremental_copy)
    assert revised_before == 0 and revised_after > 0
    assert after - before == pytest.approx(
        revised_value - revised_value / REVISION_FACTOR, rel=1e-3
    )


def _transform_runs(home: Path) -> list[tuple[str, str]]:
    """The partition range of every transform run of the home, oldest first."""
    from dagster import DagsterInstance
    from dagster._core.storage.dagster_run import RunsFilter
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    from dagster_project.jobs import TRANSFORM_JOB_NAME

    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        runs = instance.get_runs(filters=RunsFilter(job_name=TRANSFORM_JOB_NAME))
        return [
            (r.tags[ASSET_PARTITION_RANGE_START_TAG], r.tags[ASSET_PARTITION_RANGE_END_TAG])
            for r in reversed(runs)
        ]


def _materialized_periods(home: Path) -> tuple[list[str], set[str]]:
    """Every period partition, and those Dagster records as materialized for a period model."""
    from dagster import AssetKey, DagsterInstance

    from dagster_project.jobs import PERIOD_PARTITIONS_NAME

    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        keys = instance.get_dynamic_partitions(PERIOD_PARTITIONS_NAME)
        done = instance.get_materialized_partitions(
            AssetKey(["intermediate", "int_mirror__flows_paired"])
        )
        return list(keys), set(done)


def test_dagster_records_the_periods_a_run_built_not_all_history(builds: Builds) -> None:
    """The transform run of `mirror run` covers the partitions its plan builds (the range from
    the first to the last in Dagster's order: A:2020 .. M:202412, the month added last), every
    period for a first build and a rebuild; Dagster's record stays complete either way."""
    keys, done = _materialized_periods(builds.full.home)
    first, incremental, full = _transform_runs(builds.full.home)
    assert first == (keys[0], keys[-2]) and keys[-1] == f"M:{HELD_BACK_MONTH}"
    assert incremental == ("A:2020", f"M:{HELD_BACK_MONTH}")
    assert full == (keys[0], keys[-1])
    assert done == set(keys)


def test_the_incremental_run_builds_what_comtrade_feeds_and_is_recorded(builds: Builds) -> None:
    """Comtrade files changed, nothing else: the run selects what is downstream of Comtrade's
    raw table (transform/scope.py), leaves the seeds, the reference tables, the other
    sources' staging and the kept estimates as they are, and still counts as a complete build
    (its record is the registry now: the next run plans from it)."""
    first, incremental, full = assets_of_transform_runs(builds.full.home)
    left_alone = {
        "marts/dim_product",
        "reference/mirror_tolerances",
        "staging/stg_comext__monthly",
        "intermediate/int_cif_fob__margins",
        "marts/fct_reporter_reliability",
    }
    built = {"marts/fct_mirror_trade", "marts/fct_declarations", "published/mirror_warehouse"}
    assert left_alone | built <= first and left_alone | built <= full
    assert built <= incremental and not left_alone & incremental
    unrecorded = _query(
        builds.incremental_copy,
        "SELECT count(*) FROM (SELECT path, sha256, status, source FROM raw.file_registry "
        "EXCEPT SELECT path, sha256, status, source FROM build.file_versions)",
    )
    assert unrecorded == [(0,)]


def test_incremental_builds_equal_a_full_rebuild_with_the_same_vintage(builds: Builds) -> None:
    assert _dbt_build_line(builds.full) == "every period, estimates kept (asked)"
    assert _vintages(builds.full.warehouse, "marts.fct_mirror_trade") == _vintages(
        builds.first_copy, "intermediate.int_cif_fob__margins"
    )
    problems = compare(builds.incremental_copy, builds.full.warehouse, ["marts"], set(), out=print)
    assert problems == []


ESTIMATES = (
    "intermediate.int_cif_fob__margins",
    "intermediate.int_reporter__noise",
    "intermediate.int_transit__corridors",
    "marts.fct_reporter_reliability",
)


def test_a_refresh_recomputes_the_estimates_as_a_build_from_nothing_would(
    builds: Builds, tmp_path: Path
) -> None:
    home = tmp_path / "refreshed"
    shutil.copytree(builds.full.home, home, symlinks=True)
    refreshed = mirror_run(home, builds.full.landing, "--refresh-estimates")
    assert refreshed.returncode == 0, refreshed.stdout + refreshed.stderr
    assert _dbt_build_line(refreshed).startswith(
        "estimates refreshed (asked), every period: vintage "
    )
    (old,) = _vintages(builds.first_copy, "intermediate.int_cif_fob__margins")
    (new,) = _vintages(refreshed.warehouse, "intermediate.int_cif_fob__margins")
    assert new != old
    for table in (*ESTIMATES, "marts.fct_mirror_trade", "marts.fct_reconciled_trade"):
        assert _vintages(refreshed.warehouse, table) == {new}, table
    # the scores follow the revised KAZ 2020 now
    assert "2020" in _reliability_years_changed(builds.incremental_copy, refreshed.warehouse)
    fresh = mirror_run(tmp_path / "fresh", builds.full.landing)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    problems = compare(
        refreshed.warehouse, fresh.warehouse, ["marts"], {"estimate_vintage"}, out=print
    )
    assert problems == []
