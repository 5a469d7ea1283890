"""Elementwise numpy rules: one formula row per ufunc, plus clip, where, copy, astype.

Rows are read by the compiler (inlined adjoints), the registry (a derived
rrule) and the fusion pass (numpy buffers, CUDA C); see formulas.py for the
expression language (`out` is the ufunc's output).

Ties: `maximum`/`minimum`/`fmax`/`fmin` split the cotangent evenly between
equal inputs (as the max/min reductions do), so the gradient is symmetric.
`fmax`/`fmin` send it all to the non-NaN input. Piecewise-constant functions
(sign, floor, round, ...) and predicates are `nondifferentiable`: their
outputs carry no gradient, so the gradient through them is zero.
"""

from __future__ import annotations

import numpy as np

from ..runtime.arrays import unbroadcast
from ..runtime.tangents import refuse_complex
from ._helpers import array_module, is_discrete, named, nones
from .formulas import elementwise
from .registry import nondifferentiable, rule

LN2 = "0.6931471805599453"
LN10 = "2.302585092994046"
PI = "3.141592653589793"
D2R = "0.017453292519943295"  # pi / 180
R2D = "57.29577951308232"  # 180 / pi

# arithmetic
elementwise(np.add, "np_add", "x y", "x + y", "1", "1")
elementwise(np.subtract, "np_subtract", "x y", "x - y", "1", "-1")
elementwise(np.multiply, "np_multiply", "x y", "x * y", "y", "x")
# np.divide is np.true_divide
elementwise(np.divide, "np_divide", "x y", "x / y", "1 / y", "-out / y")
elementwise(np.power, "np_power", "x y", "x ** y",
            "y * x ** powexp(y)", "out * lognan(where(x == 0, 1, x))")
elementwise(np.float_power, "np_float_power", "x y", "x ** y",
            "y * x ** powexp(y)", "out * lognan(where(x == 0, 1, x))")
elementwise(np.negative, "np_negative", "x", "-x", "-1")
elementwise(np.positive, "np_positive", "x", "+x", "1")
elementwise(np.absolute, "np_absolute", "x", "abs(x)", "sign(x)")  # = np.abs
elementwise(np.fabs, "np_fabs", "x", "abs(x)", "sign(x)")
elementwise(np.square, "np_square", "x", "x * x", "2 * x")
elementwise(np.reciprocal, "np_reciprocal", "x", "1 / x", "-out * out")
elementwise(np.remainder, "np_remainder", "x y", "x % y", "1", "-(x // y)")  # = np.mod
# C's fmod truncates the quotient (remainder floors it)
elementwise(np.fmod, "np_fmod", "x y", "fmod(x, y)", "1", "-trunc(x / y)")
# |x| with y's sign: x's own sign times y's
elementwise(np.copysign, "np_copysign", "x y", "copysign(x, y)",
            "copysign(1.0, x) * copysign(1.0, y)", "0")
# the next float after x towards y: x moved by one unit in the last place, so
# a nudge of x moves it alike (as the difference quotient sees it); y only
# picks the direction
elementwise(np.nextafter, "np_nextafter", "x y", "nextafter(x, y)", "1", "0")
# x 2**i: linear in x; the integer exponent i carries no gradient
elementwise(np.ldexp, "np_ldexp", "x i", "ldexp(x, i)", "ldexp(1.0, i)", "0")

# maxima and minima (ties split evenly; fmax/fmin ignore NaN): step(x, y) is
# 1, 0.5 or 0 in the operands' dtype
elementwise(np.maximum, "np_maximum", "x y", "maximum(x, y)", "step(x, y)", "step(y, x)")
elementwise(np.minimum, "np_minimum", "x y", "minimum(x, y)", "step(y, x)", "step(x, y)")
elementwise(np.fmax, "np_fmax", "x y", "fmax(x, y)",
            "where(out == x, where(x == y, 0.5, 1), 0)",
            "where(out == y, where(x == y, 0.5, 1), 0)")
elementwise(np.fmin, "np_fmin", "x y", "fmin(x, y)",
            "where(out == x, where(x == y, 0.5, 1), 0)",
            "where(out == y, where(x == y, 0.5, 1), 0)")

# powers, exponentials, logarithms
elementwise(np.sqrt, "np_sqrt", "x", "sqrt(x)", "0.5 / out")
elementwise(np.cbrt, "np_cbrt", "x", "cbrt(x)", "1 / (3 * out * out)")
elementwise(np.exp, "np_exp", "x", "exp(x)", "out")
elementwise(np.exp2, "np_exp2", "x", "2 ** x", f"{LN2} * out")
elementwise(np.expm1, "np_expm1", "x", "expm1(x)", "out + 1")
elementwise(np.log, "np_log", "x", "log(x)", "1 / x")
elementwise(np.log2, "np_log2", "x", "log2(x)", f"1 / ({LN2} * x)")
elementwise(np.log10, "np_log10", "x", "log10(x)", f"1 / ({LN10} * x)")
elementwise(np.log1p, "np_log1p", "x", "log1p(x)", "1 / (1 + x)")
elementwise(np.logaddexp, "np_logaddexp", "x y",
            "maximum(x, y) + log1p(exp(-abs(x - y)))",
            "exp(x - out)", "exp(y - out)")
elementwise(np.logaddexp2, "np_logaddexp2", "x y",
            f"maximum(x, y) + log1p(2 ** -abs(x - y)) / {LN2}",
            "2 ** (x - out)", "2 ** (y - out)")

# trigonometric and hyperbolic
elementwise(np.sin, "np_sin", "x", "sin(x)", "cos(x)")
elementwise(np.cos, "np_cos", "x", "cos(x)", "-sin(x)")
elementwise(np.tan, "np_tan", "x", "tan(x)", "1 + out * out")
elementwise(np.arcsin, "np_arcsin", "x", "arcsin(x)", "1 / sqrt(1 - x * x)")
elementwise(np.arccos, "np_arccos", "x", "arccos(x)", "-1 / sqrt(1 - x * x)")
elementwise(np.arctan, "np_arctan", "x", "arctan(x)", "1 / (1 + x * x)")
elementwise(np.sinh, "np_sinh", "x", "sinh(x)", "cosh(x)")
elementwise(np.cosh, "np_cosh", "x", "cosh(x)", "sinh(x)")
elementwise(np.tanh, "np_tanh", "x", "tanh(x)", "1 - out * out")
elementwise(np.arcsinh, "np_arcsinh", "x", "arcsinh(x)", "1 / sqrt(x * x + 1)")
elementwise(np.arccosh, "np_arccosh", "x", "arccosh(x)", "1 / sqrt(x * x - 1)")
elementwise(np.arctanh, "np_arctanh", "x", "arctanh(x)", "1 / (1 - x * x)")
elementwise(np.arctan2, "np_arctan2", "x y", "arctan2(x, y)",
            "y / (x * x + y * y)", "-x / (x * x + y * y)")
elementwise(np.hypot, "np_hypot", "x y", "hypot(x, y)", "x / out", "y / out")
elementwise(np.sinc, "np_sinc", "x",  # sinc'(0) = 0
            f"where(x == 0, 1, sin({PI} * x) / ({PI} * where(x == 0, 1, x)))",
            f"where(x == 0, 0, (cos({PI} * x) - out) / where(x == 0, 1, x))")
elementwise(np.deg2rad, "np_deg2rad", "x", f"x * {D2R}", D2R)
elementwise(np.rad2deg, "np_rad2deg", "x", f"x * {R2D}", R2D)
# np.radians/np.degrees are separate ufunc objects in some numpy versions
if np.radians is not np.deg2rad:
    elementwise(np.radians, "np_radians", "x", f"x * {D2R}", D2R)
    elementwise(np.degrees, "np_degrees", "x", f"x * {R2D}", R2D)

# piecewise constant, predicates, logic: no gradient flows through them
nondifferentiable(
    np.sign, np.floor, np.ceil, np.rint, np.trunc, np.fix, np.round, np.floor_divide,
    np.signbit, np.heaviside, np.isnan, np.isinf, np.isfinite, np.isclose,
    np.allclose, np.array_equal, np.equal, np.not_equal, np.less, np.less_equal,
    np.greater, np.greater_equal, np.logical_and, np.logical_or, np.logical_not,
    np.logical_xor, np.any, np.all, np.ndarray.any, np.ndarray.all,
    np.ndarray.round, np.around, np.isneginf, np.isposinf, np.iscomplex, np.isreal,
    np.bitwise_and, np.bitwise_or, np.bitwise_xor, np.invert, np.left_shift,
    np.right_shift, np.gcd, np.lcm, np.spacing, np.array_equiv,
    *[(np.ndarray, name) for name in ("__lt__", "__le__", "__eq__", "__ne__",
                                      "__ge__", "__gt__", "__and__", "__or__",
                                      "__xor__", "__invert__")],
)


@rule(np.clip, np.ndarray.clip)
def clip_rule(x, *args, **kw):
    """`np.clip(x, lo, hi)`: the cotangent goes to x inside [lo, hi] and to the
    bound that is active outside (at x == bound, to x). Bounds passed by
    keyword (`min=`, `max=`, `a_min=`, `a_max=`) get theirs by keyword."""
    lo = args[0] if len(args) > 0 else kw.get("min", kw.get("a_min"))
    hi = args[1] if len(args) > 1 else kw.get("max", kw.get("a_max"))
    xp = array_module(x)
    y = xp.clip(x, *args, **kw)

    def clip_pullback(dy):
        below = xp.less(x, lo) if lo is not None else False
        above = xp.greater(x, hi) if hi is not None else False
        dx = xp.where(xp.logical_or(below, above), 0, dy)
        dlo = None if lo is None else xp.where(below, dy, 0)
        dhi = None if hi is None else xp.where(above, dy, 0)
        by_keyword = {k: unbroadcast(dlo if k in ("min", "a_min") else dhi, v)
                      for k, v in kw.items() if k in _BOUNDS}
        return ((dx, dlo, dhi) + nones(args[2:]))[: 1 + len(args)] + (by_keyword,)

    return y, clip_pullback


clip_rule.keyword_cotangents = True  # the bounds given as min=/max= get theirs
_BOUNDS = ("min", "max", "a_min", "a_max")


@rule(np.where)
def where_rule(condition, *xy, _needed=(True, True, True)):
    """`np.where(c, x, y)`: the cotangent goes to x where c holds, else to y
    (only to the branches the caller differentiates).

    One-argument `np.where(c)` (indices) is not differentiable."""
    y = np.where(condition, *xy)
    xp = array_module(condition, *xy)
    need = tuple(_needed[1:3]) + (True,) * (2 - len(_needed[1:3]))

    def where_pullback(dy):
        if not xy:
            return (None,)
        return (None, _select(xp, condition, dy, True) if need[0] else None,
                _select(xp, condition, dy, False) if need[1] else None)

    return y, where_pullback


where_rule.takes_needed = True


def _select(xp, condition, dy, where_true):
    """`where(condition, dy, 0)` (or where it is false): a multiplication by
    the mask, four times faster than where() on float32, unless dy holds an inf
    or NaN (which the mask's zeros would turn into NaN instead of 0)."""
    if xp is np and type(dy) is np.ndarray and type(condition) is np.ndarray \
            and condition.dtype == bool and np.isfinite(dy).all():
        return dy * condition if where_true else dy * ~condition
    return xp.where(condition, dy, 0) if where_true else xp.where(condition, 0, dy)


@rule(np.copy, np.ndarray.copy)
def copy_rule(x, *args, **kw):
    """`np.copy(x)` and `x.copy()`: the identity."""
    y = array_module(x).copy(x, *args, **kw)

    def copy_pullback(dy):
        return (dy,) + nones(args)

    return y, copy_pullback


@rule(np.ndarray.astype)
def astype_rule(x, dtype, *args, **kw):
    """`x.astype(dtype)`: the cotangent is cast back to x's dtype (by the
    dispatcher); integer and bool targets carry no gradient (a step function)."""
    y = x.astype(dtype, *args, **kw)
    discrete = is_discrete(y)

    def astype_pullback(dy):
        return (None if discrete else dy, None) + nones(args)

    return y, astype_pullback


@rule(np.ndarray.item)
def item_rule(x, *args):
    """`x.item()` / `x.item(i)`: a Python scalar; its cotangent lands on that
    element."""
    y = x.item(*args)
    xp = array_module(x)
    index = np.unravel_index(args[0], x.shape) if len(args) == 1 else args or ()

    def item_pullback(dy):
        from .indexing import scatter_add

        return (scatter_add(x.shape, tuple(index), xp.asarray(dy, dtype=x.dtype)),) \
            + nones(args)

    return y, item_pullback



# -- a real number seen as complex: its real part and conjugate are itself, its
# imaginary part zero (complex values carrying a gradient are refused: the
# rules would have to conjugate)
def _real_view(get, name):
    def real_view_rule(x, *args, **kw):
        if np.iscomplexobj(x):
            refuse_complex()

        def real_view_pullback(dy):
            return (dy,) + nones(args)

        return get(x, *args, **kw), named(real_view_pullback, f"{name}_pullback")

    real_view_rule.__doc__ = f"`{name}` of a real value: the value itself."
    return named(real_view_rule, f"{name}_rule")


def _imaginary_part(get, name):
    def imaginary_part_rule(x):
        if np.iscomplexobj(x):
            refuse_complex()

        def imaginary_part_pullback(dy):
            return (array_module(x).zeros_like(x, dtype=np.result_type(x, 1.0)),)

        return get(x), named(imaginary_part_pullback, f"{name}_pullback")

    imaginary_part_rule.__doc__ = f"`{name}` of a real value: zero, with no gradient."
    return named(imaginary_part_rule, f"{name}_rule")


for _key, _get, _name in [
    (np.real, np.real, "real"), (np.conjugate, np.conjugate, "conjugate"),
    ((np.ndarray, "real"), lambda x: x.real, "ndarray.real"),
    (np.ndarray.conj, lambda x: x.conj(), "ndarray.conj"),
    (np.ndarray.conjugate, lambda x: x.conjugate(), "ndarray.conjugate"),
]:
    rule(_key)(_real_view(_get, _name))

for _key, _get, _name in [
    (np.imag, np.imag, "imag"), ((np.ndarray, "imag"), lambda x: x.imag, "ndarray.imag"),
]:
    rule(_key)(_imaginary_part(_get, _name))
