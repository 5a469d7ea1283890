"""Activation functions: plain numpy code that zygopy differentiates.

All are elementwise (except softmax/logsoftmax), keep the dtype of their input
(float32 in, float32 out) and never overflow: exponentials only ever see
non-positive arguments. Piecewise functions branch with `np.where` on `x > 0`
style tests, so their gradients at the kink follow the documented branch.
`softmax` and `logsoftmax` use the stable kernels in `layers.ops.softmax`.
"""

from __future__ import annotations

import math

import numpy as np

import zygopy as zp

from .ops.softmax import logsoftmax, softmax

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_LAMBDA = 1.0507009873554804934193349852946
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def identity(x):
    """`x`: the default activation of Dense and Conv."""
    return x


def relu(x):
    """`max(x, 0)`; the gradient at 0 is 0, and NaN stays NaN (as in Flux,
    PyTorch and JAX: a NaN turned into 0 would hide a diverging model)."""
    return np.maximum(x, 0.0)


# relu's derivative is declared, as NNlib, PyTorch and JAX declare theirs:
# derived from np.maximum it would split the gradient at the tie (0.5 at 0),
# and derived from a where() on the sign it costs three maxima (where() on
# random signs mispredicts branches: 10% of an MLP's training step). The row
# gives relu'(0) = 0 and is inlined into generated code.
zp.elementwise(relu, "relu", "x", "maximum(x, 0.0)", "x > 0")


def leakyrelu(x, a=0.01):
    """`x` for x > 0, `a * x` otherwise."""
    return np.where(x > 0, x, a * x)


def relu6(x):
    """`min(max(x, 0), 6)`; NaN stays NaN."""
    return np.where(x <= 0, 0, np.where(x >= 6, 6, x))


def _neg_part(x):
    """`min(x, 0)` as a where, so exp() below never sees a positive argument."""
    return np.where(x > 0, 0, x)


def elu(x, alpha=1.0):
    """`x` for x > 0, `alpha * (exp(x) - 1)` otherwise."""
    return np.where(x > 0, x, alpha * np.expm1(_neg_part(x)))


def selu(x):
    """`lambda * elu(x, alpha)` with Klambauer et al.'s constants"""
    return _SELU_LAMBDA * np.where(x > 0, x, _SELU_ALPHA * np.expm1(_neg_part(x)))


def celu(x, alpha=1.0):
    """`max(x, 0) + min(0, alpha * (exp(x / alpha) - 1))`."""
    return np.where(x > 0, x, alpha * np.expm1(_neg_part(x) / alpha))


def gelu(x):
    """Gaussian error linear unit, tanh approximation (Flux's `gelu`, PyTorch's
    `approximate="tanh"`): `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.

    The exact erf form is not provided: numpy has no vectorised erf.
    """
    return 0.5 * x * (1 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))


def sigmoid(x):
    """`1 / (1 + exp(-x))`, evaluated with `exp(-|x|)` so it never overflows."""
    z = np.exp(np.where(x >= 0, -x, x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))


σ = sigmoid


def swish(x):
    """`x * sigmoid(x)` (also called SiLU)."""
    return x * sigmoid(x)


silu = swish


def hardsigmoid(x):
    """`max(0, min(1, (x + 3) / 6))` (the PyTorch definition)."""
    t = (x + 3) / 6
    return np.where(t <= 0, 0, np.where(t >= 1, 1, t))  # NaN stays NaN


def tanh(x):
    """`np.tanh(x)`, re-exported so models can name every activation from here."""
    return np.tanh(x)


def hardtanh(x):
    """`max(-1, min(1, x))`; NaN stays NaN."""
    return np.where(x <= -1, -1, np.where(x >= 1, 1, x))


def softplus(x):
    """`log(1 + exp(x))`, as `max(x, 0) + log1p(exp(-|x|))` (no overflow)."""
    return np.where(x > 0, x, 0) + np.log1p(np.exp(np.where(x > 0, -x, x)))


def softsign(x):
    """`x / (1 + |x|)`."""
    return x / (1 + np.abs(x))


def logsigmoid(x):
    """`log(sigmoid(x)) = -softplus(-x)`, accurate for large |x|."""
    return -softplus(-x)


__all__ = [
    "celu",
    "elu",
    "gelu",
    "hardsigmoid",
    "hardtanh",
    "identity",
    "leakyrelu",
    "logsigmoid",
    "logsoftmax",
    "relu",
    "relu6",
    "selu",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "softsign",
    "swish",
    "tanh",
    "σ",
]
