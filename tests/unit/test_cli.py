from __future__ import annotations

import os
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


def test_the_definitions_are_imported_with_this_homes_warehouse_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Importing the definitions may parse the dbt project (a stale manifest), and dbt reuses a
    parse only for the profile it was made with, warehouse path included: the run's settings
    must be in the environment by then, or a first run parses the project twice."""
    import builtins
    import sys

    from dagster_project import cli
    from dagster_project.settings import DUCKDB_PATH_ENV, Settings

    class Imported(Exception):
        pass

    seen: list[str | None] = []
    real_import = builtins.__import__

    def spy(name: str, *args: object, **kwargs: object) -> object:
        if name == "dagster_project.definitions":
            seen.append(os.environ.get(DUCKDB_PATH_ENV))
            raise Imported
        return real_import(name, *args, **kwargs)

    monkeypatch.delenv(DUCKDB_PATH_ENV, raising=False)
    monkeypatch.delitem(sys.modules, "dagster_project.definitions", raising=False)
    monkeypatch.setattr(builtins, "__import__", spy)
    landing = tmp_path / "landing"
    landing.mkdir()
    settings = Settings.from_env(tmp_path / "home", landing)
    with pytest.raises(Imported):
        cli._run_job(settings, cli.MIRROR_JOB_NAME, verbose=False, progress=None)
    assert seen == [str(settings.duckdb_path)]


def test_a_reader_that_stops_reading_is_not_a_traceback() -> None:
    """`mirror checks | head -1`: the pipe closes under the CLI; it ends quietly with 141."""
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte is written
    try:
        done = subprocess.run(
            [sys.executable, "-c", "import sys; from dagster_project.cli import main; "
             "sys.exit(main(['checks']))"],
            stdout=write_end, stderr=subprocess.PIPE, timeout=120, check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert b"Traceback" not in done.stderr and b"BrokenPipe" not in done.stderr, done.stderr
    assert done.returncode == 141


def _run_where_publish_is_skipped(*, with_marts: bool) -> object:
    """A run whose dbt-like step records no output for the publication's input (Dagster then
    skips the publication and still calls the run a success), with or without a mart built."""
    import dagster as dg

    @dg.multi_asset(
        outs={
            "mart": dg.AssetOut(key=["marts", "fct_x"], is_required=False),
            "model": dg.AssetOut(key=["marts", "fct_y"], is_required=False),
        },
        can_subset=True,
    )
    def build():  # type: ignore[no-untyped-def]
        if with_marts:
            yield dg.Output(1, output_name="mart")

    @dg.asset(key=["published", "mirror_warehouse"], ins={"y": dg.AssetIn(["marts", "fct_y"])})
    def publish(y: int) -> int:
        return y

    defs = dg.Definitions(assets=[build, publish])
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(raise_on_error=False)


def test_a_run_that_built_marts_but_skipped_a_step_is_not_a_success() -> None:
    from dagster_project.cli import RunResults

    built = RunResults([_run_where_publish_is_skipped(with_marts=True)])
    assert built.results[0].success  # Dagster's view
    assert not built.success and built.skipped_steps == ["published__mirror_warehouse"]
    # nothing rebuilt (an up-to-date run): the skipped publication is legitimate
    idle = RunResults([_run_where_publish_is_skipped(with_marts=False)])
    assert idle.success and idle.skipped_steps == []
