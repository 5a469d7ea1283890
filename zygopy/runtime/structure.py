"""Which fields of an object are part of its tangent (its differentiable structure)."""

from __future__ import annotations

import dataclasses
import types

import numpy as np

# no fields: functions, modules, classes, and numpy's ufuncs (whose __dict__
# holds only their __module__ and __qualname__)
_OPAQUE = (types.FunctionType, types.BuiltinFunctionType, types.ModuleType, type,
           types.MethodType, np.ufunc)


def object_fields(obj):
    """The fields of a user object as a dict, or None for opaque objects.

    Dataclasses give their declared fields, then the other attributes of their
    `__dict__`; other objects their `__dict__` (and `__slots__`). Functions, modules, classes and builtins are opaque.
    """
    if isinstance(obj, _OPAQUE):
        return None
    if isinstance(obj, tuple) and hasattr(type(obj), "_fields"):  # a namedtuple
        return dict(zip(obj._fields, obj))
    t = type(obj)
    d = getattr(obj, "__dict__", None)
    if hasattr(t, "__dataclass_fields__"):  # dataclasses.is_dataclass, faster
        fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
        for name, value in (d or {}).items():  # set in __post_init__ or later
            fields.setdefault(name, value)
        return fields
    fields = {} if d is None else dict(d)
    slots = _SLOTS.get(t)
    if slots is None:
        slots = _SLOTS[t] = tuple(name for cls in t.__mro__
                                  for name in _names(getattr(cls, "__slots__", ()))
                                  if not name.startswith("__"))
    for name in slots:
        if name not in fields and hasattr(obj, name):
            fields[name] = getattr(obj, name)
    if d is None and not fields:
        return None
    return fields


_SLOTS: dict = {}  # type -> the names its classes declare in __slots__


def closure_fields(f):
    """The variables a closure captures, by name (`linear(3, 2)` returning
    `lambda x: W @ x + b` has fields W and b, as Julia's closures do); None
    for a function that captures nothing. Cells not yet assigned are left out."""
    cells = f.__closure__
    if not cells:
        return None
    fields = {}
    for name, cell in zip(f.__code__.co_freevars, cells):
        try:
            fields[name] = cell.cell_contents
        except ValueError:  # an empty cell
            pass
    return fields


def _names(slots):
    return (slots,) if isinstance(slots, str) else slots


def holds_differentiable(value) -> bool:
    """Whether a captured value can carry a gradient: a float or float array,
    a container, a closure, or an object with fields."""
    from .tangents import is_differentiable_value

    if is_differentiable_value(value):
        return True
    if isinstance(value, (list, tuple, dict)):
        return True
    if isinstance(value, types.FunctionType):
        return bool(value.__closure__)
    if isinstance(value, (str, bytes, int, float, bool)) or value is None:
        return False
    return bool(object_fields(value))


def filled(cell) -> bool:
    """Whether a closure cell holds a value (a variable not assigned yet
    leaves it empty: reading it raises)."""
    try:
        cell.cell_contents  # noqa: B018  (an empty cell raises)
    except ValueError:
        return False
    return True


_IMMUTABLE = (float, int, complex, str, bytes, bool, range, type(None), type(Ellipsis))


def may_share(region, value, depth=6) -> bool:
    """Whether `value` may share memory with numpy array `region`: an array
    (by its memory bounds), or what a container, closure, partial, bound
    method or object holds, looked into `depth` levels. Values it cannot see
    into (an iterator, a generator, a device array) count as sharing."""
    import functools

    import numpy as np

    if isinstance(value, np.ndarray):  # bounds first; then the elements themselves
        if not np.may_share_memory(region, value):  # (a column beside the one
            return False                             # written shares bounds only)
        try:
            return np.shares_memory(region, value, max_work=10_000)
        except np.exceptions.TooHardError:
            return True
    if isinstance(value, (*_IMMUTABLE, np.generic, np.dtype, type, types.ModuleType)) \
            or isinstance(value, types.FunctionType) and not value.__closure__ \
            or isinstance(value, (types.BuiltinFunctionType, np.ufunc)) \
            and getattr(value, "__self__", None) is None:
        return False  # (an activation function, np.tanh: nothing to share)
    if depth == 0:
        return True
    inner = None
    if isinstance(value, (list, tuple, set, frozenset)):
        inner = value
    elif isinstance(value, dict):
        inner = value.values()
    elif isinstance(value, types.FunctionType):
        inner = [c.cell_contents for c in value.__closure__ or () if filled(c)]
    elif isinstance(value, types.MethodType):
        inner = [value.__self__, value.__func__]
    elif isinstance(value, functools.partial):
        inner = [value.func, *value.args, *value.keywords.values()]
    elif isinstance(value, types.BuiltinFunctionType):
        inner = [getattr(value, "__self__", None)]
    elif isinstance(value, types.ModuleType):
        return False
    else:
        fields = object_fields(value)
        if fields is None or not fields and getattr(value, "__dict__", None) is None:
            return True  # nothing to look into: as if it did
        inner = fields.values()
    return any(may_share(region, v, depth - 1) for v in inner)
