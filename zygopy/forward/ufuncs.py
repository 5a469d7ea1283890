"""Ufuncs on duals: derivatives from the formula table (rules/formulas.py)."""

from __future__ import annotations

import functools
import math

import numpy as np

from ..errors import NoRuleError
from ..rules.formulas import HELPERS
from .dual import Dual, NoForwardRule, _primals, dual, primal, tangent

_PARTIALS: dict = {}  # ufunc -> tuple of compiled partial functions (or "0"/"1")


def _partials(ufunc):
    """The partial derivatives of `ufunc` from the formula table, compiled."""
    if ufunc in _PARTIALS:
        return _PARTIALS[ufunc]
    from ..rules.formulas import formula_of
    from ..rules.render import render

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
        fns.append(eval(src, {"np": np, "math": math, "_zp": HELPERS}))
    if ufunc in (np.power, np.float_power):
        fns[0] = _power_base_partial
    if ufunc is np.ldexp:
        fns[0] = _ldexp_partial
    _PARTIALS[ufunc] = tuple(fns)
    return _PARTIALS[ufunc]


def _push(partial, t, primals, out):
    if partial == "1":
        return t
    if partial == "-1":
        return -t
    if partial == "0":
        return None
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # as numpy, not Python, would
        return partial(*[np.float64(p) if type(p) in (int, float) else p
                         for p in primals], out) * t


def _power_base_partial(x, y, out):
    """d(x ** y)/dx = y x^(y-1), and 0 for y == 0 (also at x == 0)."""
    return np.where(y == 0, 0.0, y * x ** np.where(y == 0, 1, y - 1))


def _ldexp_partial(x, i, out):
    """d ldexp(x, i)/dx = 2**i, with i back to an integer (`_push` made a
    Python int a float64, which np.ldexp refuses)."""
    return np.ldexp(1.0, np.asarray(i).astype(np.int64))


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
        if ufunc is np.conjugate:  # linear (the tangent of a real value is real)
            return dual(out, None if tangents[0] is None else np.conjugate(tangents[0]))
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
        if t is None:
            return out
        options = {k: v for k, v in kwargs.items() if k != "initial"}  # an offset
        return Dual(out, getattr(ufunc, method)(t, *primals[1:], **options))
    if method == "accumulate" and ufunc in (np.maximum, np.minimum):
        return _running_extremum(ufunc, inputs[0], kwargs.get("axis", 0))
    if method == "reduce" and ufunc in (np.maximum, np.minimum):
        fn = np.max if ufunc is np.maximum else np.min
        options = {"axis": 0} | {k: v for k, v in kwargs.items() if k != "dtype"}
        return fn(inputs[0], **options)
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


def _running_extremum(ufunc, x, axis):
    """`np.maximum.accumulate(x, axis)` (or minimum): y_j is the extremum of
    x_i, i <= j, and dy_j the mean tangent of the x_i (i <= j) equal to y_j,
    ties split evenly as in the reverse rule (rules/reductions.py)."""
    p = primal(x)
    out = ufunc.accumulate(p, axis)
    if tangent(x) is None:
        return out
    xs, ys, t = (np.moveaxis(a, axis, -1)
                 for a in (p, out, np.broadcast_to(x.tangent, np.shape(p))))
    n = np.shape(xs)[-1]
    earlier = np.tril(np.ones((n, n), dtype=bool)).T  # [i, j]: i <= j
    hit = (xs[..., :, None] == ys[..., None, :]) & earlier
    count = np.maximum(np.sum(hit, axis=-2), 1)
    dy = np.sum(hit * t[..., :, None], axis=-2) / count
    return Dual(out, np.moveaxis(dy, -1, axis))


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


def _refuse_objects(fn, a):
    """A user object reaching an inlined formula (`float(v)`, `abs(v)`,
    `math.sqrt(v)`): it would run the object's `__float__`/`__abs__`, whose
    derivative the formula for numbers does not know."""
    from ..runtime.dunders import user_method

    name = getattr(fn, "__name__", "?")
    method = "__abs__" if fn is abs else "__float__"
    if user_method(a, method) is not None:
        raise NoRuleError(fn, f" ({name}() of an object of class {type(a).__name__}, inside "
                              "differentiated code: the derivative zygopy inlines is the "
                              "one for numbers, which would give the object's fields no "
                              f"gradient; call the method explicitly: v.{method}() is "
                              "differentiated like any method)")


def math_call(fn):
    """`fn` for a math-module function with no numpy counterpart (erf), made to
    accept duals: the tangent comes from its formula row, rendered for `math`."""
    return functools.partial(_math_call, fn)


def _math_call(fn, *args):
    if not any(type(a) is Dual for a in args):
        for a in args:
            if type(a) is not float and type(a) is not int:
                _refuse_objects(fn, a)
        return fn(*args)
    from ..rules.formulas import formula_of
    from ..rules.render import render

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
                           f"{render(row.tree(d), names, 'math')}", {"math": math, "np": np, "_zp": HELPERS})
            t = t + partial(*primals, out) * a.tangent
    return Dual(out, t)


def row_call(fn):
    """`fn`, the function of a formula row spelled with numpy (a user's
    `zp.elementwise` function, or layers' relu), made to take duals: the
    tangent comes from the row's partials, as reverse mode's cotangent does,
    not from running `fn`'s body on duals (which a row may exist to avoid:
    log1pexp at 1000 overflows in its body, not in its formula)."""
    return functools.partial(_row_call, fn)


def _row_call(fn, *args):
    if not any(type(a) is Dual for a in args):
        return fn(*args)
    partials = _ROW_PARTIALS.get(fn)
    if partials is None:
        from ..rules.formulas import formula_of
        from ..rules.render import render

        row = formula_of(fn)
        names = {p: p for p in row.params} | {"out": "out"}
        env = {"math": math, "np": np, "_zp": HELPERS}
        partials = _ROW_PARTIALS[fn] = [
            eval(f"lambda {', '.join(row.params)}, out: {render(row.tree(d), names, 'np')}",
                 env) for d in row.partials]
    primals = [primal(a) for a in args]
    out = fn(*primals)
    t = 0.0
    for a, partial in zip(args, partials):
        if type(a) is Dual:
            t = t + partial(*primals, out) * a.tangent
    return Dual(out, t)


_ROW_PARTIALS: dict = {}  # fn -> its row's partials, as functions of the primals and out
