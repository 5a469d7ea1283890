"""The canonical functions whose generated code is kept as golden snapshots.

Each entry of CASES is (name, function, arguments, function shown):
`test_golden` runs the pullback of the function at those arguments (so the
snapshot is the specialisation a user gets for them) and compares
`zygopy.source` of the function shown with `golden/<name>.py`.
Adding a line here shifts the line numbers in the snapshots' titles: add
new functions at the end.
"""

import math

import numpy as np


def polynomial(x, y):
    return 3 * x**2 + 2 * x + y


def branch(x, y):
    if x > y:
        z = x * y
    else:
        z = math.sin(x) + y
    return z * 2


def accumulate(x, n):
    total = 0.0
    for i in range(n):
        total = total + x**i / (i + 1)
    return total


def until_large(x):
    steps = 0
    while True:
        x = x * 1.5 + 0.1
        steps += 1
        if x > 10.0 or steps >= 20:
            break
    return x


def closure(x, y):
    scale = y * 2

    def inner(z):
        return z * scale + math.exp(z)

    return inner(x) - scale


def helper(a, b):
    return a * b + math.tanh(a)


def calls_helper(x, y):
    u = helper(x, y)
    return helper(u, x) + u


def pair(x, y):
    s = x + y
    p = x * y
    return s, p


def lists(x):
    values = []
    for k in range(3):
        values.append(x * k)
    squares = [v * v for v in values]
    return sum(squares) + values[-1]


def layer(W, b, x):
    h = np.tanh(W @ x + b)
    return np.sum(h**2)


class Affine:
    """A callable object: `__call__` is compiled with `self` differentiable."""

    def __init__(self, w, c):
        self.w = w
        self.c = c

    def __call__(self, x):
        return self.w * x + self.c

    def energy(self, x):
        return self(x) ** 2


_RNG = np.random.default_rng(0)
_W, _B, _X = _RNG.standard_normal((3, 4)), _RNG.standard_normal(3), _RNG.standard_normal(4)

CASES = [
    # (snapshot name, function to differentiate, arguments, function shown)
    ("polynomial", polynomial, (2.0, 2.0), polynomial),
    ("branch", branch, (0.5, 1.5), branch),
    ("accumulate", accumulate, (0.5, 4), accumulate),
    ("until_large", until_large, (1.0,), until_large),
    ("closure", closure, (0.3, 0.7), closure),
    ("calls_helper", calls_helper, (0.3, 0.7), calls_helper),
    ("pair", pair, (0.3, 0.7), pair),
    ("lists", lists, (0.3,), lists),
    ("layer", layer, (_W, _B, _X), layer),
    ("method", Affine.energy, (Affine(2.0, 0.5), 0.3), Affine.energy),
    ("callable_object", Affine.energy, (Affine(2.0, 0.5), 0.3), Affine.__call__),
]
