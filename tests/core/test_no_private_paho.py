"""No module of the agent or its drivers reaches into paho's private attributes.

A private paho call (`client._reset_sockets`, `client._sock`, ...) breaks
silently on a paho upgrade. Every module that imports paho is walked: an
attribute starting with one underscore on anything but `self`/`cls`, a
`getattr`-style call with such a name, or a class derived from paho's, fails.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TREES = ("edgeagent", "drivers")


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _imports_paho(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "paho" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "paho":
            return True
    return False


def _offends(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute):
        return _private(node.attr) and not (
            isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
    if isinstance(node, ast.Call):
        return (isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr", "setattr", "delattr")
                and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str) and _private(node.args[1].value))
    if isinstance(node, ast.ClassDef):
        return any("mqtt" in ast.unparse(base) or "paho" in ast.unparse(base)
                   for base in node.bases)
    return False


def private_uses(source: str) -> list[str]:
    """`line: what` for each private access in a module that imports paho."""
    tree = ast.parse(source)
    if not _imports_paho(tree):
        return []
    return [f"{node.lineno}: {ast.unparse(node).splitlines()[0]}"
            for node in ast.walk(tree) if _offends(node)]


def test_no_module_calls_a_private_attribute_of_a_paho_object() -> None:
    offenders = {}
    checked = 0
    for tree in TREES:
        for path in sorted((ROOT / tree).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            checked += "paho" in source
            uses = private_uses(source)
            if uses:
                offenders[str(path.relative_to(ROOT))] = uses
    assert checked >= 3  # the publisher, the link module, mqtt.local at least
    assert offenders == {}


def test_the_walk_finds_what_it_looks_for() -> None:
    """The check itself: the old socket release and a reach into paho's socket are caught."""
    old = ("import paho.mqtt.client as mqtt\n"
           "def release(client: mqtt.Client) -> None:\n"
           "    reset = getattr(client, '_reset_sockets', None)\n"
           "    sock = client._sock\n"
           "class Mine(mqtt.Client):\n"
           "    pass\n")
    assert sorted(use.split(":")[0] for use in private_uses(old)) == ["3", "4", "5"]
    assert private_uses("import paho.mqtt.client as mqtt\nclass A:\n"
                        "    def f(self) -> None:\n        self._x = 1\n") == []
