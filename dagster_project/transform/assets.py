"""dbt models and seeds as Dagster assets; dbt tests become asset checks."""

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from dagster_project.resources import Warehouse
from dagster_project.transform.project import dbt_project, run_target_path

LAYER_GROUPS = ("staging", "intermediate", "marts")


class MirrorDbtTranslator(DagsterDbtTranslator):
    """Asset keys are ``[schema, name]`` (e.g. ``marts/fct_mirror_trade``), groups are layers."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "seed", "snapshot"):
            return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "ingest"
        fqn = dbt_resource_props.get("fqn", [])
        layer = fqn[1] if len(fqn) > 2 else None
        return layer if layer in LAYER_GROUPS else super().get_group_name(dbt_resource_props)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=MirrorDbtTranslator(),
)
def mirror_dbt_assets(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse
) -> Iterator[Any]:
    """`dbt build` of the selected models, seeds and tests (one process, one DuckDB writer).

    ``warehouse`` is not used to connect (dbt opens the file itself): requiring it takes the
    run lock, so a run of dbt assets alone never overlaps another run; its folder holds dbt's
    target folder (``$MIRROR_HOME/dbt/build``).
    """
    target = run_target_path(Path(warehouse.duckdb_path).parent, "build")
    yield from dbt.cli(["build"], context=context, target_path=target).stream()
