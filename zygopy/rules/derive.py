"""Derive a general rrule from a formula row, as real (compilable) Python source."""

from __future__ import annotations

import ast
import math
import types

import numpy as np

from ..runtime import sources
from ..runtime.tangents import ZERO
from .formulas import HELPERS
from .registry import RULES, changed, key_of
from .render import render

_TEMPLATE = '''\
def {name}_rule({params}):
    out = primal({params})
    def {name}_pullback(g):
        return ({grads},)
    return out, {name}_pullback
'''
# rows of several inputs skip the partials of inputs the caller does not
# differentiate (`x ** 2`: no log(x) for the constant exponent)
_TEMPLATE_NEEDED = '''\
def {name}_rule({params}, _needed=None):
    out = primal({params})
    {flags} = _needed or ({all_true})
    def {name}_pullback(g):
        return ({grads},)
    return out, {name}_pullback
'''


def rule_source(row, namespace=None) -> str:
    """The text of the rrule derived from `row` (what `zp.source` would show)."""
    namespace = namespace or row.namespace
    names = {p: p for p in row.params} | {"out": "out"}
    partials = [f"g * ({render(row.tree(d), names, namespace)})" for d in row.partials]
    params = ", ".join(row.params)
    if len(row.params) == 1:
        return _TEMPLATE.format(name=row.name, params=params, grads=partials[0])
    flags = [f"_need_{p}" for p in row.params]
    grads = ", ".join(f"{d} if {f} else None" for d, f in zip(partials, flags))
    return _TEMPLATE_NEEDED.format(name=row.name, params=params, grads=grads,
                                   flags=", ".join(flags),
                                   all_true=", ".join(["True"] * len(flags)))


def register_formula_rule(row):
    """Compile the derived rrule of `row` and register it for `row.fn`.

    A row of the math module gets a second, numpy-spelled rule for dual numbers
    (forward mode, second order): `math.sin` cannot take one."""
    primal = row.fn
    if type(primal) is types.FunctionType and row.namespace == "np" \
            and not (primal.__module__ or "").startswith("numpy"):
        from ..forward.ufuncs import row_call

        primal = row_call(primal)  # a user's function: duals get the row's tangent
    ns = {"np": np, "math": math, "primal": primal, "_zp": HELPERS}
    sources.exec_source(rule_source(row), f"{row.name}_rule", ns)
    rrule = ns[f"{row.name}_rule"]
    if row.namespace == "math" and _has_numpy_partials(row):
        from ..forward import Dual, math_call

        dual_ns = {"np": np, "math": math, "primal": math_call(row.fn), "_zp": HELPERS}
        sources.exec_source(rule_source(row, "np"), f"{row.name}_rule", dual_ns)
        scalar_rule, dual_rule = rrule, dual_ns[f"{row.name}_rule"]

        def rrule(*args, **needed):
            for a in args:
                if type(a) is Dual:
                    return dual_rule(*args, **needed)
            return scalar_rule(*args, **needed)

        rrule.__name__ = rrule.__qualname__ = f"{row.name}_rule"
    elif row.namespace == "np":
        rrule = taking_sequences(rrule)
    rrule.exact = True  # (forward mode takes the row's tangent: forward/ufuncs.row_call)
    rrule.takes_needed = len(row.params) > 1  # dispatch passes which cotangents are used
    rrule.ufunc_options = isinstance(row.fn, np.ufunc)  # dispatch handles dtype=, ...
    RULES[key_of(row.fn)] = rrule
    changed()
    return rrule


def taking_sequences(array_rule, operands=None):
    """`array_rule`, also for lists and tuples of numbers and arrays among its
    first `operands` positional arguments (all where None), which numpy takes
    as the arrays they make (`np.log([x, y])`, `np.max([a, b])`); each such
    operand's cotangent comes back in its structure."""

    def rrule(*args, **kw):
        for a in args[:operands]:
            if type(a) is list or type(a) is tuple:
                return _of_sequences(array_rule, args, kw, operands)
        return array_rule(*args, **kw)

    rrule.__name__ = rrule.__qualname__ = array_rule.__name__
    rrule.__doc__, rrule.__module__ = array_rule.__doc__, array_rule.__module__
    rrule.__dict__.update(array_rule.__dict__)  # takes_needed and such
    rrule.__wrapped__ = array_rule  # (its signature places keyword arguments: dispatch)
    return rrule


def of_sequences_too(functions, operands=None):
    """Let the registered rules of `functions` take lists and tuples among
    their first `operands` arguments (see `taking_sequences`)."""
    for fn in functions:
        RULES[key_of(fn)] = taking_sequences(RULES[key_of(fn)], operands)


def _of_sequences(array_rule, args, kw, operands):
    from .joins import _from_nested, _unpack

    n = len(args) if operands is None else operands
    seqs = [i < n and (type(a) is list or type(a) is tuple) for i, a in enumerate(args)]
    arrays = [_from_nested(np.asarray, a, (), {}) if s else a for a, s in zip(args, seqs)]
    y, pb = array_rule(*arrays, **kw)

    def of_sequences_pullback(dy):
        grads = pb(dy)
        return tuple(_unpack(g, a) if s and g is not None and g is not ZERO else g
                     for g, a, s in zip(grads, args, seqs)) + tuple(grads[len(args):])

    return y, of_sequences_pullback


def _has_numpy_partials(row):
    from .formulas import FUNCTIONS

    called = {n.func.id for d in row.partials for n in ast.walk(row.tree(d))
              if isinstance(n, ast.Call)}
    return all(FUNCTIONS[name][0] is not None for name in called)
