"""Moving models between CPU and GPU and changing their precision: gpu, cpu, f32, f64.

All four are `fmap` over the model's arrays: they return a new model
structure (objects shallow-copied with the changed fields replaced; nodes
with nothing changed are shared, not copied) and keep tied arrays tied. The
input model is left as it was. Arrays that are already where (or what) they
should be are reused, so ``cpu(model)`` of a CPU model returns `model` itself.
"""

from __future__ import annotations

import warnings

import numpy as np

from .functor import fmap, is_array

_warned = False


def _cupy():
    """The cupy module if it is installed and sees a CUDA device, else None."""
    try:
        import cupy
    except ImportError:
        return None
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
    except Exception:  # noqa: BLE001 - no driver or device: cupy raises its own errors
        return None
    return cupy


def _warn_once(message):
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def gpu(model):
    """Copy every array of `model` to the GPU (CuPy); a new model structure.

    Without CuPy or a CUDA device, returns `model` unchanged and warns once.
    """
    cupy = _cupy()
    if cupy is None:
        _warn_once(
            "layers.gpu: CuPy with a CUDA device is not available; the model "
            "stays on the CPU (install cupy-cuda13x to use a GPU)"
        )
        return model
    return fmap(lambda a: a if isinstance(a, cupy.ndarray) else cupy.asarray(a), model)


def cpu(model):
    """Copy every device array of `model` back to numpy; numpy arrays are reused."""

    def to_host(a):
        if isinstance(a, np.ndarray):
            return a
        return a.get() if hasattr(a, "get") else np.asarray(a)

    return fmap(to_host, model)


def _floats_to(dtype):
    def convert(a):
        if a.dtype.kind != "f" or a.dtype == dtype:
            return a
        return a.astype(dtype)

    return convert


def f32(model):
    """Convert the floating-point arrays of `model` to float32 (others untouched)."""
    return fmap(_floats_to(np.float32), model, exclude=is_array)


def f64(model):
    """Convert the floating-point arrays of `model` to float64 (others untouched)."""
    return fmap(_floats_to(np.float64), model, exclude=is_array)
