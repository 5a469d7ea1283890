"""In-place updates inside differentiated code ("Beyond Zygote", issue 3).

Each function is checked against float64 central differences of the very
same Python function: `a[i] = v`, `a[mask] = v`, `a[i:j] += v`, `z += y`,
`z *= x`, the `a = np.zeros(n); for i ...: a[i] = ...` pattern, values
overwritten twice, mutation inside loops and 2-D indices.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import zygopy as zp
from zygopy.testing import assert_close, check_grads


def vectors(min_size=1, max_size=6, lo=-2.0, hi=2.0):
    return hnp.arrays(
        np.float64, st.integers(min_size, max_size), elements=st.floats(lo, hi)
    )


def away_from_zero(min_size=1, max_size=6):
    """Entries in [-2, -0.1] or [0.1, 2]: a mask `x > 0` cannot flip under a
    finite-difference step."""
    magnitude = hnp.arrays(
        np.float64, st.integers(min_size, max_size), elements=st.floats(0.1, 2.0)
    )
    return magnitude.flatmap(
        lambda m: hnp.arrays(
            np.float64, m.shape, elements=st.sampled_from([-1.0, 1.0])
        ).map(lambda s: s * m)
    )


# -- one assignment -----------------------------------------------------------------
def set_one(x, v, i):
    a = x * 1.0
    a[i] = v
    return np.sum(np.sin(a) * a)


@given(x=vectors(), v=st.floats(-2, 2), data=st.data())
def test_setitem_integer_index(x, v, data):
    i = data.draw(st.integers(-len(x), len(x) - 1))
    check_grads(set_one, x, v, i)


def set_mask(x, v, mask):
    a = x * 2.0
    a[mask] = v
    return np.sum(a**3)


@given(x=vectors(), v=st.floats(-2, 2), data=st.data())
def test_setitem_mask_scalar(x, v, data):
    mask = data.draw(hnp.arrays(np.bool_, x.shape))
    check_grads(set_mask, x, v, mask)


def set_mask_from_values(x, w):
    a = np.tanh(x)
    a[x > 0] = w[x > 0] * x[x > 0]
    return np.sum(a * a)


@given(x=away_from_zero(), data=st.data())
def test_setitem_mask_from_the_values(x, data):
    w = data.draw(hnp.arrays(np.float64, x.shape, elements=st.floats(-2, 2)))
    check_grads(set_mask_from_values, x, w)


def add_to_slice(x, v, i, j):
    a = x * 1.0
    a[i:j] += v
    return np.sum(np.exp(a) * x)


@given(x=vectors(min_size=2), data=st.data())
def test_augmented_slice(x, data):
    i = data.draw(st.integers(0, len(x) - 1))
    j = data.draw(st.integers(i + 1, len(x)))
    v = data.draw(hnp.arrays(np.float64, (j - i,), elements=st.floats(-2, 2)))
    check_grads(add_to_slice, x, v, i, j)
    check_grads(add_to_slice, x, float(v[0]), i, j)  # a broadcast scalar


def set_slice_scalar(x, v):
    a = x * 1.0
    a[1:3] = v
    return np.sum(a**2 * x)


def test_slice_assigned_a_broadcast_scalar():
    x = np.array([0.5, -1.0, 2.0, 0.3])
    g = check_grads(set_slice_scalar, x, 0.7)
    assert isinstance(g[1], float)


# -- augmented assignment of whole arrays ---------------------------------------
def add_in_place(z, y):
    z = z * 1.0
    z += y
    return np.sum(z * z)


def multiply_in_place(z, x):
    z = np.sin(z)
    z *= x
    z -= x * x
    z /= 2.0 + x * x
    return np.sum(z * z)


@given(data=st.data())
def test_augmented_arrays(data):
    z = data.draw(vectors(2, 5))
    y = data.draw(hnp.arrays(np.float64, z.shape, elements=st.floats(-2, 2)))
    check_grads(add_in_place, z, y)
    check_grads(multiply_in_place, z, y)
    check_grads(add_in_place, np.stack([z, 2 * z]), y)  # y broadcast over rows


# -- building arrays in loops -------------------------------------------------------
def build(x):
    n = x.shape[0]
    a = np.zeros(n)
    for i in range(n):
        a[i] = np.sin(x[i]) * x[i]
    return np.sum(a * a)


def running_sum(x):
    a = np.zeros(x.shape[0])
    a[0] = x[0]
    for i in range(1, x.shape[0]):
        a[i] = a[i - 1] * np.cos(x[i]) + x[i]
    return np.sum(a**2)


def overwrite_in_loop(x):
    a = x * 1.0
    for k in range(3):
        for i in range(x.shape[0] - 1):
            a[i] = a[i] * a[i + 1] + x[i]
    return np.sum(a)


def while_mutation(x):
    a = x * 1.0
    i = 0
    while i < x.shape[0]:
        a[i] = a[i] * a[-1]
        i = i + 1
    return np.sum(a)


@pytest.mark.parametrize("f", [build, running_sum, overwrite_in_loop, while_mutation])
@given(x=vectors(2, 5, -1.0, 1.0))
def test_mutation_in_loops(f, x):
    check_grads(f, x)


# -- the same position written twice ------------------------------------------------
def overwrite_twice(x, v, w):
    a = x * 1.0
    a[0] = v
    a[0] = w * a[0]
    return np.sum(a**3)


def overwrite_then_read(x, v):
    a = np.tanh(x)
    b = a[0] * 2.0  # read before the overwrite
    a[0] = v * b
    c = a[0] + a[1]  # read after it
    a[0] = c * c
    return np.sum(a) + b


def test_overwrite_twice():
    x = np.array([0.3, -0.7, 1.1])
    check_grads(overwrite_twice, x, 0.4, 1.3)
    check_grads(overwrite_then_read, x, 0.6)


def repeated_indices(x, v):
    a = x * 1.0
    a[np.array([0, 0, 2])] = v  # position 0 keeps its last write
    return np.sum(a**2)


def repeated_indices_added(x, v):
    a = x * 1.0
    a[np.array([1, 1])] += v  # numpy: one addition, of the last value
    return np.sum(a**3)


def test_repeated_index_last_write_wins():
    x = np.array([0.5, -1.0, 2.0])
    v = np.array([0.3, -0.4, 0.8])
    g = check_grads(repeated_indices, x, v)
    assert g[1][0] == 0.0  # overwritten by v[1]
    check_grads(repeated_indices_added, x, v[:2])
    check_grads(repeated_indices, x, 0.9)  # one scalar written twice counts once


# -- two-dimensional indices --------------------------------------------------------
def matrix_fill(X, v):
    A = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            A[i, j] = X[i, j] * v + A[i - 1, j]
    return np.sum(np.tanh(A))


def rows_and_columns(X, c):
    A = X.copy()
    A[:, 1] = c
    A[2] *= 3.0
    A[0, :] = A[1, :] * A[2, :]
    return np.sum(A @ A)


@given(
    X=hnp.arrays(np.float64, (3, 3), elements=st.floats(-1, 1)),
    c=hnp.arrays(np.float64, (3,), elements=st.floats(-1, 1)),
)
def test_two_dimensional_indices(X, c):
    check_grads(matrix_fill, X, float(c[0]))
    check_grads(rows_and_columns, X, c)


# -- containers, calls, arguments ---------------------------------------------------
def list_item(x, v):
    xs = [x, x * 2.0, x * 3.0]
    xs[1] = v * x
    return xs[0] + xs[1] * xs[2]


def dict_items(x, v):
    d = {"a": x}
    d["a"] = v * x
    d["b"] = v  # a new key
    return d["a"] + d["b"] * x


def test_list_and_dict_items():
    check_grads(list_item, 1.5, 0.7)
    check_grads(dict_items, 1.5, 0.7)


def fill_helper(x):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = x[i] ** 2
    return out


def calls_a_mutating_helper(x):
    return np.sum(np.sin(fill_helper(x)))


def test_mutation_in_a_called_function():
    check_grads(calls_a_mutating_helper, np.array([0.2, -0.5, 1.0]))


def overwrite_argument(x, v):
    x[0] = v
    return np.sum(x**2)


def test_mutated_argument_keeps_python_semantics():
    x = np.array([1.0, 2.0, 3.0])
    (gx, gv) = zp.gradient(overwrite_argument, x, 0.5)
    assert_close(x, [0.5, 2.0, 3.0], what="the caller sees the assignment")
    assert_close(gx, [0.0, 4.0, 6.0])
    assert gv == pytest.approx(1.0)


def test_float32_survives_mutation():
    def f(x):
        a = np.zeros(3, dtype=np.float32)
        for i in range(3):
            a[i] = x[i] * x[i]
        return np.sum(a)

    (g,) = zp.gradient(f, np.array([1.0, 2.0, 3.0], dtype=np.float32))
    assert g.dtype == np.float32
    assert_close(g, [2.0, 4.0, 6.0])


# -- the pullback leaves arrays as the forward left them ----------------------------
def returns_mutated(x):
    a = np.zeros(x.shape[0])
    for i in range(x.shape[0]):
        a[i] = x[i] ** 2
    return a


def test_pullback_does_not_clobber_the_result():
    x = np.array([1.0, 2.0, 3.0])
    y, back = zp.pullback(returns_mutated, x)
    (g1,) = back(np.ones(3))
    assert_close(y, x**2, what="result after the pullback")
    (g2,) = back(np.ones(3))  # and it can run again
    assert_close(g1, 2 * x)
    assert_close(g2, 2 * x)


def test_jacobian_of_a_mutating_function():
    x = np.array([0.5, -1.0, 2.0])
    (J,) = zp.jacobian(returns_mutated, x)
    assert_close(J, np.diag(2 * x))


# -- known limitation -----------------------------------------------------------
def alias_then_mutate(x, y):
    a = x * 1.0
    b = a  # a second name for the same array
    a += y  # numpy mutates b too; zygopy rebinds a
    return np.sum(b * b)


def test_mutation_through_an_alias_is_refused_at_the_users_line():
    with pytest.raises(zp.UnsupportedSyntax) as info:
        zp.gradient(alias_then_mutate, np.array([0.5, -1.0]), np.array([0.3, 0.2]))
    text = str(info.value)
    assert "a += y" in text and "shares its array or list with `b`" in text
    assert "test_mutation.py" in text


def view_then_mutate(x):
    a = x * 1.0
    row = a[0]  # a view of a's first row
    a[0] = 5.0
    return np.sum(row * x[0])


def test_mutation_of_a_viewed_array_is_refused():
    with pytest.raises(zp.UnsupportedSyntax, match="shares its array or list with `row`"):
        zp.gradient(view_then_mutate, np.array([[0.5, -1.0], [2.0, 3.0]]))


def scalar_alias(x):
    a = x
    b = a
    a += 1.0  # numbers are immutable: b keeps its value, in Python too
    return a * b


def test_numbers_may_alias():
    check_grads(scalar_alias, 0.7)


# -- mutation under control flow ----------------------------------------------------
def fill_until(x):
    a = np.zeros(x.shape[0])
    for i in range(x.shape[0]):
        if x[i] > 1.5:
            break
        a[i] = x[i] * x[i]
    return np.sum(a * x)


def fill_over_rows(X):
    out = np.zeros(X.shape[0])
    i = 0
    for row in X:
        out[i] = np.sum(row**2)
        i = i + 1
    return np.sum(out * out)


def branch_per_item(x):
    a = x * 1.0
    for i in range(x.shape[0]):
        if a[i] > 0:
            a[i] = a[i] * 2.0
        else:
            a[i] = -a[i] * x[0]
    return np.sum(a**2)


@pytest.mark.parametrize(
    "f, x",
    [
        (fill_until, np.array([0.5, 1.0, 2.0, 0.3])),
        (fill_over_rows, np.array([[0.3, -0.2], [1.1, 0.4], [-0.7, 0.9]])),
        (branch_per_item, np.array([0.5, -1.0, 2.0, -0.3])),
    ],
    ids=["break", "rows of an array", "if per item"],
)
def test_mutation_under_control_flow(f, x):
    check_grads(f, x)


# -- fields of objects --------------------------------------------------------------
class Counted:
    """A layer that counts its calls in a field (an int: no gradient)."""

    def __init__(self, W):
        self.W = W
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        return np.tanh(self.W @ x)


class Caching:
    """A layer that keeps its last pre-activation in a field."""

    def __init__(self, W):
        self.W = W

    def __call__(self, x):
        h = self.W @ x
        self.last = h
        return np.sum(np.tanh(h))


class DetachedCaching(Caching):
    """The same, keeping the value without its gradient."""

    def __call__(self, x):
        h = self.W @ x
        self.last = zp.stop_gradient(h)
        return np.sum(np.tanh(h))


def test_field_without_gradient_is_set():
    layer = Counted(np.array([[0.5, -1.0], [2.0, 0.3]]))
    x = np.array([0.2, 0.7])
    (_, gx) = zp.gradient(lambda m, x: np.sum(m(x)), layer, x)
    assert layer.calls == 1
    assert_close(gx, layer.W.T @ (1 - np.tanh(layer.W @ x) ** 2))


def test_detached_field_is_set():
    layer = DetachedCaching(np.eye(2))
    zp.gradient(lambda m, x: m(x), layer, np.array([0.2, 0.7]))
    assert_close(layer.last, [0.2, 0.7])


def test_differentiable_field_is_refused_with_fixes():
    with pytest.raises(
        zp.ZygopyError, match="(?s)field `last` of a Caching.*stop_gradient"
    ):
        zp.gradient(lambda m, x: m(x), Caching(np.eye(2)), np.ones(2))


def reshapes_in_place(x):
    a = x.copy()
    a.shape = (2, 3)
    return np.sum(a[0] * a[1])


def test_assigning_an_arrays_shape_is_refused_at_the_line():
    with pytest.raises(zp.UnsupportedSyntax, match=r"assignment to `a\.shape`") as e:
        zp.gradient(reshapes_in_place, np.arange(6.0))
    assert __file__ in str(e.value) and "a = a.reshape(...)" in str(e.value)


def assigns_itself_reversed(x):
    v = np.array([x, 2.0 * x, 3.0])
    v[::-1] = v  # numpy copies the overlapping right side first
    w = v * 1.0
    w[1:] = w[:-1]
    return v[0] * 10 + v[2] + np.sum(w * np.arange(3.0))


def test_an_array_assigned_into_itself():
    """`v[idx] = v`: the value's share of the cotangent is read before the
    overwritten slots are zeroed (it was zeroed with them: a zero gradient)."""
    check_grads(assigns_itself_reversed, 0.7)


def rebinds_the_second_name(x):
    s = np.zeros(2)
    t = s
    t = t + x  # a new array: t no longer shares s
    s[0] = 5.0
    return np.sum(t * s)


def rebinds_to_a_view(x):
    s = np.zeros(2) + x
    t = s
    s = s.T  # a view: still the same memory
    s[0] = 5.0
    return np.sum(t * x)


def test_a_name_rebound_before_the_update_no_longer_shares():
    check_grads(rebinds_the_second_name, np.array([0.3, -0.7]))
    with pytest.raises(zp.UnsupportedSyntax, match="shares its array"):
        zp.gradient(rebinds_to_a_view, np.array([0.3, -0.7]))
