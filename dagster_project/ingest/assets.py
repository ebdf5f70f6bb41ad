"""Dagster assets that move landing files and reference data into ``raw.*``."""

from pathlib import Path

import dagster as dg

from dagster_project.ingest.landing import scan
from dagster_project.ingest.loader import ingest_files
from dagster_project.resources import Warehouse
from dagster_project.settings import REFERENCE_DIR
from dagster_project.sources import comtrade, reference


class LandingZone(dg.ConfigurableResource):
    """Folder of raw files laid out by source (``comtrade/``, ...)."""

    path: str


def _outcome_table(outcomes: list) -> dg.MetadataValue:
    lines = [
        "| file | status | read | loaded | quarantined | message |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {o.path.name} | {o.status} | {o.rows_read} | {o.rows_loaded} | {o.rows_quarantined} "
        f"| {o.message.replace('|', '/')} |"
        for o in outcomes
    ]
    return dg.MetadataValue.md("\n".join(lines))


@dg.asset(
    key=["raw", "comtrade_final"],
    group_name="ingest",
    kinds={"duckdb", "python"},
    description=(
        "UN Comtrade final data files from the landing zone (`comtrade/`), every delivered "
        "column kept as text plus load metadata. Files already loaded (same bytes) are skipped; "
        "files with a wrong structure are refused with a reason in raw.file_registry."
    ),
)
def raw_comtrade_final(
    context: dg.AssetExecutionContext, warehouse: Warehouse, landing: LandingZone
) -> dg.MaterializeResult:
    paths = scan(Path(landing.path), comtrade.SOURCE, comtrade.FILE_PATTERNS)
    if not paths:
        context.log.warning(f"no Comtrade files under {Path(landing.path) / comtrade.SOURCE}")
    with warehouse.connection() as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        con.execute(comtrade.create_table_sql())
        outcomes = ingest_files(
            con,
            source=comtrade.SOURCE,
            raw_table=comtrade.RAW_TABLE,
            paths=paths,
            load_file=comtrade.load_file,
            log=context.log.warning,
        )
        total_rows = con.execute(f"SELECT count(*) FROM {comtrade.RAW_TABLE}").fetchone()[0]
    by_status = {
        s: sum(1 for o in outcomes if o.status == s)
        for s in ("loaded", "unchanged", "duplicate", "refused")
    }
    context.log.info(
        "comtrade: "
        + ", ".join(f"{n} {s}" for s, n in by_status.items() if n)
        + f"; {sum(o.rows_loaded for o in outcomes)} rows loaded"
    )
    return dg.MaterializeResult(
        metadata={
            "files_seen": len(outcomes),
            **{f"files_{s}": n for s, n in by_status.items()},
            "rows_loaded_this_run": sum(o.rows_loaded for o in outcomes),
            "rows_quarantined_this_run": sum(o.rows_quarantined for o in outcomes),
            "dagster/row_count": total_rows,
            "files": _outcome_table(outcomes),
            "landing": dg.MetadataValue.path(str(Path(landing.path) / comtrade.SOURCE)),
        }
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key=["raw", ref.table],
            group_name="ingest",
            kinds={"duckdb", "csv"},
            description=f"{ref.description} (data/reference/{ref.relative_path}).",
        )
        for ref in reference.REFERENCE_TABLES
    ],
)
def raw_reference_tables(warehouse: Warehouse):
    """Reference CSVs copied into the repo, reloaded whole (small, versioned with the code)."""
    with warehouse.connection() as con:
        for ref in reference.REFERENCE_TABLES:
            rows = reference.load_reference_table(con, ref, REFERENCE_DIR)
            yield dg.MaterializeResult(
                asset_key=["raw", ref.table],
                metadata={
                    "dagster/row_count": rows,
                    "file": dg.MetadataValue.path(str(REFERENCE_DIR / ref.relative_path)),
                },
            )
