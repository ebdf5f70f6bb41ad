"""Settings read from the environment: sizes and limits are validated with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagster_project import settings
from dagster_project.resources import connect


def test_batch_size_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MIRROR_INGEST_BATCH_MB", raising=False)
    assert settings.ingest_batch_bytes() == settings.DEFAULT_INGEST_BATCH_MB * 1024 * 1024
    monkeypatch.setenv("MIRROR_INGEST_BATCH_MB", "0")
    assert settings.ingest_batch_bytes() == 0
    monkeypatch.setenv("MIRROR_INGEST_BATCH_MB", "lots")
    with pytest.raises(settings.SettingsError, match="MIRROR_INGEST_BATCH_MB='lots'"):
        settings.ingest_batch_bytes()


def test_memory_limit_setting_reaches_every_warehouse_connection(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MIRROR_DUCKDB_MEMORY_LIMIT", raising=False)
    assert settings.duckdb_memory_limit() == "80%"
    monkeypatch.setenv("MIRROR_DUCKDB_MEMORY_LIMIT", "512MiB")
    con = connect(tmp_path / "w.duckdb")
    assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "512.0 MiB"
    con.close()
    monkeypatch.setenv("MIRROR_DUCKDB_MEMORY_LIMIT", "a lot")
    with pytest.raises(settings.SettingsError, match="MIRROR_DUCKDB_MEMORY_LIMIT='a lot'"):
        settings.duckdb_memory_limit()


def test_dbt_profile_passes_the_memory_limit_to_duckdb() -> None:
    profile = (settings.DBT_PROJECT_DIR / "profiles.yml").read_text(encoding="utf-8")
    assert "memory_limit: \"{{ env_var('MIRROR_DUCKDB_MEMORY_LIMIT', '80%') }}\"" in profile


def test_every_setting_is_checked_before_a_run_one_line_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("MIRROR_INGEST_BATCH_MB", "MIRROR_UI_URL", "MIRROR_ALERT_URLS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MIRROR_DUCKDB_MEMORY_LIMIT", "banana")
    monkeypatch.setenv("MIRROR_RUN_LOCK_WAIT_SECONDS", "-3")
    with pytest.raises(settings.SettingsError) as raised:
        settings.validate_environment()
    lines = str(raised.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("MIRROR_DUCKDB_MEMORY_LIMIT='banana' is not a memory size")
    assert lines[1].startswith("MIRROR_RUN_LOCK_WAIT_SECONDS='-3' is not a number of seconds")
    monkeypatch.setenv("MIRROR_DUCKDB_MEMORY_LIMIT", "1GB")
    monkeypatch.setenv("MIRROR_RUN_LOCK_WAIT_SECONDS", "0")
    settings.validate_environment()
    assert settings.run_lock_wait_seconds() == 0


def test_ui_url_and_alert_urls_are_checked_without_echoing_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MIRROR_UI_URL", "http://mirror.example.org:3000/")
    assert settings.ui_url() == "http://mirror.example.org:3000"
    monkeypatch.setenv("MIRROR_UI_URL", "mirror.example.org")
    with pytest.raises(settings.SettingsError, match="is not an http"):
        settings.ui_url()
    secret = "hooks.slack.com/services/T0/B0/s3cr3tT0ken"
    monkeypatch.setenv("MIRROR_ALERT_URLS", f"json://127.0.0.1:9/x, {secret}")
    with pytest.raises(settings.SettingsError) as raised:
        settings.alert_urls()
    assert "entry 2 of 2 is not an Apprise URL" in str(raised.value)
    assert "s3cr3t" not in str(raised.value)
