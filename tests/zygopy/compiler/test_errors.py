"""Errors a user can act on: what they say, not only their type."""

import inspect
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import zygopy as zp
from zygopy.testing import check_grads


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


def test_generator_expression_outside_a_consuming_builtin_is_refused():
    def f(x):
        return any(v > 0 for v in [x]) * x

    with pytest.raises(zp.UnsupportedSyntax, match="a generator expression") as info:
        zp.gradient(f, 1.0)
    assert "any([f(x) for x in xs])" in str(info.value)


def by_eval(x):
    return x * eval("x")


def by_locals(x):
    y = x * x
    return locals()["y"]


def by_vars(x):
    y = x * x  # noqa: F841  (read through locals())
    return vars()["y"]


@pytest.mark.parametrize("f", [by_eval, by_locals, by_vars], ids=lambda f: f.__name__)
def test_code_and_variables_reached_by_name_are_refused(f):
    # (they gave a zero or a partial gradient)
    name = f.__name__.removeprefix("by_")
    with pytest.raises(zp.UnsupportedSyntax, match=rf"{name}\(\) .* zero gradient") as info:
        zp.gradient(f, 3.0)
    assert f"{name}(" in str(info.value).splitlines()[2]  # the user's source line


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


@pytest.mark.parametrize("f, name", [
    (lambda v: np.sum(np.abs(np.fft.fft(v))), "np.fft.fft"),
    (lambda v: np.sum(np.linalg.eig(np.diag(v))[0]), "np.linalg.eig"),
], ids=["fft", "eig"])
def test_a_missing_rule_names_the_numpy_function_as_written(f, name):
    with pytest.raises(zp.NoRuleError, match=rf"no gradient rule for {name}:"):
        zp.gradient(f, np.ones(3))


def test_non_scalar_output_points_to_pullback_and_jacobian():
    def f(x):
        return x * np.ones(3)

    with pytest.raises(zp.NotScalarError) as info:
        zp.gradient(f, 1.0)
    text = str(info.value)
    assert "shape (3,)" in text
    assert "pullback" in text and "jacobian" in text


# -- exceptions raised while generated code runs -----------------------------
def divides(x, y):
    a = x * y
    b = a / (y - 2.0)
    return b + x


def root_of_square(x):
    y = x * x
    return math.sqrt(y) + x


def picks(x):
    xs = [x, 2 * x]
    return xs[3] * x


def projects(W, x):
    z = W @ x
    return np.sum(z**2)


def calls_helper(x):
    y = helper_divides(x) * 2.0
    return y


def helper_divides(x):
    return x / (x - 1.0)


def with_closure(x):
    def inner(z):
        return z / (z - x)

    return inner(x) + 1.0


def _line_of(fn, text):
    """The file line number of the first line of `fn` that contains `text`."""
    lines, first = inspect.getsourcelines(fn)
    return first + next(i for i, line in enumerate(lines) if text in line)


def _note(info):
    notes = getattr(info.value, "__notes__", [])
    assert len(notes) == 1, notes  # annotated once, however deep
    return notes[0]


def test_forward_error_keeps_its_type_and_names_the_user_line():
    with pytest.raises(ZeroDivisionError) as info:
        zp.gradient(divides, 1.0, 2.0)
    note = _note(info)
    assert "forward pass" in note and "of divides" in note
    assert f'File "{__file__}", line {_line_of(divides, "b = a /")}' in note
    assert "b = a / (y - 2.0)" in note
    assert "zygopy.source(divides)" in note


def test_backward_error_names_the_line_whose_gradient_failed():
    # sqrt is fine at 0, its derivative 1 / (2 sqrt(y)) is not
    with pytest.raises(ZeroDivisionError) as info:
        zp.gradient(root_of_square, 0.0)
    note = _note(info)
    assert "backward pass" in note and "of root_of_square" in note
    assert f"line {_line_of(root_of_square, 'math.sqrt')}" in note
    assert "return math.sqrt(y) + x" in note


def test_index_error_points_at_the_subscript():
    with pytest.raises(IndexError) as info:
        zp.gradient(picks, 1.0)
    note = _note(info)
    assert f"line {_line_of(picks, 'xs[3]')}" in note
    assert "return xs[3] * x" in note


def test_numpy_shape_error_points_at_the_matmul():
    with pytest.raises(ValueError, match="matmul") as info:
        zp.gradient(projects, np.ones((2, 3)), np.ones(4))
    note = _note(info)
    assert f"line {_line_of(projects, 'W @ x')}" in note and "z = W @ x" in note


def test_a_cotangent_of_the_wrong_shape_is_refused_before_the_backward_pass():
    _, back = zp.pullback(projects, np.ones((2, 3)), np.ones(3))
    with pytest.raises(ValueError, match=r"has shape \(2,\), but the output has shape \(\)"):
        back(np.ones(2))  # a cotangent of the wrong shape for a scalar output
    _, back = zp.pullback(lambda x: x * 2.0, np.ones(3))
    with pytest.raises(ValueError, match=r"has shape \(\), but the output has shape \(3,\)"):
        back(1.0)  # a number for an array output (it gave a float gradient, silently)


def fragile(x):
    return x * 2.0


@zp.rule(fragile)
def _fragile_rule(x):
    def fragile_pullback(dy):
        raise ValueError("this pullback always fails")

    return x * 2.0, fragile_pullback


def calls_fragile(x):
    y = fragile(x)
    return y * y


def test_an_error_in_the_backward_pass_points_at_the_users_line():
    with pytest.raises(ValueError, match="always fails") as info:
        zp.gradient(calls_fragile, 1.5)
    note = _note(info)
    assert "backward pass" in note
    assert "y = fragile(x)" in note


def test_error_in_a_called_user_function_names_the_callee_once():
    with pytest.raises(ZeroDivisionError) as info:
        zp.gradient(calls_helper, 1.0)
    note = _note(info)
    assert "of helper_divides" in note
    assert f"line {_line_of(helper_divides, 'return x /')}" in note
    assert "calls_helper" not in note


def test_error_in_a_closure_names_the_users_nested_function():
    with pytest.raises(ZeroDivisionError) as info:
        zp.gradient(with_closure, 1.0)
    note = _note(info)
    assert "with_closure.<locals>.inner" in note
    assert f'File "{__file__}", line {_line_of(with_closure, "z / (z - x)")}' in note
    assert "return z / (z - x)" in note


def test_traceback_line_numbers_are_those_of_source():
    with pytest.raises(ZeroDivisionError) as info:
        zp.gradient(divides, 1.0, 2.0)
    tb = info.tb
    while tb.tb_next is not None:
        tb = tb.tb_next
    generated = zp.source(divides).splitlines()
    assert "a / _t1" in generated[tb.tb_lineno - 1]


def test_without_notes_the_message_carries_the_line(monkeypatch):
    """Python 3.10 has no exception notes: the text goes into the message."""
    from zygopy.runtime import tracebacks

    monkeypatch.setattr(tracebacks, "_HAS_NOTES", False)
    with pytest.raises(ZeroDivisionError) as info:
        zp.gradient(divides, 1.0, 2.0)
    assert "b = a / (y - 2.0)" in str(info.value)
    assert not getattr(info.value, "__notes__", None)


def test_no_rule_error_also_names_the_calling_line():
    weird = np.frompyfunc(lambda v: v * 2, 1, 1)

    def f(x):
        return weird(x)

    with pytest.raises(zp.NoRuleError) as info:
        zp.gradient(f, 1.0)
    assert "return weird(x)" in _note(info)


# -- functions without source --------------------------------------------------
def test_function_without_source_is_a_clear_error():
    namespace = {}
    exec("def made_by_exec(x):\n    return x * x\n", namespace)  # noqa: S102
    with pytest.raises(zp.NoSourceError) as info:
        zp.gradient(namespace["made_by_exec"], 3.0)
    text = str(info.value)
    assert isinstance(info.value, OSError)  # what inspect raised before
    assert "cannot read the source of made_by_exec" in text
    assert "<string>" in text
    assert "define made_by_exec in a .py file" in text
    assert "@zygopy.rule(made_by_exec)" in text


def test_function_from_python_dash_c_is_a_clear_error():
    code = (
        "import zygopy as zp\n"
        "def f(x):\n"
        "    return x * x\n"
        "try:\n"
        "    zp.gradient(f, 3.0)\n"
        "except zp.NoSourceError as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=root, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert "NoSourceError zygopy cannot read the source of f" in out.stdout


def test_a_call_with_missing_arguments_names_the_function():
    def two(x, y):
        return x * y

    with pytest.raises(TypeError, match=r"two\(\) missing a required argument: 'y'"):
        zp.gradient(two, 1.0)


def shadows_math(x):
    math = 3.0  # hides the module the generated scalar formulas call
    return x * math


def names_a_guard(x):
    _guard0 = x * 2
    return np.tanh(_guard0)


def names_the_cotangent(x):
    _dout = x * 2  # the backward's own argument: its gradient was silently wrong
    return np.sin(_dout) * _dout


@pytest.mark.parametrize("f, name", [(shadows_math, "math"), (names_a_guard, "_guard0"),
                                     (names_the_cotangent, "_dout")])
def test_a_local_with_a_name_generated_code_uses_is_refused(f, name):
    with pytest.raises(zp.UnsupportedSyntax, match=f"local variable named `{name}`") as e:
        zp.gradient(f, 0.7)
    assert __file__ in str(e.value) and f"rename the variable `{name}`" in str(e.value)


def validates(x, n=2):
    if x.ndim != 1:
        raise ValueError(f"expected a vector, got shape {x.shape}")
    tot = 0.0
    for i in range(n):
        if i > 5:
            raise RuntimeError("too many passes")
        tot = tot + np.sum(np.sin(x) * i)
    return tot


def test_raise_is_kept_in_the_forward_pass():
    """Input checks in differentiated code run as written: the gradient where
    they pass, the user's exception (noting the user's line) where they fail."""
    from zygopy.testing import check_grads

    check_grads(validates, np.array([0.3, -0.2]))
    with pytest.raises(ValueError, match="expected a vector") as info:
        zp.gradient(validates, np.ones((2, 2)))
    assert "raise ValueError" in "".join(getattr(info.value, "__notes__", []))
    with pytest.raises(RuntimeError, match="too many passes"):
        zp.gradient(validates, np.array([0.3, -0.2]), 7)


def walrus(x):
    if (n := len(x)) > 2:
        s = np.sum(x[: n - 1] ** 2)
    else:
        s = 0.0
    i = 0
    while (i := i + 1) < 3:
        s = s + x[i] * i
    ys = [z for v in x if (z := v * 2) > 0]
    return ((y := np.sin(x[0])) * y + s + sum(ys)) * n


def test_assignment_expressions_differentiate():
    from zygopy.testing import check_grads

    check_grads(walrus, np.array([0.3, -0.2, 0.5]))


# -- attributes and methods of numbers and arrays: a rule, or a clear refusal --------
def reads_real_parts(x, a):
    return x.real * 2.0 + x.imag + x.conjugate() * a.sum() + np.sum(a.real * a.conj()) \
        + np.sum(np.real(a) + np.imag(a)) + (x * 2.0).is_integer()


def test_real_parts_of_real_values_differentiate():
    check_grads(reads_real_parts, 0.7, np.array([0.5, -1.5]))
    gx, _ = zp.gradient(reads_real_parts, 0.7, np.array([0.5, -1.5]))
    assert gx == pytest.approx(2.0 - 1.0)  # x.real * 2 + x.conjugate() * sum(a)


def reads_flat(a):
    return a.flat[3] * a.flat[1]


def test_an_arrays_attribute_without_a_rule_is_refused():
    """`a.flat` is neither an object's field nor has it a rule: refused (its
    gradient was an empty structure, silently zero)."""
    with pytest.raises(zp.NoRuleError, match="ndarray.flat"):
        zp.gradient(reads_flat, np.arange(6.0))


def test_a_numbers_method_without_a_rule_is_refused():
    with pytest.raises(zp.NoRuleError, match="method of a differentiable"):
        zp.gradient(lambda x: x.__round__(2) * 3.0, 0.75)


def test_library_code_is_named_not_compiled():
    import statistics

    with pytest.raises(zp.NoRuleError, match=r"no gradient rule for statistics.mean "
                       r"\(statistics's own Python code is not compiled: .* numpy's"):
        zp.gradient(lambda x: statistics.mean([x, 2 * x]), 1.0)


def test_math_of_an_array_raises_as_python_does():
    # (it ran elementwise: a value plain Python never gives)
    f = lambda v: np.sum(math.sin(v))
    with pytest.raises(TypeError, match="only 0-dimensional arrays"):
        f(np.array([0.5, 1.0]))
    with pytest.raises(TypeError, match="only 0-dimensional arrays"):
        zp.gradient(f, np.array([0.5, 1.0]))
    assert zp.gradient(lambda v: math.sin(v) * 2, np.array(1.5))[0] == pytest.approx(
        2 * math.cos(1.5))
