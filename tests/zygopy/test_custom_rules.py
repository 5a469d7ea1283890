"""The public rule API: rule, linear, elementwise and nondifferentiable, as a
user registers them for functions zygopy cannot see into."""

from __future__ import annotations

import math

import numpy as np
import pytest

import zygopy as zp
from zygopy.testing import assert_close, check_grads, numerical_vjp

# Black boxes: made by np.frompyfunc / np.vectorize, so they have no source
# zygopy could read and no rule until one is registered below.
softsign_box = np.vectorize(lambda v: v / (1 + abs(v)), otypes=[float])
tally_box = np.vectorize(lambda v: float(v > 0), otypes=[float])


def reversed_cumsum(x):
    """A black box for the test of `linear`: cumsum along the last axis, reversed."""
    return np.flip(np.cumsum(np.flip(x, -1), -1), -1)


@zp.rule(softsign_box)
def _softsign_rule(x):
    y = softsign_box(x)
    return y, lambda dy: (dy / (1 + np.abs(x)) ** 2,)


zp.linear(reversed_cumsum, lambda dy, x: np.cumsum(dy, -1))
zp.nondifferentiable(tally_box)


def smooth_step(x):
    return x * x * (3 - 2 * x)


zp.elementwise(smooth_step, "smooth_step", "x", "x * x * (3 - 2 * x)", "6 * x * (1 - x)")


def loss(x):
    return np.sum(softsign_box(x) * reversed_cumsum(x)) + np.sum(tally_box(x) * x) \
        + np.sum(smooth_step(x))


def test_user_rules_give_the_right_gradient():
    x = np.random.default_rng(0).uniform(-1, 1, (3, 4))
    (got,) = zp.gradient(loss, x)
    (want,) = numerical_vjp(loss, [x], 1.0)
    assert_close(got, want, 1e-6, 1e-8)


def test_nondifferentiable_gives_no_gradient_through_it():
    (g,) = zp.gradient(lambda x: np.sum(tally_box(x)), np.ones(3))
    assert np.all(g == 0)


def test_linear_rule_second_order():
    x = np.random.default_rng(1).uniform(-1, 1, 4)
    f = lambda x: np.sum(reversed_cumsum(x) ** 2)
    H = zp.hessian(f, x)
    L = np.triu(np.ones((4, 4)))  # reversed_cumsum(x) = L @ x
    assert_close(H, 2 * L.T @ L, 1e-10, 1e-12)


def test_elementwise_row_is_inlined_in_generated_code():
    def g(x):
        return np.sum(smooth_step(x))

    zp.gradient(g, np.ones(2))
    text = zp.source(g)
    assert "6 * " in text  # the partial derivative, inlined from the row


def test_rule_on_math_style_scalar_function():
    def black(x):
        return math.atan(x) * 2  # pretend it is opaque

    zp.rule(black)(lambda x: (black(x), lambda dy: (dy * 2 / (1 + x * x),)))

    def f(x):
        return black(x) ** 2

    (got,) = zp.gradient(f, 0.3)
    (want,) = numerical_vjp(f, [0.3], 1.0)
    assert got == pytest.approx(want, rel=1e-7)


def test_a_black_box_without_a_rule_is_a_clear_error():
    box = np.frompyfunc(lambda v: v * 2.0, 1, 1)  # (np.vectorize is differentiated)
    with pytest.raises(zp.NoRuleError, match=r"\(vectorized\)"):
        zp.gradient(lambda x: np.sum(box(x)), np.ones(2))


def test_a_pullback_returning_a_bare_array_is_named():
    box = np.vectorize(lambda v: v * 3.0, otypes=[float])
    zp.rule(box)(lambda x: (box(x), lambda dy: 3.0 * dy))  # not a tuple

    with pytest.raises(zp.ZygopyError, match="returned a ndarray.*tuple"):
        zp.gradient(lambda x: np.sum(box(x)), np.ones(2))


def test_a_pullback_with_too_many_cotangents_is_named():
    box = np.vectorize(lambda v: v * 3.0, otypes=[float])
    zp.rule(box)(lambda x: (box(x), lambda dy: (3.0 * dy, 1.0)))

    with pytest.raises(zp.ZygopyError, match="2 cotangents for 1 positional"):
        zp.gradient(lambda x: np.sum(box(x)), np.ones(2))


def test_the_suggested_rule_code_is_valid_python_for_a_frompyfunc_ufunc():
    ufunc = np.frompyfunc(math.exp, 1, 1)
    with pytest.raises(zp.NoRuleError) as info:
        zp.gradient(lambda x: float(ufunc(x)), 0.5)
    text = str(info.value)
    assert "@zygopy.rule(fn)" in text and "fn being" in text


# -- keyword arguments that carry gradients ----------------------------------------
def scaled_tanh(x, scale=1.0, shift=0.0):
    return np.tanh(x * scale) + shift


@zp.rule(scaled_tanh)
def scaled_tanh_rule(x, scale=1.0, shift=0.0):
    y = np.tanh(x * scale)

    def scaled_tanh_pullback(dy):
        d = dy * (1 - y * y)
        return d * scale, np.sum(d * x), np.sum(dy)

    return y + shift, scaled_tanh_pullback


def uses_keywords(x, s, c):
    return np.sum(scaled_tanh(x, shift=c, scale=s) ** 2)


def test_keyword_arguments_of_a_rule_get_their_gradients():
    args = (np.array([0.3, -0.8]), 1.7, 0.25)
    got = zp.gradient(uses_keywords, *args)
    want = numerical_vjp(uses_keywords, args, 1.0)
    for g, w in zip(got, want):
        assert_close(g, w)


def pads_with(x, c):
    return np.sum(np.pad(x, 1, constant_values=c) * np.arange(4.0))


def test_a_keyword_the_rule_cannot_return_is_a_clear_error():
    with pytest.raises(zp.NoRuleError, match="keyword argument `constant_values` carries "
                                             "a gradient, but the rule of np.pad gives it none"):
        zp.gradient(pads_with, np.array([0.3, -0.8]), 0.5)


def pads_with_constants(x, c):
    return np.sum(np.pad(x, 1, constant_values=2.5) ** 2) + \
        np.sum(np.pad(x, 1, constant_values=zp.stop_gradient(c)) * np.arange(4.0)) + \
        np.max(x, initial=-5.0) + np.sum(np.diff(x, prepend=0.0, append=c * 0.0 + 1.0))


def test_keywords_a_rule_cannot_return_are_fine_as_constants():
    """Refused only when the backward pass needs their gradient: a literal or
    a stop_gradient value differentiates (they were refused up front)."""
    x = np.array([0.3, -0.8])
    check_grads(lambda x: pads_with_constants(x, 0.5), x)


def shortened_rule_arguments(x, c):
    return np.sum(np.diff(x, prepend=c * 2.0) ** 2)


def test_a_moved_keyword_without_a_cotangent_is_refused_not_zero():
    """A pullback shorter than the rule's positional arguments gives the
    missing differentiable ones no silent zero: refused when used."""
    with pytest.raises(zp.NoRuleError, match="`prepend` carries a gradient"):
        zp.gradient(shortened_rule_arguments, np.array([0.3, -0.8]), 0.5)


def scaled(x, s):
    return x * s


@zp.rule(scaled)
def scaled_rule(x, s):
    def scaled_pullback(dy):
        return (dy * s,)  # none for s

    return x * s, scaled_pullback


def test_a_pullback_without_a_cotangent_for_a_differentiable_argument():
    assert zp.gradient(lambda x: scaled(x, 3.0), 2.0) == (3.0,)  # a constant s: fine
    with pytest.raises(zp.NoRuleError, match="scaled.*argument 1 carries a gradient"):
        zp.gradient(lambda x, s: scaled(x, s * 2.0), 2.0, 0.5)


def test_integer_keywords_are_settings_not_gradients():
    (g,) = zp.gradient(lambda x: np.sum(np.mean(x, axis=1, keepdims=True) ** 2), np.ones((2, 3)))
    assert g.shape == (2, 3)


@pytest.mark.parametrize("f, keyword", [
    (lambda x: np.sum(np.diff(x, append=x[:1]) ** 2), "append"),
    (lambda x: np.sum(x, initial=x[0]), "initial"),
    (lambda x: np.sum(np.pad(x, 1, constant_values=x[0]) ** 2), "constant_values"),
])
def test_a_refused_keyword_read_from_an_argument_names_the_keyword(f, keyword):
    """The refused cotangent reaches the indexing rule's pullback: its error,
    not numpy's "setting an array element with a sequence"."""
    with pytest.raises(zp.NoRuleError, match=f"keyword argument `{keyword}` carries a gradient"):
        zp.gradient(f, np.array([0.3, -1.2, 0.8, 2.0]))


def forgot_its_pullback(x):
    return np.exp(x)


@zp.rule(forgot_its_pullback)
def _forgot_its_pullback_rule(x):
    return forgot_its_pullback(x)  # a 2-element array: it unpacked as (value, pullback)


def test_a_rule_not_returning_value_and_pullback_is_refused():
    with pytest.raises(zp.ZygopyError, match=r"returned a value of type ndarray, not \(value, pullback\)"):
        zp.pullback(lambda v: forgot_its_pullback(v) * 2, np.array([1.0, 2.0]))


def sum_with_a_number_cotangent(x):
    return np.sum(x)


@zp.rule(sum_with_a_number_cotangent)
def _sum_with_a_number_cotangent_rule(x):
    return sum_with_a_number_cotangent(x), lambda dy: (dy,)  # should be shaped like x


def test_a_cotangent_smaller_than_its_argument_is_refused_clearly():
    with pytest.raises(ValueError, match=r"a cotangent of shape \(\) for a value of shape "
                       r"\(2,\): a rule's pullback returns one cotangent shaped like each"):
        zp.gradient(lambda v: sum_with_a_number_cotangent(v) * 2, np.array([1.0, 2.0]))


def squared_by_a_rule(x):
    return x * x


@zp.rule(squared_by_a_rule)
def _squared_by_a_rule(x):
    return squared_by_a_rule(x), lambda dy: (dy * 42.0,)  # (not the body's 2x: on purpose)


def test_a_rule_of_the_function_differentiated_itself_is_used():
    f = squared_by_a_rule
    for _ in range(3):  # (the second and third calls may take fast paths)
        assert zp.grad(f)(3.0) == 42.0
        assert zp.gradient(f, 3.0) == (42.0,)
        assert zp.withgradient(f, np.array(3.0))[1] == (42.0,)
    assert zp.pullback(f, 3.0)[1](1.0) == (42.0,)
    np.testing.assert_array_equal(zp.jacobian(f, np.array([3.0]))[0], [[42.0]])


def cubed_later_given_a_rule(x):
    return x**3


def test_a_rule_registered_after_gradients_were_taken_is_used():
    for _ in range(3):  # fused and remembered by now
        assert zp.gradient(cubed_later_given_a_rule, 2.0) == (12.0,)
        assert zp.gradient(lambda x: cubed_later_given_a_rule(x) * 2, 2.0) == (24.0,)
    zp.rule(cubed_later_given_a_rule)(lambda x: (x**3, lambda dy: (dy * -1.0,)))
    assert zp.gradient(cubed_later_given_a_rule, 2.0) == (-1.0,)
    assert zp.gradient(lambda x: cubed_later_given_a_rule(x) * 2, 2.0) == (-2.0,)


def test_jvp_of_a_function_with_a_reverse_rule_is_refused():
    g = lambda x: 2.0 * squared_by_a_rule(x)
    assert zp.grad(g)(3.0) == 84.0  # reverse mode: the rule
    with pytest.raises(zp.ZygopyError, match=r"forward mode \(jvp.* of .*squared_by_a_rule"):
        zp.jvp(g, (3.0,), (1.0,))
    # second order would mix the rule (reverse) with the body's tangent (forward):
    # 48 here where the rule's own derivative says 84; refused as jvp is
    with pytest.raises(zp.ZygopyError, match=r"forward mode \(jvp, and second order"):
        zp.hvp(lambda x: squared_by_a_rule(x) * x, (3.0,), (1.0,))


def cube_with_an_exact_rule(x):
    return x**3


def _cube_rule(x):
    return x**3, lambda dy: (dy * 3 * x**2,)


_cube_rule.exact = True  # its pullback is the body's derivative: forward mode may use the body
zp.rule(cube_with_an_exact_rule)(_cube_rule)


def log1pexp(x):
    return np.log(1.0 + np.exp(x))


zp.elementwise(log1pexp, "log1pexp", "x", "log(1. + exp(x))", "1. - 1. / (1. + exp(x))")


def test_forward_mode_uses_exact_rules_and_elementwise_formulas():
    assert zp.jvp(lambda x: cube_with_an_exact_rule(x) * 2, (2.0,), (1.0,)) == (16.0, 24.0)
    x = np.array([1000.0, 0.5])
    with np.errstate(over="ignore"):
        _, t = zp.jvp(log1pexp, (x,), (np.ones(2),))  # called itself: its formula's tangent
        (g,) = zp.gradient(lambda x: np.sum(log1pexp(x)), x)
    np.testing.assert_allclose(t, g)
    assert g[0] == 1.0  # the formula's, not the body's nan


def softplus_spelled_with_np(x):
    return np.log1p(np.exp(x))


def test_elementwise_formulas_take_numpys_spelling_and_say_what_they_miss():
    zp.elementwise(softplus_spelled_with_np, "softplus_np", "x", "np.log1p(np.exp(x))",
                   "1 / (1 + np.exp(-x))")
    x = np.array([-1.0, 0.5])
    (g,) = zp.gradient(lambda x: np.sum(softplus_spelled_with_np(x)), x)
    np.testing.assert_allclose(g, 1 / (1 + np.exp(-x)))
    with pytest.raises(ValueError, match=r"calls zeta, which the formula table does not"):
        zp.elementwise(softplus_spelled_with_np, "bad", "x", "zeta(x)", "1")
    with pytest.raises(ValueError, match=r"reads y, which is not one of the inputs x"):
        zp.elementwise(softplus_spelled_with_np, "bad", "x", "x", "y")


def rounded_product(x, s):
    return np.sum(np.round(x * s))


@zp.rule(rounded_product)
def _rounded_product_rule(x, s):
    return rounded_product(x, s), lambda dy: (dy * s, dy * x)  # a straight-through estimate


def test_a_rule_is_used_whichever_arguments_are_differentiated():
    x, s = np.array([0.3, 1.6]), np.array([2.0, 3.0])
    for _ in range(2):
        np.testing.assert_array_equal(zp.grad(rounded_product)(x, s), s)
        np.testing.assert_array_equal(zp.grad(rounded_product, argnums=1)(x, s), x)
        np.testing.assert_array_equal(zp.value_and_grad(rounded_product)(x, s)[1], s)


def scaled_by_a_pair(p, x):
    return np.round(p[0] * x + p[1])


@zp.rule(scaled_by_a_pair)
def _scaled_by_a_pair_rule(p, x):
    y = scaled_by_a_pair(p, x)
    return y, lambda dy: ((np.sum(dy * x), np.sum(dy)), dy * p[0])


def test_forward_mode_refuses_a_rule_whose_dual_comes_in_a_tuple():
    xx = np.array([0.4, 1.5])
    with pytest.raises(zp.ZygopyError, match=r"forward mode \(jvp"):
        zp.jvp(lambda w: np.sum(scaled_by_a_pair((w, 0.5), xx)), (2.0,), (1.0,))


class RoundsWithARule:
    def __init__(self, w):
        self.w = w

    def q(self, x):
        return np.sum(np.round(self.w * x))


@zp.rule(RoundsWithARule.q)
def _rounds_q_rule(self, x):
    y = self.q(x)
    return y, lambda dy: (zp.Tangent(RoundsWithARule, w=dy * x), dy * self.w)


def test_a_rule_of_a_method_is_used_when_called_as_a_method():
    obj, x = RoundsWithARule(np.array([1.5, 2.0])), np.array([0.3, 0.6])
    # (called as obj.q(x) it was compiled from its body: a zero gradient)
    np.testing.assert_array_equal(zp.gradient(lambda x: obj.q(x), x)[0], obj.w)
    np.testing.assert_array_equal(zp.gradient(lambda x: RoundsWithARule.q(obj, x), x)[0], obj.w)
    (g,) = zp.gradient(lambda o: o.q(x), obj)
    np.testing.assert_array_equal(g.w, x)


class HoldsARuledFunction:
    def __init__(self):
        self.f = squared_by_a_rule  # kept in a field, as a layer's activation

    def __call__(self, x):
        return self.f(x)


def test_forward_mode_refuses_a_reverse_rule_kept_in_a_field():
    m = HoldsARuledFunction()
    assert zp.grad(lambda x: m(x))(3.0) == 42.0
    with pytest.raises(zp.ZygopyError, match=r"forward mode \(jvp"):
        zp.jvp(lambda x: m(x), (3.0,), (1.0,))


def sin_of_pi_x(x):
    return np.sin(np.pi * x)


def test_elementwise_formulas_read_numpys_constants():
    zp.elementwise(sin_of_pi_x, "sin_of_pi_x", "x", "np.sin(np.pi * x)",
                   "np.pi * np.cos(np.pi * x)")
    (g,) = zp.gradient(lambda x: np.sum(sin_of_pi_x(x)), np.array([0.25, 1.0]))
    np.testing.assert_allclose(g, np.pi * np.cos(np.pi * np.array([0.25, 1.0])))


def test_numerical_vjp_of_a_transposed_or_sliced_input():
    """The shared checker perturbs a copy in C order: a transposed input once
    gave an all-zero difference quotient (reshape(-1) of it is a copy), so a
    wrong rule would have passed."""
    a = np.arange(6.0).reshape(2, 3)
    for x in (a.T, a[:, ::2], np.asfortranarray(a)):
        (got,) = numerical_vjp(lambda v: np.sum(v * v), [x], 1.0)
        assert_close(got, 2 * x)


def kernel(x, scale):
    """A plain function with a rule of the user's (as layers' kernels)."""
    return np.sum(x * x) * scale


def through_kernel(x):
    return kernel(x, 3.0) + 1.0


def test_a_kernels_rule_is_kept_for_later_calls_and_replaced_with_it(monkeypatch):
    """The dispatcher keeps what it read of a plain function's rule for its
    later calls; registering another rule, or the registry's entry changing
    under it, is seen at the next call."""
    from zygopy.rules.registry import RULES

    x = np.array([1.0, -2.0])

    @zp.rule(kernel)
    def _first(x, scale):
        return kernel(x, scale), lambda dy: (dy * 2 * scale * x, None)

    for _ in range(3):  # general path, then fused; the rule read once, then kept
        np.testing.assert_allclose(zp.gradient(through_kernel, x)[0], 6 * x)

    @zp.rule(kernel)
    def _second(x, scale):  # (deliberately not the derivative: which rule runs shows)
        return kernel(x, scale), lambda dy: (dy * x, None)

    np.testing.assert_allclose(zp.gradient(through_kernel, x)[0], x)
    monkeypatch.setitem(RULES, kernel, _first)
    np.testing.assert_allclose(zp.gradient(through_kernel, x)[0], 6 * x)
    with pytest.raises(zp.ZygopyError, match="forward mode"):
        zp.jvp(through_kernel, (x,), (np.ones(2),))


def cube(x):
    return x * x * x


def test_a_rule_declared_exact_after_its_first_call_lets_forward_mode_in():
    """`rule.exact = True` set after the function has run (its rule kept by
    the dispatcher) still lets jvp differentiate the body."""
    def cube_rule(x):
        return cube(x), lambda dy: (3 * x * x * dy,)

    zp.rule(cube)(cube_rule)
    assert zp.gradient(lambda v: cube(v) + 0.0, 1.5) == (6.75,)
    with pytest.raises(zp.ZygopyError, match="forward mode"):
        zp.jvp(lambda v: cube(v) + 0.0, (1.5,), (1.0,))
    cube_rule.exact = True
    assert zp.jvp(lambda v: cube(v) + 0.0, (1.5,), (1.0,)) == (3.375, 6.75)
