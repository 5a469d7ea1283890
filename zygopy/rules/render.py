"""Render formula expressions (see formulas.py) as Python source text."""

from __future__ import annotations

import ast

from .formulas import FUNCTIONS


class _Renamer(ast.NodeTransformer):
    def __init__(self, names, namespace):
        self.names = names
        self.namespace = namespace

    def visit_Name(self, node):
        if node.id in self.names:
            return ast.copy_location(self.names[node.id], node)
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        fname = node.func.id
        if fname not in FUNCTIONS:
            raise ValueError(f"unknown function {fname!r} in a formula")
        if self.namespace == "math" and FUNCTIONS[fname][1] is not None:
            mod_fn = FUNCTIONS[fname][1]
            if mod_fn in (abs, max, min):
                node.func = ast.Name(mod_fn.__name__, ast.Load())
            else:
                node.func = ast.Attribute(ast.Name("math", ast.Load()), fname if fname[:3] != "arc" else "a" + fname[3:], ast.Load())
        else:
            node.func = ast.Attribute(ast.Name("np", ast.Load()), fname, ast.Load())
        return node


def substitute(tree, names: dict, namespace: str = "np"):
    """A copy of expression `tree` with names replaced by AST nodes and
    functions spelled in `namespace` ("np" or "math")."""
    return _Renamer(names, namespace).visit(_copy(tree))


def _copy(node):
    """A deep copy of an AST (what copy.deepcopy gives, several times faster)."""
    new = node.__class__.__new__(node.__class__)
    fields = new.__dict__
    for key, value in node.__dict__.items():
        if isinstance(value, ast.AST):
            value = _copy(value)
        elif value.__class__ is list:
            value = [_copy(v) if isinstance(v, ast.AST) else v for v in value]
        fields[key] = value
    return new


def render(tree, names: dict, namespace: str = "np") -> str:
    """Expression `tree` as Python text, names replaced by the given strings."""
    nodes = {k: ast.parse(v, mode="eval").body for k, v in names.items()}
    return ast.unparse(substitute(tree, nodes, namespace))
