"""dbt's parse of the project for a new home, made while the home's first run starts and ingests.

dbt reuses a parse of the project only for the profile it was made with, and the profile's hash
includes the warehouse path (transform/project.py: ``run_target_path``). A home's first build
therefore parses the whole project: 3 s of the sample's 22 s cold run, in the middle of the
dbt step, after Dagster's start-up and the ingest, which do not need dbt at all. ``dbt parse``
touches no warehouse (it opens no connection), so ``mirror run`` starts it in the background
before those, into ``$MIRROR_HOME/dbt/parse/``, and waits for it before the dbt step, whose
target folder then takes that parse (the newest of the home's). If it fails, nothing is lost:
the build parses the project itself, as before, and reports what dbt says.

Kept free of Dagster and dagster-dbt imports: it starts before them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dagster_project.settings import DBT_PROJECT_DIR, DEFAULT_DBT_TARGET, HomeLayout

PARTIAL_PARSE_FILE = "partial_parse.msgpack"
PARSE_COMMAND = "parse"


def home_has_a_parse(layout: HomeLayout) -> bool:
    """Whether a dbt command of this home has left a parse the next one can reuse."""
    return any(layout.dbt_target_dir(PARSE_COMMAND).parent.glob(f"*/{PARTIAL_PARSE_FILE}"))


def start_home_parse(layout: HomeLayout, dbt_target: str) -> subprocess.Popen[bytes] | None:
    """``dbt parse`` for this home in the background, or None when there is nothing to gain:
    the home has a parse already, the target is not DuckDB (a Spark adapter is not started
    for a parse here), or no ``dbt`` is installed beside this interpreter."""
    dbt = Path(sys.executable).parent / "dbt"
    if dbt_target != DEFAULT_DBT_TARGET or home_has_a_parse(layout) or not dbt.is_file():
        return None
    target = layout.dbt_target_dir(PARSE_COMMAND)
    target.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            str(dbt),
            "parse",
            "--quiet",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target",
            dbt_target,
            "--target-path",
            str(target),
        ],
        cwd=DBT_PROJECT_DIR,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def finish_home_parse(parse: subprocess.Popen[bytes] | None, *, wait: bool) -> None:
    """Wait for the background parse (``wait``), or stop it (a run that ends before its dbt
    step). Its exit status does not matter: a failed parse leaves no ``partial_parse.msgpack``,
    and the build then parses the project itself."""
    if parse is None or parse.poll() is not None:
        return
    if not wait:
        parse.terminate()
    try:
        parse.wait(timeout=None if wait else 10)
    except subprocess.TimeoutExpired:
        parse.kill()
        parse.wait()
