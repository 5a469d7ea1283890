"""Everything generated code calls, as one namespace (`_zp.` in generated source)."""

from __future__ import annotations

import math  # noqa: F401  (formulas in generated code)
import numbers
import operator
import types

import numpy as np

from ..errors import NoRuleError, NotScalarError, ZygopyError
from ..forward import Dual as _Dual
from ..forward import math_call  # noqa: F401  (math functions numpy lacks, on duals)
from ..forward import primal as _primal
from ..rules.formulas import lognan, powexp, step  # noqa: F401  (formulas: maximum, pow)
from ..rules.indexing import scatter_add  # noqa: F401  (np.add.at, rewritten)
from ..rules.linalg import matmul_adjoint  # noqa: F401  (inlined `a @ b`)
from ..rules.reductions import (  # noqa: F401  (inlined reductions)
    max_adjoint,
    max_of,
    mean_adjoint,
    mean_of,
    min_adjoint,
    min_of,
    sum_adjoint,
    sum_of,
)
from ..rules.registry import RULES, lookup, method_key, rule
from ..rules.special import digamma, trigamma  # noqa: F401  (formulas: gamma's)
from . import dispatch as _dispatch
from . import dunders as _dunders
from .arrays import array_module, is_device_array, rows_cotangent, unbroadcast
from .dispatch import (  # noqa: F401
    ANY_IMPLICIT,
    THREAD,
    Stale,
    _plain,
    call,
    call_function,
    call_masked,
    call_method,
    call_method_masked,
    carries_gradient,
    class_attribute,
)
from .dunders import refuse_unpacking
from .structure import may_share
from .tangents import ZERO, Tangent, add, is_differentiable_value

op_add, op_sub, op_mul, op_truediv = operator.add, operator.sub, operator.mul, operator.truediv
op_pow, op_floordiv, op_mod, op_matmul = operator.pow, operator.floordiv, operator.mod, \
    operator.matmul
op_neg, op_pos = operator.neg, operator.pos


def _augmented(op, name):
    """`op_i<name>`: generated code's `x op= y`, a new value as `x = x op y` for
    numbers, arrays and lists (updates of shared arrays are refused apart),
    the class's `__i<name>__` for an object that has one."""
    def augmented(a, b):
        return op(a, b)

    augmented.__name__ = augmented.__qualname__ = f"op_i{name}"
    RULES[augmented] = RULES[op]
    _dunders.AUGMENTED[augmented] = (op, f"__i{name}__")
    return augmented


op_iadd, op_isub, op_imul, op_itruediv = (
    _augmented(op, n) for op, n in ((operator.add, "add"), (operator.sub, "sub"),
                                    (operator.mul, "mul"), (operator.truediv, "truediv")))
op_ipow, op_ifloordiv, op_imod, op_imatmul = (
    _augmented(op, n) for op, n in ((operator.pow, "pow"), (operator.floordiv, "floordiv"),
                                    (operator.mod, "mod"), (operator.matmul, "matmul")))


_F32_ONE = np.float32(1)


def seed(y):
    """The cotangent 1 of a real scalar output `y` (what `gradient` seeds its
    backward pass with), or a NotScalarError saying what `y` is instead."""
    t = type(y)
    if t is float or t is np.float64:
        return 1.0
    if t is np.float32:
        return _F32_ONE
    if t is _Dual:  # a gradient run on duals (a jvp of it): seeded as its value
        return seed(y.primal)
    if isinstance(y, bool) or not _is_real_scalar(y):
        shape = getattr(y, "shape", None)
        what = f"an array of shape {shape}" if shape is not None else type(y).__name__
        raise NotScalarError(
            f"gradient needs a function that returns a real scalar, but it returned "
            f"{what}.\nPossible fixes:\n"
            "  - reduce the output first, e.g. np.sum(...) or a loss function\n"
            "  - use zygopy.pullback(f, *args) and call back(dy) with a cotangent "
            "shaped like the output\n"
            "  - use zygopy.jacobian(f, x) for the full Jacobian")
    if isinstance(y, np.generic):
        return y.dtype.type(1)
    if _is_array(y):  # a 0-d array, numpy's or a device's (CuPy)
        return array_module(y).ones_like(y)
    return 1.0


def _is_real_scalar(y):
    if isinstance(y, numbers.Real):
        return True
    return _is_array(y) and y.ndim == 0 and y.dtype.kind == "f"


def _is_array(y):
    """A numpy array, or a device array (CuPy's: it has the CUDA interface)."""
    return isinstance(y, np.ndarray) or is_device_array(y)


def add_into(y, b):
    """`y + b` written into `y` (a new array of the generated code's own, read
    by nothing else) where `b` is an array of `y`'s dtype broadcasting only
    along `y`'s leading axes; else `y + b`."""
    if type(y) is np.ndarray and type(b) is np.ndarray and b.dtype is y.dtype \
            and b.ndim <= y.ndim and y.shape[y.ndim - b.ndim:] == b.shape \
            and y.flags.writeable:
        return np.add(y, b, out=y)
    return y + b


class _Unbound:
    """What a local the forward packs holds until the user's code binds it
    (`zygopy.compiler.unbound`): a read of it raises UnboundLocalError first."""

    __slots__ = ()

    def __repr__(self):
        return "<unbound>"


UNBOUND = _Unbound()


def unbound_local(name):
    """Python's own error for a read of local `name` before any assignment."""
    raise UnboundLocalError(
        f"cannot access local variable {name!r} where it is not associated with a value")


def stale():
    """A guarded callee was rebound since compilation."""
    raise Stale()


def item(d, key):
    """Entry `key` of a structured cotangent (ZERO when absent)."""
    if d is ZERO or d is None:
        return ZERO
    if isinstance(d, dict):
        return d.get(key, ZERO)
    v = d[key]
    return ZERO if v is None else v


def entry_adjoint(d, key, later_keys, later_maps):
    """Cotangent of the value at `key` in a dict display whose later entries
    are `later_keys` and the mappings `later_maps` (`**m`): ZERO if one of
    them replaced it."""
    if key in later_keys or any(key in m for m in later_maps):
        return ZERO
    return item(d, key)


def unpacked_adjoint(d, mapping, later_keys, later_maps):
    """Cotangent of a mapping unpacked into a dict display (`{**m, ...}`): the
    cotangents of its keys that no later entry replaced."""
    if d is ZERO or d is None:
        return ZERO
    return {k: d.get(k, ZERO) for k in mapping
            if k not in later_keys and not any(k in m for m in later_maps)}


def field(d, name):
    """Field `name` of a structural cotangent (ZERO when absent)."""
    if d is ZERO or d is None:
        return ZERO
    v = getattr(d, "_fields", {}).get(name, ZERO)
    return ZERO if v is None else v


def closure_tangent(**fields):
    """The tangent of a closure: one field per captured variable."""
    return Tangent(None, **fields)


def attr_adjoint(d_obj, obj, name, dv):
    """Accumulate the cotangent `dv` of `obj.name` into `d_obj`."""
    if dv is ZERO or dv is None:
        return d_obj
    t = type(obj)
    if name == "__dict__" and isinstance(dv, dict) and hasattr(obj, "__dict__"):
        field = Tangent(t, **dv)  # `self.__dict__["w"]`: each entry is the field
        return field if d_obj is ZERO or d_obj is None else add(d_obj, field)
    key = method_key(obj, name)
    if key is None and name in getattr(obj, "__dict__", ()) \
            and not is_differentiable_value(obj):  # an instance's own field: the common case
        if d_obj is ZERO or d_obj is None:
            return Tangent(t, **{name: dv})
        if type(d_obj) is Tangent and d_obj._primal_type is t:
            fields = d_obj._fields
            old = fields.get(name)
            return Tangent(t, **{**fields, name: dv if old is None else add(old, dv)})
        return add(d_obj, Tangent(t, **{name: dv}))
    rrule = RULES.get(key) if key is not None else None
    if rrule is not None:  # a property with a rule, such as an array's .T
        _, pb = rrule(obj)
        return add(d_obj, unbroadcast(pb(dv)[0], obj))
    prop = class_attribute(t, name) if name not in getattr(obj, "__dict__", ()) else None
    if isinstance(prop, property) and isinstance(prop.fget, types.FunctionType):
        # a user's property: its getter, differentiated (run again here: it reads
        # fields the differentiated code does not change), sends dv to the fields
        _, pb = call_function(prop.fget, (obj,), {}, need_free=True)
        d_fields = pb(dv)[1]
        return d_fields if d_obj is ZERO or d_obj is None else add(d_obj, d_fields)
    getter = _plain(class_attribute(t, "__getattr__")) \
        if prop is None and t is not Tangent else None  # (a Tangent's fields: below)
    if isinstance(getter, types.FunctionType) and name not in getattr(obj, "__dict__", ()):
        # computed by the class's __getattr__: differentiated, as a property's getter
        _, pb = call_function(getter, (obj, name), {}, need_free=True)
        d_fields = pb(dv)[1]
        return d_fields if d_obj is ZERO or d_obj is None else add(d_obj, d_fields)
    if isinstance(_plain(prop), types.FunctionType) and not is_differentiable_value(obj):
        # `m = obj.method`: a bound method's tangent (what calling it gave) is its object's
        return dv if d_obj is ZERO or d_obj is None else add(d_obj, dv)
    if is_differentiable_value(obj):  # a number's or an array's: no field of an object
        raise NoRuleError(f"{t.__name__}.{name}", " (an attribute of a differentiable "
                          f"{t.__name__}, with no rule: its gradient would be lost)")
    field = Tangent(t, **{name: dv})  # an object's field
    return field if d_obj is ZERO or d_obj is None else add(d_obj, field)


def unpack_adjoint(value, parts):
    """Cotangent of `value` from the cotangents of its unpacked parts."""
    refuse_unpacking(value)
    if isinstance(value, list):
        return list(parts)
    if isinstance(value, tuple):
        return tuple(parts)
    if hasattr(value, "shape"):  # a, b = array: rows
        if all(p is ZERO or p is None for p in parts):
            return ZERO
        xp = np
        out = xp.zeros_like(value)
        for i, p in enumerate(parts):
            if p is not ZERO and p is not None:
                out[i] = p
        return out
    return tuple(parts)


def length(x):
    return len(x)


def split(d, sizes):
    """Split the cotangent of `(a, *rest, b)` into parts by element counts."""
    out, i = [], 0
    for size in sizes:
        if size is None:
            out.append(item(d, i))
            i += 1
        else:
            out.append(tuple(item(d, j) for j in range(i, i + size)))
            i += size
    return out


def as_sequence(parts, like):
    return list(parts) if isinstance(like, list) else tuple(parts)


def split_grads(grads, positional, keywords):
    """The cotangents of a call's arguments as written, from the flat tuple its
    pullback returns (the callee's first): one per plain argument, a sequence
    for each `*xs` (`positional` holds xs there, None elsewhere) and a dict for
    each `**kw` (`keywords` holds kw there)."""
    out, i = [], 1
    for xs in positional:
        if xs is None:
            out.append(grads[i])
            i += 1
        else:
            refuse_unpacking(xs)  # `f(*v)` of an object iterated by its __iter__
            out.append(as_sequence(grads[i:i + len(xs)], xs))
            i += len(xs)
    for kw in keywords:
        if kw is None:
            out.append(grads[i])
            i += 1
        else:
            out.append(dict(zip(kw, grads[i:i + len(kw)])))
            i += len(kw)
    return tuple(out)


def implicit(x, dx):
    """Hand the adjoint of a global to the implicit-parameter context (Params)."""
    if ANY_IMPLICIT and THREAD.implicit and dx is not ZERO and dx is not None:
        THREAD.implicit[-1].accumulate(x, dx)


# -- mutation -----------------------------------------------------------------
# `a[index] = v` overwrites part of an array that earlier adjoints may read.
# The forward saves the overwritten part (`save_item`); the backward swaps it
# back in before the adjoints of earlier statements run (`restore_item`) and,
# once it is done, swaps every saved part out again (`redo`). So a pullback
# leaves arrays as the forward left them: the function's result is not
# clobbered and the pullback can run again (jacobian calls it once a row).
class Overwritten:
    """What `a[index] = v` overwrote: the array, the index and the old value."""

    __slots__ = ("a", "index", "value")

    def __init__(self, a, index):
        self.a, self.index = a, index
        self.value = _get(a, index)

    def swap(self):
        """Put the saved value back into the array, keeping the one it displaces."""
        current = _get(self.a, self.index)
        if self.value is _ABSENT:  # a new dict key
            del self.a[self.index]
        else:
            self.a[self.index] = self.value
        self.value = current


_ABSENT = object()


def _get(a, index):
    if isinstance(a, dict) and index not in a:
        return _ABSENT
    v = a[index]
    return v.copy() if hasattr(v, "copy") else v


def set_field(obj, name, value):
    """`obj.name = value` in differentiated code, for values without a gradient
    (a counter, a flag); a differentiable value is refused, not silently cut."""
    if type(value) is not int and carries_gradient(value):
        what = f"an array of shape {value.shape}" if hasattr(value, "shape") else \
            f"a {type(value).__name__}"
        raise ZygopyError(
            f"storing a differentiable value ({what}) in the field `{name}` of a "
            f"{type(obj).__name__} inside differentiated code: no gradient flows "
            "through object fields written while the function runs.\n"
            "Possible fixes:\n"
            "  - keep the value in a local variable, or return it\n"
            "  - store zygopy.stop_gradient(value) if it is kept only to be looked "
            "at later (logging, a cache)\n"
            "  - update the object outside the function you differentiate")
    setattr(obj, name, value)


def save_item(a, index):
    """Record the value `a[index]` holds before an assignment overwrites it."""
    return Overwritten(a, index)


def set_item(a, index, v):
    """`a[index] = v` in differentiated code; returns `a`. A forward-mode Dual
    (jvp, hessian) written into a plain array, one made by np.zeros, makes it
    a Dual over the same buffer with a zero tangent, which then holds it."""
    if getattr(type(v), "zygopy_rules_type", None) is not None and type(a) is np.ndarray:
        from ..forward import Dual

        a = Dual(a, np.zeros(a.shape, np.result_type(a, np.asarray(v.tangent))))
    a[index] = v
    return a


def restore_item(saved, redo_list):
    """Undo the assignment `saved` recorded (the backward reached it)."""
    saved.swap()
    redo_list.append(saved)


def redo(redo_list):
    """Re-apply, in forward order, every assignment the backward undid."""
    for saved in reversed(redo_list):
        saved.swap()


def read_item(d, index):
    """The cotangent of `v` in `a[index] = v`: `d[index]`, where an index array
    that names a position twice credits only its last write (numpy's rule)."""
    if d is ZERO or d is None:
        return ZERO
    if isinstance(d, (list, tuple, dict)):
        return item(d, index)
    g = d[index]
    if not _has_index_array(index):
        return g
    xp = array_module(d)
    writer = xp.full(d.shape, -1, dtype=np.intp)
    order = xp.arange(g.size, dtype=np.intp).reshape(g.shape)
    writer[index] = order
    return xp.where(writer[index] == order, g, 0)


def _has_index_array(index):
    parts = index if isinstance(index, tuple) else (index,)
    for p in parts:
        if isinstance(p, list):
            p = np.asarray(p)
        if getattr(p, "ndim", 0) > 0 and p.dtype.kind in "iu":
            return True
    return False


def zero_item(d, index):
    """`d` with `d[index]` zeroed (a copy): the overwritten part got no gradient."""
    if d is ZERO or d is None:
        return ZERO
    d = d.copy()
    if isinstance(d, dict):
        d.pop(index, None)
    else:
        d[index] = ZERO if isinstance(d, list) else 0
    return d


# -- updates of arrays another name may share (compiler.aliases.guard) ------------
def unshared(a, index, others, key, augmented=False):
    """Before `a[index] = v` (or `a op= v`, index None): refuse the update,
    at the user's line, if one of `others` (names read after it) shares the
    memory it writes; a number, a new array or another row does not."""
    if _writes_shared(a, index, others, augmented):
        from ..compiler.aliases import refused_at_run_time

        refused_at_run_time(key)


def _writes_shared(a, index, others, augmented):
    """Whether the update `unshared` guards writes memory one of `others` holds."""
    if type(a) is _Dual or any(type(o) is _Dual for o in others):  # (second order)
        return _writes_shared(_primal(a), index, tuple(map(_primal, others)), augmented)
    if type(a) in (float, int, complex) or isinstance(a, np.generic):
        return False  # numbers do not change in place: `z += y` makes a new one
    if type(a) is np.ndarray:
        region = a[index] if index is not None and _basic(index) else a
        if type(region) is not np.ndarray:  # one element: a view of it
            region = a[_as_slices(index)]
        return any(may_share(region, other) for other in others)
    if isinstance(a, (list, dict)) and index is not None:
        item = a[index] if augmented else None  # `xs[i] += v` changes an array item;
        return isinstance(item, np.ndarray) and any(  # setting an item changes no
            may_share(item, o) for o in others)         # value the list held
    return any(hasattr(o, "shape") for o in others)  # (a device array: not looked into)


def _basic(index):
    """Whether `index` selects a view: ints, slices, Ellipsis, None."""
    parts = index if type(index) is tuple else (index,)
    return all(p is None or p is Ellipsis or type(p) is slice
               or isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in parts)


def _as_slices(index):
    """A basic index with each int i as the slice i:i+1 (a view, not a number)."""
    parts = index if type(index) is tuple else (index,)
    return tuple(slice(p, p + 1 if p != -1 else None) if isinstance(p, (int, np.integer))
                 else p for p in parts)


# -- type checks of forward-mode duals --------------------------------------------
def isinstance_of(x, types_):
    """`isinstance(x, types_)` of x's primal (generated code's isinstance)."""
    return isinstance(_primal(x), types_)


def type_of(x):
    """`type(x)` of x's primal (generated code's one-argument type)."""
    return type(_primal(x))


def without_tangents(f, *args, **kwargs):
    """`f(*args, **kwargs)` for a function declared non-differentiable, on the
    primals of forward-mode Duals among the arguments: its result carries no
    tangent, as it carries no cotangent (`jvp` agrees with `gradient`)."""
    for a in args:
        if type(a) is _Dual:
            break
    else:
        if not kwargs:
            return f(*args)
    return f(*map(_primal, args), **{k: _primal(v) for k, v in kwargs.items()})


# -- containers ---------------------------------------------------------------
def getitem(x, index):
    """`x[index]` for arrays, lists, tuples and dicts (one differentiable op)."""
    return x[index]


_dispatch._GETITEM[0] = getitem  # (a user class's own __getitem__ runs instead)


@rule(getitem)
def getitem_rule(x, index):
    if isinstance(x, (list, tuple)):
        y = x[index]
        n = len(x)  # now: a list may grow before the pullback runs

        def sequence_getitem_pullback(dy):
            dx = [ZERO] * n
            if isinstance(index, slice):
                for i, g in zip(range(*index.indices(n)), dy):
                    dx[i] = g
            else:
                dx[index] = dy
            return (tuple(dx) if isinstance(x, tuple) else dx), None

        return y, sequence_getitem_pullback
    if isinstance(x, dict):
        def dict_getitem_pullback(dy):
            return {index: dy}, None

        return x[index], dict_getitem_pullback
    array_rule = lookup(operator.getitem)
    if array_rule is None:
        raise NotImplementedError("array indexing rules are not registered")
    return array_rule(x, index)


def list_pop(xs, i=-1):
    """`v = xs.pop(i)` as `xs, v = list_pop(xs, i)` (see `list_append`)."""
    v = xs.pop(i)
    return xs, v


@rule(list_pop)
def list_pop_rule(xs, i=-1):
    n = len(xs)
    at = i % n if n else 0
    v = xs.pop(i)

    def list_pop_pullback(d):
        dxs, dv = (ZERO, ZERO) if d is ZERO or d is None else d
        dxs = [ZERO] * (n - 1) if dxs is ZERO or dxs is None else list(dxs)
        return dxs[:at] + [dv] + dxs[at:], None

    return (xs, v), list_pop_pullback


def indexable(xs):
    """What a loop over `xs` walks by index: `xs` itself when it can be indexed
    by position (lists, tuples, arrays), else a list of what it yields (the
    keys of a dict, an iterator's items)."""
    if isinstance(xs, (list, tuple, np.ndarray)) or \
            hasattr(xs, "__getitem__") and hasattr(xs, "__len__") and not isinstance(xs, dict):
        return xs
    return list(xs)


class Items:
    """The cotangents of the items a loop read from a sequence by index
    (`for v in xs`), gathered in the backward pass; `of(xs)` is the sequence's
    cotangent: a list or tuple like it, or an array for an array's rows."""

    __slots__ = ("by_index",)

    def __init__(self):
        self.by_index = {}

    def add(self, i, g):
        if g is ZERO or g is None:
            return
        old = self.by_index.get(i)
        self.by_index[i] = g if old is None else add(old, g)

    def of(self, xs):
        if not self.by_index or isinstance(xs, dict):  # a dict's keys: no gradient
            return ZERO
        if not isinstance(xs, (list, tuple)) and getattr(xs, "shape", None) is None:
            raise ZygopyError(
                f"a loop over a {type(xs).__name__} read differentiable values, but "
                "zygopy sends gradients back only to lists, tuples, dicts and arrays "
                "walked by a loop: loop over a list of the values instead")
        d = [self.by_index.get(i, ZERO) for i in range(len(xs))]
        if isinstance(xs, (list, tuple)):
            return tuple(d) if isinstance(xs, tuple) else d
        return rows_cotangent(d, xs)


def list_append(xs, v):
    """`xs.append(v)`, returning xs: the functional form the compiler emits."""
    xs.append(v)
    return xs


def list_extend(xs, vs):
    """`xs.extend(vs)`, returning xs (as `list_append`)."""
    xs.extend(vs)
    return xs


def _growing_rule(grow, added):
    """The rule of `grow(xs, v)` (append, extend): the first cotangents go back
    to xs, the rest to v (`added(rest, v)` gives them v's form)."""

    def growing_rule(xs, v):
        n = len(xs)
        grow(xs, v)

        def growing_pullback(dxs):
            if dxs is ZERO or dxs is None:
                return ZERO, ZERO
            return list(dxs[:n]), added(dxs[n:], v)

        return xs, growing_pullback

    return growing_rule


rule(list_append)(_growing_rule(list_append, lambda rest, v: rest[0]))
rule(list_extend)(_growing_rule(
    list_extend, lambda rest, vs: tuple(rest) if isinstance(vs, tuple) else list(rest)))
