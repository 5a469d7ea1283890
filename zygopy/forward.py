"""Forward mode by dual numbers: a value carried together with its tangent.

`Dual(primal, tangent)` behaves like a numpy array (or a number) whose every
operation also pushes its tangent forward: `np.sin(Dual(x, t))` is
`Dual(sin(x), cos(x) * t)`. It is what the tutorials use to explain AD, and it
is how zygopy computes `jvp` and, run through the generated reverse-mode code,
Hessian-vector products (forward over reverse): `grad(grad(f))`, `hessian`.

Elementwise derivatives come from the same formula table as the reverse-mode
rules (rules/formulas.py); everything else has a push-forward in `JVPS` below,
keyed by the numpy function. A function with none raises `NoForwardRule`
naming it: a missing rule is never a silent zero.

One level of nesting is supported (a Dual's parts are plain values), which is
what second derivatives need.
"""

from __future__ import annotations

import functools
import math
import numbers

import numpy as np

from .errors import ZygopyError
from .runtime.tangents import ZeroTangent

__all__ = ["Dual", "primal", "tangent", "NoForwardRule", "JVPS"]


class NoForwardRule(ZygopyError):
    """A numpy function met a dual number but has no push-forward rule."""

    def __init__(self, fn):
        name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", repr(fn))
        module = getattr(fn, "__module__", None) or "numpy"
        super().__init__(
            f"forward mode (used by jvp, hessian and grad of grad) has no rule for "
            f"{module}.{name}.\nAdd one with zygopy.forward.JVPS[{name}] = "
            f"lambda fn, args, kwargs: ..., or avoid it in second-order code.")


def primal(x):
    """The value part of `x` (x itself when it is not a Dual)."""
    return x.primal if type(x) is Dual else x


def tangent(x):
    """The tangent part of `x`, or None when it has none (a constant)."""
    return x.tangent if type(x) is Dual else None


def _zeros(p):
    """A zero tangent for primal `p`."""
    if isinstance(p, np.ndarray):
        return np.zeros(p.shape, p.dtype if p.dtype.kind in "fc" else np.float64)
    if isinstance(p, np.generic):
        return p.dtype.type(0) if p.dtype.kind in "fc" else 0.0
    return 0.0


def _t_or_zero(x):
    return x.tangent if type(x) is Dual else _zeros(x)


def dual(p, t):
    """`Dual(p, t)`, or plain `p` when there is no tangent."""
    if t is None:
        return p
    return Dual(p, t)


def _binary(ufunc, reflected=False):
    def op(self, other):
        if isinstance(other, ZeroTangent):
            return NotImplemented
        return ufunc(other, self) if reflected else ufunc(self, other)

    op.__name__ = ufunc.__name__
    return op


def _compare(ufunc):
    def op(self, other):
        return ufunc(primal(self), primal(other))

    return op


class Dual:
    """A primal value and its tangent, with the array API of the primal.

    Operators, numpy ufuncs and numpy functions push the tangent forward;
    comparisons and `bool` look at the primal only (control flow follows the
    value, as it should). Converting to a plain float or array would drop the
    tangent, so `float(d)` and `np.asarray(d)` raise instead."""

    __slots__ = ("primal", "tangent")
    __array_priority__ = 1000
    zygopy_rules_type = np.ndarray  # rules of ndarray methods serve Duals

    def __init__(self, primal, tangent):
        if type(primal) is Dual or type(tangent) is Dual:
            raise ZygopyError("third-order derivatives (a Dual inside a Dual) are not "
                              "supported: forward mode nests one level")
        self.primal = primal
        self.tangent = tangent

    # -- the array API --------------------------------------------------------
    @property
    def shape(self):
        return np.shape(self.primal)

    @property
    def ndim(self):
        return np.ndim(self.primal)

    @property
    def size(self):
        return np.size(self.primal)

    @property
    def dtype(self):
        return np.result_type(self.primal)

    @property
    def T(self):
        return Dual(np.transpose(self.primal), np.transpose(self.tangent))

    @property
    def mT(self):
        return np.matrix_transpose(self)

    def __len__(self):
        return len(self.primal)

    def __iter__(self):
        return (self[i] for i in range(len(self.primal)))

    def __getitem__(self, index):
        index = primal(index)
        return Dual(self.primal[index], np.asarray(self.tangent)[index])

    def __setitem__(self, index, value):
        index = primal(index)
        self.primal[index] = primal(value)
        if not getattr(self.tangent, "flags", None) or not self.tangent.flags.writeable \
                or np.shape(self.tangent) != np.shape(self.primal):
            self.tangent = np.array(np.broadcast_to(self.tangent, np.shape(self.primal)))
        self.tangent[index] = _t_or_zero(value)

    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            "a forward-mode Dual cannot become a plain numpy array: its tangent would "
            "be lost. This happens when a Dual is written into a plain array "
            "(a[i] = v with `a` made by np.zeros): make `a` with np.zeros_like(x) "
            "from a differentiated x instead.")

    def __float__(self):
        raise TypeError("float() of a forward-mode Dual would drop its tangent")

    def __int__(self):
        return int(self.primal)

    def __index__(self):
        return int(self.primal)

    def __bool__(self):
        return bool(self.primal)

    def __hash__(self):
        return id(self)

    def __repr__(self):
        return f"Dual({self.primal!r}, {self.tangent!r})"

    # -- arithmetic, through the ufuncs (one place for every rule) ------------
    __add__, __radd__ = _binary(np.add), _binary(np.add, True)
    __sub__, __rsub__ = _binary(np.subtract), _binary(np.subtract, True)
    __mul__, __rmul__ = _binary(np.multiply), _binary(np.multiply, True)
    __truediv__, __rtruediv__ = _binary(np.divide), _binary(np.divide, True)
    __pow__, __rpow__ = _binary(np.power), _binary(np.power, True)
    __matmul__, __rmatmul__ = _binary(np.matmul), _binary(np.matmul, True)
    __mod__, __rmod__ = _binary(np.remainder), _binary(np.remainder, True)
    __floordiv__, __rfloordiv__ = _binary(np.floor_divide), _binary(np.floor_divide, True)
    __lt__, __le__ = _compare(np.less), _compare(np.less_equal)
    __gt__, __ge__ = _compare(np.greater), _compare(np.greater_equal)
    __eq__, __ne__ = _compare(np.equal), _compare(np.not_equal)

    def __neg__(self):
        return np.negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return np.absolute(self)

    def __iadd__(self, other):
        return self._inplace(np.add, other)

    def __isub__(self, other):
        return self._inplace(np.subtract, other)

    def __imul__(self, other):
        return self._inplace(np.multiply, other)

    def __itruediv__(self, other):
        return self._inplace(np.divide, other)

    def _inplace(self, ufunc, other):
        """`self op= other`: arrays change in place (aliases see it), numbers rebind."""
        result = ufunc(self, other)
        if not isinstance(self.primal, np.ndarray):
            return result
        self[...] = result
        return self

    # -- numpy protocols ------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.pop("out", None)
        if any(isinstance(x, ZeroTangent) for x in inputs):
            return NotImplemented
        result = _ufunc(ufunc, method, inputs, kwargs)
        if out is None:
            return result
        target = out[0]
        if type(target) is Dual:
            target[...] = result
            return target
        if tangent(result) is not None:
            raise TypeError(f"{ufunc.__name__}(..., out=plain array) would drop a tangent")
        target[...] = result
        return target

    def __array_function__(self, func, types, args, kwargs):
        handler = JVPS.get(func)
        if handler is None:
            if func in INERT:
                return func(*_primals(args), **_primals(kwargs))
            raise NoForwardRule(func)
        return handler(func, args, kwargs)

    # -- ndarray methods: the numpy functions of the same name ----------------
    def sum(self, *a, **k):
        return np.sum(self, *a, **k)

    def mean(self, *a, **k):
        return np.mean(self, *a, **k)

    def prod(self, *a, **k):
        return np.prod(self, *a, **k)

    def max(self, *a, **k):
        return np.max(self, *a, **k)

    def min(self, *a, **k):
        return np.min(self, *a, **k)

    def std(self, *a, **k):
        return np.std(self, *a, **k)

    def var(self, *a, **k):
        return np.var(self, *a, **k)

    def cumsum(self, *a, **k):
        return np.cumsum(self, *a, **k)

    def cumprod(self, *a, **k):
        return np.cumprod(self, *a, **k)

    def clip(self, *a, **k):
        return np.clip(self, *a, **k)

    def dot(self, other):
        return np.dot(self, other)

    def trace(self, *a, **k):
        return np.trace(self, *a, **k)

    def diagonal(self, *a, **k):
        return np.diagonal(self, *a, **k)

    def repeat(self, *a, **k):
        return np.repeat(self, *a, **k)

    def take(self, *a, **k):
        return np.take(self, *a, **k)

    def swapaxes(self, a, b):
        return np.swapaxes(self, a, b)

    def squeeze(self, *a, **k):
        return np.squeeze(self, *a, **k)

    def ravel(self, *a, **k):
        return np.ravel(self, *a, **k)

    def flatten(self):
        return np.ravel(self).copy()

    def reshape(self, *shape, **k):
        shape = shape[0] if len(shape) == 1 else shape
        return np.reshape(self, shape, **k)

    def transpose(self, *axes):
        axes = axes[0] if len(axes) == 1 else (axes or None)
        return np.transpose(self, axes)

    def astype(self, dtype, *a, **k):
        return Dual(np.asarray(self.primal).astype(dtype, *a, **k),
                    np.asarray(self.tangent).astype(dtype, *a, **k))

    def copy(self):
        return Dual(np.copy(self.primal), np.copy(self.tangent))

    def item(self, *a):
        return Dual(np.asarray(self.primal).item(*a), np.asarray(self.tangent).item(*a))

    def conj(self):
        return self

    def argmax(self, *a, **k):
        return np.argmax(self.primal, *a, **k)

    def argmin(self, *a, **k):
        return np.argmin(self.primal, *a, **k)

    def argsort(self, *a, **k):
        return np.argsort(self.primal, *a, **k)

    def nonzero(self):
        return np.nonzero(self.primal)

    def any(self, *a, **k):
        return np.any(self.primal, *a, **k)

    def all(self, *a, **k):
        return np.all(self.primal, *a, **k)

    def round(self, *a, **k):
        return np.round(self.primal, *a, **k)


def _primals(obj):
    """`obj` with every Dual replaced by its primal (through lists, tuples, dicts)."""
    t = type(obj)
    if t is Dual:
        return obj.primal
    if t in (list, tuple):
        return t(_primals(x) for x in obj)
    if t is dict:
        return {k: _primals(v) for k, v in obj.items()}
    return obj


def _tangents_of(obj):
    """`obj` with every Dual replaced by its tangent and every array by zeros."""
    t = type(obj)
    if t is Dual:
        return obj.tangent
    if t in (list, tuple):
        return t(_tangents_of(x) for x in obj)
    if isinstance(obj, (np.ndarray, np.generic)) or (
            isinstance(obj, numbers.Number) and not isinstance(obj, bool)):
        return _zeros(obj)
    return obj


def from_nested(fn, obj, *args, **kwargs):
    """`np.array(obj)` (or asarray, ...) where `obj` may hold duals: a Dual of
    the array of primals and the array of tangents."""
    if type(obj) is Dual:
        dtype = kwargs.get("dtype", args[0] if args else None)
        return obj.astype(dtype) if dtype is not None else obj
    if not _has_dual(obj):
        return fn(obj, *args, **kwargs)
    out = fn(_primals(obj), *args, **kwargs)
    return Dual(out, np.asarray(fn(_tangents_of(obj), *args, **kwargs), dtype=out.dtype))


def _has_dual(obj):
    t = type(obj)
    if t is Dual:
        return True
    if t in (list, tuple):
        return any(_has_dual(x) for x in obj)
    return False


# -- ufuncs ---------------------------------------------------------------------
_PARTIALS: dict = {}  # ufunc -> tuple of compiled partial functions (or "0"/"1")


def _partials(ufunc):
    """The partial derivatives of `ufunc` from the formula table, compiled."""
    if ufunc in _PARTIALS:
        return _PARTIALS[ufunc]
    from .rules.formulas import formula_of
    from .rules.render import render

    row = formula_of(ufunc)
    if row is None:
        _PARTIALS[ufunc] = None
        return None
    names = {p: p for p in row.params} | {"out": "out"}
    fns = []
    for d in row.partials:
        text = d.strip()
        if text in ("0", "1", "-1"):
            fns.append(text)
            continue
        src = f"lambda {', '.join(row.params)}, out: {render(row.tree(d), names, 'np')}"
        fns.append(eval(src, {"np": np, "math": math}))
    if ufunc in (np.power, np.float_power):
        fns[0] = _power_base_partial
    _PARTIALS[ufunc] = tuple(fns)
    return _PARTIALS[ufunc]


def _push(partial, t, primals, out):
    if partial == "1":
        return t
    if partial == "-1":
        return -t
    if partial == "0":
        return None
    with np.errstate(divide="ignore", invalid="ignore"):  # as numpy, not Python, would
        return partial(*[np.float64(p) if type(p) in (int, float) else p
                         for p in primals], out) * t


def _power_base_partial(x, y, out):
    """d(x ** y)/dx = y x^(y-1), and 0 for y == 0 (also at x == 0)."""
    return np.where(y == 0, 0.0, y * x ** np.where(y == 0, 1, y - 1))


def _accumulate(total, term):
    if term is None:
        return total
    return term if total is None else total + term


def _ufunc(ufunc, method, inputs, kwargs):
    primals = tuple(primal(x) for x in inputs)
    tangents = tuple(tangent(x) for x in inputs)
    if method == "__call__":
        out = ufunc(*primals, **kwargs)
        if ufunc is np.matmul:
            return dual(out, _multilinear_tangent(np.matmul, inputs, {}))
        if not _is_float(out):
            return out  # comparisons, logical ops, integer results: no tangent
        partials = _partials(ufunc)
        if partials is None:
            if ufunc in _ZERO_DERIVATIVE:
                return out
            raise NoForwardRule(ufunc)
        t = None
        for partial, ti in zip(partials, tangents):
            if ti is not None:
                t = _accumulate(t, _push(partial, ti, primals, out))
        if t is not None and np.shape(t) != np.shape(out):
            t = np.broadcast_to(t, np.shape(out))
        if type(out) is np.float64 and all(type(p) in (float, int) for p in primals):
            out, t = float(out), (None if t is None else float(t))  # numbers stay numbers
        return dual(out, t)
    if method in ("reduce", "accumulate") and ufunc in (np.add, np.logical_or):
        out = getattr(ufunc, method)(*primals, **kwargs)
        t = tangents[0]
        return dual(out, None if t is None else getattr(ufunc, method)(t, *primals[1:], **kwargs))
    if method == "reduce" and ufunc in (np.maximum, np.minimum):
        fn = np.max if ufunc is np.maximum else np.min
        axis = kwargs.get("axis", primals[1] if len(primals) > 1 else 0)
        return fn(inputs[0], axis=axis, keepdims=kwargs.get("keepdims", False))
    if method == "at" and ufunc in (np.add, np.subtract):
        target, index = inputs[0], primals[1]
        if type(target) is not Dual:
            if any(t is not None for t in tangents[2:]):
                raise TypeError(f"np.{ufunc.__name__}.at(plain array, ..., Dual) would "
                                "drop a tangent; make the target with np.zeros_like")
            return ufunc.at(target, index, *primals[2:])
        ufunc.at(target.primal, index, *primals[2:])
        if target.tangent is None or not target.tangent.flags.writeable:
            target.tangent = np.array(np.broadcast_to(target.tangent, target.shape))
        if len(inputs) > 2 and tangents[2] is not None:
            ufunc.at(target.tangent, index, tangents[2])
        return None
    if method == "outer" and ufunc is np.multiply:
        return np.multiply(*[_expand_outer(x, i, inputs) for i, x in enumerate(inputs)])
    raise NoForwardRule(getattr(ufunc, method))


def _expand_outer(x, i, inputs):
    """Reshape input `i` of an outer product so that broadcasting computes it."""
    nd = [np.ndim(primal(v)) for v in inputs]
    before, after = sum(nd[:i]), sum(nd[i + 1:])
    return np.reshape(x, (1,) * before + np.shape(primal(x)) + (1,) * after)


def _is_float(x):
    if isinstance(x, float):
        return True
    dtype = getattr(x, "dtype", None)
    return dtype is not None and dtype.kind in "fc"


_ZERO_DERIVATIVE = {np.sign, np.floor, np.ceil, np.rint, np.trunc, np.floor_divide,
                    np.heaviside, np.spacing, np.nextafter}


def math_call(fn):
    """`fn` for a math-module function with no numpy counterpart (erf), made to
    accept duals: the tangent comes from its formula row, rendered for `math`."""
    return functools.partial(_math_call, fn)


def _math_call(fn, *args):
    if not any(type(a) is Dual for a in args):
        return fn(*args)
    from .rules.formulas import formula_of
    from .rules.render import render

    row = formula_of(fn)
    primals = [primal(a) for a in args]
    if row is None or any(np.ndim(p) for p in primals):
        raise NoForwardRule(fn)
    out = fn(*primals)
    names = {p: p for p in row.params} | {"out": "out"}
    t = 0.0
    for a, d in zip(args, row.partials):
        if type(a) is Dual:
            partial = eval(f"lambda {', '.join(row.params)}, out: "
                           f"{render(row.tree(d), names, 'math')}", {"math": math})
            t = t + partial(*primals, out) * a.tangent
    return Dual(out, t)


# -- numpy functions --------------------------------------------------------------
JVPS: dict = {}  # numpy function -> handler(func, args, kwargs)
INERT: set = set()  # numpy functions whose result has no tangent (shapes, indices)


def _register(handler, *fns):
    for fn in fns:
        JVPS[fn] = handler


def _linear(func, args, kwargs):
    """A function linear in its first argument; the others are not differentiated."""
    x, rest = args[0], args[1:]
    out = func(primal(x), *_primals(rest), **_primals(kwargs))
    if tangent(x) is None:
        return out
    t = func(tangent(x), *_primals(rest), **_primals(kwargs))
    if isinstance(out, (list, tuple)):
        return type(out)(Dual(o, ti) for o, ti in zip(out, t))
    return Dual(out, t)


def _joined(func, args, kwargs):
    """A join of a sequence of arrays (concatenate, stack, ...): linear in each."""
    seq, rest = args[0], args[1:]
    out = func(_primals(list(seq)), *rest, **kwargs)
    if not _has_dual(list(seq)):
        return out
    return Dual(out, func(_tangents_of(list(seq)), *rest, **kwargs))


def _multilinear_tangent(func, args, kwargs, skip=0):
    """Sum over differentiable arguments of `func` with that one's tangent."""
    plain = list(_primals(args))
    t = None
    for i in range(skip, len(args)):
        ti = tangent(args[i])
        if ti is None:
            continue
        parts = plain[:i] + [ti] + plain[i + 1:]
        t = _accumulate(t, func(*parts, **kwargs))
    return t


def _multilinear(func, args, kwargs):
    skip = 1 if func is np.einsum else 0
    out = func(*_primals(args), **_primals(kwargs))
    return dual(out, _multilinear_tangent(func, args, _primals(kwargs), skip))


def _like(func, args, kwargs):
    """zeros_like and friends: constants, but writable as duals (a[i] = v works)."""
    out = func(primal(args[0]), *args[1:], **kwargs)
    return Dual(out, _zeros(out)) if _is_float(out) else out


def _where(func, args, kwargs):
    if len(args) == 1:
        return func(primal(args[0]))
    cond, x, y = primal(args[0]), args[1], args[2]
    out = func(cond, primal(x), primal(y))
    if tangent(x) is None and tangent(y) is None:
        return out
    t = func(cond, _t_or_zero(x), _t_or_zero(y))
    return Dual(out, np.broadcast_to(t, np.shape(out)))


def _clip(func, args, kwargs):
    kw = dict(kwargs)
    x = args[0]
    lo = args[1] if len(args) > 1 else kw.pop("a_min", kw.pop("min", None))
    hi = args[2] if len(args) > 2 else kw.pop("a_max", kw.pop("max", None))
    out = func(primal(x), primal(lo), primal(hi), **kw)
    if not _has_dual([x, lo, hi]):
        return out
    p = primal(x)
    t = _t_or_zero(x)
    if lo is not None:
        t = np.where(p < primal(lo), _t_or_zero(lo), t)
    if hi is not None:
        t = np.where(p > primal(hi), _t_or_zero(hi), t)
    return Dual(out, np.broadcast_to(t, np.shape(out)))


def _option(args, kwargs, index, name, default=None):
    return args[index] if len(args) > index else kwargs.get(name, default)


def _extremum(func, args, kwargs):
    """max/min: the tangent at the extreme entries (averaged over ties)."""
    x = args[0]
    axis = _option(args, kwargs, 1, "axis")
    keepdims = _option(args, kwargs, 3, "keepdims", False)
    out = func(primal(x), axis=axis, keepdims=keepdims)
    if tangent(x) is None:
        return out
    kept = func(primal(x), axis=axis, keepdims=True)
    mask = primal(x) == kept
    t = np.sum(np.where(mask, x.tangent, 0), axis=axis, keepdims=keepdims) / \
        np.sum(mask, axis=axis, keepdims=keepdims)
    return Dual(out, t)


def _prod(func, args, kwargs):
    x = args[0]
    axis = _option(args, kwargs, 1, "axis")
    keepdims = _option(args, kwargs, 3, "keepdims", False)
    p = primal(x)
    out = np.prod(p, axis=axis, keepdims=keepdims)
    if tangent(x) is None:
        return out
    # d prod = sum_i t_i prod_{j != i} x_j, zero-safe: products of the others
    axes = tuple(range(p.ndim)) if axis is None else \
        tuple(a % p.ndim for a in (axis if isinstance(axis, tuple) else (axis,)))
    moved = np.moveaxis(p, axes, tuple(range(len(axes))))
    tm = np.moveaxis(np.broadcast_to(x.tangent, p.shape), axes, tuple(range(len(axes))))
    flat = moved.reshape((-1,) + moved.shape[len(axes):])
    tflat = tm.reshape(flat.shape)
    ones = np.ones((1,) + flat.shape[1:], p.dtype)
    left = np.cumprod(np.concatenate([ones, flat[:-1]]), axis=0)
    right = np.cumprod(np.concatenate([ones, flat[::-1][:-1]]), axis=0)[::-1]
    t = np.sum(left * right * tflat, axis=0)
    if keepdims:
        t = np.reshape(t, np.shape(out))
    return Dual(out, t)


def _cumprod(func, args, kwargs):
    x = args[0]
    axis = _option(args, kwargs, 1, "axis")
    out = func(primal(x), axis=axis)
    if tangent(x) is None:
        return out
    p = primal(x) if axis is not None else np.ravel(primal(x))
    t = x.tangent if axis is not None else np.ravel(x.tangent)
    ax = 0 if axis is None else axis
    return Dual(out, out * np.cumsum(t / p, axis=ax))  # needs nonzero entries


def _moments(func, args, kwargs):
    """var and std, written with dual arithmetic."""
    x = args[0]
    axis = _option(args, kwargs, 1, "axis")
    ddof = _option(args, kwargs, 3, "ddof", 0)
    keepdims = _option(args, kwargs, 4, "keepdims", False)
    if tangent(x) is None:
        return func(primal(x), axis=axis, ddof=ddof, keepdims=keepdims)
    n = np.size(primal(x)) // max(np.size(np.sum(primal(x), axis=axis)), 1)
    centred = x - np.mean(x, axis=axis, keepdims=True)
    var = np.sum(centred * centred, axis=axis, keepdims=keepdims) / (n - ddof)
    return np.sqrt(var) if func is np.std else var


def _sort(func, args, kwargs):
    x = args[0]
    axis = _option(args, kwargs, 1, "axis", -1)
    out = func(primal(x), axis=axis)
    if tangent(x) is None:
        return out
    if axis is None:
        order = np.argsort(np.ravel(primal(x)), kind="stable")
        return Dual(out, np.ravel(x.tangent)[order])
    order = np.argsort(primal(x), axis=axis, kind="stable")
    return Dual(out, np.take_along_axis(np.broadcast_to(x.tangent, np.shape(primal(x))),
                                        order, axis))


def _pad(func, args, kwargs):
    x, rest = args[0], args[1:]
    out = func(primal(x), *rest, **kwargs)
    if tangent(x) is None:
        return out
    kw = dict(kwargs)
    if "constant_values" in kw:
        kw["constant_values"] = 0
    return Dual(out, func(x.tangent, *rest, **kw))


def _mT(a):
    return np.swapaxes(a, -1, -2)


def _inv(func, args, kwargs):
    a = args[0]
    y = func(primal(a))
    if tangent(a) is None:
        return y
    return Dual(y, -(y @ a.tangent @ y))


def _solve(func, args, kwargs):
    a, b = args[0], args[1]
    pa, pb = primal(a), primal(b)
    y = func(pa, pb)
    t = None
    if tangent(b) is not None:
        t = func(pa, b.tangent)
    if tangent(a) is not None:
        vec = pb.ndim == 1 or (pa.ndim > 2 and pb.ndim == pa.ndim - 1)
        yy = y[..., None] if vec else y
        ta = -func(pa, a.tangent @ yy)
        t = _accumulate(t, ta[..., 0] if vec else ta)
    return dual(y, t)


def _det(func, args, kwargs):
    a = args[0]
    y = func(primal(a))
    if tangent(a) is None:
        return y
    inv_t = np.linalg.solve(primal(a), a.tangent)
    return Dual(y, y * np.trace(inv_t, axis1=-2, axis2=-1))


def _slogdet(func, args, kwargs):
    a = args[0]
    sign, logdet = func(primal(a))
    if tangent(a) is None:
        return sign, logdet
    inv_t = np.linalg.solve(primal(a), a.tangent)
    return type(func(np.eye(1)))(sign, Dual(logdet, np.trace(inv_t, axis1=-2, axis2=-1)))


def _symmetric_part(t, uplo):
    """The symmetric matrix that numpy reads from `t`: its lower (or upper)
    triangle, mirrored (cholesky and eigh never look at the other half)."""
    if uplo == "U":
        return np.triu(t) + _mT(np.triu(t, 1))
    return np.tril(t) + _mT(np.tril(t, -1))


def _cholesky(func, args, kwargs):
    a = args[0]
    upper = kwargs.get("upper", False)
    y = func(primal(a), **kwargs)
    if tangent(a) is None:
        return y
    # dL = L phi(L^-1 dA L^-T), phi: lower triangle with the diagonal halved
    L = _mT(y) if upper else y
    ta = _symmetric_part(a.tangent, "U" if upper else "L")
    inner = np.linalg.solve(L, _mT(np.linalg.solve(L, _mT(ta))))
    phi = np.tril(inner, -1) + 0.5 * np.eye(L.shape[-1]) * inner
    dL = L @ phi
    return Dual(y, _mT(dL) if upper else dL)


def _eigh(func, args, kwargs):
    a = args[0]
    w, v = func(primal(a), *args[1:], **kwargs)
    if tangent(a) is None:
        return w, v
    ta = _symmetric_part(a.tangent, _option(args, kwargs, 1, "UPLO", "L"))
    inner = _mT(v) @ ta @ v
    dw = np.diagonal(inner, axis1=-2, axis2=-1)
    gap = w[..., None, :] - w[..., :, None]
    with np.errstate(divide="ignore"):
        f = np.where(gap == 0, 0.0, 1.0 / np.where(gap == 0, 1.0, gap))
    dv = v @ (f * inner)
    return type(func(np.eye(1)))(Dual(w, dw), Dual(v, dv))


def _qr(func, args, kwargs):
    """Reduced QR of a tall or square matrix (m >= n): with C = Q^T dA R^-1 and
    w = tril(C, -1) - tril(C, -1)^T, dQ = Q w + (I - Q Q^T) dA R^-1, dR = Q^T dA - w R."""
    a = args[0]
    mode = _option(args, kwargs, 1, "mode", "reduced")
    if tangent(a) is None:
        return func(primal(a), mode=mode)
    if mode not in ("reduced", "r") or primal(a).shape[-2] < primal(a).shape[-1]:
        raise NoForwardRule(func)
    q, r = func(primal(a), mode="reduced")
    ta = a.tangent
    ta_rinv = _mT(np.linalg.solve(_mT(r), _mT(ta)))  # dA R^-1
    c = _mT(q) @ ta_rinv
    low = np.tril(c, -1)
    w = low - _mT(low)
    dr = _mT(q) @ ta - w @ r
    if mode == "r":
        return Dual(r, dr)
    dq = q @ w + ta_rinv - q @ (_mT(q) @ ta_rinv)
    return type(func(np.eye(1)))(Dual(q, dq), Dual(r, dr))


def _svd(func, args, kwargs):
    """Thin SVD with distinct singular values. With dP = U^T dA V and
    F_ij = 1 / (s_j^2 - s_i^2): dS = diag(dP), dU = U (F o (dP S + S dP^T))
    + (I - U U^T) dA V S^-1, and dV alike with A^T."""
    a = args[0]
    full = _option(args, kwargs, 1, "full_matrices", True)
    compute_uv = _option(args, kwargs, 2, "compute_uv", True)
    p = primal(a)
    if tangent(a) is None:
        return func(p, full_matrices=full, compute_uv=compute_uv)
    m, n = p.shape[-2:]
    if full and compute_uv and m != n:
        raise NoForwardRule(func)
    u, sv, vt = func(p, full_matrices=False)
    v = _mT(vt)
    ta = a.tangent
    dp = _mT(u) @ ta @ v
    ds = np.diagonal(dp, axis1=-2, axis2=-1)
    if not compute_uv:
        return Dual(sv, ds)
    s2 = sv * sv
    gap = s2[..., None, :] - s2[..., :, None]
    f = np.where(gap == 0, 0.0, 1.0 / np.where(gap == 0, 1.0, gap))
    cols, rows = sv[..., None, :], sv[..., :, None]  # X * cols = X S, X * rows = S X
    du = u @ (f * (dp * cols + _mT(dp) * rows)) + (ta @ v - u @ (_mT(u) @ ta @ v)) / cols
    dv = v @ (f * (dp * rows + _mT(dp) * cols)) + \
        (_mT(ta) @ u - v @ (_mT(v) @ _mT(ta) @ u)) / cols
    svd_result = type(func(np.eye(1)))
    return svd_result(Dual(u, du), Dual(sv, ds), Dual(vt, _mT(dv)))


def _norm(func, args, kwargs):
    """linalg.norm, every vector and matrix order, written with dual arithmetic
    (the spectral ones through the tangents of the singular values)."""
    x = args[0]
    ord_ = _option(args, kwargs, 1, "ord")
    axis = _option(args, kwargs, 2, "axis")
    keepdims = _option(args, kwargs, 3, "keepdims", False)
    p = primal(x)
    if tangent(x) is None:
        return func(p, ord_, axis, keepdims)
    if axis is None and (ord_ is None or p.ndim == 1):
        out = np.sqrt(np.sum(x * x)) if ord_ is None else _vector_norm(x, ord_, 0, False)
        return np.reshape(out, (1,) * p.ndim) if keepdims else out
    if axis is None:
        axis = (0, 1)
    if isinstance(axis, (tuple, list)) and len(axis) == 2:
        out = _matrix_norm(x, ord_, tuple(a % p.ndim for a in axis))
        if keepdims:
            shape = tuple(1 if i in [a % p.ndim for a in axis] else n
                          for i, n in enumerate(p.shape))
            out = np.reshape(out, shape)
        return out
    axis = axis[0] if isinstance(axis, (tuple, list)) else axis
    return _vector_norm(x, ord_, axis, keepdims)


def _vector_norm(x, ord_, axis, keepdims):
    a = np.absolute(x)
    if ord_ is None or ord_ == 2:
        return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))
    if ord_ == np.inf:
        return np.max(a, axis=axis, keepdims=keepdims)
    if ord_ == -np.inf:
        return np.min(a, axis=axis, keepdims=keepdims)
    if ord_ == 0:
        return np.sum(primal(x) != 0, axis=axis, keepdims=keepdims).astype(primal(x).dtype)
    if ord_ == 1:
        return np.sum(a, axis=axis, keepdims=keepdims)
    return np.sum(a ** ord_, axis=axis, keepdims=keepdims) ** (1.0 / ord_)


def _matrix_norm(x, ord_, axes):
    row, col = axes
    if ord_ in (None, "fro"):
        return np.sqrt(np.sum(x * x, axis=axes))
    if ord_ in (1, -1, np.inf, -np.inf):
        summed, other = (row, col) if ord_ in (1, -1) else (col, row)
        sums = np.sum(np.absolute(x), axis=summed)
        pick = np.max if ord_ in (1, np.inf) else np.min
        return pick(sums, axis=other - (summed < other))
    # spectral norms: d sigma_i = u_i^T dA v_i
    moved = np.moveaxis(x, axes, (-2, -1))
    u, s, vt = np.linalg.svd(primal(moved), full_matrices=False)
    ds = np.einsum("...ji,...jk,...ik->...i", u, moved.tangent, vt)
    sigma = Dual(s, ds)
    if ord_ == "nuc":
        return np.sum(sigma, axis=-1)
    return np.max(sigma, axis=-1) if ord_ == 2 else np.min(sigma, axis=-1)


def _sinc(func, args, kwargs):
    x = args[0]
    p = primal(x)
    out = func(p)
    if tangent(x) is None:
        return out
    y = np.pi * np.where(p == 0, 1.0, p)
    d = np.where(p == 0, 0.0, (np.cos(y) * y - np.sin(y)) / (y * np.where(p == 0, 1.0, p)))
    return Dual(out, d * x.tangent)


_register(_linear, np.reshape, np.ravel, np.transpose, np.swapaxes, np.moveaxis,
          np.expand_dims, np.squeeze, np.broadcast_to, np.sum, np.mean, np.cumsum, np.trace,
          np.diagonal, np.diag, np.diagflat, np.tril, np.triu, np.flip, np.fliplr, np.flipud,
          np.roll, np.tile, np.repeat, np.rot90, np.take, np.take_along_axis, np.real,
          np.copy, np.atleast_1d, np.atleast_2d, np.atleast_3d, np.split, np.array_split,
          np.hsplit, np.vsplit, np.dsplit, np.diff, np.matrix_transpose, np.nansum,
          np.unstack, np.ascontiguousarray)
_register(_joined, np.concatenate, np.stack, np.hstack, np.vstack, np.dstack,
          np.column_stack)
_register(_multilinear, np.dot, np.inner, np.outer, np.vdot, np.tensordot, np.kron,
          np.cross, np.einsum, np.convolve, np.correlate)
_register(_like, np.zeros_like, np.ones_like, np.empty_like, np.full_like)
_register(_where, np.where)
_register(_clip, np.clip)
_register(_extremum, np.max, np.min, np.amax, np.amin)
_register(_prod, np.prod)
_register(_cumprod, np.cumprod)
_register(_moments, np.var, np.std)
_register(_sort, np.sort)
_register(_pad, np.pad)
_register(_inv, np.linalg.inv)
_register(_solve, np.linalg.solve)
_register(_det, np.linalg.det)
_register(_slogdet, np.linalg.slogdet)
_register(_cholesky, np.linalg.cholesky)
_register(_eigh, np.linalg.eigh)
_register(_qr, np.linalg.qr)
_register(_svd, np.linalg.svd)
_register(_norm, np.linalg.norm)
_register(_sinc, np.sinc)

INERT.update({
    np.shape, np.ndim, np.size, np.argmax, np.argmin, np.argsort, np.argwhere, np.nonzero,
    np.flatnonzero, np.count_nonzero, np.isclose, np.allclose, np.array_equal, np.any,
    np.all, np.result_type, np.may_share_memory, np.shares_memory, np.iscomplexobj,
    np.isrealobj, np.searchsorted, np.round, np.around, np.sign, np.floor, np.ceil,
    np.digitize, np.unravel_index, np.broadcast_shapes, np.min_scalar_type, np.can_cast,
    np.fix, np.histogram, np.bincount, np.unique, np.array_equiv,
})
