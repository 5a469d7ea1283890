"""In-place updates of an array another name, container, closure or object
shares: refused at the user's line (the gradient, kept per name, would miss
the other); updates of arrays nothing else shares still differentiate."""

import copy
import dataclasses

import numpy as np
import pytest

import zygopy as zp

X = np.array([0.5, -1.0, 2.0, 0.3])
W = 0.7


def ident(a):
    return a


def first_row(a):
    return a[0]


@dataclasses.dataclass
class Holder:
    arr: np.ndarray

    def total(self):
        return np.sum(self.arr**2)


def rows_of_a_loop(x, w):
    a = np.zeros((2, 2))
    for r in a:
        r[:] = x[:2] * w
    return np.sum(a**2)


def rows_of_enumerate(x, w):
    a = np.zeros((2, 2))
    for i, r in enumerate(a):
        r += x[:2] * w
    return np.sum(a**2)


def rows_of_zip(x, w):
    a = np.zeros((2, 2))
    for r, xi in zip(a, x.reshape(2, 2)):
        r[0] = xi[0] * w
    return np.sum(a**2)


def in_a_list(x, w):
    a = x * 1.0
    lst = [a]
    a[0] = w
    return np.sum(lst[0] ** 2)


def in_a_dict(x, w):
    a = x * 1.0
    d = {"k": a}
    a[0] = w
    return np.sum(d["k"] ** 2)


def in_a_tuple(x, w):
    a = x * 1.0
    t = (a, 1)
    a[0] = w
    return np.sum(t[0] ** 2)


def appended(x, w):
    a = x * 1.0
    xs = []
    xs.append(a)
    a[0] = w
    return np.sum(xs[0] ** 2)


def set_as_an_item(x, w):
    a = x * 1.0
    d = {}
    d["k"] = a
    a[0] = w
    return np.sum(d["k"] ** 2)


def through_a_user_function(x, w):
    a = x * 1.0
    b = ident(a)
    b[0] = w
    return np.sum(a**2)


def through_a_lambda(x, w):
    a = x * 1.0
    b = (lambda t: t)(a)  # noqa: PLC3002  (the call is the point)
    b[0] = w
    return np.sum(a**2)


def unpacked(x, w):
    a = x * 1.0
    b, _c = a, a * 2
    b[0] = w
    return np.sum(a**2)


def from_a_list_display(x, w):
    a = x * 1.0
    b = [a][0]
    b[0] = w
    return np.sum(a**2)


def split_views(x, w):
    a = x * 1.0
    b, _c = np.split(a, 2)
    b[0] = w
    return np.sum(a**2)


def rows_in_a_comprehension(x, w):
    a = (x * 1.0).reshape(2, 2)
    rows = [r for r in a]
    a[0, 0] = w
    return np.sum(rows[0] ** 2)


def a_row_from_a_function(x, w):
    a = (x * 1.0).reshape(2, 2)
    b = first_row(a)
    b[0] = w
    return np.sum(a**2)


def astype_without_copy(x, w):
    a = x * 1.0
    b = a.astype(np.float64, copy=False)
    b[0] = w
    return np.sum(a**2)


def conditional_alias(x, w):
    a = x * 1.0
    b = a if w > 0 else a.copy()
    b[0] = w
    return np.sum(a**2)


def chained(x, w):
    a = b = x * 1.0
    a[0] = w
    return np.sum(b**2)


def alias_in_a_branch(x, w):
    a = x * 1.0
    if w > 0:
        b = a
    else:
        b = a.copy()
    b[0] = w
    return np.sum(a**2)


def list_item_scaled(x, w):
    a = x * 1.0
    xs = [a]
    xs[0] *= w
    return np.sum(a**2)


def dict_item_increased(x, w):
    a = x * 1.0
    d = {"k": a}
    d["k"] += w
    return np.sum(a**2)


def captured_by_a_lambda(x, w):
    a = x * 1.0
    g = lambda: np.sum(a**2)
    a[0] = w
    return g()


def captured_by_a_def(x, w):
    a = x * 1.0

    def g():
        return np.sum(a**2)

    a[0] = w
    return g()


def held_by_an_object(x, w):
    a = x * 1.0
    h = Holder(a)
    a[0] = w
    return h.total()


def a_field_read_back(x, w):
    a = x * 1.0
    h = Holder(a)
    b = h.arr
    b[0] = w
    return np.sum(a**2)


SHARED = [rows_of_a_loop, rows_of_enumerate, rows_of_zip, in_a_list, in_a_dict,
          in_a_tuple, appended, set_as_an_item, through_a_user_function,
          through_a_lambda, unpacked, from_a_list_display, split_views,
          rows_in_a_comprehension, a_row_from_a_function, astype_without_copy,
          conditional_alias, chained, alias_in_a_branch, list_item_scaled,
          dict_item_increased, captured_by_a_lambda, captured_by_a_def,
          held_by_an_object, a_field_read_back]


@pytest.mark.parametrize("f", SHARED, ids=lambda f: f.__name__)
def test_an_update_of_a_shared_array_is_refused_at_its_line(f):
    with pytest.raises(zp.UnsupportedSyntax, match="shares its array or list with") as info:
        zp.gradient(f, X.copy(), W)
    assert __file__ in str(info.value)


# -- updates of arrays nothing else shares: differentiated --------------------------


def copied_first(x, w):
    a = x * 1.0
    b = a.copy()
    a[0] = w
    return np.sum(b**2) + np.sum(a**3)


def filled_in_a_loop(x, w):
    a = np.zeros(4)
    for i in range(4):
        a[i] = x[i] * w
    a += x
    return np.sum(a**2) + np.sum(x)


def a_new_array_from_arithmetic(x, w):
    a = x * 1.0
    c = a + x
    a[0] = w
    return np.sum(c**2) + np.sum(a**2)


def fancy_index_copy(x, w):
    a = x * 1.0
    b = a[[1, 2]]
    a[2] = w
    return np.sum(b**2) + np.sum(a)


def a_list_of_new_values(x, w):
    a = x * 1.0
    xs = [a * 2.0, a + 1.0]
    a[0] = w
    xs.append(a * 3.0)
    return np.sum(xs[0]) + np.sum(xs[2]) + np.sum(a**2)


def a_list_refilled(x, w):
    a = x * 1.0
    xs = [a]
    xs[0] = a * w  # a new item: a itself is unchanged
    return np.sum(xs[0] ** 2) + np.sum(a)


def numbers_in_a_list(x, w):
    s = w * 2.0
    xs = [s, 1.0]
    xs[0] = xs[0] * 3.0
    return xs[0] + xs[1] + s


def rows_read_only(x, w):
    a = (x * w).reshape(2, 2)
    total = 0.0
    for r in a:
        total = total + np.sum(r**2)
    return total


@pytest.mark.parametrize("f", [copied_first, filled_in_a_loop, a_new_array_from_arithmetic,
                               fancy_index_copy, a_list_of_new_values, a_list_refilled,
                               numbers_in_a_list, rows_read_only],
                         ids=lambda f: f.__name__)
def test_updates_of_unshared_arrays_differentiate(f):
    gx, gw = zp.gradient(f, X.copy(), W)
    h = 1e-6
    num_x = np.array([(f(X + h * e, W) - f(X - h * e, W)) / (2 * h) for e in np.eye(4)])
    num_w = (f(X.copy(), W + h) - f(X.copy(), W - h)) / (2 * h)
    np.testing.assert_allclose(gx, num_x, rtol=1e-6, atol=1e-8)
    assert gw == pytest.approx(num_w, rel=1e-6, abs=1e-8)


def test_one_array_passed_as_two_arguments_one_changed_in_place():
    def f(a, b, w):
        a[0] = w
        return np.sum(b**2)

    x = X.copy()
    with pytest.raises(zp.ZygopyError, match=r"`a` and `b` share memory"):
        zp.gradient(f, x, x, W)
    (_, gb, gw) = zp.gradient(f, X.copy(), X.copy(), W)  # separate arrays: fine
    assert gw == 0.0 and gb[0] == 2 * X[0]


def a_list_sliced_then_set(x, w):
    xs = [x[0], x[1] * 2.0]
    ys = xs[:]  # a new list (of an array, a slice would be a view)
    ys[0] = w
    zs = xs.copy()
    zs[1] = w * w
    return xs[0] + ys[0] + xs[1] + zs[1] + np.sum(x)


def test_slices_and_copies_of_lists_are_new_lists():
    test_updates_of_unshared_arrays_differentiate(a_list_sliced_then_set)


# -- settled at run time: the other name's value shares the written memory or not ----


def gauss_seidel_step(x, w):
    y = x * 1.0
    for i in range(4):
        old = y[i]  # a number: a copy of the element
        y[i] = 0.5 * old + w * y[i - 1]
    return np.sum(y**2)


def euler(x, w):
    traj = np.zeros((3, 2))
    traj[0] = x[:2]
    for k in range(2):
        p, q = traj[k]  # numbers
        traj[k + 1, 0] = p + w * q
        traj[k + 1, 1] = q - w * p
    return np.sum(traj**2)


def previous_row(x, w):
    A = np.zeros((3, 2))
    A[0] = x[:2]
    for t in range(1, 3):
        prev = A[t - 1]  # a view of another row than the one written
        A[t] = w * prev
    return np.sum(A**2)


def helper_result(x, w):
    u = x * w

    def laplacian(v):
        return v[2:] - 2 * v[1:-1] + v[:-2]

    lap = laplacian(u)  # a new array
    u[1:-1] += 0.1 * lap
    return np.sum(u**2) + np.sum(lap)


def fresh_buffer_each_pass(x, w):
    a = x * 1.0
    for _ in range(3):
        c = np.zeros_like(a)
        c[0] = a[0] * w
        a = c
    return np.sum(a) + np.sum(x)


def enumerate_elements(x, w):
    y = x * w
    for i, yi in enumerate(y):
        y[i] = yi * yi + 1
    return np.sum(y)


@pytest.mark.parametrize("f", [gauss_seidel_step, euler, previous_row, helper_result,
                               fresh_buffer_each_pass, enumerate_elements],
                         ids=lambda f: f.__name__)
def test_updates_whose_other_name_shares_nothing_at_run_time(f):
    test_updates_of_unshared_arrays_differentiate(f)


def diag_view(x, w):
    M = np.outer(x, x) + w
    d = np.diag(M)  # a view of M's diagonal
    M += np.eye(4)
    return np.sum(d) + np.sum(M)


def row_view_overwritten(x, w):
    A = np.outer(x, x)
    row = A[1]
    A[1] = w  # the row read after is this memory
    return np.sum(row) + np.sum(A)


@pytest.mark.parametrize("f", [diag_view, row_view_overwritten], ids=lambda f: f.__name__)
def test_updates_whose_other_name_shares_the_memory_at_run_time_are_refused(f):
    with pytest.raises(zp.UnsupportedSyntax, match="shares its array or list with") as info:
        zp.gradient(f, X.copy(), W)
    assert __file__ in str(info.value)


def _bump(r, w):
    r += w  # in place when r is an array
    return r


def calls_a_bumping_helper(x, w):
    a = x * 1.0
    b = _bump(a, w)
    return np.sum(a**2) + np.sum(b)


def test_a_helper_adding_in_place_to_its_array_argument_is_refused():
    with pytest.raises(zp.ZygopyError, match=r"_bump changes its argument `r` in place"):
        zp.gradient(calls_a_bumping_helper, X.copy(), W)
    assert zp.gradient(lambda x, w: _bump(x * 1.0, w) * 2.0, 1.5, 0.5) == (2.0, 2.0)


def loops_over_what_it_updates(x, w):
    a = np.outer(x[:3], x[:3])
    s = 0.0
    for i, r in enumerate(a):
        if i + 1 < len(a):
            a[i + 1] += w * r  # the loop reads row i + 1 after this
        s = s + np.sum(r * r)
    return s


def test_an_update_of_the_iterated_array_is_refused():
    with pytest.raises(zp.UnsupportedSyntax, match="inside the loop over `a`"):
        zp.gradient(loops_over_what_it_updates, X.copy(), W)


def a_view_through_a_rebound_name(x, w):
    a = np.outer(x[:2], x[:2])
    tmp = a[0]
    row = tmp
    tmp = np.zeros(2)
    a[0, 0] = w
    return np.sum(row * row) + np.sum(tmp)


def elements_swapped(x, w):
    a = x * 1.0
    v = a[:2]
    a[0], a[1] = a[1] * w, a[0]
    return np.sum(v * v)


@pytest.mark.parametrize("f", [a_view_through_a_rebound_name, elements_swapped],
                         ids=lambda f: f.__name__)
def test_more_ways_of_sharing_are_refused(f):
    with pytest.raises(zp.UnsupportedSyntax, match="shares its array or list with"):
        zp.gradient(f, X.copy(), W)


def writes_beside_a_column(x, w):
    a = np.outer(x[:2], x[:2])
    c0 = a[:, 0]  # shares the bounds of the column written, not its elements
    a[:, 1] = w * c0
    return np.sum(a**2) + np.sum(c0)


def test_a_view_beside_the_written_memory_is_not_shared():
    test_updates_of_unshared_arrays_differentiate(writes_beside_a_column)


def test_a_deep_model_holding_functions_is_looked_into():
    import layers

    class Holder:
        def __init__(self, n):
            self.inner = layers.f64(layers.Dense(n, n, np.tanh))

        def __call__(self, x):
            return self.inner(x)

    class Model:
        def __init__(self):
            self.tok = layers.f64(layers.Dense(4, 4))
            self.blocks = [Holder(4)]

        def __call__(self, x):
            h = self.tok(x)
            h *= 2.0  # h is new: nothing in the model shares it
            return self.blocks[0](h)

    m = Model()
    x = np.random.default_rng(0).standard_normal((2, 4))
    (g,) = zp.gradient(lambda m: np.sum(m(x) ** 2), m)
    assert g.tok.weight.shape == (4, 4) and np.any(g.blocks[0].inner.weight != 0)


def kv_cache(x, w):
    K = np.zeros((4, 4))
    out = 0.0
    for t in range(4):
        K[t] = np.tanh(x * w + t)
        keys = K[: t + 1]  # a view, taken anew after each write: dead at the next one
        out = out + np.sum(np.exp(keys @ x))
    return out


def kv_cache_two_names(x, w):
    K = np.zeros((4, 4))
    out = 0.0
    for t in range(4):
        K[t] = x * w + t
        keys = K[: t + 1]
        k2 = keys.T  # derived from the new view: also taken after the write
        out = out + np.sum(k2**2)
    return out


def kv_read_before_rebinding(x, w):
    K = np.zeros((4, 4))
    keys = K[:1]
    out = 0.0
    for t in range(4):
        K[t] = x * w + t
        out = out + np.sum(keys**2)  # the view of the previous pass, after the write
        keys = K[: t + 1]
    return out


def kv_rebound_from_itself(x, w):
    K = np.zeros((4, 4))
    keys = K
    out = 0.0
    for t in range(4):
        K[t] = x * w + t
        keys = keys[:]  # still the old view's memory, read after the write
        out = out + np.sum(keys**2)
    return out


def kv_skipped_by_continue(x, w):
    K = np.zeros((4, 4))
    keys = K[:1]
    out = 0.0
    for t in range(4):
        K[t] = x * w + t
        if t == 2:
            continue  # this pass keeps the old view
        keys = K[: t + 1]
        out = out + np.sum(keys**2)
    return out + np.sum(keys)


def kv_rebound_in_a_branch(x, w):
    K = np.zeros((4, 4))
    keys = K[:1]
    out = 0.0
    for t in range(4):
        K[t] = x * w + t
        if t % 2 == 0:
            keys = K[: t + 1]
        out = out + np.sum(keys**2)
    return out


@pytest.mark.parametrize("f", [kv_read_before_rebinding, kv_rebound_from_itself,
                               kv_skipped_by_continue, kv_rebound_in_a_branch],
                         ids=lambda f: f.__name__)
def test_a_stale_view_read_after_a_write_is_refused(f):
    with pytest.raises(zp.UnsupportedSyntax, match="shares its array or list with `keys`"):
        zp.gradient(f, X.copy(), W)


def both_written_by_one_statement(x, w):
    K, V = np.zeros(4), np.ones(4)
    vv = V[:]
    K[0], V[0] = x[0], x[1] * w  # the second array written shares vv too
    return np.sum(vv * x) + np.sum(K)


def both_written_by_a_chain(x, w):
    K, V = np.zeros(4), np.ones(4)
    vv = V[:]
    K[0] = V[0] = x[1] * w
    return np.sum(vv * x) + np.sum(K)


def rows_of(a):
    return [a[0], a[1]]


def a_shallow_copy_of_views(x, w):
    K = np.ones((2, 4))
    snap = rows_of(K).copy()  # a new list, holding the same views
    K[0] = x * w
    return np.sum(snap[0] * x)


def a_copy_module_copy_of_views(x, w):
    K = np.ones((2, 4))
    snap = copy.copy([K[0], K[1]])
    K[0] = x * w
    return np.sum(snap[0] * x)


@pytest.mark.parametrize("f", [both_written_by_one_statement, both_written_by_a_chain,
                               a_shallow_copy_of_views, a_copy_module_copy_of_views],
                         ids=lambda f: f.__name__)
def test_every_array_written_and_shallow_copies_are_followed(f):
    # (each gave a silently wrong gradient)
    with pytest.raises(zp.UnsupportedSyntax, match="shares its array or list with"):
        zp.gradient(f, X.copy(), W)


def a_copy_of_an_array_is_new(x, w):
    a = x * 1.0
    b = a.copy()
    a[0] = w
    return np.sum(a * b)


def test_a_copy_of_an_array_still_differentiates():
    test_updates_of_unshared_arrays_differentiate(a_copy_of_an_array_is_new)


def make_cache():
    return {}


def a_view_kept_in_a_dict_made_elsewhere(x, w):
    K = np.ones(4)
    d = make_cache()
    d["v"] = K[:]  # the dict holds the view itself
    K[0] = x[0] * w
    return np.sum(d["v"] * x)


def test_a_view_stored_in_a_container_made_elsewhere_is_refused():
    # (it gave a silently wrong gradient: d was taken for an array, which copies)
    with pytest.raises(zp.UnsupportedSyntax, match="shares its array or list with `d`"):
        zp.gradient(a_view_kept_in_a_dict_made_elsewhere, X.copy(), W)


def a_trajectory_of_copies(x, w):
    pos = x[:2] * 1.0
    traj = np.zeros((3, 2))
    for t in range(3):
        traj[t] = pos  # an array copies the values in
        pos += w * t  # so changing pos after leaves traj as it was
    return np.sum(traj**2)


def test_an_array_filled_from_a_name_changed_later_differentiates():
    test_updates_of_unshared_arrays_differentiate(a_trajectory_of_copies)


def kv_cache_rebound_as_a_pair(x, w):
    K, V = np.zeros((4, 4)), np.zeros((4, 4))
    out = 0.0
    for t in range(4):
        K[t] = np.tanh(x * w + t)
        V[t] = x * t
        keys, vals = K[: t + 1], V[: t + 1]  # both taken anew after the writes
        out = out + np.sum((keys @ x) * vals[:, 0])
    return out


def kv_cache_with_an_inner_loop_breaking(x, w):
    K = np.zeros((4, 4))
    out = 0.0
    for t in range(4):
        K[t] = x * w + t
        for j in range(3):  # its break leaves this loop only
            if j == 1:
                break
        keys: np.ndarray = K[: t + 1]
        out = out + np.sum(keys**2)
    return out


def kv_cache_with_a_starting_view(x, w):
    K = np.zeros((4, 4))
    keys = K[:1]  # read only before each pass's write, then taken anew
    out = 0.0
    for t in range(4):
        out = out + np.sum(keys)
        K[t] = x * w + t
        keys = K[: t + 1]
        out = out + np.sum(keys**2)
    return out


def a_view_read_after_the_write_then_rebound(x, w):
    a = x * 1.0
    v = a[:2]
    a[0] = w
    s = np.sum(v * v)  # the old view, read after the write
    v = a[2:]
    return s + np.sum(v)


def test_a_view_read_after_the_write_then_rebound_is_refused():
    with pytest.raises(zp.UnsupportedSyntax, match="shares its array or list with `v`"):
        zp.gradient(a_view_read_after_the_write_then_rebound, X.copy(), W)


def rows_recorded_as_copies(x, w):
    out = []
    buf = np.zeros(4)
    for t in range(3):
        buf[t] = x[t] * w
        out.append(buf.copy())  # a new array each pass: nothing shares buf
    return np.sum(np.stack(out) ** 2)


def a_copied_list_of_views(x, w):
    K = np.ones((2, 4))
    rows = [K[0], K[1]]
    snap = rows.copy()  # a new list, holding the same views
    K[0] = x * w
    return np.sum(snap[0] * x)


def test_copies_of_arrays_are_new_and_copies_of_lists_hold_the_same_arrays():
    test_updates_of_unshared_arrays_differentiate(rows_recorded_as_copies)
    with pytest.raises(zp.UnsupportedSyntax, match="shares its array or list with `snap`"):
        zp.gradient(a_copied_list_of_views, X.copy(), W)


def kv_cache_rebound_in_both_branches(x, w):
    K = np.zeros((4, 4))
    out = 0.0
    for t in range(4):
        K[t] = x * w + t
        if t % 2 == 0:
            keys = K[: t + 1]
        else:
            keys = K[t:]
        out = out + np.sum(keys**2)
    return out


def kv_cache_read_inside_the_branch_before_rebinding(x, w):
    K = np.zeros((4, 4))
    keys = K[:1]
    out = 0.0
    for t in range(4):
        K[t] = x * w + t
        if t % 2 == 0:
            out = out + np.sum(keys)  # the old view, after the write
            keys = K[: t + 1]
        else:
            keys = K[t:]
    return out


def test_a_stale_view_read_inside_a_branch_is_refused():
    with pytest.raises(zp.UnsupportedSyntax, match="shares its array or list with `keys`"):
        zp.gradient(kv_cache_read_inside_the_branch_before_rebinding, X.copy(), W)


@pytest.mark.parametrize("f", [kv_cache, kv_cache_two_names, kv_cache_rebound_as_a_pair,
                               kv_cache_with_an_inner_loop_breaking,
                               kv_cache_with_a_starting_view,
                               kv_cache_rebound_in_both_branches],
                         ids=lambda f: f.__name__)
def test_a_view_taken_anew_after_each_write_differentiates(f):
    # each pass binds the view anew after the write, before any read: the old one
    # is dead (as a pair, in every branch, after an inner loop's break, or with a
    # starting view bound before the loop)
    test_updates_of_unshared_arrays_differentiate(f)
