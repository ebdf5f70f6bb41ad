"""A failed dbt build read from its artifacts: which test, on which model, which rows."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import duckdb

from dagster_project.transform import failures

CONTRACT_ERROR = """Compilation Error in model dim_product (models/marts/dim_product.sql)
  This model has an enforced contract that failed.
  Please ensure the name, data_type, and number of columns in your contract match the columns in your model's definition.

  | column_name | definition_type | contract_type | mismatch_reason       |
  | ----------- | --------------- | ------------- | --------------------- |
  | extra_col   |                 | VARCHAR       | missing in definition |
  | hs6         | VARCHAR         | INTEGER       | data type mismatch    |

  > in macro assert_columns_equivalent (macros/relations/column/columns_spec_ddl.sql)
"""

MANIFEST = {
    "nodes": {
        "model.mirror.fct_x": {"resource_type": "model", "name": "fct_x", "schema": "marts"},
        "model.mirror.dim_product": {
            "resource_type": "model", "name": "dim_product", "schema": "marts",
        },
        "test.mirror.not_null_fct_x_y.abc": {
            "resource_type": "test",
            "name": "not_null_fct_x_y",
            "attached_node": "model.mirror.fct_x",
            "test_metadata": {"name": "not_null", "kwargs": {"column_name": "y"}},
        },
    }
}  # fmt: skip


def run_results(compiled: str) -> dict:
    return {
        "results": [
            {"unique_id": "model.mirror.fct_x", "status": "success"},
            {
                "unique_id": "test.mirror.not_null_fct_x_y.abc",
                "status": "fail",
                "failures": 2,
                "message": "Got 2 results, configured to fail if != 0",
                "compiled_code": compiled,
            },
            {"unique_id": "model.mirror.dim_product", "status": "error", "message": CONTRACT_ERROR},
            {"unique_id": "model.mirror.downstream", "status": "skipped"},
        ]
    }


def test_a_contract_error_reads_as_one_line() -> None:
    assert failures.condense(CONTRACT_ERROR) == (
        "its contract (the yml's columns and data_type) differs from the SQL: extra_col missing "
        "in definition (contract VARCHAR); hs6 data type mismatch (SQL VARCHAR, contract INTEGER)"
    )
    assert failures.condense("Runtime Error in model x (m.sql)\n  Binder Error: no y") == (
        "Binder Error: no y"
    )


def test_the_failed_test_with_its_model_and_offending_rows(tmp_path: Path) -> None:
    db = tmp_path / "mirror.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.fct_x as select * from (values (1, null), (2, null), (3, 'ok')) t(k, y)"
        )
    compiled = 'select * from "mirror"."marts"."fct_x" where y is null'
    nodes = failures.failed_nodes(run_results(compiled), MANIFEST)
    assert [(n.kind, n.name, n.model) for n in nodes] == [
        ("test", "not_null_fct_x_y", "marts.fct_x"),
        ("model", "dim_product", "marts.dim_product"),
    ]
    nodes = [replace(n, rows=failures.offending_rows(db, n)) for n in nodes]
    assert nodes[0].rows == ({"k": 1, "y": None}, {"k": 2, "y": None})
    assert failures.summary(nodes, failures.skipped_count(run_results(compiled))) == (
        "dbt test not_null_fct_x_y failed on marts.fct_x: 2 offending rows (and 1 more failed: "
        "dim_product); 1 dependent nodes skipped"
    )
    assert failures.details(nodes) == [
        "    y=None, k=1",  # the tested column first
        "    y=None, k=2",
        "dbt model marts.dim_product failed: its contract (the yml's columns and data_type) "
        "differs from the SQL: extra_col missing in definition (contract VARCHAR); hs6 data "
        "type mismatch (SQL VARCHAR, contract INTEGER)",
    ]


def test_rows_are_best_effort(tmp_path: Path) -> None:
    node = failures.FailedNode("test", "t", "marts.gone", "fail", "", 1, "select * from nowhere")
    assert failures.offending_rows(tmp_path / "missing.duckdb", node) == ()


RULES_MANIFEST = {
    "nodes": {
        "model.mirror.fct_x": {"resource_type": "model", "name": "fct_x", "schema": "marts"},
        "test.mirror.model_rules_fct_x": {
            "resource_type": "test",
            "name": "model_rules_fct_x",
            "attached_node": "model.mirror.fct_x",
            "test_metadata": {
                "name": "model_rules",
                "kwargs": {"not_null": ["y"], "unique": [["k"]], "model": "{{ ref('fct_x') }}"},
            },
        },
    }
}
# what dbt/tests/generic/model_rules.sql selects: one row per broken rule
BROKEN_RULES = """select * from (values
    ('not_null', 'y', 2, 'k=1 ... k=2'),
    ('unique', 'k', 2, 'k=3')
) as broken (rule, columns, failing_rows, examples)"""


def test_a_broken_model_rule_names_the_rule_its_columns_and_examples(tmp_path: Path) -> None:
    db = tmp_path / "mirror.duckdb"
    duckdb.connect(str(db)).close()
    results = {
        "results": [
            {
                "unique_id": "test.mirror.model_rules_fct_x",
                "status": "fail",
                "failures": 2,
                "message": "Got 2 results, configured to fail if != 0",
                "compiled_code": BROKEN_RULES,
            }
        ]
    }
    [node] = failures.failed_nodes(results, RULES_MANIFEST)
    assert node.broken_rules and node.focus == ()
    # without its rows (the warehouse could not be read) the line still counts the rules
    assert node.line() == "dbt test model_rules_fct_x failed on marts.fct_x: 2 rules broken"
    node = replace(node, rows=failures.offending_rows(db, node))
    assert failures.summary([node], 0) == (
        "dbt test model_rules_fct_x failed on marts.fct_x: not_null (y): 2 rows, "
        "e.g. k=1 ... k=2 (and 1 more rule broken)"
    )
    assert failures.details([node]) == [
        "    not_null (y): 2 rows, e.g. k=1 ... k=2",
        "    unique (k): 2 rows, e.g. k=3",
    ]


def test_a_broken_rule_without_examples_is_still_one_line() -> None:
    row = {"rule": "accepted_values", "columns": "status", "failing_rows": 1, "examples": None}
    assert failures.rule_text(row) == "accepted_values (status): 1 row"
    long = {**row, "examples": "k=" + "x" * 400}
    assert len(failures.rule_text(long)) == 300 and failures.rule_text(long).endswith("…")
