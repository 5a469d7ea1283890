"""`@zp.differentiable`: the adjoint code is generated at decoration time; the
decorated function still runs as itself, is differentiated directly or when
called from other differentiated code, and may decorate methods."""

import numpy as np

import zygopy as zp
from zygopy.testing import check_grads


@zp.differentiable
def branchy(x, y):
    z = x * y
    if z > 1:
        return z**2
    return np.sin(z)


@zp.differentiable
def squashed(w, x):
    return np.sum(np.tanh(w @ x))


def calls_decorated(w, x):
    return squashed(w, x) * 2.0 + branchy(w[0, 0], 3.0)


class Layer:
    def __init__(self, w):
        self.w = w

    @zp.differentiable
    def __call__(self, x):
        return self.scale(x) * np.sum(self.w)

    @zp.differentiable
    def scale(self, x):
        return self.w * x**2


def test_a_decorated_function_runs_and_differentiates():
    assert branchy(2.0, 3.0) == 36.0
    assert zp.gradient(branchy, 2.0, 3.0) == (36.0, 24.0)
    check_grads(branchy, 0.2, 0.3)
    assert "def branchy_forward" in zp.source(branchy)


def test_decorated_functions_called_from_differentiated_code():
    rng = np.random.default_rng(0)
    check_grads(calls_decorated, rng.standard_normal((2, 2)), rng.standard_normal((2, 1)))


def test_decorated_methods_bind_like_functions():
    layer = Layer(np.array([1.0, 2.0]))
    x = np.array([0.5, -1.5])
    np.testing.assert_allclose(layer(x), np.array([1.0, 2.0]) * x**2 * 3.0)
    check_grads(lambda x: np.sum(layer(x)), x)
    (g,) = zp.gradient(lambda m: np.sum(m(x)), layer)
    w = layer.w  # d/dw of sum(w * x^2) * sum(w)
    np.testing.assert_allclose(g.w, x**2 * np.sum(w) + np.sum(w * x**2))


def _tagged(*tags):
    def wrap(f):
        f.tags = tags
        return f

    return wrap


@_tagged(*(t.upper() for t in "ab"))  # ran once, at definition: not differentiated
def tagged_square(x):
    return x * x


def test_a_decorators_arguments_are_not_differentiated_code():
    assert tagged_square.tags == ("A", "B")
    assert zp.gradient(tagged_square, 3.0) == (6.0,)
