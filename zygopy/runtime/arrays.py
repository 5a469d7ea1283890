"""Array helpers that generated code and rules share: array_module, unbroadcast."""

from __future__ import annotations

import numpy as np

from .tangents import ZERO


def array_module(*xs):
    """numpy, or cupy when any argument is a CuPy array (one rule serves both)."""
    for x in xs:
        mod = type(x).__module__
        if mod.startswith("cupy"):
            import cupy

            return cupy
    return np


def shape_of(x):
    """The shape of an array or scalar (a Python number has shape ())."""
    return getattr(x, "shape", ())


def unbroadcast(g, x):
    """Sum cotangent `g` down to the shape of primal `x` (undo broadcasting).

    Also casts to the primal's floating dtype, so float32 stays float32, and
    returns a Python float for a Python-number primal.
    """
    if g is ZERO or g is None:
        return g
    xshape = getattr(x, "shape", None)
    gshape = getattr(g, "shape", ())
    if xshape is None and not isinstance(x, (int, float, complex)):
        return g  # containers and objects: structural cotangents pass through
    if xshape is None:  # Python number primal
        if gshape:
            g = g.sum()
        if isinstance(g, (np.ndarray, np.generic, int)) and not np.iscomplexobj(g):
            return float(g)
        return g  # a float, a complex, or a forward-mode Dual
    if gshape != xshape:
        g = sum_to_shape(g, xshape)
    dtype = getattr(x, "dtype", None)
    if dtype is not None and getattr(g, "dtype", dtype) != dtype and dtype.kind in "fc":
        g = g.astype(dtype)
    return g


def sum_to_shape(g, shape):
    """Sum `g` over the leading and size-1 axes that broadcasting added."""
    gshape = getattr(g, "shape", ())
    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and gshape[i + lead] != 1
    )
    if axes:
        g = g.sum(axis=axes, keepdims=False)
        if len(shape) != g.ndim or g.shape != tuple(shape):
            g = g.reshape(shape)
    elif g.shape != tuple(shape):
        g = g.reshape(shape)
    return g
