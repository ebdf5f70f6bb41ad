"""Connections to the working warehouse, and the run lock that keeps two runs apart.

DuckDB allows one read-write process per file. Every asset that touches the warehouse runs in
the same process (in-process executor) and opens its connection through :class:`Warehouse`,
which always closes it, so the next step (dbt, GX) can take the DuckDB lock.

Between steps the DuckDB file is free, so DuckDB's own lock cannot stop a second run from
interleaving its steps with the first (run B ingesting while run A's dbt reads raw, run B
publishing half-way through run A). The **run lock** does: an exclusive ``flock`` on
``<warehouse>.run.lock``, taken when a run initialises the ``warehouse`` resource and released
when the run ends. A second run waits for it (``run_lock_wait_seconds``, default 30 minutes, or
``MIRROR_RUN_LOCK_WAIT_SECONDS``; it logs who holds it) and then fails with
:class:`WarehouseLockedError` naming the holder. The kernel releases a
``flock`` when its process dies, so a killed run (``kill -9``) never leaves a stale lock.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from pydantic import PrivateAttr

from dagster_project.progress import Update, publish_update
from dagster_project.settings import (
    DEFAULT_DUCKDB_MEMORY_LIMIT,
    DEFAULT_RUN_LOCK_WAIT_SECONDS,
    HomeLayout,
    memory_limit_from_env,
)

RUN_LOCK_SUFFIX = ".run.lock"


class WarehouseLockedError(RuntimeError):
    """Another process holds the DuckDB file (or the run lock of its MIRROR_HOME)."""


def connect(
    path: Path,
    *,
    read_only: bool = False,
    wait_seconds: float = 10.0,
    memory_limit: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open ``path``; retry briefly on a lock, then fail with a message that names the cause.

    ``memory_limit`` is the resource's (from the settings); without one (``mirror report``, the
    checks' read-only connections) ``MIRROR_DUCKDB_MEMORY_LIMIT`` as the settings read it."""
    memory_limit = memory_limit or memory_limit_from_env()
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return duckdb.connect(
                str(path), read_only=read_only, config={"memory_limit": memory_limit}
            )
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                if "lock" in str(exc).lower():
                    raise WarehouseLockedError(
                        f"{path} is locked by another process (another `mirror run`, a dbt "
                        "command or a client holding it open); BI tools must read the "
                        "published copy instead"
                    ) from exc
                raise
            time.sleep(0.25)


def run_lock_path(duckdb_path: Path) -> Path:
    return duckdb_path.with_name(duckdb_path.name + RUN_LOCK_SUFFIX)


def _holder(lock_path: Path) -> str:
    """Who holds the run lock, from what the holder wrote into the lock file (best effort)."""
    try:
        info = json.loads(lock_path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "another process"
    if not info:
        return "another process"
    return f"pid {info.get('pid')}, run {info.get('run_id')}, since {info.get('since')}"


class RunLock:
    """An exclusive ``flock`` on ``<warehouse>.run.lock`` for the length of one run."""

    def __init__(self, duckdb_path: Path) -> None:
        self.duckdb_path = duckdb_path
        self.path = run_lock_path(duckdb_path)
        self._fd: int | None = None

    def acquire(
        self, *, wait_seconds: float, run_id: str = "", log: Any = None, poll: float = 0.5
    ) -> float:
        """Take the lock, waiting up to ``wait_seconds``; returns the seconds waited."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        started = time.monotonic()
        announced = False
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    waited = time.monotonic() - started
                    if waited >= wait_seconds:
                        raise WarehouseLockedError(
                            f"another run is using the warehouse {self.duckdb_path} "
                            f"({_holder(self.path)}); waited {waited:.0f}s for it to finish. "
                            "Two runs never write the same MIRROR_HOME at once: retry when it "
                            "is done, or use another --home."
                        ) from None
                    if not announced:
                        message = (
                            f"waiting for another run to release {self.path} "
                            f"({_holder(self.path)}); up to {wait_seconds:.0f}s"
                        )
                        if log is not None:
                            log.warning(message)
                        publish_update(Update("run lock", 0, None, message))
                        announced = True
                    time.sleep(poll)
        except BaseException:
            os.close(fd)
            raise
        since = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(
            fd, json.dumps({"pid": os.getpid(), "run_id": run_id, "since": since}).encode(), 0
        )
        self._fd = fd
        return time.monotonic() - started

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None


class Warehouse(dg.ConfigurableResource):
    """The working DuckDB file of one MIRROR_HOME.

    Initialising it (once per run: in-process executor) takes the run lock; see the module
    docstring. ``run_lock_wait_seconds`` (``MIRROR_RUN_LOCK_WAIT_SECONDS``) is how long a
    second run waits before failing; ``memory_limit`` (``MIRROR_DUCKDB_MEMORY_LIMIT``) is
    DuckDB's for every connection it opens. ``definitions.py`` sets both from the settings.
    """

    duckdb_path: str
    memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT
    run_lock_wait_seconds: float = DEFAULT_RUN_LOCK_WAIT_SECONDS

    _run_lock: RunLock | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        lock = RunLock(Path(self.duckdb_path))
        run_id = context.dagster_run.run_id if context.dagster_run else ""
        waited = lock.acquire(
            wait_seconds=self.run_lock_wait_seconds, run_id=run_id, log=context.log
        )
        if waited >= 1 and context.log is not None:
            context.log.warning(f"got the warehouse run lock after waiting {waited:.0f}s")
        self._run_lock = lock

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._run_lock is not None:
            self._run_lock.release()
            self._run_lock = None

    @property
    def layout(self) -> HomeLayout:
        """The paths of the home this warehouse file lives in."""
        return HomeLayout.of_warehouse(self.duckdb_path)

    @contextmanager
    def connection(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        con = connect(Path(self.duckdb_path), read_only=read_only, memory_limit=self.memory_limit)
        try:
            yield con
        finally:
            con.close()
