"""Gradients of layers, activations and losses THROUGH the compiler (zygopy.pullback),
against float64 central differences.

Skipped while `zygopy.gradient` is the stub that raises NotImplementedError.
Models are converted to float64 (`layers.devices.f64`) so the differences are
accurate; parameter gradients are matched to parameters with
`layers.functor.gradient_pairs`.
"""

import numpy as np
import pytest

import layers.activations as A
import layers.losses as L
import zygopy as zp
from layers.basic import (
    Chain,
    Dense,
    Embedding,
    Parallel,
    Scale,
    SkipConnection,
    flatten,
)
from layers.conv import (
    AdaptiveMeanPool,
    Conv,
    ConvTranspose,
    GlobalMaxPool,
    GlobalMeanPool,
    MaxPool,
    MeanPool,
)
from layers.normalise import BatchNorm, GroupNorm, LayerNorm
from layers.recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell
from zygopy.testing import check_grads


def _compiler_ready():
    try:
        zp.gradient(lambda x: x * x, 3.0)
    except NotImplementedError:
        return False
    except Exception:  # noqa: BLE001 -- a compiler that exists but fails: run the tests, show failures
        return True
    return True


pytestmark = pytest.mark.skipif(
    not _compiler_ready(), reason="zygopy.gradient is not implemented yet"
)


def _numerical_param_grad(f, model, a, eps=1e-6):
    """d f(model) / d a by central differences, perturbing the array `a` in place."""
    g = np.zeros_like(a)
    flat, gflat = a.reshape(-1), g.reshape(-1)
    for j in range(flat.size):
        orig = flat[j]
        flat[j] = orig + eps
        up = f(model)
        flat[j] = orig - eps
        down = f(model)
        flat[j] = orig
        gflat[j] = (up - down) / (2 * eps)
    return g


def check_model(model, x, rtol=1e-5, atol=1e-7, input_grad=True, seed=0):
    """Check d<model(x), dy>/d(params) and d/dx through zygopy against differences."""
    from layers.devices import f64
    from layers.functor import gradient_pairs, parameters

    model = f64(model)
    if np.asarray(x).dtype.kind == "f":
        x = np.asarray(x, np.float64)
    dy = np.random.default_rng(seed).standard_normal(np.shape(model(x)))

    def f(m):
        return np.sum(m(x) * dy)

    (g,) = zp.gradient(f, model)
    got = {path: grad for path, _, grad in gradient_pairs(model, g)}
    for path, a in parameters(model):
        assert path in got, f"no gradient for parameter {path}"
        want = _numerical_param_grad(f, model, a)
        np.testing.assert_allclose(got[path], want, rtol=rtol, atol=atol, err_msg=path)
    if input_grad:
        check_grads(lambda x: np.sum(model(x) * dy), x, rtol=rtol, atol=atol)


RNG = np.random.default_rng(0)
V = RNG.standard_normal((3, 4))
IMG = RNG.standard_normal((2, 4, 6, 5))
DISTINCT = RNG.permutation(np.arange(2 * 4 * 6 * 6)).reshape(2, 4, 6, 6) / 10.0
SEQ = RNG.standard_normal((2, 3, 4))

MODELS = {
    "Dense": (lambda: Dense(4, 3, A.tanh), V),
    "Dense vector": (lambda: Dense(4, 2, A.sigmoid), V[0]),
    "Dense no bias": (lambda: Dense(4, 2, bias=False), V),
    "Chain": (lambda: Chain(Dense(4, 5, A.softplus), Dense(5, 2), A.softmax), V),
    "Chain lambda": (lambda: Chain(Dense(4, 3), lambda x: x * x + 1), V),
    "Parallel": (lambda: Parallel(np.add, Dense(4, 3), Dense(4, 3, A.gelu)), V),
    "SkipConnection": (lambda: SkipConnection(Dense(4, 4, A.elu), np.add), V),
    "Scale": (lambda: Scale(4, A.swish), V),
    "Conv": (lambda: Conv((3, 2), 4, 3, A.tanh), IMG),
    "Conv strided": (lambda: Conv(3, 4, 2, stride=2, pad=1, dilation=1), IMG),
    "Conv groups": (lambda: Conv(3, 4, 6, groups=2, dilation=(2, 1), pad="same"), IMG),
    "Conv flipped": (lambda: Conv(2, 4, 2, flipped=True), IMG),
    "ConvTranspose": (lambda: ConvTranspose(3, 4, 2, stride=2, pad=1), IMG),
    "MaxPool": (lambda: MaxPool(2), DISTINCT),
    "MeanPool": (lambda: MeanPool(3, stride=2, pad=1), IMG),
    "GlobalMaxPool": (lambda: GlobalMaxPool(), DISTINCT),
    "GlobalMeanPool": (lambda: GlobalMeanPool(), IMG),
    "AdaptiveMeanPool": (lambda: AdaptiveMeanPool((4, 3)), IMG),
    "BatchNorm train": (lambda: BatchNorm(4, active=True), IMG),
    "BatchNorm test": (lambda: BatchNorm(4, A.tanh, active=False), IMG),
    "LayerNorm": (lambda: LayerNorm(4), V),
    "GroupNorm": (lambda: GroupNorm(4, 2), IMG),
    "RNN": (lambda: RNN(4, 3), SEQ),
    "LSTM": (lambda: LSTM(4, 3), SEQ),
    "GRU": (lambda: GRU(4, 3), SEQ),
    "ConvNet": (
        lambda: Chain(Conv(3, 4, 3, A.relu), MaxPool(2), flatten, Dense(12, 2)),
        DISTINCT,
    ),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_layer_gradients(name):
    make, x = MODELS[name]
    check_model(make(), x)


def test_embedding_gradient():
    check_model(Embedding(5, 3), np.array([[0, 4], [4, 1]]), input_grad=False)


@pytest.mark.parametrize("cell", [LSTMCell, GRUCell])
def test_cell_gradients_wrt_state(cell):
    from layers.devices import f64

    c = f64(cell(4, 3))
    x = SEQ[:, 0]
    if cell is LSTMCell:

        def f(h, s, x):
            return c((h, s), x)[1]

        check_grads(f, V[:2, :3], V[1:, :3], x)
    else:
        check_grads(lambda h, x: c(h, x)[1], V[:2, :3], x)


# Inputs kept away from the kinks (0, ±1, 6, ±3 for hard functions).
KINKLESS = np.array([-7.5, -4.2, -2.7, -1.3, -0.4, 0.3, 0.8, 1.6, 2.4, 4.5, 7.2])


@pytest.mark.parametrize("name", sorted(set(A.__all__) - {"σ", "silu"}))
def test_activation_gradients(name):
    check_grads(getattr(A, name), KINKLESS)


def test_sigmoid_and_softplus_gradients_at_zero_and_far_out():
    x = np.array([-800.0, -40.0, 0.0, 40.0, 800.0])
    check_grads(A.sigmoid, x, atol=1e-9)
    check_grads(A.softplus, x, atol=1e-9)
    check_grads(A.relu, np.array([-1.0, 1.0]))


P = RNG.dirichlet(np.ones(4), size=3)
Q = RNG.dirichlet(np.ones(4), size=3)
Z = RNG.standard_normal((3, 4))
B = RNG.integers(0, 2, (3, 4)).astype(float)
PM = 2 * B - 1
LOSSES = {  # loss: (prediction, target); hinge margins kept off the kink at 0
    "mse": (Z, V),
    "mae": (Z, V),
    "msle": (P, Q),
    "huber_loss": (Z, V),
    "crossentropy": (P, Q),
    "logitcrossentropy": (Z, Q),
    "binarycrossentropy": (P, B),
    "logitbinarycrossentropy": (Z, B),
    "kldivergence": (P, Q),
    "poisson_loss": (P, Q),
    "hinge_loss": (Z + 0.01, PM),
    "squared_hinge_loss": (Z + 0.01, PM),
    "focal_loss": (P, Q),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_gradients(name):
    yhat, y = LOSSES[name]
    check_grads(getattr(L, name), yhat, y, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["crossentropy", "binarycrossentropy", "focal_loss"])
def test_loss_gradients_with_one_hot_labels(name):
    """Zero labels: d/dy is that of the smooth `y log ŷ`, not of a 0 branch."""
    check_grads(getattr(L, name), P, np.eye(4)[[0, 3, 1]], rtol=1e-5, atol=1e-7)


def test_xlogy_gradient_at_zero():
    """d/dx x log(y) = log(y) also at x = 0; 0 log 0 = 0 with no NaN."""
    x, y = np.array([0.0, 0.0, 2.0]), np.array([0.5, 0.0, 0.5])
    assert L._xlogy(x, y).tolist() == [0.0, 0.0, 2 * np.log(0.5)]
    dx, dy = zp.gradient(lambda x, y: np.sum(L._xlogy(x, y)), x, y)
    np.testing.assert_allclose(dx[[0, 2]], np.log(0.5))
    np.testing.assert_allclose(dy[[0, 2]], [0.0, 4.0])


def test_end_to_end_structural_gradient():
    model = Chain(Dense(4, 5, A.relu), Dense(5, 3))
    y = np.eye(3, dtype=np.float32)[[0, 2, 1]]
    (g,) = zp.gradient(lambda m: L.logitcrossentropy(m(V.astype(np.float32)), y), model)
    assert g.layers[0].weight.shape == (5, 4)
    assert g.layers[0].weight.dtype == np.float32
    assert g.layers[1].activation is None
