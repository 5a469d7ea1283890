"""The one rule registry: a dict from callable to its ChainRules-style rrule.

A rule is `rrule(*args, **kwargs) -> (y, pullback)`, where `pullback(dy)`
returns one cotangent per positional argument (None or ZERO where an argument
is not differentiable). Cotangents may have the broadcast shape: the call
dispatcher unbroadcasts them centrally. A pullback must itself use only
differentiable operations, so that the generated code can be differentiated
again (higher order).
"""

from __future__ import annotations

import types

import numpy as np

RULES: dict = {}
NONDIFFERENTIABLE: set = set()


def key_of(fn):
    """The registry key of a callable: methods and properties of a type are
    keyed by `(type, name)` so that `x.sum` finds the rule of `np.ndarray.sum`."""
    if isinstance(fn, (types.MethodDescriptorType, types.GetSetDescriptorType,
                       types.MemberDescriptorType, types.WrapperDescriptorType,
                       types.ClassMethodDescriptorType, property)):
        owner = getattr(fn, "__objclass__", None)
        name = getattr(fn, "__name__", None)
        if owner is None and isinstance(fn, property):
            raise TypeError("register a property as rule((cls, 'name'))")
        return (owner, name)
    if isinstance(fn, tuple):
        return fn
    if isinstance(fn, types.BuiltinMethodType) and getattr(fn, "__self__", None) is not None \
            and not isinstance(fn.__self__, types.ModuleType):
        return (type(fn.__self__), fn.__name__)
    if isinstance(fn, types.MethodType) and not isinstance(fn.__func__, types.FunctionType):
        return (type(fn.__self__), fn.__func__.__name__)  # a compiled (Cython) method
    return fn


def _hashable(key):
    try:
        hash(key)
    except TypeError:
        return False
    return True


def rule(*fns):
    """Decorator: register an rrule for one or more callables.

        @rule(np.matmul)
        def matmul_rule(a, b):
            y = a @ b
            def matmul_pullback(dy):
                return dy @ swapaxes(b), swapaxes(a) @ dy
            return y, matmul_pullback
    """

    def register(rrule):
        for fn in fns:
            RULES[key_of(fn)] = rrule
            NONDIFFERENTIABLE.discard(key_of(fn))
        changed()
        return rrule

    return register


CHANGED: list = []  # functions called when a rule or a declaration is added


def changed():
    """Tell what caches compiled code or routes that the registries changed."""
    for listener in CHANGED:
        listener()


def linear(fn, transpose, argnum=0):
    """Register a rule for `fn`, linear in its argument `argnum`: the cotangent
    of that argument is `transpose(dy, *args, **kwargs)`, the others get None.

        linear(np.cumsum, lambda dy, x, axis=None: ...)

    The transpose must itself use differentiable operations (second order)."""

    def linear_rule(*args, **kwargs):
        y = fn(*args, **kwargs)

        def linear_pullback(dy):
            grads = [None] * len(args)
            grads[argnum] = transpose(dy, *args, **kwargs)
            return tuple(grads)

        return y, linear_pullback

    linear_rule.__name__ = linear_rule.__qualname__ = \
        f"{getattr(fn, '__name__', 'linear')}_linear_rule"
    rule(fn)(linear_rule)
    return fn


def nondifferentiable(*fns):
    """Declare callables whose outputs carry no gradient (argmax, shape, ...).

    Calls to them run as they are, even on differentiable arguments."""
    for fn in fns:
        NONDIFFERENTIABLE.add(key_of(fn))
    changed()
    return fns[0] if len(fns) == 1 else fns


def lookup(fn):
    """The rrule of `fn`, or None; `is_nondifferentiable(fn)` tells the rest."""
    t = type(fn)
    if t is types.FunctionType or t is np.ufunc:  # keyed by themselves: the common case
        return RULES.get(fn)
    key = key_of(fn)
    if not _hashable(key):
        return None
    return RULES.get(key)


def is_nondifferentiable(fn) -> bool:
    """Whether `fn` was declared with `nondifferentiable`."""
    key = key_of(fn)
    return _hashable(key) and key in NONDIFFERENTIABLE


def rules_type(obj):
    """The type whose method rules serve `obj`: its own, or the one it stands in
    for (a forward-mode Dual uses the rules of np.ndarray)."""
    t = type(obj)
    return getattr(t, "zygopy_rules_type", t)


def method_key(obj, name):
    """The key under which a method or property `obj.name` is registered (a
    rule or `nondifferentiable`), or None; remembered per type and name until
    the next registration."""
    t = type(obj)
    t = getattr(t, "zygopy_rules_type", t)
    version = len(RULES), len(NONDIFFERENTIABLE)
    if _METHOD_KEYS_VERSION[0] != version:
        _METHOD_KEYS.clear()
        _METHOD_KEYS_VERSION[0] = version
    found = _METHOD_KEYS.get((t, name), _UNKNOWN)
    if found is _UNKNOWN:
        mro = (np.ndarray,) if _is_device_array_type(t) else \
            t.__mro__ + (np.ndarray,) if issubclass(t, np.generic) else t.__mro__
        # numpy scalars have the methods of 0-d arrays: the array rules serve them
        found = _METHOD_KEYS[t, name] = next(
            ((cls, name) for cls in mro
             if (cls, name) in RULES or (cls, name) in NONDIFFERENTIABLE), None)
    return found


def _is_device_array_type(t):
    """CuPy's ndarray: its methods and properties share numpy's rules (written
    against the array module of their inputs)."""
    return t.__module__.startswith("cupy") and hasattr(t, "__cuda_array_interface__")


_METHOD_KEYS: dict = {}  # (type, name) -> method_key's answer
_METHOD_KEYS_VERSION = [None]  # the registries' sizes the answers hold for
_UNKNOWN = object()


__all__ = [
    "RULES",
    "is_nondifferentiable",
    "key_of",
    "linear",
    "lookup",
    "method_key",
    "nondifferentiable",
    "np",
    "rule",
]
