"""Derive a general rrule from a formula row, as real (compilable) Python source."""

from __future__ import annotations

import ast
import math

import numpy as np

from ..runtime import sources
from .formulas import HELPERS
from .registry import RULES, key_of
from .render import render

_TEMPLATE = '''\
def {name}_rule({params}):
    out = primal({params})
    def {name}_pullback(g):
        return ({grads},)
    return out, {name}_pullback
'''


def rule_source(row, namespace=None) -> str:
    """The text of the rrule derived from `row` (what `zp.source` would show)."""
    namespace = namespace or row.namespace
    names = {p: p for p in row.params} | {"out": "out"}
    grads = ", ".join(
        f"g * ({render(row.tree(d), names, namespace)})" for d in row.partials
    )
    return _TEMPLATE.format(name=row.name, params=", ".join(row.params), grads=grads)


def register_formula_rule(row):
    """Compile the derived rrule of `row` and register it for `row.fn`.

    A row of the math module gets a second, numpy-spelled rule for dual numbers
    (forward mode, second order): `math.sin` cannot take one."""
    ns = {"np": np, "math": math, "primal": row.fn, "_zp": HELPERS}
    sources.exec_source(rule_source(row), f"{row.name}_rule", ns)
    rrule = ns[f"{row.name}_rule"]
    if row.namespace == "math" and _has_numpy_partials(row):
        from ..forward import Dual, math_call

        dual_ns = {"np": np, "math": math, "primal": math_call(row.fn), "_zp": HELPERS}
        sources.exec_source(rule_source(row, "np"), f"{row.name}_rule", dual_ns)
        scalar_rule, dual_rule = rrule, dual_ns[f"{row.name}_rule"]

        def rrule(*args):
            for a in args:
                if type(a) is Dual:
                    return dual_rule(*args)
            return scalar_rule(*args)

        rrule.__name__ = rrule.__qualname__ = f"{row.name}_rule"
    RULES[key_of(row.fn)] = rrule
    return rrule


def _has_numpy_partials(row):
    from .formulas import FUNCTIONS

    called = {n.func.id for d in row.partials for n in ast.walk(row.tree(d))
              if isinstance(n, ast.Call)}
    return all(FUNCTIONS[name][0] is not None for name in called)
