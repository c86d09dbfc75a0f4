"""The package's import layers, read from its source: no module imports another's private
name, no two modules import each other (directly or round a circle), and the parts stand
in the order docs/ARCHITECTURE.md draws (the core at the bottom, then the codec, then the
store). Every import counts, those inside functions and under TYPE_CHECKING too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "tradestore"

# part -> the parts it may import (besides itself and the core); what ARCHITECTURE.md draws
ALLOWED = {
    "codec": set(),
    "store": {"codec"},
    "binance": {"store", "codec"},
    "analytics": {"store", "codec"},
    "archive": {"store", "codec"},
    # The archive's Spark entry point stands above the analytics: it computes their
    # profiles from the archive and builds them with the analytics' own functions. Only
    # its user imports it, by name; the archive's face never does (see _part).
    "archive.spark": {"analytics", "archive", "store", "codec"},
    "api": {"analytics", "archive", "store", "codec"},
    "plot": {"analytics", "store", "codec"},
    "fake": {"binance", "store", "codec"},
    "recorder": {"binance", "store", "codec", "archive", "api"},
    "cli": {"recorder", "api", "analytics", "archive", "plot", "fake", "binance", "store", "codec"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The module of ours that an imported dotted name is (or lies in)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str) -> list[tuple[str, str | None, int]]:
    """(imported module of ours, the name taken from it or None, line) of each import."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(alias.name)
                if target:
                    found.append((target, None, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in MODULES:  # `from package import module`
                    found.append((submodule, None, node.lineno))
                elif (target := _resolve(base)) is not None:
                    found.append((target, alias.name, node.lineno))
    return found


def _part(module: str) -> str:
    """The subpackage a module belongs to, or "core" for the package root's modules."""
    if module == "tradestore.__main__":
        return "cli"  # `python -m tradestore` is the command line
    if module == "tradestore.archive.spark":
        return "archive.spark"  # a part of its own, above the analytics (ALLOWED)
    parts = module.split(".")
    if len(parts) > 2 or (len(parts) == 2 and not parts[1].startswith("_")):
        return parts[1]
    return "core"


GRAPH = {m: _imports(m) for m in MODULES}


def test_no_module_imports_a_private_name_of_another():
    offences = [
        f"{module}:{line} takes {name} from {target}"
        for module, imports in GRAPH.items()
        for target, name, line in imports
        if name is not None and name.startswith("_") and not name.startswith("__")
    ]
    assert offences == []


def test_no_circle_of_imports():
    # Tarjan's strongly connected components over module -> imported module; the package
    # faces (__init__.py) only hand names on, so an import of a face counts as none.
    edges = {
        m: {t for t, _n, _l in imports if t != m and MODULES[t].name != "__init__.py"}
        for m, imports in GRAPH.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    assert circles == []


@pytest.mark.parametrize("part", sorted({*ALLOWED, "core"}))
def test_a_part_imports_only_the_parts_below_it(part):
    allowed = ALLOWED.get(part, set()) | {part, "core"}
    wrong = sorted(
        f"{module} imports {target}"
        for module, imports in GRAPH.items()
        if _part(module) == part and module != "tradestore"  # the face hands names on
        for target, _name, _line in imports
        if _part(target) not in allowed
    )
    assert wrong == []


# A part reaches into another's private modules only here, each for a reason: the codec
# has no face (its modules are the only way in), and the command line imports these
# lazily from heavy faces (the API's face loads the HTTP server and the MCP SDK, the
# recorder's the daemon) so that a command that needs a table or a hint stays quick.
THROUGH_THE_SIDE_DOOR = {
    ("cli", "tradestore.api._documents"),
    ("cli", "tradestore.api._mcp"),
    ("cli", "tradestore.recorder._diagnose"),
}


def test_a_part_takes_another_parts_names_from_its_face():
    wrong = sorted(
        f"{module} imports {target}"
        for module, imports in GRAPH.items()
        for target, _name, _line in imports
        if _part(target) not in (_part(module), "core", "codec")
        and target.rpartition(".")[2].startswith("_")
        and (_part(module), target) not in THROUGH_THE_SIDE_DOOR
    )
    assert wrong == []


def test_the_graph_was_read():
    """The checks above see the package: the store imports the codec, the CLI the recorder."""
    assert any(_part(t) == "codec" for t, _n, _l in GRAPH["tradestore.store._store"])
    assert any(_part(t) == "recorder" for t, _n, _l in GRAPH["tradestore.cli._run"])
    assert _part("tradestore._model") == "core" and _part("tradestore.codec._values") == "codec"
