"""The fast path of gradient/withgradient (zygopy.api._FAST): a second call
with arguments of the same types gives what the general path gives."""

import gc
import math
import sys

import numpy as np
import pytest

import zygopy as zp
from zygopy import api

mm = math  # rebound by test_rebinding_a_guarded_callee_recompiles


def poly(x, y):
    return 3 * x**2 + 2 * x + y


def ignores_y(x, y):
    return x * x


def guarded(x):
    return mm.tanh(x) * 2.0


def loss(W, x):
    return np.sum(np.tanh(W @ x) ** 2)


def divides(x, y):
    return x / (y - 2.0)


def _twice(f, *args):
    """(general path result, fast path result)."""
    api._FAST.clear()
    first = zp.withgradient(f, *args)
    assert api._FAST, "the first call should remember a fast entry"
    return first, zp.withgradient(f, *args)


def test_floats_same_result_and_types():
    (y1, g1), (y2, g2) = _twice(poly, 2.0, 2.0)
    assert y1 == y2 == 18.0
    assert g1 == g2 == (14.0, 1.0)
    assert all(type(g) is float for g in g2)


def test_unused_argument_gets_a_float_zero():
    _, (_, g) = _twice(ignores_y, 3.0, 1.0)
    assert g == (6.0, 0.0) and type(g[1]) is float


def test_arrays_keep_their_dtype():
    rng = np.random.default_rng(0)
    W, x = rng.standard_normal((2, 3)), rng.standard_normal(3)
    (_, g1), (_, g2) = _twice(loss, W, x)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b)
    g32 = zp.gradient(loss, W.astype(np.float32), x)  # same kinds: fast path
    assert g32[0].dtype == np.float32 and g32[1].dtype == np.float64
    np.testing.assert_allclose(g32[0], g1[0], rtol=1e-5)


def test_other_argument_types_take_the_general_path():
    zp.gradient(poly, 2.0, 2.0)
    assert zp.gradient(poly, 2, 2.0) == (14.0, 1.0)
    assert zp.gradient(poly, np.float64(2.0), 2.0) == (14.0, 1.0)
    (gx,) = zp.gradient(lambda v: np.sum(v * v), np.array([1, 2]))  # int array
    assert gx is None or not np.any(gx)


def test_rebinding_a_guarded_callee_recompiles(monkeypatch):
    assert zp.gradient(guarded, 0.5) == zp.gradient(guarded, 0.5)
    monkeypatch.setattr(sys.modules[__name__], "mm", type("M", (), {"tanh": math.sin}))
    (g,) = zp.gradient(guarded, 0.5)
    assert g == pytest.approx(2.0 * math.cos(0.5))


def test_is_differentiating_during_the_forward():
    seen = []

    def f(x):
        seen.append(zp.is_differentiating())
        return x * 2.0

    zp.gradient(f, 1.0)
    zp.gradient(f, 1.0)
    assert seen == [True, True]
    assert not zp.is_differentiating()


def test_errors_on_the_fast_path_name_the_user_line():
    zp.gradient(divides, 1.0, 3.0)
    with pytest.raises(ZeroDivisionError) as info:
        zp.gradient(divides, 1.0, 2.0)
    assert "return x / (y - 2.0)" in info.value.__notes__[0]


def test_entries_die_with_their_function():
    api._FAST.clear()

    def f(x):
        return x * x

    zp.gradient(f, 1.0)
    assert len(api._FAST) == 1
    del f
    gc.collect()
    assert not api._FAST


def test_implicit_parameters_are_not_fast_pathed():
    W = np.ones(3)
    ps = zp.params(W)
    g1 = zp.gradient(lambda: np.sum(W * W), ps)
    g2 = zp.gradient(lambda: np.sum(W * W), ps)
    np.testing.assert_allclose(g1[W], 2 * W)
    np.testing.assert_allclose(g2[W], 2 * W)
