"""Live progress of a run: what each step is doing, as it does it.

Steps report through :class:`StepProgress` (files of an ingest, dbt nodes as they finish, GX
suites, published tables). Two audiences:

* ``mirror run`` on a terminal: the CLI installs a :class:`TerminalProgress` listener with
  :func:`listening`; it redraws one status line and prints a line per finished step. The CLI
  runs the job in its own process (in-process executor), so a module-level listener list
  reaches every step. Without a terminal, or with ``--quiet``, there is no listener: nothing
  is printed.
* Dagster (the UI, ``dagster dev``): :meth:`StepProgress.finish` writes the same counts to the
  step's log; each step also puts them in its materialization or check metadata.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO


@dataclass(frozen=True)
class Update:
    step: str  # e.g. "ingest comtrade", "dbt build", "checks", "publish"
    done: int
    total: int | None
    detail: str = ""
    finished: bool = False

    def line(self) -> str:
        count = f"{self.done}/{self.total}" if self.total is not None else f"{self.done}"
        text = f"{self.step}: {count}"
        return f"{text} {self.detail}".rstrip() if self.detail else text


Listener = Callable[[Update], None]
_listeners: list[Listener] = []


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send every update to ``listener`` while the block runs."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def publish_update(update: Update) -> None:
    for listener in list(_listeners):
        listener(update)


class StepProgress:
    """Counts of one step: ``advance`` as items finish, ``finish`` once at the end."""

    def __init__(self, step: str, total: int | None, *, log: Any = None, unit: str = "") -> None:
        self.step, self.total, self.log, self.unit = step, total, log, unit
        self.done = 0
        publish_update(Update(step, 0, total, unit))

    def advance(self, count: int = 1, detail: str = "") -> None:
        self.done += count
        publish_update(Update(self.step, self.done, self.total, detail or self.unit))

    def note(self, detail: str) -> None:
        """A change of what the step is doing that finishes no item (e.g. waiting for a lock)."""
        publish_update(Update(self.step, self.done, self.total, detail))

    def finish(self, summary: str) -> None:
        publish_update(Update(self.step, self.done, self.total, summary, finished=True))
        if self.log is not None:
            self.log.info(Update(self.step, self.done, self.total, summary).line())


class TerminalProgress:
    """One status line redrawn in place, and a permanent line per finished step.

    ``stream`` is the terminal itself (the CLI sends the run's other output to the log file).
    Redraws are limited to ``max_per_second``; a finished step is always printed.
    """

    def __init__(self, stream: TextIO, *, max_per_second: float = 10.0) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self.min_interval = 1.0 / max_per_second
        self.last_draw = 0.0
        self.open_line = False

    def _width(self) -> int:
        return max(40, shutil.get_terminal_size((100, 24)).columns - 1)

    def __call__(self, update: Update) -> None:
        now = time.monotonic()
        if not update.finished and now - self.last_draw < self.min_interval:
            return
        self.last_draw = now
        text = f"[{now - self.started:5.1f}s] {update.line()}"
        if update.finished:
            self.stream.write("\r\x1b[K" + text + "\n")
            self.open_line = False
        else:
            self.stream.write("\r\x1b[K" + text[: self._width()])
            self.open_line = True
        self.stream.flush()

    def close(self) -> None:
        if self.open_line:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.open_line = False


def wants_progress(quiet: bool, stream: TextIO = sys.stderr) -> bool:
    """Progress on a terminal only (not in a pipe, a file or CI logs), unless ``--quiet``."""
    import os

    if quiet or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
