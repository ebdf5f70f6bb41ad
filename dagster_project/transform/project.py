"""The dbt project, in its own module so `dagster-dbt project prepare-and-package` can import
it without loading the definitions (which need the manifest it produces)."""

from __future__ import annotations

from dagster_dbt import DbtProject

from dagster_project.settings import DBT_PROJECT_DIR

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
