"""Forward mode (jvp, hessian) with numpy's options: `initial=` of sums,
extrema and products, `ddof=`/`correction=` of var and std, `prepend=` and
`append=` of diff, positional options, batched np.linalg.solve, np.ldexp and
ties of np.maximum.accumulate; against float64 central differences of f."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import zygopy as zp
from zygopy.forward import Dual
from zygopy.testing import assert_close

H_JVP, H_HESSIAN = 1e-6, 1e-4
MASK = np.array([True, False, True, True, False])


def numerical_jvp(f, x, v):
    """(f(x + hv) - f(x - hv)) / 2h."""
    return (np.asarray(f(x + H_JVP * v)) - np.asarray(f(x - H_JVP * v))) / (2 * H_JVP)


def numerical_hessian(f, x):
    """Second central differences of f itself (not of a gradient), x a vector."""
    n, h = x.size, H_HESSIAN
    steps = np.eye(n) * h
    hess = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            a, b = steps[i], steps[j]
            hess[i, j] = hess[j, i] = (f(x + a + b) - f(x + a - b) - f(x - a + b)
                                       + f(x - a - b)) / (4 * h * h)
    return hess


def check_forward(f, x, rng, hessian=True):
    """jvp (value and tangent) and, for a scalar f, the Hessian of f at x."""
    v = rng.standard_normal(x.shape)
    y, t = zp.jvp(f, (x,), (v,))
    assert_close(y, f(x), 1e-12, 1e-12, "jvp value")
    assert_close(t, numerical_jvp(f, x, v), 1e-5, 1e-6, "jvp tangent")
    if hessian:
        assert_close(zp.hessian(f, x), numerical_hessian(f, x), 1e-4, 1e-5, "hessian")


# -- reductions with initial=, ddof=, correction=, positional options ----------
# Each takes a vector of n >= 4 entries (reshaped where a case needs a matrix).
REDUCTIONS = {
    "sum_initial": lambda x: np.sum(x ** 2, initial=3.0) ** 2,
    "sum_method_initial": lambda x: (x ** 2).sum(initial=1.0) ** 2,
    "sum_axis_initial": lambda x: np.sum(np.sum(x.reshape(2, -1) ** 3, 0, None, None,
                                                False, 2.0) ** 2),
    "max_initial_wins": lambda x: np.max(x, initial=5.0) ** 2 + np.sum(x ** 2),
    "max_initial_loses": lambda x: np.max(x ** 3, initial=-5.0) ** 2,
    "max_method_initial": lambda x: x.max(initial=-5.0) * np.sum(x),
    "min_initial_wins": lambda x: np.min(x, initial=-5.0) * np.sum(x),
    "min_axis_initial": lambda x: np.sum(np.min(x.reshape(2, -1) ** 2, axis=1,
                                                initial=0.5) ** 2),
    "max_positional_keepdims": lambda x: np.sum(np.max(x.reshape(2, -1), 1, None, True)
                                                * x.reshape(2, -1)),
    "prod_initial": lambda x: np.prod(x, initial=2.0) * x[1],
    "prod_method_initial": lambda x: x.prod(initial=-1.5) + np.sum(x ** 2),
    "prod_positional_keepdims": lambda x: np.sum(np.prod(x.reshape(2, -1), 0, None, None,
                                                         True) ** 2),
    "prod_axis_initial": lambda x: np.sum(np.prod(x.reshape(2, -1), axis=1,
                                                  initial=3.0) ** 2),
    "var_ddof": lambda x: np.var(x, ddof=1) * np.sum(x),
    "var_correction": lambda x: np.var(x, correction=1) * np.sum(x),
    "var_method_ddof": lambda x: x.var(ddof=2) ** 2,
    "std_correction": lambda x: np.std(x, correction=1.5) ** 3,
    "std_positional_ddof": lambda x: np.std(x, 0, None, None, 1) ** 2,
    "var_axis_positional": lambda x: np.sum(np.var(x.reshape(2, -1), 1, None, None, 1,
                                                   True) * x.reshape(2, -1)),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@settings(max_examples=5)
@given(seed=st.integers(0, 2**16), half=st.integers(2, 3))
def test_reduction_options_in_forward_mode(name, seed, half):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.3, 1.5, 2 * half) * rng.choice([-1.0, 1.0], 2 * half)
    check_forward(REDUCTIONS[name], x, rng)


@pytest.mark.parametrize("f", [
    lambda x: np.add.reduce(x ** 2, initial=3.0) ** 2,
    lambda x: np.nansum(x ** 2, 0, None, None, False, -1.0) ** 2,
    lambda x: np.maximum.reduce(x ** 3, initial=-5.0) ** 2,
    lambda x: np.minimum.reduce(x, initial=-5.0) * np.sum(x),
    lambda x: np.sum(np.diff(x, 2, -1, -0.5, [1.0, 2.0]) ** 2),
    lambda x: np.var(x, ddof=1, where=MASK) * np.sum(x),
    lambda x: np.std(x, mean=np.mean(x ** 2, keepdims=True)) ** 2,
    lambda x: np.max(x ** 2, where=MASK, initial=0.0) * x[0],
    lambda x: np.prod(x, where=MASK, initial=2.0) * x[1],
], ids=["add_reduce", "nansum_positional", "maximum_reduce_loses", "minimum_reduce_wins",
        "diff_positional", "var_where", "std_mean", "max_where", "prod_where"])
def test_dual_options_the_reverse_rules_refuse(f):
    """Options that generated code refuses (its reverse rules do), on a Dual
    directly: the push-forward alone, against central differences."""
    rng = np.random.default_rng(2)
    x, v = rng.uniform(0.3, 1.5, 5), rng.standard_normal(5)
    y = f(Dual(x, v))
    assert_close(y.primal, f(x), 1e-12, 1e-12, "value")
    assert_close(y.tangent, numerical_jvp(f, x, v), 1e-5, 1e-6, "tangent")


def test_initial_above_every_entry_gives_a_zero_tangent():
    x, v = np.array([0.3, -1.2, 0.8]), np.array([1.0, 2.0, 3.0])
    assert zp.jvp(lambda x: np.max(x, initial=5.0), (x,), (v,)) == (5.0, 0.0)
    assert zp.jvp(lambda x: np.sum(x, initial=5.0), (x,), (v,)) == (pytest.approx(4.9), 6.0)


# -- np.diff with prepend= and append= ------------------------------------------
DIFFS = {
    "prepend_constant": lambda x: np.sum(np.diff(x, prepend=1.0) ** 2),
    "append_constant": lambda x: np.sum(np.diff(x, append=2.0) ** 3),
    "both_n2": lambda x: np.sum(np.diff(x, n=2, prepend=-0.5, append=[1.0, 2.0]) ** 2),
    "matrix_axis0": lambda x: np.sum(np.diff(x.reshape(2, -1), axis=0,
                                             prepend=np.ones((1, x.size // 2))) ** 2),
}


@pytest.mark.parametrize("name", sorted(DIFFS))
@settings(max_examples=5)
@given(seed=st.integers(0, 2**16), half=st.integers(2, 3))
def test_diff_with_constant_ends_in_forward_mode(name, seed, half):
    rng = np.random.default_rng(seed)
    check_forward(DIFFS[name], rng.standard_normal(2 * half), rng)


@pytest.mark.parametrize("f", [
    lambda x: np.sum(np.diff(x, prepend=x[-1]) ** 2),
    lambda x: np.sum(np.diff(x[1:], append=x[:1] * 3.0) ** 3),
    lambda x: np.sum(np.diff(np.ones(3), prepend=x[0] ** 2) * x[:3]),
], ids=["prepend_dual", "append_dual", "plain_x_dual_prepend"])
def test_jvp_of_diff_with_differentiated_ends(f):
    """The reverse pass refuses a differentiated prepend/append; jvp carries its tangent."""
    rng = np.random.default_rng(0)
    check_forward(f, rng.standard_normal(5), rng, hessian=False)


# -- np.linalg.solve: stacked a with b a matrix (numpy 2: b.ndim != 1) ----------
@settings(max_examples=5)
@given(seed=st.integers(0, 2**16), k=st.integers(1, 3), n=st.integers(2, 3),
       m=st.integers(1, 3))
def test_solve_of_a_stack_with_a_shared_matrix(seed, k, n, m):
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((n, m))
    A0 = rng.standard_normal((k, n, n)) + 3 * np.eye(n)
    f = lambda a: np.linalg.solve(a.reshape(k, n, n), B)
    check_forward(f, A0.ravel(), rng, hessian=False)
    check_forward(lambda a: np.sum(f(a) ** 2), A0.ravel(), rng)
    g = lambda b: np.sum(np.linalg.solve(A0, b.reshape(n, m)) ** 3)
    check_forward(g, B.ravel(), rng)


@pytest.mark.parametrize("rhs_shape", [(3,), (3, 3), (3, 3, 2)],
                         ids=["vector", "matrix", "stack"])
def test_solve_of_a_stack_of_as_many_matrices_as_rows(rhs_shape):
    """A batch of 3 matrices 3 x 3: a b of shape (3, 3) is a matrix, not 3 vectors."""
    rng = np.random.default_rng(3)
    A0 = rng.standard_normal((3, 3, 3)) + 3 * np.eye(3)
    rhs = np.eye(3) if rhs_shape == (3, 3) else rng.standard_normal(rhs_shape)
    f = lambda a: np.sum(np.linalg.solve(a.reshape(3, 3, 3), rhs) ** 2)
    check_forward(f, A0.ravel(), rng)


# -- np.ldexp -------------------------------------------------------------------
@pytest.mark.parametrize("f", [
    lambda x: np.sum(np.ldexp(x, 2) ** 2),
    lambda x: np.sum(np.sin(np.ldexp(x, np.array([-1, 0, 3, 1]))) * x),
    lambda x: np.ldexp(x[0], 3) ** 3,
], ids=["int", "int_array", "scalar"])
def test_ldexp_in_forward_mode(f):
    rng = np.random.default_rng(1)
    check_forward(f, rng.standard_normal(4), rng)


# -- np.maximum.accumulate / np.minimum.accumulate ------------------------------
@pytest.mark.parametrize("ufunc", [np.maximum, np.minimum])
@settings(max_examples=5)
@given(seed=st.integers(0, 2**16), n=st.integers(3, 6))
def test_running_extremum_without_ties(ufunc, seed, n):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(n)
    check_forward(lambda x: np.sum(ufunc.accumulate(x ** 3) * w), rng.standard_normal(n), rng)


@pytest.mark.parametrize("ufunc", [np.maximum, np.minimum])
def test_running_extremum_at_ties_agrees_with_the_gradient(ufunc):
    """Tied entries share the tangent evenly, as the reverse rule shares the cotangent."""
    w = np.array([1.0, 2.0, 3.0, 4.0])
    f = lambda x: np.sum(ufunc.accumulate(x) * w)
    x = np.array([1.0, 1.0, 0.0, 1.0]) if ufunc is np.maximum else np.array([1.0, 1.0, 2.0, 1.0])
    for v in np.eye(4):
        _, t = zp.jvp(f, (x,), (v,))
        assert t == pytest.approx(zp.gradient(f, x)[0] @ v)
    _, t = zp.jvp(ufunc.accumulate, (x,), (np.array([1.0, 0.0, 5.0, 3.0]),))
    assert_close(t, [1.0, 0.5, 0.5, 4.0 / 3.0], 1e-12, 1e-12, "tied tangents")
    X = np.stack([x, x[::-1]], axis=1)  # along axis 0 of a matrix
    _, t = zp.jvp(lambda a: ufunc.accumulate(a, axis=0), (X,), (np.ones_like(X),))
    assert_close(t, np.ones_like(X), 1e-12, 1e-12, "tangent of equal ones")
