"""Walking models: children, fmap, parameters by path, trainable fields, freezing.

A *model* is any plain Python object, list, tuple or dict whose fields hold
arrays, sub-layers, functions, numbers... Its **parameters** are the
floating-point arrays reachable through fields (`vars(obj)`, dataclass fields,
`__slots__`), list/tuple items and dict values. Each is named by its
attribute path, e.g. ``"layers.0.weight"`` (a list index or a dict key is one
path component). One array object reachable twice (tied weights) is one
parameter; the first path in traversal order names it.

Trainability, Flux style:

* a class may define ``trainable(self)`` returning the names of the fields that
  optimisers should see (e.g. BatchNorm returns ``("scale", "shift")`` and
  leaves its running statistics out);
* ``freeze(obj, *names)`` marks fields of one object as frozen by storing a
  ``frozenset`` of field names in ``obj._frozen``; ``thaw`` removes them. The
  marker is an ordinary attribute: it is copied with the object and is never a
  parameter. Frozen and non-trainable arrays are still saved by `layers.io`.
"""

from __future__ import annotations

import copy
import types

import numpy as np

from zygopy import rule
from zygopy.runtime.structure import closure_fields, object_fields
from zygopy.runtime.tangents import ZERO, Tangent, add, is_zero

FROZEN = "_frozen"  # the attribute freeze() sets: a frozenset of field names

_OPAQUE = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.ModuleType,
    type,
    str,
    bytes,
    int,
    float,
    complex,
    bool,
    type(None),
    np.generic,
    np.dtype,
    np.ufunc,
)


def is_array(x) -> bool:
    """True for numpy arrays and device arrays (anything with a CUDA array interface)."""
    t = type(x)  # the interface is looked up on the type: no __getattr__ of layers
    return t is np.ndarray or isinstance(x, np.ndarray) or \
        hasattr(t, "__cuda_array_interface__")


def is_parameter_array(x) -> bool:
    """True for floating-point (real or complex) arrays: the values optimisers train."""
    return is_array(x) and x.dtype.kind in "fc"


def _object_fields(x):
    """Fields of a user object without the freeze marker; None for leaves.
    A closure's fields are the variables it captures (`linear(3, 2)` returning
    `lambda x: W @ x + b` has W and b)."""
    if type(x) is types.FunctionType and x.__closure__:
        return closure_fields(x)
    if type(x) is types.MethodType:  # a bound method: a model of its object's fields
        return _object_fields(x.__self__)  # (its gradient is its object's)
    if isinstance(x, _OPAQUE) or is_array(x):
        return None  # (a callable object without __dict__ has its __slots__ looked at)
    fields = object_fields(x)
    if fields is None:
        return None
    fields.pop(FROZEN, None)
    return fields


def children(x) -> dict:
    """The direct children of `x` as a dict: field name, list index or dict key -> value.

    Leaves (arrays, numbers, strings, functions, None) have no children.

    >>> children([1, 2])
    {0: 1, 1: 2}
    """
    if isinstance(x, (list, tuple)):
        return dict(enumerate(x))
    if isinstance(x, dict):
        return dict(x)
    return _object_fields(x) or {}


def trainable(x) -> tuple:
    """The names of the fields of object `x` that optimisers update.

    ``x.trainable()`` if the class defines it, else every field; minus the
    fields frozen with `freeze`. For lists, tuples and dicts: every index/key.
    """
    if isinstance(x, (list, tuple, dict)):
        return tuple(children(x))
    fields = _object_fields(x)
    if fields is None:
        return ()
    return _trainable_fields(x, fields)


def _trainable_fields(x, fields):
    """`trainable(x)` for an object whose `_object_fields` are `fields`."""
    method = getattr(type(x), "trainable", None)
    names = tuple(method(x)) if callable(method) else tuple(fields)
    unknown = [n for n in names if n not in fields]
    if unknown:
        raise AttributeError(
            f"{type(x).__name__}.trainable() names {unknown[0]!r}, which is not a "
            f"field; fields are {sorted(fields)}"
        )
    frozen = getattr(x, FROZEN, frozenset())
    return tuple(n for n in names if n not in frozen)


def _join(path: str, key) -> str:
    return f"{path}.{key}" if path else str(key)


def walk_arrays(model, *, trainable_only: bool = False) -> list:
    """Every array reachable in `model`, as ``[(path, array), ...]`` in traversal order.

    With ``trainable_only`` only fields named by `trainable` are followed.
    Arrays (and objects, lists) met a second time are skipped: tied arrays
    appear once, under their first path. Any dtype is listed.
    """
    out = []
    _walk(model, "", out, set(), trainable_only)
    return out


def _walk(x, path, out, seen, trainable_only):
    """walk_arrays' recursion (module level: a nested recursive function is a
    reference cycle, which keeps what it holds alive until a GC pass)."""
    if is_array(x):
        if id(x) not in seen:
            seen.add(id(x))
            out.append((path, x))
        return
    kids = children(x)
    if not kids or id(x) in seen:
        return
    seen.add(id(x))
    names = trainable(x) if trainable_only else kids
    for k in names:
        _walk(kids[k], _join(path, k), out, seen, trainable_only)


def parameters(model) -> list:
    """The trainable parameters of `model` as ``[(path, array), ...]``.

    Floating-point arrays reached through trainable, non-frozen fields; tied
    arrays once.

    >>> import numpy as np
    >>> class Affine:
    ...     def __init__(self):
    ...         self.weight, self.bias = np.ones((2, 3)), np.zeros(2)
    >>> [p for p, _ in parameters({"body": [Affine()]})]
    ['body.0.weight', 'body.0.bias']
    """
    return [
        (p, a)
        for p, a in walk_arrays(model, trainable_only=True)
        if a.dtype.kind in "fc"
    ]


@rule(parameters)
def parameters_rule(model):
    """`parameters(model)` inside a loss (an L2 penalty over them): each
    array's cotangent goes back to the field it came from."""
    pairs = parameters(model)

    def parameters_pullback(dy):
        grad = ZERO
        for (path, _), d in zip(pairs, dy if isinstance(dy, (list, tuple)) else ()):
            d = d[1] if isinstance(d, tuple) else d  # (the path's is None)
            if not is_zero(d):
                grad = add(grad, _placed(model, path.split(".") if path else [], d))
        return (grad,)

    return pairs, parameters_pullback


def _placed(node, parts, g):
    """The structural cotangent of `node` that is `g` at `parts` (a path of
    `parameters`) and zero elsewhere."""
    if not parts:
        return g
    head, rest = parts[0], parts[1:]
    if isinstance(node, (list, tuple)):
        items = [ZERO] * len(node)
        items[int(head)] = _placed(node[int(head)], rest, g)
        return items if isinstance(node, list) else tuple(items)
    if isinstance(node, dict):
        key = next(k for k in node if str(k) == head)
        return {key: _placed(node[key], rest, g)}
    return Tangent(type(node), **{head: _placed(object_fields(node)[head], rest, g)})


def params(model):
    """The implicit-style parameter collection: ``zygopy.params(*arrays)``.

    Use with ``zygopy.gradient(lambda: loss(x, y), ps)`` and
    ``layers.update(opt, ps, gs)``.
    """
    import zygopy

    return zygopy.params(*(a for _, a in parameters(model)))


def gradient_pairs(model, grad) -> list:
    """Zip `model` with its structural gradient: ``[(path, param, grad), ...]``.

    `grad` mirrors `model` (a `zygopy.Tangent` or dict for objects, lists for
    lists, tuples for tuples, dicts for dicts, arrays for arrays); None or
    ZERO anywhere means "no gradient" and the subtree is skipped. Only
    trainable parameters are returned. A tied array gets the **sum** of the
    gradients at all of its paths and is listed once, under its first path.
    """
    found = {}  # id(param) -> [path, param, grad]
    _pair(model, grad, "", found)
    return [tuple(e) for e in found.values()]


def _pair(x, g, path, found):
    """gradient_pairs' recursion (module level, as `_walk`: the gradients it
    finds are freed as soon as the caller is done with them)."""
    if g is None or g is ZERO:
        return
    if type(g) is Tangent and type(getattr(x, "__dict__", None)) is dict \
            and FROZEN not in x.__dict__ and _plain(type(x)):
        grads = g._fields  # (the common case, first: a layer's own fields, read directly)
        for name, value in x.__dict__.items():
            gv = grads.get(name)
            if gv is None or gv is ZERO:
                continue
            if type(value) is np.ndarray:  # (a parameter: no call for it)
                if value.dtype.kind in "fc":
                    _found(found, f"{path}.{name}" if path else name, value, gv)
            else:
                _pair(value, gv, f"{path}.{name}" if path else name, found)
        return
    if type(x) is not tuple and (type(x) is np.ndarray or is_array(x)):
        if x.dtype.kind in "fc":
            _found(found, path, x, g)
        return
    if isinstance(x, (list, tuple)):
        if not isinstance(g, (list, tuple)) or len(g) != len(x):
            raise TypeError(
                f"gradient does not match the model at {path or 'the root'!r}: "
                f"model has a {type(x).__name__} of length {len(x)}, gradient is "
                f"{type(g).__name__}{'' if not hasattr(g, '__len__') else len(g)}"
            )
        for i, (xi, gi) in enumerate(zip(x, g)):
            if gi is not None and gi is not ZERO:
                _pair(xi, gi, _join(path, i), found)
        return
    if isinstance(x, dict):
        for k, v in x.items():
            gv = g.get(k) if isinstance(g, dict) else _field(g, k, path)
            _pair(v, gv, _join(path, k), found)
        return
    fields = _object_fields(x)
    if fields is None:
        return
    grads = g._fields if type(g) is Tangent else None
    restricted = hasattr(type(x), "trainable") or getattr(x, FROZEN, None)
    for name in _trainable_fields(x, fields) if restricted else fields:
        gv = grads.get(name) if grads is not None else _field(g, name, path)
        if gv is not None and gv is not ZERO:  # frozen subtrees hold no parameter
            _pair(fields[name], gv, _join(path, name), found)


def _found(found, path, x, g):
    """Record parameter `x` at `path` with gradient `g` (summed with the one
    already found where `x` is tied to an earlier path)."""
    entry = found.get(id(x))
    if entry is None:
        found[id(x)] = [path, x, g]
    else:
        entry[2] = entry[2] + g


def _plain(t) -> bool:
    """Whether objects of type `t` have exactly their `__dict__` as fields, all
    trainable (no `trainable` method, no slots, not a dataclass, not a
    function): `_pair`'s fast path; remembered per type."""
    found = _PLAIN.get(t)
    if found is None:
        found = _PLAIN[t] = not (
            hasattr(t, "trainable") or hasattr(t, "__dataclass_fields__")
            or any("__slots__" in c.__dict__ for c in t.__mro__[:-1])
            or issubclass(t, (types.FunctionType, types.MethodType, tuple))
            or t.__getattribute__ is not object.__getattribute__)
    return found


_PLAIN: dict = {}


def _field(g, name, path):
    """The gradient of field `name` in the gradient `g` of an object."""
    if isinstance(g, Tangent):
        return g.get(name)
    if isinstance(g, dict):
        return g.get(name)
    if isinstance(g, (list, tuple)):
        raise TypeError(
            f"gradient does not match the model at {path or 'the root'!r}: got a "
            f"{type(g).__name__} where the model has an object. If you passed "
            "the whole tuple returned by zygopy.gradient, pass its element [0]."
        )
    return getattr(g, name, None)


def fmap(f, x, *, exclude=is_array):
    """Apply `f` to every leaf picked by `exclude` (arrays by default), rebuilding the rest.

    ``fmap(f, x)``: lists, tuples (named tuples too) and dicts are rebuilt;
    objects are shallow-copied (`copy.copy`) and the changed fields set on the
    copy. A node whose children are all unchanged (``f`` returned the same
    objects) is returned as is, not copied. Results are cached by identity,
    so tied arrays stay tied and shared sub-layers stay shared. The input is
    never modified.

    >>> import numpy as np
    >>> fmap(lambda a: a * 2, {"w": np.ones(2), "n": 3})["w"]
    array([2., 2.])
    """
    return _Mapper(f, exclude)(x)


class _Mapper:
    """fmap's recursion: a callable object rather than a nested function, which
    would be a reference cycle holding every old and new array until a GC pass."""

    def __init__(self, f, exclude):
        self.f, self.exclude = f, exclude
        self.cache, self.active = {}, set()

    def __call__(self, v):
        key = id(v)
        if key in self.cache:
            return self.cache[key][1]
        if self.exclude(v):
            out = self.f(v)
        elif key in self.active:  # a reference cycle: keep the original link
            return v
        else:
            self.active.add(key)
            out = _rebuild(v, self)
            self.active.discard(key)
        self.cache[key] = (v, out)  # holding `v` keeps its id from being reused
        return out


def _rebuild(x, go):
    if isinstance(x, (list, tuple)):
        new = [go(v) for v in x]
        if all(a is b for a, b in zip(new, x)):
            return x
        if isinstance(x, list):
            return new
        return type(x)(*new) if hasattr(x, "_fields") else type(x)(new)
    if isinstance(x, dict):
        new = {k: go(v) for k, v in x.items()}
        if all(new[k] is v for k, v in x.items()):
            return x
        try:
            return type(x)(new)
        except TypeError:
            return new
    fields = _object_fields(x)
    if not fields:
        return x
    new = {k: go(v) for k, v in fields.items()}
    changed = {k: v for k, v in new.items() if v is not fields[k]}
    if not changed:
        return x
    if type(x) is types.FunctionType:
        return _closure_with(x, changed)
    if type(x) is types.MethodType:  # bound to its object, rebuilt
        return types.MethodType(x.__func__, go(x.__self__))
    y = copy.copy(x)
    for k, v in changed.items():
        try:
            setattr(y, k, v)
        except AttributeError:  # frozen dataclass, or a read-only property
            object.__setattr__(y, k, v)
    return y


def _closure_with(f, changed):
    """A copy of closure `f` capturing the `changed` values instead (its own
    cells: `f` and what shares its cells keep theirs)."""
    cells = tuple(
        types.CellType(changed[name]) if name in changed else cell
        for name, cell in zip(f.__code__.co_freevars, f.__closure__)
    )
    g = types.FunctionType(f.__code__, f.__globals__, f.__name__, f.__defaults__, cells)
    g.__kwdefaults__, g.__qualname__ = f.__kwdefaults__, f.__qualname__
    g.__dict__.update(f.__dict__)
    return g


def _mark(x, names, freezing: bool):
    if isinstance(x, (list, tuple, dict)):
        if names:
            raise TypeError(
                "field names can only be given when freezing one object, "
                f"not a {type(x).__name__}"
            )
        for v in children(x).values():
            if is_array(v):
                raise TypeError(
                    "cannot freeze an array held directly in a list/tuple/dict; "
                    "freeze the object that holds the container instead"
                )
            if children(v) or isinstance(v, (list, tuple, dict)):
                _mark(v, (), freezing)
        return x
    fields = _object_fields(x)
    if fields is None:
        raise TypeError(f"cannot freeze {type(x).__name__}: it has no fields")
    unknown = [n for n in names if n not in fields]
    if unknown:
        raise AttributeError(
            f"{type(x).__name__} has no field {unknown[0]!r}; fields are "
            f"{sorted(fields)}"
        )
    current = getattr(x, FROZEN, frozenset())
    chosen = frozenset(names or fields)
    new = current | chosen if freezing else current - chosen
    try:
        object.__setattr__(x, FROZEN, frozenset(new))
    except AttributeError:
        raise TypeError(
            f"cannot freeze {type(x).__name__}: it has __slots__ without "
            f"{FROZEN!r}; add {FROZEN!r} to its slots"
        ) from None
    return x


def freeze(x, *names):
    """Exclude fields of `x` from training; returns `x` (modified in place).

    ``freeze(layer)`` freezes every field of `layer` (so its whole subtree);
    ``freeze(layer, "bias")`` only that field. On a list/tuple/dict (e.g.
    ``freeze(chain.layers[:2])``) every object in it is frozen. The choice
    is recorded as ``x._frozen``; `parameters`, `params` and the optimisers'
    `setup`/`update` skip frozen fields.
    """
    return _mark(x, names, True)


def thaw(x, *names):
    """Undo `freeze` for the given fields of `x` (all when none given); returns `x`."""
    return _mark(x, names, False)


def layer(cls=None, *, trainable=None):
    """Class decorator marking a layer; optionally fixes its trainable fields.

    Any class already works as a model; ``@layer`` gives one without a
    ``__repr__`` of its own the Flux-style summary (its sub-layers and arrays
    with their parameter counts). ``@layer(trainable=("weight", "bias"))``
    adds a ``trainable`` method returning those names, like Flux's
    ``Flux.trainable``.
    """

    def decorate(c):
        if trainable is not None:
            names = tuple(trainable)
            c.trainable = lambda self: names
        if c.__repr__ is object.__repr__:
            from .show import summary

            c.__repr__ = summary
        return c

    return decorate(cls) if cls is not None else decorate
