"""Shape rules: reshapes, axis permutations, broadcasting, flips, rolls, sort, take.

All of these are linear (or a permutation) in the array, so each pullback is
the transposed operation: reshape back, permute back, roll back, scatter back.
"""

from __future__ import annotations

import math

import numpy as np

from ._helpers import array_module, named, nones, option
from .indexing import scatter_add
from .registry import rule


def _reshaping(call, name, order_at=None):
    """An rrule for a function that only changes the shape: dx = reshape(dy),
    in the order the elements were read (`order=`, by keyword or at position
    `order_at` of the arguments after x)."""

    def reshaping_rule(x, *args, **kw):
        y = call(x, *args, **kw)
        xp, shape = array_module(x), np.shape(x)
        order = kw.get("order", args[order_at] if order_at is not None
                       and len(args) > order_at else "C")
        order = _read_order(x, order)

        def reshaping_pullback(dy):
            if isinstance(order, str):
                return (xp.reshape(dy, shape, order=order),) + nones(args)
            flat = xp.zeros(int(np.prod(shape)), dtype=dy.dtype)
            flat[order] = xp.ravel(dy)  # order: the C positions of y's elements
            return (xp.reshape(flat, shape),) + nones(args)

        return y, named(reshaping_pullback, f"{name}_pullback")

    reshaping_rule.__doc__ = f"`{name}`: only the shape changes; dx = dy reshaped."
    return named(reshaping_rule, f"{name}_rule")


def _read_order(x, order):
    """"C" or "F": the order numpy read x's elements in for `order`, or, for
    "K" on an array laid out neither way, the C positions in that order."""
    order = (order or "C").upper()
    if order in ("C", "F"):
        return order
    flags = getattr(x, "flags", None)
    if flags is None or flags.c_contiguous:
        return "C"
    if flags.f_contiguous:
        return "F"
    if order == "A":
        return "C"
    probe = np.empty_like(x, dtype=np.intp)  # x's memory layout, C positions inside
    probe[...] = np.arange(probe.size).reshape(probe.shape)
    return np.ravel(probe, order="K")


def _method(name):
    return lambda x, *args, **kw: getattr(x, name)(*args, **kw)


def _function(name):
    return lambda x, *args, **kw: getattr(array_module(x), name)(x, *args, **kw)


for _fn, _call, _name, _order_at in [
    (np.reshape, _function("reshape"), "reshape", 1),  # np.reshape(a, shape, order)
    (np.ndarray.reshape, _method("reshape"), "ndarray_reshape", None),  # keyword only
    (np.ravel, _function("ravel"), "ravel", 0),
    (np.ndarray.ravel, _method("ravel"), "ndarray_ravel", 0),
    (np.ndarray.flatten, _method("flatten"), "flatten", 0),
    (np.squeeze, _function("squeeze"), "squeeze", None),
    (np.ndarray.squeeze, _method("squeeze"), "ndarray_squeeze", None),
    (np.expand_dims, _function("expand_dims"), "expand_dims", None),
    (np.atleast_1d, _function("atleast_1d"), "atleast_1d", None),
    (np.atleast_2d, _function("atleast_2d"), "atleast_2d", None),
    (np.atleast_3d, _function("atleast_3d"), "atleast_3d", None),
]:
    rule(_fn)(_reshaping(_call, _name, _order_at))


@rule(np.transpose, np.ndarray.transpose)
def transpose_rule(x, *args, **kw):
    """`np.transpose(x, axes)`, `x.transpose(*axes)`:
    dx = transpose(dy, argsort(axes))."""
    xp = array_module(x)
    axes = option(args, kw, 0, "axes")
    if len(args) > 1 or isinstance(axes, (int, np.integer)):  # x.transpose(1, 0)
        axes = args
    y = xp.transpose(x, axes)
    inverse = None if axes is None else tuple(np.argsort([a % x.ndim for a in axes]))

    def transpose_pullback(dy):
        return (xp.transpose(dy, inverse),) + nones(args)

    return y, transpose_pullback


@rule((np.ndarray, "T"))
def T_rule(x):
    """`x.T`: dx = dy.T."""
    xp = array_module(x)

    def T_pullback(dy):
        return (xp.transpose(dy),)

    return x.T, T_pullback


@rule((np.ndarray, "mT"), np.matrix_transpose)
def mT_rule(x):
    """`x.mT` (and `np.matrix_transpose`): swaps the last two axes."""
    xp = array_module(x)

    def mT_pullback(dy):
        return (xp.swapaxes(dy, -1, -2),)

    return xp.swapaxes(x, -1, -2), mT_pullback


@rule(np.swapaxes, np.ndarray.swapaxes)
def swapaxes_rule(x, axis1, axis2):
    """`np.swapaxes(x, a, b)`: its own inverse."""
    xp = array_module(x)

    def swapaxes_pullback(dy):
        return xp.swapaxes(dy, axis1, axis2), None, None

    return xp.swapaxes(x, axis1, axis2), swapaxes_pullback


@rule(np.moveaxis)
def moveaxis_rule(x, source, destination):
    """`np.moveaxis(x, src, dst)`: dx = moveaxis(dy, dst, src)."""
    xp = array_module(x)

    def moveaxis_pullback(dy):
        return xp.moveaxis(dy, destination, source), None, None

    return xp.moveaxis(x, source, destination), moveaxis_pullback


@rule(np.broadcast_to)
def broadcast_to_rule(x, shape, **kw):
    """`np.broadcast_to(x, shape)`: dx = dy, summed back to x's shape by the
    dispatcher's central unbroadcast."""
    y = array_module(x).broadcast_to(x, shape, **kw)

    def broadcast_to_pullback(dy):
        return dy, None

    return y, broadcast_to_pullback


@rule(np.flip)
def flip_rule(x, *args, **kw):
    """`np.flip(x, axis)`: its own inverse."""
    xp = array_module(x)
    axis = option(args, kw, 0, "axis")

    def flip_pullback(dy):
        return (xp.flip(dy, axis),) + nones(args)

    return xp.flip(x, axis), flip_pullback


@rule(np.fliplr)
def fliplr_rule(x):
    """`np.fliplr(x)`: its own inverse."""
    xp = array_module(x)

    def fliplr_pullback(dy):
        return (xp.fliplr(dy),)

    return xp.fliplr(x), fliplr_pullback


@rule(np.flipud)
def flipud_rule(x):
    """`np.flipud(x)`: its own inverse."""
    xp = array_module(x)

    def flipud_pullback(dy):
        return (xp.flipud(dy),)

    return xp.flipud(x), flipud_pullback


@rule(np.roll)
def roll_rule(x, shift, *args, **kw):
    """`np.roll(x, shift, axis)`: dx = roll(dy, -shift, axis)."""
    xp = array_module(x)
    axis = option(args, kw, 0, "axis")
    back = tuple(-s for s in shift) if isinstance(shift, (tuple, list)) else -shift

    def roll_pullback(dy):
        return (xp.roll(dy, back, axis), None) + nones(args)

    return xp.roll(x, shift, axis), roll_pullback


@rule(np.rot90)
def rot90_rule(x, *args, **kw):
    """`np.rot90(x, k, axes)`: dx = rot90(dy, -k, axes)."""
    xp = array_module(x)
    k, axes = option(args, kw, 0, "k", 1), option(args, kw, 1, "axes", (0, 1))

    def rot90_pullback(dy):
        return (xp.rot90(dy, -k, axes),) + nones(args)

    return xp.rot90(x, k, axes), rot90_pullback


@rule(np.sort)
def sort_rule(x, *args, **kw):
    """`np.sort(x, axis)`: a permutation; dx is dy permuted back (the order
    among equal elements is numpy's stable argsort)."""
    xp = array_module(x)
    axis = option(args, kw, 0, "axis", -1)
    shape = np.shape(x)
    flat = x if axis is not None else xp.ravel(x)
    ax = -1 if axis is None else axis
    order = xp.argsort(flat, axis=ax, kind="stable")
    inverse = xp.argsort(order, axis=ax, kind="stable")

    def sort_pullback(dy):
        return (xp.reshape(xp.take_along_axis(dy, inverse, ax), shape),) + nones(args)

    return xp.sort(x, *args, **kw), sort_pullback


def _wrap(indices, n, mode):
    """Indices as `take` reads them under mode 'wrap' or 'clip'."""
    if mode == "wrap":
        return np.mod(indices, n)
    if mode == "clip":
        return np.clip(indices, 0, n - 1)
    return indices


@rule(np.take, np.ndarray.take)
def take_rule(x, indices, *args, **kw):
    """`np.take(x, indices, axis, out, mode)`: dx scatter-adds dy back
    (repeated indices accumulate)."""
    xp = array_module(x)
    axis, mode = option(args, kw, 0, "axis"), option(args, kw, 2, "mode", "raise")
    shape = np.shape(x)
    if axis is None:
        wrapped = _wrap(indices, math.prod(shape), mode)
        index = wrapped
    else:
        axis = axis % len(shape)
        wrapped = _wrap(indices, shape[axis], mode)
        index = (slice(None),) * axis + (wrapped,)
    if xp is np:
        y = np.take(x, indices, *args, **kw)
    else:  # CuPy's take has no `mode` (out-of-range indices wrap): apply it here
        y = xp.take(x, wrapped, axis)

    def take_pullback(dy):
        if axis is None:
            return (xp.reshape(scatter_add((math.prod(shape),), index, dy), shape), None) \
                + nones(args)
        return (scatter_add(shape, index, dy), None) + nones(args)

    return y, take_pullback


@rule(np.take_along_axis)
def take_along_axis_rule(x, indices, *args, **kw):
    """`np.take_along_axis(x, indices, axis)`: dx scatter-adds dy back."""
    xp = array_module(x)
    y = xp.take_along_axis(x, indices, *args, **kw)
    axis, shape = option(args, kw, 0, "axis", -1), np.shape(x)
    if axis is None:
        index = indices
    else:
        axis = axis % x.ndim
        index = tuple(
            indices if d == axis else
            xp.arange(n).reshape([-1 if i == d else 1 for i in range(x.ndim)])
            for d, n in enumerate(shape)
        )

    def take_along_axis_pullback(dy):
        if axis is None:
            return (xp.reshape(scatter_add((math.prod(shape),), index, dy), shape), None) \
                + nones(args)
        return (scatter_add(shape, index, dy), None) + nones(args)

    return y, take_along_axis_pullback
