"""The Spark targets' data exchange with the DuckDB working warehouse (docs/spark.md).

On a Spark target (``MIRROR_DBT_TARGET=spark_*``) ingest, the GX checks, the report and the
publication are unchanged and read or write the DuckDB working warehouse; only the dbt models
run on Spark. Two hand-overs, both as Parquet under ``$MIRROR_HOME/spark``
(:attr:`HomeLayout.spark_dir`):

* before dbt, :func:`export_raw` writes every table the dbt sources name (the typed
  ``raw.*`` tables, the file registry) to ``raw/<table>/``; dbt's ``on-run-start`` hook
  (``dbt/macros/spark/spark_runtime.sql``) registers each folder as a Spark table
  ``raw.<table>``. Registering happens inside dbt because ``method: session`` runs Spark in
  the dbt process and the local Derby metastore admits one process at a time: a SparkSession
  here would lock dbt out.
* after dbt, its ``on-run-end`` hook has written every mart and report table built to
  ``out/<schema>/<table>/``; :func:`load_outputs` replaces the working warehouse's
  ``marts.*`` / ``report.*`` with them, cast to the types of the models' contracts, so the
  GX suites and the publication run on exactly what Spark computed.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from dagster_project.ingest.sql import table_exists
from dagster_project.settings import HomeLayout

OUTPUT_SCHEMAS = ("marts", "report")  # what Spark hands back (the GX suites, publish, report)
RAW_FOLDER = "raw"
OUT_FOLDER = "out"


@dataclass(frozen=True)
class Exchange:
    """What went to or came back from Spark: table -> rows."""

    tables: Mapping[str, int]

    def describe(self) -> str:
        return f"{len(self.tables)} tables, {sum(self.tables.values())} rows"


def source_tables(manifest: Mapping[str, Any]) -> list[str]:
    """``schema.table`` of every dbt source (what the Spark build reads), sorted."""
    names = {
        f"{s['schema']}.{s.get('identifier') or s['name']}"
        for s in manifest.get("sources", {}).values()
    }
    return sorted(names)


def output_models(manifest: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """``schema.table`` -> {column: contract data_type} of every model Spark hands back."""
    models: dict[str, dict[str, str]] = {}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") == "model" and node.get("schema") in OUTPUT_SCHEMAS:
            columns = {
                name: str(col.get("data_type") or "")
                for name, col in (node.get("columns") or {}).items()
            }
            models[f"{node['schema']}.{node['name']}"] = columns
    return models


def read_manifest(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def export_raw(
    con: duckdb.DuckDBPyConnection, layout: HomeLayout, tables: Iterable[str]
) -> Exchange:
    """Write each of ``tables`` (``schema.table``) to ``spark/raw/<table>/data.parquet``, and
    clear ``spark/out/`` (a failed build must not hand back the previous build's marts).

    Timestamps without a time zone are written as UTC instants: Spark reads a naive Parquet
    timestamp as TIMESTAMP_NTZ, which the models' SQL (written for TIMESTAMP) would then
    compare and format differently. The whole table every time: the sample's raw tables take
    a second; a warehouse large enough to need a cluster should write raw as Parquet in the
    first place (docs/spark.md, "not supported")."""
    raw_dir = layout.spark_dir / RAW_FOLDER
    shutil.rmtree(layout.spark_dir / OUT_FOLDER, ignore_errors=True)
    raw_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for qualified in tables:
        schema, table = qualified.split(".", 1)
        if not table_exists(con, qualified):
            raise RuntimeError(
                f"{qualified} is a dbt source but not in the warehouse: run the ingest first"
            )
        columns = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, table],
        ).fetchall()
        select = ", ".join(
            f"timezone('UTC', {_quote(name)}) as {_quote(name)}"
            if data_type == "TIMESTAMP"
            else _quote(name)
            for name, data_type in columns
        )
        folder = raw_dir / table
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        con.execute(
            f"copy (select {select} from {_quote(schema)}.{_quote(table)}) "
            f"to '{_literal(folder / 'data.parquet')}' (format parquet)"
        )
        row = con.execute(f"select count(*) from {_quote(schema)}.{_quote(table)}").fetchone()
        counts[qualified] = int(row[0]) if row else 0
    return Exchange(counts)


def load_outputs(
    con: duckdb.DuckDBPyConnection, layout: HomeLayout, models: Mapping[str, Mapping[str, str]]
) -> Exchange:
    """Replace ``marts.*`` / ``report.*`` in the working warehouse with the Parquet Spark wrote
    for each of ``models`` (``schema.table`` -> contract types), in one transaction. Each
    column is cast to its contract's type where DuckDB knows it (the contracts are the types
    the DuckDB build produces), so what is checked and published has the same schema whatever
    the engine. A model Spark did not write (not selected in this build) is left as it is."""
    out_dir = layout.spark_dir / OUT_FOLDER
    statements: dict[str, str] = {}
    for qualified, contract in sorted(models.items()):
        schema, table = qualified.split(".", 1)
        folder = out_dir / schema / table
        if not any(folder.glob("*.parquet")):
            continue
        source = f"read_parquet('{_literal(folder)}/*.parquet')"
        names = [r[0] for r in con.execute(f"describe select * from {source}").fetchall()]
        select = ", ".join(_cast(con, name, _contract_type(contract, name)) for name in names)
        statements[qualified] = (
            f"create or replace table {_quote(schema)}.{_quote(table)} as "
            f"select {select} from {source}"
        )
    counts: dict[str, int] = {}
    con.execute("begin transaction")  # all of them or none: the checks see one build
    try:
        for qualified, statement in statements.items():
            schema, table = qualified.split(".", 1)
            con.execute(f"create schema if not exists {_quote(schema)}")
            con.execute(statement)
            row = con.execute(f"select count(*) from {_quote(schema)}.{_quote(table)}").fetchone()
            counts[qualified] = int(row[0]) if row else 0
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return Exchange(counts)


def _contract_type(contract: Mapping[str, str], column: str) -> str:
    lowered = {k.lower(): v for k, v in contract.items()}
    return lowered.get(column.lower(), "")


def _cast(con: duckdb.DuckDBPyConnection, column: str, data_type: str) -> str:
    """``column`` cast to ``data_type`` when DuckDB knows the type, else as Spark wrote it."""
    name = _quote(column)
    if data_type:
        try:
            con.execute(f"select cast(null as {data_type})")
        except duckdb.Error:
            return name
        return f"cast({name} as {data_type}) as {name}"
    return name


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(path: Path) -> str:
    return str(path).replace("'", "''")
