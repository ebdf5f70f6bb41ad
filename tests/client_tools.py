"""BI clients the tests open the publication with, installed once into a cache folder.

Each is what a user installs from a package registry: the DuckDB CLI from PyPI
(``duckdb-cli``), an old Python ``duckdb`` (the oldest 1.x the published storage format
promises), and Evidence's DuckDB connector from npm (``@evidence-dev/duckdb``, which brings its
``@duckdb/node-api``). The cache (``$MIRROR_TEST_TOOLS``, default ``~/.cache/mirror-test-tools``)
keeps them between runs: a second run installs nothing. A tool whose install fails skips the
tests that need it, with the installer's own message as the reason.

Evidence's connector, not the npm package ``duckdb``: the latter (node-duckdb, 1.4.x) downloads
its binary from a host that is not a package registry, and otherwise compiles DuckDB from
source (over an hour on two cores); Evidence itself moved to ``@duckdb/node-api``, whose
binary ships inside a registry package.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

DUCKDB_CLI_VERSIONS = ("1.4.4", "1.5.6")  # the oldest and the newest 1.x CLI on PyPI
OLDEST_DUCKDB_PYTHON = "1.0.0"
EVIDENCE_DUCKDB = "@evidence-dev/duckdb@2.0.1"  # resolves @duckdb/node-api 1.4.2-r.1


def cache_dir() -> Path:
    root = Path(os.environ.get("MIRROR_TEST_TOOLS") or Path.home() / ".cache" / "mirror-test-tools")
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextmanager
def _installing(name: str) -> Iterator[Path | None]:
    """Yields ``cache/<name>`` to fill when it is not complete yet, else None. Built in place
    (a virtualenv stores absolute paths) under a lock, and marked complete only at the end, so
    a half-finished install (killed, failed) is redone, never used."""
    root = cache_dir()
    folder = root / name
    marker = folder / ".complete"
    with (root / f".{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            yield None
            return
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        yield folder
        marker.touch()


def _run(cmd: list[str], what: str, **kwargs: object) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False, **kwargs)
    if proc.returncode != 0:
        pytest.skip(
            f"could not install {what} ({' '.join(cmd[:3])} …): "
            + (proc.stderr or proc.stdout).strip()[-400:]
        )


def _uv() -> list[str]:
    uv = shutil.which("uv")
    if uv:
        return [uv]
    probe = subprocess.run([sys.executable, "-m", "uv", "--version"], capture_output=True)
    if probe.returncode == 0:
        return [sys.executable, "-m", "uv"]
    pytest.skip("uv is not installed: it installs the PyPI clients (python3 -m pip install uv)")


def _venv(name: str, requirements: list[str]) -> Path:
    """A virtualenv with ``requirements`` at ``cache/<name>``."""
    with _installing(name) as folder:
        if folder is not None:
            uv = _uv()
            _run([*uv, "venv", "-q", "--allow-existing", "--python", sys.executable,
                  str(folder)], name)  # fmt: skip
            # wheels only: an old release without a wheel for this Python is skipped, not
            # compiled for an hour
            _run([*uv, "pip", "install", "-q", "--only-binary", ":all:",
                  "--python", str(folder / "bin" / "python"), *requirements], name)  # fmt: skip
    return cache_dir() / name


def duckdb_cli(version: str) -> Path:
    """The ``duckdb`` executable of the PyPI package ``duckdb-cli==version``."""
    exe = _venv(f"duckdb-cli-{version}", [f"duckdb-cli=={version}"]) / "bin" / "duckdb"
    if not exe.exists():
        pytest.skip(f"duckdb-cli {version} installed no `duckdb` executable")
    return exe


def duckdb_cli_binary(version: str) -> Path:
    """The native executable of ``duckdb-cli==version`` (1.5 wraps it in a Python script),
    runnable without the virtualenv, e.g. by another user."""
    script = duckdb_cli(version)
    if script.read_bytes()[:4] == b"\x7fELF":
        return script
    found = sorted(script.parent.parent.glob("lib/python*/site-packages/duckdb_cli/duckdb"))
    if not found:
        pytest.skip(f"duckdb-cli {version}: no native duckdb executable found")
    return found[0]


def duckdb_python(version: str) -> Path:
    """A Python with ``duckdb==version``."""
    return _venv(f"duckdb-python-{version}", [f"duckdb=={version}"]) / "bin" / "python"


def evidence_connector() -> Path:
    """A folder whose ``node_modules`` has Evidence's DuckDB connector; needs node and npm."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node/npm are not installed (Debian: apt-get install nodejs npm)")
    name = "evidence-" + EVIDENCE_DUCKDB.replace("@", "").replace("/", "-")
    with _installing(name) as folder:
        if folder is not None:
            (folder / "package.json").write_text('{"private": true}\n', encoding="utf-8")
            _run(
                [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", EVIDENCE_DUCKDB],
                EVIDENCE_DUCKDB,
                cwd=folder,
            )
    return cache_dir() / name
