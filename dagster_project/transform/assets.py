"""dbt models and seeds as Dagster assets; dbt tests become asset checks."""

import contextlib
import datetime as dt
import os
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from dagster_project import build_state
from dagster_project.progress import StepProgress
from dagster_project.quality.gx_duckdb import import_gx_in_background
from dagster_project.resources import Warehouse
from dagster_project.settings import SPARK_TARGETS
from dagster_project.transform import build_plan, failures, scope, spark
from dagster_project.transform.partitions import PERIOD_PARTITIONS
from dagster_project.transform.project import DBT_TARGET, dbt_project, run_target_path

LAYER_GROUPS = ("staging", "intermediate", "marts", "report")
PERIOD_MODEL_TAG = "period_model"  # dbt/macros/build_by_period.sql: built by (freq, period)
# a production build builds and tests data; the dbt unit tests (fixed inputs, no data) test the
# SQL, which only changes with the code: CI runs them (tests/e2e/test_dbt_unit_tests.py)
BUILD_ARGS = ["build", "--exclude-resource-type", "unit_test"]
PERIOD_APART_TYPES = ["--resource-type", "model", "--resource-type", "seed"]


class MirrorDbtTranslator(DagsterDbtTranslator):
    """Asset keys are ``[schema, name]`` (e.g. ``marts/fct_mirror_trade``), groups are layers.

    A dbt source table is keyed by where it lives too (``raw/comext_monthly``): the key of the
    asset that writes it, whatever the dbt source is called (each source's id), so no source
    yml has to repeat an asset key by hand.

    The period models (dbt tag ``period_model``) are partitioned by period
    (:data:`PERIOD_PARTITIONS`); every other model, seed and the estimates are not.
    """

    def get_partitions_def(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> dg.PartitionsDefinition | None:
        if PERIOD_MODEL_TAG in dbt_resource_props.get("tags", []):
            return PERIOD_PARTITIONS
        return None

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "seed", "snapshot"):
            return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
        if dbt_resource_props["resource_type"] == "source":
            table = dbt_resource_props.get("identifier") or dbt_resource_props["name"]
            return dg.AssetKey([dbt_resource_props["schema"], table])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "ingest"
        fqn = dbt_resource_props.get("fqn", [])
        layer = fqn[1] if len(fqn) > 2 else None
        return layer if layer in LAYER_GROUPS else super().get_group_name(dbt_resource_props)


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` set in ``os.environ`` for the block (the dbt process is started in it),
    then the previous values back."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _node_outcome(event: Any) -> tuple[str, bool]:
    """(what finished, whether it went well) of a dagster-dbt event."""
    if isinstance(event, dg.AssetCheckResult):
        return f"test {event.check_name}", bool(event.passed)
    unique_id = str(getattr(getattr(event, "metadata", {}).get("unique_id"), "value", "") or "")
    if unique_id.count(".") >= 2:
        kind, _, name = unique_id.split(".", 2)
        return f"{kind} {name}", True
    return str(getattr(event, "output_name", "") or "node"), True


def _started_node(raw_event: dict[str, Any]) -> str | None:
    """``model fct_mirror_trade`` when dbt starts a node (the "1 of 243 START …" line,
    LogStartLine, at info level; NodeStart is its debug-level twin)."""
    if raw_event.get("info", {}).get("name") not in ("LogStartLine", "NodeStart"):
        return None
    node = raw_event.get("data", {}).get("node_info", {})
    return f"{node.get('resource_type', 'node')} {node.get('node_name', '?')}"


def _jinja_log(raw_event: Mapping[str, Any]) -> str | None:
    """What a model logged with ``log(..., info=True)``, from a raw dbt event."""
    info = raw_event.get("info", {})
    return info.get("msg") if info.get("name") == "JinjaLogInfo" else None


def period_model_keys(assets_def: dg.AssetsDefinition) -> set[dg.AssetKey]:
    """The assets of ``assets_def`` partitioned by period: the period models."""
    return {spec.key for spec in assets_def.specs if spec.partitions_def}


def _selects_every_other_model(context: dg.AssetExecutionContext) -> bool:
    """Whether the run selected every asset of the dbt step but the period models (read from the
    step's specs: in a subset run ``assets_def.keys`` holds the selected keys only)."""
    others = set(context.assets_def.specs_by_key) - period_model_keys(context.assets_def)
    return others <= set(context.selected_asset_keys)


def _selects_what_the_plan_needs(
    context: dg.AssetExecutionContext, plan: build_plan.BuildPlan, *, keeps_estimates: bool
) -> bool:
    """A run of a plan of some periods that selected every asset of this step downstream of the
    sources whose files changed (``scope.planned_selection``, what ``mirror run`` selects; the
    estimates aside when the target ``keeps_estimates``): the other models were built from the
    same data and code by the last complete build."""
    needed = scope.planned_selection(
        plan, context.assets_def.specs, keeps_estimates=keeps_estimates
    )
    return needed is not None and needed <= set(context.selected_asset_keys)


def _leaves_trailing_models_behind(
    context: dg.AssetExecutionContext, *, keeps_estimates: bool
) -> set[dg.AssetKey]:
    """The models a run (of some models, from the UI) left behind: it rebuilt period models but
    not every model downstream of them (the trailing models and the tables they feed;
    ``scope.left_behind``). Empty for ``mirror run`` and the landing sensor, whose selections
    hold everything downstream of what they select."""
    return scope.left_behind(
        context.assets_def.specs,
        context.selected_asset_keys,
        period_model_keys(context.assets_def),
        keeps_estimates=keeps_estimates,
    )


def _run_partition_keys(context: dg.AssetExecutionContext) -> list[str] | None:
    """The period partitions this run is for (a backfill or a run of a partition range from the
    UI), None for a run without partitions (``mirror run``, the sensor, the schedule). Read
    from the run's range, resolved on :data:`PERIOD_PARTITIONS` itself: the run may have
    selected no partitioned asset of this step."""
    if not (context.has_partition_key or context.has_partition_key_range):
        return None
    with dg.partition_loading_context(dynamic_partitions_store=context.instance):
        return list(PERIOD_PARTITIONS.get_partition_keys_in_range(context.partition_key_range))


def _without_periods(context: dg.AssetExecutionContext) -> bool:
    """A run without partitions that leaves the period models out because raw holds no period
    yet (``mirror run`` on an empty landing folder or on energy registers only; the landing
    sensor then): Dagster cannot record a partitioned asset, nor the assets downstream of it, in
    a run without partitions, so dbt builds those (empty) models apart, unrecorded."""
    if context.has_partition_key_range or context.instance.get_dynamic_partitions(
        PERIOD_PARTITIONS.name
    ):
        return False
    return not period_model_keys(context.assets_def) & set(context.selected_asset_keys)


def _build_period_models_apart(
    dbt: DbtCliResource, warehouse: Warehouse, plan: build_plan.BuildPlan
) -> None:
    """``dbt build`` of the period models and their ancestors, untested, outside Dagster's
    records (see :func:`_without_periods`): the models downstream of them need their tables."""
    with _environment(plan.dbt_env()):
        invocation = dbt.cli(
            # with what they read (built again, and tested, by the build after this)
            [
                "build",
                "--select",
                f"+tag:{PERIOD_MODEL_TAG}",
                *PERIOD_APART_TYPES,
                *plan.dbt_args(),
            ],
            manifest=dbt_project.manifest_path,
            target_path=run_target_path(warehouse.layout, "period-models"),
            raise_on_error=False,
        ).wait()
    if not invocation.is_successful():
        nodes = failures.failed_nodes(
            invocation.get_artifact("run_results.json"), invocation.manifest
        )
        raise dg.Failure(
            description=f"the period models (raw holds no period): {failures.summary(nodes, 0)}",
            allow_retries=False,
        )


def _plan(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> tuple[build_plan.BuildPlan, build_state.BuildInputs | None]:
    """What this run's dbt build computes, and the inputs it read (None: a run of some
    partitions, which neither skips nor records a build).

    * a run of some period partitions (a backfill from the UI): exactly those periods;
    * a run of every period partition: every period (the estimates refreshed when the code
      changed or none were computed), as ``mirror run --rebuild``;
    * a run tagged :data:`build_plan.PLANNED_TAG` (``mirror run``, the landing sensor, the
      schedule; over every partition, which Dagster then records as current), or without
      partitions: the build plan from what changed since the last complete build.
    """
    tags = context.run.tags
    partition_keys = _run_partition_keys(context)
    every_partition = False
    if partition_keys is not None and tags.get(build_plan.PLANNED_TAG) != "true":
        every_partition = set(partition_keys) >= set(
            context.instance.get_dynamic_partitions(PERIOD_PARTITIONS.name)
        )
        if not every_partition:
            if tags.get(build_plan.REFRESH_ESTIMATES_TAG) == "true":
                context.log.warning(
                    "estimates not refreshed: a run of some partitions builds those periods "
                    "only (a run of every partition, or `mirror run --refresh-estimates`, "
                    "refreshes them)"
                )
            return build_plan.for_partitions(partition_keys), None
    with warehouse.connection(read_only=True) as con:
        inputs = build_state.current_inputs(con)
        plan = build_plan.plan_of_run(
            con,
            tags,
            code=inputs.code,
            new_vintage=build_plan.vintage(dt.datetime.now(dt.UTC), inputs.data, inputs.code),
            every_partition=every_partition,
        )
    if partition_keys is not None and plan.kind == "periods":
        outside = sorted(set(plan.partition_keys()) - set(partition_keys))
        if outside:  # mirror run chose the partitions from this same plan: not expected
            context.log.warning(
                f"the build plan builds {len(outside)} period(s) outside this run's partitions "
                f"({', '.join(outside[:6])}): Dagster's record of them is not updated"
            )
    return plan, inputs


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=MirrorDbtTranslator(),
    # a backfill of many periods is one run, one dbt build: its partition keys are the periods
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def mirror_dbt_assets(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse
) -> Iterator[Any]:
    """`dbt build` of the selected models, seeds and data tests (one process, one DuckDB writer).

    Which periods the period models build (:mod:`build_plan`): a run of period partitions (a
    backfill from the Dagster UI) builds exactly its partitions; any other run, the periods
    changed since the last complete build (or every period, with the estimates refreshed
    when needed). Nothing is built when the run asks for it only if something changed
    (``mirror run`` does) and the published warehouse already is the build of the same inputs
    (:mod:`build_state`); a run from the Dagster UI always builds.

    ``warehouse`` is not used to connect (dbt opens the file itself): requiring it takes the
    run lock, so a run of dbt assets alone never overlaps another run; its folder holds dbt's
    target folder (``$MIRROR_HOME/dbt/build``). Each finished node advances the progress and
    carries ``dbt_nodes_done`` / ``dbt_nodes_total`` in its metadata. A failed build raises a
    ``Failure`` that names the failed test (its model, a few offending rows) or model.

    On a Spark target (``MIRROR_DBT_TARGET``) the raw tables go to Spark as Parquet first and
    the marts and report tables Spark built come back into the working warehouse after a
    successful build (:mod:`spark`): the checks and the publication downstream read them there.
    """
    duckdb_path = Path(warehouse.duckdb_path)
    plan, inputs = _plan(context, warehouse)
    only_if_changed = context.run.tags.get(build_state.ONLY_IF_CHANGED_TAG) == "true"
    if inputs is not None and only_if_changed and plan.kind == "periods":
        change = inputs.describe_change(build_state.published_inputs(warehouse.layout))
        if change == "unchanged":
            # no output: the checks, the publication and the report downstream are skipped
            context.log.info(
                "dbt build skipped: the published warehouse was built from these same landing "
                "files, code and rules today (`mirror run --rebuild` builds anyway)"
            )
            return
        context.log.info(f"dbt build: inputs {change} since the last publication")
    context.log.info(f"dbt build plan: {plan.describe()}")
    # a run that selected every model downstream of the sources whose files changed builds
    # all the plan needs (the others hold the same data as after the last complete build)
    keeps_estimates = DBT_TARGET not in SPARK_TARGETS  # Spark rebuilds every table, every build
    builds_what_the_plan_needs = _selects_what_the_plan_needs(
        context, plan, keeps_estimates=keeps_estimates
    )
    if context.is_subset:
        context.log.info(
            f"dbt build of {len(context.selected_asset_keys)} of "
            f"{len(context.assets_def.specs_by_key)} models and seeds: "
            + (
                f"those downstream of the sources whose files changed ({', '.join(plan.sources)})"
                + (", the estimates kept" if keeps_estimates else "")
                if builds_what_the_plan_needs
                else "those this run selected"
            )
        )
    if plan.kind != "periods":
        # a failed refresh or full build must not leave the old record to plan the next from
        with warehouse.connection() as con:
            build_plan.forget_build(con)
    on_spark = DBT_TARGET in SPARK_TARGETS
    if on_spark:
        manifest = spark.read_manifest(dbt_project.manifest_path)
        with warehouse.connection() as con:
            sent = spark.export_raw(con, warehouse.layout, spark.source_tables(manifest))
        context.log.info(
            f"{DBT_TARGET}: raw tables exported to {warehouse.layout.spark_dir} as Parquet "
            f"({sent.describe()})"
        )
    without_periods = _without_periods(context)
    if without_periods:
        context.log.info("raw holds no period: the period models are built apart, empty")
        _build_period_models_apart(dbt, warehouse, plan)
    target = run_target_path(warehouse.layout, "build")
    total = len(context.selected_asset_keys) + len(context.selected_asset_check_keys)
    progress = StepProgress("dbt build", total, log=context.log)
    failed = 0
    with _environment(plan.dbt_env()):  # dagster-dbt gives dbt a copy of os.environ
        invocation = dbt.cli(
            [*BUILD_ARGS, *plan.dbt_args()],
            context=context,
            target_path=target,
            raise_on_error=False,
        )
    progress.note(f"nodes: starting dbt for {plan.scope()} (parse the project, connect)")
    import_gx_in_background()  # while this step waits on dbt: the checks after it need GX
    # dbt's raw events say which node is running (a large model can take minutes); each is
    # turned into the Dagster events .stream() would give, with the same public API
    for raw in invocation.stream_raw_events():
        said = _jinja_log(raw.raw_event)
        if said:  # a model's own line (the years a year model rebuilds)
            context.log.info(f"dbt: {said}")
        running = _started_node(raw.raw_event)
        if running:
            progress.note(f"nodes ({failed} failed), running {running}")
        for event in raw.to_default_asset_events(
            manifest=invocation.manifest,
            dagster_dbt_translator=invocation.dagster_dbt_translator,
            context=invocation.context,
            target_path=invocation.target_path,
            project=invocation.project,
        ):
            name, ok = _node_outcome(event)
            failed += not ok
            progress.advance(1, f"nodes ({failed} failed), last: {name}")
            meta = {
                "dbt_nodes_done": progress.done,
                "dbt_nodes_total": total,
                "dbt_build": plan.describe(),
            }
            yield event.with_metadata({**(event.metadata or {}), **meta})
    if invocation.is_successful():
        if on_spark:
            with warehouse.connection() as con:
                back = spark.load_outputs(con, warehouse.layout, spark.output_models(manifest))
            context.log.info(
                f"{DBT_TARGET}: marts and report tables loaded into {duckdb_path} from Spark's "
                f"Parquet ({back.describe()})"
            )
        # without periods, complete when everything but the period models was selected
        complete = (
            not context.is_subset
            or (without_periods and _selects_every_other_model(context))
            or builds_what_the_plan_needs
        )
        with warehouse.connection() as con:
            if inputs is not None and complete:
                # a run of some models or of some partitions (from the UI) leaves the others
                # behind: the next build must still see the changes since the last complete one
                build_plan.record_build(con, inputs.code)
            elif behind := _leaves_trailing_models_behind(context, keeps_estimates=keeps_estimates):
                # the trailing models are rebuilt by the periods of what changed: periods rebuilt
                # without them must count as changed until a build takes them along
                build_plan.forget_versions(con)
                names = sorted(key.path[-1] for key in behind)
                context.log.warning(
                    f"period models built without {len(names)} model(s) downstream of them "
                    f"({', '.join(names[:4])}{', ...' if len(names) > 4 else ''}): the next "
                    "planned build rebuilds every period (estimates kept)"
                )
            build_plan.forget_snapshots(con)
        progress.finish(
            f"nodes built and tested ({failed} non-blocking test failures), {plan.scope()}"
        )
        return
    run_results = invocation.get_artifact("run_results.json")
    nodes = failures.failed_nodes(run_results, invocation.manifest)
    if not on_spark:  # on Spark the failing rows are in Spark; DuckDB holds an older build
        nodes = [replace(n, rows=failures.offending_rows(duckdb_path, n)) for n in nodes]
    cause = failures.summary(nodes, failures.skipped_count(run_results))
    progress.finish(f"FAILED: {cause}")
    raise dg.Failure(
        description=cause,
        metadata={
            "details": dg.MetadataValue.text("\n".join(failures.details(nodes))),
            "failed_nodes": dg.MetadataValue.json(
                [
                    {
                        "kind": n.kind,
                        "name": n.name,
                        "model": n.model,
                        "reason": n.reason,
                        "failures": n.failures,
                        "rows": [{k: str(v) for k, v in r.items()} for r in n.rows],
                    }
                    for n in nodes
                ]
            ),
            "run_results": dg.MetadataValue.path(str(target / "run_results.json")),
        },
        allow_retries=False,
    )
