"""Methods of dicts, lists and tuples inside differentiated code: those that
read are differentiated; those that change a container of differentiable
values in place raise NoRuleError naming the method (running them would
leave the gradient pointing at the old contents)."""

import collections
import functools
import itertools
import math
import re

import numpy as np
import pytest

import zygopy as zp
from zygopy.testing import check_grads

LOG = []  # a module-level log: appending to it is an effect outside the math


def dict_reads(x, y):
    d = {"a": x, "b": y * y}
    total = 0.0
    for k, v in d.items():
        total = total + v * len(k)
    return sum(d.values()) * d.get("a") + d.get("missing", y) + total


def copies(x, y):
    xs = [x, y]
    ys = xs.copy()
    d = {"p": x * y}
    e = d.copy()
    return ys[0] * xs[1] + e["p"]


def builds_dicts(x, y):
    a = dict(a=x, b=y * y)  # noqa: C408  (the constructor under test)
    b = dict([("a", x), ("b", y), ("a", x * y)])  # noqa: C406  (the last "a" wins)
    c = dict({"a": x, "b": y}, b=x * x)
    return a["a"] * a["b"] + b["a"] + 2.0 * b["b"] + c["a"] * c["b"]


def counts_and_indexes(x, y):
    xs = [x, y, x]
    return xs.count(x) * y + xs.index(y) * x


def inactive_lists_may_change(x, y):
    order = [2, 0, 1]
    order.sort()
    order.reverse()
    vals = [x, y, x * y]
    return vals[order[0]] + vals[order[-1]]


def logs_to_a_global(x, y):
    LOG.append(x)  # not part of the computation: runs as it is
    return x * y


@pytest.mark.parametrize("f", [dict_reads, copies, builds_dicts, counts_and_indexes,
                               inactive_lists_may_change, logs_to_a_global])
def test_reading_methods_differentiate(f):
    check_grads(f, 0.7, -1.3)


def reverses(x, y):
    xs = [x, y]
    xs.reverse()
    return xs[0] * 2.0


def inserts(x, y):
    xs = [x, y]
    xs.insert(0, y * y)
    return xs[0] + xs[1]


def pops_callers(x, y):
    return pops_from([x, y])


def pops_from(xs):
    z = xs.pop()  # the caller's list: it would read the popped item's gradient
    return z * xs[0]


def updates(x, y):
    d = {"a": x}
    d.update({"a": y})
    return d["a"] * 2.0


def closure_appends(x, y):
    acc = [0.0]

    def add(v):
        acc.append(acc[-1] + v)

    add(x)
    add(x * y)
    return acc[-1]


@pytest.mark.parametrize("f, method", [
    (reverses, "list.reverse"), (inserts, "list.insert"), (pops_callers, "list.pop"),
    (updates, "dict.update"), (closure_appends, "list.append"),
])
def test_changing_a_container_of_differentiable_values_is_refused(f, method):
    with pytest.raises(zp.NoRuleError, match=method) as info:
        zp.gradient(f, 0.7, -1.3)
    assert "build a new" in str(info.value) and "in place" in str(info.value)


# -- arrays -----------------------------------------------------------------------

def sorts_in_place(x, y):
    a = np.array([x, y])
    a.sort()
    return a[0] * 3.0 + a[1]


def fills(x, y):
    a = np.zeros(3)
    a.fill(x)
    return np.sum(a) * y


def multiplies_at(x, y):
    a = np.array([x, y, x])
    np.multiply.at(a, [0, 0], y)  # np.add.at is differentiated (test_rewrites.py)
    return np.sum(a * a)


@pytest.mark.parametrize("f, method", [
    (sorts_in_place, "ndarray.sort"), (fills, "ndarray.fill"), (multiplies_at, "ufunc.at"),
])
def test_array_methods_changing_arrays_in_place_are_refused(f, method):
    with pytest.raises(zp.NoRuleError, match=method):
        zp.gradient(f, 0.7, -1.3)


class Holder:
    def __init__(self, w):
        self.w = w


def through_a_view(x, y):
    a = np.array([[x, y], [y, x]])
    a.T[0, 1] = 5.0 * x
    return np.sum(a * a)


def through_a_field(h, x):
    h.w[1] = x
    return np.sum(h.w ** 2)


def through_a_row(x, y):
    a = np.array([[x, y], [y, x]])
    a[0][1] = 5.0 * x
    return np.sum(a * a)


@pytest.mark.parametrize("f, args, what", [
    (through_a_view, (0.7, -1.3), "a.T"),
    (through_a_field, (Holder(np.array([0.5, -0.3])), 0.7), "h.w"),
    (through_a_row, (0.7, -1.3), "a[0]"),
])
def test_updates_through_an_expression_are_refused_at_the_line(f, args, what):
    with pytest.raises(zp.UnsupportedSyntax, match=f"in-place update through `{re.escape(what)}`") as e:
        zp.gradient(f, *args)
    assert __file__ in str(e.value) and "a[i, j] = v" in str(e.value)


# -- map, filter, reduce, reversed, sorted ----------------------------------------


def maps(x, y):
    return sum(map(lambda t: t * y, [x, y, 2.0])) + \
        sum(map(lambda a, b: a * b, [x], [y]))  # noqa: C417  (map under test)


def filters(x, y):
    kept = list(filter(lambda t: t > 0, [x, y, x * y]))
    return kept[0] * 3.0 + len(kept)


def reduces(x, y):
    return functools.reduce(lambda a, b: a * b + y, [x, y, x]) + \
        functools.reduce(lambda a, b: a + b * b, [x, y], 0.5)


def reverses_and_sorts(x, y):
    r = list(reversed((x, y, x * y)))
    s = sorted([y, x, x * y], key=abs, reverse=True)
    return r[0] + 2.0 * r[2] + s[0] * 5.0 + s[-1]


def extremes_of_generators(x, y):
    return max(v * v for v in [x, y]) + min(x * k for k in range(1, 3)) + \
        sorted(v * 2.0 for v in (y, x))[0]


@pytest.mark.parametrize("f", [maps, filters, reduces, reverses_and_sorts,
                               extremes_of_generators])
def test_functional_builtins_differentiate(f):
    check_grads(f, 0.7, -1.3)


# -- values read out of arrays, arrays made from values, random draws -------------
def reads_items(x, y):
    a = np.array([x, y])
    return a.sum().item() * x + sum(a.tolist()) * y + a.item(1)


def makes_arrays(x, y):
    a = np.linspace(0.0, x, 5)
    b = np.full(3, y) + np.full_like(a[:3], x * y)
    c = np.arange(x, 4.0, 0.5 + y * y)
    return np.sum(a * y) + np.sum(b ** 2) + np.sum(c) + np.ptp(a) + np.sum(np.diff(c))


@pytest.mark.parametrize("f", [reads_items, makes_arrays])
def test_values_through_items_and_made_arrays(f):
    check_grads(f, 0.7, -1.3)


RNG = np.random.default_rng(0)


def draws_with_parameters(mu, s):
    return np.sum(RNG.normal(mu, s, size=3))


def draws_uniform(lo, hi):
    return np.sum(np.random.uniform(lo, hi, 4))


def draws_and_transforms(mu, s):
    return np.sum(mu + s * RNG.standard_normal(3))


@pytest.mark.parametrize("f, name", [(draws_with_parameters, "normal"),
                                     (draws_uniform, "uniform")])
def test_random_draws_with_differentiable_parameters_are_refused(f, name):
    with pytest.raises(zp.NoRuleError, match=f"{name} draws with differentiable parameters"
                       ) as info:
        zp.gradient(f, 0.5, 1.5)
    assert "reparameterisation trick" in str(info.value)
    assert "@zygopy.rule" not in str(info.value)  # (no rule template: it would not help)
    note = info.value.__notes__[0]  # the user's line, named when compiling
    assert f.__name__ in note and f".{name}(" in note


def test_random_draws_transformed_by_hand_differentiate():
    g = zp.gradient(draws_and_transforms, 0.5, 1.5)
    assert g[0] == 3.0


# -- appending to a list another name (or the caller) also reads --------------------
def appends_to_a_shared_list(x, y):
    xs = [x, y]
    ys = xs
    xs.append(x * y)
    return ys[-1]


def _appends_to_its_argument(xs, v):
    xs.append(v * v)
    return 0.0


def appends_through_a_helper(x, y):
    xs = [x]
    _appends_to_its_argument(xs, y)
    return xs[-1] * x


def appends_to_its_own_list(x, y):
    xs = []
    for v in (x, y, x * y):
        xs.append(v * 2.0)
    return xs[0] * xs[2] + xs[1]


def test_appending_to_a_shared_list_is_refused_at_the_line():
    with pytest.raises(zp.UnsupportedSyntax, match="in-place update of `xs`, which shares"):
        zp.gradient(appends_to_a_shared_list, 0.7, -1.3)


def test_appending_to_the_callers_list_is_refused():
    with pytest.raises(zp.NoRuleError, match="list.append"):
        zp.gradient(appends_through_a_helper, 0.7, -1.3)


def test_appending_to_a_list_of_its_own_differentiates():
    check_grads(appends_to_its_own_list, 0.7, -1.3)


# -- parameters held in plain structures ----------------------------------------------
Params2 = collections.namedtuple("Params2", "W b")


def _loss_of(get_w, get_b):
    def loss(p):
        return np.sum(np.tanh(get_w(p) @ np.array([0.5, -1.0, 2.0]) + get_b(p)) ** 2)
    return loss


@pytest.mark.parametrize("make, get_w, get_b", [
    (lambda W, b: {"W": W, "b": b}, lambda p: p["W"], lambda p: p["b"]),
    (lambda W, b: (W, b), lambda p: p[0], lambda p: p[1]),
    (lambda W, b: [W, b], lambda p: p[0], lambda p: p[1]),
    (Params2, lambda p: p.W, lambda p: p.b),
    (Params2, lambda p: p[0], lambda p: p[1]),
])
def test_gradients_mirror_the_structure_of_the_parameters(make, get_w, get_b):
    rng = np.random.default_rng(0)
    W, b = rng.standard_normal((2, 3)), rng.standard_normal(2)
    params = make(W, b)
    (g,) = zp.gradient(_loss_of(get_w, get_b), params)
    assert type(g) is type(params)
    want_w, want_b = zp.gradient(lambda w, c: _loss_of(lambda p: p[0], lambda p: p[1])((w, c)),
                                 W, b)
    np.testing.assert_allclose(get_w(g), want_w)
    np.testing.assert_allclose(get_b(g), want_b)


def zips_strictly(x, y):
    s = 0.0
    for a, b in zip([x, y], [y, x], strict=True):
        s = s + a * b
    return s


def test_zip_strict_differentiates():
    check_grads(zips_strictly, 0.7, -1.3)


def casts(x, y):
    return float(np.float32(x) * 2.0) + float(np.float64(y) ** 2) + float(np.float16(x))


def test_numpy_scalar_casts_pass_the_gradient_through():
    gx, gy = zp.gradient(casts, 0.75, -1.25)  # values exact in float16 and float32
    assert gx == 3.0 and gy == -2.5


def concatenates(x, y):
    xs = [x, y]
    ys = xs + [x * y]  # each operand gets its own slice of the cotangent
    ys += [y]
    t = (x,) + (y, x * x)
    return ys[2] * 3.0 + ys[3] + ys[0] * ys[1] + t[2] * t[1]


def repeats(x, y):
    xs = [x, y] * 2  # an item's cotangent sums over its copies
    t = 3 * (x * y,)
    return xs[0] * xs[3] + xs[2] + t[0] * 2.0 + t[2]


def arrays_plus_lists_broadcast(x, y):
    a = np.array([x, y]) + [1.0, 2.0]  # numpy's +, not concatenation
    return np.sum(a * a)


@pytest.mark.parametrize("f", [concatenates, repeats, arrays_plus_lists_broadcast])
def test_list_and_tuple_operators_differentiate(f):
    check_grads(f, 0.7, -1.3)
    check_grads(f, 2.0, 0.5)


def pairs_rows(x):
    tot = 0.0
    for i, (a, b) in enumerate(zip(x, x[::-1])):
        tot += i * a * b
    return tot


ROW_FUNCTIONS = [  # Python builtins iterating over an array: one cotangent per row
    pairs_rows,
    lambda x: sum(x) * 2.0 + max(x) * min(x),
    lambda x: sorted(x)[1] * 3.0 + list(x)[2] * tuple(x)[3],
    lambda x: sum(map(lambda v: v * v, x)) + sum(filter(lambda v: v > 2.5, x)),
    lambda x: list(reversed(x))[0] * 5.0 + functools.reduce(lambda a, b: a * b, x),
    lambda x: sum(a * i for i, a in enumerate(x)),
]


@pytest.mark.parametrize("f", ROW_FUNCTIONS)
def test_builtins_over_the_rows_of_an_array(f):
    check_grads(f, np.array([1.0, 2.0, 3.0, 4.0, 5.0]))


@pytest.mark.parametrize("f", [
    lambda m: np.sum(sum(m) ** 2),
    lambda m: sum(np.sum(r * r) for r in m),
    lambda m: sum(a * b for a, b in zip(m, m[::-1])).sum(),
])
def test_builtins_over_the_rows_of_a_matrix(f):
    check_grads(f, np.arange(6.0).reshape(3, 2) + 1)


def pops(x, y):
    xs = [x, y]
    z = xs.pop()
    return z * xs[0]


def pops_a_stack(x, y):
    stack = [x, y, x * y]
    tot = 0.0
    while stack:
        v = stack.pop()
        tot = tot * 0.5 + v
    stack = [x, y]
    stack.pop(0)
    return tot + stack[0]


def extends(x, y):
    xs = [x]
    xs.extend([y, x * y])
    xs.extend((y * y,))
    return xs[2] * xs[0] + xs[3]


@pytest.mark.parametrize("f", [pops, pops_a_stack, extends])
def test_pop_and_extend_on_a_local_list_differentiate(f):
    """Like append, they have functional forms for a list of the function's own."""
    check_grads(f, 0.7, -1.3)


def dict_comprehension(x, y):
    d = {k: v * v for k, v in zip(("a", "b"), (x, y))}
    e = {k: d[k] + x for k in d if k != "b"}
    return d["a"] * d["b"] + e["a"]


def test_dict_comprehensions_differentiate():
    check_grads(dict_comprehension, 0.7, -1.3)


# -- a list read while it grows: the pullback of `xs[-1]` is the item read then -------
def running_sums(x, y):
    out = [x]
    for v in (y, x * y, y):
        out.append(out[-1] + v)
    return out[0] + 2.0 * out[1] + 3.0 * out[2] + out[3]


def running_products_with_a_name(x, y):
    out = [x]
    for v in (y, x):
        last = out[-1]  # an item: the list's growing does not change it
        out.append(last * v + 1.0)
    return sum(out)


def zips_then_grows(x, y):
    xs = [x, y]
    pairs = list(zip(xs, (y, x)))
    xs.append(x * y)
    return pairs[1][0] * pairs[1][1] + xs[2]


def folds(x, y):
    return math.prod([x, y, 2.0]) + math.prod((y,), start=x) + math.fsum([x, y * y]) + \
        sum(itertools.accumulate([x, y, x * y])) + \
        sum(itertools.accumulate((x, y), lambda a, b: a * b + 1.0, initial=y))


@pytest.mark.parametrize("f", [running_sums, running_products_with_a_name,
                               zips_then_grows, folds])
def test_lists_read_while_they_grow_and_folds_differentiate(f):
    check_grads(f, 0.7, -1.3)


def test_running_sums_gradient_by_hand():
    # out = [x, x+y, 2x+y+xy... ]: d/dx and d/dy of the weighted sum, written out
    assert zp.gradient(running_sums, 0.7, -1.3) == pytest.approx(
        (1 + 2 + 3 + 1 + (3 + 1) * -1.3, 2 + 3 + 1 + 1 + (3 + 1) * 0.7))


def arrays_of_a_list_then_grown(x, y):
    xs = [x, y]
    a, b = np.array(xs), np.stack(xs)
    c = np.concatenate([np.atleast_1d(v) for v in xs] + [np.atleast_1d(x)])
    xs.append(x * y)
    return np.sum(a ** 2) + np.sum(b * 3.0) + np.sum(c ** 3) + xs[-1]


def test_arrays_made_of_a_list_that_grows_afterwards():
    check_grads(arrays_of_a_list_then_grown, 0.7, -1.3)


def dict_displays(x, y):
    d = {"a": x, "a": y, "b": x * y}  # the later "a" replaces x: x gets none of it
    e = {"b": 3.0, **d, "c": y}
    f = {**e, "a": 2.0 * x}
    for k, v in d.items():
        d = {**d, k: v * v}
    return d["a"] * 5 + e["b"] * 7 + e["c"] + f["a"] * f["b"] + d["b"]


def test_dict_displays_with_repeated_keys_and_unpacking():
    check_grads(dict_displays, 0.7, -1.3)
