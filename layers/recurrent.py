"""Recurrent layers: RNN, LSTM and GRU cells, and sequence wrappers over time.

Cells follow Flux (0.14): `cell(state, x) -> (new_state, y)`, x of shape
(batch, in) or (in,), y of shape (batch, out) or (out,). The state is an
array h (RNN, GRU) or a tuple (h, c) (LSTM); `cell.initial_state(batch)`
gives zeros. The wrappers `RNN`, `LSTM`, `GRU` run a cell over a
(batch, time, features) input with a Python loop over time and return the
outputs (batch, time, out); `.run(x, state)` also returns the final state.
Gate weights are stacked, as in Flux and PyTorch: input weights (k*out, in),
recurrent weights (k*out, out), one bias (k*out,).
"""

from __future__ import annotations

import numpy as np

from .activations import sigmoid, tanh
from .basic import check_size, name_of, show
from .init import glorot_uniform, zeros


def _state_zeros(batch, n, dtype, like):
    shape = (n,) if batch is None else (batch, n)
    if like is None:
        return np.zeros(shape, dtype)
    return np.zeros_like(like, dtype=dtype, shape=shape)  # on like's device


class _Cell:
    """Shared constructor and repr of the cells: k stacked gates of size out."""

    gates = 1

    def __init__(self, in_features, out_features, *, init=glorot_uniform, bias=True):
        k = self.gates
        self.weight_ih = init(k * out_features, in_features)
        self.weight_hh = init(k * out_features, out_features)
        self.bias = zeros(k * out_features) if bias else None
        self.hidden = out_features

    def _gates(self, h, x):
        """`x @ W_ih.T + b` and `h @ W_hh.T` after checking x's feature size."""
        check_size(
            self,
            "input features (last axis)",
            self.weight_ih.shape[1],
            x.shape[-1],
            x.shape,
            self.weight_ih.shape,
        )
        check_size(self, "state width (last axis)", self.weight_hh.shape[1], h.shape[-1],
                   state=h.shape)
        if h.ndim > 1 and x.ndim > 1:
            check_size(self, "state batch (axis 0), the input's", x.shape[0], h.shape[0],
                       x.shape, state=h.shape)
        gx = x @ self.weight_ih.T
        if self.bias is not None:
            gx = gx + self.bias
        return gx, h @ self.weight_hh.T

    def initial_state(self, batch=None, dtype=np.float32, like=None):
        """Zeros of shape (batch, out) (or (out,) for batch=None), on the
        device of the array `like` when given."""
        return _state_zeros(batch, self.hidden, dtype, like)

    def _head(self):
        return f"{type(self).__name__}({self.weight_ih.shape[1]} => {self.hidden}"

    def __repr__(self):
        return show(self, self._head() + ")")


class RNNCell(_Cell):
    """`h' = activation(x @ W_ih.T + h @ W_hh.T + b)`; returns `(h', h')`.

    W_ih (out, in), W_hh (out, out), b (out,); state h (batch, out).

    >>> cell = RNNCell(3, 5)
    >>> h, y = cell(cell.initial_state(2), np.ones((2, 3), np.float32))
    >>> y.shape
    (2, 5)
    """

    def __init__(self, in_features, out_features, activation=tanh, **kwargs):
        super().__init__(in_features, out_features, **kwargs)
        self.activation = activation

    def __call__(self, h, x):
        gx, gh = self._gates(h, x)
        h = self.activation(gx + gh)
        return h, h

    def __repr__(self):
        return show(self, self._head() + _act_suffix_rnn(self.activation) + ")")


def _act_suffix_rnn(activation):
    return "" if activation is tanh else f", {name_of(activation)}"


class LSTMCell(_Cell):
    """Long short-term memory; gates in the order input, forget, cell, output:

        a = x @ W_ih.T + h @ W_hh.T + b
        i = σ(a_i), f = σ(a_f), g = tanh(a_g), o = σ(a_o)
        c' = f * c + i * g,  h' = o * tanh(c')

    returns `((h', c'), h')`. W_ih (4 out, in), W_hh (4 out, out), b (4 out,)
    with the forget-gate bias initialised to 1 (as Flux does).

    >>> cell = LSTMCell(3, 5)
    >>> (h, c), y = cell(cell.initial_state(2), np.ones((2, 3), np.float32))
    >>> c.shape
    (2, 5)
    """

    gates = 4

    def __init__(self, in_features, out_features, **kwargs):
        super().__init__(in_features, out_features, **kwargs)
        if self.bias is not None:
            self.bias[out_features : 2 * out_features] = 1

    def __call__(self, state, x):
        h, c = state
        gx, gh = self._gates(h, x)
        check_size(self, "cell state shape, the hidden state's", h.shape, c.shape)
        a = gx + gh
        n = self.hidden
        i = sigmoid(a[..., 0:n])
        f = sigmoid(a[..., n : 2 * n])
        g = tanh(a[..., 2 * n : 3 * n])
        o = sigmoid(a[..., 3 * n : 4 * n])
        c = f * c + i * g
        h = o * tanh(c)
        return (h, c), h

    def initial_state(self, batch=None, dtype=np.float32, like=None):
        """`(h, c)`, both zeros of shape (batch, out) (on the device of `like`)."""
        return (
            _state_zeros(batch, self.hidden, dtype, like),
            _state_zeros(batch, self.hidden, dtype, like),
        )


class GRUCell(_Cell):
    """Gated recurrent unit; gates in the order reset, update, candidate:

        r = σ(x W_r.T + b_r + h U_r.T),  z = σ(x W_z.T + b_z + h U_z.T)
        n = tanh(x W_n.T + b_n + r * (h U_n.T)),  h' = (1 - z) * n + z * h

    returns `(h', h')`. W_ih (3 out, in), W_hh (3 out, out), b (3 out,)
    (one bias, on the input side; PyTorch also has a recurrent bias).
    """

    gates = 3

    def __call__(self, h, x):
        gx, gh = self._gates(h, x)
        n = self.hidden
        r = sigmoid(gx[..., 0:n] + gh[..., 0:n])
        z = sigmoid(gx[..., n : 2 * n] + gh[..., n : 2 * n])
        cand = tanh(gx[..., 2 * n : 3 * n] + r * gh[..., 2 * n : 3 * n])
        h = (1 - z) * cand + z * h
        return h, h


class _Sequence:
    """Run `self.cell` over axis 1 (time) of a (batch, time, features) input."""

    def __call__(self, x, state=None):
        return self.run(x, state)[0]

    def run(self, x, state=None):
        """`(y, final_state)`: y (batch, time, out); state defaults to zeros."""
        check_size(
            self, "input rank (batch, time, features)", 3, x.ndim, x.shape
        )
        weight = self.cell.weight_ih
        check_size(self, "input features (last axis)", weight.shape[1], x.shape[-1],
                   x.shape, weight.shape)
        if state is None:
            state = self.cell.initial_state(x.shape[0], x.dtype, like=x)
        ys = []
        for t in range(x.shape[1]):
            state, y = self.cell(state, x[:, t])
            ys.append(y)
        return np.stack(ys, axis=1), state

    def __repr__(self):
        head = self.cell._head()[len(type(self.cell).__name__) :]
        act = getattr(self.cell, "activation", tanh)
        return show(self, f"{type(self).__name__}{head}{_act_suffix_rnn(act)})")


class RNN(_Sequence):
    """Elman RNN: `RNNCell(in, out, activation)` applied at each time step.

    x: (batch, time, in) -> y: (batch, time, out).

    >>> RNN(3, 5)(np.ones((2, 7, 3), np.float32)).shape
    (2, 7, 5)
    """

    def __init__(self, in_features, out_features, activation=tanh, **kwargs):
        self.cell = RNNCell(in_features, out_features, activation, **kwargs)


class LSTM(_Sequence):
    """LSTM over a sequence (`LSTMCell`); x: (batch, time, in) -> (batch, time, out).

    >>> LSTM(3, 5)
    LSTM(3 => 5)  # 180 parameters
    """

    def __init__(self, in_features, out_features, **kwargs):
        self.cell = LSTMCell(in_features, out_features, **kwargs)


class GRU(_Sequence):
    """GRU over a sequence (`GRUCell`); x: (batch, time, in) -> (batch, time, out)."""

    def __init__(self, in_features, out_features, **kwargs):
        self.cell = GRUCell(in_features, out_features, **kwargs)


__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNCell"]
