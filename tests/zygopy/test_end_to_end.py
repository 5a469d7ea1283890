"""End to end: whole numpy programs differentiated and checked against float64
central differences (least squares, a 3-layer MLP on batches, softmax
cross-entropy, an array built by mutation), float32 kept throughout, and the
errors a user meets (NoRuleError) and the operators that carry no gradient.
"""

import itertools
import math
import operator

import numpy as np
import pytest

import zygopy as zp
from zygopy.testing import assert_close, check_grads, numerical_vjp

RNG = np.random.default_rng(42)


# -- least squares ------------------------------------------------------------------
def least_squares(w, A, b):
    r = A @ w - b
    return np.sum(r * r) / b.shape[0]


def test_least_squares():
    A, b, w = (
        RNG.standard_normal((7, 3)),
        RNG.standard_normal(7),
        RNG.standard_normal(3),
    )
    gw, _, gb = zp.gradient(least_squares, w, A, b)
    r = A @ w - b
    assert_close(gw, 2 * A.T @ r / 7)  # the normal equations
    assert_close(gb, -2 * r / 7)
    check_grads(least_squares, w, A, b)


def test_least_squares_solution_has_zero_gradient():
    A, b = RNG.standard_normal((7, 3)), RNG.standard_normal(7)
    w = np.linalg.lstsq(A, b, rcond=None)[0]
    assert_close(zp.gradient(least_squares, w, A, b)[0], np.zeros(3), atol=1e-12)


# -- softmax cross-entropy ----------------------------------------------------------
def logsumexp(z):
    m = np.max(z, axis=-1, keepdims=True)
    return m + np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True))


def softmax_cross_entropy(logits, labels):
    """Mean over the batch of -log softmax(logits)[label]."""
    logp = logits - logsumexp(logits)
    n = logits.shape[0]
    return -np.mean(logp[np.arange(n), labels])


def test_softmax_cross_entropy():
    logits = RNG.standard_normal((6, 4))
    labels = np.array([0, 3, 3, 1, 2, 0])
    (g, g_labels) = zp.gradient(softmax_cross_entropy, logits, labels)
    p = np.exp(logits) / np.sum(np.exp(logits), axis=1, keepdims=True)
    assert_close(g, (p - np.eye(4)[labels]) / 6)  # softmax minus one-hot
    assert g_labels is None  # integer labels carry no gradient
    check_grads(softmax_cross_entropy, logits, labels)


def test_softmax_cross_entropy_is_stable():
    logits = np.array([[1000.0, 0.0, -1000.0]])
    y, (g, _) = zp.withgradient(softmax_cross_entropy, logits, np.array([0]))
    assert y == pytest.approx(0.0) and np.all(np.isfinite(g))


# -- a 3-layer MLP on batches, in plain numpy ---------------------------------------
def relu(x):
    return np.maximum(x, 0.0)


def mlp(params, x):
    W1, b1, W2, b2, W3, b3 = params
    h = np.tanh(x @ W1.T + b1)
    h = relu(h @ W2.T + b2)
    return h @ W3.T + b3


def mlp_loss(params, batches):
    total = 0.0
    for x, labels in batches:
        total = total + softmax_cross_entropy(mlp(params, x), labels)
    return total / len(batches)


def make_mlp(sizes=(5, 8, 6, 3), dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    params = []
    for n_in, n_out in itertools.pairwise(sizes):
        params.append(
            (rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(dtype)
        )
        params.append((0.1 * rng.standard_normal(n_out)).astype(dtype))
    return params


def make_batches(n_batches=2, batch=4, n_in=5, classes=3, dtype=np.float64, seed=1):
    rng = np.random.default_rng(seed)
    return [
        (
            rng.standard_normal((batch, n_in)).astype(dtype),
            rng.integers(0, classes, batch),
        )
        for _ in range(n_batches)
    ]


def test_mlp_loss_on_batches():
    params, batches = make_mlp(), make_batches()
    (grads, _) = zp.gradient(mlp_loss, params, batches)
    assert isinstance(grads, list) and len(grads) == 6
    for i, p in enumerate(params):

        def loss_of(p_i, i=i):
            return mlp_loss(params[:i] + [p_i] + params[i + 1 :], batches)

        (want,) = numerical_vjp(loss_of, (p,), 1.0)
        assert grads[i].shape == p.shape
        assert_close(grads[i], want, rtol=1e-5, atol=1e-7, what=f"d/d params[{i}]")


def test_mlp_training_reduces_the_loss():
    params, batches = make_mlp(), make_batches(n_batches=3, batch=8)
    before = mlp_loss(params, batches)
    for _ in range(50):
        (grads, _) = zp.gradient(mlp_loss, params, batches)
        params = [p - 0.5 * g for p, g in zip(params, grads)]
    assert mlp_loss(params, batches) < 0.5 * before


def test_float32_preserved_through_the_gradient():
    params = make_mlp(dtype=np.float32)
    batches = make_batches(dtype=np.float32)
    loss, (grads, _) = zp.withgradient(mlp_loss, params, batches)
    assert np.asarray(loss).dtype == np.float32
    assert [g.dtype for g in grads] == [np.float32] * 6
    want, _ = zp.gradient(
        mlp_loss,
        [p.astype(np.float64) for p in params],
        [(x.astype(np.float64), y) for x, y in batches],
    )
    assert_close(grads, want, rtol=1e-3, atol=1e-5)


# -- an array built by mutation in a loop -------------------------------------------
def polynomial_features(x, degree):
    """Columns x**0 .. x**degree, built one by one (on x's device: CuPy too)."""
    out = np.zeros_like(x, shape=(x.shape[0], degree + 1))
    out[:, 0] = 1.0
    for k in range(1, degree + 1):
        out[:, k] = out[:, k - 1] * x
    return out


def fit_loss(coef, x, y):
    return np.mean((polynomial_features(x, 3) @ coef - y) ** 2)


def test_array_built_by_mutation():
    x, y = np.linspace(-1, 1, 6), np.sin(np.linspace(-1, 1, 6))
    coef = np.array([0.1, 0.9, -0.2, 0.05])
    check_grads(fit_loss, coef, x, y)
    (J,) = zp.jacobian(lambda x: polynomial_features(x, 3), x)
    assert_close(
        J[:, :, :].diagonal(axis1=0, axis2=2).T,
        np.stack([0 * x, 1 + 0 * x, 2 * x, 3 * x * x], axis=1),
    )


# -- errors and non-differentiable operators ----------------------------------------
def test_no_rule_error_names_a_frompyfunc_ufunc():
    ufunc = np.frompyfunc(math.exp, 1, 1)

    def f(x):
        return np.sum(ufunc(x))

    with pytest.raises(zp.NoRuleError) as info:
        zp.gradient(f, np.ones(2))
    text = str(info.value)
    assert "exp (vectorized)" in text  # the ufunc's own name
    assert "zygopy.rule(" in text and "nondifferentiable" in text  # how to fix it
    assert info.value.callee is ufunc


def masked_relu(x, y):
    keep = operator.and_(operator.gt(x, 0.0), np.greater(y, 0.0))
    return np.sum(x * y * keep)


def bit_logic(x, n):
    k = (n & 1) | (n >> 1) ^ (n << 2)
    flags = ~(x > 0.5)
    return np.sum(x * flags) * (k + 1) + np.sum(np.around(x) * x)


@pytest.mark.parametrize(
    "f, args",
    [
        (masked_relu, (np.array([0.3, -0.4, 1.2]), np.array([0.7, 0.5, -0.3]))),
        (bit_logic, (np.array([0.2, 0.7, 1.3]), 3)),
        (lambda x: x * float(all([x > 0, x < 3])) + x * operator.eq(x, x), (1.5,)),
    ],
    ids=["operator comparisons", "bitwise operators", "builtins all"],
)
def test_comparisons_and_logic_carry_no_gradient(f, args):
    check_grads(f, *args)
