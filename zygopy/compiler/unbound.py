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
_SCOPE_TYPES = frozenset(_SCOPES)
_BLOCKS = ("body", "orelse", "handlers", "finalbody")


def checked(stmts, names, bound, ret=None, shown=None):
    """`stmts` with a check before each read of one of `names` that may come
    before an assignment (`bound`: the names bound on entry; `ret`: the
    return statement after `stmts`, whose read is checked too; `shown`: the
    name the error gives a name, where it is not its own); returns the
    statements and the names checked. Names read by nested functions, lambdas
    or comprehensions, or in parts evaluated only sometimes (an assert's
    message), are left alone: a check there would come too early."""
    deferred = _Deferred(stmts)
    found = set()
    bound = set(bound)  # (what `_block` leaves bound after the last statement)
    out = _block(stmts, frozenset(names), bound, found, shown or {}, deferred)
    if ret is not None and isinstance(ret.value, ast.Name):
        # the return read, checked by name even where it is not packed (then
        # the check's own read raises): the generated return is on no user line
        name = ret.value.id
        if name not in bound and not deferred(name):
            out.append(_check(name, ret, shown or {}))
            found.update({name} & set(names))
    return out, found


class _Deferred:
    """Whether a name is read where a check cannot go first (see `_deferred`),
    found on the first question only: most functions read nothing unbound."""

    def __init__(self, stmts):
        self.stmts, self.names = stmts, None

    def __call__(self, name):
        if self.names is None:
            self.names = set()
            for stmt in self.stmts:
                _deferred(stmt, self.names, False)
        return name in self.names


def _block(stmts, names, bound, found, shown, deferred):
    out = []
    pending = names - bound  # (none left: nothing more to read for)
    for stmt in stmts:
        for name in _reads(stmt) if pending else ():
            if name in pending and name not in bound and not deferred(name):
                out.append(_check(name, stmt, shown))
                found.add(name)
                bound.add(name)  # (past the check it is bound)
        if isinstance(stmt, ast.If):
            then, other = set(bound), set(bound)
            stmt.body = _block(stmt.body, names, then, found, shown, deferred)
            stmt.orelse = _block(stmt.orelse, names, other, found, shown, deferred)
            bound |= then & other
        elif isinstance(stmt, (ast.For, ast.While, ast.Try)):  # a body that may not
            for field in _BLOCKS:  # run, or stop anywhere: what it binds is not
                blocks = getattr(stmt, field, [])  # counted after it
                inner = set(bound)
                if field == "body" and isinstance(stmt, ast.For):
                    inner |= _stores(stmt.target)
                if field == "handlers":
                    for handler in blocks:
                        handler.body = _block(handler.body, names, inner, found, shown,
                                              deferred)
                elif blocks:
                    setattr(stmt, field, _block(blocks, names, inner, found, shown, deferred))
        elif isinstance(stmt, ast.With):
            for item in stmt.items:
                if item.optional_vars is not None:
                    bound |= _stores(item.optional_vars)
            stmt.body = _block(stmt.body, names, bound, found, shown, deferred)
        else:
            bound |= _stores(stmt)
        if pending:
            pending -= bound
        out.append(stmt)
    return out


def _reads(stmt):
    """Names `stmt` reads itself, in the order Python reads them (a compound
    statement: its header), skipping what `_deferred` collects."""
    out = []
    if isinstance(stmt, (ast.If, ast.While)):
        _loads(stmt.test, out)
    elif isinstance(stmt, ast.For):
        _loads(stmt.iter, out)
    elif isinstance(stmt, ast.With):
        for item in stmt.items:
            _loads(item.context_expr, out)
    elif not isinstance(stmt, (ast.Try, *_SCOPES)):
        _loads(stmt, out)
    return out


def _loads(node, out):
    """Append the names `node` loads to `out`, in evaluation order, up to the
    parts evaluated later or only sometimes."""
    t = type(node)
    if t is ast.Name:
        if type(node.ctx) is ast.Load:
            out.append(node.id)
    elif t in _LAZY:
        _loads(node.values[0] if t is ast.BoolOp else node.test, out)
    elif t is ast.Assign:  # the value first, then the targets' parts
        _loads(node.value, out)
        for target in node.targets:
            _loads(target, out)
    elif t is ast.AugAssign:  # `y += x` reads y, then x
        if type(node.target) is ast.Name:
            out.append(node.target.id)
        else:
            _loads(node.target, out)
        _loads(node.value, out)
    elif t not in _SCOPE_TYPES:
        for child in ast.iter_child_nodes(node):
            _loads(child, out)


# what a statement or expression evaluates first (always), the rest only sometimes
_LAZY = {ast.BoolOp: ("values",), ast.IfExp: ("test",), ast.Assert: ("test",)}


def _deferred(node, out, inside):
    """Collect into `out` the names loaded where a check cannot go first:
    in nested scopes, and in the parts `_LAZY` says run only sometimes."""
    if isinstance(node, ast.Name):
        if inside and isinstance(node.ctx, ast.Load):
            out.add(node.id)
        return
    if isinstance(node, _SCOPES):
        inside = True
    lazy = _LAZY.get(type(node))
    for field, value in ast.iter_fields(node):
        later = inside or lazy is not None and field != lazy[0]
        items = value if isinstance(value, list) else [value]
        for i, child in enumerate(items):
            if isinstance(child, ast.AST):
                _deferred(child, out, later or field == "values" and lazy is not None and i > 0)


def _stores(node):
    """Names a simple statement (or a loop target) binds."""
    t = type(node)
    if t is ast.Name:
        return {node.id}
    if t is ast.Assign and len(node.targets) == 1:  # (the common cases, quickly)
        target = node.targets[0]
        if type(target) is ast.Name:
            return {target.id}
        if type(target) is ast.Tuple and all(type(e) is ast.Name for e in target.elts):
            return {e.id for e in target.elts}
    if isinstance(node, _SCOPES[:4]):
        return {node.name} if hasattr(node, "name") else set()
    return {n.id for n in walk_outside(node, _SCOPES)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _check(name, stmt, shown):
    """The check of `name` before `stmt` (its errors point at `stmt`'s line
    and call it `shown[name]`, where given)."""
    check = ast.parse(f"if {name} is _zp.UNBOUND:\n"
                      f"    _zp.unbound_local({shown.get(name, name)!r})").body[0]
    line = ann.get(stmt, "line")
    for node in ast.walk(check):
        ast.copy_location(node, stmt)
        if line is not None and isinstance(node, ast.stmt):
            ann.set_(node, "line", line)
    return check
