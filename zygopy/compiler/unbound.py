"""Unbound locals: a read Python would refuse raises UnboundLocalError here too.

The forward binds every name its saved tuple packs at its start (a path that
skips an assignment must still pack it), which would turn

    if flag:
        y = 2 * x
    return np.sum(y * x)    # flag false: UnboundLocalError in Python

into a silent `None * x`. Names the saved tuple packs start as `_zp.UNBOUND`
instead, where some read of theirs may come before any assignment, and each
such read is preceded by

    if y is _zp.UNBOUND:
        _zp.unbound_local('y')

(placed where reads may be unbound: straight-line code, both branches of an
`if`, loop bodies entered; which reads are safe is decided conservatively,
the check itself is exact).
"""

from __future__ import annotations

import ast

from . import facts as ann
from .walk import walk_outside

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.ListComp,
           ast.SetComp, ast.DictComp, ast.GeneratorExp)
_BLOCKS = ("body", "orelse", "handlers", "finalbody")


def checked(stmts, names, bound):
    """`stmts` with a check before each read of one of `names` that may come
    before an assignment (`bound`: the names bound on entry); returns the
    statements and the names checked."""
    found = set()
    return _block(stmts, frozenset(names), set(bound), found), found


def _block(stmts, names, bound, found):
    out = []
    for stmt in stmts:
        for name in dict.fromkeys(_reads(stmt)):
            if name in names and name not in bound:
                out.append(_check(name, stmt))
                found.add(name)
                bound.add(name)  # (past the check it is bound)
        if isinstance(stmt, ast.If):
            then, other = set(bound), set(bound)
            stmt.body = _block(stmt.body, names, then, found)
            stmt.orelse = _block(stmt.orelse, names, other, found)
            bound |= then & other
        elif isinstance(stmt, (ast.For, ast.While, ast.Try)):  # a body that may not
            for field in _BLOCKS:  # run, or stop anywhere: what it binds is not
                blocks = getattr(stmt, field, [])  # counted after it
                inner = set(bound)
                if field == "body" and isinstance(stmt, ast.For):
                    inner |= _stores(stmt.target)
                if field == "handlers":
                    for handler in blocks:
                        handler.body = _block(handler.body, names, inner, found)
                elif blocks:
                    setattr(stmt, field, _block(blocks, names, inner, found))
        elif isinstance(stmt, ast.With):
            for item in stmt.items:
                if item.optional_vars is not None:
                    bound |= _stores(item.optional_vars)
            stmt.body = _block(stmt.body, names, bound, found)
        else:
            bound |= _stores(stmt)
        out.append(stmt)
    return out


def _reads(stmt):
    """Names `stmt` reads itself (a compound statement: in its header), not
    those of nested functions, lambdas and comprehensions (read later, or
    their own)."""
    if isinstance(stmt, (ast.If, ast.While)):
        roots = [stmt.test]
    elif isinstance(stmt, ast.For):
        roots = [stmt.iter]
    elif isinstance(stmt, ast.With):
        roots = [item.context_expr for item in stmt.items]
    elif isinstance(stmt, (ast.Try, *_SCOPES)):
        roots = []
    else:
        roots = [stmt]
    own = [stmt.target.id] if isinstance(stmt, ast.AugAssign) and \
        isinstance(stmt.target, ast.Name) else []  # (`y += 1` reads y first)
    return own + [n.id for root in roots for n in walk_outside(root, _SCOPES)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]


def _stores(node):
    """Names a simple statement (or a loop target) binds."""
    if isinstance(node, _SCOPES[:4]):
        return {node.name} if hasattr(node, "name") else set()
    return {n.id for n in walk_outside(node, _SCOPES)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _check(name, stmt):
    """The check of `name` before `stmt` (its errors point at `stmt`'s line)."""
    check = ast.parse(f"if {name} is _zp.UNBOUND:\n    _zp.unbound_local({name!r})").body[0]
    line = ann.get(stmt, "line")
    for node in ast.walk(check):
        ast.copy_location(node, stmt)
        if line is not None and isinstance(node, ast.stmt):
            ann.set_(node, "line", line)
    return check
