"""Fuse: one function computing the value and the gradient of a top-level call.

`gradient(f, x, y)` with floats or float arrays runs `f_gradient(x, y)`, made
on the second call from the forward and backward code already generated: the
forward's statements, the seed, the backward's statements, and a return of
`(value, gradients)`. No saved tuple is packed and unpacked, no pullback is
made, and one Python call replaces two. The backward reads the forward's
names directly: its first statement only rebinds them to the values they
already hold at the end of the forward.

    def f_gradient(x, y):
        <the forward, up to its return>
        _value = result
        if not isinstance(_value, float):  # float, np.float64
            _zp.seed(_value)  # a NotScalarError unless a real scalar
        <the backward, from its first adjoint, seeded with 1.0>
        return _value, (dx, dy)
"""

from __future__ import annotations

import ast
import math

from ..runtime.tracebacks import BACKWARD, FORWARD
from . import facts as ann
from .build import LOAD, STORE
from .emit import strip_comments


def gradient_def(name: str, fwd: ast.FunctionDef, bwd: ast.FunctionDef,
                 value: bool = True, floats: bool = False) -> ast.FunctionDef:
    """The fused def `name` of a forward and a backward made by
    `reverse.Reverse.run` (and rendered once: their comments are dropped).

    It returns `(value, gradients)`, or with `value=False` the gradients
    alone. Then, if every argument is a float (`floats`) and the output is
    provably a float too, the scalar check goes and so does every forward
    statement that neither the backward needs nor could raise (see `_typed`)."""
    *fwd_body, ret = strip_comments(fwd.body)
    body = [_phase(s, FORWARD) for s in fwd_body]
    result = ast.Name(_unused("_value", fwd, bwd), LOAD)  # the backward may
    out = ret.value.elts[0]  # restore the returned name to an older value
    body.append(_phase(ast.Assign([ast.Name(result.id, STORE)], out), FORWARD))
    dout = bwd.args.args[1].arg
    typed = _typed(body, [a.arg for a in fwd.args.args]) if floats else {}
    proven = not value and typed.get(result.id) is float
    if not proven:
        check = ast.parse(f"if not isinstance({result.id}, float):\n"
                          f"    _zp.seed({result.id})").body[0]
        body.append(_phase(check, BACKWARD))  # a NotScalarError unless a real scalar
    *bwd_body, bwd_ret = strip_comments(bwd.body)
    backward = [_phase(stmt, BACKWARD) for stmt in bwd_body if not _rebinds_saved(stmt)]
    grads = ast.Tuple(bwd_ret.value.elts[1:], LOAD)  # [0]: the callee's
    returned = ast.Tuple([result, grads], LOAD) if value else grads
    backward.append(_phase(ast.Return(returned), BACKWARD))
    body += _seeded(backward, dout, body, {n for n, t in typed.items() if t is float})
    if proven:
        body = _live(body)
    fused = ast.FunctionDef(name, fwd.args, _sums_in_place(_masks_in_place(
        _joined_accumulations(_without_needless_inits(body)))), [], None)
    return ast.fix_missing_locations(fused)


def returns_floats(fused: ast.FunctionDef) -> bool:
    """Whether a fused def (made with `floats`) surely returns only floats when
    called with floats: straight-line code whose returned tuple holds float
    names or float constants (`gradient` then hands the tuple back unchecked)."""
    *body, ret = fused.body
    if not isinstance(ret, ast.Return) or not isinstance(ret.value, ast.Tuple):
        return False
    types = _typed(body, [a.arg for a in fused.args.args])
    if not types and body:
        return False
    return all(type(e.value) is float if isinstance(e, ast.Constant)
               else isinstance(e, ast.Name) and types.get(e.id) is float
               for e in ret.value.elts)


# -- a float output, proven; dead statements that cannot raise -------------------
# For float arguments, straight-line code of arithmetic on floats and ints
# (`**` only to a constant integral power, which cannot make a complex number)
# and of `math` functions that return floats gives a float or raises: no
# check is needed. A statement whose value nobody reads is dropped only if it
# cannot raise either: `+`, `-`, `*` and negation of numbers (inf and NaN, no
# exceptions), so that the gradient of a function raises where the function does.
_MATH_FLOATS = {"sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh",
                "tanh", "asinh", "acosh", "atanh", "exp", "exp2", "expm1", "log", "log2",
                "log10", "log1p", "sqrt", "cbrt", "pow", "hypot", "fabs", "erf", "erfc",
                "gamma", "lgamma", "degrees", "radians", "copysign", "fmod"}
_RING = (ast.Add, ast.Sub, ast.Mult)


def _typed(stmts, params):
    """{name: float or int} for the names surely of that type after straight-line
    `stmts` run on float `params` ({} for code with branches or loops)."""
    types = dict.fromkeys(params, float)
    for stmt in stmts:
        if _is_guard(stmt):
            continue
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)):
            return {}  # branches, loops, calls for effect: not followed
        types[stmt.targets[0].id] = _type_of(stmt.value, types)
    return {n: t for n, t in types.items() if t is not None}


def _type_of(e, types):
    if isinstance(e, ast.Constant):
        return type(e.value) if type(e.value) in (int, float) else None
    if isinstance(e, ast.Name):
        return types.get(e.id)
    if isinstance(e, ast.UnaryOp) and isinstance(e.op, (ast.USub, ast.UAdd)):
        return _type_of(e.operand, types)
    if isinstance(e, ast.BinOp):
        left, right = _type_of(e.left, types), _type_of(e.right, types)
        if left not in (int, float) or right not in (int, float):
            return None
        if isinstance(e.op, ast.Pow):
            whole = isinstance(e.right, ast.Constant) and float(e.right.value).is_integer()
            return float if left is float and whole else None
        if isinstance(e.op, ast.Div):
            return float
        if isinstance(e.op, _RING + (ast.FloorDiv, ast.Mod)):
            return float if float in (left, right) else int
        return None
    if isinstance(e, ast.Call) and isinstance(e.func, ast.Attribute) \
            and isinstance(e.func.value, ast.Name) and e.func.value.id == "math" \
            and e.func.attr in _MATH_FLOATS and not e.keywords \
            and all(_type_of(a, types) in (int, float) for a in e.args):
        return float
    return None


def _is_guard(stmt):
    """`if f is not _guard0 ...: _zp.stale()` at the top of a forward."""
    return isinstance(stmt, ast.If) and "_guard" in ast.unparse(stmt.test) \
        and ast.unparse(stmt.body[0]) == "_zp.stale()"


def _live(stmts):
    """`stmts` without assignments nobody reads whose values cannot raise."""
    while True:
        read = _load_counts(stmts)
        kept = [s for s in stmts if not (
            isinstance(s, ast.Assign) and len(s.targets) == 1
            and isinstance(s.targets[0], ast.Name) and s.targets[0].id not in read
            and _cannot_raise(s.value))]
        if len(kept) == len(stmts):
            return kept
        stmts = kept


def _cannot_raise(e):
    return all(isinstance(n, (ast.Name, ast.Constant, ast.BinOp, ast.UnaryOp,
                              ast.expr_context) + _RING + (ast.USub, ast.UAdd))
               for n in ast.walk(e))


def _without_needless_inits(stmts):
    """`stmts` without the forward's `n = None` (which binds every name its
    saved tuple packs, for paths that skip one) where a statement of the top
    level binds `n` before anything reads it. One pass from the end, keeping
    what the next statement touching each name does with it (a flat function
    specialised on a deep model has thousands of statements)."""
    first = {}  # name -> "load", "bound" (a top-level assignment) or "other"
    needless = set()
    for i in range(len(stmts) - 1, -1, -1):
        stmt = stmts[i]
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 \
                and isinstance(stmt.targets[0], ast.Name) \
                and isinstance(stmt.value, ast.Constant) and stmt.value.value is None \
                and first.get(stmt.targets[0].id) == "bound":
            needless.add(i)
        touched = {}
        for n in ast.walk(stmt):
            if isinstance(n, ast.Name):
                if isinstance(n.ctx, ast.Load):
                    touched[n.id] = "load"
                else:
                    touched.setdefault(n.id, "other")
        if isinstance(stmt, ast.Assign):
            for t in stmt.targets:
                if isinstance(t, ast.Name) and touched.get(t.id) == "other":
                    touched[t.id] = "bound"
        first.update(touched)
    return [stmt for i, stmt in enumerate(stmts) if i not in needless]


def _masks_in_place(stmts):
    """`d = g * (y > 0)` (the adjoint of relu, or of any row whose derivative
    is a comparison) as `g *= y > 0; d = g`, where `g` is the first result of
    a `_zp.matmul_adjoint` call (a new array shaped like the operand whose
    cotangent it is), passed on by renames only, and nothing reads it, its
    renames or the call's results after this statement. The mask is boolean:
    the product has `g`'s shape and dtype either way, and one array fewer is
    made (a training step's backward, as written by hand: `dh *= h > 0`).
    Top-level statements only (one pass each way over them)."""
    last_load, loads, items = {}, {}, {}  # items: loads as `name[k]`, k a constant
    for i, stmt in enumerate(stmts):
        for n in ast.walk(stmt):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
                last_load[n.id] = i
                loads[n.id] = loads.get(n.id, 0) + 1
            elif isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name) \
                    and isinstance(n.slice, ast.Constant):
                items[n.value.id] = items.get(n.value.id, 0) + 1

    def unshared(group):  # the call's result read only item by item, each rename
        call, *names = group  # read once (by the next rename or by the product)
        return loads[call] == items.get(call) and all(loads[n] == 1 for n in names) \
            and all(last_load.get(n, -1) <= i for n in group)
    products = set()  # names of matmul_adjoint results
    fresh = {}  # name -> the names sharing its array (the call's result and renames)
    out = []
    for i, stmt in enumerate(stmts):
        target, value = _single_assign(stmt)
        for name in _stored(stmt):  # (rebound here: what it held is forgotten)
            products.discard(name)
            fresh.pop(name, None)
        if target is not None and _is_zp_call(value, "matmul_adjoint"):
            products.add(target)
        elif target is not None and isinstance(value, ast.Subscript) \
                and isinstance(value.value, ast.Name) and value.value.id in products \
                and isinstance(value.slice, ast.Constant) and value.slice.value == 0:
            fresh[target] = (value.value.id, target)
        elif target is not None and isinstance(value, ast.Name) and value.id in fresh:
            fresh[target] = fresh[value.id] + (target,)
        elif target is not None and isinstance(value, ast.BinOp) \
                and isinstance(value.op, ast.Mult) and isinstance(value.left, ast.Name) \
                and value.left.id in fresh and isinstance(value.right, ast.Compare) \
                and unshared(fresh[value.left.id]) and value.left.id != target:
            g = value.left.id
            update = ast.AugAssign(ast.Name(g, STORE), ast.Mult(), value.right)
            out.append(ann.copy(stmt, ast.copy_location(update, stmt)))
            stmt = ann.copy(stmt, ast.copy_location(
                ast.Assign([ast.Name(target, STORE)], ast.Name(g, LOAD)), stmt))
        out.append(stmt)
    return out


def _sums_in_place(stmts):
    """`z = y + b` (a bias added to a product) as `z = _zp.add_into(y, b)`,
    where `y = a @ w` is a new array nothing else reads but that sum and its
    adjoint's `_zp.unbroadcast(dz, y)` (which wants its shape): `add_into`
    adds in place where `b` only broadcasts along `y`'s leading axes and has
    its dtype (so the sum is `y`'s shape and dtype either way), else as `+`.
    One array fewer per layer; top-level statements only."""
    loads, widths = {}, {}  # widths: loads as the shape argument of an unbroadcast
    for stmt in stmts:
        for n in ast.walk(stmt):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
                loads[n.id] = loads.get(n.id, 0) + 1
            elif _is_zp_call(n, "unbroadcast") and len(n.args) == 2 \
                    and isinstance(n.args[1], ast.Name):
                widths[n.args[1].id] = widths.get(n.args[1].id, 0) + 1
    products, out = set(), []
    for stmt in stmts:
        target, value = _single_assign(stmt)
        products.difference_update(_stored(stmt))  # (rebound: no longer a product)
        if target is not None and isinstance(value, ast.BinOp) \
                and isinstance(value.op, ast.MatMult):
            products.add(target)
        elif target is not None and isinstance(value, ast.BinOp) \
                and isinstance(value.op, ast.Add) and isinstance(value.left, ast.Name) \
                and value.left.id in products and value.left.id != target \
                and loads[value.left.id] == 1 + widths.get(value.left.id, 0):
            stmt = ann.copy(stmt, ast.copy_location(ast.Assign(
                [ast.Name(target, STORE)],
                ast.Call(ast.Attribute(ast.Name("_zp", LOAD), "add_into", LOAD),
                         [value.left, value.right], [])), stmt))
        out.append(stmt)
    return out


def _stored(stmt):
    """The names `stmt` binds, anywhere in it (`x += v` and loop targets too)."""
    return {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)
            and isinstance(n.ctx, ast.Store)}


def _single_assign(stmt):
    """(target name, value) of `name = value`, else (None, None)."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 \
            and isinstance(stmt.targets[0], ast.Name):
        return stmt.targets[0].id, stmt.value
    return None, None


def _is_zp_call(node, name):
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
        and node.func.attr == name and isinstance(node.func.value, ast.Name) \
        and node.func.value.id == "_zp"


def _joined_accumulations(stmts):
    """`d = c` then `d = d + e` (a constant, then a first accumulation: how a
    gradient starts from a seed) as `d = c + e`, when e does not read d."""
    out = []
    for stmt in stmts:
        prev = out[-1] if out else None
        if prev is not None and isinstance(prev, ast.Assign) and isinstance(stmt, ast.Assign) \
                and len(prev.targets) == len(stmt.targets) == 1 \
                and isinstance(prev.targets[0], ast.Name) and _is_number(prev.value) \
                and isinstance(stmt.targets[0], ast.Name) \
                and stmt.targets[0].id == prev.targets[0].id \
                and isinstance(stmt.value, ast.BinOp) and isinstance(stmt.value.op, ast.Add) \
                and isinstance(stmt.value.left, ast.Name) \
                and stmt.value.left.id == prev.targets[0].id \
                and prev.targets[0].id not in _load_counts([ast.Expr(stmt.value.right)]):
            stmt.value.left = prev.value
            out[-1] = stmt
            continue
        out.append(stmt)
    return out


# -- the seed 1.0, folded into the backward ---------------------------------------
# Any real scalar output is seeded with the float 1.0 (float32 stays float32:
# a Python float does not promote). Names bound once to a constant are
# replaced by it, operations on constants are folded, `1.0 * e` is `e` where e
# is a fresh value (an operation, never a name: that could alias an array), and
# `sum_adjoint(1.0, t) * e(t)` is `e(t)` (the all-ones adjoint of a sum
# times an elementwise derivative of t alone, which has t's shape already).
_FOLD = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
         ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b}


def _seeded(stmts, dout, forward, floats):
    """The backward `stmts` seeded with 1.0 (see above); `floats`: names of the
    forward surely bound to floats (`1.0 * x` is `x` for those too)."""
    stores = _store_counts(stmts + forward)
    known = {dout: 1.0}
    ones = {}  # adjoint name -> t, for `d = _zp.sum_adjoint(1.0, t)`
    loads = _load_counts(stmts)
    out = []
    for stmt in stmts:
        stmt = _Substitute(known, floats).visit(stmt)
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 \
                and isinstance(stmt.targets[0], ast.Name):
            name = stmt.targets[0].id
            stmt.value = _fold(_through_ones(stmt.value, ones, loads), floats)
            if stores.get(name) == 1:
                if _is_number(stmt.value):
                    known[name] = stmt.value.value
                    continue  # every later use reads the constant
                t = _sum_of_ones(stmt.value)
                if t is not None and loads.get(name) == 1:
                    ones[name] = (t, stmt)
        out.append(stmt)
    still_read = _load_counts(out)
    dropped = {id(stmt) for name, (_, stmt) in ones.items() if name not in still_read}
    return [s for s in out if id(s) not in dropped]


def _through_ones(value, ones, loads):
    """`d * e(t)` (or `e(t) * d`) for `d = sum_adjoint(1.0, t)` read once: `e(t)`."""
    if not (isinstance(value, ast.BinOp) and isinstance(value.op, ast.Mult)):
        return value
    for d, e in ((value.left, value.right), (value.right, value.left)):
        if isinstance(d, ast.Name) and d.id in ones and isinstance(e, (ast.BinOp, ast.UnaryOp)):
            t = ones[d.id][0]
            names = {n.id for n in ast.walk(e) if isinstance(n, ast.Name)}
            if names == {t} and all(isinstance(n, (ast.Name, ast.Constant, ast.BinOp,
                                                   ast.UnaryOp, ast.operator, ast.unaryop,
                                                   ast.expr_context)) for n in ast.walk(e)):
                return e
    return value


def _sum_of_ones(value):
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) \
            and value.func.attr == "sum_adjoint" and len(value.args) == 2 \
            and _is_number(value.args[0]) and value.args[0].value == 1.0 \
            and isinstance(value.args[1], ast.Name):
        return value.args[1].id
    return None


def _fold(e, floats=frozenset()):
    if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub) and _is_number(e.operand):
        return ast.Constant(-e.operand.value)
    if not isinstance(e, ast.BinOp):
        return e
    e.left, e.right = _fold(e.left, floats), _fold(e.right, floats)
    op = _FOLD.get(type(e.op))
    if op is not None and _is_number(e.left) and _is_number(e.right):
        try:
            return ast.Constant(op(e.left.value, e.right.value))
        except ArithmeticError:
            return e
    if isinstance(e.op, ast.Mult):
        for one, other in ((e.left, e.right), (e.right, e.left)):
            if _is_number(one) and one.value == 1.0 and type(one.value) is float and (
                    isinstance(other, (ast.BinOp, ast.UnaryOp))  # a fresh value
                    or isinstance(other, ast.Name) and other.id in floats):
                return other
        scaled = _scaled_by_two(e)
        if scaled is not None:
            return scaled
    return e


def _scaled_by_two(e):
    """`c * (2 * x)` as `(2 c) * x`, exactly: scaling by a power of two
    (at least 2) rounds nothing, and with |c| >= 1 and 2c finite neither form
    overflows where the other does not."""
    if not (_is_number(e.left) and abs(e.left.value) >= 1 and isinstance(e.right, ast.BinOp)
            and isinstance(e.right.op, ast.Mult)):
        return None
    inner = e.right
    for two, x in ((inner.left, inner.right), (inner.right, inner.left)):
        if _is_number(two) and two.value >= 2 and math.frexp(two.value)[0] == 0.5 \
                and math.isfinite(e.left.value * two.value):  # (2c itself may overflow)
            return ast.BinOp(ast.Constant(e.left.value * two.value), ast.Mult(), x)
    return None


def _is_number(e):
    return isinstance(e, ast.Constant) and type(e.value) in (int, float)


class _Substitute(ast.NodeTransformer):
    def __init__(self, known, floats):
        self.known, self.floats = known, floats

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load) and node.id in self.known:
            return ast.copy_location(ast.Constant(self.known[node.id]), node)
        return node

    def visit_BinOp(self, node):
        self.generic_visit(node)
        return _fold(node, self.floats)


def _store_counts(stmts):
    counts = {}
    for stmt in stmts:
        for n in ast.walk(stmt):
            if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
                counts[n.id] = counts.get(n.id, 0) + 1
    return counts


def _load_counts(stmts):
    counts = {}
    for stmt in stmts:
        for n in ast.walk(stmt):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
                counts[n.id] = counts.get(n.id, 0) + 1
    return counts


def calls_user_code(fwd: ast.FunctionDef) -> bool:
    """Whether the forward calls anything but numpy, math and zygopy's inline
    helpers: only then may it observe `zygopy.is_differentiating()`."""
    for node in ast.walk(fwd):
        if isinstance(node, ast.Call):
            func = node.func
            if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                    and func.value.id in ("np", "math", "_zp")
                    and not (func.value.id == "_zp" and func.attr.startswith("call"))):
                return True
    return False


def _unused(name, *trees):
    used = {n.id for tree in trees for n in ast.walk(tree) if isinstance(n, ast.Name)}
    while name in used:
        name += "_"
    return name


def _rebinds_saved(stmt):
    if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1:
        return False
    value = stmt.value
    if isinstance(value, ast.Name) and value.id == "_saved":
        return True
    return isinstance(value, ast.Call) and ast.unparse(value) == "_tape.copy()"


def _phase(stmt, phase):
    return ann.set_(stmt, "phase", phase)
