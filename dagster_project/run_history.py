"""Run history that does not cost more than the build it records.

Dagster keeps run history (the event log `dagster dev` shows) in SQLite files under
``$DAGSTER_HOME/history``. Its stock SQLite event log opens a new SQLAlchemy engine for every
event it stores, so nothing it compiles is reused, and every commit waits for ``fsync``. A build
of the period models over every period reports one materialisation per asset and period: 679
materialisations and as many planned events for the embedded sample, each written to the run's
file and to the cross-run index. Measured on the sample (py-spy, 2 cores): 13.8 s of a 29 s
``mirror run --rebuild`` went to storing those events.

:class:`MirrorSqliteEventLogStorage` is the stock storage with two changes, nothing else:

* one engine per SQLite file and process (a few kept, least recently used dropped), so
  SQLAlchemy's compiled statements are reused across events;
* ``PRAGMA synchronous=NORMAL`` on its connections. The files are in WAL mode (Dagster sets it),
  where NORMAL keeps every commit atomic and the file consistent; a power cut can lose the last
  events written, never corrupt the file. Run history is a record of builds, not the data: the
  warehouse's own writes do not go through here.

The files, tables and schema are Dagster's own: `dagster dev` without this class reads them,
and this class reads history written without it. ``mirror`` names it in the ``dagster.yaml``
it writes for a new home (:func:`dagster_yaml`), and in one it wrote before.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dagster import StringSource
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

ENGINES_KEPT = 8
"""Engines kept per process: the run being written and the cross-run index, with room for a
UI reading a few runs. An engine holds no connection (NullPool), only its compiled statements."""


EVENT_BATCH_SIZE = 1000
"""Events per batch at most: a partitioned asset's materialisations over every period of a
large world (hundreds) in one transaction."""


def _synchronous_normal(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class MirrorSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log, with engines reused and WAL commits at ``synchronous=NORMAL``
    (module docstring: why, and what it measured)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_pid = os.getpid()
        self._engines_lock = threading.Lock()
        self._tables_present: set[str] = set()
        self._batch = threading.local()
        # Ask Dagster for batches of events (store_event_batch): read by Dagster when it logs
        # events, in every process that loads this storage (`mirror`, `dagster dev`'s runs).
        os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", str(EVENT_BATCH_SIZE))
        super().__init__(base_dir, inst_data)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"base_dir": StringSource}

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> MirrorSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        with self._engines_lock:
            if self._engines_pid != os.getpid():  # a forked child: never share the parent's
                self._engines = OrderedDict()
                self._engines_pid = os.getpid()
            engine = self._engines.get(shard)
            if engine is not None:
                self._engines.move_to_end(shard)
                return engine
            engine = create_engine(
                self.conn_string_for_shard(shard),
                poolclass=StaticPool,  # one connection, used under the storage's _db_lock
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            )
            event.listen(engine, "connect", _synchronous_normal)
            self._engines[shard] = engine
            while len(self._engines) > ENGINES_KEPT:
                _, dropped = self._engines.popitem(last=False)
                dropped.dispose()
            return engine

    def has_table(self, table_name: str) -> bool:
        """Dagster asks before every asset event whether its tag table exists, on a new engine
        each time (0.9 s of the sample's build). A table, once there, stays: remember it."""
        if table_name in self._tables_present:
            return True
        present = super().has_table(table_name)
        if present:
            self._tables_present.add(table_name)
        return present

    def _ready_engine(self, shard: str) -> Engine:
        engine = self._engine(shard)
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        batch: dict[str, Connection] | None = getattr(self._batch, "connections", None)
        if batch is not None:  # this thread is in store_event_batch and holds _db_lock
            if shard not in batch:
                conn = self._ready_engine(shard).connect()
                conn.begin()
                batch[shard] = conn
            yield batch[shard]
            return
        with self._db_lock:
            engine = self._ready_engine(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """Store the events of one batch in one transaction per file.

        Dagster batches the events of a build over a range of partitions (its planned
        materialisations; each asset's materialisations) when ``DAGSTER_EVENT_BATCH_SIZE`` is
        set, which this storage does (``__init__``). The stock storage stores them one by one,
        a commit each. Each event is stored exactly as :meth:`store_event` stores it; only the
        commits are shared. If anything fails, nothing of the batch is kept and the error goes
        to Dagster, which then stores the events one by one."""
        with self._db_lock:
            connections: dict[str, Connection] = {}
            self._batch.connections = connections
            try:
                for entry in events:
                    self.store_event(entry)
            except BaseException:
                for conn in connections.values():
                    conn.rollback()
                raise
            else:
                for conn in connections.values():
                    conn.commit()
            finally:
                self._batch.connections = None
                for conn in connections.values():
                    conn.close()

    def _close_engines(self) -> None:
        with self._engines_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()

    def wipe(self) -> None:
        """Dagster's wipe deletes the run files: close their connections first, so that no
        later event goes to a deleted file."""
        self._close_engines()
        self._tables_present.clear()
        super().wipe()

    def dispose(self) -> None:
        self._close_engines()
        super().dispose()


GENERATED = "# written by mirror (dagster_project/run_history.py); rewritten when the home moves\n"
"""First line of the ``dagster.yaml`` :func:`dagster_yaml` writes: a file starting otherwise
is the user's, and ``mirror`` leaves it alone."""


def dagster_yaml(dagster_home: Path) -> str:
    """The ``dagster.yaml`` ``mirror`` writes for the Dagster home ``dagster_home``: telemetry
    off, the event log in :class:`MirrorSqliteEventLogStorage` at Dagster's default place,
    ``history/runs`` (an absolute path: Dagster gives a storage no other way to find its home
    when the instance is opened by folder, ``DagsterInstance.from_config``)."""
    base_dir = json.dumps(str(Path(dagster_home).resolve() / "history" / "runs"))
    return (
        GENERATED + "telemetry:\n"
        "  enabled: false\n"
        "event_log_storage:\n"
        f"  module: {__name__}\n"
        f"  class: {MirrorSqliteEventLogStorage.__name__}\n"
        "  config:\n"
        f"    base_dir: {base_dir}\n"
    )
