"""Optimise the backward function: drop adjoints nobody reads (dead code) and
copies of a temporary's adjoint (`d_t4 = d_t5`)."""

from __future__ import annotations

import ast

from . import facts as ann
from .walk import walk


def dead_adjoints(fdef: ast.FunctionDef, implicit=False) -> ast.FunctionDef:
    """Remove assignments in `fdef` whose target is never read afterwards.

    Only pure assignments of names are removed. With `implicit` parameters a
    call's pullback is not pure: it hands the gradients of the globals the
    callee read to the Params context, so an unused one stays, as a statement."""
    changed = True
    while changed:
        loads = {n.id for n in walk(fdef) if isinstance(n, ast.Name)
                 and isinstance(n.ctx, ast.Load)}
        changed = _prune(fdef.body, loads, implicit)
    return fdef


def _prune(stmts, loads, implicit):
    changed = False
    i = 0
    while i < len(stmts):
        stmt = stmts[i]
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and \
                isinstance(stmt.targets[0], ast.Name) and stmt.targets[0].id not in loads \
                and not _has_effect(stmt.value):
            if implicit and ann.get(stmt, "pullback_call"):
                stmts[i] = ast.copy_location(ast.Expr(stmt.value), stmt)
                ann.copy(stmt, stmts[i])
            else:
                del stmts[i]
                changed = True
                continue
        for field in ("body", "orelse"):
            sub = getattr(stmt, field, None)
            if sub and not isinstance(stmt, ast.FunctionDef):
                changed |= _prune(sub, loads, implicit)
                if not sub and field == "body":
                    sub.append(ast.Pass())
        i += 1
    return changed


def _has_effect(value):
    """Tape pops change state; everything else generated in a backward is pure."""
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
               and n.func.attr == "pop" for n in walk(value))


def copies(fdef: ast.FunctionDef, temporaries: str) -> ast.FunctionDef:
    """Propagate top-level copies `a = b` where `a` (a name starting with
    `temporaries`, the adjoint of a compiler temporary) and `b` are each
    assigned once: every read of `a` reads `b`, and the copy goes. Its
    `# adjoint of:` comment moves to the statement after it."""
    stores = {}
    for n in walk(fdef):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            stores[n.id] = stores.get(n.id, 0) + 1
    for arg in fdef.args.args:
        stores[arg.arg] = stores.get(arg.arg, 0) + 1
    rename = {}
    body = []
    carried = None
    for stmt in fdef.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and \
                isinstance(stmt.targets[0], ast.Name) and isinstance(stmt.value, ast.Name):
            a, b = stmt.targets[0].id, rename.get(stmt.value.id, stmt.value.id)
            if a.startswith(temporaries) and stores.get(a) == 1 and stores.get(b) == 1:
                rename[a] = b
                carried = carried or ann.get(stmt, "adjoint_of")
                continue
        if carried is not None and ann.get(stmt, "adjoint_of") is None:
            ann.set_(stmt, "adjoint_of", carried)
        carried = None
        body.append(stmt)
    if rename:
        for n in walk(ast.Module(body, [])):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id in rename:
                n.id = rename[n.id]
        fdef.body = body
    return fdef
