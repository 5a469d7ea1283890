"""`layers.train` end to end through the real compiler: explicit and implicit styles."""

import numpy as np

import layers
import zygopy as zp
from layers import Adam, Chain, DataLoader, Dense, Descent, logitcrossentropy, mse

RNG = np.random.default_rng(0)
X = RNG.standard_normal((64, 3)).astype(np.float32)
TRUE_W = np.array([[1.5, -2.0, 0.5]], np.float32)
Y = X @ TRUE_W.T + 0.25


def test_explicit_style_fits_and_matches_a_manual_loop():
    """train(loss, model, data, rule) == withgradient + setup/update by hand."""
    layers.set_seed(0)
    model = Dense(3, 1)
    layers.set_seed(0)
    twin = Dense(3, 1)
    data = [(X[i : i + 16], Y[i : i + 16]) for i in range(0, 64, 16)]

    def loss(m, x, y):
        return mse(m(x), y)

    hist = layers.train(loss, model, data, Adam(0.05), epochs=40, progress=False)
    assert len(hist) == 160 and hist[-1] < 1e-3 * hist[0]
    np.testing.assert_allclose(model.weight, TRUE_W, atol=0.02)
    assert model.weight.dtype == np.float32

    state = layers.setup(Adam(0.05), twin)
    manual = []
    for _ in range(40):
        for x, y in data:
            value, (g,) = zp.withgradient(lambda m: loss(m, x, y), twin)  # noqa: B023
            state, twin = layers.update(state, twin, g)
            manual.append(float(value))
    np.testing.assert_allclose(hist, manual, rtol=1e-5)
    np.testing.assert_allclose(model.weight, twin.weight, rtol=1e-5)


def test_explicit_style_classifier_with_shuffling_loader():
    layers.set_seed(1)
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)  # 3 classes
    model = Chain(Dense(3, 16, layers.relu), Dense(16, 3))
    loader = DataLoader(
        (X, layers.onehotbatch(labels, [0, 1, 2])), batchsize=8, shuffle=True, rng=0
    )
    hist = layers.train(
        lambda m, x, y: logitcrossentropy(m(x), y),
        model,
        loader,
        Adam(0.02),
        epochs=30,
        progress=False,
    )
    assert np.mean(hist[-8:]) < 0.3 * np.mean(hist[:8])
    assert np.mean(layers.onecold(model(X)) == labels) > 0.9


W = np.zeros((1, 3), np.float32)  # implicit style: the tutorial's global arrays
b = np.zeros(1, np.float32)


def predict(x):
    return x @ W.T + b


def test_implicit_style_with_global_arrays():
    W[...], b[...] = 0, 0

    def loss(x, y):
        return mse(predict(x), y)

    ps = zp.params(W, b)
    hist = layers.train(loss, ps, [(X, Y)] * 300, Descent(0.1), progress=False)
    assert hist[-1] < 1e-4 * hist[0]
    np.testing.assert_allclose(W, TRUE_W, atol=1e-2)
    np.testing.assert_allclose(b, [0.25], atol=1e-2)


MODEL = Dense(3, 1)


def _implicit_model_loss(x, y):
    return mse(MODEL(x), y)


def test_implicit_style_with_params_of_a_global_model():
    """The Flux overview: train!(loss, params(predict), data, opt)."""
    layers.set_seed(0)
    MODEL.weight[...] = 0
    MODEL.bias[...] = 0
    ps = layers.params(MODEL)
    hist = layers.train(
        _implicit_model_loss, ps, [(X, Y)] * 300, Descent(0.1), progress=False
    )
    assert hist[-1] < 1e-4 * hist[0]


def test_implicit_style_with_params_of_a_closure_model():
    model = Dense(3, 1)
    ps = layers.params(model)
    hist = layers.train(
        lambda x, y: mse(model(x), y), ps, [(X, Y)] * 300, Descent(0.1), progress=False
    )
    assert hist[-1] < 1e-4 * hist[0]
