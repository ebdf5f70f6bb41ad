"""The publication of a real `mirror run` (the session's sample run), read the way BI tools
read it: SQLAlchemy + duckdb-engine read-only (Superset), Parquet, the dbt docs site. (The
examples of docs/bi.md, with each client: tests/e2e/test_bi_clients.py.)"""

from __future__ import annotations

import json
import stat

import duckdb
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from dagster_project.publish import docs
from dagster_project.publish.snapshot import is_read_only, read_manifest
from tests.e2e.conftest import MirrorRun

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def published(sample_run: MirrorRun):
    assert sample_run.returncode == 0, sample_run.stdout + sample_run.stderr
    return sample_run.home / "published" / "mirror.duckdb"


DOCUMENTED = docs.documented_columns(docs.load_manifest())  # what docs/bi.md promises


@pytest.mark.parametrize("table", sorted(DOCUMENTED))
def test_published_columns_are_the_documented_ones(published, table: str) -> None:
    """Through SQLAlchemy + duckdb-engine, read-only (what Superset does): every published
    column is documented in the dbt yml (so in docs/bi.md) and every documented one exists."""
    engine = sa.create_engine(
        f"duckdb:///{published}", connect_args={"read_only": True}, poolclass=NullPool
    )
    try:
        with engine.connect() as con:
            actual = [c["name"] for c in sa.inspect(con).get_columns(table, schema="marts")]
    finally:
        engine.dispose()
    documented = DOCUMENTED[table]
    undocumented = [c for c in actual if c not in documented]
    missing = [c for c in documented if c not in actual]
    assert not undocumented and not missing, (
        f"marts.{table}: columns not in its dbt yml (add them, then `uv run mirror docs`): "
        f"{undocumented}; documented but not published: {missing}"
    )


def test_published_file_and_exports_are_read_only_and_one_publication(
    published, sample_run: MirrorRun
) -> None:
    exports = sample_run.home / "exports"
    version = exports.resolve()
    assert exports.is_symlink() and version.parent.name == "exports.versions"
    files = [published, *version.rglob("*")]
    for path in files:
        assert is_read_only(path), f"{path} is writable"
    assert not version.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    manifest = read_manifest(exports)
    with duckdb.connect(str(published), read_only=True) as con:
        [(pub_id, run_id)] = con.execute(
            "select publication_id, run_id from main.publication"
        ).fetchall()
        counts = {
            f"{s}.{t}": n
            for s, t, n in con.execute(
                "select table_schema, table_name, row_count from main.publication_tables"
            ).fetchall()
        }
        for name, rows in counts.items():
            assert con.execute(f"select count(*) from {name}").fetchone()[0] == rows
    assert manifest["publication_id"] == pub_id and run_id
    assert {k: v["rows"] for k, v in manifest["tables"].items()} == counts
    con = duckdb.connect()
    for name, info in manifest["tables"].items():
        glob = str(version / info["parquet"])  # <table>/*.parquet: one file per year or "all"
        assert (
            con.execute("select count(*) from read_parquet(?)", [glob]).fetchone()[0]
            == (counts[name])
        )
        for relative, file in info["files"].items():
            kv = con.execute(
                "select value::varchar from parquet_kv_metadata(?) where key::varchar = "
                "'publication_id'",
                [str(version / relative)],
            ).fetchone()[0]
            assert kv == file["written_by"]  # this publication's, or an earlier one's, reused
    # the documented path exports/<table>/*.parquet works through the link, a file per year
    # and frequency
    names = []
    for path in (exports / "fct_mirror_trade").iterdir():
        year, freq = path.stem.split("-")  # 2019-A.parquet ... 2024-M.parquet
        names.append(path.stem)
        found = con.execute(
            "select distinct year(period_start)::varchar, freq from read_parquet(?)", [str(path)]
        ).fetchall()
        assert found == [(year, freq)], path
    assert {name.split("-")[1] for name in names} == {"A", "M"}


def test_dbt_docs_site_is_written_for_the_run(sample_run: MirrorRun) -> None:
    site = sample_run.home / "docs" / "dbt"
    for name in ("static_index.html", "index.html", "manifest.json", "catalog.json"):
        assert (site / name).is_file(), name
    catalog = json.loads((site / "catalog.json").read_text(encoding="utf-8"))
    fct = next(n for n in catalog["nodes"].values() if n["metadata"]["name"] == "fct_mirror_trade")
    assert "gap_pct" in {c.lower() for c in fct["columns"]}
    assert "published/dbt_docs" in sample_run.stdout or "dbt_docs" in sample_run.stdout


def test_a_blocked_run_leaves_no_partial_publication(breach_run: MirrorRun) -> None:
    """The breach run's blocking check failed: no file, no export, no temporary leftovers.
    (A failed publish over an existing publication: tests/unit/test_publish.py.)"""
    assert breach_run.returncode == 1
    home = breach_run.home
    assert not (home / "published" / "mirror.duckdb").exists()
    assert not list(home.glob("published/*.tmp-*"))
    assert not (home / "exports").exists()
    assert not list(home.glob("exports.versions/*"))
