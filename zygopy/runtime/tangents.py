"""Tangent values: the symbolic Zero, structural tangents of objects, accumulation.

Inside generated code a cotangent may be the singleton `ZERO` ("nothing flowed
here"). It absorbs arithmetic so that accumulation never needs a branch, and
is turned into a real zero of the primal's shape and dtype at the API boundary
by `materialize`. Objects get a `Tangent`: an attribute namespace mirroring
the object's differentiable fields (Zygote's NamedTuple tangents).
"""

from __future__ import annotations

import numbers
import types

import numpy as np

from .structure import closure_fields, object_fields

# primal types with no tangent at all (functions in a layer's fields, ...)
_OPAQUE = (types.FunctionType, types.BuiltinFunctionType, types.MethodType,
           types.ModuleType, type, bool, str, type(None))


class ZeroTangent:
    """The additive identity of every tangent space; `ZERO` is its only instance."""

    __slots__ = ()
    __array_ufunc__ = None  # make numpy defer to our reflected operators

    def __repr__(self):
        return "ZERO"

    def __bool__(self):
        return False

    def __add__(self, other):
        return other

    __radd__ = __add__

    def __sub__(self, other):
        return -other

    def __rsub__(self, other):
        return other

    def __mul__(self, other):
        return self

    __rmul__ = __truediv__ = __rtruediv__ = __matmul__ = __rmatmul__ = __mul__
    __floordiv__ = __mod__ = __pow__ = __mul__

    def __neg__(self):
        return self

    __pos__ = __neg__

    def __getitem__(self, item):
        return self

    def __iter__(self):
        # Unpacking ZERO as a tuple of cotangents: yields ZERO forever, so
        # `da, db = ZERO` works through a bounded unpack.
        while True:
            yield self

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __reduce__(self):
        return "ZERO"


ZERO = ZeroTangent()


class Tangent:
    """The tangent of an object: one attribute per field, mirroring the primal.

    `Tangent(Dense, weight=dW, bias=db, activation=None)`; fields that are not
    differentiable are None. Supports `+` (accumulation) and equality.
    """

    __slots__ = ("_fields", "_primal_type")
    __array_ufunc__ = None  # numpy defers to these operators (an array times a tangent: error)

    def __init__(self, primal_type=None, /, **fields):
        object.__setattr__(self, "_primal_type", primal_type)
        object.__setattr__(self, "_fields", dict(fields))

    @classmethod
    def of(cls, primal_type, fields: dict):
        """`Tangent(primal_type, **fields)` taking the dict `fields` itself (not
        a copy): what generated gradient builders make, once per object."""
        t = object.__new__(cls)
        _SET_TYPE(t, primal_type)
        _SET_FIELDS(t, fields)
        return t

    def __getattr__(self, name):
        try:
            return object.__getattribute__(self, "_fields")[name]
        except KeyError:
            raise AttributeError(
                f"tangent of {self._type_name()} has no field {name!r}"
            ) from None

    def __setattr__(self, name, value):
        self._fields[name] = value

    def _type_name(self):
        t = self._primal_type
        return getattr(t, "__name__", "object") if t is not None else "object"

    def fields(self):
        """The field names and values, as a dict (a copy)."""
        return dict(self._fields)

    def get(self, name, default=None):
        """The tangent of field `name`, or `default` where it has none."""
        return self._fields.get(name, default)

    def __iter__(self):
        return iter(self._fields.items())

    def __add__(self, other):
        if isinstance(other, (int, float)) and not isinstance(other, bool) and other == 0:
            return self  # `sum(tangents)` starts from 0
        return add(self, other)

    __radd__ = __add__

    def __mul__(self, s):
        """Every field scaled by the number `s` (a learning rate, a mean)."""
        if not isinstance(s, (int, float, np.number)) or isinstance(s, bool):
            return NotImplemented
        return scale(self, s)

    __rmul__ = __mul__

    def __truediv__(self, s):
        if not isinstance(s, (int, float, np.number)) or isinstance(s, bool):
            return NotImplemented
        return scale(self, 1 / s)

    def __neg__(self):
        return scale(self, -1)

    def __sub__(self, other):
        return add(self, scale(other, -1))

    def __eq__(self, other):
        return isinstance(other, Tangent) and self._fields.keys() == other._fields.keys() and all(
            _equal(a, other._fields[k]) for k, a in self._fields.items()
        )

    __hash__ = None

    def __repr__(self):
        inner = ", ".join(f"{k}={_short(v)}" for k, v in self._fields.items())
        return f"Tangent[{self._type_name()}]({inner})"


_SET_TYPE = Tangent._primal_type.__set__  # (slot setters: `of` skips __setattr__)
_SET_FIELDS = Tangent._fields.__set__


def _short(v):
    if isinstance(v, np.ndarray):
        return f"array{v.shape}"
    return repr(v)


def _equal(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b)
    return a == b


def is_zero(t) -> bool:
    """True for the symbolic zero and for None (no gradient)."""
    return t is ZERO or t is None


class Refused:
    """The cotangent a rule cannot give (a keyword argument it has no
    derivative for). Harmless while the backward pass does not use it (the
    argument was a constant); the rule's error as soon as it is added,
    scaled or returned as a gradient."""

    __slots__ = ("error",)
    __array_ufunc__ = None  # numpy defers to the reflected operators below

    def __init__(self, error):
        self.error = error

    def fail(self, *args, **kwargs):
        raise self.error

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = fail
    __truediv__ = __rtruediv__ = __matmul__ = __rmatmul__ = __neg__ = __pos__ = fail
    __pow__ = __rpow__ = __getitem__ = __iter__ = __len__ = __float__ = fail

    def __repr__(self):
        return "Refused()"


def add(a, b):
    """Accumulate two cotangents of the same primal, structure by structure."""
    if a is ZERO or a is None:
        return b
    if b is ZERO or b is None:
        return a
    if type(a) is Tangent and isinstance(b, tuple) or type(b) is Tangent and isinstance(a, tuple):
        t, items = (a, b) if type(a) is Tangent else (b, a)
        names = getattr(t._primal_type, "_fields", None)  # a namedtuple's, by field
        if names is not None:                            # (p.a) and by index (p[0])
            return add(t, Tangent(t._primal_type, **dict(zip(names, items))))
    if isinstance(a, tuple):
        return tuple(add(x, y) for x, y in zip(a, b))
    if isinstance(a, list):
        return [add(x, y) for x, y in zip(a, b)]
    if isinstance(a, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = add(out.get(k, ZERO), v)
        return out
    if isinstance(a, Tangent):
        if not isinstance(b, Tangent):
            raise TypeError(f"cannot add a structural tangent and {type(b).__name__}")
        fields = dict(a._fields)
        for k, v in b._fields.items():
            fields[k] = add(fields.get(k, ZERO), v)
        return Tangent(a._primal_type or b._primal_type, **fields)
    return a + b


def scale(t, s):
    """Cotangent structure `t` times the number `s` (ZERO and None stay)."""
    if t is ZERO or t is None:
        return t
    if isinstance(t, tuple):
        return _like(t, [scale(v, s) for v in t])
    if isinstance(t, list):
        return [scale(v, s) for v in t]
    if isinstance(t, dict):
        return {k: scale(v, s) for k, v in t.items()}
    if isinstance(t, Tangent):
        return Tangent(t._primal_type, **{k: scale(v, s) for k, v in t._fields.items()})
    return t * s


def is_differentiable_value(x) -> bool:
    """Whether a primal value carries a gradient: floats, complex, float arrays."""
    t = type(x)
    if t is np.ndarray:
        return x.dtype.kind in "fc"
    if t is float:
        return True
    known = _BY_TYPE.get(t)
    if known is not None:
        return known
    if isinstance(x, (bool, str, type)) or x is None:
        answer = False
    elif isinstance(x, numbers.Number):
        answer = not isinstance(x, np.integer)
    else:
        dtype = getattr(x, "dtype", None)
        answer = isinstance(dtype, np.dtype) and dtype.kind in "fc"
    if not hasattr(t, "dtype") and len(_BY_TYPE) < 1024:
        _BY_TYPE[t] = answer  # decided by the type alone (a layer, a list, an int)
    return answer


_BY_TYPE: dict = {}  # type without a dtype -> is_differentiable_value's answer


def zero_like(x):
    """A real zero cotangent for the primal `x` (None where x is not differentiable)."""
    t = type(x)
    if t is np.ndarray:
        return np.zeros_like(x) if x.dtype.kind in "fc" else None
    if t is float:
        return 0.0
    if isinstance(x, _OPAQUE):
        return None
    if isinstance(x, numbers.Number) and not hasattr(x, "dtype"):
        return 0.0
    dtype = getattr(x, "dtype", None)
    if dtype is not None:
        if dtype.kind not in "fc":
            return None
        if isinstance(x, np.generic):
            return dtype.type(0)
        from .arrays import array_module

        return array_module(x).zeros_like(x)
    if isinstance(x, tuple):
        return _like(x, [zero_like(v) for v in x])
    if isinstance(x, list):
        return [zero_like(v) for v in x]
    if isinstance(x, dict):
        return {k: zero_like(v) for k, v in x.items()}
    if callable(x) and not hasattr(x, "__dict__"):
        return None
    fields = object_fields(x)
    if fields is None:
        return None
    return Tangent(type(x), **{k: zero_like(v) for k, v in fields.items()})


def _like(x, items):
    """A tuple of `items`, a namedtuple of x's type where x is one."""
    return type(x)(*items) if hasattr(type(x), "_fields") else tuple(items)


def materialize(t, x):
    """Replace every ZERO inside cotangent `t` by a real zero shaped like primal `x`."""
    if type(t) is np.ndarray and type(x) is np.ndarray and \
            (t.dtype is x.dtype or t.dtype == x.dtype) and t.shape == x.shape \
            and t.dtype.kind != "c":
        return t  # the common case, already concrete
    if t is ZERO or t is None:
        return zero_like(x)
    if is_complex(t):
        refuse_complex()
    if type(t) is Refused:
        t.fail()
    if type(t) is float and type(x) is float:
        return t
    # (a sequence's cotangent mirrors it: a tuple of layers iterated by zip()
    # or enumerate() gets its items' cotangents as a list, made a tuple here)
    if isinstance(x, tuple) and isinstance(t, (tuple, list)) and len(t) == len(x):
        return _like(x, [materialize(a, b) for a, b in zip(t, x)])
    if isinstance(x, list) and isinstance(t, (list, tuple)) and len(t) == len(x):
        return [materialize(a, b) for a, b in zip(t, x)]
    if isinstance(x, dict) and isinstance(t, dict):
        return {k: materialize(t.get(k, ZERO), v) for k, v in x.items()}
    if isinstance(t, Tangent):
        if isinstance(x, types.MethodType):  # a bound method: its object's tangent
            return materialize(t, x.__self__)
        fields = (closure_fields(x) if isinstance(x, types.FunctionType) else
                  object_fields(x)) or {}  # (a closure's fields: what it captures)
        out = {k: materialize(t._fields.get(k, ZERO), v) for k, v in fields.items()}
        if isinstance(x, tuple):  # a namedtuple: its gradient is one too, as in JAX
            return type(x)(**out)
        return Tangent(type(x), **out)
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return None
    if isinstance(x, (int, float)) and not isinstance(x, bool) and not hasattr(x, "dtype"):
        if getattr(type(t), "zygopy_rules_type", None) is not None:
            return t  # a forward-mode dual (a gradient taken inside a jvp): keep its tangent
        return float(t)
    dtype = getattr(x, "dtype", None)
    if dtype is not None and dtype.kind in "fc":
        if getattr(t, "dtype", None) != dtype:
            t = t.astype(dtype) if hasattr(t, "astype") else dtype.type(t)
        if isinstance(x, np.generic):
            return dtype.type(t)
    if dtype is not None and dtype.kind not in "fc":
        return None
    return t


def is_complex(g):
    """A complex number or array (structural cotangents are not looked into)."""
    t = type(g)
    if t is complex or t is np.ndarray:
        return t is complex or g.dtype.kind == "c"
    dtype = getattr(t, "dtype", None)  # on the type: no __getattr__ of tangents
    return dtype is not None and getattr(g.dtype, "kind", "") == "c"


def refuse_complex():
    """Complex values inside differentiated code are refused, not given a
    wrong gradient: zygopy's rules are written for real numbers (a complex
    convention would conjugate in every product and matmul)."""
    from ..errors import ZygopyError

    raise ZygopyError(
        "a complex number or array carries a gradient: zygopy differentiates real "
        "code, and its rules do not conjugate as complex gradients need. Possible "
        "fixes: write the computation on real and imaginary parts as real arrays "
        "(|z| = np.hypot(re, im)), or give the complex step a rule with @zygopy.rule")
