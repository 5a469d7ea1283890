"""Generated code on CuPy arrays: the end-to-end programs of test_end_to_end
(least squares, softmax cross-entropy, an MLP on batches, an array built by
mutation) and higher order give on the device what they give on numpy. Needs
CuPy and a CUDA device (the `gpu` marker); skipped otherwise."""

from __future__ import annotations

import numpy as np
import pytest
from test_end_to_end import (
    fit_loss,
    least_squares,
    make_batches,
    make_mlp,
    mlp_loss,
    polynomial_features,
    softmax_cross_entropy,
)

import zygopy as zp
from zygopy.testing import assert_close, assert_on_device, to_device, to_host

pytestmark = pytest.mark.gpu

RNG = np.random.default_rng(7)


def tanh_sum(W, x):
    return np.sum(np.tanh(W @ x))


def scattered(x, idx):
    out = np.zeros_like(x)
    out[idx] += x[idx] ** 2
    out[x > 0] *= 3.0
    return (out * x).sum()


CASES = {
    "tanh_sum": (tanh_sum, (RNG.standard_normal((2, 2)), RNG.standard_normal((2, 1)))),
    "least_squares": (least_squares, (RNG.standard_normal(3),
                                      RNG.standard_normal((7, 3)),
                                      RNG.standard_normal(7))),
    "softmax_cross_entropy": (softmax_cross_entropy,
                              (RNG.standard_normal((6, 4)), np.array([0, 3, 3, 1, 2, 0]))),
    "mlp_loss": (mlp_loss, (make_mlp(), make_batches())),
    "mlp_loss_f32": (mlp_loss, (make_mlp(dtype=np.float32),
                                make_batches(dtype=np.float32))),
    "fit_loss": (fit_loss, (np.array([0.1, 0.9, -0.2, 0.05]), np.linspace(-1, 1, 6),
                            np.sin(np.linspace(-1, 1, 6)))),
    "scattered": (scattered, (RNG.standard_normal(6), np.array([0, 2, 2, 5]))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_on_cupy_matches_numpy(name, cupy):
    f, args = CASES[name]
    y, want = zp.withgradient(f, *args)
    yd, got = zp.withgradient(f, *to_device(args, cupy))
    assert_close(to_host(yd), y, rtol=1e-5, what="value")
    for i, (g, w) in enumerate(zip(got, want)):
        if w is None:
            assert g is None
            continue
        assert_on_device(g, cupy, f"argument {i}")
        assert_close(to_host(g), w, rtol=1e-5, atol=1e-7, what=f"argument {i}")
        assert [getattr(a, "dtype", None) for a in zp.testing._flat_leaves(g)] == [
            getattr(a, "dtype", None) for a in zp.testing._flat_leaves(w)]


def test_hessian_and_jvp_on_cupy(cupy):
    A = RNG.standard_normal((3, 3))
    x = RNG.standard_normal(3)

    def quad(x, A):
        return x @ A @ x + np.sum(np.sin(x))

    Ad = cupy.asarray(A)
    H = zp.hessian(lambda x: quad(x, A), x)
    Hd = zp.hessian(lambda x: quad(x, Ad), cupy.asarray(x))
    assert_close(to_host(Hd), H, rtol=1e-6)
    _, t = zp.jvp(np.tanh, (x,), (A[0],))
    _, td = zp.jvp(np.tanh, (cupy.asarray(x),), (cupy.asarray(A[0]),))
    assert_close(to_host(td), t, rtol=1e-6)
    (J,) = zp.jacobian(lambda x: polynomial_features(x, 3), x)
    (Jd,) = zp.jacobian(lambda x: polynomial_features(x, 3), cupy.asarray(x))
    assert_close(to_host(Jd), J, rtol=1e-6)
    (gg,) = zp.gradient(lambda x: zp.gradient(quad, x, A)[0].sum(), x)
    (ggd,) = zp.gradient(lambda x: zp.gradient(quad, x, Ad)[0].sum(), cupy.asarray(x))
    assert_close(to_host(ggd), gg, rtol=1e-6)


def test_cupy_functions_use_numpys_rules(cupy):
    def through_cupy(x, W):
        h = cupy.tanh(W @ x)  # a CuPy ufunc, CuPy functions and linalg
        return cupy.sum(h**2) + cupy.mean(cupy.exp(-h)) + cupy.linalg.norm(h)

    def through_numpy(x, W):
        h = np.tanh(W @ x)
        return np.sum(h**2) + np.mean(np.exp(-h)) + np.linalg.norm(h)

    x, W = RNG.standard_normal(3), RNG.standard_normal((4, 3))
    want = zp.gradient(through_numpy, x, W)
    got = zp.gradient(through_cupy, *to_device((x, W), cupy))
    for g, w in zip(got, want):
        assert_on_device(g, cupy, "gradient")
        assert_close(to_host(g), w, rtol=1e-6, what="gradient")
