"""The Dagster asset that loads the reference data versioned with the code into ``raw.ref_*``:
every entry of :data:`reference.REFERENCE_DATA` (the tables of ``data/reference`` and the ECB
EUR/USD monthly rates), the same way."""

import dagster as dg

from dagster_project.progress import StepProgress
from dagster_project.resources import Warehouse
from dagster_project.sources.reference import REFERENCE_DATA


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key=["raw", ref.table],
            group_name="ingest",
            kinds={"duckdb", ref.kind},
            description=ref.description,
        )
        for ref in REFERENCE_DATA
    ],
)
def raw_reference_tables(context: dg.AssetExecutionContext, warehouse: Warehouse):
    """Reference data versioned with the code, reloaded whole (small)."""
    progress = StepProgress("reference tables", len(REFERENCE_DATA), log=context.log)
    with warehouse.connection() as con:
        for ref in REFERENCE_DATA:
            rows = ref.load(con)
            progress.advance(1, f"tables, last: raw.{ref.table} ({rows} rows)")
            metadata: dict[str, object] = {"dagster/row_count": rows}
            if ref.file is not None:
                metadata["file"] = dg.MetadataValue.path(str(ref.file))
            yield dg.MaterializeResult(asset_key=["raw", ref.table], metadata=metadata)  # type: ignore[arg-type]
        progress.finish("tables loaded")
