"""Call dispatch: what generated code does at a call whose callee is known only
at run time. Returns `(y, pullback)`; `pullback(dy)` returns the callee's
tangent followed by one cotangent per argument (positional, then keyword).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import threading
import types
import weakref

import numpy as np

from ..errors import NoRuleError, ZygopyError, describe_callable
from ..rules.registry import (
    CHANGED,
    NONDIFFERENTIABLE,
    RULES,
    is_nondifferentiable,
    key_of,
    lookup,
    method_key,
)
from . import dunders
from .arrays import holds_dual, unbroadcast
from .structure import holds_differentiable, may_share
from .tangents import ZERO, Refused, Tangent, is_differentiable_value
from .tracebacks import point_at_user_line

_COMPILED: dict = {}  # (code, kinds, need_free, implicit) -> compiler.Compiled
_BUILT: dict = {}  # weakref(function) -> {key: (forward, backward, compiled)}


class _PerThread(threading.local):
    """What a thread is doing now: its stacks of implicit-parameter contexts
    and of functions whose forward pass runs (`is_differentiating()`). Per
    thread: a model run for inference in one thread while another trains it
    must not see the other's gradient (Dropout would drop units)."""

    def __init__(self):
        self.implicit = []
        self.differentiating = []


THREAD = _PerThread()
# every thread's active implicit contexts: the cheap first test of the hot paths
# (`ANY_IMPLICIT and THREAD.implicit`), a thread-local read costing as much as
# the rest of a scalar gradient
ANY_IMPLICIT: list = []


@contextlib.contextmanager
def implicit(ctx):
    """Within this block `ctx` is this thread's innermost implicit-parameter
    context (it collects the adjoints of its Params' arrays)."""
    THREAD.implicit.append(ctx)
    ANY_IMPLICIT.append(ctx)
    try:
        yield
    finally:
        THREAD.implicit.pop()
        ANY_IMPLICIT.remove(ctx)
# never compiled: rules or nothing (their code validates, caches and dispatches in
# ways a gradient cannot follow; the user's call is named rather than their internals)
LIBRARIES = {"numpy", "cupy", "scipy", "cupyx", "statistics", "random", "fractions",
             "decimal", "sklearn", "pandas", "torch", "jax", "tensorflow"}
_ARRAY_LIBRARIES = {"numpy", "cupy", "scipy", "cupyx"}


class Stale(ZygopyError):
    """A guard found a callee rebound since compilation: recompile."""


def kind_of(x):
    """The specialisation kind of an argument (see compiler.activity)."""
    t = type(x)
    if t is np.ndarray:
        return "array" if x.dtype.kind in "fc" else None
    if t is float or t is int:
        return "scalar"
    if t is bool or x is None or t is str or isinstance(x, type):
        return None
    if getattr(t, "zygopy_rules_type", None) is not None and type(x.primal) in (float, int):
        return "dual"  # a forward-mode dual of a number (second order): "any" to activity
    if getattr(t, "dtype", None) is not None:  # on the type: no __getattr__ of objects
        return "array" if x.dtype.kind in "fc" else None
    fields = getattr(x, "__dict__", None)
    if fields and not isinstance(x, _OPAQUE):
        arrays = tuple([k for k, v in fields.items()
                        if type(v) is np.ndarray and v.dtype.kind in "fc"])
        if arrays:
            return ("any", arrays)  # an object whose fields hold float arrays (a layer)
    return "any"


_OPAQUE = (types.ModuleType, types.FunctionType, types.MethodType, type)


def carries_gradient(x) -> bool:
    """Whether a value can carry a gradient (conservative for objects)."""
    if is_differentiable_value(x):
        return True
    t = type(x)
    if t in (bool, int, str, type(None), range, bytes) or getattr(x, "dtype", None) is not None:
        return False
    if t in (list, tuple):
        return any(carries_gradient(v) for v in x)
    if t is dict:
        return any(carries_gradient(v) for v in x.values())
    if isinstance(x, types.FunctionType):
        return bool(x.__closure__)
    if isinstance(x, (types.BuiltinFunctionType, types.ModuleType, type)):
        return False
    return hasattr(x, "__dict__") or hasattr(type(x), "__slots__")


def adjoint_functions(fn, kinds, need_free, implicit):
    """(forward, backward, compiled) for `fn`, compiling on first use."""
    code = fn.__code__
    key = (kinds, need_free, implicit)
    built = _BUILT.get(_ref(fn))  # a plain dict of weak keys: a third of the
    if built is not None:  # time of a WeakKeyDictionary's get
        if built.get(_CODE) is not code:  # its __code__ was replaced: build anew
            built.clear()
            built[_CODE] = code
        entry = built.get(key)
        if entry is not None:
            return entry
    else:
        ref = _ref(fn, _unbuilt)
        built = _BUILT[ref] = {_CODE: code}
    code_key = (code, kinds, need_free, implicit)
    compiled = _COMPILED.get(code_key)
    if compiled is None:
        from ..compiler import compile_function

        library = (getattr(fn, "__module__", None) or "").partition(".")[0]
        if library in LIBRARIES:
            hint = "" if library in _ARRAY_LIBRARIES else \
                "; write the computation with numpy's functions, which have them"
            raise NoRuleError(fn, f" ({library}'s own Python code is not compiled: "
                                  f"its functions need rules{hint})")

        compiled = _COMPILED[code_key] = compile_function(fn, kinds, need_free, implicit)
    entry = built[key] = _build(fn, compiled)
    return entry


_ref = weakref.ref
_CODE = "code"  # the key, in a function's _BUILT entry, of the code it was built for


def _unbuilt(ref):
    _BUILT.pop(ref, None)


def forget(fn):
    """Drop every compiled adjoint of `fn` (after a guard found a rebinding)."""
    _BUILT.pop(_ref(fn), None)
    for key in [k for k in _COMPILED if k[0] is fn.__code__]:
        del _COMPILED[key]


def _build(fn, compiled):
    cells = _cells(fn, compiled.guards)
    return _function(fn, cells, compiled.forward), _function(fn, cells, compiled.backward), \
        compiled


def gradient_function(fn, kinds, value=True, floats=False):
    """(the fused function, whether it calls user code, whether it surely
    returns a tuple of floats) for a top-level call
    of `fn` on arguments of `kinds` (see compiler.fuse): the forward and
    backward in one function returning `(value, gradients)`, or with
    `value=False` the gradients alone; `floats`: it is only ever called with
    floats."""
    compiled = adjoint_functions(fn, kinds, False, False)[2]
    if compiled.changed and not (floats and all(n[0] == "+" for n in compiled.changed)):
        return None, True, False  # the general path checks its arguments each call
    code, guards, calls_user_code, returns_floats = compiled.gradient_code(fn, value, floats)
    return _function(fn, _cells(fn, guards), code), calls_user_code, returns_floats


def _cells(fn, guards):
    """The cells generated code of `fn` closes over: the user's own (late
    binding kept), `_zp`, numpy and math, and one per guard (`guards`: the
    generated code's, {"np.tanh": the object its inlined adjoint assumes})."""
    from . import generated

    cells = dict(zip(fn.__code__.co_freevars, fn.__closure__ or ()))
    cells["_zp"] = types.CellType(generated)
    cells.setdefault("np", types.CellType(generated.np))
    cells.setdefault("math", types.CellType(generated.math))
    for i, obj in enumerate(guards.values()):
        cells[f"_guard{i}"] = types.CellType(obj)
    return cells


def _function(fn, cells, code):
    closure = tuple(cells[n] for n in code.co_freevars)
    return types.FunctionType(code, fn.__globals__, code.co_name, None, closure)


def call(f, *args, **kwargs):
    """Run `f(*args, **kwargs)` and return `(y, pullback)`."""
    return _dispatch(f, args, kwargs, None)


def call_masked(mask, f, *args, **kwargs):
    """`call(f, *args, **kwargs)` where the caller differentiates only the
    positional arguments whose flag in `mask` is true (those past its end are
    not differentiated). User functions are compiled without the adjoints of
    the others; rules that take `_needed` skip their cotangents."""
    return _dispatch(f, args, kwargs, mask)


def _dispatch(f, args, kwargs, mask):
    """`call` and `call_masked`: by what the callee is (`mask` None: all needed)."""
    if type(f) is types.FunctionType:  # keyed by itself in the registry
        plain = _PLAIN_RULES.get(f)
        if plain is not None and not kwargs and RULES.get(f) is plain:
            return _plain_rule(plain, f, args, mask)  # (a kernel's rule: conv, softmax)
        rrule = RULES.get(f)
        if rrule is None and f.__module__ and f.__module__.startswith("cupy"):
            twin = numpy_twin(f)
            if twin is not None:  # cupy.sum: np.sum's rule, which serves CuPy arrays
                return _dispatch(twin, args, kwargs, mask)
        if rrule is not None and not _exact(rrule) and _on_duals(args, kwargs):
            _refuse_forward_mode(f)
        if rrule is not None:
            if f is _GETITEM[0] and dunders.user_method(args[0], "__getitem__"):
                return dunders.run(dunders.user_method(args[0], "__getitem__"), args)
            if f in dunders.AUGMENTED:  # `x += y`: an object's __iadd__ or __add__
                out = dunders.call(f, args, kwargs)
                if out is not None:
                    return out
            if not kwargs and not _is_numpy(f) and f is not _GETITEM[0] \
                    and f not in dunders.AUGMENTED:  # the same way, next time, quickly
                _PLAIN_RULES[f] = rrule
            return _rule_call(rrule, f, args, kwargs, mask)
        nondifferentiable = f in NONDIFFERENTIABLE
    else:
        if type(f) in _BUILTINS and f in dunders.WATCHED:  # an operator on user objects?
            out = dunders.call(f, args, kwargs)
            if out is not None:
                return out
        method = _instance_call(f)
        if method is not None:  # a layer, a callable object: its class's __call__
            y, pb = call_function(method, (f,) + args, kwargs, need_free=True,
                                  mask=None if mask is None else (True,) + tuple(mask))
            return y, MethodPullback(pb)
        rrule = lookup(f)
        if rrule is not None:
            return _rule_call(rrule, f, args, kwargs, mask)
        twin = numpy_twin(f)
        if twin is not None:  # a CuPy ufunc (cupy.tanh): numpy's rule
            return _dispatch(twin, args, kwargs, mask)
        if type(f) is _CACHED and isinstance(f.__wrapped__, types.FunctionType):
            # functools.cache / lru_cache: the function it remembers results of
            return _dispatch(f.__wrapped__, args, kwargs, mask)
        nondifferentiable = is_nondifferentiable(f)
    n = len(args) + len(kwargs)
    if nondifferentiable:
        _refuse_drawn(f, args, kwargs)
        from .generated import without_tangents

        return without_tangents(f, *args, **kwargs), ZeroPullback(n)
    if isinstance(f, types.FunctionType):
        needed = args if mask is None else \
            [a for a, m in zip(args, _padded(mask, len(args))) if m]
        if not (ANY_IMPLICIT and THREAD.implicit) and not f.__closure__ \
                and not _any_carries(needed, kwargs):
            return f(*args, **kwargs), ZeroPullback(n)
        return call_function(f, args, kwargs, need_free=bool(f.__closure__), mask=mask)
    with_self = None if mask is None else (True,) + tuple(mask)
    if isinstance(f, types.MethodType):
        func = _plain(f.__func__)
        if not isinstance(func, types.FunctionType):  # a callable bound as a method
            y, pb = _dispatch(func, (f.__self__,) + args, kwargs, with_self)
            return y, MethodPullback(pb)
        if func in RULES:  # a method with a rule of its own: by the rule
            y, pb = _dispatch(func, (f.__self__,) + args, kwargs, with_self)
        else:
            y, pb = call_function(func, (f.__self__,) + args, kwargs, need_free=True,
                                  mask=with_self)
        return y, MethodPullback(pb)
    if getattr(type(f), "zygopy_differentiable", False):  # @zp.differentiable
        return _dispatch(f.fn, args, kwargs, mask)
    if isinstance(f, type):
        fields = record_fields(f)
        if fields is not None:
            return f(*args, **kwargs), RecordPullback(fields, len(args), tuple(kwargs))
        if not _any_carries(args, kwargs):
            return f(*args, **kwargs), ZeroPullback(n)
        from .construct import ConstructorPullback, build, field_function

        fields_of, names = field_function(f)
        if fields_of is None:
            raise NoRuleError(f, " (constructing an object from differentiable values "
                                 "inside differentiated code: zygopy builds namedtuples, "
                                 "dataclasses and classes whose __init__ only computes "
                                 f"and sets fields of self; not {f.__name__}: {names}; "
                                 "make the object outside and pass it in)")
        values, pb = call_function(fields_of, (f.__new__(f),) + args, kwargs,
                                   need_free=False)
        return build(f, values, names), ConstructorPullback(pb, names)
    key = method_key(f, "__call__")  # a rule for calling instances of a type
    if key is not None and key in RULES:
        rrule = RULES[key]
        y, pb = rrule(f, *args, **kwargs)
        return y, MethodRulePullback(pb, (f,) + args, tuple(kwargs),
                                     getattr(rrule, "keyword_cotangents", False))
    method = _plain(getattr(type(f), "__call__", None))  # noqa: B004  (the function itself)
    if isinstance(method, types.FunctionType):
        y, pb = call_function(method, (f,) + args, kwargs, need_free=True, mask=with_self)
        return y, MethodPullback(pb)
    owner = getattr(f, "__self__", None) if isinstance(f, types.BuiltinMethodType) else None
    if type(owner) in _REBUILD and (carries_gradient(owner) or _any_carries(args, kwargs)):
        kind = type(owner).__name__
        raise NoRuleError(f, f" ({kind} of differentiable values: a method that changes the "
                             f"{kind} in place would leave the gradient pointing at its old "
                             f"contents; build a new {kind} instead, e.g. "
                             f"{_REBUILD[type(owner)]})")
    if owner is not None and is_differentiable_value(owner):
        raise NoRuleError(f, f" (a method of a differentiable {type(owner).__name__}, "
                             "with no rule: its result would carry no gradient)")
    if not _any_carries(args, kwargs):
        return f(*args, **kwargs), ZeroPullback(n)
    if any(f is g for g in _IN_PLACE_FUNCTIONS):
        raise NoRuleError(f, " (it changes its first argument in place: write the change "
                             "as an update zygopy differentiates, a[index] = v, on an "
                             "array of the function's own)")
    raise NoRuleError(f)


# A plain Python function with a rule, called with positional arguments (not
# numpy's, not zygopy's getitem or augmented operators) -> its rule, found at
# the first call; the next go straight to it. Emptied when rules change.
_PLAIN_RULES: dict = {}
CHANGED.append(_PLAIN_RULES.clear)


def _plain_rule(rrule, f, args, mask):
    """`_rule_call` for a function `_PLAIN_RULES` holds: the same checks (its
    flags read each call: a user may set `rule.exact` later) and result."""
    if not _exact(rrule) and _on_duals(args, {}):
        _refuse_forward_mode(f)
    return _apply_rule(rrule, f, args, {}, mask, RulePullback)


def _exact(rrule):
    """Whether a rule's pullback is the exact derivative of its function's
    body (zygopy's and layers' rules; a user's that says so with `rule.exact
    = True`): forward mode may then differentiate the body."""
    exact = getattr(rrule, "exact", None)
    if exact is None:
        exact = (getattr(rrule, "__module__", None) or "").partition(".")[0] in \
            ("zygopy", "layers")
        with contextlib.suppress(AttributeError, TypeError):
            rrule.exact = exact  # (remembered)
    return exact


def _on_duals(args, kwargs):
    """Whether forward mode reaches a call: duals among its arguments, or in
    their lists, tuples, dicts and closures (jvp, and second order: hessian,
    hvp, grad of grad)."""
    for a in args:
        if type(a) is not np.ndarray and type(a) is not float and holds_dual(a):
            return True  # (arrays and floats first: a training step's arguments)
    return bool(kwargs) and any(map(holds_dual, kwargs.values()))


def _refuse_forward_mode(f):
    raise ZygopyError(
        f"forward mode (jvp, and second order: hessian, hvp, grad of grad) of "
        f"{describe_callable(f)}: its rule, made with zygopy.rule, is a reverse-mode "
        "pullback, which forward mode cannot use, and differentiating its body instead "
        "could disagree with the rule (as JAX's jvp refuses a custom_vjp function)."
        "\nPossible fixes:\n"
        "  - take first-order reverse-mode derivatives: zygopy.gradient, "
        "zygopy.jacobian\n"
        "  - an elementwise function: register it with zygopy.elementwise(fn, ...), "
        "whose formula serves both modes\n"
        "  - or, if the rule is the exact derivative of the body: set `rule.exact = "
        "True` on the rule function")


def numpy_twin(f):
    """The numpy function a CuPy function stands for (`cupy.sum` for `np.sum`,
    `cupy.linalg.inv` for `np.linalg.inv`), when numpy's has a rule or is
    non-differentiable: rules are written against their inputs' array module,
    so numpy's serve CuPy arrays. None for anything else."""
    try:
        return _TWINS[f]
    except (KeyError, TypeError):  # (TypeError: unhashable)
        pass
    module = getattr(f, "__module__", None) or type(f).__module__ or ""
    name = getattr(f, "__name__", None)
    twin = None
    if module.partition(".")[0] in ("cupy", "cupyx") and isinstance(name, str):
        space = next((getattr(np, sub) for sub in ("linalg", "fft", "random")
                      if f".{sub}" in module), np)
        candidate = getattr(space, name.removeprefix("cupy_"), None)  # (ufuncs: cupy_tanh)
        if candidate is not None and candidate is not f and \
                (lookup(candidate) is not None or is_nondifferentiable(candidate)):
            twin = candidate
    try:
        _TWINS[f] = twin
    except TypeError:
        pass
    return twin


_TWINS: dict = {}  # a CuPy function -> numpy_twin's answer


def _instance_call(f):
    """The plain function `type(f).__call__` when calling `f` means running it
    (compiled): `f` is an instance of a Python class whose `__call__` is a
    plain function, with no rule for the instance, its type's `__call__` or
    any instance of the type. Else None (the general path decides). Found
    once per type, until the class's `__call__` or the registries change."""
    t = type(f)
    route = _ROUTES.get(t)
    if route is not None and route[1] == (len(RULES), len(NONDIFFERENTIABLE)) \
            and route[0] is getattr(t, "__call__", None):  # noqa: B004
        return route[2]
    raw = getattr(t, "__call__", None)  # noqa: B004  (the attribute itself)
    method = _plain(class_attribute(t, "__call__"))
    if not isinstance(method, types.FunctionType) or isinstance(f, _NOT_ROUTED) \
            or (t.__module__ or "").partition(".")[0] in LIBRARIES \
            or getattr(t, "zygopy_differentiable", False) \
            or getattr(t, "zygopy_rules_type", None) is not None \
            or method_key(f, "__call__") is not None \
            or any(isinstance(k, t) for k in RULES) \
            or any(isinstance(k, t) for k in NONDIFFERENTIABLE):
        method = None
    if len(_ROUTES) > 1024:
        _ROUTES.clear()
    _ROUTES[t] = (raw, (len(RULES), len(NONDIFFERENTIABLE)), method)
    return method


_ROUTES: dict = {}  # type -> (its __call__ then, the registries' sizes, the function)
_NOT_ROUTED = (types.FunctionType, types.MethodType, types.BuiltinFunctionType,
               types.BuiltinMethodType, type, functools.partial)


_IN_PLACE_FUNCTIONS = (np.put, np.place, np.putmask, np.put_along_axis)  # a[...] = v
_BUILTINS = (types.BuiltinFunctionType, type)


def _is_numpy(f):
    """A numpy function, ufunc or type (np.sum, np.exp, np.float64)."""
    return type(f) is np.ufunc or (getattr(f, "__module__", None) or "").startswith("numpy")
_GETITEM = [None]  # zygopy's getitem (generated code's `x[i]`), set by runtime.generated


def _plain(fn):
    """The function a `@zp.differentiable` wraps, or `fn` itself."""
    return fn.fn if getattr(type(fn), "zygopy_differentiable", False) else fn


_CACHED = type(functools.cache(lambda: None))  # functools' caching wrapper

_REBUILD = {  # how to get what an in-place method of a container would give
    list: "xs = xs + [v] (and return xs), xs = xs[::-1], xs = sorted(xs)",
    dict: "d = {**d, key: v}",
    np.ndarray: "a = np.sort(a), a = np.full_like(a, v)",
}


def call_method_masked(mask, obj, name, *args, **kwargs):
    """`call_method` where `mask` flags which of (obj, *args) are differentiated."""
    key = method_key(obj, name)
    if key is not None:
        rrule = RULES.get(key)
        if rrule is not None and getattr(rrule, "takes_needed", False):
            return _apply_rule(rrule, _method_name(key), (obj,) + args, kwargs,
                               _padded(mask, 1 + len(args)), MethodRulePullback)
        return call_method(obj, name, *args, **kwargs)
    attr = _plain(class_attribute(type(obj), name)) \
        if not isinstance(obj, types.ModuleType) else None
    if isinstance(attr, types.FunctionType) and name not in getattr(obj, "__dict__", {}):
        if attr in RULES:  # a method with a rule of its own: by the rule
            y, pb = _dispatch(attr, (obj,) + args, kwargs, mask)
        else:
            y, pb = call_function(attr, (obj,) + args, kwargs, need_free=True, mask=mask)
        return y, MethodPullback(pb)
    return call_method(obj, name, *args, **kwargs)


def _rule_call(rrule, f, args, kwargs, mask):
    """Run a rule; a bound method found by its type's rule (`x.reshape`) passes
    its object first, whose cotangent becomes the callee's."""
    if _is_numpy(f):
        dunders.refuse_numpy_of_objects(f, args)
    bound = isinstance(f, types.BuiltinMethodType) and isinstance(key_of(f), tuple)
    if bound:
        args = (f.__self__,) + args
        mask = None if mask is None else (True,) + tuple(mask)
    return _apply_rule(rrule, f, args, kwargs, mask, MethodRulePullback if bound else RulePullback)


def _apply_rule(rrule, f, args, kwargs, mask, wrap):
    """Run `rrule(*args, **kwargs)` (passing `_needed` where it takes it) and
    wrap its pullback (`RulePullback`, or `MethodRulePullback` when `args[0]`
    is the object of a method call)."""
    if not kwargs:  # positional arguments only (the common case): no keyword to place
        if mask is not None and getattr(rrule, "takes_needed", False):
            out = rrule(*args, _needed=_padded(mask, len(args)))
        else:
            out = rrule(*args)
        if type(out) not in (tuple, list) or len(out) != 2 or not callable(out[1]):
            _refuse_rule_result(rrule, f, out)
        return out[0], wrap(out[1], args, (), getattr(rrule, "keyword_cotangents", False))
    moved = refused = None
    if getattr(rrule, "ufunc_options", False):
        args, kwargs = _ufunc_options(f, args, kwargs)
    if kwargs and kwargs.get("out") is not None:  # (np.f(..., out=a) is rewritten first)
        raise NoRuleError(f, _OUT_REFUSED)
    keyword_cotangents = getattr(rrule, "keyword_cotangents", False)
    names = tuple(kwargs)
    if kwargs and not keyword_cotangents and any(map(_real_values, kwargs.values())):
        args, kwargs, moved, mask, refused = \
            _keywords_by_position(rrule, f, args, kwargs, mask)
    if mask is not None and getattr(rrule, "takes_needed", False):
        out = rrule(*args, _needed=_padded(mask, len(args)), **kwargs)
    else:
        out = rrule(*args, **kwargs)
    if type(out) not in (tuple, list) or len(out) != 2 or not callable(out[1]):
        _refuse_rule_result(rrule, f, out)
    y, pb = out
    pb = wrap(pb, args, tuple(kwargs), keyword_cotangents)
    if moved is not None:
        shift = 1 if wrap is MethodRulePullback else 0  # its object's cotangent leads
        n, n_all, order = moved
        order = [(where, i - shift if where == "pos" else i) for where, i in order]
        pb = _KeywordsMoved(pb, n - shift, n_all - shift, order)
    if refused:  # the keywords close the cotangents, in the caller's order
        slots = tuple(names.index(k) - len(names) for k in refused)
        pb = _RefusedKeywords(pb, slots, _keyword_error(f, refused[0]))
    return y, pb


def _refuse_rule_result(rrule, f, out):
    name = getattr(rrule, "__qualname__", repr(rrule))
    kind = type(out).__name__
    got = f"a {kind} of {len(out)}" if type(out) in (tuple, list) else \
        f"a value of type {kind}"
    raise ZygopyError(
        f"the rule {name} for {describe_callable(f)} returned {got}, not "
        "(value, pullback) with a function as the pullback.\nPossible fix: end the rule "
        "with `return y, pullback`, where pullback(dy) returns one cotangent per "
        "argument")


_IGNORED_UFUNC_OPTIONS = ("casting", "order", "subok")  # no effect on the values


def _ufunc_options(f, args, kwargs):
    """A ufunc's keyword options for its formula rule: `dtype=` casts the
    inputs first (what numpy computes in); `where=` and others are refused
    (`out=` is an update, see compiler/rewrites.py)."""
    kwargs = {k: v for k, v in kwargs.items() if k not in _IGNORED_UFUNC_OPTIONS}
    dtype = kwargs.pop("dtype", None)
    if kwargs.keys() - {"out"}:
        raise NotImplementedError(f"the rule of {describe_callable(f)} covers dtype= (not "
                                  f"{', '.join(sorted(kwargs.keys() - {'out'}))}=)")
    if dtype is not None:
        args = tuple(a.astype(dtype) if hasattr(a, "astype") else np.dtype(dtype).type(a)
                     for a in args)
    return args, kwargs


def _keyword_error(f, name):
    return NoRuleError(f, f" (its keyword argument `{name}` carries a gradient, but the "
                          f"rule of {describe_callable(f)} gives it none: wrap it in "
                          "zygopy.stop_gradient(...) if it is a constant)")


class _RefusedKeywords:
    """A rule's pullback whose keyword arguments at `slots` (counted from the
    end) have no cotangent: `Refused` there, an error only if it is used."""

    __slots__ = ("error", "pb", "slots")

    def __init__(self, pb, slots, error):
        self.pb, self.slots, self.error = pb, slots, error

    def __call__(self, dy):
        grads = self.pb(dy)
        if dy is ZERO or dy is None:
            return grads
        grads = list(grads)
        for i in self.slots:
            grads[i] = Refused(self.error)
        return tuple(grads)


_OUT_REFUSED = (" (`out=` writes the result into an array in place: differentiated as a "
                "statement of its own, `np.f(..., out=a)` with `a` a local array, or "
                "write `a = np.f(...)` or `x = x.clip(...)`)")


def _keywords_by_position(rrule, f, args, kwargs, mask):
    """Pass keyword arguments that carry gradients by position, as the rule's
    signature allows (a rule returns cotangents of its positional arguments):
    (args, the other kwargs, how to put the cotangents back in the caller's
    order, the mask). A NoRuleError where the rule takes one by keyword only."""
    params = list(_signature(rrule).parameters.values())
    wanted = [k for k, v in kwargs.items() if _real_values(v)]
    index = {p.name: i for i, p in enumerate(params)
             if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)}
    if "out" in wanted:
        raise NoRuleError(f, _OUT_REFUSED)
    takes = {p.name for p in params if p.kind != p.VAR_POSITIONAL}
    if not any(p.kind == p.VAR_KEYWORD for p in params):
        for k in wanted:
            if k not in takes:  # the rule does not cover this option at all
                raise NoRuleError(f, f" (option `{k}`: the rule of {describe_callable(f)} "
                                     "does not cover it)")
    refused = [k for k in wanted if k not in index or index[k] < len(args)]
    wanted = [k for k in wanted if k not in refused]
    if not wanted:
        return args, kwargs, None, mask, refused
    last = max(index[name] for name in wanted)
    rest = dict(kwargs)
    extra = []
    for p in params[len(args):last + 1]:
        if p.name in rest:
            extra.append(rest.pop(p.name))
        elif p.default is not p.empty:
            extra.append(p.default)
        else:
            raise NoRuleError(f, f" (cannot pass `{p.name}` by position for its rule)")
    n = len(args)
    position = {p.name: n + i for i, p in enumerate(params[n:last + 1])}
    order = [("pos", position[k]) if k in position else ("kw", list(rest).index(k))
             for k in kwargs]
    if mask is not None:
        mask = _padded(mask, n) + (True,) * len(extra)
    return args + tuple(extra), rest, (n, len(args) + len(extra), order), mask, refused


def _method_name(key):
    """`ndarray.clip` for the registry key of a method (errors name it so)."""
    return f"{key[0].__name__}.{key[1]}" if isinstance(key, tuple) else key


def _refuse_drawn(f, args, kwargs):
    """Random draws with differentiable parameters depend on them: refuse,
    rather than give them a zero gradient."""
    from ..rules.inert import DRAWN, PERMUTING, refuse_draw

    key = f if isinstance(f, tuple) else key_of(f)
    if (key in DRAWN or key in PERMUTING and any(
            getattr(a, "ndim", 0) for a in args)) and (
            any(map(_real_values, args)) or any(map(_real_values, kwargs.values()))):
        refuse_draw(f)


def _real_values(v):
    """Whether a keyword argument holds real numbers that carry a gradient:
    floats and float arrays, or lists and tuples of them (not ints: `axis=1`,
    `ddof=1` are settings)."""
    t = type(v)
    if t is float or t is complex:
        return True
    if t in (list, tuple):
        return any(map(_real_values, v))
    dtype = getattr(v, "dtype", None)
    return dtype is not None and getattr(dtype, "kind", "") in "fc" and not isinstance(v, type)


_RULE_SIGNATURES: dict = {}


def _signature(rrule):
    sig = _RULE_SIGNATURES.get(rrule)
    if sig is None:
        sig = _RULE_SIGNATURES[rrule] = inspect.signature(rrule)
    return sig


class _KeywordsMoved:
    """A rule's pullback for a call whose keyword arguments were passed by
    position: the cotangents in the caller's order (positional, then keyword)."""

    __slots__ = ("n", "n_all", "order", "pb")

    def __init__(self, pb, n, n_all, order):
        self.pb, self.n, self.n_all, self.order = pb, n, n_all, order

    def __call__(self, dy):
        g = self.pb(dy)
        head, positional, keyword = g[0], g[1:1 + self.n_all], g[1 + self.n_all:]
        kw = [positional[i] if where == "pos" else keyword[i] for where, i in self.order]
        return (head,) + tuple(positional[:self.n]) + tuple(kw)


def _padded(mask, n):
    return tuple(mask[:n]) + (False,) * (n - len(mask))


def call_method(obj, name, *args, **kwargs):
    """Run `obj.name(*args, **kwargs)`, differentiating `obj` too."""
    key = method_key(obj, name)
    if key is None:
        value = getattr(obj, "__dict__", _NO_FIELDS).get(name)
        if type(value) is types.FunctionType and not value.__closure__:
            rrule = RULES.get(value)  # a function with a rule kept in a field (a
            if rrule is not None and value is not _GETITEM[0] \
                    and value not in dunders.AUGMENTED \
                    and class_attribute(type(obj), name) is None:  # layer's activation)
                # the field gets no cotangent: the rule gives its function None
                if not _exact(rrule) and _on_duals(args, kwargs):
                    _refuse_forward_mode(value)
                return _rule_call(rrule, value, args, kwargs, None)
    if key is not None:
        rrule = RULES.get(key)
        if rrule is None:  # declared non-differentiable
            _refuse_drawn(key, args, kwargs)
            if kwargs.get("out") is not None and _real_values(kwargs["out"]):
                raise NoRuleError(_method_name(key), _OUT_REFUSED)  # x.round(out=x)
            return getattr(obj, name)(*args, **kwargs), \
                ZeroMethodPullback(len(args) + len(kwargs))
        return _apply_rule(rrule, _method_name(key), (obj,) + args, kwargs, None,
                           MethodRulePullback)
    attr = _plain(class_attribute(type(obj), name)) \
        if not isinstance(obj, types.ModuleType) else None
    if isinstance(attr, types.FunctionType) and name not in getattr(obj, "__dict__", {}):
        if attr in RULES:  # a method with a rule of its own: by the rule
            y, pb = _dispatch(attr, (obj,) + args, kwargs, None)
        else:
            y, pb = call_function(attr, (obj,) + args, kwargs, need_free=True)
        return y, MethodPullback(pb)
    if name not in getattr(obj, "__dict__", ()) and not isinstance(obj, types.ModuleType):
        getter = _getter(type(obj), attr, name)
        if getter is not None:  # a layer a property or __getattr__ computes
            got, got_pb = call_function(getter[0], (obj,) + getter[1], {}, need_free=True)
            if not isinstance(got, types.MethodType):
                y, pb = call(got, *args, **kwargs)
                return y, _ComputedCallPullback(pb, got_pb)
    bound = getattr(obj, name)
    y, pb = call(bound, *args, **kwargs)
    if isinstance(bound, types.MethodType) and bound.__self__ is obj:
        return y, pb  # a method found another way (e.g. __getattr__): pb has self's
    return y, _FieldCallPullback(pb, obj, name)  # a layer or function in a field


def _getter(cls, attr, name):
    """(function, extra arguments) computing attribute `name` of an instance of
    `cls` that is not one of its fields: a property's getter, or the class's
    `__getattr__` (when the class has no such attribute); None otherwise."""
    if isinstance(attr, property):
        fget = _plain(attr.fget)
        return (fget, ()) if isinstance(fget, types.FunctionType) else None
    if attr is None:
        fallback = _plain(class_attribute(cls, "__getattr__"))
        if isinstance(fallback, types.FunctionType):
            return fallback, (name,)
    return None


class _ComputedCallPullback:
    """Calling what a property or `__getattr__` computed from an object: the
    callee's tangent goes back through that code to the object's fields."""

    __slots__ = ("got_pb", "pb")

    def __init__(self, pb, got_pb):
        self.pb, self.got_pb = pb, got_pb

    def __call__(self, dy):
        grads = self.pb(dy)
        d_fn = grads[0]
        d_obj = ZERO if d_fn is None or d_fn is ZERO else self.got_pb(d_fn)[1]
        return (d_obj,) + tuple(grads[1:])


def free_signature(f):
    """One flag per closure cell of `f`: does it hold a differentiable value now?
    Part of the compile cache key, since it decides which adjoints are kept."""
    cells = f.__closure__
    if not cells:
        return ()
    out = []
    for cell in cells:
        try:
            out.append(holds_differentiable(cell.cell_contents))
        except ValueError:  # an empty cell (a variable not assigned yet)
            out.append(False)
    return tuple(out)


def call_function(f, args, kwargs, need_free, mask=None, top=False):
    """Run user function `f` through its compiled forward; pullback via backward.

    `top`: called by gradient/pullback themselves, not from differentiated
    code (only then may `f` change its arguments' arrays in place)."""
    layout = None
    code = f.__code__
    n_args = len(args)
    if kwargs or code.co_flags & _STARRED or code.co_kwonlyargcount \
            or n_args != code.co_argcount:
        args, layout = _bind(f, args, kwargs)
    kinds = tuple(map(kind_of, args))
    if mask is not None:
        kinds = _masked_kinds(kinds, _padded(mask, n_args), layout)
    if need_free:
        need_free = free_signature(f)
    for attempt in (0, 1):
        forward, backward, compiled = adjoint_functions(f, kinds, need_free,
                                                       bool(ANY_IMPLICIT and THREAD.implicit))
        if compiled.changed:
            changed = _changed_in_place(compiled, args)
            if changed and not top:
                _refuse_changed_arguments(f, changed)
            _refuse_shared_arguments(f, compiled, args, changed)
        try:
            y, saved = forward(*args)
            break
        except Stale:
            forget(f)
        except Exception as exc:
            point_at_user_line(exc)  # a note naming the user's line
            raise
    return y, FunctionPullback(backward, saved, layout)


_STARRED = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS  # code flags of *args, **kwargs


def _refuse_changed_arguments(f, names):
    name = getattr(f, "__qualname__", repr(f))
    raise ZygopyError(
        f"{name} changes its argument `{names[0]}` in place (`{names[0]}[...] = ...`, or "
        f"`{names[0]} += ...` on an array or list) and "
        "is called from differentiated code: the caller's later reads of it would miss "
        "the gradient of the change.\nPossible fixes:\n"
        f"  - work on a copy and return it: {names[0]} = {names[0]}.copy(); "
        f"{names[0]}[...] = ...; return {names[0]}\n"
        "  - or make the change in the function that made the array")


def _changed_in_place(compiled, args):
    """The parameters this call changes in place: `x[i] = v` always; `x op= v`
    where x is an array or a list (`+x` in `compiled.changed`; a number or a
    tuple is rebound instead)."""
    out = []
    for name in compiled.changed:
        if name[0] == "+":
            name = name[1:]
            value = args[compiled.params.index(name)]
            if not isinstance(value, (list, dict, set)) and not hasattr(value, "shape"):
                continue
        out.append(name)
    return out


def _refuse_shared_arguments(f, compiled, args, changed):
    """A function changing its argument in place, called with that array and
    another sharing its memory (the same array twice, a view of it): the
    other's reads would miss the change's gradient."""
    params = compiled.params
    for name in changed:
        i = params.index(name)
        for j, other in enumerate(args):
            if j != i and j < len(params) and isinstance(args[i], np.ndarray) \
                    and may_share(args[i], other):  # (into lists and objects too)
                qualname = getattr(f, "__qualname__", repr(f))
                raise ZygopyError(
                    f"{qualname} changes its argument `{name}` in place, and `{name}` and "
                    f"`{params[j]}` share memory (one array passed twice, or a view of "
                    f"it): the reads of `{params[j]}` would miss the gradient of the change."
                    f"\nPossible fix: pass a copy, e.g. {qualname}(x, x.copy())")


def _masked_kinds(kinds, mask, layout):
    """Kinds of constants ("-array", see `_constant`) for parameters bound to
    arguments the caller does not differentiate: no adjoint code is generated
    for them."""
    if layout is None:
        return tuple(k if m else _constant(k) for k, m in zip(kinds, mask))
    out = list(kinds)
    for p, where in enumerate(layout[0]):
        if where[0] == "pos" and not mask[where[1]]:
            out[p] = _constant(out[p])
        elif where[0] == "var" and not any(mask[where[1]:where[1] + where[2]]):
            out[p] = None
    return tuple(out)


def _constant(kind):
    """The kind of an argument that is not differentiated: "-array" keeps what
    it is (arithmetic on it is still inlined), without making it active."""
    return "-" + kind if kind in ("array", "scalar") else None


_SIGNATURES = weakref.WeakKeyDictionary()  # function -> inspect.Signature (slow to make)


def class_attribute(cls, name):
    """`name` as found on class `cls` or its bases, without running descriptors
    (what inspect.getattr_static finds for a plain class, several times faster)."""
    for klass in cls.__mro__:
        attr = klass.__dict__.get(name, _MISSING)
        if attr is not _MISSING:
            return attr
    return None


_MISSING = object()
_NO_FIELDS: dict = {}


def _bind(f, args, kwargs):
    """Positional values for every parameter, and how to map their cotangents
    back to the call's arguments."""
    code, defaults = f.__code__, f.__defaults__
    if not kwargs and defaults and not code.co_kwonlyargcount and not code.co_flags & (
            inspect.CO_VARARGS | inspect.CO_VARKEYWORDS) \
            and code.co_argcount - len(defaults) <= len(args) < code.co_argcount:
        # the common case, without inspect: positional arguments, then defaults
        n = len(args)
        missing = code.co_argcount - n
        layout = [("pos", i) for i in range(n)] + [("default",)] * missing
        return args + defaults[len(defaults) - missing:], (layout, n, [])
    sig = _SIGNATURES.get(f)
    if sig is None:
        sig = _SIGNATURES[f] = inspect.signature(f, follow_wrapped=False)  # its own
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError as exc:  # as Python says it, with the function's name
        raise TypeError(f"{getattr(f, '__qualname__', f)}() {exc}") from None
    bound.apply_defaults()
    values, layout = [], []
    n_pos = 0
    for name, param in sig.parameters.items():
        value = bound.arguments[name]
        values.append(value)
        if param.kind == param.VAR_POSITIONAL:
            layout.append(("var", n_pos, len(value)))
            n_pos += len(value)
        elif param.kind == param.VAR_KEYWORD:
            layout.append(("varkw", list(value)))
        elif name in kwargs:
            layout.append(("kw", list(kwargs).index(name)))
        elif n_pos < len(args):
            layout.append(("pos", n_pos))
            n_pos += 1
        else:
            layout.append(("default",))
    return tuple(values), (layout, len(args), list(kwargs))


def _remap(grads, layout):
    """Cotangents per parameter -> (callee, per positional arg, per keyword arg)."""
    params, n_args, kw_names = layout
    out = [ZERO] * (1 + n_args + len(kw_names))
    out[0] = grads[0]
    for g, where in zip(grads[1:], params):
        if where[0] == "pos":
            out[1 + where[1]] = g
        elif where[0] == "kw":
            out[1 + n_args + where[1]] = g
        elif where[0] == "var":
            parts = g if g is not ZERO and g is not None else [ZERO] * where[2]
            for i, part in enumerate(parts):
                out[1 + where[1] + i] = part
        elif where[0] == "varkw" and g is not ZERO and g is not None:
            for name in where[1]:
                out[1 + n_args + kw_names.index(name)] = g.get(name, ZERO)
    return tuple(out)


def _any_carries(args, kwargs):
    return any(carries_gradient(a) for a in args) or \
        any(carries_gradient(v) for v in kwargs.values())


class FunctionPullback:
    """The pullback of a compiled user function: its backward and saved values."""

    __slots__ = ("backward", "layout", "saved")

    def __init__(self, backward, saved, layout):
        self.backward = backward
        self.saved = saved
        self.layout = layout

    def __call__(self, dy):
        try:
            grads = self.backward(self.saved, dy)
        except Exception as exc:
            point_at_user_line(exc)  # a note naming the user's line
            raise
        if self.layout is not None:
            grads = _remap(grads, self.layout)
        return grads


class MethodPullback:
    """A method call's pullback: the `self` cotangent becomes the callee's."""

    __slots__ = ("pb",)

    def __init__(self, pb):
        self.pb = pb

    def __call__(self, dy):
        grads = self.pb(dy)
        return grads[1:]


class RulePullback:
    """Wraps a rule's pullback: skips ZERO, unbroadcasts, prepends the callee.

    Keyword arguments get no cotangent, unless the rule says it returns them
    (`rule.keyword_cotangents = True`: its pullback then ends with a dict from
    keyword names to cotangents)."""

    __slots__ = ("args", "keywords", "n_kw", "pb")

    def __init__(self, pb, args, keywords=(), keyword_cotangents=False):
        self.pb = pb
        self.args = args
        self.n_kw = len(keywords)
        self.keywords = keywords if keyword_cotangents else None

    def __call__(self, dy):
        if dy is ZERO or dy is None:
            return (None,) + (ZERO,) * (len(self.args) + self.n_kw)
        if type(dy) is Refused:  # (numpy would bury the error in one of its own)
            dy.fail()
        grads = self.pb(dy)
        args = self.args
        if type(grads) is tuple and len(grads) == len(args) and not self.n_kw:
            return (None, *[ZERO if g is None else unbroadcast(g, a)  # (the common case)
                            for g, a in zip(grads, args)])
        by_keyword = {}
        if self.keywords is not None and type(grads) is tuple and grads \
                and type(grads[-1]) is dict and len(grads) == len(self.args) + 1:
            grads, by_keyword = grads[:-1], grads[-1]
        if type(grads) is not tuple or len(grads) > len(self.args) and any(
                g is not None and g is not ZERO for g in grads[len(self.args):]):
            _bad_pullback(self.pb, grads, len(self.args))  # (extra Nones are harmless)
        out = [None]
        for g, a in zip(grads, self.args):
            out.append(ZERO if g is None else unbroadcast(g, a))
        for i in range(len(grads), len(self.args)):  # the rule gives these none
            out.append(Refused(_missing_cotangent(self.pb, i))
                       if _real_values(self.args[i]) else ZERO)
        if self.keywords is not None:
            out.extend(by_keyword.get(k, ZERO) for k in self.keywords)
        else:
            out.extend([ZERO] * self.n_kw)
        return tuple(out)


def _missing_cotangent(pb, i):
    """The error for a differentiable argument `i` a rule's pullback gives no
    cotangent (raised only if the backward pass uses it)."""
    name = getattr(pb, "__name__", None) or type(pb).__name__
    name = name.removesuffix("_pullback")
    return NoRuleError(name, f" (its argument {i} carries a gradient, but the rule's "
                             "pullback returns none for it: wrap it in "
                             "zygopy.stop_gradient(...) if it is a constant)")


def _bad_pullback(pb, grads, n_args):
    """A rule's pullback must return a tuple of at most one cotangent per
    positional argument (fewer: the rest get none, `Refused` where they are
    differentiable)."""
    what = f"a {type(grads).__name__}" if type(grads) is not tuple else \
        f"{len(grads)} cotangents for {n_args} positional arguments"
    name = getattr(pb, "__qualname__", None) or repr(pb)
    raise ZygopyError(
        f"the rule pullback {name} returned {what}: a pullback returns a tuple with "
        "one cotangent per positional argument of the call (None where there is "
        "none), e.g. `return (dy * slope,)` for one argument")


class MethodRulePullback(RulePullback):
    """A method rule: the first cotangent (for the object) is the callee's."""

    __slots__ = ()

    def __call__(self, dy):
        return RulePullback.__call__(self, dy)[1:]


def record_fields(cls):
    """The fields a record type's constructor fills one to one from its
    arguments, in order (a dataclass with its generated __init__ and no
    __post_init__, or a namedtuple); None for other classes."""
    if issubclass(cls, tuple) and hasattr(cls, "_fields"):
        return tuple(cls._fields)
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.init or hasattr(cls, "__post_init__"):
        return None
    init = cls.__dict__.get("__init__")
    if init is None or init.__code__.co_filename != "<string>":  # a hand-written one
        return None
    return tuple(f.name for f in dataclasses.fields(cls) if f.init)


class RecordPullback:
    """Constructing a record `Point(x, y=...)`: each argument's cotangent is
    that of the field it filled."""

    __slots__ = ("fields", "keywords", "n")

    def __init__(self, fields, n, keywords):
        self.fields, self.n, self.keywords = fields, n, keywords

    def __call__(self, dy):
        if dy is ZERO or dy is None:
            return (None,) + (ZERO,) * (self.n + len(self.keywords))
        if isinstance(dy, Tangent):
            by_name = dy._fields
        elif isinstance(dy, tuple):
            by_name = dict(zip(self.fields, dy))
        else:
            by_name = {k: getattr(dy, k, ZERO) for k in self.fields}
        names = self.fields[:self.n] + self.keywords
        return (None,) + tuple(_zero_if_none(by_name.get(k, ZERO)) for k in names)


def _zero_if_none(d):
    return ZERO if d is None else d


class ZeroPullback:
    """Pullback of a call that carries no gradient."""

    __slots__ = ("n",)

    def __init__(self, n):
        self.n = n

    def __call__(self, dy):
        return (None,) + (ZERO,) * self.n


class ZeroMethodPullback(ZeroPullback):
    """Pullback of a method call that carries no gradient: zero for `self` too
    (an inlined formula may scale it)."""

    __slots__ = ()

    def __call__(self, dy):
        return (ZERO,) * (1 + self.n)


class _FieldCallPullback:
    """Calling a function stored in an object's field: its tangent goes to the field."""

    __slots__ = ("name", "obj", "pb")

    def __init__(self, pb, obj, name):
        self.pb, self.obj, self.name = pb, obj, name

    def __call__(self, dy):
        from .tangents import Tangent

        grads = self.pb(dy)
        d_fn = grads[0]
        d_obj = ZERO if d_fn is None or d_fn is ZERO else Tangent(type(self.obj), **{self.name: d_fn})
        return (d_obj,) + tuple(grads[1:])
