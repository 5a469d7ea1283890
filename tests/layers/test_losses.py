"""Losses: Flux semantics against plain numpy, aggregation, size errors, stability."""

import numpy as np
import pytest

import layers.losses as L

RNG = np.random.default_rng(0)
P = RNG.dirichlet(np.ones(4), size=5)  # probabilities (batch, classes)
Y = np.eye(4)[[0, 1, 2, 3, 1]]  # one-hot targets
Z = RNG.standard_normal((5, 4))  # logits / regression values
T = RNG.standard_normal((5, 4))
B = RNG.integers(0, 2, (5, 4)).astype(float)  # binary labels
PM = np.where(B > 0, 1.0, -1.0)  # labels in {-1, 1}
EPS = np.finfo(np.float64).eps
SIG = 1 / (1 + np.exp(-Z))
LOGSM = Z - np.log(np.exp(Z).sum(-1, keepdims=True))


def _huber(e, d=1.0):
    return np.where(np.abs(e) < d, 0.5 * e**2, d * (np.abs(e) - 0.5 * d))


CASES = [  # (loss, args, expected with agg=mean)
    (L.mse, (Z, T), np.mean((Z - T) ** 2)),
    (L.mae, (Z, T), np.mean(np.abs(Z - T))),
    (L.msle, (P, P[::-1]), np.mean(np.log((P + EPS) / (P[::-1] + EPS)) ** 2)),
    (L.huber_loss, (Z, T), np.mean(_huber(Z - T))),
    (L.crossentropy, (P, Y), np.mean(-np.sum(Y * np.log(P + EPS), -1))),
    (L.logitcrossentropy, (Z, Y), np.mean(-np.sum(Y * LOGSM, -1))),
    (
        L.binarycrossentropy,
        (SIG, B),
        np.mean(-B * np.log(SIG + EPS) - (1 - B) * np.log(1 - SIG + EPS)),
    ),
    (
        L.logitbinarycrossentropy,
        (Z, B),
        np.mean(-B * np.log(SIG) - (1 - B) * np.log(1 - SIG)),
    ),
    (
        L.kldivergence,
        (P, P[::-1]),
        np.mean(np.sum(P[::-1] * (np.log(P[::-1]) - np.log(P + EPS)), -1)),
    ),
    (L.poisson_loss, (P, P[::-1]), np.mean(P - P[::-1] * np.log(P))),
    (L.hinge_loss, (Z, PM), np.mean(np.maximum(0, 1 - Z * PM))),
    (L.squared_hinge_loss, (Z, PM), np.mean(np.maximum(0, 1 - Z * PM) ** 2)),
    (
        L.focal_loss,
        (P, Y),
        np.mean(np.sum(-Y * (1 - P - EPS) ** 2 * np.log(P + EPS), -1)),
    ),
]
IDS = [c[0].__name__ for c in CASES]


@pytest.mark.parametrize("loss, args, expected", CASES, ids=IDS)
def test_values(loss, args, expected):
    assert loss(*args) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("loss, args, expected", CASES, ids=IDS)
def test_agg_and_float32(loss, args, expected):
    per = loss(*args, agg=lambda v: v)
    assert np.sum(per) == pytest.approx(loss(*args, agg=np.sum), rel=1e-10)
    assert per.shape in [(5,), (5, 4)]
    out = loss(*(a.astype(np.float32) for a in args))
    assert out.dtype == np.float32


@pytest.mark.parametrize("loss, args, expected", CASES, ids=IDS)
def test_size_mismatch_names_loss_and_shapes(loss, args, expected):
    with pytest.raises(ValueError, match=rf"{loss.__name__}: .*\(5, 4\).*\(4, 4\)"):
        loss(args[0], args[1][:4])


class _OnADevice:
    """Shaped like a (5, 4) prediction, typed as a device array is (CuPy's
    own are checked by the gpu tests)."""

    __cuda_array_interface__ = {}
    shape = (5, 4)


def test_a_prediction_and_target_on_two_devices_are_refused():
    from layers.losses import check_sizes

    with pytest.raises(TypeError, match=r"mse: prediction ŷ is on the GPU \(a CuPy array\) "
                       r"but target y is on the host .* y = layers.gpu\(y\)"):
        check_sizes("mse", _OnADevice(), np.zeros((5, 4)))


@pytest.mark.parametrize("loss, args, expected", CASES, ids=IDS)
def test_a_nan_prediction_gives_a_nan_loss(loss, args, expected):
    """So that `train` stops at a diverging model instead of training on."""
    yhat = args[0].copy()
    yhat[2, 1] = np.nan
    with np.errstate(invalid="ignore"):
        assert np.isnan(loss(yhat, *args[1:]))


def test_logit_losses_are_stable():
    z = np.array([[1000.0, -1000.0]], np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        ce = L.logitcrossentropy(z, np.array([[0.0, 1.0]], np.float32))
        bce = L.logitbinarycrossentropy(z, np.array([[0.0, 1.0]], np.float32))
    assert ce == pytest.approx(2000.0) and bce == pytest.approx(1000.0)
    assert L.crossentropy(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])) < 40


def test_huber_delta_and_focal_gamma_zero():
    e = np.array([0.5, 3.0])
    assert L.huber_loss(e, 0 * e, delta=2.0) == pytest.approx(np.mean([0.125, 2 * 2.0]))
    assert L.focal_loss(P, Y, gamma=0.0) == pytest.approx(L.crossentropy(P, Y))


def test_label_smoothing():
    np.testing.assert_allclose(
        L.label_smoothing(np.array([[0.0, 1.0, 0.0]]), 0.3), [[0.1, 0.8, 0.1]]
    )
    np.testing.assert_allclose(
        L.label_smoothing(np.array([0.0, 1.0]), 0.2, axis=None), [0.1, 0.9]
    )
    with pytest.raises(ValueError, match="alpha"):
        L.label_smoothing(Y, 1.5)


@pytest.mark.parametrize("loss", [L.crossentropy, L.binarycrossentropy, L.kldivergence,
                                  L.msle, L.focal_loss])
def test_eps_zero_means_no_offset(loss):
    yhat, y = np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]])
    with np.errstate(divide="ignore", invalid="ignore"):
        zero = loss(yhat, y, eps=0)
    default = loss(yhat, y)
    assert np.isfinite(default) and not np.isfinite(zero)  # log(0) is not offset
