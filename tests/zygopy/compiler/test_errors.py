"""Errors a user can act on: what they say, not only their type."""

import numpy as np
import pytest

import zygopy as zp


def uses_try(x):
    try:
        return x * 2
    except ValueError:
        return x


def decorated_inner(x):
    @staticmethod
    def inner(v):
        return v

    return inner(x)


def test_unsupported_syntax_names_construct_file_line_and_source():
    with pytest.raises(zp.UnsupportedSyntax) as info:
        zp.gradient(uses_try, 1.0)
    text = str(info.value)
    assert "try/except" in text
    assert __file__ in text
    assert f"line {uses_try.__code__.co_firstlineno + 1}" in text
    assert "try:" in text
    assert "Possible fixes" in text


def test_decorated_nested_function_is_refused():
    with pytest.raises(zp.UnsupportedSyntax, match="decorated nested function"):
        zp.gradient(decorated_inner, 1.0)


def test_differentiable_refuses_at_decoration_time():
    with pytest.raises(zp.UnsupportedSyntax, match="generator"):
        @zp.differentiable
        def gen(x):
            yield x


def test_missing_rule_names_the_callee_and_how_to_add_one():
    weird = np.frompyfunc(lambda v: v * 2, 1, 1)

    def f(x):
        return weird(x)

    with pytest.raises(zp.NoRuleError) as info:
        zp.gradient(f, 1.0)
    text = str(info.value)
    assert "no gradient rule for" in text
    assert "@zygopy.rule(" in text
    assert "nondifferentiable" in text


def test_non_scalar_output_points_to_pullback_and_jacobian():
    def f(x):
        return x * np.ones(3)

    with pytest.raises(zp.NotScalarError) as info:
        zp.gradient(f, 1.0)
    text = str(info.value)
    assert "shape (3,)" in text
    assert "pullback" in text and "jacobian" in text
