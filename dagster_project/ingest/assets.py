"""Dagster assets that move landing files and reference data into ``raw.*``.

One asset per source, landing or reference (built from its :class:`SourceSpec`), and the two
shared tables every ingest writes (registry, quarantine). This module is the machinery
sources build on, and imports none of them.
"""

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import dagster as dg
import duckdb

from dagster_project.ingest import registry
from dagster_project.ingest.landing import outside_sources
from dagster_project.ingest.loader import ingest_files
from dagster_project.ingest.registry import FileOutcome
from dagster_project.ingest.spec import SourceSpec, files_of, ignored_files_of, naive_utc_now
from dagster_project.progress import StepProgress
from dagster_project.resources import Warehouse
from dagster_project.settings import DEFAULT_INGEST_BATCH_BYTES

STATUSES = ("loaded", "unchanged", "duplicate", "refused", "ignored")
# the registry's `source` of a file that lies in no source folder of the landing zone
OUTSIDE_SOURCES = "landing"


class LandingZone(dg.ConfigurableResource):
    """Folder of raw files laid out by source (``comtrade/``, ...), and how many MB of
    same-layout files ingest reads in one scan (``MIRROR_INGEST_BATCH_MB``, in bytes)."""

    path: str
    ingest_batch_bytes: int = DEFAULT_INGEST_BATCH_BYTES


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


def status_counts(outcomes: Sequence[FileOutcome]) -> dict[str, int]:
    return {s: sum(1 for o in outcomes if o.status == s) for s in STATUSES}


def counts_line(outcomes: Sequence[FileOutcome]) -> str:
    """``27 loaded, 0 unchanged, 0 refused, 1 ignored`` (duplicates only when there are any)."""
    counts = status_counts(outcomes)
    shown = [s for s in STATUSES if s != "duplicate" or counts[s]]
    return ", ".join(f"{counts[s]} {s}" for s in shown)


def ingest_metadata(
    outcomes: Sequence[FileOutcome], total_rows: int, where: Path, *, reference: bool = False
) -> dict[str, object]:
    by_status = status_counts(outcomes)
    return {
        "files_seen": len(outcomes),
        **{f"files_{s}": n for s, n in by_status.items()},
        "rows_loaded_this_run": sum(o.rows_loaded for o in outcomes),
        "rows_quarantined_this_run": sum(o.rows_quarantined for o in outcomes),
        "dagster/row_count": total_rows,
        "files": outcome_table(outcomes),
        ("file" if reference else "landing"): dg.MetadataValue.path(str(where)),
    }


# what an ingest does after it loaded, on the same connection (e.g. add the Dagster partitions
# of the periods now in raw): metadata for the ingest's materialization
AfterLoad = Callable[[dg.AssetExecutionContext, duckdb.DuckDBPyConnection], Mapping[str, object]]


def build_ingest_asset(
    spec: SourceSpec, after_load: AfterLoad | None = None
) -> dg.AssetsDefinition:
    """The ingest asset of one source: new or changed files of ``landing/<source>/`` (or the
    reference file versioned with the code) → raw. It depends on the raw tables the source's
    rules read (``spec.requires``). ``after_load`` runs after every ingest, whether or not a
    file was loaded (the Dagster instance may be newer than the warehouse)."""
    schema, table = spec.raw_table.split(".")
    if spec.keeps_history:
        what = f"files under the landing zone's `{spec.name}/` into {spec.raw_table} as delivered"
    else:
        what = (
            f"its file, versioned with the code, into {spec.raw_table} as delivered (the "
            "current version only, replaced when the file changes)"
        )

    @dg.asset(
        key=[schema, table],
        group_name="ingest",
        deps=[dg.AssetKey(t.split(".")) for t in spec.requires],
        kinds={"duckdb", "python"},
        description=(
            f"{spec.description}: {what}. Same bytes are skipped; bad rows go to "
            "raw.quarantine; unusable files are refused with a reason in raw.file_registry."
        ),
    )
    def _ingest(
        context: dg.AssetExecutionContext, warehouse: Warehouse, landing: LandingZone
    ) -> dg.MaterializeResult:
        root = Path(landing.path)
        paths = files_of(root, spec)
        ignored = ignored_files_of(root, spec)
        where = root / spec.name if spec.keeps_history else paths[0]
        if not paths and not ignored:
            context.log.info(f"no {spec.name} files under {where}")
        progress = StepProgress(f"ingest {spec.name}", len(paths) + len(ignored), log=context.log)
        finished: list[FileOutcome] = []

        def on_done(outcomes: Sequence[FileOutcome]) -> None:
            finished.extend(outcomes)
            progress.advance(len(outcomes), f"files ({counts_line(finished)})")

        with warehouse.connection() as con:
            outcomes = ingest_files(
                con, spec, paths, log=context.log.warning, on_done=on_done,
                batch_bytes=landing.ingest_batch_bytes,
            )  # fmt: skip
            now = naive_utc_now()
            reason = (
                f"not read: no {spec.name} file is named like this "
                f"(expected {', '.join(spec.patterns)})"
            )
            for path in ignored:
                outcome = registry.record_ignored(con, path, spec.name, reason, now)
                outcomes.append(outcome)
                on_done([outcome])
            total = con.execute(f"SELECT count(*) FROM {spec.raw_table}").fetchone()[0]
            extra = after_load(context, con) if after_load is not None else {}
        meta = ingest_metadata(outcomes, total, where, reference=not spec.keeps_history)
        meta.update(extra)
        progress.finish(
            f"files ({counts_line(outcomes)}); {meta['rows_loaded_this_run']} rows loaded, "
            f"{meta['rows_quarantined_this_run']} quarantined"
        )
        return dg.MaterializeResult(metadata=meta)  # type: ignore[arg-type]

    return _ingest


def build_landing_inventory(
    specs: Sequence[SourceSpec], ingest_assets: Sequence[dg.AssetsDefinition]
) -> dg.AssetsDefinition:
    """``raw.file_registry`` as an asset: complete once every source's ingest has registered its
    files; then it registers the files that lie in no source folder as ignored."""
    folders = [spec.name for spec in specs]

    @dg.asset(
        key=["raw", "file_registry"],
        group_name="ingest",
        deps=[key for a in ingest_assets for key in a.keys],
        kinds={"duckdb"},
        description=(
            "One row per file version (landing files and reference files): path, sha256, "
            "size, source, detected format, "
            "rows read/loaded/quarantined, status (loaded, superseded, refused, duplicate, "
            "ignored), message, first/last seen. Every ingest asset registers the files of its "
            "folder (ignored: a name no pattern of the source matches); this step then registers "
            "the files outside every source folder, so no file of the landing zone is invisible."
        ),
    )
    def landing_inventory(
        context: dg.AssetExecutionContext, warehouse: Warehouse, landing: LandingZone
    ) -> dg.MaterializeResult:
        root = Path(landing.path)
        outside = outside_sources(root, folders)
        reason = "not read: not in a source folder (" + ", ".join(f"{f}/" for f in folders) + ")"
        with warehouse.connection() as con:
            registry.ensure_registry(con)
            now = naive_utc_now()
            outcomes = [
                registry.record_ignored(con, p, OUTSIDE_SOURCES, reason, now) for p in outside
            ]
            by_status = dict(
                con.execute(
                    f"SELECT status, count(*) FROM {registry.REGISTRY_TABLE} GROUP BY 1"
                ).fetchall()
            )
        if outcomes:
            context.log.warning(
                f"{len(outcomes)} file(s) of {root} are in no source folder and were not read: "
                + ", ".join(str(p.relative_to(root)) for p in outside[:10])
            )
        return dg.MaterializeResult(
            metadata={
                "files_outside_sources": len(outcomes),
                "files": outcome_table(outcomes),
                "registry_by_status": dg.MetadataValue.json(by_status),
                "dagster/row_count": sum(by_status.values()),
                "landing": dg.MetadataValue.path(str(root)),
            }
        )

    return landing_inventory


# Written by every ingest asset (one row per rejected row); declared so the dbt models that
# read it have a documented upstream in the `ingest` group.
shared_ingest_tables = [
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
