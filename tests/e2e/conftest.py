"""One materialised warehouse per scenario, shared by every end-to-end test (session scope)."""

from __future__ import annotations

import csv
import os
import pty
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from tests.conftest import REPO_ROOT, SAMPLE_COMTRADE


@dataclass(frozen=True)
class MirrorRun:
    home: Path
    landing: Path
    returncode: int
    stdout: str
    stderr: str

    @property
    def warehouse(self) -> Path:
        return self.home / "mirror.duckdb"

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = duckdb.connect(str(self.warehouse), read_only=True)
        try:
            yield con
        finally:
            con.close()


def clean_environment(**extra: str) -> dict[str, str]:
    """The test's environment without MIRROR_* / DAGSTER_HOME and without the virtualenv on
    PATH: `.venv/bin/mirror` must find dbt by itself, as it does when run without `uv run`."""
    venv_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIRROR_", "DAGSTER_HOME"))}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if p and p != venv_bin
    )
    env.pop("VIRTUAL_ENV", None)
    return {**env, **extra}


MIRROR = Path(sys.executable).with_name("mirror")  # the console script, as a user runs it


def assets_of_transform_runs(home: Path, checks: bool = False) -> list[set[str]]:
    """The assets (``schema/name``) each transform run of ``home`` materialized, or, with
    ``checks``, whose checks it evaluated (dbt tests, GX suites), oldest run first: what
    Dagster recorded."""
    from dagster import DagsterEventType, DagsterInstance
    from dagster._core.storage.dagster_run import RunsFilter

    from dagster_project.jobs import TRANSFORM_JOB_NAME

    kind = (
        DagsterEventType.ASSET_CHECK_EVALUATION
        if checks
        else DagsterEventType.ASSET_MATERIALIZATION
    )
    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        runs = instance.get_runs(filters=RunsFilter(job_name=TRANSFORM_JOB_NAME))
        found = []
        for run in reversed(runs):
            keys = set()
            for record in instance.all_logs(run.run_id, of_type=kind):
                event = record.dagster_event
                if event is None:
                    continue
                key = event.asset_check_evaluation_data.asset_key if checks else event.asset_key
                if key is not None:
                    keys.add("/".join(key.path))
            found.append(keys)
        return found


def mirror_run(
    home: Path, landing: Path, *args: str, command: str = "run", tty: bool = False, **env: str
) -> MirrorRun:
    """`.venv/bin/mirror run` in a child process with a clean environment (no `uv run`, no
    activated venv), as a user would run it. ``tty``: its stderr is a terminal (a pty), as
    when a person watches it; ``stderr`` is then what that terminal received."""
    cmd = [str(MIRROR), command, "--home", str(home), "--landing", str(landing), *args]
    if not tty:
        proc = subprocess.run(
            cmd,
            cwd=REPO_ROOT,
            env=clean_environment(**env),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        return MirrorRun(home, landing, proc.returncode, proc.stdout, proc.stderr)
    primary, secondary = pty.openpty()
    with tempfile.TemporaryFile("w+", encoding="utf-8") as out:
        child = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=clean_environment(TERM="xterm", **env),
            stdout=out,
            stderr=secondary,
            stdin=subprocess.DEVNULL,
        )
        os.close(secondary)
        received = bytearray()
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            received += chunk
        code = child.wait(timeout=900)
        os.close(primary)
        out.seek(0)
        return MirrorRun(home, landing, code, out.read(), received.decode("utf-8", "replace"))


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> MirrorRun:
    """The embedded sample, built once."""
    return mirror_run(tmp_path_factory.mktemp("sample_home"), SAMPLE_COMTRADE.parent)


@pytest.fixture(scope="session")
def breach_run(tmp_path_factory: pytest.TempPathFactory) -> MirrorRun:
    """The sample with France's 2021 annual crude import from Kazakhstan inflated by 50%:
    a breach nobody waived, so the blocking check must fail the run."""
    landing = tmp_path_factory.mktemp("breach_landing")
    shutil.copytree(SAMPLE_COMTRADE, landing / "comtrade")
    path = next((landing / "comtrade").glob("comtrade_final_A_FRA_*.csv"))
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    changed = 0
    for row in rows:
        is_total = (row["customsCode"], row["motCode"], row["partner2Code"]) == ("C00", "0", "0")
        if is_total and (row["period"], row["partnerCode"], row["cmdCode"]) == (
            "2021",
            "398",
            "270900",
        ):
            for col in ("cifvalue", "primaryValue"):
                row[col] = f"{float(row[col]) * 1.5:.2f}"
            changed += 1
    assert changed == 1, "expected exactly one FRA 2021 crude total row in the sample"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return mirror_run(tmp_path_factory.mktemp("breach_home"), landing)
