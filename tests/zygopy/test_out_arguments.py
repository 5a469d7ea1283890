"""`out=` of numpy functions in differentiated code: a statement
`np.f(..., out=a)` is the in-place update `a[...] = np.f(...)` (with its alias
checks); elsewhere a differentiable `out=` is refused with what to write."""

import numpy as np
import pytest

import zygopy as zp
from zygopy.testing import check_grads

X = np.array([0.3, -0.7, 1.2, -0.1, 0.9, 2.0])


def clips_in_place(x):
    a = x.copy()
    np.clip(a, -0.5, 0.5, out=a)
    return np.sum(a**2)


def chain_of_updates(x):
    a = x.copy()
    np.multiply(a, 2.0, out=a)
    c = np.exp(a)
    if a[0] > 0:
        np.add(a, x, out=a)
    return np.sum(a * c)


def uses_the_result(x):
    a = x * 1.0
    b = np.tanh(a, out=a)  # b is a
    return np.sum(b * x)


@pytest.mark.parametrize("f", [clips_in_place, chain_of_updates, uses_the_result])
def test_out_statements_are_updates_in_place(f):
    check_grads(f, X)


def shared(x):
    a = x.copy()
    c = a
    np.multiply(a, 2.0, out=a)
    return np.sum(c * x)


def nested(x):
    a = x.copy()
    return np.sum(np.exp(a, out=a))


def test_out_on_a_shared_array_is_refused_at_the_line():
    with pytest.raises(zp.UnsupportedSyntax, match="shares its array"):
        zp.gradient(shared, X)


def test_out_inside_an_expression_is_refused_saying_what_to_write():
    with pytest.raises(zp.NoRuleError, match="writes the result into an array in place"):
        zp.gradient(nested, X)


M = np.random.default_rng(0).standard_normal((3, 4))


def zeroes_the_diagonal(m):
    a = m.copy()
    np.fill_diagonal(a, 0.0)  # a[np.diag_indices(3, 2)] = 0.0
    return np.sum(a * m)


def fills_by_copyto(m):
    a = np.zeros((3, 4))
    np.copyto(a, m * 2)  # a[...] = m * 2
    return np.sum(a * m)


@pytest.mark.parametrize("f", [zeroes_the_diagonal, fills_by_copyto])
def test_in_place_numpy_statements_are_updates(f):
    check_grads(f, M)


def puts(v):
    a = v.copy()
    np.put(a, [0], 5.0)
    return np.sum(a * v)


def test_other_in_place_numpy_functions_are_refused_saying_so():
    with pytest.raises(zp.NoRuleError, match="changes its first argument in place"):
        zp.gradient(puts, X)


def test_copyto_with_where_is_an_update():
    def f(x, y):
        z = x * 1.0
        np.copyto(z, y * 2.0, where=x > 0)
        return np.sum(z**2)

    x, y = np.array([1.0, -2.0, 3.0]), np.array([0.5, 0.25, -1.0])
    gx, gy = zp.gradient(f, x, y)
    np.testing.assert_allclose(gx, [0.0, -4.0, 0.0])
    np.testing.assert_allclose(gy, [4.0, 0.0, -8.0])


def _clips_in_place(x):
    y = x * 1.0
    y.clip(-0.5, 0.5, out=y)
    return np.sum(y**2)


def _rounds_in_place(x):
    y = x * 1.0
    y.round(0, out=y)
    return np.sum(y**2)


def _shuffles(x):
    y = x * 1.0
    np.random.default_rng(0).shuffle(y)
    return np.sum(y * np.arange(4.0))


def _permutes(x):
    return np.sum(np.random.default_rng(0).permutation(x) * np.arange(4.0))


def _nan_to_num_in_place(x):
    y = x * 1.0
    z = np.nan_to_num(y, copy=False)
    y[0] = 0.0
    return np.sum(z**2)


@pytest.mark.parametrize("f, error, what", [
    (_clips_in_place, zp.NoRuleError, r"ndarray.clip \(`out=` writes the result"),
    (_rounds_in_place, zp.NoRuleError, r"ndarray.round \(`out=` writes the result"),
    (_shuffles, zp.NoRuleError, "a random permutation of a differentiable array"),
    (_permutes, zp.NoRuleError, "a random permutation of a differentiable array"),
    (_nan_to_num_in_place, NotImplementedError, "copy=False changes x in place"),
], ids=["clip", "round", "shuffle", "permutation", "nan_to_num"])
def test_methods_and_calls_changing_arrays_in_place_are_refused(f, error, what):
    with pytest.raises(error, match=what):
        zp.gradient(f, np.array([1.5, -2.0, 0.3, 0.8]))


def test_indexing_with_a_permutation_of_positions_differentiates():
    def f(x):
        return np.sum(x[np.random.default_rng(0).permutation(4)] * np.arange(4.0))

    (g,) = zp.gradient(f, np.array([1.5, -2.0, 0.3, 0.8]))
    order = np.random.default_rng(0).permutation(4)
    expected = np.zeros(4)
    expected[order] = np.arange(4.0)
    np.testing.assert_allclose(g, expected)
