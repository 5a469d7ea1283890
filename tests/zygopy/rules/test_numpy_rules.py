"""Property tests of the numpy rules against float64 central differences, one
spec row per registered rule (see rule_specs.py), plus the table's coverage,
float32 preservation and registry edge cases."""

from __future__ import annotations

import builtins
import math
import warnings
import operator
import re

import numpy as np
import pytest
import rule_specs_linalg  # noqa: F401  (adds the joins/products/linalg rows)
from hypothesis import given, settings
from hypothesis import strategies as st
from rule_specs import SPECS, Draw, plain

import zygopy as zp
import zygopy.rules  # noqa: F401  (registers everything)
from zygopy.rules.formulas import formula_of
from zygopy.rules.reductions import logsumexp
from zygopy.rules.registry import RULES, key_of, lookup
from zygopy.runtime.arrays import unbroadcast
from zygopy.runtime.tangents import ZERO
from zygopy.testing import (
    assert_close,
    check_grads,
    check_rule,
    numerical_vjp,
    random_cotangent,
)


def _leaves(obj):
    """The leaves of a nested list/tuple (a bare array is one leaf)."""
    if isinstance(obj, (list, tuple)):
        return [leaf for o in obj for leaf in _leaves(o)]
    return [obj]


def _rebuild(obj, leaves):
    """`obj`'s structure with its leaves taken in order from the iterator."""
    if isinstance(obj, (list, tuple)):
        return type(obj)(_rebuild(o, leaves) for o in obj)
    return next(leaves)


def check_sequence_rule(fn, seq, *args, rtol=1e-5, **kwargs):
    """check_rule for rules whose first argument is a (nested) sequence: the
    cotangent must mirror the sequence, leaf by leaf in shape and value."""
    y, pullback = lookup(fn)(seq, *args, **kwargs)
    assert_close(y, fn(seq, *args, **kwargs), what="primal")
    dy = random_cotangent(y, np.random.default_rng(0))
    dseq = pullback(dy)[0]
    leaves = _leaves(seq)
    got = _leaves(dseq)
    assert len(got) == len(leaves)

    def primal(*flat):
        return fn(_rebuild(seq, iter(flat)), *args, **kwargs)

    for i, (g, w, x) in enumerate(zip(got, numerical_vjp(primal, leaves, dy), leaves)):
        assert np.shape(g) == np.shape(x), f"leaf {i}: shape {np.shape(g)}"
        assert_close(g, w, rtol, 1e-6, what=f"d/d(leaf {i})")


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
@given(data=st.data())
def test_rule_matches_central_differences(spec, data):
    """Every registered numpy rule agrees with float64 central differences."""
    args, kwargs = spec.build(Draw(data))
    with np.errstate(all="raise"):
        if isinstance(spec.fn, tuple) and spec.fn[1] == "__call__":  # calling an object
            _check_call(spec.fn, args, spec.rtol)
        elif isinstance(spec.fn, tuple):  # a property such as (ndarray, "T")
            _check_property(spec.fn, args[0], spec.rtol)
        elif spec.sequence:
            check_sequence_rule(spec.fn, *args, rtol=spec.rtol, **kwargs)
        else:
            check_rule(spec.fn, *args, rtol=spec.rtol, **kwargs)


def _check_call(key, args, rtol):
    """A rule for calling instances of a type (`np.vectorize(f)(x)`): the
    object carries no gradient, its arguments are checked."""
    y, pullback = RULES[key](*args)
    assert_close(y, plain(key, args, {}), what="primal")
    dy = random_cotangent(y, np.random.default_rng(0))
    got = pullback(dy)
    want = numerical_vjp(lambda *a: args[0](*a), args[1:], dy)
    for i, (g, w, a) in enumerate(zip(got[1:], want, args[1:])):
        assert_close(unbroadcast(g, a), w, rtol, 1e-6, what=f"d/d(argument {i + 1})")


def _check_property(key, x, rtol):
    cls, name = key
    rrule = RULES[key]
    y, pullback = rrule(x)
    assert_close(y, getattr(x, name), what="primal")
    dy = random_cotangent(y, np.random.default_rng(0))
    (got,) = pullback(dy)
    (want,) = numerical_vjp(lambda a: getattr(a, name), [x], dy)
    assert_close(unbroadcast(got, x), want, rtol, 1e-6)


def _python_owned(key):
    """Rules of zygopy/rules/python.py: operators, math and builtins on numbers."""
    return (getattr(key, "__module__", None) in ("_operator", "math", "builtins")
            and key not in (operator.matmul, operator.getitem))


def _numpy_owned(key, rrule):
    owner = key[0] if isinstance(key, tuple) else key
    if not (getattr(owner, "__module__", None) or "numpy").startswith(
            ("numpy", "zygopy", "_operator", "builtins", "math")):
        return False  # a user's rule (tests register some through the public API)
    module = getattr(rrule, "__module__", None) or ""
    row = formula_of(key)
    return (module.startswith("zygopy.rules.") and module != "zygopy.rules.python") or (
        row is not None and not _python_owned(key))


def test_every_rule_has_a_spec_row():
    """The table covers every rule zygopy/rules registers (layers/ and tests
    may add their own; python.py's scalar rules have their own tests)."""
    covered = {key_of(s.fn) for s in SPECS}
    missing = [k for k, r in RULES.items()
               if _numpy_owned(k, r) and k not in covered and not _python_owned(k)]
    assert not missing, f"rules without a spec row: {missing}"
    assert sum(_numpy_owned(k, r) for k, r in RULES.items()) >= 150


def test_spec_rows_name_registered_rules():
    stale = [s.id for s in SPECS if key_of(s.fn) not in RULES]
    assert not stale, f"spec rows for unregistered callables: {stale}"


def _float32(x):
    """`x` with its float64 arrays (in lists, tuples and dicts) as float32."""
    if isinstance(x, np.ndarray) and x.dtype == np.float64:
        return x.astype(np.float32)
    if isinstance(x, (list, tuple)) and not hasattr(x, "_fields"):
        return type(x)(_float32(v) for v in x)
    if isinstance(x, dict):
        return {k: _float32(v) for k, v in x.items()}
    return x


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
@settings(max_examples=4)
@given(data=st.data())
def test_rule_keeps_numpys_dtypes_for_float32(spec, data):
    """On float32 arguments every rule's output has numpy's dtypes, leaf by
    leaf, and each float32 argument's cotangent (after the dispatcher's
    unbroadcast) is float32: float32 stays float32 where numpy keeps it."""
    args, kwargs = spec.build(Draw(data))
    args, kwargs = _float32(args), _float32(kwargs)
    with np.errstate(all="ignore"):
        rrule = RULES[spec.fn] if isinstance(spec.fn, tuple) else lookup(spec.fn)
        value = plain(spec.fn, args, kwargs)
        y, pullback = rrule(*args, **kwargs)
        for i, (p, q) in enumerate(zip(_leaves(value), _leaves(y))):
            assert np.result_type(q) == np.result_type(p), f"output {i}"
        got = pullback(_float32(random_cotangent(y, np.random.default_rng(0))))
    for i, (g, a) in enumerate(zip(got, args)):
        if g is None or g is ZERO:
            continue
        pairs = zip(_leaves(g), _leaves(a)) if spec.sequence else [(unbroadcast(g, a), a)]
        for gl, al in pairs:
            if isinstance(al, np.ndarray) and al.dtype == np.float32:
                assert np.result_type(gl) == np.float32, f"d/d(argument {i})"


F32_CASES = [
    (np.tanh, lambda r: (r.standard_normal((3, 4)),), {}),
    (np.maximum, lambda r: (r.standard_normal((3, 4)), r.standard_normal(4)), {}),
    (np.sum, lambda r: (r.standard_normal((3, 4)),), {"axis": 1}),
    (np.mean, lambda r: (r.standard_normal((3, 4)),), {"keepdims": True}),
    (np.std, lambda r: (r.standard_normal((3, 4)),), {"axis": 0}),
    (np.matmul, lambda r: (r.standard_normal((2, 3, 4)), r.standard_normal((4, 2))), {}),
    (operator.getitem, lambda r: (r.standard_normal((3, 4)), (slice(1, None), [0, 0])), {}),
    (np.linalg.norm, lambda r: (r.standard_normal((3, 4)),), {"axis": -1}),
    (np.linalg.inv, lambda r: (r.standard_normal((3, 3)) + 3 * np.eye(3),), {}),
    (np.transpose, lambda r: (r.standard_normal((3, 4)),), {}),
    (logsumexp, lambda r: (r.standard_normal((3, 4)),), {"axis": 1}),
]


@pytest.mark.parametrize("fn, make, kwargs", F32_CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_float32_stays_float32(fn, make, kwargs):
    """float32 inputs give float32 outputs and (after unbroadcast) cotangents."""
    args = tuple(a.astype(np.float32) if isinstance(a, np.ndarray) else a
                 for a in make(np.random.default_rng(0)))
    y, pullback = lookup(fn)(*args, **kwargs)
    assert y.dtype == np.float32, f"{fn.__name__} output is {y.dtype}"
    grads = pullback(np.ones_like(y))
    for g, a in zip(grads, args):
        if g is not None and isinstance(a, np.ndarray):
            assert unbroadcast(g, a).dtype == np.float32


def test_frompyfunc_ufunc_has_no_rule():
    """A ufunc made by np.frompyfunc is a different object: no rule, not inert."""
    ufunc = np.frompyfunc(math.exp, 1, 1)
    assert lookup(ufunc) is None


def test_getitem_accumulates_repeated_indices():
    x = np.arange(4.0)
    _, pullback = lookup(operator.getitem)(x, np.array([1, 1, 3]))
    (dx, _) = pullback(np.ones(3))
    np.testing.assert_array_equal(dx, [0, 2, 0, 1])


def test_getitem_on_numpy_scalar():
    y, pullback = lookup(operator.getitem)(np.float64(2.0), ())
    assert y == 2.0 and pullback(np.float64(1.0))[0] == 1.0


@pytest.mark.parametrize("fn", [np.max, np.maximum])
def test_ties_split_evenly(fn):
    x = np.array([1.0, 3.0, 3.0])
    if fn is np.max:
        _, pullback = lookup(fn)(x)
        np.testing.assert_allclose(pullback(1.0)[0], [0, 0.5, 0.5])
    else:
        _, pullback = lookup(fn)(x, np.full(3, 3.0))
        np.testing.assert_allclose(pullback(np.ones(3))[0], [0, 0.5, 0.5])


def test_extremum_along_an_axis_ties_no_hits_and_nans():
    """The cotangent of max/min along an axis: one hit per row takes the
    mask-product shortcut; ties, rows `initial` decided and NaN rows do not."""
    from zygopy.rules.reductions import extremum_adjoint

    x = np.array([[1.0, 3.0, 2.0], [4.0, 4.0, 0.0], [0.0, 1.0, 0.5]])
    g = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(extremum_adjoint(g, x, 1, x.max(1)),
                               [[0, 1, 0], [1, 1, 0], [0, 3, 0]])
    # with initial=1.5 the last row hits nothing: three hits for three rows,
    # but one row has a tie
    y = np.max(x, axis=1, initial=1.5)
    _, pullback = lookup(np.max)(x, 1, initial=1.5)
    np.testing.assert_allclose(pullback(g)[0], [[0, 1, 0], [1, 1, 0], [0, 0, 0]])
    np.testing.assert_allclose(extremum_adjoint(g, x, 1, y, initial=True),
                               [[0, 1, 0], [1, 1, 0], [0, 0, 0]])
    # a NaN row hits nothing either
    xn = np.array([[np.nan, 1.0], [2.0, 2.0], [0.0, 1.0]])
    np.testing.assert_allclose(extremum_adjoint(g, xn, 1, xn.max(1)),
                               [[0, 0], [1, 1], [0, 3]])
    # one hit per row, but an infinite cotangent: inf where it goes, not NaN
    gi = np.array([np.inf, 1.0, 1.0])
    np.testing.assert_array_equal(extremum_adjoint(gi, x[[0, 2]][[0, 1, 0]], 1,
                                                   x[[0, 2]][[0, 1, 0]].max(1)),
                                  [[0, np.inf, 0], [0, 1, 0], [0, 1, 0]])


def test_prod_handles_zeros():
    _, pullback = lookup(np.prod)(np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 1.0]]), axis=1)
    np.testing.assert_allclose(pullback(np.ones(2))[0], [[0, 6, 0], [0, 0, 0]])


def test_logsumexp_is_stable():
    x = np.array([1000.0, 1000.0, -np.inf])
    assert logsumexp(x) == pytest.approx(1000 + np.log(2))
    with np.errstate(divide="ignore"):  # log(0), as numpy warns
        assert logsumexp(np.full(2, -np.inf)) == -np.inf


def test_split_cotangent_may_have_absent_pieces():
    x = np.arange(6.0)

    _, pullback = lookup(np.split)(x, 3)
    (dx, _) = pullback([np.ones(2), ZERO, None])
    np.testing.assert_array_equal(dx, [1, 1, 0, 0, 0, 0])


def test_python_rules_left_to_python_module():
    assert _python_owned(builtins.abs) and _python_owned(math.exp)
    assert not _python_owned(np.exp)


@pytest.mark.parametrize("call, named", [
    (lambda x: np.subtract.reduce(x), "np.subtract.reduce"),
    (lambda x: np.add.reduce(x, dtype=np.float32), "np.add.reduce with these options"),
    (lambda x: np.subtract.accumulate(x), "np.subtract.accumulate"),
])
def test_ufunc_methods_without_a_rule_are_named(call, named):
    with pytest.raises(zp.NoRuleError, match=re.escape(named)):
        zp.gradient(call, np.array([1.0, 2.0, 3.0]))


def test_the_exponents_gradient_at_a_negative_base_is_nan_not_zero():
    """d(x**y)/dy = x**y log(x) has no real value for x < 0: NaN (as in JAX
    and PyTorch), never a silent 0; at x = 0 it is 0 (the limit for y > 0)."""
    x, y = np.array([-2.0, 0.0, 3.0]), np.array([2.0, 2.0, 2.0])
    with np.errstate(invalid="ignore"):
        _, dy = zp.gradient(lambda x, y: np.sum(x**y), x, y)
    assert np.isnan(dy[0]) and dy[1] == 0.0 and dy[2] == pytest.approx(9 * math.log(3))


def test_a_constant_exponent_gets_no_partial():
    """`x ** 2` never evaluates log(x) for its constant exponent: no warning
    at negative x, in the inlined code and in the derived rule alike."""
    x = np.array([-2.0, 0.5])
    with np.errstate(all="raise"):
        (g,) = zp.gradient(lambda x: np.sum(x**2), x)
        (h,) = zp.gradient(lambda x: sum(v**2 for v in x), x)  # the rule, per item
    np.testing.assert_allclose(g, 2 * x)
    np.testing.assert_allclose(h, 2 * x)


_W = np.arange(12.0)


@pytest.mark.parametrize("f", [
    lambda m: np.sum(m.reshape(-1, order="F") * _W),
    lambda m: np.sum(np.reshape(m, (4, 3), "F") * _W.reshape(4, 3)),
    lambda m: np.sum(np.ravel(m, "F") * _W),
    lambda m: np.sum(m.flatten("F") * _W),
    lambda m: np.sum(m.T.ravel("K") * _W),  # an F-ordered view read in memory order
    lambda m: np.sum(m[:, ::2].ravel("K") * _W[:6]),  # neither C nor F
    lambda m: np.sum(m.T.reshape(-1, order="A") * _W),
    lambda m: np.sum(np.swapaxes(m.reshape(3, 2, 2), 0, 2).ravel("K") * _W),
])
def test_reshapes_send_the_gradient_back_in_the_order_they_read(f):
    """order="F"/"A"/"K" read the elements in another order than C: the
    pullback reshapes back in that order (it reshaped in C: a silently
    permuted gradient)."""
    check_grads(f, np.random.default_rng(0).standard_normal((3, 4)))


@pytest.mark.parametrize("f, x", [
    (lambda v: np.sum(np.abs(v + 1j * v[::-1])), np.array([0.5, -1.0])),  # made inside
    (lambda v: np.sum(np.abs(v * (1 + 2j))), np.array([0.5, -1.0])),
    (lambda z: np.sum(np.abs(z) ** 2), np.array([1 + 2j, -0.5 + 1j])),  # an argument
    (lambda z: abs(z) ** 2, 1 + 2j),
])
def test_complex_values_carrying_a_gradient_are_refused(f, x):
    """The rules are written for real numbers (no conjugation): a complex
    gradient would be wrong, so it is refused, on every call."""
    for _ in range(3):  # the fast path too
        with pytest.raises(zp.ZygopyError, match="complex number or array carries"):
            zp.gradient(f, x)


@pytest.mark.parametrize("f, args", [
    (lambda m, lo: np.sum(m.clip(min=lo) ** 2), (0.3,)),
    (lambda m, lo, hi: np.sum(np.clip(m, a_min=lo, a_max=hi) ** 2), (-0.3, 0.4)),
    (lambda m, lo: np.sum(m.clip(min=lo) ** 2), (np.array([0.1, -0.2, 0.3, 0.0]),)),
])
def test_clip_bounds_given_by_keyword_get_their_gradient(f, args):
    check_grads(f, np.random.default_rng(3).standard_normal((3, 4)), *args)


@pytest.mark.parametrize("f", [
    lambda w: np.sum(np.bincount(np.array([0, 2, 2, 1, 0]), w) ** 2),
    lambda w: np.sum(np.bincount(np.array([0, 2, 2, 1, 0]), weights=w, minlength=5) ** 2),
    lambda w: np.sum(np.histogram(np.array([0.5, -1.0, 2.0, 0.3, 0.7]), bins=3,
                                  weights=w)[0] ** 2),
    lambda w: np.sum(np.logspace(w[0], w[1], 4)) + np.sum(np.geomspace(1.0, w[2] ** 2, 3)),
])
def test_counts_and_spaces_carry_the_gradient_of_their_values(f):
    """bincount and histogram are linear in their weights, logspace and
    geomspace smooth in their bounds: declared non-differentiable, they gave
    a silent zero."""
    check_grads(f, np.array([0.5, -1.0, 2.0, 0.3, 0.7]))


@pytest.mark.parametrize("f", [
    lambda m: np.sum(np.sum(m, axis=1) ** 2),
    lambda m: np.sum(np.sum(m, axis=1, keepdims=True) * m),
    lambda m: np.sum(m.sum(axis=0) ** 2),
    lambda m: np.sum(np.mean(m, axis=(0, 1), keepdims=True) * m),
    lambda m: np.sum(m.mean(axis=-1) ** 2),
    lambda m: np.sum(np.max(m, axis=1, keepdims=True) * m),
    lambda m: np.sum(m.max(axis=0) ** 3),
    lambda m: np.sum(np.amin(m, axis=1) ** 2),
    lambda m: np.sum(m.min(axis=None, keepdims=True) * m),
    lambda m: np.sum(np.max(np.stack([m, m]), axis=0) * m),  # ties: split evenly
])
def test_reductions_over_an_axis_inlined_in_generated_code(f):
    """sum/mean/max/min with a literal axis= and keepdims= are inlined (no
    rule call, no closure): `_zp.max_of(x, 1, True)` forward and
    `_zp.max_adjoint(g, x, 1, y)` backward; checked like the rules."""
    check_grads(f, np.random.default_rng(0).standard_normal((3, 4)))


def test_inlined_reductions_are_what_the_generated_code_calls():
    def lse(z):
        m = np.max(z, axis=1, keepdims=True)
        return np.sum(m + np.log(np.sum(np.exp(z - m), axis=1, keepdims=True)))

    z = np.random.default_rng(1).standard_normal((3, 4))
    check_grads(lse, z)
    text = zp.source(lse)
    assert "_zp.max_of(z, 1, True)" in text and "_zp.max_adjoint(" in text
    assert "_zp.call" not in text


V4 = np.array([0.4, -1.3, 2.2, 0.9])


@pytest.mark.parametrize("f", [
    lambda v: np.nanvar(v, 0, None, None, 1),  # numpy's positions: axis, dtype, out, ddof
    lambda v: np.nanstd(v, correction=1) + np.std(v, correction=1) + np.var(v, correction=1),
    lambda v: np.sum(np.exp(v, dtype=np.float64)) + np.sum(np.add(v, 1.0, casting="same_kind")),
    lambda v: np.sum(np.percentile(v.reshape(2, 2), 30.0, 0)),
])
def test_options_reach_the_parameters_numpy_gives_them(f):
    check_grads(f, V4)


@pytest.mark.parametrize("f, message", [
    (lambda v: np.nansum(v, initial=1.0), "nansum covers `initial` at its default only"),
    (lambda v: np.median(v, out=np.zeros(())), "median covers `out` at its default only"),
    (lambda v: np.sum(np.exp(v, out=np.zeros(4), where=v > 0)), "covers dtype= .not where="),
    (lambda v: np.sum(np.pad(v, 1, mode="reflect", reflect_type="odd")), "reflect_type='odd'"),
    (lambda v: np.var(v, mean=np.mean(v)), "leave out mean="),
])
def test_options_a_rule_does_not_cover_are_named(f, message):
    with pytest.raises((NotImplementedError, zp.NoRuleError), match=message):
        zp.gradient(f, V4)


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_cumprod_with_zeros_matches_central_differences(axis):
    import zygopy as zp

    x = np.array([[2.0, 0.0, 3.0, 0.5], [0.0, 0.0, -1.5, 2.0], [1.5, 0.7, -0.3, 0.0]])
    w = np.random.default_rng(0).standard_normal(x.size)

    def f(v):
        return np.sum(np.cumprod(v, axis=axis).ravel() * w)

    (g,) = zp.gradient(f, x)
    h = 1e-6
    num = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        num[i] = (f(x + e) - f(x - e)) / (2 * h)
    np.testing.assert_allclose(g, num, rtol=1e-7, atol=1e-9)
    H = zp.hessian(f, x)  # second order: zero-safe push-forward and pullback
    for i in [(0, 1), (1, 0), (2, 2)]:
        e = np.zeros_like(x)
        e[i] = h
        column = (zp.gradient(f, x + e)[0] - zp.gradient(f, x - e)[0]) / (2 * h)
        np.testing.assert_allclose(H[(Ellipsis,) + i], column, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("fn", [np.nansum, np.nanmean, np.nanvar, np.nanstd, np.nanmax,
                                np.nanmin, np.nanprod],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_nan_reductions_with_nans_match_central_differences(fn, axis):
    """The values that are NaN get no gradient; the others what central
    differences give (not NaN: a NaN must not leak through a discarded branch)."""
    import zygopy as zp

    x = np.array([[np.nan, 0.5, -1.0], [2.0, np.nan, 0.3], [1.2, -0.7, 0.9]])
    w = np.array([1.0, -2.0, 0.5])

    def f(v):
        return np.sum(np.atleast_1d(fn(v, axis=axis)) * (w if axis is not None else 1.0))

    (g,) = zp.gradient(f, x)
    nan = np.isnan(x)
    assert np.all(g[nan] == 0)
    h = 1e-6
    for i in zip(*np.nonzero(~nan)):
        e = np.zeros_like(x)
        e[i] = h
        assert g[i] == pytest.approx((f(x + e) - f(x - e)) / (2 * h), rel=1e-6, abs=1e-8)


def test_det_at_a_singular_matrix_is_the_cofactor_matrix():
    import zygopy as zp

    a = np.array([[1.0, 2.0], [2.0, 4.0]])  # inv raises LinAlgError
    (g,) = zp.gradient(np.linalg.det, a)
    np.testing.assert_allclose(g, [[4.0, -2.0], [-2.0, 1.0]], atol=1e-12)
    _, t = zp.jvp(np.linalg.det, (a,), (np.array([[1.0, 0.0], [0.0, 0.0]]),))
    assert t == pytest.approx(4.0)
    b = np.zeros((3, 3))  # rank 0: every cofactor is 0
    np.testing.assert_allclose(zp.gradient(np.linalg.det, b)[0], 0.0, atol=1e-12)
    c = np.array([[[2.0, 1.0], [1.0, 3.0]], [[1.0, 1.0], [1.0, 1.0]]])  # batched, one singular
    (gc,) = zp.gradient(lambda m: np.sum(np.linalg.det(m)), c)
    np.testing.assert_allclose(gc, [[[3.0, -1.0], [-1.0, 2.0]], [[1.0, -1.0], [-1.0, 1.0]]],
                               atol=1e-12)


def _polynomial(x):
    cs = [1.0, 2.0, 3.0]
    return sum(c * x**i for i, c in enumerate(cs))


def test_a_zero_exponent_at_zero_has_derivative_zero():
    import zygopy as zp

    assert zp.gradient(_polynomial, 0.0) == (2.0,)  # was 0 * 0.0 ** -1
    (g,) = zp.gradient(lambda x: np.sum(x**0 + x**1), np.array([0.0, 1.0]))
    np.testing.assert_array_equal(g, [1.0, 1.0])  # was NaN at 0
    assert zp.grad(zp.grad(_polynomial))(0.0) == pytest.approx(6.0)


def test_a_negative_base_to_a_constant_power():
    """The exponent's partial (log x) has no real value at x < 0: NaN for the
    exponent, never an error for the base's gradient."""
    import zygopy as zp

    power = lambda x, p: x**p  # noqa: E731
    assert zp.grad(power, argnums=0)(-2.0, 3.0) == pytest.approx(12.0)
    gx, gp = zp.gradient(power, -2.0, 3)
    assert gx == pytest.approx(12.0) and math.isnan(gp)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "invalid value in log" either
        gx, gp = zp.gradient(lambda x, p: np.sum(x**p), np.array([-2.0, 2.0]), 2.0)
    np.testing.assert_allclose(gx, [-4.0, 4.0])
    assert math.isnan(gp)


@pytest.mark.parametrize("x", [[1.5, 0.0, 2.0], [1.5, 0.0, 0.0], [0.5, -1.0, 3.0]])
def test_prod_second_order_with_zeros(x):
    import zygopy as zp

    x = np.array(x)
    f = np.prod
    H = zp.hessian(f, x)
    h = 1e-6
    for i in range(3):
        e = np.zeros(3)
        e[i] = h
        column = (zp.gradient(f, x + e)[0] - zp.gradient(f, x - e)[0]) / (2 * h)
        np.testing.assert_allclose(H[:, i], column, atol=1e-7)


@pytest.mark.parametrize("a", [[[1.0, 2.0], [2.0, 4.0]], [[0.0, 0.0], [0.0, 0.0]],
                               [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.5, -1.0, 2.0]]])
def test_det_second_order_at_singular_matrices(a):
    import zygopy as zp

    a = np.array(a)
    H = zp.hessian(np.linalg.det, a)
    h = 1e-6
    for i in np.ndindex(a.shape):
        e = np.zeros_like(a)
        e[i] = h
        column = (zp.gradient(np.linalg.det, a + e)[0] -
                  zp.gradient(np.linalg.det, a - e)[0]) / (2 * h)
        np.testing.assert_allclose(H[(Ellipsis,) + i], column, atol=1e-6)
