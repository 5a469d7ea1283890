"""Closures: refuse a captured variable rebound while a closure may still read it.

Python closures read their variables when they are called (late binding):

    z = x
    h = lambda: z * y
    z = 3.0 * x
    return h()        # reads the second z

The value is right in generated code too, but the gradient of a closure's
variables is handed to them where the closure is made, so it would reach the
first `z`: a wrong gradient, silently. This pass finds such programs in the
user's source and refuses them at the closure's line, before any code is made:

* a named closure (`def h` or `h = lambda ...`) used after a later assignment
  to a variable it captures;
* a closure that escapes (passed, stored or returned: it may be called
  anywhere) whose variable is assigned again after it is made, or inside the
  loop that makes it (a closure made in one pass of a loop and called in a
  later one reads the later value), or that reads the loop variable of the
  comprehension that makes it;
* a default value of a nested function that reads a variable (defaults are
  evaluated once and not differentiated), but for counters over `range`.

A closure called directly, before its variables change, is fine, and so is
the common `for ...: s = ...; f = lambda: s * y; total += f()`.
"""

from __future__ import annotations

import ast

from .fence import _refuse
from .walk import walk

_SCOPES = (ast.FunctionDef, ast.Lambda)
_LOOPS = (ast.For, ast.While)


def check(fdef, filename):
    """Raise UnsupportedSyntax for a closure of `fdef` whose gradient would go
    to an older value of a variable it captures (see the module docs)."""
    if not any(isinstance(n, _SCOPES) for n in walk(fdef) if n is not fdef):
        return  # no closures: the common case, one quick pass
    parents = {}
    for node in ast.walk(fdef):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    local = _tainted(fdef)  # variables that may hold a value derived from the arguments
    stores = _stores(fdef)
    for node in ast.walk(fdef):
        if node is fdef or not isinstance(node, _SCOPES):
            continue
        counters = _range_counters(fdef, node, parents)
        for default in node.args.defaults + [d for d in node.args.kw_defaults if d]:
            reads = {n.id for n in ast.walk(default) if isinstance(n, ast.Name)}
            for var in sorted((reads & (local | _comprehension_targets(node, parents, fdef,
                                                                         everything=True)))
                              - counters):
                _refuse(node, filename, f"a default value that reads `{var}` (defaults are "
                        "not differentiated)", [
                            f"read `{var}` in the body instead (a closure)",
                            f"or pass `{var}` as an argument when calling"])
        free = _loaded(node) - _bound(node)
        for var in sorted(free & _comprehension_targets(node, parents, fdef)):
            _refuse(node, filename, f"a closure made in a comprehension that reads its loop "
                    f"variable `{var}` (every such closure reads the last value)", [
                        f"bind the value now with a default: lambda ..., {var}={var}: ...",
                        "or build the list with a for loop and call each closure in it"])
        captured = free & local
        if not captured:
            continue
        name = _name_of(node, parents)
        uses = [] if name is None else [p for n, p in _loads(fdef) if n == name]
        escapes = name is None or any(
            not _is_call_target(n, parents) for n in ast.walk(fdef)
            if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load))
        made = _end(node)
        loop = _enclosing_loop(node, parents, fdef)
        for var in sorted(captured):
            for pos, assign in stores.get(var, ()):
                later = pos > made
                in_loop = loop is not None and _inside(assign, loop, parents)
                if (later and any(u > pos for u in uses)) or \
                        (escapes and (later or in_loop)):
                    _refuse(node, filename, f"a closure that reads `{var}` after `{var}` is "
                            f"assigned again (line {pos[0]})", [
                                f"give the new value of `{var}` another name",
                                f"or make the closure after the last assignment to `{var}`"])


def _tainted(fdef):
    """The variables of `fdef` that may hold values computed from its arguments
    (others, such as `k = math.pi`, carry no gradient: closures may read them
    freely)."""
    args = fdef.args
    tainted = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
    tainted |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    flows = []  # (targets, names read)
    for node in own_nodes(fdef):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.For)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.iter if isinstance(node, ast.For) else node.value
            names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
            flows.append((names, {n.id for n in ast.walk(value) if isinstance(n, ast.Name)}
                          if value is not None else set()))
        elif isinstance(node, ast.FunctionDef) and node is not fdef:
            flows.append(({node.name}, _loaded(node)))
    changed = True
    while changed:
        changed = False
        for names, reads in flows:
            if reads & tainted and not names <= tainted:
                tainted |= names
                changed = True
    return tainted


def _bound(scope):
    """Names a function (or lambda) binds itself: parameters and assignments
    outside its nested scopes and comprehensions."""
    args = scope.args
    out = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
    out |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    for node in own_nodes(scope):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            out.add(node.id)
        elif isinstance(node, ast.FunctionDef):
            out.add(node.name)
    return out


def own_nodes(scope):
    """The nodes of `scope`'s body, not those of nested scopes, nor the loop
    variables of comprehensions (their own)."""
    body = scope.body if isinstance(scope.body, list) else [scope.body]
    todo = list(body)
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, _SCOPES):
            continue  # its name is bound here (FunctionDef), its body is not
        if isinstance(node, ast.comprehension):
            todo += [node.iter] + node.ifs
            continue
        todo += ast.iter_child_nodes(node)


def _stores(fdef):
    """name -> [(position, node)] of the assignments of `fdef` itself."""
    out = {}
    for node in own_nodes(fdef):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            out.setdefault(node.id, []).append(((node.lineno, node.col_offset), node))
    return out


def _loads(fdef):
    return [(n.id, (n.lineno, n.col_offset)) for n in own_nodes(fdef)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]


def _loaded(scope):
    return {n.id for n in ast.walk(scope) if isinstance(n, ast.Name)
            and isinstance(n.ctx, ast.Load)}


def _name_of(node, parents):
    """The name a closure is known by (`def h`, `h = lambda`), or None."""
    if isinstance(node, ast.FunctionDef):
        return node.name
    parent = parents.get(node)
    if isinstance(parent, ast.Assign) and len(parent.targets) == 1 \
            and isinstance(parent.targets[0], ast.Name):
        return parent.targets[0].id
    return None


def _is_call_target(name_node, parents):
    parent = parents.get(name_node)
    return isinstance(parent, ast.Call) and parent.func is name_node


def _end(node):
    return (node.end_lineno, node.end_col_offset)


def _comprehension_targets(node, parents, fdef, everything=False):
    """Loop variables of the comprehensions `node` sits in (but for counters
    over `range(...)`, unless `everything`: integers carry no gradient)."""
    out = set()
    node = parents.get(node)
    while node is not None and node is not fdef:
        if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
            for gen in node.generators:
                if everything or not _is_range(gen.iter):
                    out |= {n.id for n in ast.walk(gen.target) if isinstance(n, ast.Name)}
        node = parents.get(node)
    return out


def _is_range(e):
    return isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and e.func.id == "range"


def _range_counters(fdef, node, parents):
    """Names that only ever count over `range(...)`: loop variables of `for`
    loops of `fdef` and of the comprehensions around `node`."""
    targets = {}
    for n in own_nodes(fdef):
        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
            targets.setdefault(n.id, []).append(n)
    out = set()
    for name, stores in targets.items():
        if all(isinstance(parents.get(s), ast.For) and parents[s].target is s
               and _is_range(parents[s].iter) for s in stores):
            out.add(name)
    comp = _comprehension_targets(node, parents, fdef, everything=True)
    return out | (comp - _comprehension_targets(node, parents, fdef))


def _enclosing_loop(node, parents, fdef):
    node = parents.get(node)
    while node is not None and node is not fdef:
        if isinstance(node, _LOOPS):
            return node
        node = parents.get(node)
    return None


def _inside(node, ancestor, parents):
    while node is not None:
        if node is ancestor:
            return True
        node = parents.get(node)
    return False
