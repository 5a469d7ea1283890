"""Structural tangents (`zp.Tangent`): accumulation and arithmetic by numbers,
field by field, through nested tangents, tuples, lists and dicts."""

import numpy as np
import pytest

import zygopy as zp
from zygopy import ZERO, Tangent


class Layer:
    pass


def tangent():
    inner = Tangent(Layer, w=np.array([1.0, -2.0]), b=None, cache=ZERO)
    return Tangent(Layer, layers=(inner, [np.array([3.0])]), extra={"k": 2.0})


def test_scaling_and_negation_act_on_every_field():
    t = tangent() * 2
    assert np.array_equal(t.layers[0].w, [2.0, -4.0]) and t.layers[0].b is None
    assert t.layers[0].cache is ZERO and np.array_equal(t.layers[1][0], [6.0])
    assert t.extra == {"k": 4.0}
    assert 0.5 * tangent() == tangent() / 2
    assert -tangent() == tangent() * -1


def test_sums_and_differences_match_fields():
    a, b = tangent(), tangent() * 3
    assert a + b == tangent() * 4
    assert b - a == tangent() * 2


def test_scaling_by_something_else_is_a_type_error():
    with pytest.raises(TypeError):
        tangent() * np.ones(2)
    with pytest.raises(TypeError):
        tangent() * True


def test_gradients_of_models_scale():
    import layers

    m = layers.Chain(layers.Dense(2, 3), layers.Dense(3, 1))
    (g,) = zp.gradient(lambda mm: np.sum(mm(np.ones((1, 2)))), m)
    half = g * 0.5
    np.testing.assert_allclose(half.layers[0].weight, g.layers[0].weight / 2)
