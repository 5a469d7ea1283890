"""Emit: generated ASTs to readable Python source, with `# adjoint of:` comments,
and a map from each generated line to the user's line it came from."""

from __future__ import annotations

import ast
import math
import re

import astor
from astor.op_util import get_op_symbol

from ..runtime.sources import source_line
from ..runtime.tracebacks import BACKWARD, FORWARD
from . import facts as ann

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

    def visit_Assign(self, node):
        text = _simple(node.value)
        targets = node.targets
        if text is None or len(targets) != 1:
            return super().visit_Assign(node)
        target = targets[0]
        if target.__class__ is ast.Name:
            left = target.id
        else:
            left = _names(target)
            if left is None:
                return super().visit_Assign(node)
        self.newline(node)
        self.write(left, " = ", text)

    def visit_Expr(self, node):
        value = node.value
        text = _simple(value) if value.__class__ is ast.Call else None
        if text is None:
            return super().visit_Expr(node)
        self.newline(node)
        self.write(text)

    def newline(self, node=None, extra=0):
        self.new_lines = max(self.new_lines, 1 + extra)  # astor's newline
        if node is not None:
            where = getattr(node, ann.KEY, _NO_FACTS).get("user_line")
            if where is not None:
                self.write(f"\x00{where[1][0].upper()}{where[0]}\x00")


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
            adjoint_of = ann.get(stmt, "adjoint_of")
            if adjoint_of is not None and adjoint_of != last:
                last = adjoint_of
                text = source_line(filename, adjoint_of).strip()
                if text:
                    comments.append(text)
                    comment = ast.Expr(ast.Call(ast.Name(_COMMENT, ast.Load()),
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


# -- A-normal-form statements without astor's machinery -----------------------
_SYMBOLS = {op: get_op_symbol(op(), " %s ") for op in (
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.MatMult,
    ast.BitAnd, ast.BitOr, ast.BitXor, ast.LShift, ast.RShift, ast.Gt, ast.Lt, ast.Eq,
    ast.NotEq, ast.GtE, ast.LtE, ast.Is, ast.IsNot, ast.In, ast.NotIn)}
_UNARY = {ast.USub: "-", ast.UAdd: "+", ast.Not: "not ", ast.Invert: "~"}


def _atom(e):
    """A name, a dotted name or a plain constant as astor writes it, or None."""
    cls = e.__class__
    if cls is ast.Name:
        return e.id
    if cls is ast.Attribute:
        base = _atom(e.value) if e.value.__class__ in (ast.Name, ast.Attribute) else None
        return None if base is None else f"{base}.{e.attr}"
    if cls is ast.Constant:
        v = e.value
        if v is None or v is True or v is False:
            return repr(v)
        t = v.__class__
        if (t is int or t is float) and 0 <= v < math.inf:
            return repr(v)
    return None


def _simple(e):
    """`e` as astor writes it when it is an operation on atoms, or None."""
    text = _atom(e)
    if text is not None:
        return text
    cls = e.__class__
    if cls is ast.BinOp:
        left, right = _atom(e.left), _atom(e.right)
        if left is not None and right is not None:
            return left + _SYMBOLS[e.op.__class__] + right
    elif cls is ast.Call:
        if e.keywords:
            return None
        func = _atom(e.func)
        args = [_atom(a) for a in e.args]
        if func is not None and None not in args:
            return f"{func}({', '.join(args)})"
    elif cls is ast.Compare:
        if len(e.ops) == 1:
            left, right = _atom(e.left), _atom(e.comparators[0])
            if left is not None and right is not None:
                return left + _SYMBOLS[e.ops[0].__class__] + right
    elif cls is ast.UnaryOp:
        if e.operand.__class__ is ast.Name:
            return _UNARY[e.op.__class__] + e.operand.id
    elif cls is ast.Subscript:
        value, index = _atom(e.value), _atom(e.slice)
        if value is not None and index is not None and e.value.__class__ is ast.Name:
            return f"{value}[{index}]"
    elif cls is ast.Tuple:
        return _names(e, _atom)
    return None


def _names(e, atom=None):
    """A tuple of names (or of atoms) as astor writes it: `a, b` or `a,`."""
    if e.__class__ is not ast.Tuple or not e.elts:
        return None
    parts = [atom(x) if atom else (x.id if x.__class__ is ast.Name else None)
             for x in e.elts]
    if None in parts:
        return None
    return ", ".join(parts) + ("," if len(parts) == 1 else "")
