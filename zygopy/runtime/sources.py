"""Source text of generated functions, registered so tracebacks and the compiler see it."""

from __future__ import annotations

import ast
import copy
import inspect
import linecache
import textwrap

_COUNTER = [0]
_SOURCES: dict = {}  # filename -> source text


def register(text: str, name: str) -> str:
    """Put generated `text` in linecache under a unique filename and return it."""
    _COUNTER[0] += 1
    filename = f"<zygopy:{name}:{_COUNTER[0]}>"
    lines = text.splitlines(keepends=True)
    linecache.cache[filename] = (len(text), None, lines, filename)
    _SOURCES[filename] = text
    return filename


def exec_source(text: str, name: str, namespace: dict) -> dict:
    """Compile and run generated `text` in `namespace`, registered for tracebacks."""
    filename = register(text, name)
    exec(compile(text, filename, "exec"), namespace)
    return namespace


def function_source(fn):
    """(source text dedented, filename, first line) of a Python function."""
    lines, filename, lnum = _lines(fn)
    block = inspect.getblock(lines[lnum:])
    return textwrap.dedent("".join(block)), filename, lnum + 1


def function_ast(fn):
    """The `ast.FunctionDef` (or Lambda) of `fn`, line numbers set to the file's."""
    made = _ASTS.get(fn.__code__)
    if made is not None:
        return copy.deepcopy(made[0]), made[1]
    lines, filename, lnum = _lines(fn)
    block = _block(lines, lnum) if fn.__name__ != "<lambda>" else None
    if block is not None:  # the fast way, checked: it parses, to one def
        try:
            tree = ast.parse("\n" * lnum + textwrap.dedent("".join(block)))
        except SyntaxError:
            tree = None
        if tree is not None and len(tree.body) == 1:
            return tree.body[0], filename
    text = textwrap.dedent("".join(inspect.getblock(lines[lnum:])))
    if fn.__name__ == "<lambda>":
        return _lambda_ast(fn, text, filename, lnum + 1)
    tree = ast.parse("\n" * lnum + text)  # numbered as in the file
    return tree.body[0], filename


def _lines(fn):
    """(lines of the file holding `fn`, its filename, index of its first line)."""
    code = fn.__code__
    filename = code.co_filename
    if filename in _SOURCES:
        return _SOURCES[filename].splitlines(keepends=True), filename, \
            code.co_firstlineno - 1
    lines, lnum = inspect.findsource(fn)
    return lines, filename, lnum


def _block(lines, lnum):
    """The lines of the def (decorators included) starting at `lines[lnum]`, or
    None for a lambda. The def ends before the first code line indented no
    deeper than its own; a cut inside a bracket, a string or a continued line
    does not parse, and function_ast then asks inspect.getblock (which
    tokenizes: several times slower)."""
    first = lines[lnum]
    stripped = first.lstrip()
    if not stripped.startswith(("def ", "async def ", "@")):
        return None
    indent = len(first) - len(stripped)
    end = lnum + 1
    while stripped.startswith("@") and end < len(lines):
        stripped = lines[end].lstrip()
        end += 1
    while end < len(lines):
        line = lines[end]
        text = line.lstrip()
        if text and text[0] != "#" and len(line) - len(text) <= indent:
            break
        end += 1
    return lines[lnum:end]


def _lambda_ast(fn, text, filename, first):
    """Find the lambda of `fn` in the text of the line(s) that hold it, even
    when that text is only a fragment (`"k": (Chain(lambda x: x**2), ...)`)."""
    code = fn.__code__
    want = code.co_varnames[: code.co_argcount]
    candidates = []
    start = text.find("lambda")
    while start != -1:
        for end in range(len(text), start, -1):
            try:  # in brackets: a body continued on the next lines is part of it
                node = ast.parse("(" + text[start:end].strip() + ")", mode="eval").body
            except SyntaxError:
                continue
            if isinstance(node, ast.Lambda):
                candidates.append((start, node))
                break
        start = text.find("lambda", start + 1)
    matching = [(start, lam) for start, lam in candidates
                if tuple(a.arg for a in lam.args.posonlyargs + lam.args.args) == want]
    # the one compiling to fn's code: of several on a line, and never a part of
    # it (compiling another lambda's text would give another function's gradient)
    matching = [(start, lam) for start, lam in matching if _same_code(lam, code)]
    if matching:
        start, lam = matching[0]
        ast.increment_lineno(lam, first - 1 + text.count("\n", 0, start))
        return lam, filename
    raise OSError(f"could not find the source of the lambda at {filename}:{first}")


def _same_code(lam, code):
    """Whether lambda `lam` compiles to the constants and names of `code` (its
    free variables compile to globals on their own, hence the difference)."""
    try:
        outer = compile(ast.fix_missing_locations(ast.Expression(lam)), "<lambda>", "eval")
    except (SyntaxError, ValueError):
        return False
    inner = next((c for c in outer.co_consts if hasattr(c, "co_code")), None)
    if inner is None:
        return False
    consts = [c for c in inner.co_consts if not hasattr(c, "co_code")]
    mine = [c for c in code.co_consts if not hasattr(c, "co_code")]
    names = set(inner.co_names) - set(code.co_freevars)
    return consts == mine and names == set(code.co_names) and \
        inner.co_varnames == code.co_varnames


def source_line(filename: str, lineno: int) -> str:
    """One line of a (possibly generated) file, or ''."""
    return linecache.getline(filename, lineno)


_ASTS: dict = {}  # code object -> (FunctionDef, filename) of a function made from an AST


def register_ast(fn, node, filename):
    """Record the AST `fn` was compiled from (a function zygopy made, such as a
    class's field function): `function_ast` returns a copy of it."""
    _ASTS[fn.__code__] = (copy.deepcopy(node), filename)
