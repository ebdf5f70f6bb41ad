"""Live progress: one redrawn status line on a terminal, a line per finished step."""

from __future__ import annotations

import io

from dagster_project.progress import (
    StepProgress,
    TerminalProgress,
    Update,
    listening,
    wants_progress,
)


class FakeTerminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_steps_reach_listeners_only_while_listening() -> None:
    heard: list[Update] = []
    with listening(heard.append):
        step = StepProgress("ingest comtrade", 3)
        step.advance(2, "files")
        step.note("waiting for the lock")
        step.finish("done")
    StepProgress("after", 1).advance()
    assert [u.line() for u in heard] == [
        "ingest comtrade: 0/3",
        "ingest comtrade: 2/3 files",
        "ingest comtrade: 2/3 waiting for the lock",
        "ingest comtrade: 2/3 done",
    ]
    assert [u.finished for u in heard] == [False, False, False, True]


def test_the_terminal_redraws_one_line_and_keeps_finished_steps() -> None:
    out = FakeTerminal(True)
    show = TerminalProgress(out, max_per_second=1e9)
    show(Update("dbt build", 1, 10, "nodes"))
    show(Update("dbt build", 10, 10, "nodes built", finished=True))
    show(Update("checks", 0, 3))
    show.close()
    text = out.getvalue()
    assert text.count("\n") == 1  # only the finished step stays on screen
    assert "dbt build: 10/10 nodes built\n" in text and text.endswith("\r\x1b[K")


def test_redraws_are_throttled_but_finished_steps_always_print() -> None:
    out = FakeTerminal(True)
    show = TerminalProgress(out, max_per_second=1)
    for i in range(50):
        show(Update("ingest", i, 50))
    show(Update("ingest", 50, 50, "done", finished=True))
    assert out.getvalue().count("ingest:") == 2  # the first redraw and the finished line


def test_progress_only_on_a_terminal_and_not_when_quiet(monkeypatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    assert wants_progress(False, FakeTerminal(True))
    assert not wants_progress(True, FakeTerminal(True))
    assert not wants_progress(False, FakeTerminal(False))
    monkeypatch.setenv("TERM", "dumb")
    assert not wants_progress(False, FakeTerminal(True))
