"""Activity analysis: which variables depend on differentiable inputs, and which
hold Python scalars (so their adjoints need no unbroadcast and use `math`).

Flow-insensitive and iterated to a fixed point, so loops are handled. Facts
go on the statements: `active` (the target is active) and `kinds`.
"""

from __future__ import annotations

import ast

from .resolve import static_value
from .walk import walk

SCALAR, ARRAY, ANY, RANGE = "scalar", "array", "any", "range"
SHAPE = "shape"  # a tuple of ints (x.shape): its items are numbers
INT_ATTRS = {"ndim": SCALAR, "size": SCALAR, "itemsize": SCALAR, "nbytes": SCALAR,
             "shape": SHAPE, "strides": SHAPE}
# `not`, `~`, bitwise and shift operators give booleans or integers: no gradient
INACTIVE_OPS = (ast.BitAnd, ast.BitOr, ast.BitXor, ast.LShift, ast.RShift, ast.Not,
                ast.Invert)
INACTIVE_ATTRS = {"shape", "ndim", "size", "dtype", "itemsize", "nbytes", "strides",
                  "__class__", "__name__", "training", "active"}
# attributes and methods of a float array that give a float array (or a numpy
# scalar, which array code handles alike)
ARRAY_ATTRS = {"T", "mT", "real"}
ARRAY_METHODS = {"sum", "mean", "prod", "max", "min", "std", "var", "cumsum", "cumprod",
                 "reshape", "ravel", "flatten", "transpose", "swapaxes", "squeeze", "clip",
                 "dot", "copy", "diagonal", "trace", "repeat", "take", "conj"}


class Activity:
    """The result: `active` names and their `kinds` (SCALAR or ANY)."""

    def __init__(self, active, kinds, functions):
        self.active = active
        self.kinds = kinds
        self.functions = functions  # nested def name -> its free names

    def is_active(self, atom):
        return isinstance(atom, ast.Name) and atom.id in self.active

    def kind(self, atom):
        if isinstance(atom, ast.Constant):
            return SCALAR if isinstance(atom.value, (int, float)) else ANY
        return self.kinds.get(atom.id, ANY)


def analyse(body, seeds: dict, env, implicit: bool, fields=None, constants=None) -> Activity:
    """`seeds` maps active inputs (params, free variables) to their kinds;
    `fields` maps object parameters to the names of their fields that hold
    float arrays now (part of the compile key, like the kinds); `constants`
    gives the kinds of parameters that are not differentiated."""
    active = set(seeds)
    kinds = dict(constants or {})
    kinds.update(seeds)
    _constant_kinds(body, env, kinds)
    for obj, names in _trusted_fields(body, fields or {}).items():
        for name in names:
            kinds[f"{obj}.{name}"] = ARRAY  # read by _rhs for `obj.name`
    functions = {}
    stmts = list(_walk(body))
    changed = True
    while changed:
        changed = False
        for stmt in stmts:
            try:
                effects = list(_effects(stmt, active, kinds, env, implicit, functions))
            except Exception as exc:  # (a refused call: the compiler names the line)
                exc.node = getattr(exc, "node", None) or stmt
                raise
            for name, is_active, kind in effects:
                if is_active and name not in active:
                    active.add(name)
                    changed = True
                old = kinds.get(name)
                new = _merge(old, kind)
                if old != new:
                    kinds[name] = new
                    changed = True
    return Activity(active, kinds, functions)


def _trusted_fields(body, fields):
    """The array fields of object parameters that the body neither rebinds
    (`self = ...`) nor reassigns (`self.w = ...`): their kinds hold throughout."""
    if not fields:
        return {}
    out = {p: set(names) for p, names in fields.items()}
    for node in walk(ast.Module(body=list(body), type_ignores=[])):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out.pop(node.id, None)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) \
                and isinstance(node.value, ast.Name) and node.value.id in out:
            out[node.value.id].discard(node.attr)
    return out


def _merge(old, new):
    """The kind of a name assigned values of kinds `old` and `new`: numbers and
    arrays make an array (array code is generic over both)."""
    if old is None or old == new:
        return new
    if {old, new} <= {SCALAR, ARRAY}:
        return ARRAY
    return ANY


def _constant_kinds(body, env, kinds):
    """Kinds of the arrays the function reads from its globals and closure
    without differentiating them (a batch closed over): ARRAY, so that the
    arithmetic they take part in is inlined."""
    import numpy as np

    names = {n.id for n in walk(ast.Module(body=list(body), type_ignores=[]))
             if n.__class__ is ast.Name}
    for name in names - env.local - kinds.keys():
        found, value = env.lookup(name)
        if found and type(value) is np.ndarray and value.dtype.kind in "fc":
            kinds[name] = ARRAY


def _walk(body):
    for stmt in body:
        yield stmt
        for field in ("body", "orelse"):
            if not isinstance(stmt, ast.FunctionDef):
                yield from _walk(getattr(stmt, field, []) or [])


def _effects(stmt, active, kinds, env, implicit, functions):
    """(name, active, kind) for each name the statement assigns."""
    if isinstance(stmt, ast.Assign):
        target = stmt.targets[0]
        if isinstance(target, ast.Name):
            act, kind = _rhs(stmt.value, active, kinds, env, implicit)
            yield target.id, act, kind
        elif isinstance(target, ast.Tuple):
            act = _is_active(stmt.value, active)
            for elt in target.elts:
                yield elt.id, act, ANY
        elif isinstance(target, ast.Subscript):  # x[i] = v makes x active
            name = target.value.id
            yield name, _is_active(stmt.value, active) or name in active, ANY
    elif isinstance(stmt, ast.For):
        counting = _kind(stmt.iter, kinds) == RANGE
        yield stmt.target.id, _is_active(stmt.iter, active), SCALAR if counting else ANY
    elif isinstance(stmt, ast.FunctionDef):
        free = free_names(stmt)
        functions[stmt.name] = free
        yield stmt.name, any(n in active for n in free) or implicit, ANY


def _unstar(node):
    return node.value if isinstance(node, ast.Starred) else node


def _is_active(atom, active):
    return isinstance(atom, ast.Name) and atom.id in active


def _kind(atom, kinds):
    if isinstance(atom, ast.Constant):
        return SCALAR if isinstance(atom.value, (int, float)) else ANY
    if isinstance(atom, ast.Name):
        return kinds.get(atom.id, ANY)
    return ANY


def _rhs(rhs, active, kinds, env, implicit):
    if isinstance(rhs, (ast.Name, ast.Constant)):
        return _is_active(rhs, active), _kind(rhs, kinds)
    if isinstance(rhs, (ast.BinOp, ast.UnaryOp)) and isinstance(rhs.op, INACTIVE_OPS):
        return False, ANY
    if isinstance(rhs, ast.BinOp):
        act = _is_active(rhs.left, active) or _is_active(rhs.right, active)
        return act, _join(_kind(rhs.left, kinds), _kind(rhs.right, kinds),
                          isinstance(rhs.op, ast.MatMult))
    if isinstance(rhs, ast.UnaryOp):
        return _is_active(rhs.operand, active), _kind(rhs.operand, kinds)
    if isinstance(rhs, (ast.Compare, ast.JoinedStr)):
        return False, ANY
    if isinstance(rhs, ast.Attribute):
        if rhs.attr in INACTIVE_ATTRS:
            return False, INT_ATTRS.get(rhs.attr, ANY)
        kind = ARRAY if rhs.attr in ARRAY_ATTRS and _kind(rhs.value, kinds) == ARRAY else ANY
        if isinstance(rhs.value, ast.Name) and \
                kinds.get(f"{rhs.value.id}.{rhs.attr}") == ARRAY:
            kind = ARRAY  # a float-array field of an object parameter (layer.weight)
        return _is_active(rhs.value, active), kind
    if isinstance(rhs, ast.Subscript):
        kind = _kind(rhs.value, kinds)
        if kind == SHAPE and isinstance(rhs.slice, ast.Constant):
            return False, SCALAR  # x.shape[0]
        return _is_active(rhs.value, active), ARRAY if kind == ARRAY else ANY
    if isinstance(rhs, (ast.Tuple, ast.List)):
        return any(_is_active(_unstar(e), active) for e in rhs.elts), ANY
    if isinstance(rhs, ast.Dict):
        return any(_is_active(v, active) for v in rhs.values), ANY
    if isinstance(rhs, ast.Call):
        return _call(rhs, active, kinds, env, implicit)
    return True, ANY


def _join(a, b, matmul=False):
    """The kind of an arithmetic result from its operands' kinds."""
    if a == SCALAR and b == SCALAR and not matmul:
        return SCALAR
    if {a, b} <= {SCALAR, ARRAY}:
        return ARRAY
    return ANY


def _call(call, active, kinds, env, implicit):
    from ..rules.inert import refuse_draw
    from ..rules.registry import is_nondifferentiable

    args = [_unstar(a) for a in call.args] + [k.value for k in call.keywords]
    any_active = any(_is_active(a, active) for a in args)
    func = call.func
    fn = static_value(func, env)
    if fn is range:
        return False, RANGE
    if fn in (len, int):
        return False, SCALAR
    if fn is not None:
        if is_nondifferentiable(fn):
            if any_active:
                refuse_draw(fn)
            return False, ANY
        if getattr(fn, "__module__", None) == "math" or fn in (abs, float, min, max, pow):
            if all(_kind(a, kinds) == SCALAR for a in args):
                return any_active, SCALAR
        if _returns_array(fn) and all(_kind(a, kinds) in (SCALAR, ARRAY) for a in args):
            return any_active, ARRAY
        if _is_row(fn) and any(_kind(a, kinds) == ARRAY for a in args) \
                and all(_kind(a, kinds) in (SCALAR, ARRAY) for a in args):
            return any_active, ARRAY  # an elementwise row (relu) of an array
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and \
            func.attr in ARRAY_METHODS and _kind(func.value, kinds) == ARRAY:
        return func.value.id in active or any_active, ARRAY  # x.sum(), x.reshape(...)
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and \
            func.value.id in active:
        return True, ANY  # a method of an active object
    if isinstance(func, ast.Name) and func.id in active:
        return True, ANY  # an active closure or callable object
    if implicit and not _is_rule_or_builtin(fn):
        return True, ANY  # it may read implicit parameters
    return any_active, ANY


def _returns_array(fn):
    """numpy functions and ufuncs: their results are arrays or numpy scalars."""
    import numpy as np

    return isinstance(fn, np.ufunc) or (getattr(fn, "__module__", "") or "").startswith("numpy")


def _is_row(fn):
    """Whether `fn` has an elementwise formula row (`zp.elementwise`)."""
    from ..rules.formulas import FORMULAS

    try:
        return fn in FORMULAS
    except TypeError:
        return False


def _is_rule_or_builtin(fn):
    from ..rules.registry import lookup

    if fn is None:
        return False
    return lookup(fn) is not None or type(fn).__name__ in ("builtin_function_or_method", "ufunc")


def free_names(fdef):
    """Names a nested function reads from its enclosing scope(s)."""
    assigned = {a.arg for a in fdef.args.posonlyargs + fdef.args.args + fdef.args.kwonlyargs}
    if fdef.args.vararg:
        assigned.add(fdef.args.vararg.arg)
    if fdef.args.kwarg:
        assigned.add(fdef.args.kwarg.arg)
    loads = set()
    for node in ast.walk(fdef):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Store):
                assigned.add(node.id)
            else:
                loads.add(node.id)
    return sorted(loads - assigned)


__all__ = ["ANY", "ARRAY", "RANGE", "SCALAR", "Activity", "analyse", "free_names"]
