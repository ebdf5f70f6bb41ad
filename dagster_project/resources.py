"""Connections to the working warehouse.

DuckDB allows one read-write process per file. Every asset that touches the warehouse runs in
the same process (in-process executor) and opens its connection through :class:`Warehouse`,
which always closes it, so the next step (dbt, GX) can take the lock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb


class WarehouseLockedError(RuntimeError):
    """Another process holds the DuckDB file."""


def connect(
    path: Path, *, read_only: bool = False, wait_seconds: float = 10.0
) -> duckdb.DuckDBPyConnection:
    """Open ``path``; retry briefly on a lock, then fail with a message that names the cause."""
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
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


class Warehouse(dg.ConfigurableResource):
    """The working DuckDB file of one MIRROR_HOME."""

    duckdb_path: str

    @contextmanager
    def connection(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        con = connect(Path(self.duckdb_path), read_only=read_only)
        try:
            yield con
        finally:
            con.close()
