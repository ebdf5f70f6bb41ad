"""Settings: one owner (settings.py) reads every MIRROR_* variable, validates it with a
one-line message naming it, and defines every path under $MIRROR_HOME."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from dagster_project import settings
from dagster_project.resources import Warehouse, connect
from dagster_project.settings import HomeLayout, Location, Settings, SettingsError

PACKAGE_DIR = Path(settings.__file__).parent


def env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"MIRROR_HOME": str(tmp_path / "home"), **values}


def test_defaults(tmp_path: Path) -> None:
    s = Settings.from_env(environ=env(tmp_path))
    assert s.home == (tmp_path / "home").resolve()
    assert s.landing == settings.SAMPLE_LANDING.resolve()
    assert s.duckdb_memory_limit == "80%"
    assert s.ingest_batch_bytes == settings.DEFAULT_INGEST_BATCH_MB * 1024 * 1024
    assert s.run_lock_wait_seconds == settings.DEFAULT_RUN_LOCK_WAIT_SECONDS
    assert s.ui_url is None
    assert s.alert_urls == ()


def test_values_and_blank_values(tmp_path: Path) -> None:
    s = Settings.from_env(
        environ=env(
            tmp_path,
            MIRROR_INGEST_BATCH_MB="0",
            MIRROR_DUCKDB_MEMORY_LIMIT=" 512MiB ",
            MIRROR_RUN_LOCK_WAIT_SECONDS="0",
            MIRROR_UI_URL="http://mirror.example.org:3000/",
            MIRROR_ALERT_URLS="json://127.0.0.1:9/x, ,slack://a/b",
        )
    )
    assert s.ingest_batch_bytes == 0
    assert s.duckdb_memory_limit == "512MiB"
    assert s.run_lock_wait_seconds == 0
    assert s.ui_url == "http://mirror.example.org:3000"
    assert s.alert_urls == ("json://127.0.0.1:9/x", "slack://a/b")
    assert "slack" not in repr(s)  # the channels hold secrets
    blank = Settings.from_env(environ=env(tmp_path, MIRROR_DUCKDB_MEMORY_LIMIT="  "))
    assert blank.duckdb_memory_limit == "80%"


def test_arguments_win_over_the_environment(tmp_path: Path) -> None:
    (tmp_path / "landing").mkdir()
    s = Settings.from_env(tmp_path / "other", tmp_path / "landing", environ=env(tmp_path))
    assert (s.home, s.landing) == ((tmp_path / "other").resolve(), (tmp_path / "landing"))


def test_every_bad_setting_is_one_line_naming_its_variable(tmp_path: Path) -> None:
    secret = "hooks.slack.com/services/T0/B0/s3cr3tT0ken"
    bad = env(
        tmp_path,
        MIRROR_LANDING=str(tmp_path / "missing"),
        MIRROR_DUCKDB_MEMORY_LIMIT="banana",
        MIRROR_INGEST_BATCH_MB="lots",
        MIRROR_RUN_LOCK_WAIT_SECONDS="-3",
        MIRROR_UI_URL="mirror.example.org",
        MIRROR_ALERT_URLS=f"json://127.0.0.1:9/x, {secret}",
    )
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(environ=bad)
    lines = str(raised.value).splitlines()
    assert [line.split("=")[0].split(":")[0] for line in lines] == [
        "MIRROR_LANDING",
        "MIRROR_DUCKDB_MEMORY_LIMIT",
        "MIRROR_INGEST_BATCH_MB",
        "MIRROR_RUN_LOCK_WAIT_SECONDS",
        "MIRROR_UI_URL",
        "MIRROR_ALERT_URLS",
    ]
    # the wording tests/e2e/test_failures.py and the README show
    assert lines[1] == (
        "MIRROR_DUCKDB_MEMORY_LIMIT='banana' is not a memory size; use e.g. 1GB, 512MiB or 50% "
        "(default 80%)"
    )
    assert lines[2].startswith("MIRROR_INGEST_BATCH_MB='lots' is not a size in MB")
    assert lines[3].startswith("MIRROR_RUN_LOCK_WAIT_SECONDS='-3' is not a number of seconds")
    assert "entry 2 of 2 is not an Apprise URL" in lines[5]
    assert "s3cr3t" not in str(raised.value)


def test_the_location_is_checked_on_its_own(tmp_path: Path) -> None:
    """A run refused for a bad memory limit still knows where to report it."""
    bad = env(tmp_path, MIRROR_DUCKDB_MEMORY_LIMIT="banana")
    assert Location.from_env(environ=bad).home == (tmp_path / "home").resolve()
    (tmp_path / "file").write_text("")
    with pytest.raises(SettingsError, match=r"^MIRROR_HOME=.*file exists and is not a folder$"):
        Location.from_env(environ={"MIRROR_HOME": str(tmp_path / "file")})


def test_constructed_settings_are_validated_too(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="MIRROR_RUN_LOCK_WAIT_SECONDS='-1'"):
        Settings(home=tmp_path, run_lock_wait_seconds=-1)
    with pytest.raises(ValueError, match="extra"):
        Settings(home=tmp_path, memory="1GB")  # type: ignore[call-arg]


def test_one_variable_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A start refused for another setting still reaches the alert channels."""
    monkeypatch.setenv("MIRROR_DUCKDB_MEMORY_LIMIT", "banana")
    monkeypatch.setenv("MIRROR_ALERT_URLS", "json://h/p")
    assert settings.alert_urls_from_env() == ("json://h/p",)
    monkeypatch.setenv("MIRROR_ALERT_URLS", "nope")
    with pytest.raises(SettingsError, match="entry 1 of 1 is not an Apprise URL"):
        settings.alert_urls_from_env()


def test_memory_limit_reaches_every_warehouse_connection(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    warehouse = Warehouse(duckdb_path=str(tmp_path / "w.duckdb"), memory_limit="256MiB")
    with warehouse.connection() as con:
        assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "256.0 MiB"
    # a connection opened outside the resources (mirror report) reads the variable
    monkeypatch.setenv("MIRROR_DUCKDB_MEMORY_LIMIT", "512MiB")
    con = connect(tmp_path / "w.duckdb")
    assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "512.0 MiB"
    con.close()
    monkeypatch.setenv("MIRROR_DUCKDB_MEMORY_LIMIT", "a lot")
    with pytest.raises(SettingsError, match="MIRROR_DUCKDB_MEMORY_LIMIT='a lot'"):
        connect(tmp_path / "w.duckdb")


def test_dbt_gets_the_settings_through_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    profile = (settings.DBT_PROJECT_DIR / "profiles.yml").read_text(encoding="utf-8")
    assert "memory_limit: \"{{ env_var('MIRROR_DUCKDB_MEMORY_LIMIT', '80%') }}\"" in profile
    assert "env_var('MIRROR_DUCKDB_PATH'" in profile
    for name in ("MIRROR_HOME", "MIRROR_DUCKDB_PATH", "MIRROR_DUCKDB_MEMORY_LIMIT"):
        monkeypatch.delenv(name, raising=False)
    Settings(home=tmp_path, duckdb_memory_limit="1GB").export_to_environ()
    assert os.environ["MIRROR_DUCKDB_PATH"] == str(tmp_path / "mirror.duckdb")
    assert os.environ["MIRROR_DUCKDB_MEMORY_LIMIT"] == "1GB"


def test_the_home_layout() -> None:
    layout = HomeLayout(Path("/h"))
    assert HomeLayout.of_warehouse(layout.duckdb_path) == layout
    assert str(layout.published_duckdb_path) == "/h/published/mirror.duckdb"
    assert str(layout.exports_dir) == "/h/exports"
    assert str(layout.gx_docs_dir) == "/h/docs/gx"
    assert str(layout.dbt_docs_dir) == "/h/docs/dbt"
    assert str(layout.report_path) == "/h/report/index.html"
    assert str(layout.dbt_target_dir("build")) == "/h/dbt/build"
    assert str(layout.alerts_log) == "/h/alerts.jsonl"


def _reads_of_mirror_variables(path: Path) -> list[str]:
    """``os.environ[...]`` / ``.get(...)`` / ``os.getenv`` with a literal ``MIRROR_*`` name."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        args: list[ast.expr] = []
        if isinstance(node, ast.Subscript):
            args = [node.slice]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) in ("get", "getenv"):
            args = node.args[:1]
        for arg in args:
            if isinstance(arg, ast.Constant) and str(arg.value).startswith("MIRROR_"):
                found.append(f"{path.name}:{node.lineno} {arg.value}")
    return found


def test_only_settings_reads_mirror_variables() -> None:
    found = [
        hit
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
        if path.name != "settings.py"
        for hit in _reads_of_mirror_variables(path)
    ]
    assert not found, "MIRROR_* read outside settings.py:\n" + "\n".join(found)


def test_the_fetch_variables(tmp_path: Path) -> None:
    fetch = settings.FetchVariables.from_env({"MIRROR_FETCH_HS": " 2709 ", "MIRROR_FETCH_FREQ": ""})
    assert (fetch.hs, fetch.freq, fetch.cron) == ("2709", None, None)
    assert settings.landing_set_in_env({}) is None
    assert (
        settings.comtrade_base_url_from_env({"MIRROR_COMTRADE_BASE_URL": "http://x"}) == "http://x"
    )


def test_a_dbt_target_keeps_only_the_parse_of_the_project(tmp_path: Path) -> None:
    """dbt's parse is reused from run to run (and the docs of a first run reuse its build's);
    every other artifact of the previous run goes."""
    from dagster_project.transform.project import PARTIAL_PARSE_FILE, dbt_project, run_target_path

    layout = HomeLayout(tmp_path)
    # a new home: the project's own parse of this target, if there is one (what dagster-dbt
    # copies for the DuckDB target anyway; a Spark target's is in dbt/target-<target>/)
    own = Path(dbt_project.project_dir) / dbt_project.target_path / PARTIAL_PARSE_FILE
    first = run_target_path(layout, "build")
    assert [p.name for p in first.iterdir()] == ([PARTIAL_PARSE_FILE] if own.is_file() else [])
    build = layout.dbt_target_dir("build")
    (build / PARTIAL_PARSE_FILE).write_bytes(b"build parse")
    (build / "run_results.json").write_text("{}")
    docs = run_target_path(layout, "docs")
    assert [p.name for p in docs.iterdir()] == [PARTIAL_PARSE_FILE]
    assert (docs / PARTIAL_PARSE_FILE).read_bytes() == b"build parse"
    (docs / PARTIAL_PARSE_FILE).write_bytes(b"docs parse")  # newer, but the build's own wins
    build = run_target_path(layout, "build")
    assert sorted(p.name for p in build.iterdir()) == [PARTIAL_PARSE_FILE]
    assert (build / PARTIAL_PARSE_FILE).read_bytes() == b"build parse"
