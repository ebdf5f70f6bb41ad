"""What the benchmark drivers share: sizes, timed subprocesses, `mirror run` in a project copy,
the machine's description. Used by benchmarks/run.py (speed) and benchmarks/accuracy_suite.py
(accuracy); docs/benchmarks.md is written by benchmarks/doc.py alone."""

from __future__ import annotations

import datetime as dt
import importlib.metadata as md
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
DOC = REPO / "docs" / "benchmarks.md"
ACCURACY_RESULT = RESULTS / "accuracy.json"
ALL_SIZES = ("1M", "5M", "25M")
SIZE_PATTERN = r"[0-9]+(\.[0-9]+)?[KM]?"

sys.path.insert(0, str(HERE))

from project_copy import project_env  # noqa: E402


def parse_size(text: str) -> int:
    text = text.strip().upper()
    mult = {"K": 1_000, "M": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("KM")) * mult)


# --------------------------------------------------------------------------------------
# measuring
# --------------------------------------------------------------------------------------


def measure(cmd: list[str], *, cwd: Path | None = None, env: dict | None = None,
            log: Path) -> dict[str, Any]:  # fmt: skip
    """Run ``cmd`` under /usr/bin/time: wall seconds, peak RSS (MB), CPU seconds (user + system,
    every thread and child waited for: on a shared machine, less sensitive to the others'
    load than wall time), exit code."""
    with tempfile.NamedTemporaryFile(suffix=".time", delete=False) as tf:
        timing = Path(tf.name)
    started = time.monotonic()
    with log.open("w", encoding="utf-8") as fh:
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "%e %M %U %S", "-o", str(timing), *cmd],
            cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT, check=False,
        )  # fmt: skip
    wall = time.monotonic() - started
    fields = timing.read_text().split()[-4:]
    timing.unlink()
    return {
        "seconds": round(wall, 2),
        "peak_rss_mb": round(int(fields[1]) / 1024),
        "cpu_seconds": round(float(fields[2]) + float(fields[3]), 2),
        "exit_code": proc.returncode,
        "log": str(log),
    }


def mirror_run(
    project: Path, home: Path, landing: Path, log: Path, memory_limit: str | None, *extra: str
) -> dict[str, Any]:
    """``mirror run`` (plus ``extra`` options) of ``landing`` in the project copy, timed, with
    the seconds of each Dagster step."""
    env = project_env(project)
    env["MIRROR_HOME"], env["MIRROR_LANDING"] = str(home), str(landing)
    if memory_limit:
        env["MIRROR_DUCKDB_MEMORY_LIMIT"] = memory_limit
    cmd = [sys.executable, "-m", "dagster_project.cli", "run", "--home", str(home),
           "--landing", str(landing), *extra]  # fmt: skip
    since = time.time()
    result = measure(cmd, cwd=project, env=env, log=log)
    result["steps"] = step_breakdown(home, since)
    return result


_STEPS_SCRIPT = """
import json, sys
from datetime import UTC as _UTC, datetime as _datetime  # not `datetime`: Dagster's record
from dagster import DagsterInstance, RunsFilter          # checks resolve that name in __main__
since = _datetime.fromtimestamp(float(sys.argv[1]), _UTC)
steps = {}
with DagsterInstance.get() as inst:
    for record in inst.get_run_records(RunsFilter(created_after=since)):
        for s in inst.get_run_step_stats(record.dagster_run.run_id):
            if s.start_time and s.end_time:
                steps[s.step_key] = round(steps.get(s.step_key, 0) + s.end_time - s.start_time, 1)
print(json.dumps(steps))
"""


def step_breakdown(home: Path, since: float) -> dict[str, float]:
    """Seconds per Dagster step of the runs created in ``home`` since ``since`` (a Unix time):
    ``mirror run`` is one run or two (ingest, then transform: ingest, dbt, GX, publish)."""
    env = dict(os.environ, DAGSTER_HOME=str(home / "dagster"))
    out = subprocess.run(
        [sys.executable, "-c", _STEPS_SCRIPT, str(since)], env=env, capture_output=True, text=True
    )
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {}


def code_version() -> str:
    """The commit the benchmark measured (``+local changes`` when the tree was not clean)."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return out.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "dagster_project", "dbt",
                "expectations")  # fmt: skip
    return f"{commit}+local changes" if dirty else commit


def now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    versions = {}
    for pkg in ("duckdb", "dbt-core", "dbt-duckdb", "dagster", "dagster-dbt", "pandas", "numpy"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = "-"
    return {
        "cores": os.cpu_count(),
        "ram_gb": round(mem_kb / 1024**2, 1),
        "cpu": cpu,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "load_average_at_end": os.getloadavg(),
    }
