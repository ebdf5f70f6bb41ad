"""The dbt project, in its own module so `dagster-dbt project prepare-and-package` can import
it without loading the definitions (which need the manifest it produces).

Importing this module makes sure ``dbt/target/manifest.json`` exists and is newer than every
dbt source file (models, seeds, macros, tests, project files); otherwise it runs ``dbt parse``
once, so a fresh clone or an edited model works without a separate set-up step.
"""

from __future__ import annotations

from pathlib import Path

from dagster_dbt import DbtProject

from dagster_project.settings import DBT_PROJECT_DIR

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

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
