"""Derive a general rrule from a formula row, as real (compilable) Python source."""

from __future__ import annotations

import math

import numpy as np

from ..runtime import sources
from .registry import RULES, key_of
from .render import render

_TEMPLATE = '''\
def {name}_rule({params}):
    out = primal({params})
    def {name}_pullback(g):
        return ({grads},)
    return out, {name}_pullback
'''


def rule_source(row) -> str:
    """The text of the rrule derived from `row` (what `zp.source` would show)."""
    names = {p: p for p in row.params} | {"out": "out"}
    grads = ", ".join(
        f"g * ({render(row.tree(d), names, row.namespace)})" for d in row.partials
    )
    return _TEMPLATE.format(name=row.name, params=", ".join(row.params), grads=grads)


def register_formula_rule(row):
    """Compile the derived rrule of `row` and register it for `row.fn`."""
    ns = {"np": np, "math": math, "primal": row.fn}
    sources.exec_source(rule_source(row), f"{row.name}_rule", ns)
    RULES[key_of(row.fn)] = ns[f"{row.name}_rule"]
    return ns[f"{row.name}_rule"]
