"""Fence: refuse unsupported syntax before any transformation, at the user's line."""

from __future__ import annotations

import ast

from ..errors import UnsupportedSyntax
from ..runtime.sources import source_line
from .syntax import REFUSED, SUPPORTED
from .walk import walk


def check(tree, filename):
    """Raise UnsupportedSyntax at the first construct zygopy cannot differentiate."""
    for node in walk(tree):
        if node is not tree and isinstance(node, ast.FunctionDef) and node.decorator_list:
            _refuse(node, filename, "a decorated nested function",
                    ["define the decorated function at module level"])
        if isinstance(node, REFUSED_TYPES):
            what, fixes = REFUSED[type(node)]
            _refuse(node, filename, what, fixes)
        if not isinstance(node, SUPPORTED):
            _refuse(node, filename, f"the {type(node).__name__} construct",
                    ["rewrite it with plain assignments, calls, if, for or while",
                     "or give the enclosing function a custom rule with @zygopy.rule"])
        _check_specific(node, filename)


REFUSED_TYPES = tuple(REFUSED)
# builtins that reach variables or run code by name, out of the compiler's sight
_HIDDEN = {"eval", "exec", "locals", "globals"}


def _check_specific(node, filename):
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and (node.func.id in _HIDDEN or node.func.id == "vars" and not node.args):
        name = node.func.id
        _refuse(node, filename, f"{name}() (it reads or runs code through strings and "
                "namespaces, where the gradient cannot follow: its values would get a "
                "zero gradient)", ["write the expression or the variable itself"])
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id == "super":
        _refuse(node, filename, "super() (the gradient would not reach the object "
                "through the parent's method)", [
                    "call the parent's method by its class: Base.__call__(self, x)"])
    if isinstance(node, ast.Assign):
        for target in node.targets:
            _check_target(target, filename)
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        _check_target(node.target, filename)
    elif isinstance(node, ast.For):
        _check_target(node.target, filename)
        if node.orelse:
            _refuse(node, filename, "a for/else clause", ["use a flag variable"])
    elif isinstance(node, ast.While) and node.orelse:
        _refuse(node, filename, "a while/else clause", ["use a flag variable"])
    elif isinstance(node, ast.comprehension) and node.is_async:
        _refuse(node, filename, "an async comprehension", [])


def _check_target(target, filename):
    if isinstance(target, ast.Starred):
        _refuse(target, filename, "a starred assignment target",
                ["index the sequence explicitly: first, rest = xs[0], xs[1:]"])
    if isinstance(target, (ast.Tuple, ast.List)):
        for elt in target.elts:
            _check_target(elt, filename)
    if isinstance(target, ast.Attribute) and target.attr in _ARRAY_LAYOUT:
        what = ast.unparse(target)
        _refuse(target, filename, f"an assignment to `{what}` (it changes the array "
                "in place, which the gradient cannot follow)",
                [f"make a new array: {ast.unparse(target.value)} = "
                 f"{ast.unparse(target.value)}." + _ARRAY_LAYOUT[target.attr]])
    if isinstance(target, ast.Subscript) and not isinstance(target.value, ast.Name):
        what = ast.unparse(target.value)
        _refuse(target, filename, f"an in-place update through `{what}` (it changes the "
                "array or list that expression reads from, which the gradient cannot follow)",
                ["index one variable: a[i, j] = v rather than a[i][j] = v",
                 f"or update a copy and use it: w = {what}.copy(); w[...] = v"])


# array attributes whose assignment changes the array in place, and the call
# that makes a new array instead
_ARRAY_LAYOUT = {"shape": "reshape(...)", "dtype": "view(...) or .astype(...)",
                 "strides": "copy() and np.lib.stride_tricks.as_strided(...)"}


def _refuse(node, filename, what, fixes):
    lineno = getattr(node, "lineno", 0)
    col = getattr(node, "col_offset", 0)
    raise UnsupportedSyntax(what, filename, lineno, col, source_line(filename, lineno),
                            fixes)
