"""Gradient checking against float64 central differences, for users and tests."""

from __future__ import annotations

import numpy as np

from .runtime.tangents import ZERO, Tangent


def _flat_leaves(x):
    """The differentiable leaves of a (nested) primal, in a fixed order."""
    if isinstance(x, (tuple, list)):
        return [leaf for v in x for leaf in _flat_leaves(v)]
    if isinstance(x, dict):
        return [leaf for k in sorted(x) for leaf in _flat_leaves(x[k])]
    if isinstance(x, Tangent):
        return [leaf for _, v in x for leaf in _flat_leaves(v)]
    return [x]


def numerical_vjp(f, args, dy, eps=1e-6):
    """Central-difference vector-Jacobian product of `f` at `args` with `dy`.

    Works in float64: float32 arrays are promoted for the difference quotient.
    Returns one gradient per argument (None for non-float arguments)."""
    args = list(args)
    grads = []
    for i, a in enumerate(args):
        if isinstance(a, bool) or not _is_float(a):
            grads.append(None)
            continue
        # C order: a transposed or sliced input would make reshape(-1) a copy, so
        # the perturbations would miss `base` and every difference read as zero
        base = np.array(a, dtype=np.float64, order="C")
        g = np.zeros_like(base)
        flat, gflat = base.reshape(-1), g.reshape(-1)
        for j in range(flat.size):
            orig = flat[j]
            flat[j] = orig + eps
            up = _dot(f(*_with(args, i, base, a)), dy)
            flat[j] = orig - eps
            down = _dot(f(*_with(args, i, base, a)), dy)
            flat[j] = orig
            gflat[j] = (up - down) / (2 * eps)
        grads.append(float(g) if np.ndim(a) == 0 and not hasattr(a, "shape") else g)
    return tuple(grads)


def _is_float(a):
    if isinstance(a, float):
        return True
    return getattr(getattr(a, "dtype", None), "kind", "") == "f"


def _with(args, i, base, orig):
    new = list(args)
    if isinstance(orig, np.ndarray):
        new[i] = base.copy()
    else:
        new[i] = float(base)
    return new


def _dot(y, dy):
    ys, dys = _flat_leaves(y), _flat_leaves(dy)
    total = 0.0
    for a, b in zip(ys, dys):
        if b is None or b is ZERO:
            continue
        total += float(np.sum(np.asarray(a, dtype=np.float64) * np.asarray(b, dtype=np.float64)))
    return total


def random_cotangent(y, rng):
    """A random cotangent with the structure, shape of `y` (float64)."""
    if isinstance(y, tuple):
        return tuple(random_cotangent(v, rng) for v in y)
    if isinstance(y, list):
        return [random_cotangent(v, rng) for v in y]
    if isinstance(y, (float, int)) and not isinstance(y, bool):
        return float(rng.standard_normal())
    if hasattr(y, "shape") and getattr(y.dtype, "kind", "") in "fc":
        return rng.standard_normal(y.shape).astype(np.float64)
    return None


def assert_close(actual, expected, rtol=1e-5, atol=1e-6, what="gradient"):
    """Assert two (nested) gradients agree, with a message naming the mismatch."""
    if expected is None:
        assert actual is None or np.all(np.asarray(actual) == 0), f"{what}: expected None, got {actual!r}"
        return
    if isinstance(expected, (tuple, list)):
        assert len(actual) == len(expected), f"{what}: {len(actual)} != {len(expected)} entries"
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_close(a, e, rtol, atol, f"{what}[{i}]")
        return
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != expected {e.shape}"
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=what)


def check_rule(fn, *args, rtol=1e-5, atol=1e-6, seed=0, **kwargs):
    """Check the registered rrule of `fn` at `args` against central differences.

    Also checks that each cotangent has its primal's shape and dtype after
    the dispatcher's central unbroadcast."""
    from .rules.registry import lookup
    from .runtime.arrays import unbroadcast

    rrule = lookup(fn)
    assert rrule is not None, f"no rule registered for {fn!r}"
    y, pullback = rrule(*args, **kwargs)
    expected_y = fn(*args, **kwargs)
    assert_close(y, expected_y, what="primal")
    rng = np.random.default_rng(seed)
    dy = random_cotangent(y, rng)
    got = pullback(dy)
    assert isinstance(got, tuple), f"pullback of {fn!r} must return a tuple"
    got = tuple(
        None if g is None or g is ZERO else unbroadcast(g, a) for g, a in zip(got, args)
    )
    want = numerical_vjp(lambda *a: fn(*a, **kwargs), args, dy)
    for i, (g, w, a) in enumerate(zip(got, want, args)):
        if w is None:
            continue
        assert g is not None, f"argument {i}: rule gave no gradient"
        assert np.shape(g) == np.shape(a), f"argument {i}: shape {np.shape(g)} != {np.shape(a)}"
        assert_close(g, w, rtol, atol, what=f"d/d(argument {i})")
    return got


def check_grads(f, *args, rtol=1e-5, atol=1e-6, seed=0):
    """Check `zygopy.pullback(f, *args)` against central differences.

    Draws a random cotangent for the output and compares the vector-Jacobian
    products of every float argument."""
    from .api import pullback

    y, back = pullback(f, *args)
    rng = np.random.default_rng(seed)
    dy = random_cotangent(y, rng)
    got = back(dy)
    want = numerical_vjp(f, args, dy)
    for i, (g, w) in enumerate(zip(got, want)):
        if w is None:
            continue
        assert_close(g, w, rtol, atol, what=f"d/d(argument {i})")
    if _fast_path_applies(y, args):
        _check_fused(f, args, y, dy, got, rtol, atol)
    return got


def _fast_path_applies(y, args):
    """A real scalar output of float and float-array arguments: what
    `gradient` runs through its fused gradient function from the second call."""
    real = isinstance(y, (float, np.floating)) and not isinstance(y, bool)
    return real and all(type(a) is float or type(a) is np.ndarray and a.dtype.kind == "f"
                        for a in args)


def _check_fused(f, args, y, dy, got, rtol, atol):
    """`withgradient(f, *args)`, called twice (the second call runs the fused
    forward and backward), gives the value and, scaled by `dy`, what the
    pullback gave."""
    from .api import withgradient

    for _ in range(2):
        value, grads = withgradient(f, *args)
    assert_close(value, y, rtol, atol, what="the value by the fused gradient")
    for i, (g, p) in enumerate(zip(grads, got)):
        if p is None:
            continue
        assert_close(np.multiply(g, dy), p, rtol, atol,
                     what=f"d/d(argument {i}) by the fused gradient")


# -- device parity (the CuPy path against the numpy one) ---------------------------


def to_device(x, xp):
    """`x` with every numpy array (nested in tuples, lists and dicts) moved to
    the array module `xp` (cupy); everything else is left as it is."""
    if isinstance(x, np.ndarray):
        return xp.asarray(x)
    if isinstance(x, (tuple, list)):
        return type(x)(to_device(v, xp) for v in x)
    if isinstance(x, dict):
        return {k: to_device(v, xp) for k, v in x.items()}
    return x


def to_host(x):
    """`x` with every device array (nested in tuples, lists, dicts and
    Tangents) copied back to numpy."""
    if isinstance(x, (tuple, list)):
        return type(x)(to_host(v) for v in x)
    if isinstance(x, dict):
        return {k: to_host(v) for k, v in x.items()}
    if hasattr(x, "get") and hasattr(x, "__cuda_array_interface__"):
        return x.get()
    return x


def assert_on_device(x, xp, what="value"):
    """Every array leaf of `x` lives in `xp` (no silent copy back to the host)."""
    for i, leaf in enumerate(_flat_leaves(x)):
        assert not isinstance(leaf, np.ndarray), (
            f"{what} (leaf {i}): a numpy array {leaf.shape} where a {xp.__name__} "
            "array was expected")
