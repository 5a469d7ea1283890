"""Closures read their variables when called (late binding). Where a closure
may read a variable assigned after the closure was made, its gradient would
reach the older value: zygopy refuses those programs at the closure's line,
and differentiates the safe patterns correctly."""

import numpy as np
import pytest

import zygopy as zp
from zygopy.testing import check_grads


def rebound_then_called(x, y):
    z = x
    h = lambda: z * y
    z = 3.0 * x
    return h()


def made_in_a_loop_and_kept(x, y):
    fs = []
    for i in range(2):
        s = x * (i + 1)
        fs.append(lambda: s * y)  # noqa: B023  (the late binding under test)
    return fs[0]() + fs[1]()


def reads_its_comprehension_variable(x, y):
    fs = [lambda: v * y for v in [x, 2.0 * x]]  # noqa: B023
    return fs[0]() + fs[1]()


def nested_def_rebound(x, y):
    s = x

    def g():
        return s * y

    s = s * s
    return g()


def active_defaults(x, y):
    fs = [lambda t, v=v: t * v for v in [x, 2.0 * x]]
    return fs[0](y) + fs[1](y)


@pytest.mark.parametrize("f, what", [
    (rebound_then_called, "reads `z` after `z` is assigned again"),
    (made_in_a_loop_and_kept, "reads `s` after `s` is assigned again"),
    (reads_its_comprehension_variable, "reads its loop variable `v`"),
    (nested_def_rebound, "reads `s` after `s` is assigned again"),
    (active_defaults, "a default value that reads `v`"),
])
def test_refused_at_the_closure_with_the_variable_named(f, what):
    with pytest.raises(zp.UnsupportedSyntax, match=what) as info:
        zp.gradient(f, 0.7, -1.3)
    text = str(info.value)
    assert __file__ in text and "Possible fixes" in text


def called_before_the_rebinding(x, y):
    z = x
    h = lambda: z * y
    r = h()
    z = 3.0 * x
    return r + z


def made_and_called_in_each_pass(x, y):
    total, s = 0.0, x
    for _ in range(3):
        s = s * x
        f = lambda: s * y  # noqa: B023  (called in the same pass)
        total = total + f()
    return total


def counters_as_defaults(x, y):
    fs = [lambda t, k=k: t * k for k in range(3)]
    gs = []
    for j in range(2):
        gs.append(lambda t, j=j: t + j)
    return sum([f(x) for f in fs]) * y + gs[1](x)


def counters_from_range(x, y):
    fs = [lambda t: t * k for k in range(3)]  # noqa: B023  (every one reads k = 2)
    return sum([f(x) for f in fs]) * y


@pytest.mark.parametrize("f", [called_before_the_rebinding, made_and_called_in_each_pass,
                               counters_from_range, counters_as_defaults])
def test_safe_patterns_differentiate_correctly(f):
    check_grads(f, 0.7, -1.3)


def defaults_from_constants(x, y):
    k = 2.5  # computed from no argument: no gradient to lose

    def h(a, b=k):
        return a * b

    return h(x) + h(y, 2.0)


def test_a_default_read_from_a_constant_is_fine():
    check_grads(defaults_from_constants, 0.7, -1.3)


# -- containers changed in place by a function that does not own them ----------------
def _sets_first(a, v):
    a[0] = v * 2.0
    return 0.0


def helper_changes_its_argument(x, y):
    a = np.array([x, y])
    _sets_first(a, y)
    return np.sum(a * a)


def closure_fills_a_memo(x, y):
    memo = {}

    def fib(n):
        if n in memo:
            return memo[n]
        r = x if n < 2 else fib(n - 1) * y + fib(n - 2)
        memo[n] = r
        return r

    return fib(4)


def closure_bumps_an_array(x, y):
    a = np.array([x, y])

    def bump():
        a[1] += x

    bump()
    return np.sum(a ** 2)


def test_a_helper_changing_its_argument_is_refused_when_called_from_differentiated_code():
    with pytest.raises(zp.ZygopyError, match="changes its argument `a` in place"):
        zp.gradient(helper_changes_its_argument, 0.7, -1.3)


@pytest.mark.parametrize("f, name", [(closure_fills_a_memo, "memo"),
                                     (closure_bumps_an_array, "a")])
def test_a_closure_changing_its_parents_container_is_refused(f, name):
    with pytest.raises(zp.UnsupportedSyntax, match=f"in-place update of `{name}`, an enclosing"):
        zp.gradient(f, 0.7, -1.3)
