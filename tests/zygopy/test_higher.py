"""Higher order: jvp (forward mode), hvp, hessian and nested grad, on numbers
and arrays, against central differences of exact gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import zygopy as zp
from zygopy.forward import Dual, NoForwardRule
from zygopy.testing import assert_close, numerical_vjp

H = 1e-6


def numerical_hessian(f, x):
    """Central differences of the exact gradient, one column per entry of x."""
    cols = []
    for i in range(x.size):
        e = np.zeros(x.size)
        e[i] = H
        e = e.reshape(x.shape)
        (gu,), (gd,) = zp.gradient(f, x + e), zp.gradient(f, x - e)
        cols.append((gu - gd) / (2 * H))
    return np.stack(cols, axis=-1).reshape(x.shape + x.shape)


def quadratic_form(x, A):
    return x @ A @ x


def mlp_loss(x, W1, W2, labels):
    h = np.tanh(x @ W1.T)
    z = h @ W2.T
    m = np.max(z, axis=1, keepdims=True)
    logp = z - m - np.log(np.sum(np.exp(z - m), axis=1, keepdims=True))
    return -np.mean(np.sum(labels * logp, axis=1))


def mutating(x):
    out = np.zeros_like(x)
    for i in range(x.shape[0]):
        out[i] = np.sin(x[i]) * x[i]
    return np.sum(out * out)


def loopy(x):
    s = 0.0
    for i in range(3):
        s = s + np.sum(np.exp(x * (i + 1) / 3.0))
    return np.log(s)


def test_hessian_of_a_quadratic_form_is_a_plus_a_transpose():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 4))
    x = rng.standard_normal(4)
    Hx = zp.hessian(lambda v: quadratic_form(v, A), x)
    assert Hx.shape == (4, 4)
    np.testing.assert_allclose(Hx, A + A.T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("f", [
    lambda x: np.sum(np.tanh(x) ** 2),
    lambda x: np.sum(x[:, None] * x[None, :] * np.cos(x)),
    lambda x: np.log(np.sum(np.exp(x))),
    lambda x: np.linalg.norm(x) ** 3,
    lambda x: np.prod(x) + np.max(x * x),
    mutating,
    loopy,
], ids=["tanh2", "outer_cos", "logsumexp", "norm3", "prod_max", "mutating", "loopy"])
@given(seed=st.integers(0, 2**16))
def test_hessian_matches_differences_of_the_gradient(f, seed):
    x = np.random.default_rng(seed).uniform(0.3, 1.5, 4)
    assert_close(zp.hessian(f, x), numerical_hessian(f, x), 1e-5, 1e-6)


def test_hessian_of_an_mlp_loss_in_its_weights():
    rng = np.random.default_rng(1)
    x, W2 = rng.standard_normal((5, 3)), rng.standard_normal((4, 2))
    labels = np.eye(4)[rng.integers(0, 4, 5)]
    W1 = rng.standard_normal((2, 3))
    f = lambda w: mlp_loss(x, w, W2, labels)
    assert_close(zp.hessian(f, W1), numerical_hessian(f, W1), 1e-5, 1e-6)


def test_hessian_of_a_number_is_a_number():
    assert zp.hessian(lambda x: x ** 4, 2.0) == pytest.approx(48.0)


@given(seed=st.integers(0, 2**16))
def test_jvp_matches_central_differences(seed):
    rng = np.random.default_rng(seed)
    W, x, v = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal(4)
    f = lambda x: np.tanh(W @ x) * np.sum(x ** 2)
    y, t = zp.jvp(f, (x,), (v,))
    assert_close(y, f(x))
    assert_close(t, (f(x + H * v) - f(x - H * v)) / (2 * H), 1e-6, 1e-8)
    assert not isinstance(t, Dual)


def test_jvp_of_several_arguments_and_tuple_outputs():
    y, t = zp.jvp(lambda a, b: (a * b, a + b), (2.0, 3.0), (1.0, 0.0))
    assert y == (6.0, 5.0) and t == (3.0, 1.0)


def test_jvp_keeps_float32():
    x = np.ones(3, np.float32)
    y, t = zp.jvp(np.sin, (x,), (np.ones(3, np.float32),))
    assert y.dtype == t.dtype == np.float32


def test_grad_of_grad_on_numbers():
    assert zp.grad(zp.grad(lambda x: 3 * x ** 2 + 2 * x))(2.0) == 6.0
    assert zp.grad(zp.grad(math.sin))(0.5) == pytest.approx(-math.sin(0.5))


def test_third_order_is_refused_clearly():
    with pytest.raises(zp.ZygopyError, match="third-order"):
        zp.grad(zp.grad(zp.grad(lambda x: x ** 3)))(2.0)


def test_third_order_through_a_closure_is_refused_too():
    x0 = np.array([2.0])

    def F(a):  # a gradient whose function closes over `a` (it gave 0, silently)
        return np.sum(zp.gradient(lambda x: np.sum(a**2 * x**3), x0)[0])

    assert zp.grad(F)(0.5) == pytest.approx(24 * 0.5)  # second order: fine
    with pytest.raises(zp.ZygopyError, match="third-order"):
        zp.grad(zp.grad(F))(0.5)
    with pytest.raises(zp.ZygopyError, match="third-order"):
        zp.grad(zp.grad(lambda a: zp.grad(lambda x: a * x**3)(2.0)))(0.5)


def test_grad_of_grad_on_arrays():
    rng = np.random.default_rng(2)
    A, v = rng.standard_normal((3, 3)), rng.standard_normal(3)
    f = lambda x: np.sum(np.sin(A @ x))
    g = lambda x: np.dot(zp.grad(f)(x), v)  # a scalar function of the gradient
    x = rng.standard_normal(3)
    got = zp.grad(g)(x)
    want = numerical_hessian(f, x) @ v
    assert_close(got, want, 1e-5, 1e-7)


def test_grad_through_a_closure_over_the_outer_variable():
    # d/dy [d/dx (x^2 y^3)] at x = 1 = d/dy (2 x y^3) = 6 x y^2
    outer = lambda y: zp.grad(lambda x: x ** 2 * y ** 3)(1.0)
    assert zp.grad(outer)(2.0) == pytest.approx(24.0)


def test_gradient_call_inside_differentiated_code():
    def f(x, y):
        return x * x * y

    def g(x, y):
        dx, dy = zp.gradient(f, x, y)
        return dx + dy  # 2xy + x^2

    assert zp.gradient(g, 1.5, 2.0) == pytest.approx((2 * 2.0 + 2 * 1.5, 2 * 1.5))


def test_value_and_grad_inside_differentiated_code():
    vg = zp.value_and_grad(lambda x: x ** 3)

    def h(x):
        y, g = vg(x)
        return y + g  # x^3 + 3x^2

    assert zp.grad(h)(2.0) == pytest.approx(3 * 4 + 6 * 2)


def test_missing_forward_rule_is_named():
    x = Dual(np.ones(3), np.ones(3))
    with pytest.raises(NoForwardRule, match="numpy.*interp|interp"):
        np.interp(x, [0.0, 1.0], [0.0, 1.0])


def test_forward_mode_through_arrays_filled_in_place():
    """A Dual written into a plain array (one made by np.zeros) makes it a Dual:
    jvp, hessian and grad of grad differentiate code that fills arrays."""
    def f(x):
        out = np.zeros(3)
        out[0] = x[0]
        for i in range(1, 3):
            out[i] = np.sin(x[i]) * out[i - 1] + x[i]
        return np.sum(out * x)

    x = np.array([0.3, -0.8, 1.1])
    h = zp.hessian(f, x)
    g = lambda x: zp.gradient(f, x)[0]
    eps = 1e-6
    want = np.stack([(g(x + eps * e) - g(x - eps * e)) / (2 * eps) for e in np.eye(3)])
    np.testing.assert_allclose(h, want, rtol=1e-6, atol=1e-8)
    (_, jv) = zp.jvp(f, (x,), (np.ones(3),))
    assert jv == pytest.approx(np.sum(g(x)))


def test_hvp_matches_the_hessian():
    rng = np.random.default_rng(3)
    x, v = rng.standard_normal(4), rng.standard_normal(4)
    f = lambda x: np.sum(np.exp(x) * x[::-1])
    (hv,) = zp.hvp(f, (x,), (v,))
    assert_close(hv, zp.hessian(f, x) @ v, 1e-10, 1e-12)


def test_numerical_vjp_is_used_consistently():
    # sanity check of the checker itself on a known Hessian diagonal
    (g,) = numerical_vjp(lambda x: x ** 2, [np.array(3.0)], 1.0)
    assert g == pytest.approx(6.0)


def test_withgradient_nests_like_gradient():
    x = np.array([0.3, -0.5])
    (g,) = zp.gradient(lambda x: zp.withgradient(lambda v: np.sum(v**3), x)[0]
                       + np.sum(zp.withgradient(lambda v: np.sum(v**3), x)[1][0]), x)
    np.testing.assert_allclose(g, 3 * x**2 + 6 * x)


@pytest.mark.parametrize("transform", [
    lambda x: zp.pullback(lambda v: np.sum(v**3), x)[1](1.0)[0].sum(),
    lambda x: np.sum(zp.jacobian(lambda v: v**3, x)[0]),
    lambda x: np.sum(zp.hessian(lambda v: np.sum(v**3), x)),
    lambda x: np.sum(zp.hvp(lambda v: np.sum(v**3), (x,), (np.ones(2),))[0]),
    lambda x: np.sum(zp.jvp(lambda v: v**3, (x,), (np.ones(2),))[1]),
])
def test_transforms_not_differentiated_again_are_refused_by_name(transform):
    with pytest.raises(zp.ZygopyError, match="inside a function being differentiated"):
        zp.gradient(transform, np.array([0.3, -0.5]))


def test_those_transforms_run_when_nothing_they_get_is_differentiated():
    c = np.array([1.0, 2.0])
    (g,) = zp.gradient(lambda x: np.sum(x * zp.jacobian(lambda v: v**2, c)[0].sum(0)), c)
    np.testing.assert_allclose(g, 2 * c)


def test_jvp_over_dicts_of_arguments():
    y, t = zp.jvp(lambda d: d["a"] * d["b"] ** 2, ({"a": 2.0, "b": 3.0},),
                  ({"a": 1.0, "b": 0.5},))
    assert y == 18.0 and t == pytest.approx(9.0 + 2.0 * 2 * 3.0 * 0.5)


def test_jvp_of_an_object_is_a_clear_error():
    class Box:
        def __init__(self):
            self.v = 1.0

    with pytest.raises(TypeError, match="tangent for a Box"):
        zp.jvp(lambda b: b.v * 2.0, (Box(),), (Box(),))


def _cubes_floats(x):
    if isinstance(x, float):
        return x**3
    return x**2


def _cubes_by_type(x):
    if type(x) is float:
        return x**3
    return x**2


@pytest.mark.parametrize("f", [_cubes_floats, _cubes_by_type])
def test_type_checks_see_the_primal_of_a_dual(f):
    """jvp and second order push Duals through the code: isinstance and type
    see the value they stand for, so the same branch runs."""
    assert zp.gradient(f, 2.0) == (12.0,)
    assert zp.jvp(f, (2.0,), (1.0,)) == (8.0, 12.0)
    assert zp.grad(zp.grad(f))(2.0) == pytest.approx(12.0)


def test_type_checks_of_array_elements_in_a_hessian():
    def f(v):
        total = 0.0
        for i in range(2):
            total = total + (v[i] ** 2 if isinstance(v[i], np.float64) else v[i] ** 3)
        return total

    np.testing.assert_allclose(zp.hessian(f, np.array([1.0, 2.0])), 2 * np.eye(2))


def _times_hundred(x):
    return x * 100


zp.nondifferentiable(_times_hundred)


@zp.nograd
def _no_gradient(x):
    return x * 100


@pytest.mark.parametrize("constant", [zp.stop_gradient, zp.nograd, _times_hundred,
                                      _no_gradient],
                         ids=["stop_gradient", "nograd", "nondifferentiable", "@nograd"])
def test_forward_mode_agrees_with_reverse_mode_on_constants(constant):
    """What carries no cotangent carries no tangent: jvp equals the gradient
    times the direction, and the second derivative treats it as a constant."""
    def f(x):
        return constant(x) * x * x

    c = constant(2.0)
    (g,) = zp.gradient(f, 2.0)
    assert g == pytest.approx(2 * c * 2.0)
    assert zp.jvp(f, (2.0,), (1.0,)) == (pytest.approx(c * 4.0), pytest.approx(g))
    assert zp.grad(zp.grad(f))(2.0) == pytest.approx(2 * c)
    assert zp.jvp(constant, (2.0,), (1.0,))[1] == 0.0


def _interpolates(x):
    ys = [0.0, 1.0, 4.0, 9.0, 16.0]
    i = math.floor(x)
    t = x - i
    return (ys[i] * (1 - t) + ys[i + 1] * t) * x


def _rounds(x):
    return round(x) * x + math.trunc(x) * x + math.ceil(x) * x


def _checks_finite(x):
    if math.isfinite(x) and not math.isnan(x):
        return x**3
    return x


@pytest.mark.parametrize("f, x", [(_interpolates, 2.5), (_rounds, 2.4), (_checks_finite, 2.5)])
def test_rounding_and_predicates_in_second_order(f, x):
    """floor, ceil, trunc, round and the predicates of a forward-mode Dual are
    those of its primal (piecewise constant: no tangent)."""
    h = 1e-5
    g = lambda v: zp.gradient(f, v)[0]
    assert zp.grad(zp.grad(f))(x) == pytest.approx((g(x + h) - g(x - h)) / (2 * h), rel=1e-6)
    assert zp.jvp(f, (x,), (1.0,)) == (pytest.approx(f(x)), pytest.approx(g(x)))


def test_item_and_tolist_in_a_hessian():
    def items(v):
        return v[0].item() ** 2 + v[1] ** 2

    def listed(v):
        return sum(t * t * t for t in v.tolist())

    x = np.array([0.5, 1.5])
    np.testing.assert_allclose(zp.hessian(items, x), 2 * np.eye(2))
    np.testing.assert_allclose(zp.hessian(listed, x), np.diag(6 * x))


def _sin_times(a):
    return math.sin(a) * a


def _checkpoints(x):
    return zp.checkpointed(_sin_times, x)


def test_checkpointed_math_in_second_order():
    x = 0.7
    expected = 2 * math.cos(x) - x * math.sin(x)
    assert zp.grad(zp.grad(_checkpoints))(x) == pytest.approx(expected)
    assert zp.grad(zp.grad(_sin_times))(x) == pytest.approx(expected)


class _Lin:
    def __init__(self, w):
        self.w = w

    def __call__(self, x):
        return np.tanh(x @ self.w)


def test_a_gradient_of_a_gradient_with_respect_to_an_object_is_refused_clearly():
    x = np.array([[0.5, -1.0], [1.5, 0.3]])

    def penalty(m):
        g = zp.gradient(lambda m: np.sum(m(x) ** 2), m)[0]
        return np.sum(g.w**2)

    with pytest.raises(zp.NoRuleError, match="a gradient of a gradient with respect to a "
                                             "_Lin object"):
        zp.gradient(penalty, _Lin(np.array([0.3, -0.7])))

    def penalty_of_arrays(w):  # the way out the message names
        g = zp.gradient(lambda w: np.sum(_Lin(w)(x) ** 2), w)[0]
        return np.sum(g**2)

    w = np.array([0.3, -0.7])
    (g,) = zp.gradient(penalty_of_arrays, w)
    h = 1e-6
    num = [(penalty_of_arrays(w + h * e) - penalty_of_arrays(w - h * e)) / (2 * h)
           for e in np.eye(2)]
    np.testing.assert_allclose(g, num, rtol=1e-5)


def test_a_jvp_of_a_gradient_is_second_order():
    def cube(t):
        return t**3

    assert zp.jvp(lambda z: zp.gradient(cube, z)[0], (1.0,), (1.0,)) == (3.0, 6.0)
    assert zp.jvp(lambda z: zp.grad(cube)(z), (2.0,), (1.0,)) == (12.0, 12.0)
    with pytest.raises(zp.ZygopyError, match="third-order"):
        zp.grad(zp.grad(zp.grad(cube)))(1.0)


def test_python_int_arguments_are_real_numbers_at_second_order_too():
    # as at first order (the tutorials' d2f(2) == 6)
    def f(x):
        return 3 * x**2 + 2 * x + 1

    assert zp.gradient(f, 2) == (14.0,)
    assert zp.grad(zp.grad(f))(2) == 6.0
    assert zp.gradient(lambda x: zp.gradient(f, x)[0], 2) == (6.0,)
    assert zp.hessian(f, 2) == 6.0
    assert zp.jvp(f, (2,), (1,)) == (17.0, 14.0)
    assert zp.grad(zp.grad(lambda x: math.exp(2 * x)))(1) == pytest.approx(4 * math.exp(2))
    assert zp.grad(zp.grad(math.sin))(1) == pytest.approx(-math.sin(1))


def test_integer_arrays_take_no_tangent():
    with pytest.raises(TypeError, match=r"non-zero tangent for int64 values .* x.astype\(float\)"):
        zp.jvp(lambda x: np.sum(x**3), (np.array([1, 2]),), (np.ones(2),))


def test_draws_inside_a_nested_gradient_are_replayed_on_its_second_run():
    rng = np.random.default_rng(0)
    x0 = np.array([0.3, -0.7, 1.1])

    def noisy(x, w):  # a fresh draw each run, as Dropout's mask
        return np.sum(w * x**2 * zp.replayed(rng.standard_normal, 3))

    def penalty(w):
        (gx,) = zp.gradient(lambda x: noisy(x, w), x0)
        return np.sum(gx**2)

    state = rng.bit_generator.state
    value, (g,) = zp.withgradient(penalty, 1.5)
    rng.bit_generator.state = state
    e = rng.standard_normal(3)  # the draw of the first run
    assert value == pytest.approx(np.sum((2 * 1.5 * x0 * e) ** 2))
    assert g == pytest.approx(2 * 1.5 * np.sum((2 * x0 * e) ** 2))  # d/dw of w^2 c
    assert zp.replayed(lambda: 7) == 7 and not zp.rerunning()  # outside: a plain call


def test_replayed_is_not_differentiated_itself():
    rng = np.random.default_rng(1)
    ps = zp.params(np.array([1.0, 2.0]))
    w = ps[0]
    g = zp.gradient(lambda: np.sum(w * zp.replayed(rng.standard_normal, 2)), ps)  # implicit
    assert g[w].shape == (2,)


def test_hessian_of_a_list_or_tuple_of_numbers():
    f = lambda p: p[0] ** 2 * p[1] + p[1] ** 3
    want = np.array([[4.0, 2.0], [2.0, 12.0]])
    np.testing.assert_allclose(zp.hessian(f, [1.0, 2.0]), want)
    np.testing.assert_allclose(zp.hessian(f, (1.0, 2)), want)  # an int is a real number


def test_an_integer_argument_with_a_zero_tangent_is_a_constant():
    x, idx = np.array([1.0, 2.0, 3.0]), np.array([0, 2])
    y, t = zp.jvp(lambda x, idx: np.sum(x[idx] ** 3), (x, idx), (np.ones(3), np.zeros(2)))
    assert (y, t) == (28.0, 30.0)
    with pytest.raises(TypeError, match="non-zero tangent for int64"):
        zp.jvp(lambda n: n**2, (np.int64(2),), (1.0,))  # as its gradient is None


def test_jvp_names_misplaced_arguments():
    x = np.array([1.0, 2.0])
    with pytest.raises(TypeError, match=r"takes a tuple of arguments .* jvp\(f, \(x,\), \(v,\)\)"):
        zp.jvp(lambda x: np.sum(x**2), x, np.ones(2))
    with pytest.raises(ValueError, match=r"tangent of argument 0 has shape \(3,\), the "
                       r"argument \(2,\)"):
        zp.jvp(lambda x: np.sum(x**2), (x,), (np.ones(3),))


def test_hessian_of_a_dict_says_to_flatten_it():
    with pytest.raises(TypeError, match="hessian takes a number, an array, or a list"):
        zp.hessian(lambda d: d["a"] ** 2, {"a": 1.0})
