"""The set-based rules (`dbt/tests/generic/model_rules.sql`) catch what they guard, and only that.

A model's not-null, unique, accepted-values and expression rules are one dbt test that scans
the model once. On copies of the sample warehouse: one where rows of fct_mirror_trade are
corrupted, one rule kind each, must fail with every broken rule named (rule, columns, count,
the corrupted row's key); one where every model and seed is emptied must pass every data test
(an empty model breaks no invariant).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dagster_project.transform import failures
from tests.conftest import REPO_ROOT
from tests.e2e.conftest import MirrorRun

pytestmark = pytest.mark.e2e

KEY = "freq, period, exporter_iso3, importer_iso3, hs6"


def dbt_test(warehouse: Path, tmp_path: Path, *select: str) -> dict[str, Any]:
    """`dbt test` of the data tests (``select``: a narrower selection) on ``warehouse``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIRROR_", "DAGSTER_HOME"))}
    env.update(MIRROR_DUCKDB_PATH=str(warehouse), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    target = tmp_path / "target"
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "test", "--exclude-resource-type", "unit_test",
         *(("--select", *select) if select else ()),
         "--project-dir", "dbt", "--profiles-dir", "dbt",
         "--target-path", str(target), "--log-path", str(tmp_path / "logs")],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    results_path = target / "run_results.json"
    assert results_path.exists(), proc.stdout[-4000:] + proc.stderr[-2000:]
    results = json.loads(results_path.read_text())
    # the data tests only: the project's on-run-start/-end hooks (Spark's hand-overs, nothing
    # on DuckDB) are results too
    results["results"] = [r for r in results["results"] if r["unique_id"].startswith("test.")]
    return results


def manifest() -> dict[str, Any]:
    return json.loads((REPO_ROOT / "dbt" / "target" / "manifest.json").read_text())


@pytest.fixture
def sample_copy(sample_run: MirrorRun, tmp_path: Path) -> Path:
    assert sample_run.returncode == 0, sample_run.stdout + sample_run.stderr
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(sample_run.warehouse, copy)
    return copy


def test_each_kind_of_rule_catches_a_corrupted_row(sample_copy: Path, tmp_path: Path) -> None:
    with duckdb.connect(str(sample_copy)) as con:
        # four different rows, by key: each breaks one kind of rule
        keys = con.execute(
            f"select {KEY} from marts.fct_mirror_trade where status = 'ok' "
            f"and declared_sides = 'both' order by {KEY} limit 4"
        ).fetchall()
        assert len(keys) == 4
        where = [
            "freq = ? and period = ? and exporter_iso3 = ? and importer_iso3 = ? and hs6 = ?"
        ] * 4
        con.execute(f"update marts.fct_mirror_trade set status = 'bogus' where {where[0]}", keys[0])
        con.execute(
            f"update marts.fct_mirror_trade set tolerance_pct = null where {where[1]}", keys[1]
        )
        con.execute(
            f"insert into marts.fct_mirror_trade select * from marts.fct_mirror_trade "
            f"where {where[2]}",
            keys[2],
        )
        con.execute(
            f"update marts.fct_mirror_trade set gap_usd = gap_usd + 1000 where {where[3]}", keys[3]
        )
    results = dbt_test(sample_copy, tmp_path, "model_rules_fct_mirror_trade")
    [result] = results["results"]
    assert result["status"] == "fail"
    [node] = failures.failed_nodes(results, manifest())
    node = replace(node, rows=failures.offending_rows(sample_copy, node))
    broken = {(r["rule"], r["columns"]): r for r in node.rows}

    def key_text(key: tuple[str, ...]) -> str:
        return ", ".join(f"{c}={v}" for c, v in zip(KEY.split(", "), key, strict=True))

    assert broken[("accepted_values", "status")]["failing_rows"] == 1
    assert broken[("accepted_values", "status")]["examples"] == key_text(keys[0])
    assert broken[("not_null", "tolerance_pct")]["failing_rows"] == 1
    assert broken[("not_null", "tolerance_pct")]["examples"] == key_text(keys[1])
    assert broken[("unique", KEY)]["failing_rows"] == 2  # the row and its copy
    assert broken[("unique", KEY)]["examples"] == key_text(keys[2])
    gap = next(r for (rule, _), r in broken.items() if rule == "gap_is_import_fob_minus_export")
    assert gap["failing_rows"] == 1 and gap["examples"] == key_text(keys[3])
    # a rule the corruption does not touch is not reported (its `where` is applied too)
    assert not any(rule == "one_sided_flows_are_a_full_gap" for rule, _ in broken)
    assert node.failures == len(node.rows)
    cause = failures.summary([node], 0)
    assert cause.startswith(
        "dbt test model_rules_fct_mirror_trade failed on marts.fct_mirror_trade: "
        "not_null (tolerance_pct): 1 row, e.g. " + key_text(keys[1])
    ), cause
    assert f"(and {len(node.rows) - 1} more rules broken)" in cause
    assert "    accepted_values (status): 1 row, e.g. " + key_text(keys[0]) in failures.details(
        [node]
    )


def test_a_pattern_rule_catches_a_code_out_of_shape(sample_copy: Path, tmp_path: Path) -> None:
    """`matches` (int_comtrade__totals_deduplicated: hs6 is six digits), read from the model's
    meta like every rule: a five-digit code is named with its pattern and its row."""
    table = "intermediate.int_comtrade__totals_deduplicated"
    with duckdb.connect(str(sample_copy)) as con:
        key = con.execute(
            f"select freq, period, reporter_code, flow_code, partner_code, hs6 from {table} "
            "order by all limit 1"
        ).fetchone()
        assert key is not None
        con.execute(
            f"update {table} set hs6 = left(hs6, 5) where freq = ? and period = ? "
            "and reporter_code = ? and flow_code = ? and partner_code = ? and hs6 = ?",
            key,
        )
    results = dbt_test(sample_copy, tmp_path, "model_rules_int_comtrade__totals_deduplicated")
    [result] = results["results"]
    assert result["status"] == "fail"
    [node] = failures.failed_nodes(results, manifest())
    rows = failures.offending_rows(sample_copy, node)
    assert [(r["rule"], r["columns"], r["failing_rows"]) for r in rows] == [
        ("matches", "hs6 ~ [0-9]{6}", 1)
    ]
    assert f"hs6={key[5][:5]}" in rows[0]["examples"]


def test_every_data_test_passes_on_empty_models(sample_copy: Path, tmp_path: Path) -> None:
    with duckdb.connect(str(sample_copy)) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE' and table_schema in "
            "('raw', 'reference', 'intermediate', 'marts', 'report')"
        ).fetchall()
        for schema, table in tables:
            con.execute(f'delete from "{schema}"."{table}"')
    results = dbt_test(sample_copy, tmp_path)
    statuses = {r["unique_id"]: r["status"] for r in results["results"]}
    rules = [uid for uid in statuses if ".model_rules_" in uid]
    assert len(rules) >= 40  # every model's rules ran ...
    assert {s for s in statuses.values()} == {"pass"}, {
        uid: s for uid, s in statuses.items() if s != "pass"
    }  # ... and an empty model breaks none
