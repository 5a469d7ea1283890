"""Render formula expressions (see formulas.py) as Python source text."""

from __future__ import annotations

import ast

import numpy as np

from .formulas import FUNCTIONS, powexp


def _spelled(fname, namespace):
    """The callee `fname` of a formula spelled in `namespace` ("np" or "math")."""
    if fname not in FUNCTIONS:
        raise ValueError(f"unknown function {fname!r} in a formula")
    mod_fn = FUNCTIONS[fname][1]
    if FUNCTIONS[fname][0] is None and getattr(mod_fn, "__module__", "") == __package__ \
            + ".special":  # zygopy's own (digamma): _zp.digamma in either namespace
        return ast.Attribute(ast.Name("_zp", ast.Load()), fname, ast.Load())
    if namespace == "math" and mod_fn is not None and mod_fn is not FUNCTIONS[fname][0]:
        if mod_fn in (abs, max, min):
            return ast.Name(mod_fn.__name__, ast.Load())
        attr = fname if fname[:3] != "arc" else "a" + fname[3:]
        return ast.Attribute(ast.Name("math", ast.Load()), attr, ast.Load())
    if getattr(np, fname, None) is not FUNCTIONS[fname][0]:  # zygopy's own: _zp.step
        return ast.Attribute(ast.Name("_zp", ast.Load()), fname, ast.Load())
    return ast.Attribute(ast.Name("np", ast.Load()), fname, ast.Load())


def substitute(tree, names: dict, namespace: str = "np"):
    """A copy of expression `tree` with names replaced by AST nodes and
    functions spelled in `namespace` ("np" or "math"), constants folded
    (`2 * x ** (2 - 1)` reads `2 * x`)."""
    return _fold(_substituted(tree, names, namespace))


_FOLD = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
         ast.Mult: lambda a, b: a * b, ast.Pow: lambda a, b: a ** b}


def _number(node):
    return node.__class__ is ast.Constant and type(node.value) in (int, float)


def _fold(node):
    """Fold arithmetic on numeric constants, `e ** 1`, `e * 1` and `1 * e`
    (bottom-up; anything else is left as written)."""
    if node.__class__ is ast.BinOp:
        node.left, node.right = _fold(node.left), _fold(node.right)
        left, right, op = node.left, node.right, node.op.__class__
        if _number(left) and _number(right) and op in _FOLD \
                and not (op is ast.Pow and abs(right.value) > 64):
            return ast.copy_location(ast.Constant(_FOLD[op](left.value, right.value)), node)
        if op in (ast.Pow, ast.Mult) and _number(right) and right.value == 1:
            return left
        if op is ast.Mult and _number(left) and left.value == 1:
            return right
        return node
    if node.__class__ is ast.UnaryOp:
        node.operand = _fold(node.operand)
        if node.op.__class__ is ast.USub and _number(node.operand):
            return ast.copy_location(ast.Constant(-node.operand.value), node)
        return node
    if node.__class__ is ast.Call:
        node.args = [_fold(a) for a in node.args]
        func = node.func
        if func.__class__ is ast.Attribute and func.attr in _PURE_HELPERS \
                and func.value.__class__ is ast.Name and func.value.id == "_zp" \
                and all(_number(a) for a in node.args):  # `powexp(2)` is 1
            return ast.copy_location(
                ast.Constant(_PURE_HELPERS[func.attr](*(a.value for a in node.args))), node)
    return node


_PURE_HELPERS = {"powexp": powexp}


def _substituted(node, names, namespace):
    """A deep copy of `node` (several times faster than copy.deepcopy), names
    in `names` replaced (the very nodes, placed at the name's location)."""
    cls = node.__class__
    if cls is ast.Name and node.id in names:
        return ast.copy_location(names[node.id], node)
    new = cls.__new__(cls)
    fields = new.__dict__
    for key, value in node.__dict__.items():
        if isinstance(value, ast.AST):
            value = _substituted(value, names, namespace)
        elif value.__class__ is list:
            value = [_substituted(v, names, namespace) if isinstance(v, ast.AST) else v
                     for v in value]
        fields[key] = value
    if cls is ast.Call:
        new.func = _spelled(new.func.id, namespace)
    return new


def render(tree, names: dict, namespace: str = "np") -> str:
    """Expression `tree` as Python text, names replaced by the given strings."""
    nodes = {k: ast.parse(v, mode="eval").body for k, v in names.items()}
    return ast.unparse(substitute(tree, nodes, namespace))
