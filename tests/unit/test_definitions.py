"""The code location loads, and its asset graph is the checked-in snapshot.

``tests/unit/snapshots/asset_graph.json`` holds every asset (key, group, whether Dagster
materialises it, its upstream assets, its partitions if any), every check on it (dbt tests and GX suites, blocking or
not), every job with the assets it selects, and the sensors and schedules. A change to the
graph (a new model, a renamed test, a moved group) shows up as a reviewable diff of that file.
After an intended change, refresh it and commit the diff::

    UPDATE_SNAPSHOTS=1 uv run pytest tests/unit/test_definitions.py

(the test then rewrites the file and fails once, so a refresh is never silent).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
from pathlib import Path
from typing import Any

import dagster as dg

from dagster_project.definitions import MIRROR_JOB_NAME, defs
from dagster_project.sources import LANDING_SOURCES, REFERENCE_SOURCES

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"
UPDATE_VARIABLE = "UPDATE_SNAPSHOTS"


def graph_snapshot(definitions: dg.Definitions) -> dict[str, Any]:
    """The asset graph as plain, sorted data (stable across runs and machines)."""
    graph = definitions.resolve_asset_graph()
    checks: dict[str, list[str]] = {}
    for check_key in graph.asset_check_keys:
        blocking = " [blocking]" if graph.get_check_spec(check_key).blocking else ""
        checks.setdefault(check_key.asset_key.to_user_string(), []).append(
            check_key.name + blocking
        )
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "materializable": node.is_materializable,
            "upstream": sorted(k.to_user_string() for k in node.parent_keys),
            "checks": sorted(checks.get(key.to_user_string(), [])),
        }
        if isinstance(node.partitions_def, dg.DynamicPartitionsDefinition):
            assets[key.to_user_string()]["partitions"] = str(node.partitions_def.name)
    jobs = {}
    for job in sorted(definitions.jobs or [], key=lambda j: j.name):
        resolved = definitions.resolve_job_def(job.name)
        jobs[job.name] = sorted(
            k.to_user_string() for k in resolved.asset_layer.selected_asset_keys
        )
    return {
        "assets": assets,
        "jobs": jobs,
        "sensors": sorted(s.name for s in definitions.sensors or []),
        "schedules": sorted(s.name for s in definitions.schedules or []),
    }


def test_the_asset_graph_is_the_snapshot() -> None:
    actual = json.dumps(graph_snapshot(defs), indent=1, sort_keys=True) + "\n"
    if os.environ.get(UPDATE_VARIABLE):
        previous = SNAPSHOT.read_text(encoding="utf-8") if SNAPSHOT.exists() else None
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(actual, encoding="utf-8")
        assert previous == actual, f"{SNAPSHOT} rewritten: review and commit its diff"
    assert SNAPSHOT.exists(), f"no {SNAPSHOT}: create it with {UPDATE_VARIABLE}=1 (module doc)"
    expected = SNAPSHOT.read_text(encoding="utf-8")
    assert actual == expected, (
        f"the asset graph differs from {SNAPSHOT.name}; if the change is intended, refresh it "
        f"with {UPDATE_VARIABLE}=1 uv run pytest tests/unit/test_definitions.py "
        "and commit the diff"
    )


def test_the_gx_check_is_blocking_and_sits_on_the_mirror_mart() -> None:
    graph = defs.resolve_asset_graph()
    key = dg.AssetCheckKey(dg.AssetKey(["marts", "fct_mirror_trade"]), "gx_fct_mirror_trade")
    assert key in graph.asset_check_keys
    assert graph.get_check_spec(key).blocking


def test_publish_depends_on_every_mart() -> None:
    """A rule, not a snapshot: a new mart can never be published before it is built."""
    graph = defs.resolve_asset_graph()
    marts = {k for k in graph.get_all_asset_keys() if graph.get(k).group_name == "marts"}
    assert marts
    assert graph.get(dg.AssetKey(["published", "mirror_warehouse"])).parent_keys == marts


def test_the_file_registry_waits_for_every_source_ingest() -> None:
    """The registry is complete (files outside the source folders too) after every ingest,
    reference data's included: it registers its files too."""
    graph = defs.resolve_asset_graph()
    parents = graph.get(dg.AssetKey(["raw", "file_registry"])).parent_keys
    assert parents == {
        dg.AssetKey(spec.raw_table.split(".")) for spec in (*LANDING_SOURCES, *REFERENCE_SOURCES)
    }


def test_the_job_selects_everything() -> None:
    job = defs.resolve_job_def(MIRROR_JOB_NAME)
    assert job is not None
    assert set(job.asset_layer.selected_asset_keys) == {
        k for k in defs.resolve_asset_graph().get_all_asset_keys()
        if defs.resolve_asset_graph().get(k).is_materializable
    }  # fmt: skip
    assert dg.in_process_executor is defs.executor


def test_dbt_runs_without_an_adapter_in_the_dagster_process() -> None:
    """The method the resource overrides exists in dagster-dbt (an upgrade that renames it
    would silently bring back the in-process adapter and its cost)."""
    from dagster_dbt import DbtCliResource

    from dagster_project.transform.project import DbtCli

    assert callable(getattr(DbtCliResource, "_initialize_dbt_core_adapter", None))
    assert "_cli_version" in vars(DbtCliResource)
    dbt = defs.resources["dbt"]
    assert isinstance(dbt, DbtCli)
    assert dbt._initialize_dbt_core_adapter(["build"]) is None
    # the version dagster-dbt would have read from `dbt --version`
    assert str(dbt._cli_version) == importlib.metadata.version("dbt-core")


def test_exactly_the_period_models_are_partitioned_by_period_and_backfill_in_one_run() -> None:
    """The dbt models tagged ``period_model`` (built by period, build_by_period.sql) and no
    other asset are partitioned; a backfill of many periods is one run (one dbt build)."""
    from dagster_project.transform.assets import PERIOD_MODEL_TAG, mirror_dbt_assets
    from dagster_project.transform.partitions import PERIOD_PARTITIONS
    from dagster_project.transform.project import dbt_project

    manifest = json.loads(Path(dbt_project.manifest_path).read_text(encoding="utf-8"))
    period_models = {
        dg.AssetKey([node["schema"], node["name"]])
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and PERIOD_MODEL_TAG in node["config"]["tags"]
    }
    graph = defs.resolve_asset_graph()
    partitioned = {k for k in graph.get_all_asset_keys() if graph.get(k).partitions_def}
    assert len(period_models) >= 8 and partitioned == period_models
    assert {graph.get(k).partitions_def for k in partitioned} == {PERIOD_PARTITIONS}
    policy = mirror_dbt_assets.backfill_policy
    assert policy == dg.BackfillPolicy.single_run()


def test_mirror_run_is_the_ingest_job_then_the_transform_job() -> None:
    """`mirror run` runs the two (cli._run_job): together they are the whole build job."""
    from dagster_project.jobs import INGEST_JOB_NAME, TRANSFORM_JOB_NAME

    def keys(name: str) -> set[dg.AssetKey]:
        return set(defs.resolve_job_def(name).asset_layer.selected_asset_keys)

    ingest, transform = keys(INGEST_JOB_NAME), keys(TRANSFORM_JOB_NAME)
    assert not ingest & transform
    assert ingest | transform == keys(MIRROR_JOB_NAME)
    assert all(not defs.resolve_asset_graph().get(k).partitions_def for k in ingest)
