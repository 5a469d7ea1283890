"""Weight initialisers (float32) and the seedable generator they draw from.

Every initialiser is `init(*shape, rng=None, dtype=np.float32)`; without
`rng` it draws from the module's generator, reset by `set_seed(n)`. Fan-in
and fan-out follow PyTorch: for a weight (out, in, *kernel), fan_in is
`in * prod(kernel)` and fan_out is `out * prod(kernel)`.

>>> set_seed(0); a = glorot_uniform(3, 4)
>>> set_seed(0); bool((a == glorot_uniform(3, 4)).all()), a.dtype
(True, dtype('float32'))
"""

from __future__ import annotations

import math

import numpy as np

_rng = np.random.default_rng(0)
_SQRT2 = math.sqrt(2.0)  # the He gain, right for relu


def set_seed(seed):
    """Reset the default generator used by every initialiser (and by Dropout)."""
    global _rng
    _rng = np.random.default_rng(seed)


def default_rng():
    """The generator initialisers use when none is passed."""
    return _rng


def _fans(shape):
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _shape(shape):
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], tuple) else shape


def glorot_uniform(*shape, gain=1.0, rng=None, dtype=np.float32):
    """U(-a, a) with `a = gain * sqrt(6 / (fan_in + fan_out))` (Xavier; Flux's)."""
    shape = _shape(shape)
    fan_in, fan_out = _fans(shape)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return (rng or _rng).uniform(-a, a, size=shape).astype(dtype)


def glorot_normal(*shape, gain=1.0, rng=None, dtype=np.float32):
    """N(0, s^2) with `s = gain * sqrt(2 / (fan_in + fan_out))`."""
    shape = _shape(shape)
    fan_in, fan_out = _fans(shape)
    s = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return (s * (rng or _rng).standard_normal(size=shape)).astype(dtype)


def kaiming_uniform(*shape, gain=_SQRT2, rng=None, dtype=np.float32):
    """U(-a, a) with `a = gain * sqrt(3 / fan_in)` (He; gain sqrt(2) suits relu)."""
    shape = _shape(shape)
    a = gain * math.sqrt(3.0 / _fans(shape)[0])
    return (rng or _rng).uniform(-a, a, size=shape).astype(dtype)


def kaiming_normal(*shape, gain=_SQRT2, rng=None, dtype=np.float32):
    """N(0, s^2) with `s = gain / sqrt(fan_in)`."""
    shape = _shape(shape)
    s = gain / math.sqrt(_fans(shape)[0])
    return (s * (rng or _rng).standard_normal(size=shape)).astype(dtype)


def zeros(*shape, rng=None, dtype=np.float32):
    """All zeros (the default bias)."""
    return np.zeros(_shape(shape), dtype=dtype)


def ones(*shape, rng=None, dtype=np.float32):
    """All ones (the default scale of normalisation layers)."""
    return np.ones(_shape(shape), dtype=dtype)


__all__ = [
    "default_rng",
    "glorot_normal",
    "glorot_uniform",
    "kaiming_normal",
    "kaiming_uniform",
    "ones",
    "set_seed",
    "zeros",
]
