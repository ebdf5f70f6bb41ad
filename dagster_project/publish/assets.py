"""The published copy of the marts: what BI tools read."""

from pathlib import Path

import dagster as dg

from dagster_project.publish.snapshot import publish
from dagster_project.resources import Warehouse

MART_KEYS = [
    dg.AssetKey(["marts", "fct_mirror_trade"]),
    dg.AssetKey(["marts", "dim_country"]),
    dg.AssetKey(["marts", "dim_product"]),
]


class PublishTarget(dg.ConfigurableResource):
    """Where the read-only DuckDB file and the Parquet exports go."""

    duckdb_path: str
    exports_dir: str


@dg.asset(
    key=["published", "mirror_warehouse"],
    group_name="publish",
    deps=MART_KEYS,
    kinds={"duckdb", "parquet"},
    description=(
        "Read-only DuckDB file ($MIRROR_HOME/published/mirror.duckdb) and Parquet exports "
        "($MIRROR_HOME/exports/) of every mart, swapped in atomically. Runs only after the "
        "blocking checks on the marts passed; a failed run leaves the previous publication."
    ),
)
def published_mirror_warehouse(
    context: dg.AssetExecutionContext, warehouse: Warehouse, publish_target: PublishTarget
) -> dg.MaterializeResult:
    pub = publish(
        Path(warehouse.duckdb_path),
        Path(publish_target.duckdb_path),
        Path(publish_target.exports_dir),
        run_id=context.run_id,
    )
    context.log.info(f"published {len(pub.tables)} tables to {pub.duckdb_path}")
    return dg.MaterializeResult(
        metadata={
            "publication_id": pub.publication_id,
            "published_duckdb": dg.MetadataValue.path(str(pub.duckdb_path)),
            "exports_dir": dg.MetadataValue.path(publish_target.exports_dir),
            "tables": dg.MetadataValue.json(pub.tables),
        }
    )
