"""What specialisation asks of Python objects and functions: which objects it
sees into, which functions it inlines (and how a call binds their
parameters), which callees may see a structure."""

from __future__ import annotations

import ast
import dataclasses
import dis
import types

import numpy as np

from ...rules.registry import RULES, is_nondifferentiable
from ...runtime import sources
from ...runtime.structure import object_fields
from ..walk import walk_outside
from .values import (
    CONSTANT_TYPES,
    LITERALS,
    Const,
    Unspecialisable,
)


def param_names(fn):
    """The names of `fn`'s positional parameters, in order."""
    code = fn.__code__
    return list(code.co_varnames[:code.co_argcount])


def function_ast(fn):
    """The tree of `fn` to inline, refused where it holds what the pass does
    not write (a nested def, try, with, global, an early return, super())."""
    try:
        node, filename = sources.function_ast(fn)
    except (OSError, TypeError) as exc:
        raise Unspecialisable(f"no source for {name_of(fn)}") from exc
    for n in ast.walk(node):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Global,
                          ast.Nonlocal, ast.Try, ast.With, ast.Delete, ast.Yield,
                          ast.YieldFrom, ast.Import, ast.ImportFrom)) and n is not node:
            raise Unspecialisable(f"a {type(n).__name__} in {name_of(fn)}", n)
        if isinstance(n, ast.Return) and not _is_last_return(node, n):
            raise Unspecialisable(f"a return before the end of {name_of(fn)}", n)
        if isinstance(n, ast.Name) and n.id in ("super", "locals", "globals", "vars",
                                                 "eval", "exec", "__class__"):
            raise Unspecialisable(f"`{n.id}` in {name_of(fn)}", n)
    return node, filename


def _is_last_return(fdef, ret):
    if isinstance(fdef, ast.Lambda):
        return False
    return bool(fdef.body) and fdef.body[-1] is ret


def local_names(fn):
    """The names local to `fn` (its parameters and the variables it binds)."""
    code = fn.__code__
    return set(code.co_varnames)


def bind(f, args, kwargs, node):
    """`{parameter: abstract value}` for a call of `f` with `args` and `kwargs`,
    defaults filled in (constants only); refused for *args, **kwargs and
    keyword-only parameters."""
    code = f.__code__
    if code.co_flags & 0x0C or code.co_kwonlyargcount:  # *args, **kwargs, keyword-only
        raise Unspecialisable(f"{name_of(f)} takes *args, **kwargs or keyword-only "
                              "arguments", node)
    names = code.co_varnames[:code.co_argcount]
    if len(args) > len(names):
        raise Unspecialisable(f"too many arguments for {name_of(f)}", node)
    bound = dict(zip(names, args))
    posonly = code.co_posonlyargcount
    for k, v in kwargs.items():
        if k not in names or k in bound or names.index(k) < posonly:
            raise Unspecialisable(f"keyword {k} of {name_of(f)}", node)
        bound[k] = v
    defaults = f.__defaults__ or ()
    first_default = len(names) - len(defaults)
    for i, name in enumerate(names):
        if name in bound:
            continue
        if i < first_default:
            raise Unspecialisable(f"{name_of(f)} is missing argument {name}", node)
        value = defaults[i - first_default]
        if type(value) not in LITERALS and not isinstance(value, CONSTANT_TYPES) \
                and not library_callable(value) \
                and not (type(value) is tuple and all(type(v) in LITERALS for v in value)):
            raise Unspecialisable(f"the default of {name} in {name_of(f)}", node)
        bound[name] = Const(value)
    return bound


def library_callable(value):
    """A function of numpy (or another array library): `np.mean` is an
    `_ArrayFunctionDispatcher`, not a Python function."""
    if not callable(value):
        return False
    module = (getattr(type(value), "__module__", None) or "").partition(".")[0]
    return module in ("numpy", "cupy", "scipy", "cupyx")


def inlinable(f):
    """A Python function zygopy would compile (not a rule, not a library's)."""
    if type(f) is not types.FunctionType or has_rule(f) or is_nondifferentiable(f):
        return False
    module = (getattr(f, "__module__", None) or "").partition(".")[0]
    from ...runtime.dispatch import LIBRARIES

    return module not in LIBRARIES and module != "zygopy"


_INERT_BUILTINS = frozenset({print, repr, str, id, type, isinstance, callable, hasattr,
                            format, len})


def inert_callee(f):
    """Whether a call of `f` may be handed a structure: no gradient flows
    through it and it changes nothing: a builtin that only looks, or one of
    layers' and zygopy's argument checks (`check_size(self, ...)`, declared
    non-differentiable). Any other function could change a field the flat
    code has read already (a user's helper, BatchNorm's statistics update)."""
    try:
        if f in _INERT_BUILTINS:
            return True
        module = (getattr(f, "__module__", None) or "").partition(".")[0]
        return module in ("layers", "zygopy") and is_nondifferentiable(f) \
            and getattr(f, "__name__", "").startswith("check")
    except TypeError:
        return False


def has_rule(f):
    """Whether `f` has a rule or is declared non-differentiable (not inlined)."""
    from ...rules.registry import NONDIFFERENTIABLE

    try:
        return f in RULES or f in NONDIFFERENTIABLE
    except TypeError:
        return True


def has_method_rule(obj, name):
    """Whether `obj.name` has a method rule (not inlined)."""
    from ...rules.registry import method_key

    return method_key(obj, name) is not None


def is_structure(value):
    """A value the specialisation sees into: an object, a container, a closure."""
    t = type(value)
    if t is tuple or t is list or t is dict:
        return True
    if t is types.FunctionType:
        return bool(value.__closure__)
    return plain_object(value)


def plain_object(value):
    """Whether the pass sees into `value` as an object: its fields are its
    `__dict__` (no slots, no custom attribute lookup, not a library's)."""
    t = type(value)
    if t in LITERALS or isinstance(value, (CONSTANT_TYPES, np.ndarray, np.generic)):
        return False
    if isinstance(value, tuple) or "__slots__" in t.__dict__ or \
            any("__slots__" in c.__dict__ for c in t.__mro__[1:-1]):
        return False
    d = getattr(value, "__dict__", None)
    if type(d) is not dict or getattr(t, "zygopy_rules_type", None) is not None \
            or t.__getattribute__ is not object.__getattribute__:
        return False
    if dataclasses.is_dataclass(value):
        return set(object_fields(value)) == set(d)
    return t.__module__ != "builtins" and not hasattr(value, "__array__")


def holds_arrays(obj, depth=4):
    """Whether `obj` holds arrays or numbers (`depth` levels down): such a
    structure is not handed to code as a value."""
    if isinstance(obj, np.ndarray) or type(obj) in (float, int):
        return True
    if depth == 0:
        return True
    if isinstance(obj, (tuple, list)):
        return any(holds_arrays(v, depth - 1) for v in obj)
    if isinstance(obj, dict):
        return any(holds_arrays(v, depth - 1) for v in obj.values())
    if isinstance(obj, types.FunctionType):
        return any(holds_arrays(c.cell_contents, depth - 1) for c in obj.__closure__ or ())
    d = getattr(obj, "__dict__", None)
    return d is not None and any(holds_arrays(v, depth - 1) for v in d.values())


def class_attribute(cls, name):
    """`name` as found on `cls` or a base (its own `__dict__`), or None."""
    for c in cls.__mro__:
        if name in c.__dict__:
            return c.__dict__[name]
    return None


def is_data_descriptor(attr):
    """Whether `attr` (a class attribute) takes over its instances' field."""
    t = type(attr)
    return hasattr(t, "__set__") or hasattr(t, "__delete__")


def identifier(path):
    """A parameter name made of an access path (`model.layers[0].weight` ->
    `model_layers_0_weight`)."""
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in path.replace("][", "_"))
    out = "_".join(p for p in out.split("_") if p) or "leaf"
    return out if out[0].isalpha() else "p_" + out


def name_of(f):
    """How a message names `f`."""
    return getattr(f, "__qualname__", None) or repr(f)


def own_nodes(stmt):
    """The nodes of `stmt` outside nested loops (a break there is theirs)."""
    return walk_outside(stmt, (ast.For, ast.While))


def stored_names(stmts):
    """The names `stmts` assign anywhere in them."""
    return {n.id for s in stmts for n in ast.walk(s)
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def zero_like_of(value):
    """The zero gradient the general path gives a value nothing reached."""
    from ...runtime.tangents import zero_like

    return zero_like(value)


def attribute_of(expr, name):
    """Python reading field `name` of the object `expr` (a field set with
    setattr may not be an identifier: `getattr(x, '0')`)."""
    return f"{expr}.{name}" if name.isidentifier() else f"getattr({expr}, {name!r})"


def rebinds_globals(f, depth=3, seen=None):
    """Whether calling Python function `f` may rebind or delete a module global
    (`global MODE; MODE = ...`), itself or through the functions it calls by
    their global names (`depth` levels): the flat code reads the globals it
    folded at the call's start, so such a call in it would be read stale."""
    seen = set() if seen is None else seen
    if type(f) is not types.FunctionType or f in seen or depth < 0:
        return False
    seen.add(f)
    codes = [f.__code__]
    while codes:
        code = codes.pop()
        for instr in dis.get_instructions(code):
            if instr.opname in ("STORE_GLOBAL", "DELETE_GLOBAL"):
                return True
            if instr.opname == "LOAD_GLOBAL" and rebinds_globals(
                    f.__globals__.get(instr.argval), depth - 1, seen):
                return True
        codes += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return False


def users_code(f):
    """Whether `f` is a Python function of the user's (not numpy's, zygopy's
    or layers'): one that may change what the program's globals hold."""
    if type(f) is not types.FunctionType:
        return False
    from ...runtime.dispatch import LIBRARIES

    module = (getattr(f, "__module__", None) or "").partition(".")[0]
    return module not in LIBRARIES and module not in ("zygopy", "layers")
