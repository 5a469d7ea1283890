"""functools.partial inside differentiated code: made there, its arguments get
their cotangents back; called, it is a call of its function with its
arguments first and its keywords merged (a partial of a partial flattens)."""

import functools

import numpy as np
import pytest

from zygopy.testing import check_grads


def helper(a, b, scale=1.0, shift=0.0):
    return np.sum((a * b) * scale + shift)


def made_and_called(x, y):
    g = functools.partial(helper, x, scale=y)
    return g(x * 2, shift=y * y)


def partial_of_a_partial(x, y):
    g = functools.partial(functools.partial(helper, x, scale=y), shift=3.0)
    return g(x) + g(np.sin(x), shift=y[0])


def of_a_numpy_function(x, y):
    g = functools.partial(np.power, x)
    return np.sum(g(2.0) * y)


G = functools.partial(helper, scale=2.0)


def made_outside(x, y):
    return G(x, y)


def in_a_list(x, y):
    fs = [functools.partial(helper, b=v) for v in (x, 2 * x)]
    return fs[0](y) + fs[1](y, scale=y[0])


@pytest.mark.parametrize("f", [made_and_called, partial_of_a_partial, of_a_numpy_function,
                               made_outside, in_a_list])
def test_partials_differentiate(f):
    x = np.array([1.0, 2.0, 3.0])
    y = 0.7 if f is made_and_called else x + 1
    check_grads(f, x, y)
