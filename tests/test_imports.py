"""labrnn's modules import one another without a circle (module-level and function-level imports alike)."""
import ast
import re
from pathlib import Path

import pytest

import labrnn

PACKAGE = Path(labrnn.__file__).parent


def module_name(path: Path) -> str:
    """A module's name below labrnn: "cli", "rnn.model", "rnn" for a subpackage's __init__."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts) or "__init__"


def imports(path: Path, modules: set[str]) -> set[str]:
    """The labrnn modules one file imports, anywhere in it (a function-level import is an arrow too):
    `from labrnn.x import name` reads module x, or x.name when that is a module."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path.name}: a relative import; labrnn imports by full name")
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("labrnn"):
            base = node.module.removeprefix("labrnn").removeprefix(".")
            for a in node.names:
                name = f"{base}.{a.name}".removeprefix(".")
                found.add(name if name in modules else base or "__init__")
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("labrnn.") for a in node.names if a.name.startswith("labrnn."))
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py") if "templates" not in p.parts}
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


# The layers, lowest first: a module imports only from its own layer or those below.
LAYERS = (("version", "iorw", "progress", "scratch", "layout", "settings"), ("rnn",), ("student",), ("report",),
          ("sweeps",), ("cli", "__init__"))


def layer(module: str) -> int:
    top = module.split(".")[0]
    return next(i for i, names in enumerate(LAYERS) if top in names)


@pytest.mark.fast
def test_each_module_imports_only_downwards():
    upward = sorted(f"{a} → {b}" for a, targets in graph().items() for b in targets if layer(b) > layer(a))
    assert not upward, "imports upward: " + ", ".join(upward)


@pytest.mark.fast
def test_the_module_tables_name_every_module_and_only_modules():
    """docs/package.md's tables, one per layer, hold each module of that layer's folder once, and nothing else."""
    text = (PACKAGE.parent / "docs" / "package.md").read_text(encoding="utf-8")
    documented = {}
    for folder, table in re.findall(r"\*\*[^*]+\*\* \(`labrnn/(\w*)/?`\)\n\n(.*?)(?:\n\n|\Z)", text, re.S):
        for cell in re.findall(r"^\| ([^|]+) \|", table, re.M)[2:]:
            for name in re.findall(r"`(\w+)`", cell):
                documented[f"{folder}.{name}".lstrip(".")] = documented.get(f"{folder}.{name}".lstrip("."), 0) + 1
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")
               if "templates" not in p.parts and p.name != "__init__.py"}
    assert set(documented) == modules and set(documented.values()) == {1}
