"""The published copy of the marts (what BI tools read) and the dbt docs site."""

import os
import shutil
import time
import uuid
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource

from dagster_project import build_state
from dagster_project.progress import StepProgress
from dagster_project.publish.snapshot import publish
from dagster_project.resources import Warehouse
from dagster_project.settings import DEFAULT_DUCKDB_MEMORY_LIMIT, SPARK_TARGETS, HomeLayout


def mart_keys() -> list[dg.AssetKey]:
    """Every dbt model of the published schema (from the manifest): publishing waits for all
    of them and for their blocking checks, so a new mart can never be published unchecked."""
    from dagster_project.publish.docs import PUBLISHED_SCHEMA, load_manifest, published_models

    return [dg.AssetKey([PUBLISHED_SCHEMA, m["name"]]) for m in published_models(load_manifest())]


MART_KEYS = mart_keys()
PUBLISHED_KEY = dg.AssetKey(["published", "mirror_warehouse"])
DBT_DOCS_FILES = ("index.html", "static_index.html", "manifest.json", "catalog.json")
# the fingerprint of the dbt project a docs site documents (build_state.dbt_project_fingerprint)
DOCS_STAMP = ".dbt_project_fingerprint"


def _docs_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in DBT_DOCS_FILES)


class PublishTarget(dg.ConfigurableResource):
    """The home whose published DuckDB file, Parquet exports and dbt docs are written (paths:
    :class:`HomeLayout`), and DuckDB's memory limit while copying (from the settings)."""

    home: str
    memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT

    @property
    def layout(self) -> HomeLayout:
        return HomeLayout(Path(self.home))


@dg.asset(
    key=PUBLISHED_KEY,
    group_name="publish",
    deps=MART_KEYS,
    kinds={"duckdb", "parquet"},
    description=(
        "Read-only DuckDB file ($MIRROR_HOME/published/mirror.duckdb) and Parquet exports "
        "($MIRROR_HOME/exports/<table>/<year>-<freq>.parquet, exports -> "
        "exports.versions/<publication id>/) of every mart, built aside and swapped in "
        "atomically; the years and frequencies that did not change are kept from the previous "
        "publication. Runs only after the blocking checks on "
        "the marts passed; a failed run leaves the previous publication as it was."
    ),
)
def published_mirror_warehouse(
    context: dg.AssetExecutionContext, warehouse: Warehouse, publish_target: PublishTarget
) -> dg.MaterializeResult:
    progress = StepProgress("publish", None, log=context.log)

    def on_table(name: str, done: int, total: int) -> None:
        progress.total = total
        progress.advance(1, f"tables (DuckDB file + Parquet), last: {name}")

    layout = publish_target.layout
    with warehouse.connection(read_only=True) as con:
        inputs = build_state.current_inputs(con)
    build_state.forget_published(layout)
    pub = publish(
        Path(warehouse.duckdb_path),
        publish_target.layout.published_duckdb_path,
        publish_target.layout.exports_dir,
        run_id=context.run_id,
        memory_limit=publish_target.memory_limit,
        on_table=on_table,
    )
    build_state.record_published(layout, inputs, pub.publication_id)
    written = pub.written
    progress.finish(
        f"tables published as {pub.publication_id} to {pub.duckdb_path} "
        f"in {pub.timings.get('total_s', 0):.2f}s: {written.get('files_written', 0)} export "
        f"files written, {written.get('files_reused', 0)} unchanged kept; DuckDB file "
        + ("updated" if pub.duckdb_updated else "written whole")
    )
    return dg.MaterializeResult(
        metadata={
            "publication_id": pub.publication_id,
            "published_duckdb": dg.MetadataValue.path(str(pub.duckdb_path)),
            "exports_dir": dg.MetadataValue.path(str(publish_target.layout.exports_dir)),
            "exports_version_dir": dg.MetadataValue.path(str(pub.exports_version_dir)),
            "tables": dg.MetadataValue.json(pub.tables),
            "dagster/row_count": sum(pub.tables.values()),
            "publish_seconds": pub.timings.get("total_s", 0.0),
            "duckdb_file_updated": pub.duckdb_updated,
            "export_files_written": written.get("files_written", 0),
            "export_files_kept": written.get("files_reused", 0),
            "rows_written": written.get("rows_written_parquet", 0),
        }
    )


def _replace_dir(staged: Path, final: Path) -> None:
    """Put ``staged`` at ``final``; the old folder is moved aside first, then deleted."""
    old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:6]}")
    if final.exists():
        os.replace(final, old)
    os.replace(staged, final)
    shutil.rmtree(old, ignore_errors=True)


@dg.asset(
    key=["published", "dbt_docs"],
    group_name="publish",
    deps=[PUBLISHED_KEY],
    kinds={"dbt", "html"},
    description=(
        "`dbt docs generate --static --no-compile` after a successful publication, when the "
        "dbt project changed since the site was generated (the site documents the project): "
        "$MIRROR_HOME/docs/dbt/static_index.html opens in a browser without a server (every "
        "model, column, type and the lineage; index.html + manifest.json + catalog.json for "
        "static hosting). The catalog (column types) is read from the working warehouse."
    ),
)
def published_dbt_docs(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, publish_target: PublishTarget
) -> dg.MaterializeResult:
    from dagster_project.transform.project import dbt_project, run_target_path

    started = time.monotonic()
    progress = StepProgress("dbt docs", 1, log=context.log)
    final = publish_target.layout.dbt_docs_dir
    project = build_state.dbt_project_fingerprint()
    stamp = final / DOCS_STAMP
    if stamp.is_file() and stamp.read_text() == project and _docs_complete(final):
        progress.advance(1)
        progress.finish(f"site at {final} unchanged: the dbt project did not change")
        return dg.MaterializeResult(
            metadata={"docs": dg.MetadataValue.path(str(final / "static_index.html")),
                      "regenerated": False, "seconds": round(time.monotonic() - started, 2)}
        )  # fmt: skip
    work = run_target_path(publish_target.layout, "docs")
    # --no-compile documents the manifest dagster-dbt already parsed (no SQL compilation)
    shutil.copy2(dbt_project.manifest_path, work / "manifest.json")
    # on a Spark target the catalog would be Spark's (another Spark session started for the
    # column types the contracts in the manifest already give): left empty
    on_spark = dbt_project.target in SPARK_TARGETS
    dbt.cli(
        [
            "docs",
            "generate",
            "--static",
            "--no-compile",
            *(["--empty-catalog"] if on_spark else []),
        ],
        target_path=work,
        manifest=dbt_project.manifest_path,
        raise_on_error=True,
    ).wait()
    staged = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:6]}")
    staged.mkdir()
    try:
        for name in DBT_DOCS_FILES:
            shutil.copy2(work / name, staged / name)
        (staged / DOCS_STAMP).write_text(project)
        _replace_dir(staged, final)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    elapsed = time.monotonic() - started
    progress.advance(1)
    progress.finish(f"site written to {final} in {elapsed:.1f}s")
    return dg.MaterializeResult(
        metadata={
            "docs": dg.MetadataValue.path(str(final / "static_index.html")),
            "regenerated": True,
            "seconds": round(elapsed, 2),
        }
    )
