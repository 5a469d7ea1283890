"""The abstract values of specialisation: what the pass knows of each value
the code handles (a structure the guard checks, a constant, or a value the
flat code computes), and what it can decide from them now."""

from __future__ import annotations

import ast
import dataclasses
import types

import numpy as np


class Unspecialisable(Exception):
    """The call cannot be specialised (the reason is the message); the general
    path runs it."""


class Static:
    """An object, tuple, list, dict or closure whose type and structure the guard
    checks; `var` is its name in the guard function, `field`: whether its arrays
    are differentiated (part of an argument) or constants (of the environment)."""

    __slots__ = ("field", "obj", "path", "reads", "var")

    def __init__(self, obj, var, field, path):
        self.obj, self.var, self.field, self.path = obj, var, field, path
        self.reads = {}  # (attribute?, field name or index) -> (abstract value, its var)


class Const:
    """A value fixed by the guard (a function, None, a string, a flag)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class Dyn:
    """A value the flat code computes: an expression of it; `kind`: the type of
    a parameter of the flat function (an argument's array, say), else None."""

    __slots__ = ("kind", "node")

    def __init__(self, node, kind=None):
        self.node, self.kind = node, kind


class Method:
    """A function bound to a Static object (`self.forward`)."""

    __slots__ = ("fn", "self_")

    def __init__(self, self_, fn):
        self.self_, self.fn = self_, fn


class StaticTuple:
    """A tuple written in the code whose items are not all values of the flat
    code (`(self.a, x)`); it stays a tuple of abstract values."""

    __slots__ = ("items",)

    def __init__(self, items):
        self.items = list(items)


LITERALS = (int, float, complex, str, bytes, bool, type(None))


CONSTANT_TYPES = (types.BuiltinFunctionType, types.ModuleType, type, np.ufunc, np.dtype,
                   types.FunctionType, types.BuiltinMethodType)


@dataclasses.dataclass
class Leaf:
    """An array (or number) of the arguments: a parameter of the flat function."""

    name: str  # its parameter name
    var: str  # its name in the guard function
    differentiable: bool  # part of an argument (its gradient is returned)
    kind: type  # its type, checked by the guard


def truth(value):
    """True or False where the truth of `value` is known now, else None."""
    if isinstance(value, Const):
        try:
            return bool(value.value)
        except Exception:  # noqa: BLE001 (an array's ambiguous truth: not known)
            return None
    if isinstance(value, Static):
        if type(value.obj) in (tuple, list, dict):
            return bool(value.obj)
        return None if hasattr(type(value.obj), "__bool__") or \
            hasattr(type(value.obj), "__len__") else True
    if isinstance(value, Method):
        return True
    return None


def identical(left, right):
    """`left is right` where known now: None against an array or a structure."""
    for a, b in ((left, right), (right, left)):
        if isinstance(b, Const) and b.value is None:
            if isinstance(a, Const):
                return a.value is None
            if isinstance(a, (Static, Method)):
                return False
            if isinstance(a, Dyn) and is_leaf(a):
                return False
    if isinstance(left, Const) and isinstance(right, Const):
        return left.value is right.value
    return None


def is_leaf(dyn):
    """Whether `dyn` is a parameter of the flat function (never None)."""
    return dyn.kind is not None


def evaluate(node, values):
    """The value of the comparison, unary or binary operation `node` on
    constant `values`, as Python computes it."""
    names = [f"_x{i}" for i in range(len(values))]
    if isinstance(node, ast.Compare):
        expr = ast.Compare(ast.Name(names[0], ast.Load()), node.ops,
                           [ast.Name(n, ast.Load()) for n in names[1:]])
    elif isinstance(node, ast.UnaryOp):
        expr = ast.UnaryOp(node.op, ast.Name(names[0], ast.Load()))
    else:
        expr = ast.BinOp(ast.Name(names[0], ast.Load()), node.op, ast.Name(names[1], ast.Load()))
    code = compile(ast.fix_missing_locations(ast.Expression(expr)), "<specialise>", "eval")
    return eval(code, {"__builtins__": {}}, dict(zip(names, values)))


def is_static(value):
    """Whether `value` is a structure (the flat code cannot hold it as a value)."""
    return isinstance(value, (Static, Method, StaticTuple))


def object_of(value):
    """The Python object a constant, structure or bound method stands for."""
    if isinstance(value, Const):
        return value.value
    if isinstance(value, Static):
        return value.obj
    return value.fn.__get__(value.self_.obj)
