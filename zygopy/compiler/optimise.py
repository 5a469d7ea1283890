"""Optimise the backward function: drop adjoints nobody reads (dead code)."""

from __future__ import annotations

import ast

from .walk import walk


def dead_adjoints(fdef: ast.FunctionDef, keep_prefix="d") -> ast.FunctionDef:
    """Remove assignments in `fdef` whose target is never read afterwards.

    Only pure assignments of names are removed (calls to pullbacks are kept:
    they are pure too, but removing them is only safe when their result is
    unused, which this pass checks the same way)."""
    changed = True
    while changed:
        loads = {n.id for n in walk(fdef) if isinstance(n, ast.Name)
                 and isinstance(n.ctx, ast.Load)}
        changed = _prune(fdef.body, loads)
    return fdef


def _prune(stmts, loads):
    changed = False
    i = 0
    while i < len(stmts):
        stmt = stmts[i]
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and \
                isinstance(stmt.targets[0], ast.Name) and stmt.targets[0].id not in loads \
                and not _has_effect(stmt.value):
            del stmts[i]
            changed = True
            continue
        for field in ("body", "orelse"):
            sub = getattr(stmt, field, None)
            if sub and not isinstance(stmt, ast.FunctionDef):
                changed |= _prune(sub, loads)
                if not sub and field == "body":
                    sub.append(ast.Pass())
        i += 1
    return changed


def _has_effect(value):
    """Tape pops change state; everything else generated in a backward is pure."""
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
               and n.func.attr == "pop" for n in walk(value))
