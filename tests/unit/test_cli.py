from __future__ import annotations

from pathlib import Path

import pytest

from dagster_project.cli import main


def test_help_teaches_the_settings(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for word in ("MIRROR_HOME", "MIRROR_LANDING", "mirror run", "Examples"):
        assert word in out


def test_a_missing_landing_folder_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "--home", str(tmp_path / "home"), "--landing", str(tmp_path / "nope")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mirror: MIRROR_LANDING=") and "is not a folder" in err
    assert len(err.splitlines()) == 1


def test_checks_lists_suites_and_waivers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["checks"]) == 0
    out = capsys.readouterr().out
    assert "fct_mirror_trade.yml" in out and "no_unwaived_breach" in out
