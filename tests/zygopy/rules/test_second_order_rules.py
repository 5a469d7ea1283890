"""Second order, rule by rule: every spec row marked `order2` has a pullback
that forward mode (dual numbers) can differentiate. The directional
derivative of the pullback's output, computed on duals, must match central
differences of the pullback itself, with the cotangent held fixed."""

from __future__ import annotations

import numpy as np
import pytest
import rule_specs_linalg  # noqa: F401  (adds the joins/products/linalg rows)
from hypothesis import given
from hypothesis import strategies as st
from rule_specs import SPECS, Draw

from zygopy.forward import Dual
from zygopy.rules.registry import RULES, lookup
from zygopy.runtime.arrays import unbroadcast
from zygopy.runtime.tangents import ZERO
from zygopy.testing import assert_close, random_cotangent

H = 1e-6


def _is_leaf(a):
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _map(obj, fn):
    """Apply `fn` to every float array in a (nested) list/tuple of arguments."""
    if isinstance(obj, (list, tuple)):
        return type(obj)(_map(o, fn) for o in obj)
    return fn(obj) if _is_leaf(obj) else obj


def _rrule(spec):
    return RULES[spec.fn] if isinstance(spec.fn, tuple) else lookup(spec.fn)


def _pullback_output(spec, args, kwargs, dy, like):
    """The rule's cotangents for the float arrays among `like` (the primal
    arguments, which `args` may replace by duals), unbroadcast and flattened."""
    _, pullback = _rrule(spec)(*args, **kwargs)
    out = []
    _collect(pullback(dy), like, out)
    return out


def _collect(g, like, out):
    if isinstance(like, (list, tuple)):
        parts = g if g is not None and g is not ZERO else [None] * len(like)
        for gi, li in zip(parts, like):
            _collect(gi, li, out)
    elif _is_leaf(like):
        out.append(None if g is None or g is ZERO else unbroadcast(g, like))


SECOND = [s for s in SPECS if s.order2]


@pytest.mark.parametrize("spec", SECOND, ids=lambda s: s.id)
@given(data=st.data())
def test_pullback_differentiates_forward(spec, data):
    args, kwargs = spec.build(Draw(data))
    rng = np.random.default_rng(1)
    y, _ = _rrule(spec)(*args, **kwargs)
    dy = random_cotangent(y, rng)
    direction = _map(args, lambda a: rng.uniform(-1, 1, a.shape))
    leaves = []
    _map(direction, lambda d: leaves.append(d) or d)
    it = iter(leaves)
    duals = _map(args, lambda a: Dual(a, next(it)))
    with np.errstate(all="ignore"):
        got = _pullback_output(spec, duals, kwargs, dy, args)
        up = _pullback_output(spec, _shift(args, direction, H), kwargs, dy, args)
        down = _pullback_output(spec, _shift(args, direction, -H), kwargs, dy, args)
    for i, (g, u, d) in enumerate(zip(got, up, down)):
        if u is None:
            continue
        want = (u - d) / (2 * H)
        t = g.tangent if type(g) is Dual else np.zeros_like(want)
        assert np.shape(t) == np.shape(want), f"cotangent {i}: tangent shape"
        assert_close(t, want, 1e-4, 1e-5, what=f"d(cotangent {i})")


def _shift(args, direction, h):
    if isinstance(args, (list, tuple)):
        return type(args)(_shift(a, d, h) for a, d in zip(args, direction))
    return args + h * direction if _is_leaf(args) else args
