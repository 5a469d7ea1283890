"""Elementwise derivatives as formulas: one row per function, one source of truth.

Each row gives a primal expression and, per input, the partial derivative of
the output with respect to that input, written in a tiny expression language:
Python expression syntax over the inputs (`x`, `y`, ...), the output `out`,
numeric constants, operators, comparisons and the functions in `FUNCTIONS`.
The compiler inlines `dx = g * <partial>` into generated code (rendered with
`math` for Python scalars, `np` for arrays), the registry derives a general
rrule from the row, and the fusion pass renders the same rows into numpy
buffer code and CUDA C.
"""

from __future__ import annotations

import ast
import math
import operator
import re
import types
from dataclasses import dataclass, field

import numpy as np

from ..runtime.arrays import array_module


# Functions the expression language knows; each maps to a numpy function, a
# math function (None if math has none) and a CUDA C spelling ({f} is "f" for
# float32 and "" for float64; None if it needs a helper in the kernel prelude).
def step(x, y):
    """1 where x > y, 0.5 where x == y, else 0: the derivative of maximum(x, y)
    in x, ties split evenly. Without ties, the boolean mask itself (a product
    `g * mask` keeps g's dtype, and costs no cast); with ties, a float array in
    the operands' dtype (a where() of Python numbers would make float64 masks
    of float32 arrays)."""
    if type(x) in (float, int) and type(y) in (float, int):
        return 1.0 if x > y else 0.5 if x == y else 0.0
    if type(x) is np.ndarray and x.ndim and type(y) in (float, int, np.ndarray):
        out = x > y  # (the operators: a microsecond less than the ufunc calls)
        if not (x == y).any():
            return out
        xp = np
    else:
        xp = array_module(x, y)
        out = xp.asarray(xp.greater(x, y))
        if not xp.equal(x, y).any():
            return out
    ties = xp.equal(x, y)
    dtype = getattr(x, "dtype", None)
    if dtype is None or dtype.kind != "f":
        dtype = getattr(y, "dtype", None)
    out = out.astype(dtype if dtype is not None and dtype.kind == "f" else np.float64)
    out[ties] = 0.5
    return out


def powexp(y):
    """`y - 1`, but 1 where y == 0: the exponent of x in the derivative of
    `x ** y`, `y * x ** powexp(y)`, which is then `0 * x`, 0, where y == 0
    (`0 * x ** -1` would divide by zero at x == 0)."""
    if type(y) in (float, int):
        return y - 1 if y != 0 else 1
    xp = array_module(y)
    return xp.where(y == 0, 1, y - 1)


def lognan(x):
    """`log(x)`, NaN for x < 0 (no error, no warning): the partial of `x ** y`
    in y, which has no real value at a negative x (nor does numpy's)."""
    if type(x) in (float, int):
        return math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan)
    xp = array_module(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        return xp.log(x)


# zygopy's own formula functions, spelled `_zp.<name>` in rendered code
HELPERS = types.SimpleNamespace(step=step, powexp=powexp, lognan=lognan)

FUNCTIONS = {
    #  name      numpy           math          CUDA
    "exp": (np.exp, math.exp, "exp{f}"),
    "expm1": (np.expm1, math.expm1, "expm1{f}"),
    "log": (np.log, math.log, "log{f}"),
    "log1p": (np.log1p, math.log1p, "log1p{f}"),
    "sqrt": (np.sqrt, math.sqrt, "sqrt{f}"),
    "sin": (np.sin, math.sin, "sin{f}"),
    "cos": (np.cos, math.cos, "cos{f}"),
    "tan": (np.tan, math.tan, "tan{f}"),
    "sinh": (np.sinh, math.sinh, "sinh{f}"),
    "cosh": (np.cosh, math.cosh, "cosh{f}"),
    "tanh": (np.tanh, math.tanh, "tanh{f}"),
    "arcsin": (np.arcsin, math.asin, "asin{f}"),
    "arccos": (np.arccos, math.acos, "acos{f}"),
    "arctan": (np.arctan, math.atan, "atan{f}"),
    "arcsinh": (np.arcsinh, math.asinh, "asinh{f}"),
    "arccosh": (np.arccosh, math.acosh, "acosh{f}"),
    "arctanh": (np.arctanh, math.atanh, "atanh{f}"),
    "arctan2": (np.arctan2, math.atan2, "atan2{f}"),
    "hypot": (np.hypot, math.hypot, "hypot{f}"),
    "erf": (None, math.erf, "erf{f}"),
    "abs": (np.abs, abs, "fabs{f}"),
    "sign": (np.sign, None, None),
    "where": (np.where, None, None),
    "maximum": (np.maximum, max, "fmax{f}"),
    "minimum": (np.minimum, min, "fmin{f}"),
    "cbrt": (np.cbrt, None, "cbrt{f}"),
    "log2": (np.log2, math.log2, "log2{f}"),
    "log10": (np.log10, math.log10, "log10{f}"),
    "fmax": (np.fmax, None, "fmax{f}"),  # NaN-ignoring, as CUDA's fmax
    "fmin": (np.fmin, None, "fmin{f}"),
    "nextafter": (np.nextafter, math.nextafter, "nextafter{f}"),
    "copysign": (np.copysign, math.copysign, "copysign{f}"),
    "fmod": (np.fmod, math.fmod, "fmod{f}"),
    "trunc": (np.trunc, math.trunc, "trunc{f}"),
    "erfc": (None, math.erfc, "erfc{f}"),
    "ldexp": (np.ldexp, math.ldexp, "ldexp{f}"),
    "step": (step, step, None),  # the derivative of maximum: zygopy's own
    "powexp": (powexp, powexp, None),  # the exponent in the derivative of x ** y
    "lognan": (lognan, lognan, None),  # log, NaN below 0: the partial of x ** y in y
}


@dataclass(frozen=True)
class Elementwise:
    """One row: `fn(*params) = primal`, with `partials[i] = d out / d params[i]`."""

    name: str
    fn: object
    params: tuple
    primal: str
    partials: tuple
    namespace: str = "np"  # "np" for numpy ufuncs, "math" for math/operators
    trees: dict = field(default_factory=dict, compare=False, repr=False)

    def tree(self, text):
        """The parsed expression of `text` (cached)."""
        if text not in self.trees:
            self.trees[text] = ast.parse(text, mode="eval").body
        return self.trees[text]


FORMULAS: dict = {}


def elementwise(fn, name, params, primal, *partials, namespace="np"):
    """Add a row to the formula table (and derive its rrule in the registry)."""
    params = tuple(params.split()) if isinstance(params, str) else tuple(params)
    if len(partials) != len(params):
        raise ValueError(f"{name}: {len(params)} inputs but {len(partials)} partials")
    primal, partials = _bare(primal, name, params), [_bare(p, name, params, True)
                                                      for p in partials]
    row = Elementwise(name, fn, params, primal, tuple(partials), namespace)
    FORMULAS[fn] = row
    from .derive import register_formula_rule

    register_formula_rule(row)
    return row


def _bare(text, name, params, partial=False):
    """Formula `text` in the table's spelling: functions by their bare names
    (`np.exp(x)` and `math.exp(x)` read as `exp(x)`), checked against the
    table's functions and the row's inputs (and `out` in a partial)."""
    if not isinstance(text, str):
        raise TypeError(f"{name}: a formula is a string, such as \"exp(x)\", got "
                        f"{type(text).__name__}")
    text = re.sub(r"\b(?:np|numpy|math)\.(pi|e)\b",  # constants, by their value
                  lambda m: repr(getattr(math, m.group(1))), text)
    text = re.sub(r"\b(?:np|numpy|math)\.", "", text)
    tree = ast.parse(text, mode="eval")
    known = set(params) | ({"out"} if partial else set())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name)
                                               and node.func.id in FUNCTIONS):
            called = ast.unparse(node.func)
            raise ValueError(f"{name}: formula {text!r} calls {called}, which the formula "
                             f"table does not have; it has {', '.join(sorted(FUNCTIONS))}")
        if isinstance(node, ast.Name) and node.id not in known and node.id not in FUNCTIONS:
            raise ValueError(f"{name}: formula {text!r} reads {node.id}, which is not one "
                             f"of the inputs {', '.join(params)}"
                             + (" (or `out`, the function's value)" if partial else ""))
    return text


def formula_of(fn):
    """The row for `fn`, or None."""
    try:
        return FORMULAS.get(fn)
    except TypeError:
        return None


# Python operators, as the compiler sees them; the same rows serve numbers and
# arrays because operators work on both.
OPERATORS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Pow: operator.pow, ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod, ast.MatMult: operator.matmul,
    ast.USub: operator.neg, ast.UAdd: operator.pos,
}
