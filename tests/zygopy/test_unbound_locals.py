"""A local read before any assignment raises UnboundLocalError, as in Python.

The forward binds every name it packs for the backward at its start, so
without a check such a read would see a placeholder (once None: a TypeError
far from the cause, or a silently wrong value). Each case runs the plain
function first: where Python raises, the gradient raises the same error,
pointing at the user's line; where it does not, the gradient is checked
against central differences (the checks must not refuse a valid program).
"""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest

import layers
import zygopy as zp
from zygopy.testing import check_grads


def one_branch(x, flag):
    if flag:
        y = x * 2
    return np.sum(y * x)  # line read


def both_branches(x, flag):
    if flag:
        y = x * 2
    else:
        y = x * 3
    return np.sum(y * x)


def last_item(x, n):
    for i in range(n):
        last = x * i
    return np.sum(last * x)  # line read


def read_first_iteration(x, n):
    for i in range(n):
        if i > 0:
            acc = acc + x  # noqa: F821, F841  (line read: unbound at i = 1)
        else:
            pass
    return np.sum(x)


def carried(x, n):
    acc = x
    for _ in range(n):
        acc = acc * x
    return np.sum(acc)


def augmented(x, flag):
    if flag:
        y = x * 1.0
    y += x  # line read
    return np.sum(y * y)


def while_break(x, n):
    i = 0
    while True:
        y = x * i
        i += 1
        if i >= n:
            break
    return np.sum(y * x)


def data_dependent(x):
    if np.sum(x) > 0:
        y = x * x
    return np.sum(y)  # line read


def returned(x, flag):
    if flag:
        y = x * 2.0
    return y  # line read


def through_helper(x, flag):
    return np.sum(returned(x, flag))  # (the helper raises, at its own line)


def assert_message(x, flag):
    assert flag, y  # noqa: F821  (the message is read only when the assert fails)
    return np.sum(x * x)


def two_names(x, flag):
    if flag:
        a = x * 2
        b = x * 3
    return np.sum(a * b)  # line read: Python names `a`, the first read


CASES = [
    (returned, True), (returned, False), (through_helper, True), (through_helper, False),
    (assert_message, True), (two_names, True), (two_names, False),

    (one_branch, True), (one_branch, False), (both_branches, False),
    (last_item, 2), (last_item, 0), (read_first_iteration, 1),
    (read_first_iteration, 3), (carried, 0), (carried, 2), (augmented, True),
    (augmented, False), (while_break, 1), (while_break, 3),
]


def _python(f, *args):
    try:
        f(*args)
    except UnboundLocalError as exc:
        return exc
    return None


@pytest.mark.parametrize("f, arg", CASES, ids=[f"{f.__name__}-{a}" for f, a in CASES])
def test_gradient_raises_where_python_does(f, arg):
    x = np.array([0.5, -1.5, 2.0])
    expected = _python(f, x, arg)
    for _ in range(3):  # general path, then the fused function
        if expected is None:
            check_grads(lambda v: np.sum(f(v, arg)), x)
            continue
        with pytest.raises(UnboundLocalError, match="cannot access local variable") as info:
            zp.gradient(lambda v: np.sum(f(v, arg)), x)
        assert str(info.value) == str(expected)
        notes = "\n".join(getattr(info.value, "__notes__", []))
        assert "line read" in notes or "unbound at i = 1" in notes  # the user's own line


def test_data_dependent_branch_both_ways():
    pos, neg = np.array([1.0, 2.0]), np.array([-1.0, -2.0])
    assert _python(data_dependent, neg) is not None
    for _ in range(3):
        (g,) = zp.gradient(data_dependent, pos)
        np.testing.assert_allclose(g, 2 * pos)
        with pytest.raises(UnboundLocalError):
            zp.gradient(data_dependent, neg)


class Gate:
    """A layer that binds its output on one branch only (a bug of the user's)."""

    def __init__(self):
        self.scale = np.array([2.0, 3.0])

    def __call__(self, x):
        if np.sum(x) > 0:
            y = self.scale * x
        return y


class Twice:
    """Runs its gate twice: the flat code of a specialisation renames the
    second run's locals (`y_2`), which errors must not show."""

    def __init__(self):
        self.gate = Gate()

    def __call__(self, x):
        return self.gate(self.gate(x))


def test_a_specialised_model_names_the_users_variable_and_line():
    m = Twice()
    pos = np.array([1.0, 2.0])
    for _ in range(4):
        zp.gradient(lambda m: np.sum(m(pos)), m)  # (specialised from the second call)
    neg = np.array([-1.0, -2.0])
    for _ in range(2):
        with pytest.raises(UnboundLocalError, match="local variable 'y' ") as info:
            zp.gradient(lambda m: np.sum(m(neg)), m)
        assert "return y" in "\n".join(info.value.__notes__)


def test_a_model_reading_an_unbound_local_raises_on_every_path():
    m = layers.Chain(Gate())
    pos, neg = np.array([1.0, 2.0]), np.array([-1.0, -2.0])
    for _ in range(4):  # general, then specialised on the structure
        (g,) = zp.gradient(lambda m: np.sum(m(pos) ** 2), m)
        np.testing.assert_allclose(g.layers[0].scale, 2 * m.layers[0].scale * pos**2)
        with pytest.raises(UnboundLocalError):
            zp.gradient(lambda m: np.sum(m(neg) ** 2), m)


class Cell:
    """A recurrent cell: (state, output) from (state, input)."""

    def __init__(self):
        self.w = np.array([[0.5, -0.3], [0.2, 0.4]])

    def __call__(self, h, x):
        h = np.tanh(h @ self.w + x)
        return h, 2.0 * h


def unrolled(m, x):
    h = np.zeros(2)
    for t in range(x.shape[0]):  # (a loop decided at run time: it may not run)
        h, out = m["cell"](h, x[t])
    return np.sum(out**2)  # line read


def test_a_name_bound_in_a_loop_of_the_flat_code_is_checked_by_its_users_name():
    """`out`, bound only in a loop the flat code runs, stays specialised (the
    Flux-style unrolled recurrence); a batch of no steps raises Python's error
    naming `out` and the loss's line, as the general path does."""
    from zygopy.runtime import specialised

    m = {"cell": Cell()}
    xs = np.array([[0.1, 0.2], [0.3, -0.1], [0.0, 0.5]])
    specialised.forget()
    for _ in range(3):
        (g, _) = zp.gradient(unrolled, m, xs)
    assert specialised.reason(unrolled) is None and specialised.source(unrolled)
    with mock.patch.object(specialised, "ENABLED", False):
        (want, _) = zp.gradient(unrolled, m, xs)
    np.testing.assert_allclose(g["cell"].w, want["cell"].w, rtol=1e-12)
    check_grads(lambda w: unrolled_w(w, xs), m["cell"].w)
    np.testing.assert_allclose(g["cell"].w, zp.gradient(unrolled_w, m["cell"].w, xs)[0])
    for _ in range(2):
        with pytest.raises(UnboundLocalError, match="local variable 'out' ") as info:
            zp.gradient(unrolled, m, xs[:0])
        assert "line read" in "\n".join(info.value.__notes__)


def unrolled_w(w, x):
    """`unrolled` written on the weight itself (the reference)."""
    h = np.zeros(2)
    for t in range(x.shape[0]):
        h = np.tanh(h @ w + x[t])
    return np.sum((2.0 * h) ** 2)
