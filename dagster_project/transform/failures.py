"""What went wrong in a ``dbt build``, in a line a person reads, with the evidence.

From dbt's own artifacts (``run_results.json`` of the run, the manifest): which node failed,
on which model, and why. A failed data test also shows a few of its offending rows: its
compiled SQL selects exactly them, run again read-only on the warehouse (no
``store_failures`` tables are written). A model's rules are one ``model_rules`` test
(``dbt/tests/generic/model_rules.sql``) whose rows are its broken rules (rule, columns,
failing_rows, examples): the cause names the first broken rule, the details every one.
Pure functions but :func:`offending_rows`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FAILED = ("fail", "error", "runtime error")
MODEL_RULES = "model_rules"  # the generic test of dbt/tests/generic/model_rules.sql
_ERROR_HEADER = re.compile(r"^(Compilation|Runtime|Database|Dependency) Error in \S+ \S+")
_CONTRACT_ROW = re.compile(
    r"^\|\s*(?P<column>[^|]+?)\s*\|\s*(?P<sql>[^|]*?)\s*\|\s*(?P<contract>[^|]*?)\s*"
    r"\|\s*(?P<reason>[^|]+?)\s*\|$"
)


@dataclass(frozen=True)
class FailedNode:
    kind: str  # test | unit_test | model | seed | snapshot
    name: str
    model: str | None  # "schema.model" a test checks (or the model itself)
    status: str  # fail | error
    reason: str  # one line
    failures: int | None = None  # offending rows of a data test
    compiled_sql: str | None = None
    rows: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    focus: tuple[str, ...] = ()  # words of the test's arguments: its columns, shown first
    generic: str | None = None  # the generic test it is an instance of (not_null, model_rules…)

    @property
    def broken_rules(self) -> bool:
        """A ``model_rules`` failure: its rows are broken rules, not rows of the model."""
        return self.generic == MODEL_RULES

    def line(self) -> str:
        if self.kind == "test":
            if self.status == "fail" and self.broken_rules:
                count = f"{self.failures} rule{'s' if self.failures != 1 else ''} broken"
                if not self.rows:
                    return f"dbt test {self.name} failed on {self.model}: {count}"
                more = len(self.rows) - 1 if self.failures is None else self.failures - 1
                return (
                    f"dbt test {self.name} failed on {self.model}: "
                    + rule_text(self.rows[0])
                    + (f" (and {more} more rule{'s' if more != 1 else ''} broken)" if more else "")
                )
            if self.status == "fail":
                rows = f"{self.failures} offending row{'s' if self.failures != 1 else ''}"
                return f"dbt test {self.name} failed on {self.model}: {rows}"
            return f"dbt test {self.name} on {self.model} could not run: {self.reason}"
        if self.kind == "unit_test":
            return f"dbt unit test {self.name} of {self.model} failed: {self.reason}"
        return f"dbt {self.kind} {self.model or self.name} failed: {self.reason}"


def condense(message: str | None) -> str:
    """dbt's multi-line error as one line: the header goes, a contract table becomes a list."""
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    if lines and _ERROR_HEADER.match(lines[0]):
        lines = lines[1:]
    if any("enforced contract" in line for line in lines):
        differences = []
        for line in lines:
            m = _CONTRACT_ROW.match(line)
            if not m or m["column"] in ("column_name",) or set(m["column"]) <= {"-"}:
                continue
            sides = (("SQL", m["sql"]), ("contract", m["contract"]))
            types = ", ".join(f"{who} {kind}" for who, kind in sides if kind)
            differences.append(f"{m['column']} {m['reason']} ({types})")
        if differences:
            return "its contract (the yml's columns and data_type) differs from the SQL: " + (
                "; ".join(differences)
            )
    text = next((line for line in lines if not line.startswith(">")), "no message from dbt")
    return text[:300]


def _relation(node: Mapping[str, Any] | None) -> str | None:
    if not node:
        return None
    return f"{node.get('schema')}.{node.get('alias') or node.get('name')}"


def _tested_model(node: Mapping[str, Any], nodes: Mapping[str, Any]) -> str | None:
    attached = node.get("attached_node") or next(
        (n for n in (node.get("depends_on") or {}).get("nodes", []) if n.startswith("model.")),
        None,
    )
    return _relation(nodes.get(attached)) if attached else None


def failed_nodes(run_results: Mapping[str, Any], manifest: Mapping[str, Any]) -> list[FailedNode]:
    """Every node of the build that failed or errored, tests first (they name data problems)."""
    nodes = {**manifest.get("nodes", {}), **manifest.get("unit_tests", {})}
    found = []
    for result in run_results.get("results", []):
        status = str(result.get("status", "")).lower()
        if status not in FAILED:
            continue
        unique_id = result.get("unique_id", "")
        node = nodes.get(unique_id, {})
        kind = node.get("resource_type") or unique_id.split(".")[0]
        name = node.get("name") or unique_id.rsplit(".", 1)[-1]
        if kind in ("test", "unit_test"):
            model = _tested_model(node, nodes)
            if kind == "unit_test" and not model:
                model = str(node.get("model") or "")
        else:
            model = _relation(node) or name
        failures = result.get("failures")
        generic = (node.get("test_metadata") or {}).get("name")
        arguments = str((node.get("test_metadata") or {}).get("kwargs") or "")
        focus = tuple(dict.fromkeys(re.findall(r"[a-z_][a-z0-9_]*", arguments.lower())))
        if generic == MODEL_RULES:  # its rows name their columns themselves
            focus = ()
        found.append(
            FailedNode(
                kind=kind,
                name=name,
                model=model,
                status="fail" if status == "fail" else "error",
                reason=condense(result.get("message")),
                failures=int(failures) if failures is not None else None,
                compiled_sql=result.get("compiled_code") if kind == "test" else None,
                focus=focus if kind == "test" else (),
                generic=generic if kind == "test" else None,
            )
        )
    return sorted(found, key=lambda n: (n.kind != "test", n.kind != "unit_test", n.name))


def skipped_count(run_results: Mapping[str, Any]) -> int:
    return sum(1 for r in run_results.get("results", []) if r.get("status") == "skipped")


def offending_rows(
    duckdb_path: Path, node: FailedNode, limit: int = 5
) -> tuple[dict[str, Any], ...]:
    """A few rows the failed test's compiled SQL selects, read-only (best effort: empty if the
    SQL cannot run again). Every broken rule of a ``model_rules`` test (a row each): a model
    has a few dozen rules at most."""
    if node.broken_rules:
        limit = max(limit, 50)
    if node.kind != "test" or node.status != "fail" or not node.compiled_sql:
        return ()
    from dagster_project.resources import connect

    try:
        con = connect(duckdb_path, read_only=True, wait_seconds=2)
    except Exception:  # the warehouse is busy or gone: the summary still names the test
        return ()
    try:
        cur = con.execute(f"select * from ({node.compiled_sql}) as failing limit {int(limit)}")
        names = [d[0] for d in cur.description]
        return tuple(dict(zip(names, row, strict=True)) for row in cur.fetchall())
    except Exception:
        return ()
    finally:
        con.close()


def row_text(row: Mapping[str, Any], focus: Sequence[str] = (), width: int = 300) -> str:
    """``col=value, …``: the columns the test is about first, cut at ``width`` characters."""
    by_name = {k.lower(): k for k in row}
    first = [by_name[f] for f in focus if f in by_name]
    keys = first + [k for k in row if k not in first]
    text = ", ".join(f"{k}={row[k]}" for k in keys)
    return text if len(text) <= width else text[: width - 1] + "…"


def rule_text(row: Mapping[str, Any], width: int = 300) -> str:
    """A broken rule of a ``model_rules`` test: ``not_null (status): 3 rows, e.g. freq=A, …``."""
    count = row.get("failing_rows")
    text = f"{row.get('rule')} ({row.get('columns')}): {count} row{'s' if count != 1 else ''}"
    if row.get("examples"):
        text += f", e.g. {row['examples']}"
    return text if len(text) <= width else text[: width - 1] + "…"


def summary(nodes: Sequence[FailedNode], skipped: int) -> str:
    """The one-line cause: the first failure, and how many more there are."""
    if not nodes:
        return "dbt build failed (no failed node in run_results.json; see the log)"
    text = nodes[0].line()
    if len(nodes) > 1:
        text += f" (and {len(nodes) - 1} more failed: " + ", ".join(n.name for n in nodes[1:4])
        text += ", …)" if len(nodes) > 4 else ")"
    if skipped:
        text += f"; {skipped} dependent nodes skipped"
    return text


def details(nodes: Sequence[FailedNode], max_nodes: int = 3) -> list[str]:
    """Lines under the cause (which names the first failure): the offending rows of each
    failure, the other failures' lines."""
    lines = []
    for index, node in enumerate(nodes[:max_nodes]):
        if index:
            lines.append(node.line())
        for row in node.rows:
            lines.append(
                f"    {rule_text(row) if node.broken_rules else row_text(row, node.focus)}"
            )
        if node.failures and len(node.rows) < node.failures:
            more = "more broken rules" if node.broken_rules else "more"
            lines.append(f"    … {node.failures - len(node.rows)} {more}")
    if len(nodes) > max_nodes:
        lines.append(f"… {len(nodes) - max_nodes} more failed nodes (run_results.json)")
    return lines
