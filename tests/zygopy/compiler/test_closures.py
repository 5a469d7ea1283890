"""Closures read their variables when called (late binding). Where a closure
may read a variable assigned after the closure was made, its gradient would
reach the older value: zygopy refuses those programs at the closure's line,
and differentiates the safe patterns correctly."""

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
