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
