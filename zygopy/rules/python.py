"""Rules for Python's operators, builtins and the math module (scalar code)."""

from __future__ import annotations

import builtins
import functools
import math
import operator

import numpy as np

from ..runtime.tangents import ZERO, Tangent, add
from .formulas import elementwise, lognan, powexp
from .registry import RULES, nondifferentiable, rule

# operators: the same rows serve numbers and arrays (see formulas.OPERATORS)
M = "np"  # rendered with math at call sites whose operands are all scalars
elementwise(operator.add, "add", "x y", "x + y", "1", "1", namespace=M)
elementwise(operator.sub, "sub", "x y", "x - y", "1", "-1", namespace=M)
elementwise(operator.mul, "mul", "x y", "x * y", "y", "x", namespace=M)
elementwise(operator.truediv, "truediv", "x y", "x / y", "1 / y", "-out / y", namespace=M)
elementwise(operator.pow, "pow", "x y", "x ** y",
            "y * x ** powexp(y)", "out * lognan(where(x == 0, 1, x))", namespace=M)
elementwise(operator.neg, "neg", "x", "-x", "-1", namespace=M)
# the helpers of pow's partials (in backward code, differentiated at second order)
elementwise(powexp, "powexp", "y", "powexp(y)", "1", namespace=M)
elementwise(lognan, "lognan", "x", "lognan(x)", "1 / x", namespace=M)
elementwise(operator.pos, "pos", "x", "+x", "1", namespace=M)
# floor division is piecewise constant; x % y = x - y * floor(x / y)
elementwise(operator.floordiv, "floordiv", "x y", "x // y", "0", "0", namespace=M)
elementwise(operator.mod, "mod", "x y", "x % y", "1", "-(x // y)", namespace=M)


# `+` and `*` on lists and tuples concatenate and repeat: their cotangents are
# slices and sums of slices, not the formulas above (which would hand each
# operand the whole list)
def _sequence_operator(op, sequence_rule, applies):
    number_rule = RULES[op]

    def rrule(x, y, _needed=None):
        if applies(x, y):
            return sequence_rule(x, y)
        return number_rule(x, y, _needed=_needed)

    rrule.__name__ = rrule.__qualname__ = f"{number_rule.__name__}_or_sequences"
    rrule.takes_needed = True
    RULES[op] = rrule


_SEQUENCES = (list, tuple)


def _concat_rule(x, y):
    """`x + y` of two lists (or tuples): each gets its slice of the cotangent."""
    out = x + y
    n = len(x)

    def concat_pullback(dy):
        dy = list(dy)
        return _sequence_like(x, dy[:n]), _sequence_like(y, dy[n:])

    return out, concat_pullback


def _repeat_rule(x, y):
    """`xs * k` or `k * xs`: the cotangent of each item sums over its copies."""
    swap = not isinstance(x, _SEQUENCES)
    xs = y if swap else x
    out = x * y
    n = len(xs)

    def repeat_pullback(dy):
        dy = list(dy)
        d = [ZERO] * n
        for i, v in enumerate(dy):
            d[i % n] = add(d[i % n], v)
        d = _sequence_like(xs, d)
        return (None, d) if swap else (d, None)

    return out, repeat_pullback


def _sequence_like(seq, items):
    return list(items) if isinstance(seq, list) else tuple(items)


def _concatenates(x, y):
    return isinstance(x, list) and isinstance(y, list) or \
        isinstance(x, tuple) and isinstance(y, tuple)


def _repeats(x, y):
    return isinstance(x, _SEQUENCES) and isinstance(y, (int, np.integer)) or \
        isinstance(y, _SEQUENCES) and isinstance(x, (int, np.integer))


_sequence_operator(operator.add, _concat_rule, _concatenates)
_sequence_operator(operator.mul, _repeat_rule, _repeats)

# the math module
M = "math"
elementwise(math.exp, "math_exp", "x", "exp(x)", "out", namespace=M)
elementwise(math.expm1, "math_expm1", "x", "expm1(x)", "out + 1", namespace=M)
elementwise(math.log1p, "math_log1p", "x", "log1p(x)", "1 / (1 + x)", namespace=M)
elementwise(math.sqrt, "math_sqrt", "x", "sqrt(x)", "0.5 / out", namespace=M)
elementwise(math.sin, "math_sin", "x", "sin(x)", "cos(x)", namespace=M)
elementwise(math.cos, "math_cos", "x", "cos(x)", "-sin(x)", namespace=M)
elementwise(math.tan, "math_tan", "x", "tan(x)", "1 + out * out", namespace=M)
elementwise(math.sinh, "math_sinh", "x", "sinh(x)", "cosh(x)", namespace=M)
elementwise(math.cosh, "math_cosh", "x", "cosh(x)", "sinh(x)", namespace=M)
elementwise(math.tanh, "math_tanh", "x", "tanh(x)", "1 - out * out", namespace=M)
elementwise(math.asin, "math_asin", "x", "arcsin(x)", "1 / sqrt(1 - x * x)", namespace=M)
elementwise(math.acos, "math_acos", "x", "arccos(x)", "-1 / sqrt(1 - x * x)", namespace=M)
elementwise(math.atan, "math_atan", "x", "arctan(x)", "1 / (1 + x * x)", namespace=M)
elementwise(math.asinh, "math_asinh", "x", "arcsinh(x)", "1 / sqrt(x * x + 1)", namespace=M)
elementwise(math.acosh, "math_acosh", "x", "arccosh(x)", "1 / sqrt(x * x - 1)", namespace=M)
elementwise(math.atanh, "math_atanh", "x", "arctanh(x)", "1 / (1 - x * x)", namespace=M)
elementwise(math.atan2, "math_atan2", "x y", "arctan2(x, y)",
            "y / (x * x + y * y)", "-x / (x * x + y * y)", namespace=M)
elementwise(math.hypot, "math_hypot", "x y", "hypot(x, y)", "x / out", "y / out", namespace=M)
elementwise(math.fmod, "math_fmod", "x y", "fmod(x, y)", "1", "-trunc(x / y)", namespace=M)
elementwise(math.copysign, "math_copysign", "x y", "copysign(x, y)",
            "copysign(1.0, x) * copysign(1.0, y)", "0", namespace=M)
elementwise(math.nextafter, "math_nextafter", "x y", "nextafter(x, y)", "1", "0",
            namespace=M)  # as np.nextafter (ufuncs.py)
elementwise(math.erf, "math_erf", "x", "erf(x)",
            "1.1283791670955126 * exp(-x * x)", namespace=M)
elementwise(math.pow, "math_pow", "x y", "x ** y",
            "y * x ** powexp(y)", "out * lognan(where(x == 0, 1, x))", namespace=M)
elementwise(math.fabs, "math_fabs", "x", "abs(x)", "sign(x)", namespace=M)
elementwise(builtins.abs, "abs", "x", "abs(x)", "sign(x)", namespace=M)
elementwise(builtins.float, "float", "x", "x", "1", namespace=M)

nondifferentiable(
    builtins.int, builtins.round, builtins.len, builtins.range, builtins.bool,
    builtins.isinstance, builtins.print, builtins.str, builtins.repr,
    math.floor, math.ceil, math.trunc, math.isnan, math.isinf, math.isfinite,
    builtins.type, builtins.hasattr, builtins.id, builtins.hash,
)
# comparisons, logic, bitwise operators and predicates: results carry no gradient
nondifferentiable(
    operator.lt, operator.le, operator.eq, operator.ne, operator.ge, operator.gt,
    operator.not_, operator.truth, operator.is_, operator.is_not, operator.contains,
    operator.and_, operator.or_, operator.xor, operator.invert, operator.lshift,
    operator.rshift, operator.index, operator.countOf, operator.indexOf,
    builtins.all, builtins.any, builtins.callable,
)
elementwise(math.log, "math_log", "x", "log(x)", "1 / x", namespace=M)
elementwise(math.log2, "math_log2", "x", "log(x) / log(2)", "1 / (x * 0.6931471805599453)",
            namespace=M)
elementwise(math.log10, "math_log10", "x", "log(x) / log(10)",
            "1 / (x * 2.302585092994046)", namespace=M)
elementwise(builtins.pow, "builtin_pow", "x y", "x ** y",
            "y * x ** powexp(y)", "out * lognan(where(x == 0, 1, x))", namespace=M)
elementwise(math.erfc, "math_erfc", "x", "erfc(x)",
            "-1.1283791670955126 * exp(-x * x)", namespace=M)
elementwise(math.degrees, "math_degrees", "x", "x * 57.29577951308232",
            "57.29577951308232", namespace=M)
elementwise(math.radians, "math_radians", "x", "x * 0.017453292519943295",
            "0.017453292519943295", namespace=M)
elementwise(math.ldexp, "math_ldexp", "x i", "ldexp(x, i)", "ldexp(1.0, i)", "0",
            namespace=M)
nondifferentiable(math.isclose)


# math.log(x, base) and math.hypot(*coordinates): more arguments than their
# formula rows take
def _beyond_row(fn, arity, general):
    row = RULES[fn]
    takes = getattr(row, "takes_needed", False)

    def rrule(*args, _needed=None):
        if len(args) != arity:
            return general(*args)
        return row(*args, _needed=_needed) if takes else row(*args)

    rrule.__name__ = rrule.__qualname__ = f"{row.__name__}_or_more"
    rrule.takes_needed = True
    RULES[fn] = rrule


def _numbers(*xs):
    """Plain numbers (not forward-mode duals, which take numpy's functions)."""
    return all(type(x) in (float, int) for x in xs)


def _log_base(x, base):
    if _numbers(x, base):
        y, log_base = math.log(x, base), math.log(base)
    else:
        log_base = np.log(base)
        y = np.log(x) / log_base

    def log_base_pullback(dy):
        return dy / (x * log_base), -dy * y / (base * log_base)

    return y, log_base_pullback


def _hypot_of(*xs):
    y = math.hypot(*xs) if _numbers(*xs) else np.sqrt(builtins.sum(x * x for x in xs))

    def hypot_of_pullback(dy):
        return tuple(dy * x / y for x in xs)

    return y, hypot_of_pullback


_beyond_row(math.log, 1, _log_base)
_beyond_row(math.hypot, 2, _hypot_of)


# -- builtins over sequences ---------------------------------------------------
def _arguments(args):
    """min/max/sum take either several values or one iterable."""
    return (list(args[0]), True) if len(args) == 1 else (list(args), False)


def _extremum_rule(pick):
    def extremum_rule(*args, **kwargs):
        values, packed = _arguments(args)
        y = pick(values, **kwargs)
        k = next(i for i, v in enumerate(values) if v is y or v == y)

        def extremum_pullback(dy):
            grads = [ZERO] * len(values)
            grads[k] = dy
            return (grads,) if packed else tuple(grads)

        return y, extremum_pullback

    return extremum_rule


rule(builtins.max)(_extremum_rule(builtins.max))
rule(builtins.min)(_extremum_rule(builtins.min))


@rule(builtins.sum)
def sum_rule(values, *start):
    values = list(values)
    y = builtins.sum(values, *start)

    def sum_pullback(dy):
        return ([dy] * len(values),) + (dy,) * len(start)  # start only if given

    return y, sum_pullback


@rule(builtins.zip)
def zip_rule(*seqs, strict=False):
    y = list(builtins.zip(*seqs, strict=strict))
    sizes = [len(s) for s in seqs]  # now: a list may grow before the pullback runs

    def zip_pullback(dy):
        grads = [[ZERO] * n for n in sizes]
        if dy is not ZERO:
            for i, row in enumerate(dy):
                for j, g in enumerate(row if row is not ZERO else [ZERO] * len(seqs)):
                    grads[j][i] = g
        return tuple(grads)

    return y, zip_pullback


@rule(builtins.enumerate)
def enumerate_rule(seq, start=0):
    y = list(builtins.enumerate(seq, start))

    def enumerate_pullback(dy):
        if dy is ZERO:
            return ZERO, None
        return [ZERO if d is ZERO else d[1] for d in dy], None

    return y, enumerate_pullback


@rule(builtins.list)
def list_rule(values=()):
    y = builtins.list(values)

    def list_pullback(dy):
        return (dy if isinstance(values, list) else tuple(dy)),

    return y, list_pullback


@rule(builtins.tuple)
def tuple_rule(values=()):
    y = builtins.tuple(values)

    def tuple_pullback(dy):
        return (list(dy) if isinstance(values, list) else dy),

    return y, tuple_pullback


# -- methods of dicts, lists and tuples ------------------------------------------
# Those that read are differentiated; those that change a container in place
# (pop, insert, sort, reverse, update, ...) have no rule: a call on a container
# holding differentiable values raises NoRuleError (dispatch), where running
# it would leave the gradient pointing at the old contents.
nondifferentiable(dict.keys, list.index, list.count, tuple.index, tuple.count)


@rule(dict.get)
def dict_get_rule(d, key, default=None):
    """`d.get(key, default)`: the cotangent goes to `d[key]`, or to `default`."""
    found = key in d
    y = d[key] if found else default

    def dict_get_pullback(dy):
        return ({key: dy}, None, None) if found else (None, None, dy)

    return y, dict_get_pullback


@rule(dict.values)
def dict_values_rule(d):
    """`d.values()`, as a list (a snapshot, not a live view: it can be indexed
    and iterated in differentiated code); the cotangent of item i goes to the
    i-th key."""
    keys = list(d)
    y = [d[k] for k in keys]

    def dict_values_pullback(dy):
        return ({k: g for k, g in zip(keys, dy)},)

    return y, dict_values_pullback


@rule(dict.items)
def dict_items_rule(d):
    """`d.items()`, as a list of `(key, value)` pairs (see `dict.values`)."""
    keys = list(d)
    y = [(k, d[k]) for k in keys]

    def dict_items_pullback(dy):
        return ({k: ZERO if g is ZERO or g is None else g[1] for k, g in zip(keys, dy)},)

    return y, dict_items_pullback


@rule(dict.copy, list.copy)
def container_copy_rule(c):
    """`d.copy()`, `xs.copy()`: a shallow copy, whose cotangent is the original's."""
    y = c.copy()

    def container_copy_pullback(dy):
        return (dy,)

    return y, container_copy_pullback


# -- map, filter, reduce, reversed, sorted -----------------------------------------
# Each gives a list (map, filter and reversed give iterators in Python; a list
# is consumed the same way by sum, for loops, list() and indexing). Functions
# passed in are differentiated through the dispatcher, as calls are.
def _apply(fn, *args):
    from ..runtime.dispatch import call

    return call(fn, *args)


def _add_into(grads, i, g):
    from ..runtime.tangents import add

    grads[i] = add(grads[i], g)


@rule(builtins.map)
def map_rule(fn, *seqs):
    """`map(fn, *seqs)` as a list; each item's cotangent goes back through
    its call to the items it came from (and to `fn`, a closure)."""
    seqs = [list(s) for s in seqs]
    calls = [_apply(fn, *items) for items in zip(*seqs)]

    def map_pullback(dy):
        dfn = ZERO
        grads = [[ZERO] * len(s) for s in seqs]
        for i, ((_, pb), d) in enumerate(zip(calls, dy)):
            if d is ZERO or d is None:
                continue
            g = pb(d)
            dfn = _sum_tangents(dfn, g[0])
            for j in range(len(seqs)):
                _add_into(grads[j], i, g[1 + j])
        return (dfn,) + tuple(grads)

    return [y for y, _ in calls], map_pullback


def _sum_tangents(a, b):
    from ..runtime.tangents import add

    return add(a, ZERO if b is None else b)


@rule(builtins.filter)
def filter_rule(fn, seq):
    """`filter(fn, seq)` as a list: the kept items' cotangents go back to them
    (the predicate's result carries no gradient)."""
    seq = list(seq)
    keep = [i for i, v in enumerate(seq) if (bool(v) if fn is None else fn(v))]

    def filter_pullback(dy):
        grads = [ZERO] * len(seq)
        for i, d in zip(keep, dy):
            grads[i] = d
        return None, grads

    return [seq[i] for i in keep], filter_pullback


@rule(builtins.reversed)
def reversed_rule(seq):
    """`reversed(seq)` as a list."""
    n = len(seq)
    y = [seq[i] for i in range(n - 1, -1, -1)]

    def reversed_pullback(dy):
        grads = list(dy)[::-1]
        return (tuple(grads) if isinstance(seq, tuple) else grads),

    return y, reversed_pullback


@rule(builtins.sorted)
def sorted_rule(seq, *, key=None, reverse=False):
    """`sorted(seq, key=..., reverse=...)`: a permutation; the key's values
    decide the order and carry no gradient."""
    seq = list(seq)
    order = sorted(range(len(seq)), key=(lambda i: seq[i]) if key is None else
                   (lambda i: key(seq[i])), reverse=reverse)

    def sorted_pullback(dy):
        grads = [ZERO] * len(seq)
        for i, d in zip(order, dy):
            grads[i] = d
        return (grads,)

    return [seq[i] for i in order], sorted_pullback


@rule(functools.reduce)
def reduce_rule(fn, seq, *initial):
    """`functools.reduce(fn, seq[, initial])`, one differentiated call per item."""
    seq = list(seq)
    if not seq and not initial:
        raise TypeError("reduce() of empty iterable with no initial value")
    acc, start = (initial[0], 0) if initial else (seq[0], 1)
    calls = []
    for v in seq[start:]:
        acc, pb = _apply(fn, acc, v)
        calls.append(pb)

    def reduce_pullback(dy):
        grads = [ZERO] * len(seq)
        dfn, d = ZERO, dy
        for i in range(len(calls) - 1, -1, -1):
            g = calls[i](d)
            dfn = _sum_tangents(dfn, g[0])
            grads[start + i] = g[2]
            d = g[1]
        if initial:
            return dfn, grads, d
        grads[0] = d
        return dfn, grads

    return acc, reduce_pullback


@rule(builtins.dict)
def dict_rule(*args, **kwargs):
    """`dict(mapping_or_pairs, **kwargs)`: the cotangent of each value goes back
    to where it came from (a mapping, a list of pairs, or a keyword)."""
    y = builtins.dict(*args, **kwargs)
    source = args[0] if args else None
    pairs = isinstance(source, (list, tuple))
    if isinstance(source, list):
        source = list(source)  # as it is now: the list may change before the pullback

    def dict_pullback(dy):
        by_keyword = {k: dy.get(k, ZERO) for k in kwargs}
        if source is None:
            return (by_keyword,)
        if pairs:  # later pairs win: only the last one of a key gets its cotangent
            last = {k: i for i, (k, _) in enumerate(source)}
            grads = [ZERO] * len(source)
            for k, i in last.items():
                if k not in kwargs:
                    grads[i] = (None, dy.get(k, ZERO))
            return (grads if isinstance(source, list) else tuple(grads), by_keyword)
        return ({k: dy.get(k, ZERO) for k in source if k not in kwargs}, by_keyword)

    return y, dict_pullback


dict_rule.keyword_cotangents = True  # its pullback ends with {keyword: cotangent}


@rule((np.generic, "item"))
def numpy_scalar_item_rule(x):
    """`np.float64(v).item()`: the Python number; the cotangent as x's type."""
    y = x.item()

    def numpy_scalar_item_pullback(dy):
        return (type(x)(dy),)

    return y, numpy_scalar_item_pullback


def scalar_cast_rule(kind):
    """The rule of a numpy scalar type called as a cast, `np.float32(x)`: the
    cotangent is dy (cast back to x's type by the dispatcher)."""
    def cast_rule(x=0):
        def cast_pullback(dy):
            return (dy,)

        if getattr(type(x), "zygopy_rules_type", None) is not None:  # a dual (second
            return type(x)(kind(x.primal), kind(x.tangent)), cast_pullback  # order)
        return kind(x), cast_pullback

    cast_rule.__name__ = cast_rule.__qualname__ = f"{kind.__name__}_rule"
    return cast_rule


# lossy casts to narrower floats (np.float64's is in creation.py, with a spec
# row): tested by value, as central differences cannot see through rounding
for _kind in (np.float16, np.float32):
    rule(_kind)(scalar_cast_rule(_kind))

# casts to integer and bool scalars: step functions, as int() and bool() are
nondifferentiable(np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                  np.uint64, np.bool_)


# -- functools.partial ------------------------------------------------------------
# A partial's tangent has the fields of the object: func, args, keywords. Made
# in differentiated code, its arguments get their cotangents back; called, it
# is a call of func with its arguments first and its keywords merged.
def _partial_tangent(d_func, d_args, d_keywords):
    if all(d is ZERO or d is None for d in (d_func, *d_args, *d_keywords.values())):
        return ZERO
    return Tangent(functools.partial, func=d_func, args=tuple(d_args), keywords=d_keywords)


@rule(functools.partial)
def partial_rule(fn, *args, **kw):
    """`functools.partial(fn, *args, **kw)` (a partial of a partial is flattened,
    as Python does)."""
    y = functools.partial(fn, *args, **kw)
    inner = len(y.args) - len(args)  # the arguments fn (a partial) held already

    def partial_pullback(dp):
        fields = dp._fields if isinstance(dp, Tangent) else {}
        d_args = fields.get("args") or (ZERO,) * len(y.args)
        d_kw = fields.get("keywords") or {}
        d_fn = fields.get("func", ZERO)
        if isinstance(fn, functools.partial):
            d_fn = _partial_tangent(d_fn, d_args[:inner], {
                k: d_kw.get(k, ZERO) for k in fn.keywords if k not in kw})
        return (d_fn, *d_args[inner:], {k: d_kw.get(k, ZERO) for k in kw})

    return y, partial_pullback


partial_rule.keyword_cotangents = True


def partial_call_rule(p, *args, **kwargs):
    """Calling a partial `p(*args, **kwargs)`: `p.func(*p.args, *args, **merged)`."""
    from ..runtime.dispatch import call

    n0, n = len(p.args), len(args)
    merged = {**p.keywords, **kwargs}
    y, pb = call(p.func, *p.args, *args, **merged)
    names = list(merged)

    def partial_call_pullback(dy):
        g = pb(dy)
        d_kw = dict(zip(names, g[1 + n0 + n:]))
        d_p = _partial_tangent(g[0], g[1:1 + n0],
                               {k: d_kw[k] for k in p.keywords if k not in kwargs})
        return (d_p, *g[1 + n0:1 + n0 + n], {k: d_kw[k] for k in kwargs})

    return y, partial_call_pullback


partial_call_rule.keyword_cotangents = True
RULES[(functools.partial, "__call__")] = partial_call_rule


# -- a real number's parts: `x.real` and `x.conjugate()` are x, `x.imag` is 0
@rule((float, "real"), (int, "real"), (float, "conjugate"), (int, "conjugate"))
def real_number_rule(x):
    """`x.real` or `x.conjugate()` of a real number: x itself."""

    def real_number_pullback(dy):
        return (dy,)

    return x.real, real_number_pullback


@rule((float, "imag"), (int, "imag"))
def imaginary_number_rule(x):
    """`x.imag` of a real number: 0, with no gradient."""

    def imaginary_number_pullback(dy):
        return (ZERO,)

    return x.imag, imaginary_number_pullback


# what numbers answer about themselves carries no gradient
nondifferentiable(*[(float, name) for name in ("is_integer", "hex", "as_integer_ratio")],
                  *[(int, name) for name in ("bit_length", "bit_count", "to_bytes",
                                             "as_integer_ratio")])


# -- attributes looked up by name: `getattr(self, f"fc{i}")`, `vars(self)`
@rule(builtins.getattr)
def getattr_rule(obj, name, *default):
    """`getattr(obj, name[, default])`: the cotangent goes to the attribute as
    `obj.name`'s would (a field, a property's getter, `__getattr__`)."""
    y = getattr(obj, name, *default)
    found = not default or hasattr(obj, name)

    def getattr_pullback(dy):
        from ..runtime.generated import attr_adjoint

        d_obj = attr_adjoint(ZERO, obj, name, dy) if found else ZERO
        return (d_obj, None) + ((ZERO,) if default else ())

    return y, getattr_pullback


@rule(builtins.vars)
def vars_rule(obj):
    """`vars(obj)`: its `__dict__`, whose entries' cotangents are its fields'."""

    def vars_pullback(dy):
        if not isinstance(dy, dict):
            return (ZERO,)
        return (Tangent(type(obj), **{k: v for k, v in dy.items() if v is not None}),)

    return vars(obj), vars_pullback
