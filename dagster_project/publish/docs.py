"""Generate the table reference of ``docs/bi.md`` from the dbt manifest (the marts' ymls).

The part of ``docs/bi.md`` between ``BEGIN_MARKER`` and ``END_MARKER`` is generated; the
rest is written by hand. ``mirror docs`` rewrites it, ``mirror docs --check`` fails when it is
out of date (tests/unit/test_publish_docs.py does the same in CI).

Only the manifest is read (descriptions, columns in yml order with their contract
``data_type``, tests): the output does not depend on a built warehouse, so the check runs
anywhere. The types are the dbt contracts the build enforces (``dbt_project.yml``: every model
of ``marts`` has ``contract: {enforced: true}``), so they are the published types.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster_project.settings import REPO_ROOT

BI_DOC = REPO_ROOT / "docs" / "bi.md"
PUBLISHED_SCHEMA = "marts"
BEGIN_MARKER = "<!-- BEGIN GENERATED: marts (uv run mirror docs; edit the dbt ymls, not this) -->"
END_MARKER = "<!-- END GENERATED: marts -->"


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")


def model_rules_of(test: Mapping[str, Any], model: Mapping[str, Any]) -> Mapping[str, Any]:
    """The rules a ``model_rules`` test (a manifest node) checks: its model's
    ``config.meta.<meta_key>`` (``rules`` unless the test names another key), {} if none."""
    kwargs = (test.get("test_metadata") or {}).get("kwargs") or {}
    meta = (model.get("config") or {}).get("meta") or {}
    return meta.get(kwargs.get("meta_key") or "rules") or {}


def _rule_labels(
    rules: Mapping[str, Any], columns: Mapping[str, Any]
) -> list[tuple[str | None, str]]:
    """``(column or None, label)`` of each rule of a ``model_rules`` test (the rules are in the
    model's ``config.meta``, dbt/tests/generic/model_rules.sql): a rule on one column of the
    model is shown on it, the others (keys, expressions) on the table."""
    labels: list[tuple[str | None, str]] = [(c, "not null") for c in rules.get("not_null", [])]
    for key in rules.get("unique", []):
        if len(key) == 1 and key[0] in columns:
            labels.append((key[0], "unique"))
        elif len(key) == 1:
            labels.append((None, f"unique: `{_one_line(key[0])}`"))
        else:
            labels.append((None, "unique key: " + ", ".join(f"`{c}`" for c in key)))
    for column, values in (rules.get("accepted_values") or {}).items():
        labels.append((column, "one of " + ", ".join(f"`{v}`" for v in values)))
    for column, pattern in (rules.get("matches") or {}).items():
        labels.append((column, f"matches `{_one_line(pattern)}`"))
    for rule in rules.get("expressions", []):
        rule = rule if isinstance(rule, Mapping) else {"expression": rule}
        where = f" where {rule['where']}" if rule.get("where") else ""
        text = rule.get("name") or _one_line(f"{rule['expression']}{where}")
        labels.append((None, f"`{text}`"))
    return labels


def _column_tests(manifest: Mapping[str, Any], unique_id: str) -> dict[str | None, list[str]]:
    """Short labels of the dbt tests on each column (None: tests on the whole model)."""
    model = manifest["nodes"].get(unique_id, {})
    columns = model.get("columns", {})
    tests: dict[str | None, list[str]] = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "test" or node.get("attached_node") != unique_id:
            continue
        test = node.get("test_metadata") or {}
        name = test.get("name") or node["name"]
        kwargs = test.get("kwargs") or {}
        if name == "model_rules":
            labels = _rule_labels(model_rules_of(node, model), columns)
        elif name == "relationships":
            target = str(kwargs.get("to", "")).replace("ref('", "").replace("')", "")
            labels = [(node.get("column_name"), "in " + target)]
        else:
            labels = [(node.get("column_name"), name.replace("_", " "))]
        severity = str(node.get("config", {}).get("severity", "")).lower()
        for column, label in labels:
            tests.setdefault(column, []).append(label + (" (warn)" if severity == "warn" else ""))
    return {k: sorted(v) for k, v in tests.items()}


def published_models(manifest: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The dbt models of the published schema, by name."""
    models = [
        n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n.get("schema") == PUBLISHED_SCHEMA
    ]
    return sorted(models, key=lambda n: n["name"])


def documented_columns(manifest: Mapping[str, Any]) -> dict[str, list[str]]:
    """``{table: [column, ...]}`` in yml order: what BI users are promised."""
    return {m["name"]: list(m.get("columns", {})) for m in published_models(manifest)}


def contract_types(manifest: Mapping[str, Any]) -> dict[str, dict[str, str | None]]:
    """``{table: {column: data_type}}`` of the published models' contracts (None: missing)."""
    return {
        m["name"]: {c: spec.get("data_type") for c, spec in m.get("columns", {}).items()}
        for m in published_models(manifest)
    }


def contract_problems(manifest: Mapping[str, Any]) -> list[str]:
    """What keeps a published model from being a contract: not enforced, or a column without
    its data_type. dbt itself checks the SQL against the contract at build time."""
    problems = []
    for model in published_models(manifest):
        name = f"{PUBLISHED_SCHEMA}.{model['name']}"
        if not (model.get("config", {}).get("contract") or {}).get("enforced"):
            problems.append(f"{name}: contract not enforced")
        untyped = [c for c, spec in model.get("columns", {}).items() if not spec.get("data_type")]
        if untyped:
            problems.append(f"{name}: no data_type for {', '.join(untyped)}")
        if not model.get("columns"):
            problems.append(f"{name}: no columns in its yml")
    return problems


def render_marts_section(manifest: Mapping[str, Any]) -> str:
    """The generated Markdown (without the markers)."""
    out: list[str] = []
    for model in published_models(manifest):
        name = model["name"]
        tests = _column_tests(manifest, model["unique_id"])
        out += [
            f"### `{PUBLISHED_SCHEMA}.{name}`",
            "",
            _one_line(model.get("description")) or "(no description in the dbt yml)",
            "",
            f"Parquet: `exports/{name}/*.parquet`.",
            "",
        ]
        if tests.get(None):
            out += ["Table tests: " + "; ".join(tests[None]) + ".", ""]
        out += ["| column | type | description | tests |", "|---|---|---|---|"]
        for col, spec in model.get("columns", {}).items():
            out.append(
                f"| `{col}` | {str(spec.get('data_type') or '').upper()} "
                f"| {_one_line(spec.get('description'))} | {'; '.join(tests.get(col, []))} |"
            )
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def load_manifest(path: Path | None = None) -> dict[str, Any]:
    if path is None:
        from dagster_project.transform.project import dbt_project  # parses dbt when stale

        path = Path(dbt_project.manifest_path)
    for attempt in range(10):  # another dbt process may be rewriting it (not atomic)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            if attempt == 9:
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")


def updated_document(current: str, manifest: Mapping[str, Any]) -> str:
    """``current`` with its generated section replaced."""
    start = current.find(BEGIN_MARKER)
    end = current.find(END_MARKER)
    if start < 0 or end < start:
        raise ValueError(f"docs/bi.md lacks the markers {BEGIN_MARKER!r} ... {END_MARKER!r}")
    head = current[: start + len(BEGIN_MARKER)]
    return f"{head}\n\n{render_marts_section(manifest)}\n{current[end:]}"


def write_bi_doc(
    doc: Path = BI_DOC, manifest: Mapping[str, Any] | None = None, *, check: bool = False
) -> bool:
    """Regenerate ``doc``; returns True when it was (``check``: would have been) changed."""
    manifest = manifest if manifest is not None else load_manifest()
    current = doc.read_text(encoding="utf-8")
    new = updated_document(current, manifest)
    if new == current:
        return False
    if not check:
        doc.write_text(new, encoding="utf-8")
    return True


def cmd_docs(args: argparse.Namespace) -> int:
    changed = write_bi_doc(Path(args.file), check=args.check)
    if args.check:
        if changed:
            print(f"mirror docs: {args.file} is out of date with the dbt ymls; run `mirror docs`")
            return 1
        print(f"mirror docs: {args.file} is up to date")
        return 0
    print(f"mirror docs: {args.file} {'updated' if changed else 'already up to date'}")
    return 0


def add_docs_parser(subparsers: Any) -> argparse.ArgumentParser:
    """``mirror docs [--check] [--file PATH]``."""
    parser = subparsers.add_parser(
        "docs",
        help="regenerate the table reference of docs/bi.md from the dbt ymls",
        description=(
            "Rewrite the generated part of docs/bi.md (the published marts, their columns, "
            "descriptions and tests) from the dbt manifest. --check only reports whether it "
            "is out of date (exit 1). The dbt docs site itself is written by every run to "
            "$MIRROR_HOME/docs/dbt/."
        ),
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    parser.add_argument("--file", default=str(BI_DOC), help=f"default: {BI_DOC}")
    parser.set_defaults(func=cmd_docs)
    return parser


if __name__ == "__main__":  # python -m dagster_project.publish.docs [--check]
    _parser = argparse.ArgumentParser(prog="mirror")
    add_docs_parser(_parser.add_subparsers(dest="command", required=True))
    _args = _parser.parse_args(["docs", *sys.argv[1:]])
    sys.exit(_args.func(_args))
