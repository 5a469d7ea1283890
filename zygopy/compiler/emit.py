"""Emit: generated ASTs to readable Python source, with `# adjoint of:` comments,
and a map from each generated line to the user's line it came from."""

from __future__ import annotations

import ast
import re

import astor

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
    lines are not wrapped: the markers must not change where lines break."""

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
