"""Constructs the compiler differentiates through an equivalent spelling
(compiler/rewrites.py): loops with an else clause, starred unpacking, and
np.add.at, each against central differences and plain Python's values."""

import math

import numpy as np
import pytest

import zygopy as zp
from zygopy.testing import check_grads


def first_crossing(x, y):
    for i in range(4):
        if x * i > 2.0:
            break
        for j in range(2):  # an inner loop's break is its own
            if j == 1:
                break
            x = x + 0.1 * y
        x = x * y
    else:
        x = x + 100.0 * y
    return x


def damped(x):
    i = 0
    while i < 5:
        i += 1
        if i == 2:
            continue
        if x > 50.0:
            break
        x = math.sin(x) + x * 1.5
    else:
        x = x * 2
    return x


@pytest.mark.parametrize("f, args", [
    (first_crossing, (0.7, 1.3)),  # breaks
    (first_crossing, (0.1, 1.1)),  # runs out: the else clause
    (damped, (0.3,)),
    (damped, (40.0,)),
])
def test_loops_with_an_else_clause(f, args):
    check_grads(f, *args)


def heads_and_tails(xs, m):
    a, *middle, z = xs
    first, *rest = m  # the rows of an array
    *init, last = (a, z)
    return a * z + sum(middle) * 2.0 + np.sum(first * rest[0]) + init[0] * last


def test_starred_unpacking():
    xs = [1.0, 2.0, 3.0, 4.0]
    m = np.array([[0.5, -1.0], [2.0, 0.3]])
    check_grads(heads_and_tails, xs, m)
    assert zp.gradient(heads_and_tails, xs, m)[0][1] == pytest.approx(2.0)


def test_starred_unpacking_of_too_few_items_raises_as_python_does():
    with pytest.raises(ValueError, match="not enough values to unpack"):
        zp.gradient(lambda xs: heads_and_tails(xs, np.ones((2, 2))), [1.0])


def scatters(x, w):
    a = x.copy()
    np.add.at(a, [0, 0, 1], x[2] * w)  # repeated indices accumulate
    b = np.zeros((3, 2))
    np.add.at(b, (np.array([0, 2, 0]), np.array([1, 1, 1])), w)
    return np.sum(a ** 2) + np.sum(b * a[:, None])


def test_add_at_differentiates():
    check_grads(scatters, np.array([0.3, -0.6, 1.1]), np.array([0.5, -1.0, 2.0]))
