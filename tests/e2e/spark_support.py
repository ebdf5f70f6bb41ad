"""What the Spark tests share: why they skip, the JVMs they must stop, the marts comparison."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from dagster_project.publish.docs import model_rules_of
from dagster_project.settings import spark_runtime_problem

# the tolerance for doubles: 0.01 USD plus 1e-9 relative
ABSOLUTE_TOLERANCE = 0.01
RELATIVE_TOLERANCE = 1e-9
# columns that say when or by which invocation a row was computed, not what it says
PROVENANCE_COLUMNS = frozenset({"estimate_vintage"})


def skip_reason(target: str = "spark_local") -> str | None:
    """Why a Spark test cannot run here (the same one-line message `mirror` gives)."""
    return spark_runtime_problem(target)


def java_pids_mentioning(text: str) -> list[int]:
    """PIDs of the running ``java`` processes whose command line contains ``text`` (a test's
    MIRROR_HOME is in its driver's ``-Dderby.system.home``, a cluster's folder in its
    daemons' class path and logs)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(b"java") and text.encode() in b" ".join(args):
            pids.append(int(proc.name))
    return pids


def stop_pids(pids: Iterable[int], grace_seconds: float = 15) -> None:
    """SIGTERM each PID, then SIGKILL those still alive after the grace period."""
    pids = list(pids)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
        time.sleep(0.2)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a daemon a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, seconds: float, procs: list[subprocess.Popen[bytes]]) -> None:
    """Until something listens on 127.0.0.1:``port``; fails early if one of ``procs`` exits."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a Spark daemon exited while starting: see its log")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {seconds:.0f} s")


def mart_keys(manifest_path: Path) -> dict[str, list[str]]:
    """mart -> its key: the first ``unique`` rule of its ``model_rules`` (its meta) made only of
    column names (dim_country's first is an expression), else every non-double column."""
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    models = {
        n["unique_id"]: n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["schema"] == "marts"
    }
    keys: dict[str, list[str]] = {m["name"]: [] for m in models.values()}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "test" or node.get("attached_node") not in models:
            continue
        model = models[node["attached_node"]]
        columns = set(model.get("columns") or {})
        for candidate in model_rules_of(node, model).get("unique") or []:
            if not keys[model["name"]] and all(c in columns for c in candidate):
                keys[model["name"]] = list(candidate)
    return keys


@dataclass(frozen=True)
class MartDiff:
    table: str
    rows: tuple[int, int]  # DuckDB, Spark
    problems: tuple[str, ...]

    @property
    def equal(self) -> bool:
        return not self.problems and self.rows[0] == self.rows[1]

    def describe(self) -> str:
        head = f"{self.table}: {self.rows[0]} rows (DuckDB) vs {self.rows[1]} (Spark)"
        return head if self.equal else "\n  ".join([head, *self.problems[:8]])


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        a, b = float(a), float(b)
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= ABSOLUTE_TOLERANCE + RELATIVE_TOLERANCE * max(abs(a), abs(b))
    return a == b


def compare_table(
    duck: duckdb.DuckDBPyConnection,
    spark: duckdb.DuckDBPyConnection,
    table: str,
    key: Sequence[str],
) -> MartDiff:
    """The two builds' ``table``: same row count, same keys, the other columns equal (doubles
    within the tolerance)."""

    def rows(con: duckdb.DuckDBPyConnection) -> tuple[list[str], list[tuple[Any, ...]]]:
        cur = con.execute(f"select * from {table}")
        return [d[0] for d in cur.description], cur.fetchall()

    duck_cols, duck_rows = rows(duck)
    spark_cols, spark_rows = rows(spark)
    problems: list[str] = []
    if duck_cols != spark_cols:
        problems.append(f"columns differ: {duck_cols} vs {spark_cols}")
        return MartDiff(table, (len(duck_rows), len(spark_rows)), tuple(problems))
    key = list(key) or duck_cols
    index = [duck_cols.index(k) for k in key]

    def keyed(rows_: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
        return {tuple(r[i] for i in index): r for r in rows_}

    a, b = keyed(duck_rows), keyed(spark_rows)
    if len(a) != len(duck_rows) or len(b) != len(spark_rows):
        problems.append(
            f"key {key} is not unique: {len(a)}/{len(duck_rows)}, {len(b)}/{len(spark_rows)}"
        )
    only_duck, only_spark = sorted(set(a) - set(b), key=str), sorted(set(b) - set(a), key=str)
    if only_duck:
        problems.append(f"{len(only_duck)} keys only in DuckDB, e.g. {only_duck[:3]}")
    if only_spark:
        problems.append(f"{len(only_spark)} keys only in Spark, e.g. {only_spark[:3]}")
    differing: dict[str, list[tuple[Any, Any, Any]]] = {}
    for k in sorted(set(a) & set(b), key=str):
        for col, x, y in zip(duck_cols, a[k], b[k], strict=True):
            if col not in PROVENANCE_COLUMNS and not _close(x, y):
                differing.setdefault(col, []).append((k, x, y))
    for col, diffs in differing.items():
        problems.append(f"{col}: {len(diffs)} rows differ, e.g. {diffs[:2]}")
    return MartDiff(table, (len(duck_rows), len(spark_rows)), tuple(problems))


def compare_marts(
    duck_path: Path, spark_path: Path, keys: Mapping[str, Sequence[str]]
) -> list[MartDiff]:
    """Every table of schema ``marts`` of the DuckDB build against the Spark build's."""
    duck = duckdb.connect(str(duck_path), read_only=True)
    spark = duckdb.connect(str(spark_path), read_only=True)
    try:
        tables = sorted(
            r[0]
            for r in duck.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        )
        return [compare_table(duck, spark, f"marts.{t}", keys.get(t, ())) for t in tables]
    finally:
        duck.close()
        spark.close()
