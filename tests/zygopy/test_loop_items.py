"""Loops over differentiable sequences (`for v in xs`): the forward reads
items by index, the backward gathers each item's cotangent and gives the
sequence its cotangent once (linear in the length, not quadratic)."""

import numpy as np
import pytest

import zygopy as zp
from zygopy.testing import check_grads

RNG = np.random.default_rng(0)


def rnn(x):
    h = 0.0
    for v in x:
        h = np.tanh(0.5 * h + v)
    return h


def rows(m):
    tot = 0.0
    for r in m:
        tot = tot + np.sum(r * r) * tot + r[0]
    return tot


def dict_values_by_key(x):
    d = {"a": x, "b": x * 2}
    tot = 0.0
    for k in d:  # keys carry nothing; the values read by d[k] do
        tot = tot + np.sum(d[k] ** 2)
    return tot


def tuples_and_enumerate(x):
    t = (x, x * 2, np.sin(x))
    out = 0.0
    for i, v in enumerate(t):
        out = out + np.sum(v) * (i + 1)
    for v in t[::-1]:
        out = out * 0.5 + np.sum(v * v)
    return out


def stops_early(x):
    out = 0.0
    for v in x:
        if v > 0.1:
            break
        out = out + v * v
    return out


def item_used_twice(xs):
    out = 0.0
    for v in xs:
        out = out + v * v
    for v in xs:
        out = out + np.sin(v)
    return out


@pytest.mark.parametrize("f, x", [
    (rnn, RNG.standard_normal(20) * 0.3),
    (rows, RNG.standard_normal((5, 3)) * 0.3),
    (dict_values_by_key, RNG.standard_normal(4)),
    (tuples_and_enumerate, RNG.standard_normal(4)),
    (stops_early, np.array([0.01, -0.05, 0.3, 0.02])),
    (item_used_twice, RNG.standard_normal(6)),
])
def test_loops_over_sequences_differentiate(f, x):
    check_grads(f, x)


def test_items_are_read_by_index_and_gathered_once():
    """The loop reads items by plain indexing (no dispatched getitem, whose
    pullback made a full-size cotangent per item: quadratic in the length) and
    the backward gives the sequence one cotangent after the loop."""
    zp.gradient(rnn, RNG.standard_normal(20) * 0.3)
    text = zp.source(rnn)
    assert "_zp.indexable(x)" in text and "_zp.Items()" in text
    assert "_zp.getitem" not in text


class Bag:
    def __init__(self, *values):
        self.values = list(values)

    def __iter__(self):
        return iter(self.values)


def test_a_loop_over_an_iterable_object_is_refused_not_zero():
    with pytest.raises(zp.ZygopyError, match="loop over a list of the values"):
        zp.gradient(sums_a_bag_of, Bag(np.ones(2), np.ones(2)))


def sums_a_bag_of(bag):
    tot = 0.0
    for v in bag:
        tot = tot + np.sum(v)
    return tot
