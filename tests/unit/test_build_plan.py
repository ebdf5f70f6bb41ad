"""What a dbt build computes (dagster_project/transform/build_plan.py): every period with new
estimates, every period with the estimates kept, or only the periods the ingest touched."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest

from dagster_project.ingest import registry
from dagster_project.ingest.sql import table_exists
from dagster_project.transform import build_plan
from dagster_project.transform.build_plan import BuildPlan, ChangedVersion, decide

VINTAGE = "2026-12-01T03:00:00Z data:abc code:def"


def _decide(**overrides: object) -> BuildPlan:
    args: dict[str, object] = {
        "refresh_asked": False,
        "all_periods_asked": False,
        "built_code": "code-1",
        "code": "code-1",
        "changed": [],
        "periods_of": {},
        "new_vintage": VINTAGE,
    }
    args.update(overrides)
    return decide(**args)  # type: ignore[arg-type]


def test_estimates_are_refreshed_when_asked_when_none_exist_and_when_the_code_changed() -> None:
    assert _decide(refresh_asked=True).kind == "refresh"
    assert _decide(built_code=None).kind == "refresh"
    changed_code = _decide(code="code-2")
    assert changed_code.kind == "refresh"
    assert changed_code.reason == "the code or rules changed"
    assert changed_code.estimate_vintage == VINTAGE
    assert changed_code.dbt_args() == ["--full-refresh"]
    assert changed_code.dbt_env() == {
        "MIRROR_BUILD_PERIODS": "null",
        "MIRROR_ESTIMATE_VINTAGE": VINTAGE,
    }


def test_rebuild_builds_every_period_and_keeps_the_estimates() -> None:
    plan = _decide(all_periods_asked=True)
    assert plan.kind == "all_periods"
    assert plan.dbt_args() == []  # no --full-refresh: the estimates stay
    assert plan.dbt_env() == {"MIRROR_BUILD_PERIODS": "null", "MIRROR_ESTIMATE_VINTAGE": ""}


def test_only_the_periods_of_changed_versions_with_rows_are_built() -> None:
    changed = [
        ChangedVersion("new.csv", "n", "comtrade", has_rows=True),
        ChangedVersion("old.csv", "o", "comtrade", has_rows=True),  # superseded by new.csv
        ChangedVersion("bad.csv", "b", "eurostat", has_rows=False),  # refused: nothing in raw
    ]
    periods_of = {
        ("new.csv", "n"): [("M", "202501"), ("A", "2025")],
        ("old.csv", "o"): [("M", "202412")],
    }
    plan = _decide(changed=changed, periods_of=periods_of)
    assert plan.kind == "periods"
    assert plan.periods == (("A", "2025"), ("M", "202412"), ("M", "202501"))
    assert plan.sources == ("comtrade",)  # not eurostat: its refused file left raw as it was
    assert plan.dbt_args() == []
    assert plan.dbt_env() == {
        "MIRROR_BUILD_PERIODS": json.dumps([["A", "2025"], ["M", "202412"], ["M", "202501"]]),
        "MIRROR_ESTIMATE_VINTAGE": "",
    }


def test_a_changed_file_whose_periods_are_unknown_means_every_period() -> None:
    changed = [ChangedVersion("eurostat/x.tsv", "e", "eurostat", has_rows=True)]
    plan = _decide(changed=changed)
    assert plan.kind == "all_periods"
    assert "eurostat/x.tsv" in plan.reason


def test_a_period_that_is_not_one_means_every_period() -> None:
    changed = [ChangedVersion("odd.csv", "x", "comtrade", has_rows=True)]
    plan = _decide(changed=changed, periods_of={("odd.csv", "x"): [("M", "2025'; drop")]})
    assert plan.kind == "all_periods"
    assert "odd.csv" in plan.reason


def test_nothing_changed_builds_no_period() -> None:
    plan = _decide()
    assert (plan.kind, plan.periods) == ("periods", ())
    assert "none" in plan.describe()


def test_the_vintage_says_when_and_from_which_inputs() -> None:
    when = dt.datetime(2026, 12, 4, 2, 30, tzinfo=dt.UTC)
    assert build_plan.vintage(when, "a" * 64, "b" * 64) == (
        "2026-12-04T02:30:00Z data:aaaaaaaaaaaa code:bbbbbbbbbbbb"
    )


@pytest.fixture
def warehouse(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    registry.ensure_registry(con)
    con.execute(
        'CREATE TABLE raw.comtrade_final ("freqCode" VARCHAR, period VARCHAR, '
        "_source_file VARCHAR, _file_sha256 VARCHAR)"
    )
    con.execute(
        'CREATE TABLE raw.comext_monthly ("PERIOD" VARCHAR, _source_file VARCHAR, '
        "_file_sha256 VARCHAR)"
    )
    return con


def _register(
    con: duckdb.DuckDBPyConnection, path: str, sha: str, source: str, status: str
) -> None:
    con.execute(
        f"INSERT OR REPLACE INTO {registry.REGISTRY_TABLE} (path, sha256, size_bytes, source, "
        "status, first_seen, last_seen) VALUES (?, ?, 1, ?, ?, now(), now())",
        [path, sha, source, status],
    )


def test_plan_reads_the_periods_of_the_versions_changed_since_the_recorded_build(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    con = warehouse
    _register(con, "a.csv", "a1", "comtrade", "loaded")
    con.execute("INSERT INTO raw.comtrade_final VALUES ('A', '2020', 'a.csv', 'a1')")
    assert (
        build_plan.plan(
            con, refresh_asked=False, all_periods_asked=False, code="c", new_vintage=VINTAGE
        ).kind
        == "refresh"
    )  # nothing recorded yet
    build_plan.record_build(con, "c")
    # a revision of a.csv (2020 and 2021) and a new Comext file with an annual total
    _register(con, "a.csv", "a1", "comtrade", "superseded")
    _register(con, "a.csv", "a2", "comtrade", "loaded")
    con.execute("INSERT INTO raw.comtrade_final VALUES ('A', '2020', 'a.csv', 'a2')")
    con.execute("INSERT INTO raw.comtrade_final VALUES ('A', '2021', 'a.csv', 'a2')")
    _register(con, "e.dat", "e1", "comext", "loaded")
    con.execute("INSERT INTO raw.comext_monthly VALUES (' 202352', 'e.dat', 'e1')")
    plan = build_plan.plan(
        con, refresh_asked=False, all_periods_asked=False, code="c", new_vintage=VINTAGE
    )
    assert plan.kind == "periods"
    assert plan.periods == (("A", "2020"), ("A", "2021"), ("A", "2023"), ("M", "202352"))
    build_plan.record_build(con, "c")
    assert (
        build_plan.plan(
            con, refresh_asked=False, all_periods_asked=False, code="c", new_vintage=VINTAGE
        ).periods
        == ()
    )
    build_plan.forget_build(con)  # a refresh started: a failure must not plan from the record
    assert (
        build_plan.plan(
            con, refresh_asked=False, all_periods_asked=False, code="c", new_vintage=VINTAGE
        ).kind
        == "refresh"
    )


def test_periods_built_without_the_trailing_models_make_every_period_due(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    """A run of some models from the UI rebuilt period models but not the trailing models
    downstream: the next planned build rebuilds every period, the estimates kept (the code
    record stays); and the frequency snapshot goes after a successful build."""
    con = warehouse
    _register(con, "a.csv", "a1", "comtrade", "loaded")
    _register(con, "m.csv", "m1", "comtrade", "loaded")
    con.execute("INSERT INTO raw.comtrade_final VALUES ('A', '2020', 'a.csv', 'a1')")
    con.execute("INSERT INTO raw.comtrade_final VALUES ('M', '202103', 'm.csv', 'm1')")
    build_plan.record_build(con, "c")

    def plan() -> BuildPlan:
        return build_plan.plan(
            con, refresh_asked=False, all_periods_asked=False, code="c", new_vintage=VINTAGE
        )

    assert plan().periods == ()
    build_plan.forget_versions(con)
    assert plan().kind == "periods"
    assert plan().periods == (("A", "2020"), ("M", "202103"))
    # the snapshots of any model named so go (a model that takes one tomorrow too, and the
    # reliability snapshots older versions took); the build's record and what is merely
    # named alike stay
    snapshots = (
        "build.reporter_frequencies_before",
        "build.fct_reporter_reliability_before",
        "build.fct_reporter_reliability_before_years",
        "build.some_future_model_before",
    )
    kept = (
        build_plan.BUILT_VERSIONS_TABLE,
        build_plan.BUILT_CODE_TABLE,
        "build.before_and_after",
        "main.fct_mirror_trade_before",
    )
    for table in (*snapshots, *kept[2:]):
        con.execute(f"CREATE TABLE {table} AS SELECT 'KAZ' AS reporter_iso3")
    build_plan.forget_snapshots(con)
    assert not any(table_exists(con, table) for table in snapshots)
    assert all(table_exists(con, table) for table in kept)


def test_a_run_of_partitions_builds_exactly_them_with_the_estimates_kept() -> None:
    plan = build_plan.for_partitions(["M:202403", "A:2021", "M:202403"])
    assert (plan.kind, plan.periods) == ("periods", (("A", "2021"), ("M", "202403")))
    assert plan.partition_keys() == ["A:2021", "M:202403"]
    assert plan.dbt_args() == []
    assert plan.dbt_env() == {
        "MIRROR_BUILD_PERIODS": json.dumps([["A", "2021"], ["M", "202403"]]),
        "MIRROR_ESTIMATE_VINTAGE": "",
    }
    with pytest.raises(ValueError, match="not a period"):
        build_plan.for_partitions(["A:2021", "2021'; drop"])


def test_the_partitions_are_the_periods_in_raw_placed_as_the_plan_places_versions(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    """One query for both: the pairs of a version in the plan are partitions of the source."""
    con = warehouse
    con.execute(
        "INSERT INTO raw.comtrade_final VALUES ('A', '2020', 'a.csv', 'a1'), "
        "('A', '2020', 'a.csv', 'a2'), ('M', '202003', 'a.csv', 'a2'), ('M', 'bad', 'b', 'b1')"
    )
    con.execute("INSERT INTO raw.comext_monthly VALUES (' 202352', 'e.dat', 'e1')")
    assert build_plan.periods_in_raw(con, "comtrade") == ["A:2020", "M:202003"]
    assert build_plan.periods_in_raw(con, "comext") == ["A:2023", "M:202352"]
    versions = build_plan.periods_of_versions(con, "comtrade", [("a.csv", "a2")])
    assert versions == {("a.csv", "a2"): [("A", "2020"), ("M", "202003")]}
    con.execute("DROP TABLE raw.comext_monthly")
    assert build_plan.periods_in_raw(con, "comext") == []


def test_the_ingest_adds_the_periods_in_raw_as_partitions_once(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    from dagster import DagsterInstance

    from dagster_project.transform.partitions import (
        PERIOD_PARTITIONS,
        add_period_partitions,
        planned_run_tags,
    )

    con = warehouse
    with DagsterInstance.ephemeral() as instance:
        assert planned_run_tags(instance) is None  # nothing ingested: no run over partitions
        con.execute("INSERT INTO raw.comtrade_final VALUES ('M', '202003', 'a.csv', 'a1')")
        assert add_period_partitions(instance, con, "comtrade") == ["M:202003"]
        con.execute("INSERT INTO raw.comtrade_final VALUES ('A', '2020', 'a.csv', 'a1')")
        assert add_period_partitions(instance, con, "comtrade") == ["A:2020"]
        assert add_period_partitions(instance, con, "comtrade") == []
        assert instance.get_dynamic_partitions(PERIOD_PARTITIONS.name) == ["M:202003", "A:2020"]
        assert planned_run_tags(instance) == {
            build_plan.PLANNED_TAG: "true",
            "dagster/asset_partition_range_start": "M:202003",
            "dagster/asset_partition_range_end": "A:2020",
        }


def test_a_planned_run_covers_the_partitions_its_plan_builds() -> None:
    """`mirror run` passes the plan's periods: the run's range is the smallest that holds them
    (in Dagster's order), every partition without them, the last one when the plan builds no
    period; keys Dagster does not know (a period gone from raw) are left out."""
    from dagster import DagsterInstance

    from dagster_project.transform.partitions import PERIOD_PARTITIONS, planned_run_tags

    def covered(tags: dict[str, str] | None) -> tuple[str, str]:
        assert tags is not None and tags[build_plan.PLANNED_TAG] == "true"
        return (
            tags["dagster/asset_partition_range_start"],
            tags["dagster/asset_partition_range_end"],
        )

    with DagsterInstance.ephemeral() as instance:
        assert planned_run_tags(instance, ["M:202001"]) is None  # no partition yet
        keys = ["A:2019", "A:2020", "M:202001", "M:202002", "M:202003"]
        instance.add_dynamic_partitions(PERIOD_PARTITIONS.name, keys)
        assert covered(planned_run_tags(instance)) == ("A:2019", "M:202003")
        assert covered(planned_run_tags(instance, None)) == ("A:2019", "M:202003")
        assert covered(planned_run_tags(instance, ["M:202003"])) == ("M:202003", "M:202003")
        assert covered(planned_run_tags(instance, ["M:202002", "A:2020"])) == (
            "A:2020",
            "M:202002",
        )
        assert covered(planned_run_tags(instance, ["M:199912", "M:202001"])) == (
            "M:202001",
            "M:202001",
        )
        assert covered(planned_run_tags(instance, [])) == ("M:202003", "M:202003")


def test_mirror_run_asks_the_plan_for_the_partitions_of_its_transform_run(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    """The keys come from the same reading of the tags as the dbt step's
    (build_plan.plan_of_run): None (every partition) before any recorded build, on a rebuild
    and on a refresh; else the periods of the versions changed since the recorded build."""
    from dagster_project import build_state
    from dagster_project.transform.partitions import partition_keys_of, planned_build

    def planned_partition_keys(con: duckdb.DuckDBPyConnection, tags: dict[str, str]) -> object:
        return partition_keys_of(planned_build(con, tags))

    con = warehouse
    _register(con, "a.csv", "a1", "comtrade", "loaded")
    con.execute("INSERT INTO raw.comtrade_final VALUES ('A', '2020', 'a.csv', 'a1')")
    assert planned_partition_keys(con, {}) is None  # nothing recorded: estimates computed
    build_plan.record_build(con, build_state.code_fingerprint())
    assert planned_partition_keys(con, {}) == []
    _register(con, "b.csv", "b1", "comtrade", "loaded")
    con.execute("INSERT INTO raw.comtrade_final VALUES ('M', '202101', 'b.csv', 'b1')")
    assert planned_partition_keys(con, {}) == ["M:202101"]
    assert planned_partition_keys(con, {build_plan.ALL_PERIODS_TAG: "true"}) is None
    assert planned_partition_keys(con, {build_plan.REFRESH_ESTIMATES_TAG: "true"}) is None
