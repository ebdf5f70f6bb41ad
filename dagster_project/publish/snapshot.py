"""Publish the marts for BI: a new read-only DuckDB file and Parquet files, swapped in atomically.

The pipeline never writes the published file in place: it builds ``<name>.tmp-<id>`` beside
it and renames it over the old one, so a reader holding the old file keeps a complete
publication and the next reader opens the new one.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

PUBLISHED_SCHEMAS = ("marts",)
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class Publication:
    publication_id: str
    published_at: dt.datetime
    duckdb_path: Path
    tables: dict[str, int]  # "schema.table" -> rows
    parquet_files: tuple[Path, ...]


def _tables(con, schemas: tuple[str, ...]) -> list[tuple[str, str]]:
    rows = con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_catalog = 'source' and table_schema in (select unnest(?)) "
        "and table_type = 'BASE TABLE' "
        "order by 1, 2",
        [list(schemas)],
    ).fetchall()
    bad = [f"{s}.{t}" for s, t in rows if not (_IDENT.match(s) and _IDENT.match(t))]
    if bad:
        raise ValueError(f"refusing to publish tables with unexpected names: {bad}")
    return [(s, t) for s, t in rows]


def publish(
    source_path: Path,
    published_path: Path,
    exports_dir: Path,
    *,
    run_id: str = "",
    schemas: tuple[str, ...] = PUBLISHED_SCHEMAS,
) -> Publication:
    """Copy every table of ``schemas`` into a fresh file and Parquet exports, then swap them in."""
    publication_id = uuid.uuid4().hex[:12]
    published_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    published_path.parent.mkdir(parents=True, exist_ok=True)
    exports_dir.mkdir(parents=True, exist_ok=True)
    tmp_db = published_path.with_name(f"{published_path.name}.tmp-{publication_id}")
    staged: list[tuple[Path, Path]] = []
    counts: dict[str, int] = {}
    import duckdb

    if not source_path.exists():
        raise FileNotFoundError(f"nothing to publish: {source_path} does not exist")
    con = duckdb.connect()  # in-memory hub: source attached read-only, publication read-write
    try:
        con.execute("ATTACH ? AS source (READ_ONLY)", [str(source_path)])
        con.execute("USE source")
        tables = _tables(con, schemas)
        if not tables:
            raise ValueError(f"nothing to publish: no tables in schemas {schemas} of {source_path}")
        con.execute("ATTACH ? AS publication", [str(tmp_db)])
        for schema, table in tables:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS publication.{schema}")
            con.execute(
                f"CREATE TABLE publication.{schema}.{table} AS SELECT * FROM {schema}.{table}"
            )
            counts[f"{schema}.{table}"] = con.execute(
                f"SELECT count(*) FROM publication.{schema}.{table}"
            ).fetchone()[0]
            final = exports_dir / f"{table}.parquet"
            tmp_parquet = final.with_name(f"{final.name}.tmp-{publication_id}")
            con.execute(
                f"COPY (SELECT * FROM {schema}.{table}) TO ? (FORMAT parquet, COMPRESSION zstd)",
                [str(tmp_parquet)],
            )
            staged.append((tmp_parquet, final))
        con.execute(
            "CREATE TABLE publication.main.publication AS "
            "SELECT ? AS publication_id, ?::TIMESTAMP AS published_at, ? AS run_id, "
            "? AS source_path",
            [publication_id, published_at, run_id, str(source_path)],
        )
        con.execute("DETACH publication")
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        tmp_db.unlink(missing_ok=True)
        raise
    finally:
        con.close()
    for tmp, final in staged:
        os.chmod(tmp, 0o444)
        os.replace(tmp, final)
    os.chmod(tmp_db, 0o444)
    os.replace(tmp_db, published_path)
    return Publication(
        publication_id=publication_id,
        published_at=published_at,
        duckdb_path=published_path,
        tables=counts,
        parquet_files=tuple(final for _, final in staged),
    )
