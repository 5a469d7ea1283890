"""Aliases: refuse an in-place update of an array another live name shares.

In Python, `b = a; a += y` changes `b` too (and so does `row = a[0]`, a
view). Generated code treats `a += y` as a new value of `a` and tracks
adjoints per name, so such a program would get a wrong value and a wrong
gradient. This pass finds the pattern in the user's source and refuses it at
the user's line, before any code is generated (as PyTorch refuses an in-place
change of a tensor its backward needs). Names that activity analysis knows
to hold numbers are exempt: numbers are immutable.

`check_owned_updates` refuses the same across functions: an update of a
container the function does not own (its parent's, a global, or, when called
from differentiated code, its caller's).
"""

from __future__ import annotations

import ast

from .closures import _own_nodes
from .fence import _refuse
from .walk import walk

# methods and numpy functions whose result may share memory with the input
VIEWS = {"T", "mT", "real", "imag", "reshape", "ravel", "view", "transpose",
         "swapaxes", "squeeze", "diagonal", "flat", "moveaxis", "expand_dims",
         "broadcast_to", "atleast_1d", "atleast_2d", "atleast_3d", "asarray",
         "asanyarray", "flip", "fliplr", "flipud", "rot90"}


def _root(expr):
    """The name an expression may alias: `a`, `a[i]`, `a.T`, `a.reshape(...)`,
    `np.transpose(a)`; None for anything that makes a new value."""
    while True:
        if isinstance(expr, ast.Name):
            return expr.id
        if isinstance(expr, ast.Subscript) or isinstance(expr, ast.Attribute) and expr.attr in VIEWS:
            expr = expr.value
        elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) \
                and expr.func.attr in VIEWS:
            target = expr.func.value
            if isinstance(target, ast.Name) and target.id in ("np", "numpy", "xp") \
                    and expr.args:
                expr = expr.args[0]  # np.reshape(a, ...)
            else:
                expr = target  # a.reshape(...)
        else:
            return None


def _mutated(stmt):
    """The name an in-place statement changes: `a += y`, `a[i] = v`, `a[i] += v`,
    `a.append(v)`, `a.extend(vs)`, `a.pop()`, `v = a.pop()` (rewritten as a new
    list for `a` alone)."""
    call = stmt.value if isinstance(stmt, (ast.Expr, ast.Assign)) else None
    if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
            and call.func.attr in ("append", "extend", "pop") \
            and isinstance(call.func.value, ast.Name):
        return call.func.value.id
    if isinstance(stmt, ast.AugAssign):
        target = stmt.target
    elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 \
            and isinstance(stmt.targets[0], ast.Subscript):
        target = stmt.targets[0]
    else:
        return None
    while isinstance(target, ast.Subscript):
        target = target.value
    return target.id if isinstance(target, ast.Name) else None


def _grows_list(stmt):
    """`xs.append(v)`, `xs.extend(vs)`, `xs.pop()`: list methods (arrays have
    none of them) that change which items a list holds, not the items."""
    call = stmt.value if isinstance(stmt, (ast.Expr, ast.Assign)) else None
    return isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
        and call.func.attr in ("append", "extend", "pop")


def find(fdef):
    """Candidate conflicts, before any pass changes the tree: (statement,
    mutated name, other name, line the other is read on, pair)."""
    nodes = walk(fdef)
    stmts = [s for s in nodes if isinstance(s, ast.stmt) and s is not fdef]
    stmts.sort(key=lambda s: (s.lineno, s.col_offset))
    pairs = []  # ((line, column), name, other, whole): `name` may share memory with
    # `other` (whole: the very object, `name = other`)
    for s in stmts:
        if isinstance(s, ast.Assign) and len(s.targets) == 1 \
                and isinstance(s.targets[0], ast.Name):
            other = _root(s.value)
            if other is not None and other != s.targets[0].id:
                whole = isinstance(s.value, ast.Name)  # `b = a`, not `b = a[i]`
                pairs.append(((s.lineno, s.col_offset), s.targets[0].id, other, whole))
    if not pairs:
        return []
    loads = {}
    for n in nodes:
        if n.__class__ is ast.Name and isinstance(n.ctx, ast.Load):
            loads.setdefault(n.id, []).append(n.lineno)
    loops = [s for s in stmts if isinstance(s, (ast.For, ast.While))]
    stores = [((s.lineno, s.col_offset), t.id) for s in stmts if isinstance(s, ast.Assign)
              and _root(s.value) is None  # a new value (not `s = s`, `s = s.T`)
              for t in s.targets if isinstance(t, ast.Name)]
    found = []
    for s in stmts:
        name = _mutated(s)
        if name is None:
            continue
        for (line, col), a, b, whole in pairs:
            if name not in (a, b) or (line, col) > (s.lineno, s.col_offset) \
                    and not _same_loop(loops, line, s):
                continue
            if name == b and not whole and _grows_list(s):
                continue  # `v = xs[i]; xs.append(w)`: an item or a slice of a list
                # (a copy) is not changed by the list's growing or shrinking
            if _rebound_between(stores, loops, (a, b), (line, col), s):
                continue  # `t = s; t = t + x; s[0] = v`: t no longer shares s
            other = b if name == a else a
            later = [n for n in loads.get(other, ()) if n > s.lineno or _same_loop(loops, n, s)]
            if later:
                where = ast.copy_location(ast.Pass(), s)
                found.append((where, name, other, later[0], (a, b)))
    return found


def refuse(found, filename, kind):
    """Raise UnsupportedSyntax at the first conflict between names not known to
    hold numbers (`kind(name)` from activity analysis)."""
    from .activity import SCALAR

    for where, name, other, later, (a, b) in found:
        if SCALAR in (kind(name), kind(other)):
            continue
        _refuse(where, filename,
                f"an in-place update of `{name}`, which shares its array or list with "
                f"`{other}` (read again on line {later}): Python would change "
                f"`{other}` too",
                [(f"make a new array instead: `{name} = {name} + ...` "
                  f"(or `{name}[...] = ...` on a copy: `{name} = {name}.copy()`)"),
                 f"or copy when the second name is made: `{a} = {b}.copy()`"])


def _rebound_between(stores, loops, names, start, stmt):
    """Whether one of `names` is assigned anew after `start` and before the
    update `stmt`, all outside loops (where a later pass could reorder them):
    from then on the two names hold different objects."""
    end = (stmt.lineno, stmt.col_offset)
    if any(loop.lineno <= line <= getattr(loop, "end_lineno", loop.lineno)
           for loop in loops for line in (start[0], stmt.lineno)):
        return False
    return any(start < at < end and name in names for at, name in stores)


def _same_loop(loops, line, stmt):
    """Whether `line` and `stmt` are inside one loop (a later iteration reads it)."""
    for loop in loops:
        end = getattr(loop, "end_lineno", loop.lineno)
        if loop.lineno <= line <= end and loop.lineno <= stmt.lineno <= end:
            return True
    return False


def check_owned_updates(fdef, filename, params):
    """Refuse `c[i] = v` and `c[i] += v` on a container this function does not
    own: a variable of an enclosing function or a global (a memo dict, a list
    a nested function fills). The change happens, but the gradient, kept per
    name here, never reaches the reads of it there. Returns the parameters
    updated in place without being rebound (the caller's arrays: fine for a
    top-level call, refused by the dispatcher for a call from differentiated
    code, whose later reads would miss the gradient)."""
    changed = set()
    own = {n.id for n in _own_nodes(fdef) if isinstance(n, ast.Name)
           and isinstance(n.ctx, ast.Store)}
    for node in _own_nodes(fdef):
        target = node.targets[0] if isinstance(node, ast.Assign) and \
            len(node.targets) == 1 else node.target if isinstance(node, ast.AugAssign) \
            else None
        if not isinstance(target, ast.Subscript) or not isinstance(target.value, ast.Name):
            continue
        name = target.value.id
        if name in own:
            continue
        if name in params:
            changed.add(name)
            continue
        _refuse(node, filename, f"an in-place update of `{name}`, an enclosing function's "
                "or a global (this function's gradient cannot reach where it is read)", [
                    f"work on a copy and return it: {name} = {name}.copy(); "
                    f"{name}[...] = ...; return {name}",
                    "or make the update where the container is made"])
    return tuple(sorted(changed))
