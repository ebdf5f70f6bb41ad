"""``mirror_tools`` declares what it imports, and says in one line what to install when a tool's
own dependency is missing (instead of a traceback from deep inside the generator)."""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from pathlib import Path

import pytest

from dagster_project import cli
from mirror_tools import TOOLS_GROUP, MissingToolDependency, import_tool
from mirror_tools.generate import cli as generate_cli

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
OWN = {"dagster_project", "mirror_tools"}


def _dist(requirement: str) -> str:
    name = re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def third_party_imports(root: Path) -> set[str]:
    """Top-level names of every non-stdlib module imported anywhere under ``root``."""
    names: set[str] = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in OWN}


def test_every_module_the_tools_import_is_declared() -> None:
    declared = {_dist(r) for r in PYPROJECT["project"]["dependencies"]}
    declared |= {_dist(r) for r in PYPROJECT["dependency-groups"][TOOLS_GROUP]}
    dists = md.packages_distributions()
    imports = third_party_imports(REPO / "mirror_tools")
    assert {"numpy", "pandas"} <= imports  # the walker sees the generator's imports
    undeclared = {
        name: dists.get(name)
        for name in imports
        if not {_dist(d) for d in dists.get(name, [name])} & declared
    }
    assert not undeclared, f"imported by mirror_tools, not in pyproject: {undeclared}"


def test_what_the_generator_says_it_needs_is_the_tools_group() -> None:
    group = {_dist(r) for r in PYPROJECT["dependency-groups"][TOOLS_GROUP]}
    assert set(generate_cli.NEEDS) <= group
    assert TOOLS_GROUP in PYPROJECT["tool"]["uv"]["default-groups"]  # `uv sync` installs them


@pytest.fixture
def without_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if numpy were not installed: ``import numpy`` raises ModuleNotFoundError."""
    monkeypatch.setitem(sys.modules, "numpy", None)
    monkeypatch.delitem(sys.modules, "mirror_tools.generate.world", raising=False)


@pytest.mark.usefixtures("without_numpy")
def test_generate_without_numpy_says_what_to_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["generate", "--out", str(tmp_path / "world")]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.count("\n") == 1
    assert out.err.startswith("mirror generate: numpy is not installed")
    assert f"uv sync --group {TOOLS_GROUP}" in out.err
    assert not (tmp_path / "world").exists()


@pytest.mark.usefixtures("without_numpy")
def test_the_parsers_load_without_the_tools_dependencies() -> None:
    args = cli.build_parser().parse_args(["generate", "--out", "x", "--years", "2023"])
    assert args.years == (2023,)


@pytest.mark.usefixtures("without_numpy")
def test_only_a_declared_need_becomes_the_one_line_message() -> None:
    with pytest.raises(
        MissingToolDependency, match=r"^numpy is not installed \(this tool needs numpy, pandas\)"
    ):
        import_tool("mirror_tools.generate.world", needs=("numpy", "pandas"))
    with pytest.raises(ModuleNotFoundError):  # anything else missing is a bug: it propagates
        import_tool("mirror_tools.generate.world", needs=("pandas",))
