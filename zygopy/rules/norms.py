"""`np.linalg.norm`: vector and matrix norms over any axes, with keepdims.

Vector norms: ord None/2 (Euclidean), 1, inf, -inf, 0 (a count: zero
gradient) and any other p. Matrix norms: None/'fro', 'nuc', 2, -2, 1, -1, inf,
-inf. Degenerate points: the 2-norm of a zero vector gets gradient 0 (a
subgradient); ties in the max/min of inf/1-type norms split the gradient
evenly; 2/-2/'nuc' matrix norms need distinct (resp. nonzero) singular
values to be differentiable.
"""

from __future__ import annotations

import numpy as np

from ._helpers import array_module, expand_to, keepdims, nones, option
from .decompositions import _safe_inverse
from .derive import of_sequences_too
from .registry import rule


def _split_ties(hit, axis, dtype):
    """`hit` (a mask) divided by how many hits each slice has."""
    xp = array_module(hit)
    return xp.where(hit, 1 / xp.sum(hit, axis=axis, keepdims=True, dtype=dtype), 0)


def _vector_grad(x, yk, ord, axis):
    """d norm / dx for a vector norm over `axis` (before multiplying by dy)."""
    xp = array_module(x)
    if ord is None or ord == 2:
        return x * _safe_inverse(yk)
    if ord == 0:
        return xp.zeros_like(x)
    if ord == 1:
        return xp.sign(x)
    if ord in (np.inf, -np.inf):
        return xp.sign(x) * _split_ties(xp.equal(xp.abs(x), yk), axis, x.dtype)
    p = float(ord)
    return xp.sign(x) * xp.abs(x) ** (p - 1) * _safe_inverse(yk ** (p - 1))


def _matrix_grad(x, yk, ord, axes):
    """d norm / dx for a matrix norm over the two `axes` (rows, columns)."""
    xp = array_module(x)
    r, c = axes
    if ord in (None, "fro"):
        return x * _safe_inverse(yk)
    if ord in (1, -1, np.inf, -np.inf):
        summed, picked = (r, c) if ord in (1, -1) else (c, r)
        sums = xp.sum(xp.abs(x), axis=summed, keepdims=True)
        return xp.sign(x) * _split_ties(xp.equal(sums, yk), picked, x.dtype)
    moved = xp.moveaxis(x, (r, c), (-2, -1))
    U, s, Vh = xp.linalg.svd(moved, full_matrices=False)
    if ord == "nuc":
        g = xp.matmul(U, Vh)
    else:
        pick = slice(0, 1) if ord == 2 else slice(-1, None)  # largest, smallest
        g = xp.matmul(U[..., :, pick], Vh[..., pick, :])
    return xp.moveaxis(g, (-2, -1), (r, c))


@rule(np.linalg.norm)
def norm_rule(x, *args, **kw):
    """`np.linalg.norm(x, ord, axis, keepdims)`; see the module for the norms."""
    xp = array_module(x)
    y = xp.linalg.norm(x, *args, **kw)
    ord, axis = option(args, kw, 0, "ord"), option(args, kw, 1, "axis")
    nd, shape = np.ndim(x), np.shape(x)
    if axis is None:
        axis = tuple(range(nd)) if ord is None or nd == 1 else (0, 1)
    axes = tuple(a % nd for a in ((axis,) if np.ndim(axis) == 0 else axis))
    matrix = len(axes) == 2

    def norm_pullback(dy):
        yk = keepdims(y, shape, axes)
        grad = (_matrix_grad if matrix else _vector_grad)(x, yk, ord, axes)
        return (expand_to(dy, shape, axes, x) * grad,) + nones(args)

    return y, norm_pullback


of_sequences_too((np.linalg.norm,), 1)  # np.linalg.norm([x, y])
