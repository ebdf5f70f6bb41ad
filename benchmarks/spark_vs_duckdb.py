"""The same landing built on DuckDB and on local Spark (issue 16): ``mirror run`` on a fresh
home per target, wall time and dbt's own build time (``run_results.json``), stored in
``benchmarks/results/spark.json``; docs/benchmarks.md's "DuckDB against local Spark" is
rendered from it by benchmarks/doc.py.

    uv sync --group spark && UV_NO_SYNC=1 uv run python benchmarks/spark_vs_duckdb.py \\
        --landing data/sample --label sample
    UV_NO_SYNC=1 uv run python benchmarks/spark_vs_duckdb.py \\
        --landing benchmarks/.work/worlds/5M-seed20250701/landing --label 5M \\
        --spark-driver-memory 8g --shuffle-partitions 8

Both targets run in a throw-away copy of the project (benchmarks/project_copy.py: the blocking
GX suites become warnings, so a synthetic world full of planted breaches is still published,
as in benchmarks/run.py). Needs a JDK 17 (docs/spark.md). One target at a time, on a fresh home
each. Peak memory is measured twice: the largest single process (``/usr/bin/time``, which does
not see the Spark driver's JVM, started apart by pyspark) and the whole process tree sampled
every second from /proc (the JVM included).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULT = HERE / "results" / "spark.json"
TARGETS = ("duckdb", "spark_local")

sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

from compare_warehouses import quote  # noqa: E402
from project_copy import make_project_copy, project_env  # noqa: E402

from tests.e2e.spark_support import (  # noqa: E402
    ABSOLUTE_TOLERANCE,
    PROVENANCE_COLUMNS,
    RELATIVE_TOLERANCE,
    mart_keys,
)


def _declarations(home: Path) -> int:
    import duckdb

    con = duckdb.connect(str(home / "mirror.duckdb"), read_only=True)
    try:
        row = con.execute("select count(*) from marts.fct_declarations").fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


def marts_parity(duck_path: Path, spark_path: Path, manifest: Path) -> dict[str, str]:
    """Every mart of the DuckDB build against the Spark build's, in SQL (the parity test's
    rules, tests/e2e/test_spark_parity.py, at a size Python rows would not fit): same columns,
    same row count, the same keys, every other column equal, doubles within 0.01 USD + 1e-9
    relative. Per table: ``"equal"`` or what differs."""
    import duckdb

    keys = mart_keys(manifest)
    con = duckdb.connect()
    con.execute(f"attach '{duck_path}' as d (read_only)")
    con.execute(f"attach '{spark_path}' as s (read_only)")

    def columns(db: str, table: str) -> list[tuple[str, str]]:
        return con.execute(
            "select column_name, data_type from information_schema.columns where "
            "table_catalog = ? and table_schema = 'marts' and table_name = ? "
            "order by ordinal_position",
            [db, table],
        ).fetchall()  # type: ignore[return-value]

    out: dict[str, str] = {}
    tables = con.execute(
        "select table_name from information_schema.tables "
        "where table_catalog = 'd' and table_schema = 'marts' order by 1"
    ).fetchall()
    for (table,) in tables:
        cols = columns("d", table)
        if [c for c, _ in cols] != [c for c, _ in columns("s", table)]:
            out[table] = "columns differ"
            continue
        doubles = {c for c, t in cols if t in ("DOUBLE", "FLOAT", "REAL")}
        key = keys.get(table) or [c for c, _ in cols if c not in doubles]
        a, b = f"d.marts.{quote(table)}", f"s.marts.{quote(table)}"
        key_list = ", ".join(map(quote, key))
        rows_a, rows_b, only_a, only_b = con.execute(
            f"select (select count(*) from {a}), (select count(*) from {b}), "
            f"(select count(*) from (select {key_list} from {a} except all "
            f"select {key_list} from {b})), "
            f"(select count(*) from (select {key_list} from {b} except all "
            f"select {key_list} from {a}))"
        ).fetchone()  # type: ignore[misc]
        differing = []
        on = " and ".join(f"x.{quote(k)} is not distinct from y.{quote(k)}" for k in key)
        for column, _ in cols:
            if column in key or column in PROVENANCE_COLUMNS:
                continue
            x, y = f"x.{quote(column)}", f"y.{quote(column)}"
            unequal = (  # `is distinct from` first: NaN is not distinct from NaN
                f"{x} is distinct from {y} and (({x} is null) <> ({y} is null) or "
                f"abs({x} - {y}) > {ABSOLUTE_TOLERANCE} + "
                f"{RELATIVE_TOLERANCE} * greatest(abs({x}), abs({y})))"
                if column in doubles
                else f"{x} is distinct from {y}"
            )
            (n,) = con.execute(
                f"select count(*) from {a} x join {b} y on {on} where {unequal}"
            ).fetchone()  # type: ignore[misc]
            if n:
                differing.append(f"{column}: {n} rows")
        problems = [
            *([f"{rows_a} rows vs {rows_b}"] if rows_a != rows_b else []),
            *([f"{only_a} keys only in DuckDB"] if only_a else []),
            *([f"{only_b} keys only in Spark"] if only_b else []),
            *differing,
        ]
        out[table] = "; ".join(problems) if problems else f"equal ({rows_a} rows)"
    con.close()
    return out


def _tree_rss_kb(root: int) -> int:
    """Resident memory of ``root`` and all its descendants, from /proc (0 where unreadable)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
        found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        rss[pid] = int(found.group(1)) if found else 0
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    return sum(rss.get(pid, 0) for pid in tree)


class TreeMemory(threading.Thread):
    """Samples the process tree's resident memory every second; ``peak_kb`` is the largest."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root, self.peak_kb = root, 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(1.0):
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(self.root))


def measure(
    project: Path, landing: Path, target: str, work: Path, spark: dict[str, str]
) -> dict[str, Any]:
    """One ``mirror run`` of ``landing`` on ``target`` in a fresh home under ``work``."""
    home = work / f"home-{target}"
    shutil.rmtree(home, ignore_errors=True)
    env = {**project_env(project), "MIRROR_DBT_TARGET": target, "SPARK_LOCAL_IP": "127.0.0.1"}
    env.update(spark)
    log = work / f"{target}.log"
    started = time.monotonic()
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            ["/usr/bin/time", "-v", sys.executable, "-m", "dagster_project.cli", "run",
             "--quiet", "--home", str(home), "--landing", str(landing)],
            cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        sampler = TreeMemory(proc.pid)
        sampler.start()
        returncode = proc.wait()
        sampler.done.set()
    wall = time.monotonic() - started
    text = log.read_text(encoding="utf-8", errors="replace")
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    run_results = home / "dbt" / "build" / "run_results.json"
    results = json.loads(run_results.read_text()) if run_results.is_file() else {}
    return {
        "target": target,
        "ok": returncode == 0,
        "wall_seconds": round(wall, 1),
        "dbt_build_seconds": round(float(results.get("elapsed_time") or 0), 1),
        "dbt_nodes": len(results.get("results") or []),
        "peak_rss_mb": round(int(peak.group(1)) / 1024) if peak else None,
        "peak_tree_rss_mb": round(sampler.peak_kb / 1024),
        "settings": spark if target.startswith("spark") else {},
        "declarations": _declarations(home) if returncode == 0 else None,
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "log": str(log),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[1:]),
    )  # fmt: skip
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--label", required=True, help="the row's name (sample, 5M, ...)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "spark-bench")
    parser.add_argument(
        "--spark-driver-memory", help="MIRROR_SPARK_DRIVER_MEMORY for the Spark run (default 1g)"
    )
    parser.add_argument(
        "--shuffle-partitions", help="MIRROR_SPARK_SHUFFLE_PARTITIONS for the Spark run (default 4)"
    )
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated")
    args = parser.parse_args()
    spark = {
        key: value
        for key, value in (
            ("MIRROR_SPARK_DRIVER_MEMORY", args.spark_driver_memory),
            ("MIRROR_SPARK_SHUFFLE_PARTITIONS", args.shuffle_partitions),
        )
        if value
    }
    args.work.mkdir(parents=True, exist_ok=True)
    project = make_project_copy(args.work / "project")
    stored = json.loads(RESULT.read_text()) if RESULT.is_file() else {"runs": {}}
    runs = []
    for target in args.targets.split(","):
        print(f"[{args.label}] {target} ...", flush=True)
        runs.append(measure(project, args.landing.resolve(), target, args.work, spark))
        print(f"[{args.label}]     {runs[-1]}", flush=True)
    stored["runs"][args.label] = runs
    if all(r["ok"] for r in runs) and set(TARGETS) <= {r["target"] for r in runs}:
        print(f"[{args.label}] marts: DuckDB against Spark ...", flush=True)
        parity = marts_parity(
            args.work / "home-duckdb" / "mirror.duckdb",
            args.work / "home-spark_local" / "mirror.duckdb",
            args.work / "home-spark_local" / "dbt" / "build" / "manifest.json",
        )
        stored.setdefault("parity", {})[args.label] = parity
        for table, verdict in parity.items():
            print(f"[{args.label}]     {table}: {verdict}", flush=True)
    RESULT.write_text(json.dumps(stored, indent=2) + "\n")
    from doc import write_doc

    write_doc()
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
