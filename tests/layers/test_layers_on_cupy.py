"""layers on a CUDA device through CuPy: every model of the gradient table,
every loss and optimiser, training, and save/load give what they give on the
CPU, with every array staying on the device. Needs CuPy and a CUDA device (the
`gpu` marker); skipped otherwise."""

from __future__ import annotations

import numpy as np
import pytest
from test_layer_gradients import LOSSES, MODELS

import layers
import layers.losses as L
import zygopy as zp
from layers.devices import cpu, f64, gpu
from layers.functor import gradient_pairs, parameters
from zygopy.testing import assert_close, assert_on_device, to_device, to_host

pytestmark = pytest.mark.gpu


def _gradients(model, x, dy):
    def f(m, x):
        return (m(x) * dy).sum()

    gm, gx = zp.gradient(f, model, x)
    return {path: g for path, _, g in gradient_pairs(model, gm)}, gx


@pytest.mark.parametrize("name", sorted(MODELS))
def test_layer_gradient_on_gpu_matches_cpu(name, cupy):
    make, x = MODELS[name]
    model = f64(make())
    dy = np.random.default_rng(0).standard_normal(np.shape(model(x)))
    want, want_x = _gradients(model, x, dy)
    on_gpu = gpu(model)
    got, got_x = _gradients(on_gpu, cupy.asarray(x), cupy.asarray(dy))
    assert sorted(got) == sorted(want)
    for path in want:
        assert_on_device(got[path], cupy, path)
        assert_close(to_host(got[path]), want[path], rtol=1e-6, atol=1e-9, what=path)
    assert_on_device(got_x, cupy, "input gradient")
    assert_close(to_host(got_x), want_x, rtol=1e-6, atol=1e-9, what="input gradient")


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_gradient_on_gpu_matches_cpu(name, cupy):
    loss = getattr(L, name)
    yhat, y = LOSSES[name]
    want = zp.withgradient(loss, yhat, y)
    got = zp.withgradient(loss, cupy.asarray(yhat), cupy.asarray(y))
    assert_close(to_host(got[0]), want[0], rtol=1e-6, what=f"{name} value")
    assert_on_device(got[1], cupy, name)
    assert_close(to_host(got[1]), want[1], rtol=1e-6, atol=1e-9, what=name)


RULES = [
    layers.Descent(0.1), layers.Momentum(0.01), layers.Nesterov(0.01),
    layers.RMSProp(0.01), layers.Adam(0.01), layers.AdamW(0.01), layers.RAdam(0.01),
    layers.NAdam(0.01), layers.AdaMax(0.01), layers.AMSGrad(0.01),
    layers.AdaGrad(0.1), layers.AdaDelta(0.9), layers.AdaBelief(0.01),
    layers.Lion(0.01),
    layers.OptimiserChain(layers.ClipNorm(1.0), layers.WeightDecay(1e-3),
                          layers.Adam(0.01)),
    layers.OptimiserChain(layers.ClipGlobalNorm(0.5), layers.Descent(0.1)),
]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: repr(r)[:40])
def test_optimiser_steps_on_gpu_match_cpu(rule, cupy):
    import copy

    model = f64(layers.Chain(layers.Dense(4, 3, layers.tanh), layers.Dense(3, 2)))
    x = np.random.default_rng(1).standard_normal((5, 4))
    on_gpu, xd = gpu(model), cupy.asarray(x)
    states = layers.setup(copy.deepcopy(rule), model), layers.setup(rule, on_gpu)
    for _ in range(3):
        (g,) = zp.gradient(lambda m: (m(x) ** 2).mean(), model)
        (gd,) = zp.gradient(lambda m: (m(xd) ** 2).mean(), on_gpu)
        layers.update(states[0], model, g)
        layers.update(states[1], on_gpu, gd)
    for (path, a), (_, b) in zip(parameters(model), parameters(on_gpu)):
        assert_on_device(b, cupy, path)
        assert_close(to_host(b), a, rtol=1e-6, atol=1e-9, what=path)


def test_training_on_gpu(cupy, tmp_path):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    labels = (x[:, 0] + x[:, 1] > 0).astype(int)
    y = layers.onehotbatch(labels, [0, 1])
    model = gpu(layers.Chain(layers.Dense(4, 16, layers.relu), layers.Dense(16, 2)))
    data = layers.DataLoader(to_device((x, y), cupy), batchsize=16, shuffle=True,
                             rng=np.random.default_rng(0))
    opt = layers.setup(layers.Adam(0.01), model)

    def loss(m, x, y):
        return layers.logitcrossentropy(m(x), y)

    history = layers.train(loss, model, data, opt, epochs=30, progress=False)
    assert history[-1] < 0.5 * history[0]
    accuracy = (layers.onecold(to_host(model(cupy.asarray(x)))) == labels).mean()
    assert accuracy > 0.9
    path = tmp_path / "model.safetensors"
    layers.save(path, model)
    fresh = layers.Chain(layers.Dense(4, 16, layers.relu), layers.Dense(16, 2))
    layers.load(path, fresh)
    assert_close(fresh(x), to_host(model(cupy.asarray(x))), rtol=1e-5)
    back = cpu(model)
    assert all(isinstance(a, np.ndarray) for _, a in parameters(back))
