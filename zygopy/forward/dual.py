"""The dual number: a primal value and its tangent, with the array API."""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..errors import ZygopyError
from ..runtime.arrays import array_module, is_device_array
from ..runtime.tangents import ZeroTangent


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
    if is_device_array(p):  # a CuPy array
        return array_module(p).zeros(p.shape, p.dtype if p.dtype.kind in "fc" else "f8")
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

    @property
    def real(self):
        return np.real(self)

    @property
    def imag(self):
        return np.imag(self)

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
            "be lost (np.asarray(d), np.array([...]) of Duals, or a Dual written "
            "into a plain array outside differentiated code): keep the Dual, or "
            "take its .primal.")

    def __float__(self):
        raise TypeError("float() of a forward-mode Dual would drop its tangent")

    def __int__(self):
        return int(self.primal)

    def __index__(self):
        return int(self.primal)

    def __bool__(self):
        return bool(self.primal)

    # rounding is piecewise constant: the primal's, with no tangent
    def __round__(self, ndigits=None):
        return round(self.primal, ndigits)

    def __floor__(self):
        return math.floor(self.primal)

    def __ceil__(self):
        return math.ceil(self.primal)

    def __trunc__(self):
        return math.trunc(self.primal)

    def tolist(self):
        """Nested lists of Duals of Python numbers (`.tolist()` of its parts)."""
        if not np.ndim(self.primal):
            return self.item()
        return [self[i].tolist() for i in range(len(self.primal))]

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

    # -- ndarray methods: the numpy functions of the same name (more below) ---
    def dot(self, other):
        return np.dot(self, other)

    def swapaxes(self, a, b):
        return np.swapaxes(self, a, b)

    def flatten(self, order="C"):
        return np.ravel(self, order).copy()

    def reshape(self, *shape, **k):
        shape = shape[0] if len(shape) == 1 else shape
        return np.reshape(self, shape, **k)

    def transpose(self, *axes):
        axes = axes[0] if len(axes) == 1 else (axes or None)
        return np.transpose(self, axes)

    def astype(self, dtype, *a, **k):
        y = np.asarray(self.primal).astype(dtype, *a, **k)
        if y.dtype.kind in "biu":  # a step function: no tangent
            return y
        return Dual(y, np.asarray(self.tangent).astype(dtype, *a, **k))

    def copy(self):
        return Dual(np.copy(self.primal), np.copy(self.tangent))

    def item(self, *a):
        return Dual(np.asarray(self.primal).item(*a), np.asarray(self.tangent).item(*a))

    def conj(self):
        return self

    conjugate = conj


def _delegate(fn, on_primal):
    """A Dual method that calls numpy's function of the same name, on the dual
    (pushing the tangent forward) or, for indices and flags, on the primal."""
    def method(self, *args, **kwargs):
        return fn(self.primal if on_primal else self, *args, **kwargs)

    method.__name__ = method.__qualname__ = fn.__name__
    return method


for _name in ("sum", "mean", "prod", "max", "min", "std", "var", "cumsum", "cumprod",
              "clip", "trace", "diagonal", "repeat", "take", "squeeze", "ravel"):
    setattr(Dual, _name, _delegate(getattr(np, _name), on_primal=False))
for _name in ("argmax", "argmin", "argsort", "nonzero", "any", "all", "round"):
    setattr(Dual, _name, _delegate(getattr(np, _name), on_primal=True))


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


from .functions import INERT, JVPS
from .ufuncs import _ufunc
