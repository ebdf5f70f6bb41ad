"""Tools that work beside the pipeline, not in it.

``mirror generate`` (:mod:`mirror_tools.generate`: a synthetic world of Comtrade files with its
ground truth, for tests and benchmarks) and ``mirror fetch comtrade``
(:mod:`mirror_tools.fetch`: the command line of the Comtrade download) only produce input for
the warehouse; the Dagster code location (``dagster_project``) is what builds it. Keeping them
apart keeps their dependencies (numpy and pandas for the generator) out of the pipeline's and
out of ``dagster dev``'s start-up.

The direction is one way: a tool may import ``dagster_project`` (the Comtrade column list,
reference files, settings, the Comtrade client the schedule also uses), while
``dagster_project`` reaches a tool only from its command line, and only when building the
parser (``tests/unit/test_import_graph.py`` holds both).

A tool's own dependencies are the ``tools`` dependency group of ``pyproject.toml`` (installed by
``uv sync``); :func:`import_tool` turns a missing one into a one-line message saying what to
install, instead of a traceback.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType

TOOLS_GROUP = "tools"  # the dependency group of pyproject.toml that holds the tools' own deps


class MissingToolDependency(RuntimeError):
    """A tool's own dependency is not installed; the message (one line) says what to install."""


def import_tool(module: str, *, needs: Sequence[str]) -> ModuleType:
    """Import ``module``; when one of ``needs`` is missing, raise :class:`MissingToolDependency`.

    Any other missing module is a bug, not an installation choice: it propagates unchanged.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if missing not in needs:
            raise
        raise MissingToolDependency(
            f"{missing} is not installed (this tool needs {', '.join(needs)}): run "
            f"`uv sync --group {TOOLS_GROUP}` (or `pip install {' '.join(needs)}`)"
        ) from None
