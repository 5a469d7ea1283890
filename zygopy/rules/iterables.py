"""Functions of the standard library built from operations zygopy differentiates:
`divmod`, `math.dist`, and the folds of an iterable `math.prod`, `math.fsum`,
`itertools.accumulate`. Each rule differentiates a reference implementation
(see composite.py), so its pullback is exact by construction and works on
numbers and arrays alike."""

from __future__ import annotations

import itertools
import math

from .composite import composite


@composite(math.prod)
def prod(iterable, *, start=1):
    """`math.prod`: the running product, from `start`."""
    total = start
    for x in iterable:
        total = total * x
    return total


@composite(math.fsum)
def fsum(iterable):
    """`math.fsum`: the sum as a float (the rounding `fsum` avoids is not
    differentiable: its gradient is the sum's)."""
    total = 0.0
    for x in iterable:
        total = total + x
    return float(total)


@composite(itertools.accumulate)
def accumulate(iterable, func=None, *, initial=None):
    """`itertools.accumulate` as a list (iterating it gives the same items):
    running sums, or running `func(total, x)`."""
    out = [] if initial is None else [initial]
    for x in iterable:
        if not out:
            out.append(x)
        elif func is None:
            out.append(out[-1] + x)
        else:
            out.append(func(out[-1], x))
    return out


@composite(math.dist)
def dist(p, q):
    """`math.dist`: the Euclidean distance between two points."""
    total = 0.0
    for a, b in zip(p, q, strict=True):
        total = total + (a - b) * (a - b)
    return math.sqrt(total)


@composite(divmod)
def divmod_(a, b):
    """`divmod(a, b)`: `(a // b, a % b)`."""
    return a // b, a % b
