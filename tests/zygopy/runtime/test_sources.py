"""Finding a function's source: the fast block finder gives what
inspect.getblock gives, on the awkward layouts too."""

import ast
import functools
import inspect
import textwrap

import pytest

import zygopy as zp
from zygopy.runtime import sources


def string_at_column_0(x):
    s = """
text at column 0
"""
    return x + len(s)


def bracket_at_column_0(x):
    y = (x +
x)  # noqa: E128
    return y


@functools.cache
def decorated(x):
    return x


def one_line(x): return x * 2  # noqa: E704


def continued(x,
y=1):  # noqa: E128
    # a comment
# a comment at column 0
    return x \
+ y  # noqa: E128


class Holder:
    def method(self, x):
        return x

    @staticmethod
    def static(x):
        return x


def nests(x):
    def inner(z):
        return z
    return inner(x)


CASES = [string_at_column_0, bracket_at_column_0, decorated.__wrapped__, one_line,
         continued, Holder.method, Holder.static, nests]


def _by_inspect(fn):
    lines, lnum = inspect.findsource(fn)
    tree = ast.parse(textwrap.dedent("".join(inspect.getblock(lines[lnum:]))))
    ast.increment_lineno(tree, lnum)
    return tree.body[0]


@pytest.mark.parametrize("fn", CASES, ids=lambda f: f.__qualname__)
def test_same_tree_and_line_numbers_as_inspect(fn):
    node, filename = sources.function_ast(fn)
    assert filename == fn.__code__.co_filename
    want = ast.dump(_by_inspect(fn), include_attributes=True)
    assert ast.dump(node, include_attributes=True) == want


def test_lambdas_sharing_a_line_and_parameters_are_told_apart():
    import numpy as np

    import zygopy as zp

    first, second = (lambda p: p[0] * 2.0), (lambda p: p[1] * 3.0)
    pair = (np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    (g1,) = zp.gradient(lambda p: np.sum(first(p)), pair)
    (g2,) = zp.gradient(lambda p: np.sum(second(p)), pair)
    np.testing.assert_array_equal(g1[0], [2.0, 2.0])
    np.testing.assert_array_equal(g1[1], [0.0, 0.0])
    np.testing.assert_array_equal(g2[0], [0.0, 0.0])
    np.testing.assert_array_equal(g2[1], [3.0, 3.0])


CONTINUED = (lambda x: x ** 2
             + 3 * x)  # the body goes on on the next line
SPLIT = {"f": (lambda x:
               x ** 3
               - 2 * x)}


def test_a_lambda_whose_body_spans_lines_is_compiled_whole():
    """It was compiled from its first line alone: `x ** 2` for `x ** 2 + 3 * x`."""
    assert zp.gradient(CONTINUED, 1.0) == (5.0,)
    assert zp.gradient(SPLIT["f"], 1.0) == (1.0,)
    assert zp.gradient(lambda x: x ** 2
                       + 3 * x, 2.0) == (7.0,)
