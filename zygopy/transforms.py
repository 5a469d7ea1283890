"""Transformations built on pullbacks: jacobian, stop_gradient (nograd), checkpointed."""

from __future__ import annotations

import functools
import numbers
import types

import numpy as np

from .rules.registry import nondifferentiable, rule
from .runtime import dispatch
from .runtime.arrays import array_module, is_dual
from .runtime.structure import filled


# -- jacobian -------------------------------------------------------------------
def jacobian(f, *args):
    """The Jacobian of `f` at `args`, one per argument, by reverse mode.

    `f` returns a real array or scalar `y`; `jacobian(f, *args)[i]` has shape
    `y.shape + args[i].shape` and holds `d y[j...] / d args[i][k...]`. It is
    built one row at a time: `f` runs forward once, then its pullback runs
    once per element of `y` (so `jacobian` costs about `y.size` gradients).

    Like `gradient`, and like Zygote's `jacobian`, the result is a tuple with
    one entry per argument, even for one argument. An argument that cannot
    carry a gradient (an int array, a bool, None) gets None. Rows keep the
    argument's float dtype (float32 stays float32); a Python-number argument
    gives float64, and a scalar `y` with a Python-number argument a float.

    >>> import numpy as np
    >>> jacobian(lambda x: x ** 2, np.array([1.0, 2.0]))[0]
    array([[2., 0.],
           [0., 4.]])
    >>> jacobian(lambda x, a: a * x, 3.0, 2.0)
    (2.0, 3.0)
    """
    from .api import pullback

    y, back = pullback(f, *args)
    out_shape = _output_shape(y)
    rows = [[] for _ in args]
    for k in range(int(np.prod(out_shape, dtype=int))):
        grads = back(_basis(y, out_shape, k))
        for i, (g, a) in enumerate(zip(grads, args)):
            rows[i].append(_as_row(g, a, i))
    return tuple(_assemble(r, out_shape, a) for r, a in zip(rows, args))


def _output_shape(y):
    if isinstance(y, bool) or not _is_real(y):
        what = f"a {type(y).__name__}"
        if hasattr(y, "dtype"):
            what = f"an array of dtype {y.dtype}"
        raise TypeError(
            f"jacobian needs a function that returns a real array or number, but it "
            f"returned {what}.\nPossible fixes:\n"
            "  - return one array (np.concatenate or np.stack several outputs)\n"
            "  - use zygopy.pullback(f, *args) with a cotangent shaped like the output"
        )
    return np.shape(y)


def _is_real(y):
    if isinstance(y, numbers.Real):
        return True
    return getattr(getattr(y, "dtype", None), "kind", "") == "f"


def _basis(y, shape, k):
    """The k-th unit cotangent, of y's type and dtype."""
    if isinstance(y, numbers.Real) and not hasattr(y, "dtype"):
        return 1.0
    if isinstance(y, np.generic):
        return y.dtype.type(1)
    dy = array_module(y).zeros(shape, dtype=y.dtype)  # numpy's or CuPy's
    dy.reshape(-1)[k] = 1
    return dy


def _as_row(g, a, i):
    if g is None:
        return None
    if not (isinstance(g, numbers.Real) or hasattr(g, "shape")):
        raise TypeError(
            f"jacobian: argument {i} is a {type(a).__name__}; its gradient is not an "
            "array. Pass arrays or numbers (flatten structures into one array first)."
        )
    return g


def _assemble(rows, out_shape, a):
    if any(r is None for r in rows):
        return None
    if not rows:  # an empty output: a Jacobian with no rows
        dtype = getattr(a, "dtype", np.float64)
        return array_module(a).zeros(tuple(out_shape) + tuple(np.shape(a)), dtype=dtype)
    if not out_shape and not hasattr(rows[0], "shape"):
        return rows[0]  # scalar output, scalar argument: a number
    xp = array_module(rows[0])
    dtype = getattr(a, "dtype", np.float64)
    return xp.stack([xp.asarray(r, dtype=dtype) for r in rows]).reshape(
        tuple(out_shape) + tuple(np.shape(a))
    )


# -- stop_gradient ------------------------------------------------------------------
def stop_gradient(x):
    """`x` itself, through which no gradient flows (JAX's `stop_gradient`).

    Inside differentiated code the value is used as is, and the cotangent it
    receives is dropped: `gradient(lambda x: x * stop_gradient(x), 3.0)` is
    `(3.0,)`. Works on arrays, numbers and structures alike.
    """
    return x


nondifferentiable(stop_gradient)


def nograd(x):
    """Zygote's `@nograd` / `dropgrad`: on a function (as a decorator), a
    function whose results carry no gradient, ever; on a value, `stop_gradient`.

        @zp.nograd
        def count_large(x):       # bookkeeping inside a loss: no gradient
            return np.sum(x > 1) * 1.0
    """
    if not isinstance(x, types.FunctionType):
        return stop_gradient(x)

    @functools.wraps(x)
    def without_gradient(*args, **kwargs):
        return x(*args, **kwargs)

    nondifferentiable(without_gradient)
    return without_gradient


nondifferentiable(nograd)  # inside differentiated code: what it returns carries none


# -- checkpointed -------------------------------------------------------------------
def checkpointed(f, *args):
    """`f(*args)`, recomputed in the backward pass instead of stored.

    Gradient checkpointing (rematerialisation): inside differentiated code
    the forward pass runs `f` plainly and keeps none of its intermediates;
    when the backward pass reaches this call it runs `f`'s forward again,
    now recording, and applies that pullback. Memory for `f`'s
    intermediates is traded for one more forward pass of `f`.

    Gradients flow to `args` and to whatever `f` closes over (a layer's
    weights, a closure's variables). `f` should be deterministic and free of
    side effects: the recomputation redraws random numbers (a Dropout mask)
    and repeats updates (BatchNorm running statistics), and
    `is_differentiating()` is true during it. Outside differentiated code
    `checkpointed(f, *args)` is just `f(*args)`.

        def loss(W1, W2, x):
            h = zp.checkpointed(lambda x: np.tanh(W1 @ x), x)
            return np.sum(W2 @ h)
    """
    return f(*args)


@rule(checkpointed)
def checkpointed_rule(f, *args):
    if any(map(is_dual, args)) or any(is_dual(c.cell_contents) for c in
                                      getattr(f, "__closure__", None) or () if filled(c)):
        y = dispatch.call(f, *args)[0]  # forward-mode Duals: through the generated code
    else:
        y = f(*args)

    def checkpointed_pullback(dy):
        from . import api

        with api.differentiating(f):  # the recomputation runs in train mode
            _, pb = dispatch.call(f, *args)
        return pb(dy)  # the tangent of f (its closure), then one per argument

    return y, checkpointed_pullback


__all__ = ["checkpointed", "jacobian", "nograd", "stop_gradient"]
