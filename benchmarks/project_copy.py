"""A throw-away copy of the project for benchmark runs on synthetic worlds.

The benchmarks copy what a run needs (``dagster_project/``, ``dbt/`` without ``target/`` and
``logs/``, ``expectations/``, ``data/reference/``, ``docs/``) into a work folder and run
``python -m dagster_project.cli`` from there (the copy's package comes first on ``sys.path``, so
its ``DBT_PROJECT_DIR`` is the copy's ``dbt/``), so that nothing of the repo is touched or
clobbered. The copy is the project as it is: its seeds (the corridors of the embedded sample)
stay as they are, and nothing from a world's ground truth goes in. The pipeline is given the
landing files and nothing else; what it explains, it must find in the data.

The blocking GX suites are turned into warnings in the copy (``severity: error`` -> ``warn``):
a synthetic world is full of planted, unwaived breaches, and the full pipeline (including
publish, which only runs when blocking checks pass) is what is measured. Every check still runs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COPIED = ("dagster_project", "dbt", "expectations", "data/reference", "docs", "pyproject.toml")
IGNORED = shutil.ignore_patterns("target", "logs", "__pycache__", ".user.yml", "dbt_packages")


def make_project_copy(dest: Path) -> Path:
    """Copy the project to ``dest`` (replaced), blocking suites as warnings; parse dbt."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for rel in COPIED:
        src = REPO / rel
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, ignore=IGNORED)
        else:
            shutil.copy2(src, target)
    (dest / "data" / "sample" / "comtrade").mkdir(parents=True)  # the default landing exists
    for suite in (dest / "expectations").glob("*.yml"):
        text = suite.read_text(encoding="utf-8")
        suite.write_text(re.sub(r"(?m)^(\s*)severity: error", r"\1severity: warn", text))
    # parse dbt once, outside any timing (the manifest is what `mirror run` would build first)
    subprocess.run(
        [sys.executable, "-c", "import dagster_project.transform.project"],
        cwd=dest,
        env=project_env(dest),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return dest


def project_env(project: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(project)
    # dagster-dbt looks for the `dbt` executable on PATH: the one of this environment
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.update(
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        GX_ANALYTICS_ENABLED="false",
        DAGSTER_DISABLE_TELEMETRY="true",
    )
    for key in ("MIRROR_HOME", "MIRROR_LANDING", "DAGSTER_HOME", "MIRROR_DUCKDB_PATH"):
        env.pop(key, None)
    return env
