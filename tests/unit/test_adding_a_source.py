"""Adding a source is what ``docs/adding-a-source.md`` says: one module, one staging folder,
one registration line. The recipe is followed here for a small fixture source
(``tests/fixtures/new_source``: ``customs_kz.py``, ``staging/customs_kz/``, a landing folder),
and every registered source is checked against the same naming rule (one id per source).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import dagster as dg
import duckdb
import pytest

from dagster_project import definitions
from dagster_project.ingest.loader import ingest_files
from dagster_project.ingest.spec import SourceSpec, files_of, ignored_files_of
from dagster_project.settings import Settings
from dagster_project.sources import LANDING_SOURCES, REFERENCE_SOURCES
from dagster_project.transform.assets import MirrorDbtTranslator
from dagster_project.transform.project import dbt_project
from tests.conftest import REPO_ROOT

FIXTURE = REPO_ROOT / "tests" / "fixtures" / "new_source"
SOURCES_DIR = REPO_ROOT / "dagster_project" / "sources"
STAGING_DIR = REPO_ROOT / "dbt" / "models" / "staging"


def fixture_module() -> ModuleType:
    """The fixture source module, imported as it would be from ``dagster_project/sources/``."""
    spec = importlib.util.spec_from_file_location("customs_kz", FIXTURE / "customs_kz.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dbt_sources(manifest: dict) -> dict[str, dict]:
    return {node["source_name"] + "." + node["name"]: node for node in manifest["sources"].values()}


# One id per source --------------------------------------------------------------------------


@pytest.mark.parametrize("spec", LANDING_SOURCES, ids=lambda s: s.name)
def test_a_registered_source_has_one_id(spec: SourceSpec) -> None:
    """Module ``sources/<id>.py``, landing folder ``<id>/``, raw table ``raw.<id>_…``, dbt
    source ``<id>`` declared in ``staging/<id>/``: a newcomer finds every part by the id."""
    assert (SOURCES_DIR / f"{spec.name}.py").is_file(), f"no module sources/{spec.name}.py"
    manifest = json.loads(Path(dbt_project.manifest_path).read_text(encoding="utf-8"))
    table = spec.raw_table.split(".")[1]
    source = dbt_sources(manifest).get(f"{spec.name}.{table}")
    assert source, f"no dbt source {spec.name!r} with table {table!r}"
    assert source["schema"] == "raw"
    assert source["original_file_path"].startswith(f"models/staging/{spec.name}/")


@pytest.mark.parametrize("spec", REFERENCE_SOURCES, ids=lambda s: s.name)
def test_a_reference_table_has_one_id(spec: SourceSpec) -> None:
    """Reference data: id ``ref_<what>`` is its raw table and its table of dbt source
    ``reference`` (``staging/reference/``); its file is versioned with the code."""
    assert spec.reference_file is not None and spec.reference_file().is_file()
    assert spec.raw_table == f"raw.{spec.name}" and spec.name.startswith("ref_")
    manifest = json.loads(Path(dbt_project.manifest_path).read_text(encoding="utf-8"))
    source = dbt_sources(manifest).get(f"reference.{spec.name}")
    assert source, f"no table {spec.name!r} in dbt source 'reference'"
    assert source["schema"] == "raw"
    assert source["original_file_path"].startswith("models/staging/reference/")


def test_a_raw_table_not_named_after_the_source_is_refused() -> None:
    with pytest.raises(ValueError, match=r"raw\.customs_kz or raw\.customs_kz_<what>"):
        SourceSpec(
            name="customs_kz", raw_table="raw.kz_declarations", description="", patterns=(),
            columns=("a",), stage=fixture_module().stage,
        )  # fmt: skip


def test_a_source_id_that_cannot_name_a_folder_module_and_table_is_refused() -> None:
    with pytest.raises(ValueError, match="lower case letters, digits and _"):
        SourceSpec(
            name="Customs-KZ", raw_table="raw.Customs-KZ", description="", patterns=(),
            columns=("a",), stage=fixture_module().stage,
        )  # fmt: skip


# The recipe, followed for a fixture source ---------------------------------------------------


def test_the_fixture_source_follows_the_recipe() -> None:
    module = fixture_module()
    assert module.SPEC.name == "customs_kz" == Path(module.__file__).stem
    assert (FIXTURE / "staging" / module.SPEC.name).is_dir()


def test_its_files_load_and_bad_rows_are_quarantined_with_the_reason(tmp_path: Path) -> None:
    spec = fixture_module().SPEC
    landing = FIXTURE / "landing"
    assert [p.name for p in ignored_files_of(landing, spec)] == ["methodology.pdf"]
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    [outcome] = ingest_files(con, spec, files_of(landing, spec), log=lambda _m: None)
    assert (outcome.status, outcome.rows_read, outcome.rows_loaded) == ("loaded", 6, 3)
    quarantined = con.execute(
        "select source, line_number, column_name, reason from raw.quarantine order by 2"
    ).fetchall()
    assert quarantined == [
        ("customs_kz", 5, "hs6", "HS code must be 6 digits"),
        ("customs_kz", 6, "period", "not YYYY-MM"),
        ("customs_kz", 7, "value_usd", "negative value"),
    ]
    assert con.execute("select count(*) from raw.customs_kz_declarations").fetchone() == (3,)


def test_a_file_without_its_required_columns_is_refused_with_the_reason(tmp_path: Path) -> None:
    spec = fixture_module().SPEC
    path = tmp_path / "customs_kz" / "wrong.csv"
    path.parent.mkdir()
    path.write_text("period,flow,partner_iso2,value_usd\n2023-01,X,IT,5\n", encoding="utf-8")
    con = duckdb.connect()
    [outcome] = ingest_files(con, spec, [path], log=lambda _m: None)
    assert (outcome.status, outcome.message) == (
        "refused",
        "not a KZ customs extract: missing required column(s) hs6",
    )
    assert con.execute("select count(*) from raw.customs_kz_declarations").fetchone() == (0,)


def test_a_table_its_rules_read_must_be_loaded_first(tmp_path: Path) -> None:
    """``requires``: the ingest refuses to start (naming the table) rather than quarantine
    every row; with the table there, the files load."""
    spec = dataclasses.replace(fixture_module().SPEC, requires=("raw.ref_partners",))
    con = duckdb.connect()
    files = files_of(FIXTURE / "landing", spec)
    with pytest.raises(RuntimeError, match=r"raw\.ref_partners is missing"):
        ingest_files(con, spec, files, log=lambda _m: None)
    con.execute("create table raw.ref_partners (iso2 varchar)")
    [outcome] = ingest_files(con, spec, files, log=lambda _m: None)
    assert outcome.status == "loaded"


def test_one_registration_line_puts_its_ingest_asset_in_the_graph_and_jobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = fixture_module().SPEC
    monkeypatch.setattr(definitions, "LANDING_SOURCES", (*LANDING_SOURCES, spec))
    monkeypatch.setattr(Settings, "export_to_environ", lambda self: None)
    defs = definitions.build_definitions(Settings(home=tmp_path / "home", landing=tmp_path))
    graph = defs.resolve_asset_graph()
    key = dg.AssetKey(["raw", "customs_kz_declarations"])
    assert graph.get(key).group_name == "ingest"
    assert key in graph.get(dg.AssetKey(["raw", "file_registry"])).parent_keys
    for job in (definitions.MIRROR_JOB_NAME, definitions.INGEST_JOB_NAME):
        assert key in defs.resolve_job_def(job).asset_layer.selected_asset_keys


def test_its_staging_folder_builds_on_the_ingested_rows(tmp_path: Path) -> None:
    """The staging folder dropped into (a copy of) the dbt project: its dbt source is keyed
    like the ingest asset that writes the table, its model, tests and unit test build."""
    spec = fixture_module().SPEC
    project = tmp_path / "dbt"
    shutil.copytree(
        REPO_ROOT / "dbt", project, ignore=shutil.ignore_patterns("target", "logs", ".user.yml")
    )
    shutil.copytree(FIXTURE / "staging" / spec.name, project / "models" / "staging" / spec.name)
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        ingest_files(con, spec, files_of(FIXTURE / "landing", spec), log=lambda _m: None)
    dbt = Path(sys.executable).parent / "dbt"
    result = subprocess.run(
        [str(dbt), "build", "--select", "stg_customs_kz__declarations",
         "--project-dir", str(project), "--profiles-dir", str(project),
         "--target-path", str(tmp_path / "target")],
        env={**os.environ, "MIRROR_DUCKDB_PATH": str(warehouse)},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    run = json.loads((tmp_path / "target" / "run_results.json").read_text(encoding="utf-8"))
    statuses = {r["unique_id"].split(".")[0] + " " + r["unique_id"].split(".")[-1]: r["status"]
                for r in run["results"]}  # fmt: skip
    assert statuses["model stg_customs_kz__declarations"] == "success"
    assert statuses["unit_test test_customs_kz_types_the_delivered_text"] == "pass"
    assert sum(k.startswith("test ") for k in statuses) == 3  # the yml's data tests ran
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text(encoding="utf-8"))
    source = dbt_sources(manifest)["customs_kz.customs_kz_declarations"]
    assert MirrorDbtTranslator().get_asset_key(source) == dg.AssetKey(spec.raw_table.split("."))
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select partner_iso2, value_usd from staging.stg_customs_kz__declarations order by all"
        ).fetchall()
    assert rows == [("CN", 82000.5), ("IT", 1500000.0), ("NL", 250000.0)]
