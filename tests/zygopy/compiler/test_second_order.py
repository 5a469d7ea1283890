"""Second order on the whole corpus: forward over reverse (the generated
backward code run on dual numbers) against central differences of the exact
gradient, and `grad(grad(f))` against the same."""

import numpy as np
import pytest
from corpus import CORPUS
from hypothesis import given
from hypothesis import strategies as st
from test_corpus import DOMAINS, _smooth_enough

import zygopy as zp

H = 1e-5


def _gradient_difference(fn, args, v):
    """(grad f(args + h v) - grad f(args - h v)) / 2h, per argument."""
    up = [a + H * d for a, d in zip(args, v)]
    down = [a - H * d for a, d in zip(args, v)]
    gu, gd = zp.gradient(fn, *up), zp.gradient(fn, *down)
    return [(a - b) / (2 * H) for a, b in zip(gu, gd)]


def _smooth_gradient(fn, args):
    """False near a kink of the gradient: some component of it is not smooth."""
    return all(_smooth_enough(lambda *a, i=i: zp.gradient(fn, *a)[i], args)
               for i in range(len(args)))


@pytest.mark.parametrize("fn,nargs,domain", CORPUS, ids=[f.__name__ for f, *_ in CORPUS])
@given(data=st.data())
def test_hvp_matches_differences_of_the_gradient(fn, nargs, domain, data):
    args = tuple(data.draw(DOMAINS[domain]) for _ in range(nargs))
    v = tuple(data.draw(st.floats(-1, 1)) for _ in range(nargs))
    if not _smooth_enough(fn, args) or not _smooth_gradient(fn, args):
        return
    got = zp.hvp(fn, args, v)
    want = _gradient_difference(fn, args, v)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fn,nargs,domain", [c for c in CORPUS if c[1] == 1],
                         ids=[f.__name__ for f, n, _ in CORPUS if n == 1])
def test_grad_of_grad_at_a_smooth_point(fn, nargs, domain):
    x = {"any": 0.37, "pos": 1.3, "unit": 0.37}[domain]
    if not _smooth_enough(fn, (x,)) or not _smooth_gradient(fn, (x,)):
        pytest.skip("not smooth at the fixed point")
    got = zp.grad(zp.grad(fn))(x)
    (want,) = _gradient_difference(fn, (x,), (1.0,))
    assert got == pytest.approx(want, rel=1e-4, abs=1e-5)
