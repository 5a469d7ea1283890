"""Properties of user classes inside differentiated code: the getter is
differentiated, so the gradient reaches the fields it reads (it was silently
zero: the cotangent went to a field named like the property)."""

from dataclasses import dataclass

import numpy as np
import pytest

import zygopy as zp
from layers import Chain
from zygopy.testing import assert_close

RNG = np.random.default_rng(0)
X = RNG.standard_normal(3)


class WeightNormed:
    """Weight normalisation: the weight is a property of a direction and a scale."""

    def __init__(self, v, g):
        self.v, self.g = v, g

    @property
    def weight(self):
        return self.g * self.v / np.sqrt(np.sum(self.v * self.v))

    def __call__(self, x):
        return np.tanh(self.weight @ x) + self.g  # the property and a field both read


@dataclass
class Shifted:
    w: np.ndarray
    shift: float

    @property
    def offset(self):
        return self.shift * 2.0

    def __call__(self, x):
        return self.w * x + self.offset


def _numerical(loss, model, name):
    field = getattr(model, name)
    scalar = np.ndim(field) == 0
    arr = np.array(field, dtype=float, ndmin=1)
    out = np.zeros_like(arr)
    for i in np.ndindex(arr.shape):
        for sign in (1, -1):
            bumped = arr.copy()
            bumped[i] += sign * 1e-6
            setattr(model, name, float(bumped[0]) if scalar else bumped)
            out[i] += sign * loss(model) / 2e-6
    setattr(model, name, field)
    return out[0] if scalar else out


def test_gradient_through_a_property_reaches_its_fields():
    model = WeightNormed(RNG.standard_normal((2, 3)), 1.5)

    def loss(m):
        return np.sum(m(X) ** 2)

    (g,) = zp.gradient(loss, model)
    assert_close(g.v, _numerical(loss, model, "v"))
    assert_close(g.g, _numerical(loss, model, "g"))


def test_properties_of_dataclass_layers_in_a_chain():
    model = Chain(Shifted(RNG.standard_normal(3), 0.3), np.sin)

    def loss(m):
        return np.sum(m(X) ** 2)

    (g,) = zp.gradient(loss, model)
    layer = model.layers[0]
    assert_close(g.layers[0].w, _numerical(lambda m: loss(Chain(m, np.sin)), layer, "w"))
    assert_close(g.layers[0].shift, _numerical(lambda m: loss(Chain(m, np.sin)), layer, "shift"))


class Parent:
    def __init__(self, w):
        self.w = w

    def __call__(self, x):
        return np.sum(np.tanh(self.w * x))


class ChildBySuper(Parent):
    def __call__(self, x):
        return super().__call__(x) * 0.5


class ChildByName(Parent):
    def __call__(self, x):
        return Parent.__call__(self, x) * 0.5


def test_super_is_refused_with_the_explicit_call_to_write():
    with pytest.raises(zp.UnsupportedSyntax, match=r"super\(\)") as info:
        zp.gradient(lambda m: m(X), ChildBySuper(RNG.standard_normal(3)))
    assert "Base.__call__(self, x)" in str(info.value)


def test_a_parent_method_called_by_its_class_differentiates():
    model = ChildByName(RNG.standard_normal(3))
    (g,) = zp.gradient(lambda m: m(X), model)
    assert_close(g.w, _numerical(lambda m: m(X), model, "w"))


# -- decorated functions (functools.wraps) ----------------------------------------
def _scaled_twice(fn):
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kw):
        return 2.0 * fn(*args, **kw)

    return wrapper


@_scaled_twice
def decorated(x, shift=0.0):
    return np.sin(x) * x + shift


def test_a_decorated_function_differentiates_its_wrapper():
    # the wrapper's own code runs (not the wrapped function's source, which
    # inspect would hand out for it): the factor 2 is part of the gradient
    (g,) = zp.gradient(decorated, 0.5)
    assert g == pytest.approx(2.0 * (np.cos(0.5) * 0.5 + np.sin(0.5)))
    assert zp.gradient(lambda s: decorated(0.5, shift=s), 0.3) == (2.0,)
