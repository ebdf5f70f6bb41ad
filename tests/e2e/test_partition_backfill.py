"""A backfill of some period partitions, as the Dagster UI launches it, rebuilds exactly those
periods (issue 15: "Backfills from the Dagster UI work").

The sample is built by `mirror run` (its warehouse copied: the full build). Then rows of two
periods of `marts.fct_declarations` (a period model) are deleted behind Dagster's back: one in
the backfilled range, one outside it. A run of the transform job over the range of partitions
`M:202402`..`M:202404` (the run a single-run backfill launches: the range's tags, one dbt
build) must put back the period inside the range and leave the one outside as it is: only the
partitions of the run were rebuilt. A run of the partition `A:2022` alone puts back the other;
then every marts table equals the full build's (benchmarks/compare_warehouses.py), the
estimates kept with their vintage. Last, a run of one period model alone for one partition (a
run of some assets from the UI) leaves the models downstream of it behind: it must say so, and
make every period due for the next planned build.

The runs use the Dagster API in a child process (its environment is the home's, as `dagster
dev` would have it), with the run tags Dagster's backfill daemon gives a single-run backfill
(`dagster/asset_partition_range_start`/`_end`) or a single partition (`partition_key`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from benchmarks.compare_warehouses import compare
from dagster_project.transform.build_plan import PLANNED_TAG, BuildPlan
from dagster_project.transform.partitions import planned_build
from tests.conftest import REPO_ROOT, SAMPLE_COMTRADE
from tests.e2e.conftest import MirrorRun, clean_environment, mirror_run

pytestmark = pytest.mark.e2e

RANGE = ("M:202402", "M:202404")
INSIDE = ("M", "202403")  # deleted, then rebuilt by the run of RANGE
OUTSIDE = ("A", "2022")  # deleted, left as it is by that run; rebuilt by its own partition

# a run of the transform job over some partitions, through the Dagster API; prints what it
# materialized: the period models' partitions and the plan the dbt step logged
_LAUNCH = """
import json, sys
import dagster as dg
from dagster_project.definitions import defs
from dagster_project.jobs import TRANSFORM_JOB_NAME

start, end = sys.argv[1], sys.argv[2]
selection = [dg.AssetKey(k.split("/")) for k in sys.argv[3:]] or None
job = defs.resolve_job_def(TRANSFORM_JOB_NAME)
with dg.DagsterInstance.get() as instance:
    if start == end:
        result = job.execute_in_process(instance=instance, partition_key=start,
                                        asset_selection=selection, raise_on_error=False)
    else:
        result = job.execute_in_process(
            instance=instance, raise_on_error=False,
            tags={"dagster/asset_partition_range_start": start,
                  "dagster/asset_partition_range_end": end})
    partitions = sorted({
        m.partition for m in (
            e.step_materialization_data.materialization for e in result.all_events
            if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION)
        if m.partition is not None})
    logs = [e.user_message for e in instance.all_logs(result.run_id)]
    plans = [m.split("dbt build plan: ", 1)[1] for m in logs if "dbt build plan: " in m]
    behind = [m for m in logs if "period models built without" in m]
print(json.dumps({"success": result.success, "partitions": partitions, "plans": plans,
                  "behind": behind}))
"""


@dataclass(frozen=True)
class Launched:
    success: bool
    partitions: list[str]
    plans: list[str]
    behind: list[str]  # the dbt step's warning that models downstream were left behind


def _launch(run: MirrorRun, start: str, end: str, *assets: str) -> Launched:
    proc = subprocess.run(
        [sys.executable, "-c", _LAUNCH, start, end, *assets],
        cwd=REPO_ROOT,
        env=clean_environment(
            MIRROR_HOME=str(run.home),
            MIRROR_LANDING=str(run.landing),
            DAGSTER_HOME=str(run.home / "dagster"),
        ),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return Launched(**json.loads(proc.stdout.strip().splitlines()[-1]))


def _count(warehouse: Path, freq: str, period: str) -> int:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        sql = "SELECT count(*) FROM marts.fct_declarations WHERE freq = ? AND period = ?"
        return int(con.execute(sql, [freq, period]).fetchone()[0])  # type: ignore[index]
    finally:
        con.close()


@dataclass(frozen=True)
class Backfills:
    full: Path  # the warehouse of the first, full build
    before: dict[tuple[str, str], int]  # rows of INSIDE and OUTSIDE in the full build
    ranged: Launched
    after_range: dict[tuple[str, str], int]
    single: Launched
    home: MirrorRun


@pytest.fixture(scope="module")
def backfills(tmp_path_factory: pytest.TempPathFactory) -> Backfills:
    root = tmp_path_factory.mktemp("backfill")
    run = mirror_run(root / "home", SAMPLE_COMTRADE.parent)
    assert run.returncode == 0, run.stdout + run.stderr
    full = root / "full.duckdb"
    shutil.copyfile(run.warehouse, full)
    before = {p: _count(full, *p) for p in (INSIDE, OUTSIDE)}
    con = duckdb.connect(str(run.warehouse))
    try:
        for freq, period in (INSIDE, OUTSIDE):
            con.execute(
                "DELETE FROM marts.fct_declarations WHERE freq = ? AND period = ?", [freq, period]
            )
    finally:
        con.close()
    ranged = _launch(run, *RANGE)
    after_range = {p: _count(run.warehouse, *p) for p in (INSIDE, OUTSIDE)}
    single = _launch(run, ":".join(OUTSIDE), ":".join(OUTSIDE))
    return Backfills(full, before, ranged, after_range, single, run)


def test_a_run_of_a_range_of_partitions_rebuilds_exactly_those_periods(
    backfills: Backfills,
) -> None:
    ranged = backfills.ranged
    assert ranged.success
    assert ranged.plans == [
        "3 period(s) (the partitions of this run): M:202402, M:202403, M:202404"
    ]
    assert ranged.partitions == ["M:202402", "M:202403", "M:202404"]
    assert all(backfills.before.values()), backfills.before
    assert backfills.after_range[INSIDE] == backfills.before[INSIDE]  # rebuilt
    assert backfills.after_range[OUTSIDE] == 0  # not a partition of the run: left as it was


def test_a_run_of_one_partition_then_gives_the_full_build(backfills: Backfills) -> None:
    single = backfills.single
    assert single.success
    assert single.plans == ["1 period(s) (the partitions of this run): A:2022"]
    assert single.partitions == ["A:2022"]
    problems = compare(backfills.full, backfills.home.warehouse, ["marts"], set(), out=print)
    assert problems == []


def _planned(warehouse: Path) -> BuildPlan:
    """What the next `mirror run` would build (it asks the same before its transform run)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return planned_build(con, {PLANNED_TAG: "true"})
    finally:
        con.close()


def test_a_run_of_one_period_model_alone_makes_every_period_due(backfills: Backfills) -> None:
    """A run from the UI of the paired flows alone, for one month, rebuilds that month of a
    period model and none of the trailing models that read it (the gaps, the classification,
    fct_mirror_trade...). The dbt step must see that from the whole asset graph (in a subset
    run Dagster's ``assets_def.keys`` are the selected keys only, which hid it until 6
    December), warn with what it left behind, and empty the build record, so the next planned
    build rebuilds every period, estimates kept."""
    run = backfills.home
    before = _planned(run.warehouse)
    assert before.kind == "periods" and not before.periods, before.describe()  # all built
    subset = _launch(run, "M:202403", "M:202403", "intermediate/int_mirror__flows_paired")
    assert subset.success
    assert subset.partitions == ["M:202403"]
    assert len(subset.behind) == 1, subset.behind
    # what was left behind, named: the trailing models and what they feed (27 today), the
    # first four by name
    found = re.match(
        r"period models built without (\d+) model\(s\) downstream of them \((.*?)\): ",
        subset.behind[0],
    )
    assert found and int(found.group(1)) > 10, subset.behind[0]
    assert found.group(2).startswith("fct_mirror_trade, ") and found.group(2).endswith(", ...")
    assert "the next planned build rebuilds every period" in subset.behind[0]
    # every version counts as changed, the reference tables' too, whose periods are not known
    after = _planned(run.warehouse)
    assert after.kind == "all_periods", after.describe()
    assert after.describe().startswith("every period, estimates kept"), after.describe()
