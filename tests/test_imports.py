"""labrnn's modules import one another without a circle (module-level and function-level imports alike)."""
import ast
from pathlib import Path

import pytest

import labrnn

PACKAGE = Path(labrnn.__file__).parent


def imports(path: Path, modules: set[str]) -> set[str]:
    """The labrnn modules one file imports, anywhere in it (a function-level import is an arrow too);
    `from . import name` of a name that is no module reads the package's __init__."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(a.name if a.name in modules else "__init__" for a in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("labrnn."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("labrnn."))
    return found


def graph() -> dict[str, set[str]]:
    modules = {p.stem: p for p in PACKAGE.glob("*.py")}
    return {name: imports(path, set(modules)) & set(modules) - {name} for name, path in modules.items()}


def circle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle as its path of module names, or None (depth-first search with colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return None


@pytest.mark.fast
def test_the_finder_names_a_circle():
    assert circle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert circle({"a": {"b"}, "b": set()}) is None


@pytest.mark.fast
def test_labrnn_has_no_import_circle():
    found = circle(graph())
    assert found is None, "import circle: " + " → ".join(found)
