"""The gamma function's derivatives for `math.gamma` and `math.lgamma`:
digamma ψ = Γ'/Γ and trigamma ψ' (numpy has neither; zygopy computes them),
and the formula rows of gamma, lgamma and digamma itself (second order)."""

from __future__ import annotations

import math

from ..runtime.arrays import is_dual
from .formulas import FUNCTIONS, HELPERS, elementwise

_SHIFT = 10.0  # below this, the recurrences move x up to where the series converge


def digamma(x):
    """ψ(x) = d/dx log Γ(x) for a real x that is not 0 or a negative integer:
    the recurrence ψ(x) = ψ(x + 1) - 1/x up to x >= 10, then the asymptotic
    series (error below 1e-13); the reflection ψ(1 - x) - π cot(πx) for x < 0.
    A forward-mode dual gets ψ' (trigamma) times its tangent."""
    if is_dual(x):
        return type(x)(digamma(x.primal), trigamma(x.primal) * x.tangent)
    x = float(x)
    if x <= 0 and x == math.floor(x):
        return math.nan  # a pole
    if x < 0:
        return digamma(1.0 - x) - math.pi / math.tan(math.pi * x)
    shift = 0.0
    while x < _SHIFT:
        shift -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    series = f * (1 / 12 - f * (1 / 120 - f * (1 / 252 - f * (1 / 240 - f / 132))))
    return shift + math.log(x) - 0.5 / x - series


def trigamma(x):
    """ψ'(x): the recurrence ψ'(x) = ψ'(x + 1) + 1/x² up to x >= 10, then the
    asymptotic series; the reflection π²/sin²(πx) - ψ'(1 - x) for x < 0."""
    x = float(x)
    if x <= 0 and x == math.floor(x):
        return math.inf
    if x < 0:
        return (math.pi / math.sin(math.pi * x)) ** 2 - trigamma(1.0 - x)
    shift = 0.0
    while x < _SHIFT:
        shift += 1.0 / (x * x)
        x += 1.0
    f = 1.0 / (x * x)
    series = 1 / x + f / 2 + f / x * (1 / 6 - f * (1 / 30 - f * (1 / 42 - f * (
        1 / 30 - f * 5 / 66))))
    return shift + series


FUNCTIONS["digamma"] = (None, digamma, None)
FUNCTIONS["trigamma"] = (None, trigamma, None)
FUNCTIONS["gamma"] = (None, math.gamma, "tgamma{f}")
FUNCTIONS["lgamma"] = (None, math.lgamma, "lgamma{f}")
HELPERS.digamma, HELPERS.trigamma = digamma, trigamma

M = "math"
elementwise(math.lgamma, "math_lgamma", "x", "lgamma(x)", "digamma(x)", namespace=M)
elementwise(math.gamma, "math_gamma", "x", "gamma(x)", "out * digamma(x)", namespace=M)
