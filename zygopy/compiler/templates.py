"""Python templates for the adjoints of control flow, filled with AST pieces.

A template is ordinary Python text; names in it that are keys of the
substitutions are replaced: by an expression node, by a name (str), or, for
a statement `body` standing alone, by a list of statements.
"""

from __future__ import annotations

import ast
import copy
from functools import cache


@cache
def _parse(text):
    return ast.parse(text).body


def fill(text, **subs):
    """Statements of template `text` with substitutions applied."""
    stmts = copy.deepcopy(_parse(text))
    return _Filler(subs).block(stmts)


class _Filler(ast.NodeTransformer):
    def __init__(self, subs):
        self.subs = subs

    def block(self, stmts):
        out = []
        for stmt in stmts:
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Name) and \
                    isinstance(self.subs.get(stmt.value.id), list):
                out.extend(self.subs[stmt.value.id] or [ast.Pass()])
                continue
            for field in ("body", "orelse"):
                if hasattr(stmt, field):
                    setattr(stmt, field, self.block(getattr(stmt, field)))
            stmt = self._visit_header(stmt)
            out.append(stmt)
        return out

    def _visit_header(self, stmt):
        """Substitute in a statement's own expressions, not in its body."""
        for field, value in ast.iter_fields(stmt):
            if field in ("body", "orelse"):
                continue
            if isinstance(value, ast.AST):
                setattr(stmt, field, self.visit(value))
            elif isinstance(value, list):
                setattr(stmt, field, [self.visit(v) if isinstance(v, ast.AST) else v
                                      for v in value])
        return stmt

    def visit_Name(self, node):
        sub = self.subs.get(node.id)
        if sub is None or isinstance(sub, list):
            return node
        if isinstance(sub, str):
            return ast.Name(sub, node.ctx)
        return copy.deepcopy(sub)


# the adjoint of `for item in iterable: body` (the forward counts iterations)
FOR_FORWARD = """
count = 0
for item in iterable:
    count = count + 1
    body
"""
LOOP_BACKWARD = """
for _ in range(count):
    body
"""
# an active iterable is walked by index so its adjoint can be scattered back
FOR_ACTIVE_FORWARD = """
count = 0
for index in range(len(iterable)):
    count = count + 1
    body
"""
ITEMS_LOOP_BACKWARD = """
gathered = _zp.Items()
for index in range(count - 1, -1, -1):
    body
"""
WHILE_FORWARD = """
count = 0
while True:
    count = count + 1
    body
"""
IF_BACKWARD = """
if test:
    body
else:
    orelse
"""
