"""Array indexing: `x[i]` (lowered to `operator.getitem`) and its adjoint, scatter-add.

`getitem_rule` handles ndarrays (and numpy scalars) indexed by slices, ints,
integer arrays, boolean masks, None, Ellipsis and tuples of those. The pullback
scatter-adds the cotangent into zeros of x's shape with `np.add.at`
semantics: repeated indices accumulate. `scatter_add` is itself a registered
primitive whose pullback is indexing, so the pair stays differentiable to any
order.
"""

from __future__ import annotations

import operator

import numpy as np

from ._helpers import array_module
from .registry import rule

_BASIC = (int, np.integer, slice, type(None), type(Ellipsis))


def _is_basic(index):
    """Whether `index` selects without advanced indexing (no repeats possible)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, _BASIC) and not isinstance(p, bool) for p in parts)


def scatter_add(shape, index, g):
    """Zeros of `shape` (g's dtype) with `g` added at `index`, repeated indices
    accumulating (`np.add.at`); the adjoint of `x[index]`."""
    xp = array_module(g)
    out = xp.zeros_like(g, shape=shape)  # g's dtype; a forward-mode Dual stays one
    if _is_basic(index):
        out[index] = g
    elif xp is np:
        np.add.at(out, index, g)
    else:  # CuPy
        import cupyx

        cupyx.scatter_add(out, index, g)
    return out


@rule(scatter_add)
def scatter_add_rule(shape, index, g):
    """`scatter_add(shape, index, g)` is linear in g; its transpose is `dy[index]`."""
    y = scatter_add(shape, index, g)

    def scatter_add_pullback(dy):
        return None, None, dy[index]  # unbroadcast to g's shape centrally

    return y, scatter_add_pullback


@rule(operator.getitem)
def getitem_rule(x, index):
    """`x[index]` for arrays: the cotangent is scattered back (`np.add.at`)."""
    y = x[index]
    shape = np.shape(x)

    def getitem_pullback(dy):
        return scatter_add(shape, index, dy), None

    return y, getitem_pullback
