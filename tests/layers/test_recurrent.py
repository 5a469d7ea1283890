"""Recurrent cells and sequence wrappers against hand-written numpy recurrences."""

import numpy as np
import pytest

from layers.activations import relu
from layers.recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

RNG = np.random.default_rng(0)
X = RNG.standard_normal((2, 5, 3)).astype(np.float32)  # (batch, time, features)


def sig(z):
    return 1 / (1 + np.exp(-z))


def _randomise(cell):
    cell.bias = RNG.standard_normal(cell.bias.shape).astype(np.float32)
    return cell


def test_rnn_cell_and_sequence():
    cell = _randomise(RNNCell(3, 4))
    h = cell.initial_state(2)
    assert h.shape == (2, 4)
    hs = []
    for t in range(5):
        h = np.tanh(X[:, t] @ cell.weight_ih.T + h @ cell.weight_hh.T + cell.bias)
        hs.append(h)
    rnn = RNN(3, 4)
    rnn.cell = cell
    y, state = rnn.run(X)
    np.testing.assert_allclose(y, np.stack(hs, 1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state, hs[-1], rtol=1e-5, atol=1e-6)
    assert y.dtype == np.float32 and rnn(X).shape == (2, 5, 4)
    h1, y1 = cell(np.zeros(4, np.float32), X[0, 0])  # unbatched
    assert h1.shape == y1.shape == (4,)


def test_lstm_cell_matches_equations():
    cell = _randomise(LSTMCell(3, 4))
    h = RNG.standard_normal((2, 4)).astype(np.float32)
    c = RNG.standard_normal((2, 4)).astype(np.float32)
    (h2, c2), y = cell((h, c), X[:, 0])
    a = X[:, 0] @ cell.weight_ih.T + h @ cell.weight_hh.T + cell.bias
    i, f, g, o = sig(a[:, :4]), sig(a[:, 4:8]), np.tanh(a[:, 8:12]), sig(a[:, 12:])
    c_want = f * c + i * g
    np.testing.assert_allclose(c2, c_want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h2, o * np.tanh(c_want), rtol=1e-5, atol=1e-6)
    assert y is h2
    assert np.all(LSTMCell(3, 4).bias[4:8] == 1)  # forget-gate bias


def test_gru_cell_matches_equations():
    cell = _randomise(GRUCell(3, 4))
    h = RNG.standard_normal((2, 4)).astype(np.float32)
    h2, _ = cell(h, X[:, 0])
    gx = X[:, 0] @ cell.weight_ih.T + cell.bias
    gh = h @ cell.weight_hh.T
    r, z = sig(gx[:, :4] + gh[:, :4]), sig(gx[:, 4:8] + gh[:, 4:8])
    n = np.tanh(gx[:, 8:] + r * gh[:, 8:])
    np.testing.assert_allclose(h2, (1 - z) * n + z * h, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "cls, params",
    [(RNN, 4 * 3 + 4 * 4 + 4), (LSTM, 4 * (16 + 12 + 4)), (GRU, 3 * (16 + 12 + 4))],
)
def test_sequence_wrappers(cls, params):
    m = cls(3, 4)
    y, _ = m.run(X)
    assert y.shape == (2, 5, 4) and y.dtype == np.float32
    assert repr(m) == f"{cls.__name__}(3 => 4)  # {params} parameters"
    y2, _ = m.run(X[:, 2:], state=m.run(X[:, :2])[1])  # state carries over
    np.testing.assert_allclose(y2, y[:, 2:], rtol=1e-5, atol=1e-6)


def test_errors_and_reprs():
    with pytest.raises(
        ValueError, match=r"RNNCell\(.*\): expected input features .* 3, got 2 \(input of "
        r"shape \(1, 2\), weight of shape \(4, 3\)\)"
    ):
        RNNCell(3, 4)(np.zeros((1, 4), np.float32), np.zeros((1, 2), np.float32))
    with pytest.raises(ValueError, match=r"LSTM\(.*\): expected input rank"):
        LSTM(3, 4)(X[0])
    with pytest.raises(ValueError, match=r"LSTM\(3 => 4\): expected input features .* 3, got 2 "
                       r"\(input of shape \(2, 5, 2\), weight of shape \(16, 3\)\)"):
        LSTM(3, 4)(np.ones((2, 5, 2), np.float32))
    with pytest.raises(ValueError, match=r"GRUCell\(3 => 4\): expected state batch .* 3, got 2 "
                       r"\(input of shape \(3, 3\), state of shape \(2, 4\)\)"):
        GRUCell(3, 4)(np.zeros((2, 4), np.float32), np.ones((3, 3), np.float32))
    assert repr(RNNCell(3, 4, relu)) == "RNNCell(3 => 4, relu)  # 32 parameters"
    assert repr(RNN(3, 4, relu)) == "RNN(3 => 4, relu)  # 32 parameters"
