"""Normalisation and dropout layers: statistics, running stats, modes, reprs."""

import numpy as np
import pytest

import layers
import zygopy as zp
from layers.activations import relu
from layers.basic import Chain, Dense, count_parameters
from layers.normalise import (
    AlphaDropout,
    BatchNorm,
    Dropout,
    GroupNorm,
    LayerNorm,
    trainmode,
)
from layers.normalise import testmode as to_testmode  # a bare `testmode` is collected

RNG = np.random.default_rng(0)
X4 = (3 * RNG.standard_normal((8, 3, 5, 4)) + 2).astype(np.float32)


def test_batchnorm_train_normalises_per_channel_and_updates_stats():
    bn = BatchNorm(3, active=True, momentum=0.1)
    y = bn(X4)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-3)
    n = 8 * 5 * 4
    mean = X4.mean(axis=(0, 2, 3))
    var = X4.var(axis=(0, 2, 3)) * n / (n - 1)
    np.testing.assert_allclose(bn.running_mean, 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * var, rtol=1e-5)


def test_batchnorm_test_mode_uses_running_stats():
    bn = BatchNorm(3, relu, active=False)
    bn.running_mean[:] = [1, 2, 3]
    bn.running_var[:] = [4, 1, 0.25]
    bn.scale[:] = 2
    bn.bias[:] = 0.5
    m = np.array([1, 2, 3], np.float32)[:, None, None]
    s = np.sqrt(np.array([4, 1, 0.25], np.float32) + 1e-5)[:, None, None]
    np.testing.assert_allclose(bn(X4), np.maximum(2 * (X4 - m) / s + 0.5, 0), rtol=1e-5)
    assert bn.running_mean.tolist() == [1, 2, 3]  # unchanged


def test_batchnorm_on_dense_features_and_repr():
    x = RNG.standard_normal((16, 5)).astype(np.float32)
    y = BatchNorm(5, active=True)(x)
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-5)
    bn = BatchNorm(4)
    assert repr(bn) == "BatchNorm(4)  # 8 parameters, plus 8 non-trainable"
    assert count_parameters(bn) == 8
    with pytest.raises(ValueError, match=r"BatchNorm\(3.*\): expected channels .* 3, got 5"):
        BatchNorm(3)(x)


def test_layernorm():
    x = RNG.standard_normal((4, 6)).astype(np.float32) * 5
    y = LayerNorm(6)(x)
    assert y.dtype == np.float32
    want = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)
    y2 = LayerNorm((5, 4))(X4)
    np.testing.assert_allclose(y2.mean(axis=(2, 3)), 0, atol=1e-5)
    assert repr(LayerNorm(6)) == "LayerNorm(6)  # 12 parameters"
    with pytest.raises(ValueError, match=r"LayerNorm\(.*\): expected trailing shape \(7,\)"):
        LayerNorm(7)(x)


def test_groupnorm():
    x = RNG.standard_normal((2, 6, 3, 3)).astype(np.float32) * 4 + 1
    y = GroupNorm(6, 3)(x)
    g = x.reshape(2, 3, -1)
    want = (g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(y, want.reshape(x.shape), rtol=1e-4, atol=1e-5)
    assert y.dtype == np.float32
    with pytest.raises(ValueError, match="GroupNorm"):
        GroupNorm(5, 2)


def test_reprs_show_non_default_affine_and_track_stats():
    assert repr(LayerNorm(4, affine=False)) == "LayerNorm(4, affine=False)"
    assert repr(LayerNorm((2, 3), relu, affine=False)) == "LayerNorm((2, 3), relu, affine=False)"
    assert repr(GroupNorm(6, 3, affine=False)) == "GroupNorm(6, 3, affine=False)"
    assert repr(BatchNorm(3, track_stats=False)) == "BatchNorm(3, track_stats=False)  # 6 parameters"
    assert repr(BatchNorm(3, affine=False, track_stats=False)) == \
        "BatchNorm(3, affine=False, track_stats=False)"
    assert repr(BatchNorm(3, affine=False)) == \
        "BatchNorm(3, affine=False)  # 0 parameters, plus 6 non-trainable"


def test_container_total_counts_running_stats_apart():
    c = Chain(Dense(3, 2), BatchNorm(2))
    assert repr(c).splitlines()[-1] == (
        ")  # Total: 4 trainable arrays, 12 parameters, plus 2 non-trainable, 4 parameters"
    )


def test_dropout_modes_and_scaling():
    x = np.ones((200, 50), np.float32)
    d = Dropout(0.3, rng=np.random.default_rng(1), active=True)
    y = d(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.7], rtol=1e-6)
    assert np.mean(y == 0) == pytest.approx(0.3, abs=0.02)
    assert y.mean() == pytest.approx(1.0, abs=0.03)
    d.active = False
    assert d(x) is x
    ch = Dropout(0.5, dims=(0, 1), rng=np.random.default_rng(2), active=True)(X4)
    per_channel = (ch == 0).reshape(8, 3, -1)
    assert np.all(per_channel.all(-1) | ~per_channel.any(-1))  # whole channels dropped


def test_alphadropout_keeps_mean_and_variance():
    x = RNG.standard_normal(200_000).astype(np.float32)
    y = AlphaDropout(0.2, rng=np.random.default_rng(3), active=True)(x)
    assert y.dtype == np.float32
    assert y.mean() == pytest.approx(0.0, abs=0.02)
    assert y.std() == pytest.approx(1.0, abs=0.02)
    assert AlphaDropout(0.2, active=False)(x) is x


def test_trainmode_testmode_walk_models():
    m = Chain(Dense(2, 3), Chain(Dropout(0.5), BatchNorm(3)))
    trainmode(m)
    assert m[1][0].active is True and m[1][1].active is True
    to_testmode(m)
    assert m[1][0].active is False and m[1][1].active is False
    to_testmode(m, "auto")
    assert m[1][0].active is None
    assert trainmode(m, False) is m and m[1][1].active is False


def test_automatic_mode_follows_is_differentiating():
    """active=None (the default): train mode inside a gradient's forward pass
    (zygopy.is_differentiating()), test mode in a plain call."""
    import zygopy as zp

    x = X4[:, :, 0, 0]  # (8, 3)
    bn, drop = BatchNorm(3), Dropout(0.5, rng=np.random.default_rng(4))
    assert bn.active is None and drop.active is None
    seen = []

    def probe(v):
        seen.append(zp.is_differentiating())
        return v

    zp.nondifferentiable(probe)
    m = Chain(bn, drop)
    assert m(x) is not None and not zp.is_differentiating()
    np.testing.assert_array_equal(bn.running_mean, 0)  # test mode: stats untouched
    assert drop(x) is x  # test mode: dropout off

    def loss(m):
        return np.sum(probe(m(x)) ** 2)

    (g,) = zp.gradient(loss, m)
    assert seen == [True] and not zp.is_differentiating()
    np.testing.assert_allclose(bn.running_mean, 0.1 * x.mean(axis=0), rtol=1e-5)
    y = bn(x)  # now normalised with the running statistics
    np.testing.assert_allclose(
        y, (x - bn.running_mean) / np.sqrt(bn.running_var + 1e-5), rtol=1e-5
    )
    assert g.layers[0].scale.shape == (3,)
    # dropout is on under gradient: each unit's gradient is 0 (dropped) or 1/(1-p)
    (dx,) = zp.gradient(lambda v: np.sum(drop(v)), x)
    assert set(np.unique(dx)) == {0.0, 2.0}


def test_another_threads_gradient_leaves_this_thread_in_test_mode():
    """is_differentiating() is per thread: a model run for inference in one
    thread while another differentiates keeps its dropout off (and a thread's
    implicit parameters do not reach another's explicit gradient)."""
    import threading

    x = X4[:, :, 0, 0]
    drop = Dropout(0.5, rng=np.random.default_rng(5))
    inside, done = threading.Event(), threading.Event()
    seen = {}

    def hold(v):
        inside.set()
        done.wait(10)
        return v

    zp.nondifferentiable(hold)
    ps = zp.params(x)

    def implicit_loss():
        hold(0.0)  # (no gradient through it: the wait only)
        return np.sum(x**2)

    worker = threading.Thread(
        target=lambda: seen.setdefault("g", zp.gradient(implicit_loss, ps))
    )
    worker.start()
    try:
        assert inside.wait(10)
        seen["here"] = zp.is_differentiating()
        seen["drop"] = drop(x)
        seen["explicit"] = zp.gradient(lambda v: np.sum(v * v), x)
    finally:
        done.set()
        worker.join(10)
    assert seen["here"] is False and seen["drop"] is x
    np.testing.assert_allclose(seen["explicit"][0], 2 * x)
    np.testing.assert_allclose(seen["g"][x], 2 * x)


def _penalty(m, x):
    (gx,) = zp.gradient(lambda x: np.sum(m(x)), x)
    return np.sum(gx**2)


def test_a_gradient_penalty_keeps_dropouts_mask_and_updates_statistics_once():
    # the outer gradient runs the inner one again, on duals: it must see the
    # first run's mask, and not update BatchNorm's statistics a second time
    x = np.ones((1, 8))
    drop = Dropout(0.5, rng=np.random.default_rng(0), active=True)
    dense = layers.f64(layers.Dense(8, 1, bias=False, init=layers.ones))
    value, (g, _) = zp.withgradient(_penalty, layers.Chain(drop, dense), x)
    mask = (np.random.default_rng(0).random((1, 8)) >= 0.5) / 0.5
    assert value == np.sum((dense.weight * mask) ** 2)
    np.testing.assert_array_equal(g.layers[1].weight, 2 * dense.weight * mask**2)

    mlp = layers.f64(layers.Chain(layers.Dense(2, 2, np.tanh), BatchNorm(2), layers.Dense(2, 1)))
    bn = layers.trainmode(mlp)[1]
    xb = np.random.default_rng(1).standard_normal((6, 2))
    zp.gradient(_penalty, mlp, xb)
    np.testing.assert_allclose(bn.running_mean, 0.1 * mlp[0](xb).mean(axis=0), rtol=1e-12)


def test_a_gradient_penalty_in_the_default_mode_is_the_train_mode_one():
    # the second-order rerun runs as a gradient's forward pass: layers in train mode
    x = np.random.default_rng(1).standard_normal((6, 3))

    def model(active):
        layers.set_seed(0)
        return layers.f64(Chain(Dense(3, 5, np.tanh),
                                Dropout(0.5, rng=np.random.default_rng(42), active=active),
                                BatchNorm(5, active=active), Dense(5, 1)))

    def penalty(m):
        return np.sum(zp.grad(lambda x: np.sum(m(x) ** 2))(x) ** 2)

    (auto,) = zp.gradient(penalty, model(None))
    (train,) = zp.gradient(penalty, model(True))
    np.testing.assert_allclose(auto.layers[0].weight, train.layers[0].weight)
    np.testing.assert_allclose(auto.layers[2].scale, train.layers[2].scale)
    h = lambda v: v**3 if zp.is_differentiating() else v**2
    assert zp.grad(zp.grad(h))(2.0) == zp.grad(lambda v: 3 * v**2)(2.0) == 12.0


class _SlotsBlock:
    __slots__ = ("drop",)

    def __init__(self):
        self.drop = Dropout(0.5)

    def __call__(self, x):
        return self.drop(x)


def test_modes_reach_layers_in_closures_and_slots():
    inner = Dropout(0.5)
    closure = lambda x: inner(x)
    block = _SlotsBlock()
    layers.testmode([closure, block])
    assert inner.active is False and block.drop.active is False
    layers.trainmode([closure, block])
    assert inner.active is True and block.drop.active is True
