"""End to end: every corpus function's gradient against central differences."""

import numpy as np
import pytest
from corpus import CORPUS
from hypothesis import given
from hypothesis import strategies as st

import zygopy as zp
from zygopy.testing import numerical_vjp

DOMAINS = {
    "any": st.floats(-2, 2),
    "pos": st.floats(0.5, 2),
    "unit": st.floats(-0.9, 0.9),
}


def _smooth_enough(fn, args, h=1e-5):
    """False within a step of a kink (if, abs, min/max, floor): the one-sided
    difference quotients disagree there."""
    y = fn(*args)
    for i in range(len(args)):
        up = list(args)
        down = list(args)
        up[i] += h
        down[i] -= h
        right = (fn(*up) - y) / h
        left = (y - fn(*down)) / h
        if abs(right - left) > 1e-3 * (1 + abs(right)):
            return False
    return True


@pytest.mark.parametrize("fn,nargs,domain", CORPUS, ids=[f.__name__ for f, *_ in CORPUS])
@given(data=st.data())
def test_gradient_matches_central_differences(fn, nargs, domain, data):
    args = tuple(data.draw(DOMAINS[domain]) for _ in range(nargs))
    if not _smooth_enough(fn, args):
        return
    got = zp.gradient(fn, *args)
    want = numerical_vjp(fn, args, 1.0)
    assert len(got) == nargs
    for g, w in zip(got, want):
        assert isinstance(g, float)
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fn,nargs,domain", CORPUS, ids=[f.__name__ for f, *_ in CORPUS])
def test_value_unchanged(fn, nargs, domain):
    args = (0.7,) * nargs
    assert zp.withgradient(fn, *args)[0] == pytest.approx(fn(*args))


def test_corpus_is_large():
    assert len(CORPUS) >= 80


@pytest.mark.parametrize("fn,nargs,domain", CORPUS, ids=[f.__name__ for f, *_ in CORPUS])
def test_gradient_at_a_fixed_smooth_point(fn, nargs, domain):
    """Every entry is checked at least once, whatever the property test skips."""
    args = (0.71, 0.63)[:nargs]
    assert _smooth_enough(fn, args), "pick another fixed point for this entry"
    got = zp.gradient(fn, *args)
    want = numerical_vjp(fn, args, 1.0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
