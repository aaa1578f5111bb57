"""Submissions with identical code: the same syntax tree once comments, docstrings, layout and names are set aside.

Equal numbers are no evidence (two honest students who follow the lab's equations in the same order get the same
bits), so the comparison is of the code itself, as Python parses it: comments, blank lines, line breaks and
parentheses are gone with the parse; docstrings and other bare string statements are dropped; the names the file
chooses (its variables, parameters, functions and classes, scope by scope) become their order of first
appearance, while the names it does not choose (loss_and_grads, numpy's functions, attributes, builtins,
dictionary keys, import aliases) stay.  Two files group when what is left is equal: a copy whose comments and names were
changed groups with its original; the same equations written with other expressions or another loop do not.

The `labrnn new-model` starter is everyone's: its statements (`import numpy as np`, the `raise
NotImplementedError(...)` of its body) are set aside wherever they are, and the def of `loss_and_grads` with the
starter's parameters counts as the starter's, its body as the student's.  A file with fewer than MIN_OWN
statements of its own (an untouched starter, a one-line `return`) is never grouped: there is too little to be the
same by anything but chance.  A file that does not parse, or nests too deep to compare, is never grouped.  A group is a
fact for the teacher to look at, not a verdict.
"""
from __future__ import annotations

import ast
import hashlib
import warnings

from labrnn.layout import TEMPLATES

STARTER = TEMPLATES / "new_model.py"
MIN_OWN = 5                 # statements of a file's own (the starter's aside) for it to be grouped at all
SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
          ast.GeneratorExp)
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
CONTRACT = {"loss_and_grads"}   # the name labrnn calls: the starter's, never renamed


def groups(sources: dict[str, bytes]) -> list[list[str]]:
    """The names of the submissions whose code is identical, two or more to a group: each group sorted, the
    groups by their first name.  `sources`: each file's bytes under the name the caller knows it by."""
    by_key: dict[str, list[str]] = {}
    for name, source in sources.items():
        key = fingerprint(source)
        if key is not None:
            by_key.setdefault(key, []).append(name)
    return sorted(sorted(names) for names in by_key.values() if len(names) > 1)


def fingerprint(source: bytes) -> str | None:
    """The sha256 of the file's normalized syntax tree, or None when it is not to be grouped (it does not parse,
    or holds fewer than MIN_OWN statements of its own)."""
    starter = _starter()
    try:
        with warnings.catch_warnings():         # a SyntaxWarning would print their text on the terminal
            warnings.simplefilter("ignore")
            parsed = ast.parse(source)
        tree = _normalized(parsed)
        _drop(tree, starter)
        dump = ast.dump(tree) if _own(tree, starter) >= MIN_OWN else None
    except (SyntaxError, ValueError, RecursionError, MemoryError):     # ValueError: a NUL; the others: too deep
        return None
    return dump and hashlib.sha256(dump.encode("utf-8")).hexdigest()


def _normalized(tree: ast.Module) -> ast.Module:
    """The tree without its bare string statements (docstrings), names of its own renamed (`_Names`)."""
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            body = getattr(node, name, None)
            if isinstance(body, list):
                kept = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                                and isinstance(s.value.value, str))]
                setattr(node, name, kept or [ast.Pass()])
    return _Names().visit(tree)


class _Names(ast.NodeTransformer):
    """Every name the file binds becomes "@<depth>.<n>": the n-th of its scope (module, function, lambda,
    comprehension) in order of first appearance; a name used where it is not bound resolves outwards, and one
    bound nowhere (a builtin, np) stays."""

    def __init__(self):
        self.scopes: list[tuple[set[str], dict[str, str]]] = []

    def _canonical(self, name: str) -> str:
        for depth in range(len(self.scopes) - 1, -1, -1):
            bound, names = self.scopes[depth]
            if name in bound:
                return names.setdefault(name, f"@{depth}.{len(names)}")
        return name

    def _scope(self, node, bound: set[str]):
        self.scopes.append((bound, {}))
        try:
            return self.generic_visit(node)
        finally:
            self.scopes.pop()

    def visit_Module(self, node):
        return self._scope(node, _bound(node.body))

    def visit_Name(self, node):
        node.id = self._canonical(node.id)
        return node

    def visit_arg(self, node):
        node.arg = self._canonical(node.arg)
        node.annotation = node.annotation and self.visit(node.annotation)
        return node

    def _function(self, node):
        if isinstance(node, FUNCTIONS):
            node.name = self._canonical(node.name)
        body = node.body if isinstance(node.body, list) else [node.body]
        return self._scope(node, _params(node.args) | _bound(body))

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def _comprehension(self, node):
        return self._scope(node, {n.id for g in node.generators for n in ast.walk(g.target)
                                  if isinstance(n, ast.Name)})

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension


def _params(args: ast.arguments) -> set[str]:
    return {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg] if a}


def _bound(body: list) -> set[str]:
    """The names a scope binds itself: stored, deleted, defined or caught in it (not in scopes inside it), less
    those it declares global or nonlocal."""
    bound, declared, todo = set(), set(), list(body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            declared.update(node.names)
        elif isinstance(node, (*FUNCTIONS, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        if isinstance(node, FUNCTIONS):         # its decorators and defaults are evaluated here, its body not
            todo += [*node.decorator_list, *node.args.defaults, *filter(None, node.args.kw_defaults)]
        elif isinstance(node, SCOPES):
            continue
        else:
            todo += ast.iter_child_nodes(node)
    return bound - declared - CONTRACT


def _starter_parts(tree: ast.Module) -> frozenset[str]:
    """The starter's simple statements and its function headers, as dumps to recognise them by."""
    return frozenset(_key(s) for s in ast.walk(tree) if isinstance(s, ast.stmt))


def _key(stmt: ast.stmt) -> str:
    """A statement as the starter comparison sees it: a simple one whole; a def by its name and parameters."""
    if isinstance(stmt, FUNCTIONS):
        return f"def {stmt.name} {ast.dump(stmt.args)}"
    return ast.dump(stmt) if not hasattr(stmt, "body") else ""


_cache: list[frozenset[str]] = []


def _starter() -> frozenset[str]:
    """What of a submission counts as the starter's (read once)."""
    if not _cache:
        _cache.append(_starter_parts(_normalized(ast.parse(STARTER.read_bytes()))) - {""})
    return _cache[0]


def _drop(tree: ast.Module, starter: frozenset[str]) -> None:
    """The starter's simple statements taken out of every body of the tree."""
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            body = getattr(node, name, None)
            if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                setattr(node, name, [s for s in body if _key(s) not in starter or hasattr(s, "body")]
                        or [ast.Pass()])


def _own(tree: ast.Module, starter: frozenset[str]) -> int:
    """The statements of the file's own: all but the starter's function headers and the Pass left by _drop."""
    return sum(1 for s in ast.walk(tree) if isinstance(s, ast.stmt) and not isinstance(s, ast.Pass)
               and not (isinstance(s, FUNCTIONS) and _key(s) in starter))
