"""A home's dbt parse is reused only for the profile it was made with (transform/home_parse.py):
a home moved to another folder, or run with another memory limit, gets a new parse in the
background, and its stale ones go (the build would otherwise keep its own and parse the whole
project in the dbt step)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dagster_project.settings import DUCKDB_PATH_ENV, MEMORY_LIMIT_ENV, HomeLayout
from dagster_project.transform import home_parse
from dagster_project.transform.home_parse import (
    PARSE_PROFILE_FILE,
    PARTIAL_PARSE_FILE,
    finish_home_parse,
    home_has_a_parse,
    start_home_parse,
)


@pytest.fixture
def fake_dbt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """``dbt`` beside the interpreter, whose ``parse`` writes a parse file where it is told:
    the commands started are recorded."""
    started: list[list[str]] = []
    real_popen, python = subprocess.Popen, sys.executable
    monkeypatch.setattr(home_parse.sys, "executable", str(tmp_path / "bin" / "python"))
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "dbt").write_text("")

    def popen(args: list[str], **_: object) -> subprocess.Popen[bytes]:
        started.append(args)
        target = Path(args[args.index("--target-path") + 1])
        (target / PARTIAL_PARSE_FILE).write_bytes(b"new")
        return real_popen([python, "-c", "pass"])

    monkeypatch.setattr(home_parse.subprocess, "Popen", popen)
    return started


def _home(root: Path, monkeypatch: pytest.MonkeyPatch, memory: str = "1GB") -> HomeLayout:
    layout = HomeLayout(root)
    monkeypatch.setenv(DUCKDB_PATH_ENV, str(root / "mirror.duckdb"))
    monkeypatch.setenv(MEMORY_LIMIT_ENV, memory)
    return layout


def _parse_once(layout: HomeLayout) -> bool:
    parse = start_home_parse(layout, "duckdb")
    finish_home_parse(parse, wait=True)
    return parse is not None


def test_a_parse_is_made_once_per_profile(
    tmp_path: Path, fake_dbt: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = _home(tmp_path / "home", monkeypatch)
    assert not home_has_a_parse(layout)
    assert _parse_once(layout)  # a new home
    assert home_has_a_parse(layout)
    assert (layout.home / "dbt" / PARSE_PROFILE_FILE).is_file()
    assert not _parse_once(layout)  # the same profile: the home's parse is reused
    _home(tmp_path / "home", monkeypatch, memory="2GB")  # another memory limit
    assert not home_has_a_parse(layout)
    assert _parse_once(layout)
    assert len(fake_dbt) == 2


def test_a_moved_home_parses_again_and_its_stale_parses_go(
    tmp_path: Path, fake_dbt: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A home copied elsewhere (a restored backup, the benchmark's tries) keeps the parses made
    for its old warehouse path, which dbt refuses ("profile has changed")."""
    old = _home(tmp_path / "old", monkeypatch)
    assert _parse_once(old)
    build = old.dbt_target_dir("build")
    build.mkdir(parents=True)
    (build / PARTIAL_PARSE_FILE).write_bytes(b"old build")  # what the old home's build left
    moved = tmp_path / "moved"
    moved.mkdir()
    (old.home / "dbt").rename(moved / "dbt")
    layout = _home(moved, monkeypatch)
    assert not home_has_a_parse(layout)  # the record names the old warehouse path
    assert _parse_once(layout)
    assert not (layout.dbt_target_dir("build") / PARTIAL_PARSE_FILE).exists()
    assert (layout.dbt_target_dir("parse") / PARTIAL_PARSE_FILE).read_bytes() == b"new"
    assert home_has_a_parse(layout)


def test_a_home_of_before_the_record_parses_once(
    tmp_path: Path, fake_dbt: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A home with a parse but no record (made by an earlier version): it may be stale, so it
    is made again, once."""
    layout = _home(tmp_path / "home", monkeypatch)
    build = layout.dbt_target_dir("build")
    build.mkdir(parents=True)
    (build / PARTIAL_PARSE_FILE).write_bytes(b"unknown")
    assert not home_has_a_parse(layout)
    assert _parse_once(layout)
    assert not _parse_once(layout)
