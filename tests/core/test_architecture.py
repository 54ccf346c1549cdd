"""The core's shape, checked: no import cycles, no module reaching into another's privates.

Both walk the source with `ast`, so an import inside a function (the usual way
to dodge a cycle) or under `if TYPE_CHECKING:` counts like any other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "edgeagent"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in (ROOT / PACKAGE).rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module of `modules` that importing `name` loads (the longest known prefix)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imported(module: str, path: Path, modules: dict[str, Path]) -> Iterator[str]:
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[:len(package) - node.level + 1],
                                 *([node.module] if node.module else [])])
            # `from pkg import sub` imports the submodule when there is one.
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                     for a in node.names]
        else:
            continue
        for name in names:
            target = _resolve(name, modules)
            if target is not None and target != module:
                yield target


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: set(_imported(m, p, modules)) for m, p in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_of_edgeagent_has_no_cycle() -> None:
    graph = import_graph()
    assert "edgeagent.supervisor" in graph and "edgeagent.pipeline" in graph["edgeagent.supervisor"]
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above would catch one: supervisor -> reload -> supervisor."""
    graph = import_graph()
    graph["edgeagent.reload"].add("edgeagent.supervisor")
    assert any({"edgeagent.reload", "edgeagent.supervisor"} <= set(c) for c in cycles(graph))


def test_the_resolver_sees_imports_inside_functions_and_type_checking_blocks(
        tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text("from typing import TYPE_CHECKING\n"
                      "if TYPE_CHECKING:\n    from edgeagent.config import AgentConfig\n"
                      "def f():\n    from edgeagent import supervisor\n")
    found = set(_imported("edgeagent.probe", source, _modules()))
    assert found == {"edgeagent.config", "edgeagent.supervisor"}


# The standard library's argparse has no public name for its subparsers' type (the
# annotation of `add_subparsers()`'s result) nor for a parser's help sections, and no
# hook for a catalog of its own sentences but the `_` (gettext) it looks them up with.
ALLOWED_PRIVATE = {"argparse._SubParsersAction", "argparse._MutuallyExclusiveGroup",
                   "parser._positionals", "parser._optionals", "parser._actions",
                   "parser._option_string_actions", "argparse._"}


def private_reaches(root: Path) -> list[str]:
    """`x._name` where x is not self or cls: another object's private state."""
    out = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Attribute) or not node.attr.startswith("_") \
                    or node.attr.startswith("__"):
                continue
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                continue
            text = ast.unparse(node)
            if text not in ALLOWED_PRIVATE:
                out.append(f"{path.relative_to(root)}:{node.lineno}: {text}")
    return out


def test_no_module_of_the_core_or_the_drivers_touches_another_objects_privates() -> None:
    assert private_reaches(ROOT / "edgeagent") == []
    assert private_reaches(ROOT / "drivers") == []


def test_the_private_reach_check_would_see_one(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("def f(agent):\n    agent._queue([])\n")
    reaches = private_reaches(tmp_path)
    assert len(reaches) == 1 and reaches[0].endswith("agent._queue")
