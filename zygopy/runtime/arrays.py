"""Array helpers that generated code and rules share: array_module, unbroadcast."""

from __future__ import annotations

import types

import numpy as np

from .structure import closure_fields
from .tangents import ZERO, Refused, is_complex, refuse_complex


def array_module(*xs):
    """numpy, or cupy when any argument is a CuPy array (one rule serves both).

    numpy when any argument is a forward-mode Dual (higher order): numpy's
    functions hand it to the Dual's own dispatch, which runs its primal and
    tangent, CuPy arrays or not, through the module they belong to."""
    xp = np
    for x in xs:
        mod = type(x).__module__
        if mod.startswith("cupy"):
            import cupy

            xp = cupy
        elif mod == _DUAL_MODULE:
            return np
    return xp


_DUAL_MODULE = "zygopy.forward.dual"


def is_dual(x):
    """A forward-mode Dual (checked by module: no import of zygopy.forward here)."""
    return type(x).__module__ == _DUAL_MODULE


def holds_dual(x, depth=3):
    """Whether `x` is a dual, or a function closing over one, or a list, tuple
    or dict holding one (a few levels down): forward mode reaches it."""
    if is_dual(x):
        return True
    if not depth:
        return False
    if type(x) is types.FunctionType:
        fields = closure_fields(x) or {}
        return any(holds_dual(v, depth - 1) for v in fields.values())
    if type(x) in (list, tuple, dict):
        return any(holds_dual(v, depth - 1) for v in (x.values() if type(x) is dict else x))
    return False


def is_device_array(x):
    """A CuPy (or other CUDA) array: its type has the CUDA array interface."""
    return hasattr(type(x), "__cuda_array_interface__")


def on_device_of(g, x):
    """Cotangent `g` in the array module of primal `x`: a number or numpy
    cotangent of a CuPy array (a seed, a user's cotangent, a rule's scalar)
    moves to the device, in x's dtype; anything else is `g` itself."""
    if type(x) is np.ndarray or not isinstance(g, _HOST_VALUES) or array_module(x) is np:
        return g
    return array_module(x).asarray(g, dtype=getattr(x, "dtype", None))


_HOST_VALUES = (np.ndarray, np.generic, float, int)


def shape_of(x):
    """The shape of an array or scalar (a Python number has shape ())."""
    return getattr(x, "shape", ())


def unbroadcast(g, x):
    """Sum cotangent `g` down to the shape of primal `x` (undo broadcasting).

    Also casts to the primal's floating dtype, so float32 stays float32, and
    returns a Python float for a Python-number primal.
    """
    if type(g) is np.ndarray and type(x) is np.ndarray:
        if g.shape == x.shape and (g.dtype is x.dtype and g.dtype.kind == "f"
                                   or x.dtype.kind not in "fc" and g.dtype.kind != "c"):
            return g  # the common case: nothing to sum, nothing to cast
        if g.dtype is x.dtype and g.dtype.kind == "f":
            return sum_to_shape(g, x.shape)  # a broadcast operand: a sum keeps the dtype
    if g is ZERO or g is None:
        return g
    if type(g) is Refused:
        g.fail()
    if is_complex(g):
        refuse_complex()
    xshape = getattr(x, "shape", None)
    gshape = getattr(g, "shape", ())
    if xshape is None and not isinstance(x, (int, float, complex)):
        return g  # containers and objects: structural cotangents pass through
    if xshape is not None and isinstance(g, (list, tuple)) and not hasattr(g, "_fields"):
        return rows_cotangent(g, x)  # one cotangent per item its iteration gave (zip, sorted...)
    if xshape is None:  # Python number primal
        if gshape:
            g = g.sum()
        if isinstance(g, (np.ndarray, np.generic, int)) and not np.iscomplexobj(g):
            return float(g)
        return g  # a float, a complex, or a forward-mode Dual
    if gshape != xshape:
        if len(gshape) < len(xshape):
            raise ValueError(
                f"a cotangent of shape {tuple(gshape)} for a value of shape {xshape}: a "
                "rule's pullback returns one cotangent shaped like each argument (a "
                "number for an array: np.broadcast_to(dy, x.shape) or dy * np.ones_like(x))")
        g = sum_to_shape(g, xshape)
    if type(x) is not np.ndarray and type(g) is not type(x):
        g = on_device_of(g, x)  # a device primal's gradient, on the device
    dtype = getattr(x, "dtype", None)
    if dtype is not None and dtype.kind in "fc":
        if type(g) is float:  # a 0-d array's number cotangent: in its dtype
            return dtype.type(g)
        if getattr(g, "dtype", dtype) != dtype:
            g = g.astype(dtype)
    return g


def sum_to_shape(g, shape):
    """Sum `g` over the leading and size-1 axes that broadcasting added."""
    gshape = getattr(g, "shape", ())
    lead = len(gshape) - len(shape)
    if lead == 1 and gshape[1:] == shape and type(g) is np.ndarray:
        return _add_reduce(g, 0)  # a bias's cotangent: the method's wrapper skipped
    axes = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and gshape[i + lead] != 1
    )
    if axes:
        if not lead:  # only size-1 axes: kept, no reshape
            if type(g) is np.ndarray:
                return _add_reduce(g, axes, keepdims=True)
            return g.sum(axis=axes, keepdims=True)
        g = g.sum(axis=axes, keepdims=False)
        if len(shape) != g.ndim or g.shape != tuple(shape):
            g = g.reshape(shape)
    elif g.shape != tuple(shape):
        g = g.reshape(shape)
    return g


_add_reduce = np.add.reduce


def rows_cotangent(items, x):
    """The cotangent of array `x` from those of the rows iterating over it gave
    (`for a, b in zip(x, y)`, `sorted(x)`, `list(x)`): ZERO where none reached."""
    if all(g is ZERO or g is None for g in items):
        return ZERO
    if len(items) != len(x):
        raise ValueError(f"{len(items)} row cotangents for an array of {len(x)} rows")
    out = array_module(x).zeros_like(x)
    for i, g in enumerate(items):
        if g is not ZERO and g is not None:
            out[i] += g
    return out
