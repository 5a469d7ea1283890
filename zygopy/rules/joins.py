"""Joining and splitting rules: concatenate/stack/split, tile, repeat, pad, np.array.

Rules whose primal takes a sequence of arrays (concatenate, stack, np.array of
a list) receive the sequence as one argument and return its cotangent as a
sequence of the same structure, each entry with its primal's shape and dtype.
Rules whose primal returns a list (split) take a list cotangent, whose absent
(None or ZERO) entries count as zeros.
"""

from __future__ import annotations

import numpy as np

from ._helpers import array_module, is_discrete, like, named, nones, option
from .indexing import scatter_add
from .registry import rule


def _as_now(seq):
    """Nested lists (and the tuples holding them) copied as they are now: the
    caller may append to a list before the pullback reads its structure."""
    if isinstance(seq, list):
        return [_as_now(v) for v in seq]
    if type(seq) is tuple:
        return tuple(_as_now(v) for v in seq)
    return seq


def _joining(fn, name, prepare, axis_of):
    """An rrule for a function that joins arrays along one axis: the pullback
    splits dy at the arrays' sizes along that axis."""

    def joining_rule(arrays, *args, **kw):
        arrays = _as_now(arrays)
        xp = array_module(*arrays)
        given = type(arrays)(  # an entry that is a list of numbers, as numpy reads it
            _from_nested(xp.asarray, a, (), {}) if isinstance(a, (list, tuple)) else a
            for a in arrays)  # (duals included: second order)
        y = fn(given, *args, **kw)
        parts = [prepare(xp, a) for a in given]
        axis = axis_of(parts, args, kw)
        sizes = [np.size(p) if axis is None else np.shape(p)[axis] for p in parts]
        cuts = np.cumsum(sizes)[:-1].tolist()

        def joining_pullback(dy):
            pieces = xp.split(xp.ravel(dy) if axis is None else dy, cuts, axis or 0)
            return (type(arrays)(_unpack(p, a) for p, a in zip(pieces, arrays)),) \
                + nones(args)  # (an entry that is a list of numbers: a list too)

        return y, named(joining_pullback, f"{name}_pullback")

    joining_rule.__doc__ = f"`np.{name}(arrays, ...)`: dy is split into the inputs."
    return named(joining_rule, f"{name}_rule")


def _concat_axis(parts, args, kw):
    axis = option(args, kw, 0, "axis", 0)
    return None if axis is None else axis % np.ndim(parts[0])


for _fn, _name, _prepare, _axis in [
    (np.concatenate, "concatenate",
     lambda xp, a: a if hasattr(a, "shape") else xp.asarray(a), _concat_axis),
    (np.hstack, "hstack", lambda xp, a: xp.atleast_1d(a),
     lambda parts, args, kw: 0 if np.ndim(parts[0]) == 1 else 1),
    (np.vstack, "vstack", lambda xp, a: xp.atleast_2d(a), lambda *_: 0),
    (np.dstack, "dstack", lambda xp, a: xp.atleast_3d(a), lambda *_: 2),
    (np.column_stack, "column_stack",
     lambda xp, a: xp.reshape(a, (-1, 1)) if np.ndim(a) < 2 else a, lambda *_: 1),
]:
    rule(_fn)(_joining(_fn, _name, _prepare, _axis))


@rule(np.stack)
def stack_rule(arrays, *args, **kw):
    """`np.stack(arrays, axis)`: dy is split along the new axis."""
    arrays = _as_now(arrays)
    xp = array_module(*arrays)
    y = xp.stack(arrays, *args, **kw)
    axis = option(args, kw, 0, "axis", 0)

    def stack_pullback(dy):
        pieces = xp.split(dy, len(arrays), axis)
        return (type(arrays)(like(p, a) for p, a in zip(pieces, arrays)),) + nones(args)

    return y, stack_pullback


def _splitting(fn, name, axis_of):
    """An rrule for a function that splits an array into a list: the pullback
    concatenates the cotangents (zeros where absent)."""

    def splitting_rule(x, *args, **kw):
        xp = array_module(x)
        pieces = fn(x, *args, **kw)
        axis = axis_of(x, args, kw)

        def splitting_pullback(dys):
            grads = [like(g, p) for g, p in zip(dys, pieces)]
            return (xp.concatenate(grads, axis),) + nones(args)

        return pieces, named(splitting_pullback, f"{name}_pullback")

    splitting_rule.__doc__ = f"`np.{name}(x, ...)`: the cotangents are joined back."
    return named(splitting_rule, f"{name}_rule")


_split_axis = lambda x, args, kw: option(args, kw, 1, "axis", 0)
rule(np.split)(_splitting(np.split, "split", _split_axis))
rule(np.array_split)(_splitting(np.array_split, "array_split", _split_axis))
rule(np.hsplit)(_splitting(np.hsplit, "hsplit", lambda x, *_: 0 if x.ndim == 1 else 1))
rule(np.vsplit)(_splitting(np.vsplit, "vsplit", lambda *_: 0))
rule(np.dsplit)(_splitting(np.dsplit, "dsplit", lambda *_: 2))


@rule(np.unstack)
def unstack_rule(x, *args, **kw):
    """`np.unstack(x, axis)`: the cotangents are stacked back."""
    xp = array_module(x)
    pieces = xp.unstack(x, *args, **kw)
    axis = option(args, kw, 0, "axis", 0)

    def unstack_pullback(dys):
        grads = [like(g, p) for g, p in zip(dys, pieces)]
        return (xp.stack(grads, axis),) + nones(args)

    return pieces, unstack_pullback


@rule(np.tile)
def tile_rule(x, reps):
    """`np.tile(x, reps)`: dx sums dy over the repetitions."""
    xp = array_module(x)
    y = xp.tile(x, reps)
    reps = (reps,) if np.ndim(reps) == 0 else tuple(reps)
    shape = np.shape(x)
    d = max(len(shape), len(reps))
    xs, rs = (1,) * (d - len(shape)) + shape, (1,) * (d - len(reps)) + reps
    split_shape = tuple(n for pair in zip(rs, xs) for n in pair)

    def tile_pullback(dy):
        g = xp.sum(xp.reshape(dy, split_shape), axis=tuple(range(0, 2 * d, 2)))
        return xp.reshape(g, shape), None

    return y, tile_pullback


@rule(np.repeat, np.ndarray.repeat)
def repeat_rule(x, repeats, *args, **kw):
    """`np.repeat(x, repeats, axis)`: dx sums each element's copies."""
    xp = array_module(x)
    y = xp.repeat(x, repeats, *args, **kw)
    axis, shape = option(args, kw, 0, "axis"), np.shape(x)
    ax = 0 if axis is None else axis % len(shape)
    base = (int(np.prod(shape)),) if axis is None else shape
    n = base[ax]

    def repeat_pullback(dy):
        if np.ndim(repeats) == 0 or np.size(repeats) == 1:
            r = int(xp.reshape(xp.asarray(repeats), -1)[0])
            g = xp.reshape(dy, base[:ax] + (n, r) + base[ax + 1:])
            g = xp.sum(g, axis=ax + 1)
        else:
            index = (slice(None),) * ax + (xp.repeat(xp.arange(n), repeats),)
            g = scatter_add(base, index, dy)
        return (xp.reshape(g, shape), None) + nones(args)

    return y, repeat_pullback


_LINEAR_PADS = ("edge", "reflect", "symmetric", "wrap")


@rule(np.pad)
def pad_rule(x, pad_width, *args, **kw):
    """`np.pad(x, pad_width, mode)`: constant mode crops dy (the constant gets
    no gradient); edge/reflect/symmetric/wrap scatter-add the copies back.
    Statistic modes (mean, maximum, ...) are not supported."""
    xp = array_module(x)
    y = xp.pad(x, pad_width, *args, **kw)
    mode, shape = option(args, kw, 0, "mode", "constant"), np.shape(x)
    if mode == "constant" or mode == "empty":
        widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (len(shape), 2))
        index = tuple(slice(int(b), int(b) + n) for (b, _), n in zip(widths, shape))
    elif mode in _LINEAR_PADS:
        if kw.get("reflect_type", "even") != "even":
            raise NotImplementedError(f"no gradient for np.pad(mode={mode!r}, "
                                      "reflect_type='odd') (2 * edge - the reflection)")
        extra = {}
        source = np.pad(np.arange(int(np.prod(shape))).reshape(shape), pad_width,
                        mode=mode, **extra)
        index = xp.asarray(np.ravel(source))
    else:
        raise NotImplementedError(f"no gradient for np.pad(mode={mode!r}); "
                                  f"supported: constant, {', '.join(_LINEAR_PADS)}")

    def pad_pullback(dy):
        if isinstance(index, tuple):
            return (dy[index], None) + nones(args)
        flat = scatter_add((int(np.prod(shape)),), index, xp.ravel(dy))
        return (xp.reshape(flat, shape), None) + nones(args)

    return y, pad_pullback


def _unpack(g, obj):
    """The cotangent of the nested list/tuple `obj` from an array cotangent `g`."""
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unpack(g[i], o) for i, o in enumerate(obj))
    return like(g, obj)


def _from_nested(fn, obj, args, kw):
    """`fn(obj, ...)`, also when obj holds forward-mode duals (second order)."""
    from ..forward import from_nested

    return from_nested(fn, obj, *args, **kw)


def _from_sequence(fn, name):
    """An rrule for np.array/np.asarray: the cotangent of a nested list of
    scalars and arrays is a nested list of the same structure."""

    def from_sequence_rule(obj, *args, **kw):
        obj = _as_now(obj)
        y = _from_nested(fn, obj, args, kw)
        discrete = is_discrete(y)  # (dtype=int: a step function, no gradient)

        def from_sequence_pullback(dy):
            return (None if discrete else _unpack(dy, obj),) + nones(args)

        return y, named(from_sequence_pullback, f"{name}_pullback")

    from_sequence_rule.__doc__ = (f"`np.{name}(obj)`: obj may be an array or a nested "
                                  "list of differentiable scalars and arrays.")
    return named(from_sequence_rule, f"{name}_rule")


for _fn in (np.array, np.asarray, np.asanyarray, np.ascontiguousarray):
    rule(_fn)(_from_sequence(_fn, _fn.__name__))
