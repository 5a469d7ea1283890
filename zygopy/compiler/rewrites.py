"""Source-level rewrites that run before the fence: constructs written one way
that the compiler differentiates in another, equivalent spelling.

- `sum(f(x) for x in xs)` (a generator consumed whole) as a list comprehension;
- `{k: v for ...}` as `dict([(k, v) for ...])`;
- the statements `np.f(..., out=a)`, `np.copyto(a, v)`, `np.fill_diagonal(a, v)`
  as the in-place updates `a[...] = ...` the reverse pass differentiates.
"""

from __future__ import annotations

import ast

from .build import LOAD, STORE
from .walk import walk

# builtins that consume a whole iterable: a generator expression passed to one
# of them gives what the list comprehension gives (any/all/next stop early:
# not these)
_CONSUMERS = {"sum", "min", "max", "tuple", "list", "sorted"}


def generators_as_lists(tree):
    """Rewrite `sum(f(x) for x in xs)` as `sum([f(x) for x in xs])` when the
    generator expression is the only argument of a builtin that consumes it
    all (see `_CONSUMERS`), before the fence refuses other generators; and
    dict comprehensions as `dict` of a list comprehension of pairs."""
    dict_comps = False
    for node in walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in _CONSUMERS and len(node.args) == 1 \
                and isinstance(node.args[0], ast.GeneratorExp):
            gen = node.args[0]
            node.args[0] = ast.copy_location(ast.ListComp(gen.elt, gen.generators), gen)
        dict_comps = dict_comps or isinstance(node, ast.DictComp)
    return _DictComps().visit(tree) if dict_comps else tree


class _DictComps(ast.NodeTransformer):
    """`{k: v for ...}` as `dict([(k, v) for ...])`: a list comprehension of
    pairs, which the compiler differentiates, and the rule of dict."""

    def visit_DictComp(self, node):
        self.generic_visit(node)
        pairs = ast.ListComp(ast.Tuple([node.key, node.value], LOAD), node.generators)
        call = ast.Call(ast.Name("dict", LOAD), [ast.copy_location(pairs, node)], [])
        return ast.fix_missing_locations(ast.copy_location(call, node))


def out_arguments_as_updates(tree, array_modules):
    """Rewrite a statement `np.f(..., out=a)` as `a[...] = np.f(...)` (and
    `b = np.f(..., out=a)` as that, then `b = a`): the in-place update the
    reverse pass differentiates, with its alias checks; likewise `np.copyto`
    and `np.fill_diagonal` (see `_in_place_call`). `array_modules`: the global
    names bound to numpy or cupy. Other uses of `out=` stay as they are (and
    are refused where they carry a gradient)."""
    for node in walk(tree):
        for field in ("body", "orelse"):
            stmts = getattr(node, field, None)
            if isinstance(stmts, list) and stmts and isinstance(stmts[0], ast.stmt):
                setattr(node, field, [new for stmt in stmts
                                      for new in _out_as_update(stmt, array_modules)])
    return tree


def _in_place_call(stmt, array_modules):
    """A statement `np.copyto(a, v)` as `a[...] = v`, and `np.fill_diagonal(a, v)`
    as `a[np.diag_indices(min(a.shape), a.ndim)] = v` (their defaults only):
    updates in place the reverse pass differentiates. None for other statements."""
    call = stmt.value if isinstance(stmt, ast.Expr) else None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
            and call.func.attr in ("copyto", "fill_diagonal") and not call.keywords
            and len(call.args) == 2 and isinstance(call.args[0], ast.Name)
            and isinstance(call.func.value, ast.Name) and call.func.value.id in array_modules):
        return None
    a, v = call.args
    index = ast.Constant(Ellipsis)
    if call.func.attr == "fill_diagonal":
        xp = call.func.value.id
        shape, ndim = (ast.Attribute(ast.Name(a.id, LOAD), n, LOAD) for n in ("shape", "ndim"))
        n = ast.Call(ast.Name("min", LOAD), [shape], [])
        index = ast.Call(ast.Attribute(ast.Name(xp, LOAD), "diag_indices", LOAD), [n, ndim], [])
    update = ast.Assign([ast.Subscript(ast.Name(a.id, LOAD), index, STORE)], v)
    return ast.fix_missing_locations(ast.copy_location(update, stmt))


def _out_as_update(stmt, array_modules):
    update = _in_place_call(stmt, array_modules)
    if update is not None:
        return [update]
    if isinstance(stmt, ast.Expr):
        call, target = stmt.value, None
    elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        call, target = stmt.value, stmt.targets[0]
    else:
        return [stmt]
    if not isinstance(call, ast.Call):
        return [stmt]
    out = [k for k in call.keywords if k.arg == "out"]
    root = call.func
    while isinstance(root, ast.Attribute):
        root = root.value
    if not out or not isinstance(out[0].value, ast.Name) or call.func is root or \
            not (isinstance(root, ast.Name) and root.id in array_modules):
        return [stmt]
    name = out[0].value.id
    call.keywords = [k for k in call.keywords if k.arg != "out"]
    update = ast.Assign([ast.Subscript(ast.Name(name, LOAD), ast.Constant(Ellipsis), STORE)],
                        call)
    new = [ast.copy_location(update, stmt)]
    if target is not None:  # after the update (passes order statements by position)
        alias = ast.copy_location(ast.Assign([target], ast.Name(name, LOAD)), stmt)
        alias.col_offset = stmt.end_col_offset or stmt.col_offset + 1
        new.append(alias)
    return [ast.fix_missing_locations(n) for n in new]
