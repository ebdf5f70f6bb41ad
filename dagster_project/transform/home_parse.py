"""dbt's parse of the project for a new home, made while the home's first run starts and ingests.

dbt reuses a parse of the project only for the profile it was made with, and the profile's hash
includes the warehouse path (transform/project.py: ``run_target_path``). A home's first build
therefore parses the whole project: 3 s of the sample's 22 s cold run, in the middle of the
dbt step, after Dagster's start-up and the ingest, which do not need dbt at all. ``dbt parse``
touches no warehouse (it opens no connection), so ``mirror run`` starts it in the background
before those, into ``$MIRROR_HOME/dbt/parse/``, and waits for it before the dbt step, whose
target folder then takes that parse (the newest of the home's). If it fails, nothing is lost:
the build parses the project itself, as before, and reports what dbt says.

The same holds for a home whose parses were made for another profile: a home moved or restored
to another folder (its warehouse path changed), or run with another memory limit (a setting of
the profile). Its builds would each keep the stale parse and parse the whole project in the dbt
step (2.9 s at 5M, measured: "Unable to do partial parsing because profile has changed"). So
the parse started here records the profile's values it was made for
(``dbt/parse_profile.json``), and a home whose record differs, or has none, gets a new parse in
the background, the stale ones removed.

Kept free of Dagster and dagster-dbt imports: it starts before them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dagster_project.settings import (
    DBT_PROJECT_DIR,
    DBT_TARGET_ENV,
    DEFAULT_DBT_TARGET,
    DUCKDB_PATH_ENV,
    MEMORY_LIMIT_ENV,
    HomeLayout,
)

PARTIAL_PARSE_FILE = "partial_parse.msgpack"
PARSE_COMMAND = "parse"
PARSE_PROFILE_FILE = "parse_profile.json"
# what the DuckDB target's profile reads from the environment (dbt/profiles.yml); dbt reuses a
# parse only for the same values (its profile hash: the path, the settings)
PROFILE_ENV = (DBT_TARGET_ENV, DUCKDB_PATH_ENV, MEMORY_LIMIT_ENV)


def _profile_values() -> str:
    """The values of :data:`PROFILE_ENV` in this process's environment (``mirror`` has set
    them from its settings), as the text of ``parse_profile.json``."""
    return json.dumps({name: os.environ.get(name, "") for name in PROFILE_ENV}, sort_keys=True)


def _parses(layout: HomeLayout) -> list[Path]:
    return list(layout.dbt_target_dir(PARSE_COMMAND).parent.glob(f"*/{PARTIAL_PARSE_FILE}"))


def home_has_a_parse(layout: HomeLayout) -> bool:
    """Whether a dbt command of this home has left a parse the next one can reuse: one made
    for the profile's values of this run (``parse_profile.json``)."""
    record = layout.dbt_target_dir(PARSE_COMMAND).parent / PARSE_PROFILE_FILE
    try:
        same_profile = record.read_text(encoding="utf-8") == _profile_values()
    except OSError:
        same_profile = False
    return same_profile and bool(_parses(layout))


def start_home_parse(layout: HomeLayout, dbt_target: str) -> subprocess.Popen[bytes] | None:
    """``dbt parse`` for this home in the background, or None when there is nothing to gain:
    the home has a parse for this profile already, the target is not DuckDB (a Spark adapter
    is not started for a parse here), or no ``dbt`` is installed beside this interpreter. The
    home's parses for another profile are removed (the build would prefer its own, stale one),
    and the profile's values recorded."""
    dbt = Path(sys.executable).parent / "dbt"
    if dbt_target != DEFAULT_DBT_TARGET or home_has_a_parse(layout) or not dbt.is_file():
        return None
    for stale in _parses(layout):
        stale.unlink(missing_ok=True)
    target = layout.dbt_target_dir(PARSE_COMMAND)
    target.mkdir(parents=True, exist_ok=True)
    (target.parent / PARSE_PROFILE_FILE).write_text(_profile_values(), encoding="utf-8")
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
