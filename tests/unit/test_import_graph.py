"""The ``dagster_project`` package imports without cycles, between modules and between
sub-packages; ``mirror_tools`` builds on it and it never loads ``mirror_tools`` on import.

Read from the source with :mod:`ast` (nothing is imported), every ``import`` counts: at module
level, inside functions and under ``TYPE_CHECKING`` alike. A cycle hidden by a function-level
import still means two modules that cannot be understood (or moved) one without the other, and
the import is then lazy for correctness rather than for start-up time.

Sub-packages (``ingest``, ``sources``, ...) and top-level modules (``settings``, ...) form a
layered graph too: ``sources`` may build on ``ingest``'s machinery, but then nothing in
``ingest`` may import a source.

``mirror_tools`` (the synthetic world generator, the ``mirror fetch`` command line) is not the
pipeline: a tool may import ``dagster_project``, and ``dagster_project`` may reach a tool only
from its command line, inside a function, so that Dagster importing the code location never
loads a tool or the tools' own dependencies.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest

PACKAGE = "dagster_project"
PACKAGE_DIR = Path(__file__).resolve().parents[2] / PACKAGE
TOOLS = "mirror_tools"
TOOLS_DIR = PACKAGE_DIR.parent / TOOLS
# the only pipeline module that may import a tool (in a function): the `mirror` command line
TOOLS_ENTRY = f"{PACKAGE}.cli"

Graph = Mapping[str, set[str]]


def module_name(path: Path, root: Path = PACKAGE_DIR) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules_of(root: Path = PACKAGE_DIR) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted(root.rglob("*.py"))}


_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _import_nodes(tree: ast.AST, *, in_functions: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """The file's imports; without ``in_functions`` only those that run when it is imported
    (module level, class bodies, ``if`` blocks), not those inside a function."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif in_functions or not isinstance(node, _FUNCTIONS):
            yield from _import_nodes(node, in_functions=in_functions)


def imported_names(path: Path, module: str, *, in_functions: bool = True) -> set[str]:
    """Every dotted name an ``import`` in the file may load: ``from a import b`` gives
    ``a.b`` (a module when there is one) and ``a``."""
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in _import_nodes(tree, in_functions=in_functions):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph(modules: Mapping[str, Path], *, in_functions: bool = True) -> dict[str, set[str]]:
    """module -> the package's modules it imports (``in_functions=False``: only on import).
    Importing ``a.b.c`` also runs the ``__init__`` of ``a`` and ``a.b``: those are edges too,
    except packages the importer is itself inside (already being imported when it runs)."""
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        own_packages = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
        if path.name == "__init__.py":
            own_packages.add(module)
        targets: set[str] = set()
        for name in imported_names(path, module, in_functions=in_functions):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                if prefix in modules and prefix not in own_packages:
                    targets.add(prefix)
        graph[module] = targets - {module}
    return graph


def component_of(module: str) -> str:
    """``dagster_project.ingest.spec`` -> ``dagster_project.ingest``; top-level modules and
    the package itself are their own component."""
    return ".".join(module.split(".")[:2])


def component_graph(graph: Graph) -> dict[str, set[str]]:
    collapsed: dict[str, set[str]] = {}
    for module, targets in graph.items():
        source = component_of(module)
        collapsed.setdefault(source, set()).update(
            component_of(t) for t in targets if component_of(t) != source
        )
    return collapsed


def cycles(graph: Graph) -> list[list[str]]:
    """One cycle (``a -> b -> ... -> a``) per strongly connected component with more than
    one node, found with Tarjan's algorithm; sorted for a stable message."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(_one_cycle(graph, c) for c in components if len(c) > 1)


def _one_cycle(graph: Graph, component: set[str]) -> list[str]:
    """A shortest cycle through the component's first node (breadth-first inside it)."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for succ in sorted(graph[node] & component):
                if succ == start:
                    return [*paths[node], start]
                if succ not in paths:
                    paths[succ] = [*paths[node], succ]
                    following.append(succ)
        frontier = following
    raise AssertionError(f"not a cycle: {sorted(component)}")  # pragma: no cover


def describe(found: Iterable[list[str]]) -> str:
    return "\n".join(" -> ".join(n.removeprefix(f"{PACKAGE}.") for n in cycle) for cycle in found)


def test_no_module_imports_itself_through_others() -> None:
    found = cycles(import_graph(modules_of()))
    assert not found, "import cycles between modules:\n" + describe(found)


def test_no_subpackage_imports_itself_through_others() -> None:
    found = cycles(component_graph(import_graph(modules_of())))
    assert not found, "import cycles between sub-packages:\n" + describe(found)


def pipeline_and_tools() -> dict[str, Path]:
    return {**modules_of(PACKAGE_DIR), **modules_of(TOOLS_DIR)}


def importers_of_tools(graph: Graph) -> dict[str, set[str]]:
    """Pipeline module -> the tool modules it imports."""
    return {
        module: {t for t in targets if t.split(".")[0] == TOOLS}
        for module, targets in graph.items()
        if module.split(".")[0] == PACKAGE and any(t.split(".")[0] == TOOLS for t in targets)
    }


def test_the_pipeline_loads_no_tool_when_imported() -> None:
    at_import = importers_of_tools(import_graph(pipeline_and_tools(), in_functions=False))
    assert not at_import, f"dagster_project imports mirror_tools at module level: {at_import}"


def test_only_the_command_line_reaches_the_tools() -> None:
    """Schedules, sensors and assets never call a tool, even lazily: what the code location
    runs is in dagster_project, with its dependencies declared as the project's own."""
    importers = importers_of_tools(import_graph(pipeline_and_tools()))
    assert set(importers) <= {TOOLS_ENTRY}, f"pipeline modules importing mirror_tools: {importers}"
    assert importers.get(TOOLS_ENTRY), (
        f"{TOOLS_ENTRY} no longer loads the tools: update TOOLS_ENTRY"
    )


def test_the_tools_make_no_cycle_with_the_pipeline() -> None:
    graph = import_graph(pipeline_and_tools())
    found = cycles(graph) + cycles(component_graph(graph))
    assert not found, "import cycles through mirror_tools:\n" + describe(found)


# The walker itself, on a throw-away package -------------------------------------------------


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    root = tmp_path / "toy"
    files = {
        "__init__.py": "",
        "a/__init__.py": "from toy.a import inner\n",
        "a/inner.py": "def f():\n    from toy.b import leaf\n",  # function-level
        "a/other.py": "from . import inner\nfrom ..b import leaf\n",  # relative
        "b/__init__.py": "",
        "b/leaf.py": "from toy import a\n",
        "c.py": "import toy.b.leaf\nimport os\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_walker_resolves_every_kind_of_import(toy: Path) -> None:
    graph = import_graph(modules_of(toy))
    assert graph == {
        "toy": set(),
        "toy.a": {"toy.a.inner"},
        "toy.a.inner": {"toy.b", "toy.b.leaf"},
        "toy.a.other": {"toy.a.inner", "toy.b", "toy.b.leaf"},
        "toy.b": set(),
        "toy.b.leaf": {"toy.a"},
        "toy.c": {"toy.b", "toy.b.leaf"},
    }


def test_the_walker_can_leave_out_imports_inside_functions(toy: Path) -> None:
    graph = import_graph(modules_of(toy), in_functions=False)
    assert graph["toy.a.inner"] == set()
    assert graph["toy.a.other"] == {"toy.a.inner", "toy.b", "toy.b.leaf"}


def test_the_walker_names_the_cycle(toy: Path) -> None:
    graph = import_graph(modules_of(toy))
    assert cycles(graph) == [["toy.a", "toy.a.inner", "toy.b.leaf", "toy.a"]]
    assert cycles(component_graph(graph)) == [["toy.a", "toy.b", "toy.a"]]
    (toy / "a" / "inner.py").write_text("")
    assert cycles(import_graph(modules_of(toy))) == []
