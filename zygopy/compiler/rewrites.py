"""Source-level rewrites that run before the fence: constructs written one way
that the compiler differentiates in another, equivalent spelling.

- `sum(f(x) for x in xs)` (a generator consumed whole) as a list comprehension;
- `{k: v for ...}` as `dict([(k, v) for ...])`;
- the statements `np.f(..., out=a)`, `np.copyto(a, v)`, `np.fill_diagonal(a, v)`,
  `np.add.at(a, index, v)` as the in-place updates `a[...] = ...` the reverse
  pass differentiates;
- `for`/`while` with an `else` clause as a flag set at each `break`;
- `a, *rest = xs` as a list of the items and indexing.
"""

from __future__ import annotations

import ast

from .build import LOAD, STORE
from .walk import walk

# builtins that consume a whole iterable: a generator expression passed to one
# of them gives what the list comprehension gives (any/all/next stop early:
# not these)
_CONSUMERS = {"sum", "min", "max", "tuple", "list", "sorted"}


def apply(tree, array_modules):
    """Every rewrite of this module that `tree` has a construct for, in order
    (one pass finds which: most functions need none, and each rewrite walks
    the whole tree)."""
    wanted = set()
    for node in walk(tree):
        kind = _TRIGGERS.get(node.__class__)
        if kind == "loop" and not node.orelse or kind == "call" and not _calls_in_place(node):
            continue
        if kind is not None:
            wanted.add(kind)
    if "comprehension" in wanted:
        tree = generators_as_lists(tree)
    if "call" in wanted:
        tree = out_arguments_as_updates(tree, array_modules)
    if "loop" in wanted:
        tree = loop_else_as_flags(tree)
    if "starred" in wanted:
        tree = starred_assignments(tree)
    return tree


_TRIGGERS = {ast.GeneratorExp: "comprehension", ast.DictComp: "comprehension",
             ast.For: "loop", ast.While: "loop", ast.Starred: "starred", ast.Call: "call"}


def _calls_in_place(call):
    """A call `out_arguments_as_updates` may rewrite: with `out=`, or of a
    function named copyto, fill_diagonal or at."""
    return any(k.arg == "out" for k in call.keywords) or \
        isinstance(call.func, ast.Attribute) and call.func.attr in ("copyto", "fill_diagonal",
                                                                    "at")


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
    return _each_statement(tree, lambda stmt: _out_as_update(stmt, array_modules))


def _each_statement(tree, rewrite):
    """Replace every statement of every block of `tree` by `rewrite(stmt)` (a
    list of statements)."""
    for node in walk(tree):
        for field in ("body", "orelse"):
            stmts = getattr(node, field, None)
            if isinstance(stmts, list) and stmts and isinstance(stmts[0], ast.stmt):
                setattr(node, field, [new for stmt in stmts for new in rewrite(stmt)])
    return tree


def _add_at(stmt, array_modules):
    """A statement `np.add.at(a, index, v)` as `a[...] = a + scatter_add(a.shape,
    index, v)` (repeated indices accumulate in both); None for other statements."""
    call = stmt.value if isinstance(stmt, ast.Expr) else None
    func = getattr(call, "func", None)
    if not (isinstance(call, ast.Call) and isinstance(func, ast.Attribute)
            and func.attr == "at" and isinstance(func.value, ast.Attribute)
            and func.value.attr == "add" and isinstance(func.value.value, ast.Name)
            and func.value.value.id in array_modules and not call.keywords
            and len(call.args) == 3 and isinstance(call.args[0], ast.Name)):
        return None
    a, index, v = call.args
    shape = ast.Attribute(ast.Name(a.id, LOAD), "shape", LOAD)
    added = ast.Call(ast.Attribute(ast.Name("_zp", LOAD), "scatter_add", LOAD),
                     [shape, index, v], [])
    update = ast.Assign([ast.Subscript(ast.Name(a.id, LOAD), ast.Constant(Ellipsis), STORE)],
                        ast.BinOp(ast.Name(a.id, LOAD), ast.Add(), added))
    return ast.fix_missing_locations(ast.copy_location(update, stmt))


def _in_place_call(stmt, array_modules):
    """A statement `np.copyto(a, v)` as `a[...] = v` (with `where=m`, as `a[...] =
    np.where(m, v, a)`), and `np.fill_diagonal(a, v)` as
    `a[np.diag_indices(min(a.shape), a.ndim)] = v` (their other defaults only):
    updates in place the reverse pass differentiates. None for other statements."""
    added = _add_at(stmt, array_modules)
    if added is not None:
        return added
    call = stmt.value if isinstance(stmt, ast.Expr) else None
    where = [k for k in getattr(call, "keywords", ()) if k.arg == "where"]
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
            and call.func.attr in ("copyto", "fill_diagonal")
            and len(call.keywords) == len(where) and (not where or call.func.attr == "copyto")
            and len(call.args) == 2 and isinstance(call.args[0], ast.Name)
            and isinstance(call.func.value, ast.Name) and call.func.value.id in array_modules):
        return None
    a, v = call.args
    if where:  # np.copyto(a, v, where=m): a[...] = np.where(m, v, a)
        xp = call.func.value.id
        v = ast.Call(ast.Attribute(ast.Name(xp, LOAD), "where", LOAD),
                     [where[0].value, v, ast.Name(a.id, LOAD)], [])
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


def _fresh(tree, base):
    """A name `base`, `base1`, ... that `tree` does not use."""
    used = {n.id for n in walk(tree) if isinstance(n, ast.Name)} | \
        {a.arg for a in walk(tree) if isinstance(a, ast.arg)}
    name, i = base, 0
    while name in used:
        i += 1
        name = f"{base}{i}"
    return name


def loop_else_as_flags(tree):
    """`for ...: ... break ... else: E` (and `while`) as a flag set before
    each break of that loop and `if not flag: E` after it: what the clause
    means, in statements the compiler differentiates."""
    return _each_statement(tree, lambda stmt: _loop_else(stmt, tree))


def _loop_else(stmt, tree):
    if not isinstance(stmt, (ast.For, ast.While)) or not stmt.orelse:
        return [stmt]
    flag = _fresh(tree, "_broke")
    _flag_breaks(stmt.body, flag)
    first = ast.copy_location(ast.Assign([ast.Name(flag, STORE)], ast.Constant(False)), stmt)
    test = ast.UnaryOp(ast.Not(), ast.Name(flag, LOAD))
    after = ast.If(test, stmt.orelse, [])
    after.lineno = stmt.orelse[0].lineno
    after.col_offset = stmt.col_offset
    stmt.orelse = []
    return [ast.fix_missing_locations(first), stmt, ast.fix_missing_locations(after)]


def _flag_breaks(stmts, flag):
    """Precede each `break` of this loop (not of loops nested in it) with
    `flag = True`."""
    for i in range(len(stmts) - 1, -1, -1):
        s = stmts[i]
        if isinstance(s, ast.Break):
            set_flag = ast.Assign([ast.Name(flag, STORE)], ast.Constant(True))
            stmts.insert(i, ast.fix_missing_locations(ast.copy_location(set_flag, s)))
        elif isinstance(s, ast.If):
            _flag_breaks(s.body, flag)
            _flag_breaks(s.orelse, flag)
        elif isinstance(s, (ast.For, ast.While)):
            _flag_breaks(s.orelse, flag)  # a nested loop's else belongs to this one


def starred_assignments(tree):
    """`a, *rest, z = xs` (names only) as `_items = list(xs)`, a check of its
    length, and `a = _items[0]`, `rest = _items[1:len(_items) - 1]`,
    `z = _items[-1]`: Python's own unpacking, spelled with indexing."""
    return _each_statement(tree, lambda stmt: _starred(stmt, tree))


def _starred(stmt, tree):
    if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], (ast.Tuple, ast.List))):
        return [stmt]
    elts = stmt.targets[0].elts
    stars = [i for i, e in enumerate(elts) if isinstance(e, ast.Starred)]
    if len(stars) != 1 or not all(isinstance(e.value if isinstance(e, ast.Starred) else e,
                                             ast.Name) for e in elts):
        return [stmt]  # nested or other targets: the fence names them
    star, after = stars[0], len(elts) - stars[0] - 1
    items = _fresh(tree, "_items")

    def name(n, ctx=LOAD):
        return ast.Name(n, ctx)

    def length():
        return ast.Call(name("len"), [name(items)], [])

    new = [ast.Assign([name(items, STORE)], ast.Call(name("list"), [stmt.value], [])),
           ast.If(ast.Compare(length(), [ast.Lt()], [ast.Constant(len(elts) - 1)]),
                  [ast.Raise(ast.Call(name("ValueError"), [ast.Constant(
                      f"not enough values to unpack (expected at least {len(elts) - 1})")],
                      []), None)], [])]
    for i, e in enumerate(elts):
        if i < star:
            value = ast.Subscript(name(items), ast.Constant(i), LOAD)
        elif i > star:
            value = ast.Subscript(name(items), ast.Constant(i - len(elts)), LOAD)
        else:
            stop = ast.BinOp(length(), ast.Sub(), ast.Constant(after))
            value = ast.Subscript(name(items), ast.Slice(ast.Constant(star), stop), LOAD)
        target = e.value if isinstance(e, ast.Starred) else e
        new.append(ast.Assign([ast.Name(target.id, STORE)], value))
    return [ast.fix_missing_locations(ast.copy_location(n, stmt)) for n in new]
