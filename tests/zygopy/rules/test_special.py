"""math.gamma and math.lgamma: digamma and trigamma against known values and
differences, the rules against central differences, and second order."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import zygopy as zp
from zygopy.rules.special import digamma, trigamma
from zygopy.testing import check_grads

EULER = 0.5772156649015329


@pytest.mark.parametrize("x, want", [
    (1.0, -EULER), (0.5, -EULER - 2 * math.log(2)), (2.0, 1 - EULER),
    (-0.5, 2 - EULER - 2 * math.log(2)),  # ψ(1 - x) - π cot(πx) at x = -1/2
])
def test_digamma_known_values(x, want):
    assert digamma(x) == pytest.approx(want, abs=1e-13)


@pytest.mark.parametrize("x, want", [
    (1.0, math.pi ** 2 / 6), (0.5, math.pi ** 2 / 2), (-0.5, math.pi ** 2 / 2 + 4),
])
def test_trigamma_known_values(x, want):
    assert trigamma(x) == pytest.approx(want, abs=1e-12)


@given(st.floats(0.05, 60.0) | st.floats(-8.9, -0.1).filter(lambda x: abs(x - round(x)) > 0.05))
def test_digamma_is_the_derivative_of_lgamma(x):
    h = 1e-5 * max(1.0, abs(x))
    assert digamma(x) == pytest.approx(
        (math.lgamma(x + h) - math.lgamma(x - h)) / (2 * h), rel=1e-6, abs=1e-6)
    assert trigamma(x) == pytest.approx(
        (digamma(x + h) - digamma(x - h)) / (2 * h), rel=1e-5, abs=1e-5)


def gamma_loglikelihood(shape, rate):
    """A gamma distribution's log-likelihood of two observations."""
    total = 0.0
    for v in (0.7, 2.3):
        total += shape * math.log(rate) - math.lgamma(shape) + \
            (shape - 1) * math.log(v) - rate * v
    return total + math.gamma(shape / 3.0)


def test_gamma_and_lgamma_differentiate():
    check_grads(gamma_loglikelihood, 1.7, 0.9)
    check_grads(lambda x: math.lgamma(x * x + 0.5), -0.8)


def test_second_derivative_of_lgamma():
    f = lambda x: math.lgamma(x) * x
    # d²/dx² (x lgamma x) = 2 ψ(x) + x ψ'(x)
    assert zp.grad(zp.grad(f))(1.7) == pytest.approx(2 * digamma(1.7) + 1.7 * trigamma(1.7))
