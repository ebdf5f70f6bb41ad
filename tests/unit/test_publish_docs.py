"""docs/bi.md: its table reference is generated from the dbt ymls and must not go stale."""

from __future__ import annotations

import argparse
import copy

import pytest

from dagster_project.publish import docs


@pytest.fixture(scope="module")
def manifest() -> dict:
    return docs.load_manifest()  # parses dbt first when the manifest is stale


def test_bi_doc_is_up_to_date_with_the_dbt_ymls(manifest: dict) -> None:
    current = docs.BI_DOC.read_text(encoding="utf-8")
    assert docs.updated_document(current, manifest) == current, (
        "docs/bi.md is out of date with dbt/models/marts/*.yml: run `uv run mirror docs` "
        "(or `uv run python -m dagster_project.publish.docs`) and commit the result"
    )


def test_every_published_model_and_column_is_documented(manifest: dict) -> None:
    section = docs.render_marts_section(manifest)
    columns = docs.documented_columns(manifest)
    assert {"fct_mirror_trade", "dim_country", "dim_product"} <= set(columns)
    for table, cols in columns.items():
        assert f"### `marts.{table}`" in section
        assert cols, f"{table} documents no columns"
        for col in cols:
            assert f"| `{col}` |" in section
    status = next(line for line in section.splitlines() if line.startswith("| `status` |"))
    assert "not null" in status and "one of `ok`" in status and "`breach`" in status


def test_every_published_model_is_an_enforced_contract(manifest: dict) -> None:
    """dbt_project.yml enforces contracts on every model of marts; each column has its type."""
    assert docs.contract_problems(manifest) == []
    edited = copy.deepcopy(manifest)
    node = next(n for n in edited["nodes"].values() if n.get("name") == "dim_country")
    node["columns"]["iso3"]["data_type"] = None
    node["config"]["contract"] = {"enforced": False}
    assert docs.contract_problems(edited) == [
        "marts.dim_country: contract not enforced",
        "marts.dim_country: no data_type for iso3",
    ]


def test_an_edited_yml_makes_the_check_fail(manifest: dict, tmp_path) -> None:
    doc = tmp_path / "bi.md"
    doc.write_text(docs.BI_DOC.read_text(encoding="utf-8"), encoding="utf-8")
    edited = copy.deepcopy(manifest)
    node = next(n for n in edited["nodes"].values() if n.get("name") == "fct_mirror_trade")
    node["columns"]["gap_pct"]["description"] = "a new meaning"
    assert docs.write_bi_doc(doc, edited, check=True) is True
    assert docs.write_bi_doc(doc, edited) is True and "a new meaning" in doc.read_text()
    assert docs.write_bi_doc(doc, edited, check=True) is False


def test_docs_subcommand(tmp_path, capsys) -> None:
    parser = argparse.ArgumentParser(prog="mirror")
    docs.add_docs_parser(parser.add_subparsers(dest="command", required=True))
    doc = tmp_path / "bi.md"
    doc.write_text(f"# x\n\n{docs.BEGIN_MARKER}\nstale\n{docs.END_MARKER}\n", encoding="utf-8")
    args = parser.parse_args(["docs", "--check", "--file", str(doc)])
    assert args.func(args) == 1 and "out of date" in capsys.readouterr().out
    args = parser.parse_args(["docs", "--file", str(doc)])
    assert args.func(args) == 0 and "### `marts.fct_mirror_trade`" in doc.read_text()
    args = parser.parse_args(["docs", "--check", "--file", str(doc)])
    assert args.func(args) == 0


def test_a_models_rules_are_shown_on_their_columns_and_table() -> None:
    rules = {
        "not_null": ["a"],
        "unique": [["a"], ["a", "b"], ["case when c then a end"]],
        "accepted_values": {"b": ["x", "y"]},
        "matches": {"b": "[a-z]{1}"},
        "expressions": [
            {"name": "a_is_positive", "expression": "a > 0"},
            {"expression": "b <> 'x'", "where": "a > 1"},
        ],
    }
    assert docs._rule_labels(rules, {"a": {}, "b": {}}) == [
        ("a", "not null"),
        ("a", "unique"),
        (None, "unique key: `a`, `b`"),
        (None, "unique: `case when c then a end`"),
        ("b", "one of `x`, `y`"),
        ("b", "matches `[a-z]{1}`"),
        (None, "`a_is_positive`"),
        (None, "`b <> 'x' where a > 1`"),
    ]


RULE_KINDS = {"not_null", "unique", "accepted_values", "matches", "expressions", "key"}


def test_every_model_rules_test_finds_its_rules_in_its_models_meta(manifest: dict) -> None:
    """The rules of dbt/tests/generic/model_rules.sql are the tested model's
    ``config.meta.<meta_key>``: a test whose model has none, or a key that is not a rule kind
    (which the test refuses at compile time), is caught here without a warehouse."""
    nodes = manifest["nodes"]
    tests = [
        n
        for n in nodes.values()
        if n["resource_type"] == "test"
        and (n.get("test_metadata") or {}).get("name") == "model_rules"
    ]
    assert len(tests) >= 60
    for test in tests:
        rules = docs.model_rules_of(test, nodes[test["attached_node"]])
        assert isinstance(rules, dict) and rules, f"{test['name']}: no rules in its model's meta"
        assert set(rules) <= RULE_KINDS, f"{test['name']}: {set(rules) - RULE_KINDS}"
        assert set(rules) - {"key"}, f"{test['name']}: a key and no rule"
