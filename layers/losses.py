"""Loss functions, Flux semantics, prediction first: `loss(ŷ, y, agg=np.mean)`.

Elementwise losses (mse, mae, ...) aggregate over all elements; the
cross-entropies sum over the class axis (`axis=-1`, batch first) and then
aggregate over the rest. `agg` replaces the final averaging (`agg=np.sum`,
or `agg=lambda l: l` for the unreduced losses). Each loss is three lines:
check sizes, compute, aggregate. Probabilities are offset by `eps` (the
machine epsilon of ŷ's dtype) before taking logs, as in Flux.

>>> import numpy as np
>>> float(mse(np.array([1.0, 2.0]), np.array([1.0, 4.0])))
2.0
"""

from __future__ import annotations

import numpy as np

from zygopy import nondifferentiable
from zygopy.forward import primal
from zygopy.runtime.arrays import is_device_array

from .activations import logsigmoid, relu
from .ops.softmax import softmax_crossentropy, softmax_crossentropy_mean


def check_sizes(loss, yhat, y):
    """Raise a ValueError naming `loss` unless ŷ and y have the same shape (and
    a TypeError unless both are on one device: CuPy or numpy)."""
    if type(yhat) is np.ndarray is type(y) and yhat.shape == y.shape:
        return  # (the common case, checked first: a training step's loss)
    if np.shape(yhat) != np.shape(y):
        raise ValueError(
            f"{loss}: prediction ŷ has shape {np.shape(yhat)} but target "
            f"y has shape {np.shape(y)}; they must match"
        )
    if _on_device(yhat) != _on_device(y) and hasattr(yhat, "shape") and hasattr(y, "shape"):
        where = {True: "on the GPU (a CuPy array)", False: "on the host (a numpy array)"}
        raise TypeError(
            f"{loss}: prediction ŷ is {where[_on_device(yhat)]} but target y is "
            f"{where[_on_device(y)]}; move them to one device, e.g. y = layers.gpu(y)"
        )


def _on_device(x):
    return is_device_array(primal(x))  # (of a dual: its primal's)


def eps_of(x):
    """Machine epsilon of x's floating dtype (float64 for Python numbers)."""
    dtype = getattr(x, "dtype", np.dtype(np.float64))
    return np.finfo(dtype if dtype.kind == "f" else np.float64).eps.item()


nondifferentiable(check_sizes, eps_of)


def _xlogy(x, y):
    """`x * log(y)`, defined as 0 where x == 0 (even where y == 0).

    Only the 0 * log(0) case is special-cased, so that d/dx is log(y) at
    x == 0 too (Flux's `xlogy` rule): a one-hot or 0/1 label gets the
    gradient of the smooth function, not that of a constant branch."""
    return x * np.log(np.where(np.logical_and(x == 0, y == 0), 1, y))


def mse(yhat, y, agg=np.mean):
    """Mean squared error: `agg((ŷ - y)^2)`."""
    check_sizes("mse", yhat, y)
    err = (yhat - y) ** 2
    return agg(err)


def mae(yhat, y, agg=np.mean):
    """Mean absolute error: `agg(|ŷ - y|)`."""
    check_sizes("mae", yhat, y)
    err = np.abs(yhat - y)
    return agg(err)


def msle(yhat, y, agg=np.mean, eps=None):
    """Mean squared log error: `agg(log((ŷ + eps) / (y + eps))^2)`."""
    check_sizes("msle", yhat, y)
    e = eps_of(yhat) if eps is None else eps
    err = np.log((yhat + e) / (y + e)) ** 2
    return agg(err)


def huber_loss(yhat, y, agg=np.mean, delta=1.0):
    """`0.5 e^2` where `e = |ŷ - y| < delta`, else `delta (e - 0.5 delta)`."""
    check_sizes("huber_loss", yhat, y)
    e = np.abs(yhat - y)
    return agg(np.where(e < delta, 0.5 * e * e, delta * (e - 0.5 * delta)))


def crossentropy(yhat, y, agg=np.mean, axis=-1, eps=None):
    """`agg(-sum(y * log(ŷ + eps), axis))`: ŷ holds probabilities (after softmax).

    ŷ, y: (batch, classes) or any shape with the classes on `axis`.
    Prefer `logitcrossentropy` on logits: it is more stable."""
    check_sizes("crossentropy", yhat, y)
    e = eps_of(yhat) if eps is None else eps
    losses = -np.sum(_xlogy(y, yhat + e), axis=axis)
    return agg(losses)


def logitcrossentropy(yhat, y, agg=np.mean, axis=-1):
    """`crossentropy(softmax(ŷ), y)` computed stably from logits ŷ (no eps)."""
    check_sizes("logitcrossentropy", yhat, y)
    if agg is np.mean:  # (the mean inside the kernel: one pass and a vector less)
        loss = softmax_crossentropy_mean(yhat, y, axis)
    else:
        loss = agg(softmax_crossentropy(yhat, y, axis=axis))
    return loss


def binarycrossentropy(yhat, y, agg=np.mean, eps=None):
    """`agg(-y log(ŷ + eps) - (1 - y) log(1 - ŷ + eps))`; ŷ are probabilities."""
    check_sizes("binarycrossentropy", yhat, y)
    e = eps_of(yhat) if eps is None else eps
    return agg(-_xlogy(y, yhat + e) - _xlogy(1 - y, 1 - yhat + e))


def logitbinarycrossentropy(yhat, y, agg=np.mean):
    """`binarycrossentropy(sigmoid(ŷ), y)` from logits: `(1 - y) ŷ - logsigmoid(ŷ)`."""
    check_sizes("logitbinarycrossentropy", yhat, y)
    losses = (1 - y) * yhat - logsigmoid(yhat)
    return agg(losses)


def kldivergence(yhat, y, agg=np.mean, axis=-1, eps=None):
    """KL divergence of ŷ from y: `sum(y log y, axis) + crossentropy(ŷ, y)`."""
    check_sizes("kldivergence", yhat, y)
    e = eps_of(yhat) if eps is None else eps
    losses = np.sum(_xlogy(y, y), axis=axis) - np.sum(_xlogy(y, yhat + e), axis=axis)
    return agg(losses)


def poisson_loss(yhat, y, agg=np.mean):
    """`agg(ŷ - y log(ŷ))`: Poisson negative log-likelihood, up to a constant."""
    check_sizes("poisson_loss", yhat, y)
    losses = yhat - _xlogy(y, yhat)
    return agg(losses)


def hinge_loss(yhat, y, agg=np.mean):
    """`agg(max(0, 1 - ŷ y))` for labels y in {-1, 1}."""
    check_sizes("hinge_loss", yhat, y)
    return agg(relu(1 - yhat * y))


def squared_hinge_loss(yhat, y, agg=np.mean):
    """`agg(max(0, 1 - ŷ y)^2)` for labels y in {-1, 1}."""
    check_sizes("squared_hinge_loss", yhat, y)
    return agg(relu(1 - yhat * y) ** 2)


def focal_loss(yhat, y, agg=np.mean, axis=-1, gamma=2.0, eps=None):
    """`agg(sum(-y (1 - ŷ)^gamma log(ŷ + eps), axis))` (Lin et al.).

    ŷ are probabilities.

    Down-weights easy, well-classified examples; gamma = 0 is crossentropy."""
    check_sizes("focal_loss", yhat, y)
    p = yhat + (eps_of(yhat) if eps is None else eps)
    return agg(np.sum(-y * (1 - p) ** gamma * np.log(p), axis=axis))


def label_smoothing(y, alpha, axis=-1):
    """Smooth one-hot targets: `y (1 - alpha) + alpha / n_classes` along `axis`.

    With `axis=None`, binary 0/1 labels: `y (1 - alpha) + alpha / 2`."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"label_smoothing: alpha must lie in [0, 1], got {alpha}")
    n = 2 if axis is None else np.shape(y)[axis]
    return y * (1 - alpha) + alpha / n


__all__ = [
    "binarycrossentropy",
    "crossentropy",
    "focal_loss",
    "hinge_loss",
    "huber_loss",
    "kldivergence",
    "label_smoothing",
    "logitbinarycrossentropy",
    "logitcrossentropy",
    "mae",
    "mse",
    "msle",
    "poisson_loss",
    "squared_hinge_loss",
]
