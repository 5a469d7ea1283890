"""gpu/cpu/f32/f64: structure rebuilt, ties kept, input untouched, graceful without a GPU."""

import warnings

import numpy as np
import pytest

import layers.devices as D


class Dense:
    def __init__(self):
        self.weight = np.ones((2, 2), np.float32)
        self.bias = np.zeros(2, np.float32)
        self.index = np.arange(2)
        self.activation = np.tanh


def tied():
    a, b = Dense(), Dense()
    b.weight = a.weight
    return [a, b]


def test_f64_and_f32():
    m = tied()
    m64 = D.f64(m)
    assert m64[0].weight.dtype == np.float64 and m64[0].weight is m64[1].weight
    assert m64[0].index.dtype == m[0].index.dtype and m64[0].activation is np.tanh
    assert m[0].weight.dtype == np.float32 and m64[0] is not m[0]
    back = D.f32(m64)
    assert back[0].weight.dtype == np.float32 and back[0].weight is back[1].weight
    assert D.f32(m) is m  # nothing to change: shared


def test_cpu_of_cpu_model_is_identity():
    m = tied()
    assert D.cpu(m) is m


def test_gpu_without_cupy_warns_once(monkeypatch):
    monkeypatch.setattr(D, "_cupy", lambda: None)
    monkeypatch.setattr(D, "_warned", False)
    m = tied()
    with pytest.warns(RuntimeWarning, match="CuPy"):
        assert D.gpu(m) is m
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert D.gpu(m) is m


@pytest.mark.gpu
def test_gpu_round_trip():
    if D._cupy() is None:
        pytest.skip("needs CuPy and a CUDA device")
    m = tied()
    g = D.gpu(m)
    assert (
        type(g[0].weight).__module__.startswith("cupy") and g[0].weight is g[1].weight
    )
    c = D.cpu(g)
    assert isinstance(c[0].weight, np.ndarray) and np.array_equal(
        c[0].weight, m[0].weight
    )
    assert c[0].weight is c[1].weight
