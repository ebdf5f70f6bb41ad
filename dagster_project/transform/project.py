"""The dbt project, in its own module so `dagster-dbt project prepare-and-package` can import
it without loading the definitions (which need the manifest it produces).

Importing this module makes sure ``dbt/target/manifest.json`` exists and is newer than every
dbt source file (models, seeds, macros, tests, project files); otherwise it runs ``dbt parse``
once, so a fresh clone or an edited model works without a separate set-up step.

dagster-dbt runs the ``dbt`` it finds on PATH. ``uv run`` and an activated virtualenv put the
environment's ``bin/`` there; ``.venv/bin/mirror run`` or ``.venv/bin/dagster dev`` do not, so
the ``dbt`` installed beside the running interpreter is put first on PATH here (a venv's
activation, limited to that one folder).

Each run's dbt artifacts (compiled SQL, ``run_results.json``, ``dbt.log``) go to
:func:`run_target_path` inside MIRROR_HOME, replaced by the next run (but for dbt's parse of
the project, which the next run reuses): the repository does not grow with every run
(dagster-dbt's default is a new ``dbt/target/<op>-<run>-<id>/`` per run).
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import sys
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from dagster_dbt import DbtCliResource, DbtProject
from packaging import version

from dagster_project.settings import (
    DBT_PROJECT_DIR,
    DEFAULT_DBT_TARGET,
    HomeLayout,
    dbt_target_from_env,
)
from dagster_project.transform.home_parse import PARTIAL_PARSE_FILE


def use_dbt_beside_the_interpreter() -> None:
    """Put the folder of ``sys.executable`` first on PATH when it holds ``dbt``."""
    folder = Path(sys.executable).parent
    if (folder / "dbt").is_file():
        entries = os.environ.get("PATH", "").split(os.pathsep)
        if str(folder) not in entries:
            os.environ["PATH"] = os.pathsep.join([str(folder), *[e for e in entries if e]])


def run_target_path(layout: HomeLayout, command: str) -> Path:
    """``$MIRROR_HOME/dbt/<command>``: dbt's target folder for a run's ``dbt <command>``, emptied
    first (the artifacts of the previous run go; so does its ``dbt.log``, which dbt appends to)
    but for dbt's parse of the project, ``partial_parse.msgpack``, which the next command reuses:
    this command's own, else the newest of this home's other dbt commands (the docs of a first
    run reuse its build's parse).

    Why this home's own parse: dbt reuses a parse only for the profile it was made with, and
    the profile's hash includes the warehouse path. The project's copy (``dbt/target``, parsed
    for ``../warehouse/mirror.duckdb``; dagster-dbt copies it in when the target has none) is
    never valid for a MIRROR_HOME, so every dbt command parsed the whole project again ("Unable
    to do partial parsing because profile has changed"): 8 s unloaded, 50-75 s at load 10-14.
    dbt checks a kept parse against every file's checksum, the vars, the env vars and its own
    version, and parses again whatever changed (all of it, if it cannot read the file)."""
    target = layout.dbt_target_dir(command)
    parses = sorted(
        target.parent.glob(f"*/{PARTIAL_PARSE_FILE}"),
        key=lambda p: (p.parent == target, p.stat().st_mtime),
    )
    if not parses:
        # none in this home yet: the project's parse of this target (dagster-dbt would copy
        # ``dbt/target``'s, the DuckDB target's, which a Spark target cannot reuse)
        own = Path(dbt_project.project_dir) / dbt_project.target_path / PARTIAL_PARSE_FILE
        parses = [own] if own.is_file() else []
    parse = parses[-1].read_bytes() if parses else None
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    if parse is not None:
        (target / PARTIAL_PARSE_FILE).write_bytes(parse)
    return target


class DbtCli(DbtCliResource):
    """dagster-dbt's dbt CLI resource, without the dbt adapter it opens in the Dagster process.

    Before every ``dbt`` command dagster-dbt loads the dbt project and profile in-process and
    creates an adapter (importing dbt-core and dbt-duckdb), only to serve
    ``fetch_column_metadata`` / ``fetch_row_counts``, which this project does not use. That
    took 19 s at load 10 and 51 s at load 14 on this machine, per command, before dbt started
    (between dagster-dbt's "subsetted execution" and "Copying partial_parse" log lines).
    dagster-dbt runs without an adapter when creating one fails; here none is created.
    Nor does it start ``dbt --version`` to learn the version of the dbt it runs.
    ``tests/unit/test_definitions.py`` fails if dagster-dbt renames either."""

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> Any:
        return None

    @cached_property
    def _cli_version(self) -> version.Version:
        """dbt-core's version, from this environment's package metadata. dagster-dbt asks
        ``dbt --version`` (a Python process that imports dbt: 3 s unloaded, ~20 s at load 10)
        in every run; the ``dbt`` it runs is the one installed beside this interpreter
        (:func:`use_dbt_beside_the_interpreter`), i.e. this dbt-core."""
        return version.parse(importlib.metadata.version("dbt-core"))


use_dbt_beside_the_interpreter()


def manifest_folder(target: str) -> str:
    """dbt's target folder for the parse of ``target`` (relative to ``dbt/``): ``target`` for
    DuckDB, as before; ``target-<name>`` for another. A parse depends on the adapter (the
    materialisations ``build_by_period.sql`` chooses, the dispatched macros), so each target
    keeps its own manifest and switching ``MIRROR_DBT_TARGET`` never reads the other's."""
    return "target" if target == DEFAULT_DBT_TARGET else f"target-{target}"


DBT_TARGET = dbt_target_from_env()  # MIRROR_DBT_TARGET (dbt/profiles.yml), checked there
dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR,
    profiles_dir=DBT_PROJECT_DIR,
    target=DBT_TARGET,
    target_path=Path(manifest_folder(DBT_TARGET)),
)

_SOURCE_DIRS = ("models", "seeds", "macros", "tests", "snapshots")
_SOURCE_FILES = ("dbt_project.yml", "profiles.yml", "packages.yml")


def _newest_source_mtime(project_dir: Path) -> float:
    paths = [project_dir / name for name in _SOURCE_FILES]
    for folder in _SOURCE_DIRS:
        paths += [p for p in (project_dir / folder).rglob("*") if p.is_file()]
    return max((p.stat().st_mtime for p in paths if p.exists()), default=0.0)


def manifest_is_stale(project: DbtProject = dbt_project) -> bool:
    manifest = Path(project.manifest_path)
    return not manifest.exists() or manifest.stat().st_mtime < _newest_source_mtime(
        Path(project.project_dir)
    )


def ensure_manifest(project: DbtProject = dbt_project) -> None:
    """Parse the dbt project when the manifest is missing or older than its sources."""
    if manifest_is_stale(project):
        project.preparer.prepare(project)


ensure_manifest()
