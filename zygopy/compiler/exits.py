"""Lower early `return`, `break` and `continue` to flags, so that every block
runs straight through and the reverse pass sees only structured control flow.

After this pass a function has one `return`, at the end; a loop's body may end
with `if _brk: break` and nothing else breaks out of it. `while test:` becomes
`while True:` with the test evaluated and checked at the top of the body.
"""

from __future__ import annotations

import ast

from . import facts as ann
from .build import LOAD, STORE
from .walk import walk_outside


def lower(fdef: ast.FunctionDef, fresh) -> ast.FunctionDef:
    """Rewrite `fdef` in place so that it returns once, at the end."""
    body = fdef.body
    if _returns_only_at_end(body):
        if not body or not isinstance(body[-1], ast.Return):
            body.append(ast.Return(ast.Constant(None)))
        fdef.body = _lower_loops(body, fresh)
        return fdef
    ret, done = fresh("_ret"), fresh("_done")
    new = [_assign(ret, ast.Constant(None)), _assign(done, ast.Constant(False))]
    new += _lower_returns(body, ret, done, in_loop=False)
    new.append(ast.Return(ast.Name(ret, LOAD)))
    fdef.body = _lower_loops(new, fresh)
    return fdef


def _returns_only_at_end(body):
    for i, stmt in enumerate(body):
        has = any(isinstance(n, ast.Return) for n in _walk_local(stmt))
        if has and not (i == len(body) - 1 and isinstance(stmt, ast.Return)):
            return False
    return True


def _walk_local(node):
    """ast.walk that does not enter nested functions or lambdas."""
    return walk_outside(node, (ast.FunctionDef, ast.Lambda))


def _contains(stmts, kinds, stop_at_loops=False):
    for stmt in stmts:
        todo = [stmt]
        while todo:
            n = todo.pop()
            if isinstance(n, kinds):
                return True
            for child in ast.iter_child_nodes(n):
                if isinstance(child, (ast.FunctionDef, ast.Lambda)):
                    continue
                if stop_at_loops and isinstance(child, (ast.For, ast.While)):
                    continue
                todo.append(child)
    return False


def _assign(name, value, like=None):
    node = ast.Assign([ast.Name(name, STORE)], value)
    if like is not None:
        ann.copy(like, node)
    return node


def _not(name):
    return ast.UnaryOp(ast.Not(), ast.Name(name, LOAD))


def _lower_returns(stmts, ret, done, in_loop):
    out = []
    for i, stmt in enumerate(stmts):
        if isinstance(stmt, ast.Return):
            value = stmt.value or ast.Constant(None)
            out.append(_assign(ret, value, stmt))
            out.append(_assign(done, ast.Constant(True), stmt))
            if in_loop:
                out.append(ast.copy_location(ast.Break(), stmt))
            return out  # the rest of the block is dead
        if not _contains([stmt], ast.Return):
            out.append(stmt)
            continue
        if isinstance(stmt, ast.If):
            stmt.body = _lower_returns(stmt.body, ret, done, in_loop)
            stmt.orelse = _lower_returns(stmt.orelse, ret, done, in_loop)
        elif isinstance(stmt, (ast.For, ast.While)):
            stmt.body = _lower_returns(stmt.body, ret, done, in_loop=True)
        out.append(stmt)
        rest = stmts[i + 1:]
        if rest:
            rest = _lower_returns(rest, ret, done, in_loop)
            if in_loop and isinstance(stmt, (ast.For, ast.While)):
                # a return inside an inner loop must also leave this loop
                out.append(ast.If(ast.Name(done, LOAD), [ast.Break()], []))
            out.append(ast.copy_location(ast.If(_not(done), rest, []), rest[0]))
        elif in_loop and isinstance(stmt, (ast.For, ast.While)):
            out.append(ast.If(ast.Name(done, LOAD), [ast.Break()], []))
        return out
    return out


def _lower_loops(stmts, fresh):
    out = []
    for stmt in stmts:
        if isinstance(stmt, ast.If):
            stmt.body = _lower_loops(stmt.body, fresh)
            stmt.orelse = _lower_loops(stmt.orelse, fresh)
        elif isinstance(stmt, ast.While):
            stmt = _lower_while(stmt)
        if isinstance(stmt, (ast.For, ast.While)):
            stmt.body = _lower_loops(stmt.body, fresh)
            if _contains(stmt.body, (ast.Break, ast.Continue), stop_at_loops=True):
                out.extend(_lower_jumps(stmt, fresh))
                continue
        out.append(stmt)
    return out


def _lower_while(stmt):
    """`while test: body` -> `while True: if not test: break; body`."""
    if isinstance(stmt.test, ast.Constant) and stmt.test.value is True:
        return stmt
    check = ast.copy_location(
        ast.If(ast.UnaryOp(ast.Not(), stmt.test), [ast.Break()], []), stmt)
    ann.copy(stmt, check)
    stmt.test = ast.Constant(True)
    stmt.body = [check] + stmt.body
    return stmt


def _lower_jumps(loop, fresh):
    skip, brk = fresh("_skip"), fresh("_brk")
    body = [_assign(skip, ast.Constant(False))]
    body += _jumps(loop.body, skip, brk)
    body.append(ast.If(ast.Name(brk, LOAD), [ast.Break()], []))
    loop.body = body
    return [_assign(brk, ast.Constant(False), loop), loop]


def _jumps(stmts, skip, brk):
    out = []
    for i, stmt in enumerate(stmts):
        if isinstance(stmt, ast.Continue):
            out.append(_assign(skip, ast.Constant(True), stmt))
            return out
        if isinstance(stmt, ast.Break):
            out.append(_assign(skip, ast.Constant(True), stmt))
            out.append(_assign(brk, ast.Constant(True), stmt))
            return out
        if isinstance(stmt, ast.If) and _contains([stmt], (ast.Break, ast.Continue), True):
            stmt.body = _jumps(stmt.body, skip, brk)
            stmt.orelse = _jumps(stmt.orelse, skip, brk)
            out.append(stmt)
            rest = _jumps(stmts[i + 1:], skip, brk)
            if rest:
                out.append(ast.If(_not(skip), rest, []))
            return out
        out.append(stmt)
    return out
