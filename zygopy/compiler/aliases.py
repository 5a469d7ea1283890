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
import copy as copy_module

from .closures import own_nodes
from .fence import _refuse
from .walk import walk

# methods and numpy functions whose result may share memory with the input
VIEWS = {"T", "mT", "real", "imag", "reshape", "ravel", "view", "transpose",
         "swapaxes", "squeeze", "diagonal", "flat", "moveaxis", "expand_dims",
         "broadcast_to", "atleast_1d", "atleast_2d", "atleast_3d", "asarray",
         "asanyarray", "flip", "fliplr", "flipud", "rot90", "diag", "conj", "conjugate",
         "permute_dims", "matrix_transpose"}


# numpy functions whose result may be (or hold views of) an argument; every
# other function of numpy or math makes a new value
SHARING = VIEWS | {"split", "array_split", "hsplit", "vsplit", "dsplit", "unstack",
                   "broadcast_arrays", "ascontiguousarray", "asfortranarray", "require",
                   "squeeze", "lib", "stride_tricks", "as_strided", "sliding_window_view",
                   "nditer", "ndenumerate", "iter", "real_if_close", "asarray_chkfinite",
                   "rollaxis", "einsum", "trim_zeros", "atleast_1d", "atleast_2d",
                   "atleast_3d", "take_along_axis", "select", "choose"}
# attributes of an array that are never its memory
_PLAIN_ATTRS = {"shape", "ndim", "size", "dtype", "itemsize", "nbytes", "strides"}
# methods that make a new value (of an array; `copy`, shallow for a list or a
# dict, is looked at in `_call_roots`)
_FRESH_METHODS = {"copy", "sum", "mean", "prod", "std", "var", "max", "min", "cumsum",
                  "cumprod", "flatten", "tolist", "item", "dot", "round", "clip", "all",
                  "any", "argmax", "argmin", "argsort", "nonzero", "trace", "count",
                  "index", "keys"}
# builtins whose result holds nothing of their arguments
_FRESH_BUILTINS = {"len", "int", "float", "bool", "str", "repr", "range", "abs", "round",
                   "isinstance", "type", "print", "hash", "id", "callable", "divmod",
                   "pow", "sum", "any", "all", "format"}
_MODULES = ("np", "numpy", "xp", "cp", "cupy", "math")


def _roots(expr):
    """The names whose objects the value of `expr` may be, hold or share memory
    with (conservative: a call of user code may return its arguments; modules
    are not values that change)."""
    if isinstance(expr, ast.Name):
        return set() if expr.id in _MODULES else {expr.id}
    if isinstance(expr, ast.Subscript):
        if isinstance(expr.slice, (ast.List, ast.ListComp, ast.Compare)):
            return set()  # fancy indexing with a list or a mask: a copy
        return _roots(expr.value)
    if isinstance(expr, ast.Attribute):
        return set() if expr.attr in _PLAIN_ATTRS else _roots(expr.value)
    if isinstance(expr, ast.Call):
        return _call_roots(expr)
    if isinstance(expr, (ast.List, ast.Tuple, ast.Set)):
        return set().union(*map(_roots, expr.elts))
    if isinstance(expr, ast.Dict):
        return set().union(*map(_roots, expr.values))
    if isinstance(expr, ast.IfExp):
        return _roots(expr.body) | _roots(expr.orelse)
    if isinstance(expr, ast.BoolOp):
        return set().union(*map(_roots, expr.values))
    if isinstance(expr, (ast.Starred, ast.NamedExpr)):
        return _roots(expr.value)
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, (ast.Add, ast.Mult)):
        # `xs + [a]`, `[a] * 3`: a list holding a (arithmetic on arrays makes a
        # new value; so does `[0] * n`, whose items are those of the display)
        return set().union(*(_roots(e) for e in (expr.left, expr.right)
                             if isinstance(e, _DISPLAYS) or isinstance(expr.op, ast.Add)
                             and any(isinstance(o, _DISPLAYS)
                                     for o in (expr.left, expr.right))))
    if isinstance(expr, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
        return _comprehension_roots(expr)
    if isinstance(expr, ast.Lambda):
        return _free_loads(expr, {a.arg for a in expr.args.args})
    return set()  # constants, arithmetic, comparisons: new values


def _comprehension_roots(comp):
    """What a comprehension's items may share: its element's roots, a loop
    variable standing for what its iterable may share."""
    bound = {}
    for gen in comp.generators:
        roots = set().union(*(bound.get(r, {r}) for r in _roots(gen.iter)))
        for n in walk(gen.target):
            if isinstance(n, ast.Name):
                bound[n.id] = roots
    elts = [comp.key, comp.value] if isinstance(comp, ast.DictComp) else [comp.elt]
    return set().union(*(bound.get(r, {r}) for e in elts for r in _roots(e)))


def _free_loads(scope, bound):
    """The names a lambda or nested def reads that it does not bind itself."""
    stored = {n.id for n in walk(scope) if isinstance(n, ast.Name)
              and not isinstance(n.ctx, ast.Load)}
    return {n.id for n in walk(scope) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
            and n.id not in bound and n.id not in stored and n.id not in _MODULES}


_DISPLAYS = (ast.List, ast.Tuple, ast.ListComp)


def _call_roots(call):
    func = call.func
    args = call.args + [k.value for k in call.keywords]
    shared = set().union(*map(_roots, args)) if args else set()
    copy_false = any(k.arg == "copy" and isinstance(k.value, ast.Constant)  # None: numpy
                     and k.value.value in (False, None) for k in call.keywords)  # 2 may not
    if isinstance(func, ast.Name):
        return set() if func.id in _FRESH_BUILTINS else shared | {func.id}
    if not isinstance(func, ast.Attribute):
        return shared | _roots(func)
    chain, root = [], func
    while isinstance(root, ast.Attribute):
        chain.append(root.attr)
        root = root.value
    if isinstance(root, ast.Name) and root.id in _MODULES:  # np.f(...), np.linalg.f(...)
        if copy_false or any(k.arg == "out" for k in call.keywords) \
                or SHARING.intersection(chain):
            return shared
        return set()
    if func.attr in VIEWS or copy_false:  # a.reshape(...), a.astype(t, copy=False)
        return _roots(func.value) | shared
    if func.attr == "copy" and not call.args:  # an array's is new, but a list's or a
        # dict's holds the same arrays: of a name, `_bindings` tells (by `containers`);
        # of what a call gave (`rows_of(K).copy()`), it may be either
        return set() if isinstance(func.value, ast.Name) else _roots(func.value)
    if isinstance(func.value, ast.Name) and func.value.id == "copy":  # the copy module:
        return set() if func.attr == "deepcopy" else shared  # copy.copy is shallow
    if func.attr in _FRESH_METHODS or func.attr == "astype":
        return set()
    return _roots(func.value) | shared  # a method of anything else: d.get(k), obj.f()


def _mutated(stmt):
    """The names an in-place statement changes: `a += y`, `a[i] = v`, `a[i] +=
    v`, `a.append(v)`, `a.extend(vs)`, `a.pop()`, `v = a.pop()` (rewritten as a
    new list for `a` alone), and every array written by `a[0], b[0] = ...` or
    `a[0] = b[0] = v`."""
    call = stmt.value if isinstance(stmt, (ast.Expr, ast.Assign)) else None
    if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
            and call.func.attr in ("append", "extend", "pop") \
            and isinstance(call.func.value, ast.Name):
        return [call.func.value.id]
    if isinstance(stmt, ast.AugAssign):
        root = _subscript_root(stmt.target)
        return [root] if root is not None else []
    if not isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        return []
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    roots = [_subscript_root(e) for t in targets
             for e in (t.elts if isinstance(t, ast.Tuple) else [t])
             if isinstance(e, ast.Subscript)]
    return list(dict.fromkeys(r for r in roots if r is not None))


def _grows_list(stmt):
    """`xs.append(v)`, `xs.extend(vs)`, `xs.pop()`: list methods (arrays have
    none of them) that change which items a list holds, not the items."""
    call = stmt.value if isinstance(stmt, (ast.Expr, ast.Assign)) else None
    return isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) \
        and call.func.attr in ("append", "extend", "pop")


def _bindings(stmt, containers):
    """(name, the names its new value may share, how) for each name `stmt`
    binds or fills: how is "whole" (`b = a`), "part" (a view, an item, a
    result of a call), "rows" (a loop variable over a's rows), or "holds" (a list, tuple or dict made of or filled
    with the values: `xs = [a]`, `xs.append(a)`, `d[k] = a`, for the names
    `containers` holds, made as such)."""
    out = []
    if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        stmt = ast.Assign([stmt.target], stmt.value)  # `row: np.ndarray = a[0]`
    if isinstance(stmt, ast.Assign):
        value = stmt.value
        roots = _roots(value)
        if _copies_a_container(value, containers):  # `ys = xs.copy()`: the same items
            roots = _roots(value.func.value) if isinstance(value, ast.Call) and \
                isinstance(value.func, ast.Attribute) else roots
        how = "whole" if isinstance(value, ast.Name) else \
            "holds" if isinstance(value, (ast.List, ast.Tuple, ast.Dict, ast.Set, ast.Lambda)) \
            or _copies_a_container(value, containers) or _lazy(value) else "part"
        names = []
        for target in stmt.targets:
            if isinstance(target, ast.Subscript):  # c[i] = v: an array copies v in
                container = _subscript_root(target)
                if container in containers:
                    out.append((container, roots, "holds"))
                elif container is not None and roots:  # a dict or list made elsewhere
                    out.append((container, roots, "part"))  # holds v: the values tell
                continue
            names += [n.id for n in walk(target) if isinstance(n, ast.Name)
                      and isinstance(n.ctx, ast.Store)]
        targets = stmt.targets[0] if len(stmt.targets) == 1 else None
        if isinstance(targets, ast.Tuple) and isinstance(value, ast.Tuple) \
                and len(targets.elts) == len(value.elts) \
                and all(isinstance(t, ast.Name) for t in targets.elts):
            # `a, b = b, a`: item by item, each the value its right side had
            out += [(t.id, _roots(v) - set(names), "part")
                    for t, v in zip(targets.elts, value.elts)]
        else:
            out += [(n, roots, how if len(names) == 1 else "part") for n in names]
        if len(stmt.targets) > 1:  # `a = b = value`: one object, two names
            out += [(n, {m}, "whole") for n in names for m in names if m != n]
    elif isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name) \
            and stmt.target.id in containers:
        out.append((stmt.target.id, _roots(stmt.value), "holds"))  # xs += [a]
    elif isinstance(stmt, ast.For):
        out += [(name, roots, "rows") for name, roots in _loop_targets(stmt)]
    elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) \
            and isinstance(stmt.value.func, ast.Attribute) \
            and isinstance(stmt.value.func.value, ast.Name) \
            and stmt.value.func.attr in ("append", "extend", "insert", "add", "update",
                                         "setdefault", "appendleft"):
        call = stmt.value
        roots = set().union(*map(_roots, call.args)) if call.args else set()
        out.append((call.func.value.id, roots, "holds"))
    elif isinstance(stmt, ast.FunctionDef):  # a closure holds what it reads
        params = {a.arg for a in stmt.args.args + stmt.args.kwonlyargs}
        out.append((stmt.name, _free_loads(stmt, params), "holds"))
    for node in walk(stmt) if not isinstance(stmt, ast.FunctionDef) else ():
        if isinstance(node, ast.NamedExpr):  # `(b := a)` inside any statement
            out.append((node.target.id, _roots(node.value),
                        "whole" if isinstance(node.value, ast.Name) else "part"))
    return out


def _loop_targets(loop):
    """(name, what it may share) for each name a `for` binds: `for r in a`
    rows of a; `for i, r in enumerate(a)` r (i counts); `for r, s in zip(a,
    b)` r of a and s of b; `for k, v in d.items()` v of d."""
    target, it = loop.target, loop.iter
    if isinstance(target, ast.Tuple) and isinstance(it, ast.Call) and not it.keywords:
        func, elts = it.func, target.elts
        if isinstance(func, ast.Name) and func.id == "enumerate" and len(it.args) == 1 \
                and len(elts) == 2:
            return _loop_targets(ast.For(elts[1], it.args[0], [], []))
        if isinstance(func, ast.Name) and func.id == "zip" and len(it.args) == len(elts):
            return [pair for t, a in zip(elts, it.args)
                    for pair in _loop_targets(ast.For(t, a, [], []))]
        if isinstance(func, ast.Attribute) and func.attr == "items" and not it.args \
                and len(elts) == 2:
            return _loop_targets(ast.For(elts[1], func.value, [], []))
    roots = _roots(it)
    return [(n.id, roots) for n in walk(target) if isinstance(n, ast.Name)]


def _lazy(value):
    """`map(f, a)`, `zip(a, b)`, a generator: Python reads `a` when the result
    is consumed, after any update in between (the values cannot tell)."""
    return isinstance(value, ast.GeneratorExp) or isinstance(value, ast.Call) \
        and isinstance(value.func, ast.Name) \
        and value.func.id in ("map", "filter", "zip", "enumerate", "reversed", "iter")


def _copies_a_container(value, containers):
    """`xs[:]`, `xs[1:]`, `xs.copy()`, `list(xs)` of a list made here: a new
    list holding the same items (of an array, a slice would be a view)."""
    if isinstance(value, ast.Subscript) and isinstance(value.slice, ast.Slice):
        return isinstance(value.value, ast.Name) and value.value.id in containers
    if isinstance(value, ast.Call) and len(value.args) <= 1:
        func = value.func
        if isinstance(func, ast.Attribute) and func.attr == "copy" and not value.args:
            return isinstance(func.value, ast.Name) and func.value.id in containers
        if isinstance(func, ast.Name) and func.id in ("list", "dict") and value.args:
            return isinstance(value.args[0], ast.Name) and value.args[0].id in containers
    return False


def _containers(stmts):
    """Names bound to a list, tuple, dict or set made here (a display, a
    comprehension, list(...) and the like): setting an item of one shares
    the value, as setting an item of an array does not."""
    made = (ast.List, ast.Tuple, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)
    out, other = set(), set()
    for s in stmts:
        if not isinstance(s, ast.Assign):
            continue
        value = s.value
        names = {t.id for t in s.targets if isinstance(t, ast.Name)}
        if isinstance(value, made) or isinstance(value, ast.Call) \
                and isinstance(value.func, ast.Name) \
                and value.func.id in ("list", "dict", "set", "tuple", "deque",
                                      "defaultdict", "OrderedDict") \
                or isinstance(value, ast.BinOp) and isinstance(value.op, ast.Mult) \
                and any(isinstance(e, made) for e in (value.left, value.right)) \
                or _copies_a_container(value, out):
            out |= names
        else:
            other |= names
    return out - other  # (a name also bound to an array may hold one)


def _subscript_root(target):
    while isinstance(target, ast.Subscript):
        target = target.value
    return target.id if isinstance(target, ast.Name) else None


def find(fdef, own=None):
    """Candidate conflicts, before any pass changes the tree: (statement,
    mutated name, other name, line the other is read on, pair, how the two
    may share: see `_bindings`). Sharing is followed through chains of names
    (`h = Holder(a); b = h.arr`)."""
    nodes = walk(fdef)
    own = list(own_nodes(fdef)) if own is None else own  # (`own_nodes` of fdef)
    stmts = [s for s in own if isinstance(s, ast.stmt)]  # (nested
    # functions are compiled, and checked, on their own)
    stmts.sort(key=lambda s: (s.lineno, s.col_offset))
    pairs = []  # ((line, column), name, other, how): `name` may share memory with `other`
    containers = _containers(stmts)
    for s in stmts:
        for name, roots, how in _bindings(s, containers):
            pairs += [((s.lineno, s.col_offset), name, other, how) for other in roots
                      if other != name]
    found = _loops_over_updated(stmts)
    if not pairs:
        return found
    loads = {}
    for n in nodes:
        if n.__class__ is ast.Name and isinstance(n.ctx, ast.Load):
            loads.setdefault(n.id, []).append((n.lineno, n.col_offset))
    loops = [s for s in stmts if isinstance(s, (ast.For, ast.While))]
    top = set(map(id, fdef.body)) if isinstance(fdef.body, list) else set()
    stores = [((s.lineno, s.col_offset), t.id) for s in stmts
              if isinstance(s, ast.Assign) and id(s) in top  # every path rebinds it
              and not _roots(s.value)  # a new value (not `s = s`, `s = s.T`)
              for t in s.targets if isinstance(t, ast.Name)]
    block_of = None
    for s in stmts:
        end = (getattr(s, "end_lineno", s.lineno), getattr(s, "end_col_offset", 0))
        for name in _mutated(s):
            reported = set()
            for other, first, how, at in _sharing(name, s, pairs, loops, stores):
                if other in reported:
                    continue
                later = [line for line, col in loads.get(other, ())
                         if (line, col) > end or _same_loop(loops, line, s)]
                if later:
                    block_of = block_of or _blocks(fdef)[0]
                    until = _rebound_after(s, other, _next_binding(s, other, block_of),
                                           block_of)
                    if until is not None:  # bound anew after the update, before a read
                        later = [line for line, col in loads[other]
                                 if end < (line, col) < until]
                if later:
                    reported.add(other)
                    where = ast.copy_location(ast.Pass(), s)
                    found.append((where, name, other, later[0], first, how, s))
    return found


def _next_binding(update, name, block_of):
    """The first statement after `update` in its block that assigns `name`, or
    an `if` whose every branch does."""
    block = block_of.get(id(update))
    if block is None:
        return None
    i = next(k for k, s in enumerate(block) if s is update)
    for s in block[i + 1:]:
        if _binds(s, name) or isinstance(s, ast.If) and _binds_on_every_path(s, name):
            return s
        targets = s.targets if isinstance(s, ast.Assign) else \
            [s.target] if isinstance(s, ast.AnnAssign) else []
        if any(isinstance(n, ast.Name) and n.id == name for t in targets for n in walk(t)):
            return s  # assigned some other way: `_rebound_after` grants nothing for it
    return None


def _binds(stmt, name):
    """Whether `stmt` is a plain assignment of `name` (alone, or in a tuple of
    names: `keys, vals = K[:t], V[:t]`; or annotated)."""
    targets = stmt.targets if isinstance(stmt, ast.Assign) else \
        [stmt.target] if isinstance(stmt, ast.AnnAssign) and stmt.value else []
    names = [e for t in targets for e in (t.elts if isinstance(t, ast.Tuple) else [t])]
    return bool(names) and all(isinstance(e, ast.Name) for e in names) \
        and name in {e.id for e in names}


def _binds_on_every_path(stmt, name):
    """Whether every branch of `if` statement `stmt` assigns `name` anew at its
    top level (`if c: keys = K[:t] else: keys = K[t:]`)."""
    return bool(stmt.orelse) and all(
        any(_binds(s, name) or isinstance(s, ast.If) and _binds_on_every_path(s, name)
            for s in branch)
        for branch in (stmt.body, stmt.orelse))


def _rebound_after(update, name, binding, block_of):
    """Where a loop's pass stops reading `name` as it was before `update`:
    the end of `binding`, when that plain assignment of `name` (or an `if`
    assigning it in every branch) follows the update in the same block with
    nothing between, or in it, that could jump past it (`K[t] = k; keys =
    K[:t + 1]`: each pass reads the new `keys`, made after the update). A read
    inside such an `if` counts as one of the old value. None otherwise."""
    if binding is None:
        return None
    if isinstance(binding, ast.If):
        if not _binds_on_every_path(binding, name) or _jumps_out(binding):
            return None
    elif not _binds(binding, name):
        return None
    block = block_of.get(id(update))
    if block is None or block is not block_of.get(id(binding)):
        return None
    i = next(k for k, s in enumerate(block) if s is update)
    j = next(k for k, s in enumerate(block) if s is binding)
    if j <= i or any(_jumps_out(s) for s in block[i + 1:j]):
        return None
    return (getattr(binding, "end_lineno", binding.lineno),
            getattr(binding, "end_col_offset", 0))


def _jumps_out(stmt):
    """Whether `stmt` may leave its block's pass early for the code after it: a
    return, or a break or continue of the enclosing loop (one inside a loop of
    its own leaves that loop only; a raise leaves the function, whose try
    zygopy refuses, so nothing of it reads a name again)."""
    if isinstance(stmt, (ast.Break, ast.Continue, ast.Return)):
        return True
    if isinstance(stmt, (ast.For, ast.While)):
        return any(isinstance(n, ast.Return) for n in walk(stmt)) \
            or any(_jumps_out(s) for s in stmt.orelse)
    if isinstance(stmt, (ast.FunctionDef, ast.Lambda, ast.ClassDef)):
        return False
    return any(_jumps_out(s) for s in ast.iter_child_nodes(stmt) if isinstance(s, ast.stmt))


def _loops_over_updated(stmts):
    """Conflicts of an update of the array a `for` loop iterates over, inside
    the loop: Python's loop reads the later items after the update (zygopy's
    read them as they were). Writing the current item, `for i, r in
    enumerate(a): a[i] = ...`, is not one (what `r` shares is checked as any
    view is)."""
    found = []
    for loop in stmts:
        if not isinstance(loop, ast.For):
            continue
        iterated = _roots(loop.iter)
        counter = None
        if isinstance(loop.iter, ast.Call) and isinstance(loop.iter.func, ast.Name) \
                and loop.iter.func.id == "enumerate" and isinstance(loop.target, ast.Tuple) \
                and loop.target.elts and isinstance(loop.target.elts[0], ast.Name):
            counter = loop.target.elts[0].id
        for s in (n for n in walk(loop) if isinstance(n, ast.stmt) and n is not loop):
            for name in _mutated(s):
                if name not in iterated or _writes_item(s, counter):
                    continue
                where = ast.copy_location(ast.Pass(), s)
                found.append((where, name, name, loop.lineno, (name, name), "loop", s))
    return found


def _writes_item(stmt, counter):
    """Whether update `stmt` writes item `counter` (`a[i] = v`, `a[i, j] += v`)."""
    if counter is None:
        return False
    target = stmt.target if isinstance(stmt, ast.AugAssign) else \
        stmt.targets[0] if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 else None
    if not isinstance(target, ast.Subscript) or not isinstance(target.value, ast.Name):
        return False
    index = target.slice.elts[0] if isinstance(target.slice, ast.Tuple) and \
        target.slice.elts else target.slice
    return isinstance(index, ast.Name) and index.id == counter


def _sharing(name, stmt, pairs, loops, stores):
    """(other name, the pair that links it, how, where the pair is made) for
    every name that may share `name`'s object when `stmt` updates it in place
    (a name comes again for each further pair that binds it)."""
    reached, out, todo = {name}, [], [name]
    while todo:
        current = todo.pop()
        for (line, col), a, b, how in pairs:
            if current not in (a, b) or (line, col) > (stmt.lineno, stmt.col_offset) \
                    and not _same_loop(loops, line, stmt):
                continue
            other = b if current == a else a
            if other == name or _unaffected(current == b, how, stmt, name == current) \
                    or other in reached and other != a:  # (once, or where it is bound)
                continue
            if other not in reached:
                reached.add(other)
                todo.append(other)
            # `t = s; t = t + x; s[0] = v`: t no longer shares s (nor after `s = ...`,
            # the updated name); but a name made from t before (`r = t`) still may:
            # followed on, and only its own rebinding counts then
            rebinds = (a, b) if current == name else (other,)
            if not _rebound_between(stores, loops, rebinds, (line, col), stmt):
                out.append((other, (a, b), how, (line, col)))
    return out


def _unaffected(current_is_shared, how, stmt, direct):
    """Whether the update `stmt` leaves the other side of a pair as it was:
    a list growing or shrinking does not change a copy of one of its items or
    slices (`v = xs[i]`), and neither that nor setting an item of a container
    (`xs[i] = v`) changes the values it holds."""
    if not direct:
        return False
    if current_is_shared and how in ("part", "rows"):
        return _grows_list(stmt)
    if not current_is_shared and how == "holds":  # only a change of an item
        return not (isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Subscript)
                    or isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Subscript)
                    and isinstance(stmt.targets[0].value, ast.Subscript))
    return False


def guard(fdef, found, filename, params, local=None):
    """Turn the conflicts that a look at the values can settle into checks at
    run time, and return the others (for `refuse`).

    Where the other name was bound to a value that may or may not share the
    array (`old = x[i]`, `row = a[0]`, `lap = helper(u)`, `rows = [r for r in
    a]`), whether it shares the memory the update writes is a fact of the
    values: a guard before the update, `_zp.unshared(a, index, (other, ...),
    key, augmented)`, raises the refusal only if it does, looking into
    containers, closures and objects (a number read from an element, a new
    array or another row does not). The other name must be bound on every
    path to the update; names made to hold the array (`xs = [a]`, a closure
    reading it) stay refused here."""
    blocks = _blocks(fdef)
    by_stmt, rest = {}, []
    for conflict in found:
        _, _, other, _, _, how, stmt = conflict
        target = _update_target(stmt)
        if how in ("whole", "part", "rows") and target is not None \
                and (local is not None and other not in local  # a global, a class
                     or _bound_before(other, stmt, blocks, params)):
            by_stmt.setdefault(id(stmt), (stmt, target, []))[2].append(conflict)
        else:
            rest.append(conflict)
    for stmt, (name, index), conflicts in by_stmt.values():
        others = sorted({c[2] for c in conflicts})
        key = _register_refusal(conflicts[0], filename)
        call = ast.Call(ast.Attribute(ast.Name("_zp", ast.Load()), "unshared", ast.Load()),
                        [ast.Name(name, ast.Load()), index or ast.Constant(None),
                         ast.Tuple([ast.Name(o, ast.Load()) for o in others], ast.Load()),
                         ast.Constant(key), ast.Constant(isinstance(stmt, ast.AugAssign))], [])
        check = ast.fix_missing_locations(ast.copy_location(ast.Expr(call), stmt))
        block = blocks[0][id(stmt)]
        block.insert(next(i for i, s in enumerate(block) if s is stmt), check)
    return rest


def _update_target(stmt):
    """(name, index or None) an update of an array writes: `a[i] = v` and
    `a[i] op= v` with an index free of calls, `a op= v`; None for others."""
    if isinstance(stmt, ast.AugAssign):
        target = stmt.target
    elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target = stmt.targets[0]
    else:
        return None
    if isinstance(target, ast.Name) and isinstance(stmt, ast.AugAssign):
        return target.id, None
    if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
        index = target.slice
        pure = not any(isinstance(n, (ast.Call, ast.NamedExpr, ast.Await, ast.Yield))
                       for n in walk(index)) \
            and not any(isinstance(n, ast.NamedExpr) for n in walk(stmt.value))
        # (a walrus on the right may change the index after the guard read it)
        return target.value.id, (_copied(index) if pure else None)
    return None


def _copied(node):
    """An expression of the value of index `node` (slices as `slice(...)`)."""
    if isinstance(node, ast.Slice):
        parts = [_copied(p) if p is not None else ast.Constant(None)
                 for p in (node.lower, node.upper, node.step)]
        return ast.copy_location(ast.Call(ast.Name("slice", ast.Load()), parts, []), node)
    if isinstance(node, ast.Tuple):
        return ast.copy_location(ast.Tuple([_copied(e) for e in node.elts], ast.Load()), node)
    copy = copy_module.deepcopy(node)
    for n in walk(copy):
        if hasattr(n, "ctx"):
            n.ctx = ast.Load()
    return copy


def _blocks(fdef):
    """(id(statement) -> the statement list it is in, id(list) -> the
    compound statement owning it) for `fdef`'s own code."""
    block_of, owner_of = {}, {}
    for node in walk(fdef):
        if isinstance(node, (ast.Lambda, ast.FunctionDef)) and node is not fdef:
            continue
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                owner_of[id(block)] = None if node is fdef else node
                for s in block:
                    block_of[id(s)] = block
    return block_of, owner_of


def _bound_before(name, stmt, blocks, params):
    """Whether `name` is bound on every path to `stmt`: a parameter, the
    target of a loop around it, or assigned by a statement before it in its
    block or an enclosing one."""
    if name in params:
        return True
    block_of, owner_of = blocks
    current = stmt
    while id(current) in block_of:
        block = block_of[id(current)]
        position = next(i for i, s in enumerate(block) if s is current)
        for s in block[:position]:
            if isinstance(s, ast.Assign) and any(
                    isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Store)
                    for t in s.targets for n in walk(t)):
                return True
        owner = owner_of.get(id(block))
        if owner is None:
            return False
        if isinstance(owner, ast.For) and block is owner.body and any(
                isinstance(n, ast.Name) and n.id == name for n in walk(owner.target)):
            return True
        current = owner
    return False


_REFUSALS: dict = {}  # key -> (what, filename, line, column, fixes) of a guarded conflict


def _register_refusal(conflict, filename):
    where, name, other, later, (a, b), how, _ = conflict
    what, fixes = _refusal_text(name, other, later, a, b, how)
    key = f"{filename}:{where.lineno}:{where.col_offset}"  # (readable in zp.source)
    _REFUSALS[key] = (what, filename, where.lineno, where.col_offset, fixes)
    return key


def refused_at_run_time(key):
    """Raise the refusal a guard registered (see `guard`)."""
    what, filename, line, column, fixes = _REFUSALS[key]
    where = ast.Pass(lineno=line, col_offset=column)
    _refuse(where, filename, what, fixes)


def _refusal_text(name, other, later, a, b, how):
    if how == "loop":
        return (f"an in-place update of `{name}` inside the loop over `{name}` (line "
                f"{later}): the loop reads its later items after the update"), [
            f"loop over indices: `for i in range(len({name})):`, reading `{name}[i]`",
            (f"or write the current item only: `for i, r in enumerate({name}): "
             f"{name}[i] = ...`")]
    second = {
        "holds": f"or give `{a}` a copy: `{b}.copy()` where `{a}` takes `{b}`",
        "rows": f"or write into `{b}` itself: `for i in range(len({b})): {b}[i] = ...`",
    }.get(how, f"or copy when the second name is made: `{a} = {b}.copy()`")
    what = (f"an in-place update of `{name}`, which shares its array or list with "
            f"`{other}` (read again on line {later}): Python would change `{other}` too")
    fixes = [(f"make a new array instead: `{name} = {name} + ...` "
              f"(or `{name}[...] = ...` on a copy: `{name} = {name}.copy()`)"), second]
    return what, fixes


def refuse(found, filename, kind):
    """Raise UnsupportedSyntax at the first conflict between names not known to
    hold numbers (`kind(name)` from activity analysis)."""
    from .activity import SCALAR

    for where, name, other, later, (a, b), how, _ in found:
        if SCALAR in (kind(name), kind(other)):
            continue
        what, fixes = _refusal_text(name, other, later, a, b, how)
        _refuse(where, filename, what, fixes)


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


def check_owned_updates(fdef, filename, params, own=None):
    """Refuse `c[i] = v` and `c[i] += v` on a container this function does not
    own: a variable of an enclosing function or a global (a memo dict, a list
    a nested function fills). The change happens, but the gradient, kept per
    name here, never reaches the reads of it there. Returns the parameters
    updated in place without being rebound (the caller's arrays: fine for a
    top-level call, refused by the dispatcher for a call from differentiated
    code, whose later reads would miss the gradient); `+x` for a parameter
    updated by `x op= v`, which changes the caller's value only if it is an
    array or a list."""
    changed = set()
    nodes = list(own_nodes(fdef)) if own is None else own
    own = {n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    assigned = {n.id for node in nodes if isinstance(node, ast.Assign)
                for t in node.targets for n in walk(t) if isinstance(n, ast.Name)}
    for node in nodes:
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) \
                and node.target.id in params and node.target.id not in assigned:
            changed.add("+" + node.target.id)  # `x += v`: in place if x is an array
            continue
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
