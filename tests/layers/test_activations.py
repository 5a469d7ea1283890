"""Activations: values against textbook formulas, dtype, stability at large |x|."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import layers.activations as A

X = np.linspace(-6, 6, 49)  # includes 0 exactly
ALPHA, LAMBDA = 1.6732632423543772, 1.0507009873554805
SIG = 1 / (1 + np.exp(-X))

REFERENCE = {
    "identity": X,
    "relu": np.maximum(X, 0),
    "leakyrelu": np.where(X > 0, X, 0.01 * X),
    "relu6": np.clip(X, 0, 6),
    "elu": np.where(X > 0, X, np.exp(X) - 1),
    "selu": LAMBDA * np.where(X > 0, X, ALPHA * (np.exp(X) - 1)),
    "celu": np.maximum(X, 0) + np.minimum(0, np.exp(X) - 1),
    "gelu": 0.5 * X * (1 + np.tanh(math.sqrt(2 / math.pi) * (X + 0.044715 * X**3))),
    "sigmoid": SIG,
    "σ": SIG,
    "swish": X * SIG,
    "silu": X * SIG,
    "hardsigmoid": np.clip((X + 3) / 6, 0, 1),
    "tanh": np.tanh(X),
    "hardtanh": np.clip(X, -1, 1),
    "softplus": np.log(1 + np.exp(X)),
    "softsign": X / (1 + np.abs(X)),
    "logsigmoid": np.log(SIG),
    "softmax": np.exp(X) / np.exp(X).sum(),
    "logsoftmax": X - np.log(np.exp(X).sum()),
}


def test_every_export_has_a_reference():
    assert set(A.__all__) == set(REFERENCE)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_values(name):
    np.testing.assert_allclose(
        getattr(A, name)(X), REFERENCE[name], rtol=1e-12, atol=1e-14
    )


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_float32_in_float32_out_and_no_overflow(name):
    x = np.array([-1e4, -100.0, -30.0, -1.0, 0.0, 1.0, 30.0, 100.0, 1e4], np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = getattr(A, name)(x)
    assert y.dtype == np.float32
    assert np.all(np.isfinite(y))


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_nan_stays_nan(name):
    """A NaN input gives a NaN output, as in Flux, PyTorch and JAX: an
    activation that turned it into a number would hide a diverging model from
    `train`'s non-finite loss check."""
    x = np.array([np.nan, -2.0, 0.5, 8.0])
    with np.errstate(invalid="ignore"):
        y = getattr(A, name)(x)
    assert np.isnan(y[0]) and np.all(np.isfinite(y[1:]) | (name in ("softmax", "logsoftmax")))


@pytest.mark.parametrize("name", ["relu", "relu6", "hardtanh", "hardsigmoid"])
def test_kinks_have_zero_gradient_at_the_corner(name):
    """Piecewise-linear activations: the gradient is that of the flat side at
    a corner (relu'(0) = 0, as in Flux and PyTorch)."""
    import zygopy as zp

    f = getattr(A, name)
    corners = {"relu": [0.0], "relu6": [0.0, 6.0], "hardtanh": [-1.0, 1.0],
               "hardsigmoid": [-3.0, 3.0]}[name]
    for c in corners:
        (g,) = zp.gradient(lambda x: np.sum(f(x)), np.array([c]))
        assert g[0] == 0.0


def test_tails_are_accurate():
    assert A.sigmoid(np.array([-100.0]))[0] == pytest.approx(math.exp(-100), rel=1e-12)
    assert A.logsigmoid(np.array([-1000.0]))[0] == pytest.approx(-1000.0)
    assert A.logsigmoid(np.array([40.0]))[0] == pytest.approx(-math.exp(-40), rel=1e-9)
    assert A.softplus(np.array([1000.0]))[0] == 1000.0
    assert A.softplus(np.array([-50.0]))[0] == pytest.approx(math.exp(-50), rel=1e-12)


def test_softmax_axis_and_batch_first():
    x = np.random.default_rng(0).standard_normal((4, 3))
    np.testing.assert_allclose(A.softmax(x).sum(axis=-1), 1.0)
    np.testing.assert_allclose(A.softmax(x, axis=0).sum(axis=0), 1.0)


def test_parameterised_activations():
    np.testing.assert_allclose(A.leakyrelu(np.array([-2.0]), 0.2), [-0.4])
    np.testing.assert_allclose(A.elu(np.array([-1.0]), 2.0), [2 * (math.exp(-1) - 1)])
    np.testing.assert_allclose(
        A.celu(np.array([-1.0]), 2.0), [2 * (math.exp(-0.5) - 1)]
    )


# relu's derivative is a formula row (zp.elementwise), not derived by the
# compiler: it gets the property test every rule gets.
_shapes = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)
_reals = st.floats(-5, 5).filter(lambda v: abs(v) > 1e-3)  # off the kink


@settings(deadline=None, max_examples=30)
@given(shape=_shapes, data=st.data())
def test_relu_gradient_property(shape, data):
    import zygopy as zp
    from zygopy.testing import check_grads

    x = np.array(data.draw(st.lists(_reals, min_size=int(np.prod(shape)),
                                    max_size=int(np.prod(shape))))).reshape(shape)
    check_grads(lambda x: np.sum(A.relu(x) * np.cos(x)), x)
    (g,) = zp.gradient(lambda v: A.relu(v) * 2.0, 1.5)  # numbers: inlined with max()
    assert g == 2.0 and zp.gradient(lambda v: A.relu(v) * 2.0, -1.5) == (0.0,)


def test_relu_row_keeps_dtype_nan_and_second_order():
    import zygopy as zp

    x = np.array([-np.inf, -2.0, 0.0, 3.0, np.inf, np.nan], np.float32)
    (g,) = zp.gradient(lambda x: np.sum(A.relu(x)), x[:5])
    assert g.dtype == np.float32 and list(g) == [0, 0, 0, 1, 1]
    y = A.relu(x)
    assert y.dtype == np.float32 and list(y[:5]) == [0, 0, 0, 3, np.inf] and np.isnan(y[5])
    assert not np.signbit(y[:3]).any()  # +0, never -0
    h = zp.hessian(lambda x: np.sum(A.relu(x) ** 3), np.array([2.0, -1.0]))
    np.testing.assert_allclose(h, np.diag([12.0, 0.0]))
