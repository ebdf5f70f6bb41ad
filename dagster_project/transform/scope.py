"""Which assets a planned build selects: what is downstream of the sources whose files changed.

A build of some periods (:class:`build_plan.BuildPlan`, kind ``periods``) changes the data of
the sources its file versions belong to, and nothing else: the code and the rules are those of
the last complete build (otherwise the plan would be a refresh), and so is every other source.
A model that reads none of the changed sources' raw tables, directly or through other models,
would be built again into the same table, and its tests would find what they found before:
the seeds, the reference tables and what is made of them only (``dim_product``, the HS
concordance), and, when only Comtrade changed, the Comext and energy-register staging. So the
run selects the assets downstream of those raw tables (dbt models, their tests, the GX checks,
the publication, the report) and leaves the others as they are; the published warehouse is a
copy of the whole working warehouse, so it still holds them, and Dagster keeps their last
materialization.

Nor does such a build change the estimates (CIF/FOB margins, reporter noise, the detected
transit corridors and their evidence, reporter reliability: dbt tag ``estimate``): they are
kept, with their vintage, until a build refreshes them (``build_plan``), so their models would
append nothing and their tests read what they read before; they are left out too. Not on Spark,
whose tables are rebuilt whole every build (no build by period), the estimates with them.

The file registry (``raw.file_registry``) is not a cause: every staging view of a landing
source reads it, but only for its own source's rows, and those changed only if a version of
that source changed. Measured on the sample, one revised Comtrade file: 38 of 137 dbt nodes
(1.4 s of dbt's 5.6 s of node time) are not downstream of ``raw.comtrade_final``.

Used three times, on the same asset graph: by ``mirror run`` to choose its transform run's
asset selection, by the landing sensor for the run it launches when files of a source with
periods change (``definitions._delivery_target``), and by the dbt step to decide whether a run
built everything the plan needs (a complete build is recorded, so the next plans from it). The
dbt step also asks the converse (:func:`left_behind`): whether a run of some models from the UI
rebuilt period models without what is downstream of them, which makes every period due.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import dagster as dg

from dagster_project.ingest import registry
from dagster_project.transform import build_plan

__all__ = [
    "ESTIMATE_TAG",
    "REGISTRY_KEY",
    "downstream_of",
    "downstream_of_sources",
    "left_behind",
    "planned_selection",
    "raw_asset_key",
]


REGISTRY_KEY = dg.AssetKey(registry.REGISTRY_TABLE.split("."))
# the dbt tag of the estimates (dbt/macros/build_by_period.sql, estimate_config), which
# dagster-dbt makes an asset tag
ESTIMATE_TAG = "estimate"


def raw_asset_key(source: str) -> dg.AssetKey:
    """The asset key of the raw table of ``source`` (one of ``build_plan.PERIOD_SOURCES``): its
    schema and name, as the ingest asset and the dbt source are keyed (``raw/comtrade_final``)."""
    table = build_plan.PERIOD_SOURCES[source][0]
    return dg.AssetKey(table.split("."))


def downstream_of(specs: Iterable[dg.AssetSpec], roots: Iterable[dg.AssetKey]) -> set[dg.AssetKey]:
    """The keys among ``specs`` that depend, directly or through other specs, on one of
    ``roots`` (the roots themselves only if one depends on another), the file registry left
    out (in Dagster's graph the registry asset follows every ingest asset, and every staging
    view reads it: through it, everything would be downstream of every source)."""
    children: dict[dg.AssetKey, set[dg.AssetKey]] = defaultdict(set)
    for spec in specs:
        if spec.key == REGISTRY_KEY:
            continue
        for dep in spec.deps:
            if dep.asset_key != REGISTRY_KEY:
                children[dep.asset_key].add(spec.key)
    found: set[dg.AssetKey] = set()
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def downstream_of_sources(
    specs: Iterable[dg.AssetSpec], sources: Iterable[str]
) -> set[dg.AssetKey]:
    """The keys among ``specs`` downstream of the raw table of one of ``sources`` (the raw
    tables themselves are not among them; the registry is not a way down: :func:`downstream_of`)."""
    return downstream_of(specs, [raw_asset_key(source) for source in sources])


def left_behind(
    specs: Iterable[dg.AssetSpec],
    selected: Iterable[dg.AssetKey],
    periods: Iterable[dg.AssetKey],
    *,
    keeps_estimates: bool,
) -> set[dg.AssetKey]:
    """The keys among ``specs`` downstream of a selected one of ``periods`` (the period models)
    that ``selected`` leaves out: the trailing models and what they feed, which such a run
    leaves stale (the estimates aside when the target ``keeps_estimates``: a build of some
    periods appends nothing to them). Empty for a run that selected no period model, or one
    that selected everything downstream of those it selected (``mirror run``, the sensor),
    however much else it left out."""
    specs = list(specs)
    chosen = set(selected)
    behind = downstream_of(specs, chosen & set(periods)) - chosen
    if keeps_estimates:
        behind -= {spec.key for spec in specs if ESTIMATE_TAG in spec.tags}
    return behind


def planned_selection(
    plan: build_plan.BuildPlan, specs: Iterable[dg.AssetSpec], *, keeps_estimates: bool
) -> set[dg.AssetKey] | None:
    """The keys among ``specs`` a build of ``plan`` needs: what is downstream of the changed
    sources, but the estimates when the target ``keeps_estimates`` between builds (DuckDB, not
    Spark); None: every one (a refresh, every period, or a plan with no changed rows, which
    builds the tables over all periods again as before rather than nothing)."""
    if plan.kind != "periods" or not plan.sources:
        return None
    specs = list(specs)
    needed = downstream_of_sources(specs, plan.sources)
    if keeps_estimates:
        needed -= {spec.key for spec in specs if ESTIMATE_TAG in spec.tags}
    return needed
