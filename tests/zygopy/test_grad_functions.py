"""`grad` and `value_and_grad`: argnums (an int, a tuple, negative), the value,
`has_aux`, and arguments nobody asked about (not differentiated at all)."""

import functools

import numpy as np
import pytest

import zygopy as zp
from zygopy.testing import assert_close, numerical_vjp


def poly(x, y):
    return 3 * x**2 + 2 * x * y + y


def layer_loss(W, x):
    return np.sum(np.tanh(x @ W.T) ** 2)


def with_aux(W, x):
    h = np.tanh(x @ W.T)
    return np.sum(h**2), {"activations": h, "note": "aux is returned as it is"}


RNG = np.random.default_rng(0)
W = RNG.standard_normal((3, 4))
X = RNG.standard_normal((5, 4))


def test_argnums_int_tuple_and_negative():
    assert zp.grad(poly)(2.0, 3.0) == 18.0
    assert zp.grad(poly, argnums=1)(2.0, 3.0) == 5.0
    assert zp.grad(poly, argnums=-1)(2.0, 3.0) == 5.0
    assert zp.grad(poly, argnums=(1, 0))(2.0, 3.0) == (5.0, 18.0)


def test_value_and_grad_matches_withgradient():
    value, g = zp.value_and_grad(poly, argnums=(0, 1))(2.0, 3.0)
    assert (value, g) == zp.withgradient(poly, 2.0, 3.0)


@pytest.mark.parametrize("argnums", [0, 1, (0, 1), (1,)])
def test_array_arguments_by_argnums_match_differences(argnums):
    got = zp.grad(layer_loss, argnums=argnums)(W, X)
    want = numerical_vjp(layer_loss, (W, X), 1.0)
    if isinstance(argnums, int):
        assert_close(got, want[argnums])
    else:
        for g, i in zip(got, argnums):
            assert_close(g, want[i])


def test_an_array_nobody_asked_about_is_not_differentiated(products):
    zp.grad(layer_loss, argnums=0)(W, X)  # x @ W.T: only W's side
    assert products and all(need == (False, True) for need in products)


def test_has_aux_returns_the_aux_untouched_and_differentiates_the_value():
    (value, aux), g = zp.value_and_grad(with_aux, has_aux=True)(W, X)
    assert value == pytest.approx(layer_loss(W, X))
    assert aux["note"] == "aux is returned as it is"
    assert aux["activations"].shape == (5, 3)
    assert_close(g, zp.grad(layer_loss)(W, X))


def test_has_aux_needs_a_pair():
    with pytest.raises(TypeError, match=r"must return a pair \(value, aux\)"):
        zp.value_and_grad(poly, has_aux=True)(1.0, 2.0)


def test_argnums_out_of_range():
    with pytest.raises(IndexError, match="argnums 2 is out of range for 2 arguments"):
        zp.value_and_grad(layer_loss, argnums=2, has_aux=False)(W, X)


def test_argnums_with_array_data_runs_a_fused_function_from_the_second_call():
    from zygopy import api

    api._FAST.clear()
    g = zp.value_and_grad(layer_loss, argnums=0)
    first = g(W, X)
    second = g(W, X)
    key = (api._ref(layer_loss), (True, False))
    assert key in api._FAST and api._FAST[key][4][True] is not None
    assert first[0] == pytest.approx(second[0])
    assert_close(second[1], first[1])
    third = zp.grad(layer_loss, argnums=0)(W, X)  # the gradient alone
    assert_close(third, first[1])
    assert api._FAST[key][4][False] is not None


def test_fused_argnums_differentiates_only_the_chosen(products):
    g = zp.grad(layer_loss, argnums=0)
    g(W, X)
    g(W, X)  # fused from here on
    products.clear()
    g(W, X)
    assert products == [(False, True)]


@functools.cache
def cached_square(x):
    return x ** 2


def test_a_cached_function_is_differentiated_through_what_it_caches():
    assert zp.gradient(lambda x: cached_square(x) * 3, 2.0) == (12.0,)
    assert zp.gradient(lambda x: cached_square(x) * 3, 2.0) == (12.0,)  # cached now


def test_api_misuse_is_named():
    with pytest.raises(TypeError, match="must be callable, got a float"):
        zp.gradient(3.0, 1.0)
    with pytest.raises(IndexError, match="argnums 3 is out of range for 1 arguments"):
        zp.grad(lambda x: x * 2, argnums=3)(1.0)
    with pytest.raises(TypeError, match="params takes arrays"):
        zp.params(1.0)
    _, back = zp.pullback(lambda x: x * 2, np.ones(3))
    with pytest.raises(ValueError, match=r"shape \(4,\), but the output has shape \(3,\)"):
        back(np.ones(4))
    _, back = zp.pullback(lambda x: (x, x * 2), np.ones(3))
    with pytest.raises(ValueError, match="a tuple of 2, must be one too"):
        back(np.ones(3))


def test_grad_passes_keywords_through_and_takes_has_aux():
    def loss(w, x, scale=1.0):
        return scale * np.sum((w * x) ** 2)

    w, x = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    np.testing.assert_allclose(zp.grad(loss)(w, x, scale=3.0), 6 * w * x**2)
    value, g = zp.value_and_grad(loss, argnums=(0, 1))(w, x, scale=3.0)
    assert value == 3 * np.sum((w * x) ** 2)
    np.testing.assert_allclose(g[1], 6 * w**2 * x)

    def with_aux(w):
        v = np.sum(w**2)
        return v, {"norm": np.sqrt(v)}

    g, aux = zp.grad(with_aux, has_aux=True)(w)
    np.testing.assert_allclose(g, 2 * w)
    assert aux == {"norm": np.sqrt(5.0)}


def test_keywords_reach_the_innermost_function_of_nested_grads():
    def f(x, s=1.0):
        return s * x**3

    assert zp.grad(zp.grad(f))(2.0, s=3.0) == 36.0  # d2/dx2 of 3 x^3 at 2
    with pytest.raises(zp.ZygopyError, match="keyword arguments inside differentiated code"):
        zp.grad(lambda x: zp.grad(f)(x, s=x))(2.0)  # (their gradient would be lost)
