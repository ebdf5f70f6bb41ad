"""The same landing built on DuckDB and on local Spark (issue 16): ``mirror run`` on a fresh
home per target, wall time and dbt's own build time (``run_results.json``), stored in
``benchmarks/results/spark.json``; docs/benchmarks.md's "DuckDB against local Spark" is
rendered from it by benchmarks/doc.py.

    uv sync --group spark && UV_NO_SYNC=1 uv run python benchmarks/spark_vs_duckdb.py \\
        --landing data/sample --label sample
    UV_NO_SYNC=1 uv run python benchmarks/spark_vs_duckdb.py --landing /tmp/w5m --label 5M

Needs a JDK 17 (docs/spark.md). One target at a time, on a fresh home each.
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
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULT = HERE / "results" / "spark.json"
TARGETS = ("duckdb", "spark_local")


def _declarations(home: Path) -> int:
    import duckdb

    con = duckdb.connect(str(home / "mirror.duckdb"), read_only=True)
    try:
        row = con.execute("select count(*) from marts.fct_declarations").fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


def measure(landing: Path, target: str, work: Path) -> dict[str, Any]:
    """One ``mirror run`` of ``landing`` on ``target`` in a fresh home under ``work``."""
    home = work / f"home-{target}"
    shutil.rmtree(home, ignore_errors=True)
    mirror = Path(sys.executable).with_name("mirror")
    env = {**os.environ, "MIRROR_DBT_TARGET": target, "SPARK_LOCAL_IP": "127.0.0.1"}
    started = time.monotonic()
    proc = subprocess.run(
        ["/usr/bin/time", "-v", str(mirror), "run", "--quiet", "--home", str(home),
         "--landing", str(landing)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.monotonic() - started
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    results = json.loads((home / "dbt" / "build" / "run_results.json").read_text())
    return {
        "target": target,
        "ok": proc.returncode == 0,
        "wall_seconds": round(wall, 1),
        "dbt_build_seconds": round(float(results.get("elapsed_time") or 0), 1),
        "dbt_nodes": len(results.get("results") or []),
        "peak_rss_mb": round(int(peak.group(1)) / 1024) if peak else None,
        "declarations": _declarations(home) if proc.returncode == 0 else None,
        "load_average": [round(x, 1) for x in os.getloadavg()],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--label", required=True, help="the row's name (sample, 5M, ...)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "spark-bench")
    args = parser.parse_args()
    stored = json.loads(RESULT.read_text()) if RESULT.is_file() else {"runs": {}}
    runs = [measure(args.landing.resolve(), t, args.work) for t in TARGETS]
    stored["runs"][args.label] = runs
    RESULT.write_text(json.dumps(stored, indent=2) + "\n")
    for run in runs:
        print(run)
    sys.path.insert(0, str(HERE))
    from doc import write_doc

    write_doc()
    return 0 if all(r["ok"] for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
