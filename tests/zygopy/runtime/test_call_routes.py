"""Calls of callable objects from differentiated code: the route found for a
type (its class's `__call__`, compiled) is remembered, and forgotten when the
class's `__call__` or the rule registries change."""

import numpy as np
import pytest

import zygopy as zp
from zygopy.runtime import dispatch, specialised


@pytest.fixture(autouse=True)
def _general_path(monkeypatch):
    """These calls go the general way (dispatch's routes), not by a flat
    function specialised on the arguments' structure."""
    monkeypatch.setattr(specialised, "ENABLED", False)


class Scale:
    def __init__(self, w):
        self.w = w

    def __call__(self, x):
        return self.w * x


def twice(layer, x):
    return layer(layer(x))


def test_a_callable_object_is_differentiated_through_its_call():
    layer = Scale(3.0)
    for _ in range(3):  # the route is found once, then remembered
        (d_layer, dx) = zp.gradient(twice, layer, 2.0)
        assert d_layer.w == pytest.approx(2 * 3.0 * 2.0) and dx == pytest.approx(9.0)
    assert dispatch._ROUTES[Scale][2] is Scale.__call__


def test_rebinding_the_class_call_is_seen(monkeypatch):
    layer = Scale(3.0)
    zp.gradient(twice, layer, 2.0)
    monkeypatch.setattr(Scale, "__call__", lambda self, x: self.w * x * x)
    (d_layer, dx) = zp.gradient(twice, layer, 2.0)
    # y = w * (w x^2)^2 = w^3 x^4
    assert dx == pytest.approx(3.0**3 * 4 * 2.0**3)
    assert d_layer.w == pytest.approx(3 * 3.0**2 * 2.0**4)


def test_a_rule_registered_later_for_the_type_is_used():
    class Cube:
        def __call__(self, x):
            return x * x * x

    cube = Cube()
    assert zp.gradient(lambda x: cube(x), 2.0) == (pytest.approx(12.0),)

    @zp.rule((Cube, "__call__"))
    def cube_rule(c, x):
        return x * x * x, lambda dy: (None, dy * 100.0)  # a deliberately odd rule

    assert zp.gradient(lambda x: cube(x), 2.0) == (pytest.approx(100.0),)


def test_an_instance_declared_nondifferentiable_is_respected():
    class Noise:
        def __call__(self, x):
            return x * 2.0

    quiet, loud = Noise(), Noise()
    assert zp.gradient(lambda x: loud(x), 1.0) == (pytest.approx(2.0),)
    zp.nondifferentiable(quiet)
    (g,) = zp.gradient(lambda x: quiet(x) + loud(x), 1.0)
    assert g == pytest.approx(2.0)


def test_arrays_through_callable_objects_keep_masks():
    class Affine:
        def __init__(self, W):
            self.W = W

        def __call__(self, x):
            return np.tanh(x @ self.W)

    rng = np.random.default_rng(0)
    f = Affine(rng.standard_normal((3, 2)))
    x = rng.standard_normal((4, 3))
    (g,) = zp.gradient(lambda m: np.sum(m(x) ** 2), f)
    h = 1e-6
    num = np.zeros_like(f.W)
    for i in np.ndindex(f.W.shape):
        W = f.W.copy()
        W[i] += h
        up = np.sum(np.tanh(x @ W) ** 2)
        W[i] -= 2 * h
        num[i] = (up - np.sum(np.tanh(x @ W) ** 2)) / (2 * h)
    np.testing.assert_allclose(g.W, num, rtol=1e-6, atol=1e-8)


def _stand_in_sum(x, axis=None):
    return np.sum(x, axis=axis)


class _StandInUfunc:
    """Named as CuPy names its ufuncs (the `gpu` tests call CuPy's own)."""

    __module__ = "cupy._core._kernel"
    __name__ = "tanh"

    def __call__(self, x):
        return np.tanh(x)


def test_cupy_functions_are_served_by_numpys_rules():
    import types

    cupy_sum = types.FunctionType(_stand_in_sum.__code__, globals(), "sum")
    cupy_sum.__module__ = "cupy._math.sumprod"
    cupy_tanh = _StandInUfunc()
    x = np.array([0.1, 0.5, -0.3])
    got = zp.gradient(lambda x: cupy_sum(cupy_tanh(x) ** 2), x)
    np.testing.assert_allclose(got[0], 2 * np.tanh(x) * (1 - np.tanh(x) ** 2))
