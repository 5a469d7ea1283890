"""The training loop with a stub gradient: both styles, callbacks, stopping, NaN, progress;
and, through zygopy, the errors and the warning for misuse (a loss with the wrong
signature or ignoring its model, an iterator for several epochs, a list as the model)."""

import builtins
import warnings

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

# the stubs returning no gradient (None) trip train's "no gradient" warning
pytestmark = pytest.mark.filterwarnings(
    "ignore:train. no parameter received a non-zero gradient:UserWarning"
)


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


@pytest.mark.parametrize("specialise", [True, False], ids=["specialised", "general"])
def test_a_training_step_leaves_no_cyclic_garbage(specialise, monkeypatch):
    """Gradients and intermediates are freed when the step ends (by reference
    counting), not kept by reference cycles until a GC pass: a large model's
    next step then reuses their memory. Both ways a step can go: the flat
    function specialised on the model's structure, and the general path. The
    first steps compile (the general path, the specialisation, the fused
    function): the fourth is a step like every later one."""
    import gc

    import zygopy as zp
    from layers import Adam, Chain, Dense, relu, setup, update
    from zygopy.runtime import specialised

    monkeypatch.setattr(specialised, "ENABLED", specialise)
    specialised.forget()

    model = Chain(Dense(4, 8, relu), Dense(8, 2))
    state = setup(Adam(1e-3), model)
    x = np.ones((3, 4), np.float32)
    loss = zp.value_and_grad(lambda m, x: np.sum(m(x) ** 2))

    def step():
        _, g = loss(model, x)
        update(state, model, g)

    for _ in range(3):
        step()
    assert (specialised.source(loss.f) != "") == specialise
    gc.collect()
    gc.disable()
    try:
        step()
        assert gc.collect() == 0
    finally:
        gc.enable()


# ------------------------------------------------------------ misuse of train


def _dense_data():
    from layers import Dense

    rng = np.random.default_rng(0)
    x = rng.random((8, 4)).astype(np.float32)
    return Dense(4, 1), x, x.sum(axis=1, keepdims=True)


def _mse(m, x, y):
    return np.mean((m(x) - y) ** 2)


def test_an_iterator_is_refused_for_several_epochs():
    m, x, y = _dense_data()
    with pytest.raises(ValueError, match=r"data is an iterator \(zip\).*epochs 2 to 3 "
                       r"would train on nothing.*list\(zip\(X, Y\)\).*DataLoader"):
        T.train(_mse, m, zip(x, y), Descent(0.1), epochs=3, progress=False)
    gen = ((x[i : i + 2], y[i : i + 2]) for i in range(0, 8, 2))
    with pytest.raises(ValueError, match=r"iterator \(generator\)"):
        T.train(_mse, m, gen, Descent(0.1), epochs=2, progress=False)
    # one epoch over an iterator, and several over a list or a DataLoader, run
    assert len(T.train(_mse, m, zip(x, y), Descent(0.1), progress=False)) == 8
    assert len(T.train(_mse, m, list(zip(x, y)), Descent(0.1), epochs=3, progress=False)) == 24
    loader = DataLoader((x, y), batchsize=4)
    assert len(T.train(_mse, m, loader, Descent(0.1), epochs=3, progress=False)) == 6


def test_a_loss_ignoring_its_model_warns_once():
    model, x, y = _dense_data()
    w0 = model.weight.copy()
    with pytest.warns(UserWarning, match=r"no parameter received a non-zero gradient.*"
                      r"loss must compute from the model it is given") as record:
        T.train(lambda m, x, y: _mse(model, x, y), model, [(x, y)] * 3, Descent(0.1),
                progress=False)
    assert len(record) == 1 and record[0].filename == __file__
    assert np.array_equal(model.weight, w0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a loss using its model: no warning
        T.train(_mse, model, [(x, y)] * 3, Descent(0.1), progress=False)
    assert not np.array_equal(model.weight, w0)


def test_no_gradient_warning_with_a_stub_gradient(monkeypatch):
    def zeros(f, m):
        return f(m), Tangent(Linear, w=np.zeros(1, np.float32))

    with pytest.warns(UserWarning, match="loss must compute from the model it is given"):
        T.train(loss_explicit, Linear(), [(X, Y)], Descent(), progress=False, _gradient=zeros)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        T.train(loss_explicit, Linear(), [(X, Y)], Descent(), progress=False,
                _gradient=grad_explicit)
        T.train(lambda m, x: 1.0, object(), [(X,)], Descent(), progress=False,
                _gradient=lambda f, m: (f(m), None))  # no parameters at all
    import zygopy

    monkeypatch.setattr(zygopy, "Params", FakeParams)
    W = np.zeros(1, np.float32)
    with pytest.warns(UserWarning, match=r"Params must be taken from the model"):
        T.train(lambda x, y: 1.0, FakeParams([W]), [(X, Y)], Descent(), progress=False,
                _gradient=lambda f, ps: (f(), {id(W): zygopy.ZERO}))


def test_a_loss_of_the_wrong_signature_says_the_calling_convention():
    model, x, y = _dense_data()
    with pytest.raises(TypeError, match=r"^train: cannot call the loss with this batch "
                       r"\(.*too many positional arguments\)\. Explicit-style train "
                       r"\(given a model\) calls loss\(model, \*batch\) for each batch of "
                       r"data.*Got a batch of 2 items \(an array of shape \(8, 4\), an "
                       r"array of shape \(8, 1\)\) for a loss taking \(x, y\): write the "
                       r"loss as loss\(model, x, y\)") as e:
        T.train(lambda x, y: _mse(model, x, y), model, [(x, y)], Descent(), progress=False)
    assert isinstance(e.value.__cause__, TypeError)
    with pytest.raises(TypeError, match=r"Got a batch of 1 item \(an array of shape \(8, 4\)\) "
                       r"for a loss taking \(m, x, y\): .*data=\(X, Y\) gives X and then Y "
                       r"as batches: pass \[\(X, Y\)\]"):
        T.train(_mse, model, (x, y), Descent(), progress=False)


def test_wrong_signature_with_a_stub_gradient_and_implicit_style(monkeypatch):
    with pytest.raises(TypeError, match=r"Explicit-style.*2 items \(an array of shape "
                       r"\(16,\), an int\)"):
        T.train(lambda m, x: 1.0, Linear(), [(X, 3)], Descent(), progress=False,
                _gradient=grad_explicit)
    import zygopy

    monkeypatch.setattr(zygopy, "Params", FakeParams)
    with pytest.raises(TypeError, match=r"Implicit-style train \(given zygopy\.Params\) "
                       r"calls loss\(\*batch\).*loss taking \(m, x, y\): write the loss "
                       r"as loss\(x, y\)"):
        T.train(loss_explicit, FakeParams([np.zeros(1)]), [(X, Y)], Descent(),
                progress=False, _gradient=lambda f, ps: (f(), {}))


def test_a_type_error_inside_the_loss_is_not_rewritten():
    def loss(m, x, y):
        raise TypeError("inside the loss")

    with pytest.raises(TypeError, match="^inside the loss$"):
        T.train(loss, Linear(), [(X, Y)], Descent(), progress=False,
                _gradient=grad_explicit)
    model, x, y = _dense_data()

    def bad(m, x, y):
        return _mse(m, x, "y") + len(3)

    with pytest.raises(TypeError) as e:
        T.train(bad, model, [(x, y)], Descent(), progress=False)
    assert not str(e.value).startswith("train:")


def test_a_list_as_the_model_says_what_a_model_is():
    from layers import Chain

    model, x, y = _dense_data()
    with pytest.raises(TypeError, match=r"^train: the model is a list and the loss calls "
                       r"it; the model must be a model object .*Chain.* or zygopy\.Params"):
        T.train(_mse, [model], [(x, y)], Descent(), progress=False)
    # a list the loss indexes is a model like any other
    T.train(lambda ms, x, y: _mse(Chain(*ms), x, y), [model], [(x, y)], Descent(),
            progress=False)
