"""Operators on objects of user classes: `a * k`, `-v`, `abs(v)`, `float(v)`,
`v[i]` and `sum(vs)` run the class's own special methods (`__mul__`, `__rmul__`,
`__neg__`, ...), compiled and differentiated like any method, instead of the
rules for numbers and arrays (which would give the wrong gradient). Python's
order is kept: the reflected method first when the right operand's class is
a subclass overriding it, then the left one's, then the right one's when the
left returns NotImplemented.

Iterating an object whose class defines `__iter__` (unpacking it, `list(v)`)
is refused: its items' gradients have no way back to the object's fields.
"""

from __future__ import annotations

import builtins
import operator
import types

import numpy as np

from ..errors import NoRuleError

_BINARY = {
    operator.add: ("__add__", "__radd__"), operator.sub: ("__sub__", "__rsub__"),
    operator.mul: ("__mul__", "__rmul__"), operator.truediv: ("__truediv__", "__rtruediv__"),
    operator.floordiv: ("__floordiv__", "__rfloordiv__"), operator.mod: ("__mod__", "__rmod__"),
    operator.pow: ("__pow__", "__rpow__"), builtins.pow: ("__pow__", "__rpow__"),
    operator.matmul: ("__matmul__", "__rmatmul__"),
}
_UNARY = {operator.neg: "__neg__", operator.pos: "__pos__", builtins.abs: "__abs__",
          operator.abs: "__abs__", builtins.float: "__float__"}
_ITERATING = frozenset({list, tuple, sorted, min, max, enumerate, zip, reversed, iter, map,
                        filter, set})
WATCHED = frozenset(_BINARY) | frozenset(_UNARY) | {builtins.sum} | _ITERATING
_OURS = ("builtins", "numpy", "cupy", "zygopy")


def user_method(obj, name):
    """The plain function `name` of obj's class when it is a user class's own
    Python code (not a builtin's, numpy's or zygopy's), else None."""
    t = type(obj)
    if (t.__module__ or "").partition(".")[0] in _OURS:
        return None
    from .dispatch import _plain, class_attribute

    method = _plain(class_attribute(t, name))
    return method if isinstance(method, types.FunctionType) else None


AUGMENTED: dict = {}  # generated code's op_iadd, ... -> (the operator, "__iadd__", ...)


def call(f, args, kwargs):
    """`(y, pullback)` of operator `f` on `args` through a user class's special
    method, or None when no argument is such an object (the rules apply)."""
    if f in AUGMENTED:  # `x op= y`: x's __iop__ first, as Python
        op, name = AUGMENTED[f]
        method = user_method(args[0], name) if len(args) == 2 else None
        if method is not None:
            y, pb = run(method, args)
            if y is not NotImplemented:
                return y, pb
        f = op
    if f in _ITERATING:
        refuse_iterating(f, args)
        return None
    if f is builtins.sum:
        return _sum(args, kwargs)
    if kwargs:
        return None
    if f in _UNARY and len(args) == 1:
        method = user_method(args[0], _UNARY[f])
        return None if method is None else run(method, args)
    if f in _BINARY and len(args) == 2:
        return _binary(f, *args)
    return None


def _binary(f, a, b):
    name, reflected = _BINARY[f]
    forward, backward = user_method(a, name), None
    if type(b) is not type(a):
        backward = user_method(b, reflected)
    if forward is None and backward is None:
        return None
    if isinstance(a, np.ndarray) and getattr(type(b), "__array_ufunc__", 0) is not None:
        raise NoRuleError(f, f" (an array and an object of class {type(b).__name__}: numpy "
                             "applies the operator to each element, making an array of "
                             "objects; set __array_ufunc__ = None on the class to have "
                             f"numpy call its {reflected} with the whole array)")
    tries = [(forward, (a, b), False), (backward, (b, a), True)]
    if backward is not None and issubclass(type(b), type(a)) \
            and user_method(b, reflected) is not user_method(a, reflected):
        tries.reverse()  # a subclass overriding the reflected method goes first
    for method, args, swapped in tries:
        if method is None:
            continue
        y, pb = run(method, args)
        if y is not NotImplemented:
            return y, (_Swapped(pb) if swapped else pb)
    raise TypeError(f"unsupported operand type(s) for {name}: {type(a).__name__!r} and "
                    f"{type(b).__name__!r}")


def run(method, args):
    """`(y, pullback)` of a special method, compiled, on `args` (self first)."""
    from .dispatch import call_function

    return call_function(method, args, {}, need_free=True)


class _Swapped:
    """The pullback of `b.__rop__(a)` standing for `op(a, b)`: cotangents in
    the operator's order."""

    __slots__ = ("pb",)

    def __init__(self, pb):
        self.pb = pb

    def __call__(self, dy):
        d_fn, db, da = self.pb(dy)
        return d_fn, da, db


def _sum(args, kwargs):
    """`sum(items, start)` of user objects: their additions, one by one."""
    if not args or len(args) + len(kwargs) > 2 or not isinstance(args[0], (list, tuple)):
        return None
    items = args[0]
    start = args[1] if len(args) > 1 else kwargs.get("start", 0)
    if not any(user_method(x, "__add__") or user_method(x, "__radd__")
               for x in (start, *items)):
        return None
    from .dispatch import _dispatch

    total, pbs = start, []
    for item in items:
        total, pb = _dispatch(operator.add, (total, item), {}, None)
        pbs.append(pb)
    return total, _SumPullback(pbs, type(items), len(args) > 1, bool(kwargs))


class _SumPullback:
    __slots__ = ("keyword", "kind", "pbs", "positional")

    def __init__(self, pbs, kind, positional, keyword):
        self.pbs, self.kind, self.positional, self.keyword = pbs, kind, positional, keyword

    def __call__(self, dy):
        from .tangents import ZERO

        d_items = [ZERO] * len(self.pbs)
        for i in range(len(self.pbs) - 1, -1, -1):
            grads = self.pbs[i](dy)
            dy, d_items[i] = grads[1], grads[2]
        out = (None, self.kind(d_items))
        return out + ((dy,) if self.positional or self.keyword else ())


def refuse_iterating(f, args):
    """Refuse `list(v)`, `sorted(v)`, ... of an object iterated by its class's
    `__iter__` (the rule of the builtin would give its fields no gradient)."""
    for a in args:
        if user_method(a, "__iter__") is not None:
            raise NoRuleError(f, f" (iterating an object of class {type(a).__name__} by its __iter__ "
                                 "inside differentiated code: the items' gradients have no "
                                 "way back to its fields; iterate a list the object returns "
                                 "from a method, e.g. v.items())")


def refuse_unpacking(value):
    """The same for `a, b = v`."""
    if user_method(value, "__iter__") is not None:
        raise NoRuleError(f"unpacking an object of class {type(value).__name__}",
                          " (by its __iter__, inside differentiated code: the items' "
                          "gradients have no way back to its fields; unpack a tuple or "
                          "list the object returns from a method instead)")


def refuse_numpy_of_objects(f, args):
    """A numpy function (np.sum, np.float64, a ufunc) called on an object of
    a user class: numpy treats it as an opaque element of an object array,
    and zygopy's rules, written for numbers and arrays, would lose its
    gradient."""
    for a in args:
        t = type(a)
        if (t.__module__ or "").partition(".")[0] not in _OURS \
                and (hasattr(a, "__dict__") or hasattr(t, "__slots__")) \
                and not hasattr(a, "shape") and not callable(a):
            raise NoRuleError(f, f" (of an object of class {t.__name__}: numpy would make "
                                 "an array of objects of it, whose gradient zygopy's rules "
                                 "for numbers and arrays cannot follow; pass the object's "
                                 "arrays or numbers)")

