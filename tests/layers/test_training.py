"""The training loop with a stub gradient: both styles, callbacks, stopping, NaN, progress."""

import builtins

import numpy as np
import pytest

import layers.training as T
from layers.data import DataLoader
from layers.optimisers import Descent, Momentum, setup
from zygopy import Tangent


class Linear:
    def __init__(self):
        self.w = np.zeros(1, np.float32)


def loss_explicit(m, x, y):
    return float(np.mean((m.w[0] * x - y) ** 2))


def central_difference(f, w, h=1e-3):
    """d f / d w[0] by central differences, perturbing w in place."""
    w0 = w[0]
    w[0] = w0 + h
    up = f()
    w[0] = w0 - h
    down = f()
    w[0] = w0
    return np.array([(up - down) / (2 * h)], np.float32)


def grad_explicit(f, m):
    """Stand-in for zygopy.withgradient: value and structural gradient of f(m)."""
    return f(m), Tangent(Linear, w=central_difference(lambda: f(m), m.w))


X = np.linspace(-1, 1, 16).astype(np.float32)
Y = 3 * X


def test_explicit_training_fits():
    m = Linear()
    hist = T.train(
        loss_explicit,
        m,
        DataLoader((X, Y), batchsize=4),
        Descent(0.3),
        epochs=20,
        progress=False,
        _gradient=grad_explicit,
    )
    assert len(hist) == 80 and hist[-1] < 1e-3 < hist[0]
    assert abs(m.w[0] - 3) < 0.05 and m.w.dtype == np.float32


def test_explicit_with_optstate_is_advanced_in_place():
    m = Linear()
    state = setup(Momentum(0.1), m)
    T.train(loss_explicit, m, [(X, Y)], state, progress=False, _gradient=grad_explicit)
    assert np.any(state["w"].state != 0)


class FakeParams(list):
    """Stands in for zygopy.Params (an ordered collection of arrays)."""


def test_implicit_training(monkeypatch):
    import zygopy

    monkeypatch.setattr(zygopy, "Params", FakeParams)
    W = np.zeros(1, np.float32)
    ps = FakeParams([W])

    def loss(x, y):
        return float(np.mean((W[0] * x - y) ** 2))

    def gradient(f, params):
        assert params is ps
        return f(), {id(W): central_difference(f, W)}

    hist = T.train(
        loss, ps, [(X, Y)] * 30, Descent(0.3), progress=False, _gradient=gradient
    )
    assert len(hist) == 30 and abs(W[0] - 3) < 0.05
    with pytest.raises(TypeError, match="rule"):
        T.train(loss, ps, [(X, Y)], setup(Descent(), {"w": W}), _gradient=gradient)


def test_non_tuple_batch_is_one_argument():
    seen = []

    def gradient(f, m):
        return f(m), None

    T.train(
        lambda m, d: seen.append(d) or 1.0,
        Linear(),
        [{"a": 1}, {"a": 2}],
        Descent(),
        progress=False,
        _gradient=gradient,
    )
    assert seen == [{"a": 1}, {"a": 2}]


def test_nonfinite_loss_names_epoch_and_batch():
    m = Linear()
    losses = iter([1.0, 2.0, 3.0, float("nan")])

    def gradient(f, m):
        return next(losses), Tangent(Linear, w=np.ones(1))

    with pytest.raises(T.NonFiniteLoss, match="epoch 2, batch 2") as e:
        T.train(
            loss_explicit,
            m,
            [(X, Y)] * 2,
            Descent(1.0),
            epochs=2,
            progress=False,
            _gradient=gradient,
        )
    assert isinstance(e.value, FloatingPointError)
    assert m.w[0] == -3  # three updates, the NaN batch skipped


def test_stop_from_callback_and_callback_order():
    calls = []

    def cb():
        calls.append(len(calls))
        if len(calls) == 3:
            T.stop()

    hist = T.train(
        loss_explicit,
        Linear(),
        [(X, Y)] * 10,
        Descent(0.1),
        callbacks=[cb],
        progress=False,
        _gradient=grad_explicit,
    )
    assert len(hist) == 3 and calls == [0, 1, 2]


def test_on_batch_callback_gets_info():
    infos = []

    class Recorder:
        def on_batch(self, info):
            infos.append((info.epoch, info.batch, info.loss, len(info.history)))

    T.train(
        lambda m, x: 0.5,
        Linear(),
        [(1,), (2,)],
        Descent(),
        epochs=2,
        progress=False,
        callbacks=[Recorder()],
        _gradient=lambda f, m: (f(m), None),
    )
    assert infos == [(1, 1, 0.5, 1), (1, 2, 0.5, 2), (2, 1, 0.5, 3), (2, 2, 0.5, 4)]


def test_throttle():
    now = [0.0]
    calls = []
    f = T.throttle(lambda: calls.append(now[0]) or "ran", 10, clock=lambda: now[0])
    results = []
    for t in [0, 5, 10, 12, 21]:
        now[0] = t
        results.append(f())
    assert calls == [0, 10, 21] and results == ["ran", None, "ran", None, "ran"]
    g = T.throttle(lambda: calls.append("g"), 10, leading=False, clock=lambda: now[0])
    g()
    assert calls[-1] == 21


def test_early_stopping():
    values = iter([5.0, 4.0, 4.0, 3.999, 4.5, 6.0, 7.0])
    es = T.EarlyStopping(lambda: next(values), patience=3, min_delta=0.01)
    hist = T.train(
        lambda m, x: 1.0,
        Linear(),
        [(0,)] * 10,
        Descent(),
        callbacks=[es],
        progress=False,
        _gradient=lambda f, m: (f(m), None),
    )
    assert len(hist) == 5 and es.best == 4.0
    up = T.EarlyStopping(lambda: 1.0, patience=1, mode="max")
    up()
    with pytest.raises(T.StopTraining):
        up()
    with pytest.raises(ValueError, match="mode"):
        T.EarlyStopping(lambda: 0, mode="down")


def test_text_progress_without_tqdm(monkeypatch, capsys):
    real_import = builtins.__import__

    def no_tqdm(name, *a, **k):
        if name == "tqdm":
            raise ImportError("no tqdm")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    T.train(
        lambda m, x: 0.25,
        Linear(),
        [(0,), (1,)],
        Descent(),
        epochs=2,
        _gradient=lambda f, m: (f(m), None),
    )
    err = capsys.readouterr().err
    assert (
        "epoch 2/2  batch 2/2  loss 0.25" in err and "eta" in err and "elapsed" in err
    )


def test_tqdm_progress(capsys):
    pytest.importorskip("tqdm")
    T.train(
        lambda m, x: 0.25,
        Linear(),
        [(0,), (1,)],
        Descent(),
        _gradient=lambda f, m: (f(m), None),
    )
    assert "loss=0.25" in capsys.readouterr().err


def test_silent(capsys):
    T.train(
        lambda m, x: 0.25,
        Linear(),
        [(0,)],
        Descent(),
        progress=False,
        _gradient=lambda f, m: (f(m), None),
    )
    assert capsys.readouterr() == ("", "")


def test_a_training_step_leaves_no_cyclic_garbage():
    """Gradients and intermediates are freed when the step ends (by reference
    counting), not kept by reference cycles until a GC pass: a large model's
    next step then reuses their memory."""
    import gc

    import zygopy as zp
    from layers import Adam, Chain, Dense, relu, setup, update

    model = Chain(Dense(4, 8, relu), Dense(8, 2))
    state = setup(Adam(1e-3), model)
    x = np.ones((3, 4), np.float32)
    loss = zp.value_and_grad(lambda m, x: np.sum(m(x) ** 2))

    def step():
        _, g = loss(model, x)
        update(state, model, g)

    step()
    step()
    gc.collect()
    gc.disable()
    try:
        step()
        assert gc.collect() == 0
    finally:
        gc.enable()
