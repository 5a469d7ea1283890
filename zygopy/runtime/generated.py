"""Everything generated code calls, as one namespace (`_zp.` in generated source)."""

from __future__ import annotations

import math  # noqa: F401  (formulas in generated code)
import operator

import numpy as np

from ..rules.registry import RULES, lookup, rule
from .arrays import unbroadcast  # noqa: F401
from .dispatch import IMPLICIT, Stale, call, call_method  # noqa: F401
from .tangents import ZERO, Tangent, add  # noqa: F401

op_add, op_sub, op_mul, op_truediv = operator.add, operator.sub, operator.mul, operator.truediv
op_pow, op_floordiv, op_mod, op_matmul = operator.pow, operator.floordiv, operator.mod, \
    operator.matmul
op_neg, op_pos = operator.neg, operator.pos


def stale():
    """A guarded callee was rebound since compilation."""
    raise Stale()


def item(d, key):
    """Entry `key` of a structured cotangent (ZERO when absent)."""
    if d is ZERO or d is None:
        return ZERO
    if isinstance(d, dict):
        return d.get(key, ZERO)
    v = d[key]
    return ZERO if v is None else v


def field(d, name):
    """Field `name` of a structural cotangent (ZERO when absent)."""
    if d is ZERO or d is None:
        return ZERO
    v = getattr(d, "_fields", {}).get(name, ZERO)
    return ZERO if v is None else v


def closure_tangent(**fields):
    """The tangent of a closure: one field per captured variable."""
    return Tangent(None, **fields)


def attr_adjoint(d_obj, obj, name, dv):
    """Accumulate the cotangent `dv` of `obj.name` into `d_obj`."""
    if dv is ZERO or dv is None:
        return d_obj
    for cls in type(obj).__mro__:
        rrule = RULES.get((cls, name))
        if rrule is not None:  # an array property such as .T
            _, pb = rrule(obj)
            return add(d_obj, unbroadcast(pb(dv)[0], obj))
    return add(d_obj, Tangent(type(obj), **{name: dv}))


def unpack_adjoint(value, parts):
    """Cotangent of `value` from the cotangents of its unpacked parts."""
    if isinstance(value, list):
        return list(parts)
    if isinstance(value, tuple):
        return tuple(parts)
    if hasattr(value, "shape"):  # a, b = array: rows
        if all(p is ZERO or p is None for p in parts):
            return ZERO
        xp = np
        out = xp.zeros_like(value)
        for i, p in enumerate(parts):
            if p is not ZERO and p is not None:
                out[i] = p
        return out
    return tuple(parts)


def length(x):
    return len(x)


def split(d, sizes):
    """Split the cotangent of `(a, *rest, b)` into parts by element counts."""
    out, i = [], 0
    for size in sizes:
        if size is None:
            out.append(item(d, i))
            i += 1
        else:
            out.append(tuple(item(d, j) for j in range(i, i + size)))
            i += size
    return out


def as_sequence(parts, like):
    return list(parts) if isinstance(like, list) else tuple(parts)


def implicit(x, dx):
    """Hand the adjoint of a global to the implicit-parameter context (Params)."""
    if IMPLICIT and dx is not ZERO and dx is not None:
        IMPLICIT[-1].accumulate(x, dx)


# -- mutation -----------------------------------------------------------------
def save_item(a, index):
    """The value `a[index]` holds before an assignment overwrites it."""
    old = a[index]
    return old.copy() if hasattr(old, "copy") else old


def read_item(d, index):
    if d is ZERO or d is None:
        return ZERO
    return d[index]


def zero_item(d, index):
    """`d` with `d[index]` zeroed (a copy): the overwritten part got no gradient."""
    if d is ZERO or d is None:
        return ZERO
    d = d.copy()
    d[index] = 0
    return d


def restore_item(a, index, old):
    a[index] = old


# -- containers ---------------------------------------------------------------
def getitem(x, index):
    """`x[index]` for arrays, lists, tuples and dicts (one differentiable op)."""
    return x[index]


@rule(getitem)
def getitem_rule(x, index):
    if isinstance(x, (list, tuple)):
        y = x[index]

        def sequence_getitem_pullback(dy):
            dx = [ZERO] * len(x)
            if isinstance(index, slice):
                for i, g in zip(range(*index.indices(len(x))), dy):
                    dx[i] = g
            else:
                dx[index] = dy
            return (tuple(dx) if isinstance(x, tuple) else dx), None

        return y, sequence_getitem_pullback
    if isinstance(x, dict):
        def dict_getitem_pullback(dy):
            return {index: dy}, None

        return x[index], dict_getitem_pullback
    array_rule = lookup(operator.getitem)
    if array_rule is None:
        raise NotImplementedError("array indexing rules are not registered")
    return array_rule(x, index)


def list_append(xs, v):
    """`xs.append(v)`, returning xs: the functional form the compiler emits."""
    xs.append(v)
    return xs


@rule(list_append)
def list_append_rule(xs, v):
    n = len(xs)
    xs.append(v)

    def list_append_pullback(dxs):
        if dxs is ZERO or dxs is None:
            return ZERO, ZERO
        return list(dxs[:n]), dxs[n]

    return xs, list_append_pullback
