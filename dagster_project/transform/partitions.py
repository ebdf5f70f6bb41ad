"""The Dagster partitions of the period models: one per (freq, period) of the data in raw.

A partition key is ``freq:period`` (``A:2021``, ``M:202403``): the periods a period model
deletes and inserts again (``dbt/macros/build_by_period.sql``), so a run of some partitions (a
backfill from the Dagster UI) passes its keys to dbt as ``MIRROR_BUILD_PERIODS``
(:func:`build_plan.for_partitions`). The keys are dynamic: the ingest of a source whose rows
name their period adds the pairs its raw table holds (:func:`add_period_partitions`), placed
by the query the build plan places file versions with (:func:`build_plan.periods_in_raw`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import dagster as dg
import duckdb

from dagster_project import build_state
from dagster_project.jobs import PERIOD_PARTITIONS_NAME, planned_run_tags
from dagster_project.transform import build_plan

__all__ = [
    "PERIOD_PARTITIONS",
    "add_period_partitions",
    "after_ingest",
    "partition_keys_of",
    "planned_build",
    "planned_run_tags",
]

PERIOD_PARTITIONS = dg.DynamicPartitionsDefinition(name=PERIOD_PARTITIONS_NAME)


def add_period_partitions(
    instance: dg.DagsterInstance, con: duckdb.DuckDBPyConnection, source: str
) -> list[str]:
    """Add a partition for every pair of ``source``'s rows in raw that has none yet (in sorted
    order: a range of the UI's partition picker then reads as periods in order, within one
    ingest); the keys added."""
    existing = set(instance.get_dynamic_partitions(PERIOD_PARTITIONS.name))
    new = [key for key in build_plan.periods_in_raw(con, source) if key not in existing]
    if new:
        instance.add_dynamic_partitions(PERIOD_PARTITIONS.name, new)
    return new


def after_ingest(source: str) -> Callable[..., Mapping[str, object]]:
    """The ``after_load`` of ``source``'s ingest asset: its periods become partitions."""

    def add(
        context: dg.AssetExecutionContext, con: duckdb.DuckDBPyConnection
    ) -> Mapping[str, object]:
        added = add_period_partitions(context.instance, con, source)
        if added:
            context.log.info(
                f"{len(added)} new period partition(s): {', '.join(added[:12])}"
                + (f" and {len(added) - 12} more" if len(added) > 12 else "")
            )
        return {"period_partitions_added": len(added)}

    return add


def planned_build(con: duckdb.DuckDBPyConnection, tags: Mapping[str, str]) -> build_plan.BuildPlan:
    """The build plan of a run with these tags (tagged ``PLANNED_TAG``), read from the warehouse
    as the dbt step will read it (``mirror run`` asks between its ingest run and its transform
    run, and nothing writes the warehouse between them)."""
    return build_plan.plan_of_run(con, tags, code=build_state.code_fingerprint(), new_vintage="")


def partition_keys_of(plan: build_plan.BuildPlan) -> list[str] | None:
    """The partitions of the periods ``plan`` builds; None: every period. For
    :func:`planned_run_tags`."""
    return plan.partition_keys() if plan.kind == "periods" else None
