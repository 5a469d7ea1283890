"""Emit: generated ASTs to readable Python source, with `# adjoint of:` comments,
and a map from each generated line to the user's line it came from."""

from __future__ import annotations

import ast
import math
import re

import astor
from astor.op_util import Precedence, precedence_data, symbol_data

from ..runtime.sources import source_line
from ..runtime.tracebacks import BACKWARD, FORWARD
from . import facts as ann
from .build import LOAD

_COMMENT = "__zp_comment__"
_NO_FACTS: dict = {}
_MARKER = re.compile("\x00([FB])(\\d+)\x00")


def render(defs, filename, title) -> str:
    """Source text of the generated functions, headed by a `# Grad of:` line."""
    return render_with_lines(defs, filename, title)[0]


def render_with_lines(defs, filename, title):
    """(text, lines): the source text as `render` gives it, and a dict from its
    line numbers to `(user line, FORWARD | BACKWARD)`. The first def is the
    forward, the others are backward code."""
    comments = []
    for i, d in enumerate(defs):
        _commented(d, filename, comments, None, FORWARD if i == 0 else BACKWARD)
    generator = _Generator(" " * 4)
    generator.visit(ast.Module(defs, []))
    text = "".join(generator.result).lstrip("\n") + "\n"
    text = re.sub(rf"{_COMMENT}\((\d+)\)",
                  lambda m: f"# adjoint of: {comments[int(m.group(1))]}", text)
    lines, out = {}, []
    where = None
    for number, line in enumerate(text.split("\n"), start=2):  # 1: the title
        if line.startswith("def "):
            where = None  # a generated function's own lines are no user's
        if "\x00" in line:
            marks = _MARKER.findall(line)
            phase, user = marks[-1]
            where = (int(user), FORWARD if phase == "F" else BACKWARD)
            line = _MARKER.sub("", line)
        if where is not None:
            lines[number] = where
        out.append(line)
    return f"# Grad of: {title}\n" + "\n".join(out), lines


class _Generator(astor.SourceGenerator):
    """astor's generator, writing an invisible marker (`\\0F12\\0`: forward,
    user line 12) at the start of each statement that has a user line. Long
    lines are not wrapped: the markers must not change where lines break.

    Statements in A-normal form (`name = op(atoms)`) are written directly, as
    astor would write them but several times faster; anything else is astor's.
    """

    def newline(self, node=None, extra=0):
        self.new_lines = max(self.new_lines, 1 + extra)  # astor's newline
        if node is not None:
            where = getattr(node, ann.KEY, _NO_FACTS).get("user_line")
            if where is not None:
                self.write(f"\x00{where[1][0].upper()}{where[0]}\x00")

    def visit_Assign(self, node):
        targets = node.targets
        text = _expr(node.value, _PREC[ast.Assign]) if len(targets) == 1 else None
        left = None if text is None else _expr(targets[0], _PREC[ast.Assign])
        if left is None:
            return super().visit_Assign(node)
        self.newline(node)
        self.write(left, " = ", text)

    def visit_Expr(self, node):
        text = _expr(node.value, _PREC[ast.Expr])
        if text is None:
            return super().visit_Expr(node)
        self.newline(node)
        self.write(text)

    def visit_Return(self, node):
        value = node.value
        text = "" if value is None else _expr(value, _PREC[ast.Return])
        if text is None:
            return super().visit_Return(node)
        self.newline(node)
        self.write("return " + text if text else "return")


def _commented(node, filename, comments, line, phase, verbatim=False):
    """Insert `# adjoint of:` comments and set each statement's `user_line`
    fact: its own source line, or the line of the statement it belongs to
    (the last one before it with a line, or the enclosing one). The body of
    a nested def is the user's code as written: its own line numbers hold."""
    for field in ("body", "orelse"):
        stmts = getattr(node, field, None)
        if not stmts:
            continue
        out = []
        last = None
        current = line
        for stmt in stmts:
            phase = ann.get(stmt, "phase", phase)  # a fused def mixes both
            adjoint_of = ann.get(stmt, "adjoint_of")
            if adjoint_of is not None and adjoint_of != last:
                last = adjoint_of
                text = source_line(filename, adjoint_of).strip()
                if text:
                    comments.append(text)
                    comment = ast.Expr(ast.Call(ast.Name(_COMMENT, LOAD),
                                                [ast.Constant(len(comments) - 1)], []))
                    ann.set_(comment, "user_line", (adjoint_of, phase))
                    out.append(comment)
            own = adjoint_of if adjoint_of is not None else ann.get(stmt, "line")
            if own is None and verbatim:
                own = getattr(stmt, "lineno", None)
            if own is not None:
                current = own
            if current is not None:
                ann.set_(stmt, "user_line", (current, phase))
            nested = verbatim or isinstance(stmt, ast.FunctionDef)
            out.append(_commented(stmt, filename, comments, current, phase, nested))
        setattr(node, field, out)
    return node


def strip_comments(stmts):
    """`stmts` without the comment statements a render inserted (in nested
    bodies too), so that they can be rendered again as part of another def."""
    out = []
    for stmt in stmts:
        if _is_comment(stmt):
            continue
        for field in ("body", "orelse"):
            inner = getattr(stmt, field, None)
            if inner and not isinstance(stmt, ast.FunctionDef):
                setattr(stmt, field, strip_comments(inner))
        out.append(stmt)
    return out


def _is_comment(stmt):
    return stmt.__class__ is ast.Expr and stmt.value.__class__ is ast.Call \
        and getattr(stmt.value.func, "id", None) == _COMMENT


# -- statements written without astor's visitor ------------------------------
# The same text as astor's SourceGenerator: the precedence of an operation and
# the one its parent asks of it decide the parentheses, as in astor's Delimit.
_PREC = precedence_data
_SYMBOL = {op: sym for op, sym in symbol_data.items() if op is not None and sym}
_CONSTANT = _PREC[ast.Constant]
_HIGHEST = Precedence.highest


def _expr(e, pp):
    """`e` as astor writes it under a parent asking precedence `pp`, or None
    for what this does not cover (astor writes that)."""
    cls = e.__class__
    if cls is ast.Name:
        return e.id
    if cls is ast.Constant:
        v = e.value
        if v is None:
            return "None"
        t = v.__class__
        if t is bool or ((t is int or t is float) and 0 <= v < math.inf):
            return f"({v!r})" if _CONSTANT < pp else repr(v)
        return None
    if cls is ast.BinOp:
        op = e.op.__class__
        p = _PREC[op]
        if op is ast.Pow:
            left, right = _expr(e.left, Precedence.Pow + 1), _expr(e.right, Precedence.PowRHS)
        else:
            left, right = _expr(e.left, p), _expr(e.right, p + 1)
        if left is None or right is None:
            return None
        text = f"{left} {_SYMBOL[op]} {right}"
        return f"({text})" if p < pp else text
    if cls is ast.Attribute:
        value = e.value
        if value.__class__ is not ast.Name and value.__class__ is not ast.Attribute:
            return None
        base = _expr(value, _HIGHEST)
        return None if base is None else f"{base}.{e.attr}"
    if cls is ast.Call:
        args, keywords = e.args, e.keywords
        func = e.func
        if func.__class__ is not ast.Name and func.__class__ is not ast.Attribute:
            return None
        p = Precedence.Comma if len(args) + len(keywords) > 1 else Precedence.call_one_arg
        parts = [_expr(a, p) for a in args]
        for k in keywords:
            parts.append(None if k.arg is None else _keyword(k))
        func = _expr(func, _HIGHEST)
        if func is None or None in parts:
            return None
        return f"{func}({', '.join(parts)})"
    if cls is ast.UnaryOp:
        op = e.op.__class__
        p = _PREC[op]
        operand = _expr(e.operand, p)
        if operand is None:
            return None
        sym = _SYMBOL[op]
        text = f"{sym} {operand}" if sym.isalpha() else sym + operand
        return f"({text})" if p < pp else text
    if cls is ast.Compare:
        op = e.ops[0].__class__
        p = _PREC[op]
        parts = [_expr(x, p + 1) for x in [e.left] + e.comparators]
        if None in parts:
            return None
        text = parts[0] + "".join(f" {_SYMBOL[o.__class__]} {x}"
                                  for o, x in zip(e.ops, parts[1:]))
        return f"({text})" if p < pp else text
    if cls is ast.Subscript:
        if e.value.__class__ is not ast.Name or e.slice.__class__ is ast.Tuple:
            return None
        index = _expr(e.slice, _PREC[ast.Subscript])
        return None if index is None else f"{e.value.id}[{index}]"
    if cls is ast.Tuple:
        elts = e.elts
        parts = [_expr(x, Precedence.Comma) for x in elts]
        if None in parts:
            return None
        text = ", ".join(parts) + ("," if len(parts) == 1 else "")
        return f"({text})" if _PREC[ast.Tuple] < pp or not elts else text
    return None


def _keyword(k):
    value = _expr(k.value, Precedence.Comma)
    return None if value is None else f"{k.arg}={value}"
