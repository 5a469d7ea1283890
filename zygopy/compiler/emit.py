"""Emit: generated ASTs to readable Python source, with `# adjoint of:` comments."""

from __future__ import annotations

import ast
import re

import astor

from . import facts as ann
from ..runtime.sources import source_line

_COMMENT = "__zp_comment__"


def render(defs, filename, title) -> str:
    """Source text of the generated functions, headed by a `# Grad of:` line."""
    comments = []
    module = ast.Module([_commented(d, filename, comments) for d in defs], [])
    ast.fix_missing_locations(module)
    text = astor.to_source(module)
    text = re.sub(rf"{_COMMENT}\((\d+)\)",
                  lambda m: f"# adjoint of: {comments[int(m.group(1))]}", text)
    return f"# Grad of: {title}\n" + text


def _commented(node, filename, comments):
    for field in ("body", "orelse"):
        stmts = getattr(node, field, None)
        if not stmts:
            continue
        out = []
        last = None
        for stmt in stmts:
            line = ann.get(stmt, "adjoint_of")
            if line is not None and line != last:
                last = line
                text = source_line(filename, line).strip()
                if text:
                    comments.append(text)
                    out.append(ast.Expr(ast.Call(ast.Name(_COMMENT, ast.Load()),
                                                 [ast.Constant(len(comments) - 1)], [])))
            out.append(_commented(stmt, filename, comments))
        setattr(node, field, out)
    return node
