"""Emit: its direct writing of A-normal-form statements gives exactly astor's
text, and its line map points each generated line at the user's line."""

import ast

import astor
import pytest
from corpus import CORPUS
from golden_functions import CASES

from zygopy import UnsupportedSyntax, compiler
from zygopy.compiler import emit
from zygopy.runtime import tracebacks


class _AstorOnly(emit._Generator):
    visit_Assign = astor.SourceGenerator.visit_Assign
    visit_Expr = astor.SourceGenerator.visit_Expr
    visit_Return = astor.SourceGenerator.visit_Return


STATEMENTS = """
a = -(x + y)
a = (x + y) * z - w / (u * v) % 3
a = x ** -y
a = (-x) ** 2
a = -x ** 2
a = x ** y ** z
a = (x ** y) ** z
a = 2 ** (2 - 1) * x ** (i - 1)
a = not (x > y)
a = not x
a = x < y < z
a = (a < b) == c
a = x is not None
a = ~x & y | z ^ w << 1 >> 2
a = f(x + y, -z, k=2, **kw)
a = np.sum(x, axis=0)
a = g(*xs)
a = x[i + 1]
a = x[-1]
a = x[1:]
a = x[i, j]
a = x - (y - z)
a = x / (y * z)
a = d_t1 * (2 * x ** (2 - 1))
a = (x, (y,), ())
a, = t
a, b = f(x)
a = 1e300
a = 0.1
a = True + x
a = None
a = 'text'
a = (1).real
a = (x + y).z
a = x.y.z
a = f(x)(y)
a = [x, y]
a = x if c else y
f(x)
return x, (y,)
return
return -x
""".strip().splitlines()


def _both(statement):
    tree = ast.parse(statement if not statement.startswith("return") else
                     "def f():\n    " + statement).body
    texts = []
    for generator in (emit._Generator, _AstorOnly):
        g = generator(" " * 4)
        g.visit(ast.Module(tree, []))
        texts.append("".join(g.result))
    return texts


@pytest.mark.parametrize("statement", STATEMENTS)
def test_direct_writing_is_astors_text_for_awkward_expressions(statement):
    fast, slow = _both(statement)
    assert fast == slow


FUNCTIONS = [(fn, ("scalar",) * n) for fn, n, _ in CORPUS] + \
    [(fn, ("any",) * fn.__code__.co_argcount) for fn, *_ in CORPUS] + \
    [(shown, ("any",) * shown.__code__.co_argcount) for *_, shown in CASES]


@pytest.mark.parametrize("fn,kinds", FUNCTIONS,
                         ids=[f"{f.__name__}-{k[0] if k else ''}" for f, k in FUNCTIONS])
def test_direct_writing_is_astors_text(fn, kinds, monkeypatch):
    try:
        fast = compiler.compile_function(fn, kinds, False, False).text
    except UnsupportedSyntax as exc:  # refused for these kinds: nothing to print
        pytest.skip(str(exc).splitlines()[0])
    monkeypatch.setattr(emit, "_Generator", _AstorOnly)
    assert compiler.compile_function(fn, kinds, False, False).text == fast


def _example(x, y):
    a = x * y
    if a > 1.0:
        b = a / (y - 2.0)
    else:
        b = a
    return b + x


def test_line_map_names_the_user_lines_of_forward_and_backward():
    compiled = compiler.compile_function(_example, ("scalar", "scalar"), False, False)
    filename = compiled.forward.co_filename
    first = _example.__code__.co_firstlineno

    def user_line(text, phase):
        """The user's line (counted from the def) of the generated line that
        starts with `text` in the `phase` function."""
        for number, line in enumerate(compiled.text.splitlines(), start=1):
            where = tracebacks.user_location(filename, number)
            if line.strip().startswith(text) and where and where[3] == phase:
                return where[2] - first
        raise AssertionError(f"no {phase} line {text!r}")

    assert user_line("a = x * y", "forward") == 1
    assert user_line("b = a / _t", "forward") == 3
    assert user_line("return _t", "forward") == 6
    assert user_line("# adjoint of: b = a / (y - 2.0)", "backward") == 3
    assert user_line("# adjoint of: a = x * y", "backward") == 1
    assert user_line("dx = dx + da * y", "backward") == 1
    # numbered as zygopy.source shows the code: the code objects agree
    assert compiled.forward.co_firstlineno == 2
    assert compiled.text.splitlines()[compiled.backward.co_firstlineno - 1].startswith(
        "def _example_backward(")
    assert ast.parse(compiled.text)
