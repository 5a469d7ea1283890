"""Every registered numpy rule on CuPy arrays gives what it gives on numpy arrays:
the primal and every cotangent, on the device (no silent copy to the host).
Needs CuPy and a CUDA device (the `gpu` marker); skipped otherwise."""

from __future__ import annotations

import numpy as np
import pytest
import rule_specs_linalg  # noqa: F401  (adds the joins/products/linalg rows)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rule_specs import SPECS, Draw, plain

import zygopy.rules  # noqa: F401  (registers everything)
from zygopy.rules.registry import RULES, lookup
from zygopy.runtime.arrays import unbroadcast
from zygopy.runtime.tangents import ZERO
from zygopy.testing import (
    assert_close,
    random_cotangent,
    to_device,
    to_host,
)

pytestmark = pytest.mark.gpu


def _compare(device, host, reference, cupy, what):
    """`device` agrees with the numpy rule's `host` value, and is an array of
    the device wherever plain CuPy gives one (`reference`: what it gives)."""
    for i, (d, p) in enumerate(zip(_leaves(device), _leaves(reference))):
        if isinstance(p, cupy.ndarray):
            assert isinstance(d, cupy.ndarray), (
                f"{what} (leaf {i}): {type(d).__name__} where CuPy gives an array")
    assert_close(to_host(device), host, rtol=1e-6, atol=1e-9, what=what)


def _leaves(x):
    if isinstance(x, (tuple, list)):
        return [leaf for v in x for leaf in _leaves(v)]
    return [x]


def _like(dy, yd, cupy):
    """Cotangent `dy` as the backward pass would hand it to the rule: on the
    device, in the output's dtype, where the output is a device array."""
    if isinstance(dy, (tuple, list)):
        return type(dy)(_like(d, y, cupy) for d, y in zip(dy, yd))
    if dy is not None and isinstance(yd, cupy.ndarray):
        return cupy.asarray(dy, dtype=yd.dtype)
    return dy


# Outputs defined up to a sign or a rotation (singular and eigen vectors): the
# CuPy and numpy solvers may pick different ones; only the values are compared.
GAUGED = {"svd": 1, "eigh": 0}


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
@settings(max_examples=6, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_rule_on_cupy_matches_numpy(spec, data, cupy):
    args, kwargs = spec.build(Draw(data))
    rrule = RULES[spec.fn] if isinstance(spec.fn, tuple) else lookup(spec.fn)
    dargs, dkwargs = to_device(args, cupy), to_device(kwargs, cupy)
    try:
        value = plain(spec.fn, dargs, dkwargs)
    except Exception:  # noqa: BLE001 - CuPy lacks this function or option
        value = None
    if value is None:
        try:
            rrule(*dargs, **dkwargs)
        except Exception:  # noqa: BLE001 - refused as CuPy refuses it: fine
            return
    y, pullback = rrule(*args, **kwargs)
    yd, pullback_d = rrule(*dargs, **dkwargs)
    dy = random_cotangent(y, np.random.default_rng(0))
    keep = GAUGED.get(spec.id) if isinstance(y, tuple) else None
    if keep is not None:  # the values' cotangent only: zeros for the vectors
        dy = tuple(d if i == keep else np.zeros_like(d) for i, d in enumerate(dy))
    dy_d = _like(dy, yd, cupy)
    if keep is not None:
        y, yd, value = y[keep], yd[keep], None if value is None else value[keep]
    _compare(yd, y, yd if value is None else value, cupy, "primal")
    got, got_d = pullback(dy), pullback_d(dy_d)
    assert len(got_d) == len(got)
    for i, (g, gd, a, ad) in enumerate(zip(got, got_d, args, dargs)):
        if g is None or g is ZERO:
            assert gd is None or gd is ZERO or not np.any(to_host(gd)), f"argument {i}"
            continue
        if not spec.sequence:
            g, gd = unbroadcast(g, a), unbroadcast(gd, ad)
        _compare(gd, g, ad, cupy, f"d/d(argument {i})")
