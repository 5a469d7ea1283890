"""Gradients specialised on the structure of their arguments (the runtime side
of `compiler.specialise`).

`gradient(loss, model, x, y)` called again with a model of the same structure
runs one flat function of the model's arrays instead of dispatching a call per
layer: the guard made with it checks the structure (types, fields, constants,
code) and hands over the arrays, the flat function's gradient is taken by the
fused fast path, and the builder turns it back into the structural gradient
the general path gives. A call is specialised the second time a function is
differentiated with a structure (a one-off gradient is not worth compiling);
one the compiler cannot specialise is remembered and goes the general way.

`ZYGOPY_SPECIALISE=0` in the environment turns this off (the general path then
runs every call: a debugging aid), `ZYGOPY_SPECIALISE=eager` specialises from
the first call (the test suite runs so too, to compare both ways);
`reason(f)` says why a function is not specialised, `source(f)` shows its flat
functions.
"""

from __future__ import annotations

import builtins
import os
import threading
import types

import numpy as np

from .. import api  # (zygopy.api imports this module: its names are read at call time)
from ..errors import NoRuleError, UnsupportedSyntax
from . import dispatch, sources, tracebacks
from .structure import filled, holds_differentiable
from .tangents import ZERO, Tangent, materialize

_MODE = os.environ.get("ZYGOPY_SPECIALISE", "1")
ENABLED = _MODE != "0"
_FIRST = 0 if _MODE == "eager" else 1  # calls that go the general way first
_LIMIT = 8  # specialisations kept per function and mask (the oldest go first)
_ENTRIES: dict = {}  # (code, mask) -> [Entry]
_SEEN: dict = {}  # (code, mask) -> calls not specialised yet
_REFUSED: dict = {}  # code -> why it cannot be specialised (for any arguments)
_REFUSED_FOR: dict = {}  # code -> {the arguments' structure (`_outline`) -> why not}
_LAST_REASON: dict = {}  # code -> the last reason given (what `reason` says)
_FAILURES: dict = {}  # code -> runs of its specialisations that raised
_MADE: dict = {}  # code -> specialisations made
_MADE_LIMIT = 32
_SIMPLE = (np.ndarray, float, int, bool, str, type(None))
_FLAGS = (bool, str, type(None))


class Entry:
    """One specialisation: its guard, flat function and builder."""

    __slots__ = ("build", "chosen", "compiled", "flat", "guard", "mask", "objects", "observed",
                 "run", "text")

    def __init__(self, guard, flat, build, mask, objects, text):
        self.guard, self.flat, self.build, self.objects = guard, flat, build, objects
        self.mask = mask  # which parameters of the flat function are differentiated
        self.chosen = tuple(i for i, m in enumerate(mask) if m)
        self.text = text
        self.compiled = False  # its forward and backward made (before its first run)
        self.run = None  # the flat function's fused withgradient, once made
        self.observed = False  # whether code it calls may ask is_differentiating()


def withgradient(f, args, mask=None):
    """`(value, gradients)` of `f(*args)` by its specialisation on the
    structure of `args` (differentiating those `mask` flags: None for all),
    or None where there is none (the general path runs)."""
    for a in args:
        if type(a) not in _SIMPLE:
            break
    else:
        return None  # no structure to specialise on
    code = getattr(f, "__code__", None)
    if not ENABLED or type(f) is not types.FunctionType or code in _REFUSED:
        return None
    refused = _REFUSED_FOR.get(code)
    if refused is not None and _outline(args) in refused:  # (only a loss refused for
        return None  # some model pays for this: another model may still be specialised)
    mask = (True,) * len(args) if mask is None else mask
    key = (code, mask)
    entries = _ENTRIES.get(key)
    if entries is not None:
        for entry in entries:
            found = entry.guard(f, *args)
            if found is not None:
                return _run(key, entry, found, args)
    seen = _SEEN.get(key, 0)
    if seen < _FIRST:  # the first call goes the general way
        if len(_SEEN) > 4096:
            _SEEN.clear()
        _SEEN[key] = seen + 1
        return None
    if _MADE.get(code, 0) >= _MADE_LIMIT:  # a structure new each time (a list of
        _REFUSED[code] = (f"its arguments' structure keeps changing ({_MADE_LIMIT} "
                          "specialisations made)")  # varying length): compiling each
        return None  # call would cost more than it saves
    entry = _specialise(f, args, mask)
    if entry is None:
        return None
    _MADE[code] = _MADE.get(code, 0) + 1
    entries = _ENTRIES.setdefault(key, [])
    if len(entries) >= _LIMIT:
        entries.pop(0)
    entries.append(entry)
    found = entry.guard(f, *args)
    if found is None:  # (cannot happen: the guard was made from these arguments)
        entries.remove(entry)
        return None
    return _run(key, entry, found, args)


def _run(key, entry, found, args):
    flat_args, objects, statics = found
    flat = entry.flat
    if not entry.compiled:  # compiled before it runs: a refusal of the flat code
        try:  # (which the user's own code may not deserve) runs nothing twice
            kinds = dispatch._masked_kinds(tuple(map(dispatch.kind_of, flat_args)),
                                           entry.mask, None)
            dispatch.adjoint_functions(flat, kinds, False, False)
        except Exception:  # noqa: BLE001 (zygopy refuses the flat code: the general way)
            _drop(key, entry)
            return None
        entry.compiled = True
    entry.objects.now = objects
    try:
        out = _fused(entry, flat_args) if entry.run is not None else None
        if out is None:
            out = api._fast(flat, flat_args, True, entry.mask)
            if out is None:
                out = api._withgradient_of(flat, flat_args, entry.chosen, False)
                api._remember_fast(flat, flat_args, entry.mask)
            else:  # (made on the second call: kept, and called directly from now on)
                entry.run, entry.observed = api._fused_of(flat, entry.mask)
    except NameError as exc:
        if type(exc) is not NameError or not _names_flat_code(exc, flat):
            raise  # (the user's own, an UnboundLocalError say)
        _drop(key, entry)  # the flat code is wrong: the general path runs the call
        return None
    except (UnsupportedSyntax, NoRuleError):
        # a refusal of the flat code at run time (an alias it checks): the
        # general path runs the call and names the user's own code and names
        _drop(key, entry)
        return None
    # any other error is the user's code's (a shape mismatch; `layers.stop()`;
    # a loss returning an array), pointed at the user's line: raised as it is,
    # not run again (that would repeat what ran before it: a random draw, a
    # print); the flat function stays, as the user's function would
    finally:
        entry.objects.now = ()
    value, grads = out
    return value, entry.build(statics, grads, args)


def _fused(entry, flat_args):
    """`(value, gradients)` by the fused function `entry` keeps (the types and
    dtypes of `flat_args` are those it was made for: its guard checked them),
    the undifferentiated leaves' None; None where a callee it inlines was
    rebound (`api._fast` then compiles anew)."""
    try:
        value, grads = api._call_fused(entry.run, flat_args, entry.observed, entry.flat)
    except dispatch.Stale:
        entry.run = None
        return None
    return value, api._masked(grads, flat_args, entry.mask)


def _names_flat_code(exc, flat):
    """Whether a NameError is about a name the flat function itself reads and
    its namespace lacks: a fault of the specialisation, not of the user's code
    (whose helpers' names are not the flat function's)."""
    name = getattr(exc, "name", None)
    code = flat.__code__
    return name is not None and name not in flat.__globals__ and \
        (name in code.co_names or name in code.co_varnames)


def _drop(key, entry):
    """Forget `entry`, which zygopy refused to run; after a second such refusal
    the function is not specialised again."""
    entries = _ENTRIES.get(key, [])
    if entry in entries:
        entries.remove(entry)
    failures = _FAILURES[key[0]] = _FAILURES.get(key[0], 0) + 1
    if failures >= 2:
        _REFUSED[key[0]] = "its specialisation raised errors (the general path reports them)"


def _specialise(f, args, mask):
    from ..compiler.specialise import Specialiser, Unspecialisable

    if f.__code__.co_flags & 0x0C or f.__code__.co_kwonlyargcount:
        _REFUSED[f.__code__] = "it takes *args, **kwargs or keyword-only arguments"
        return None
    if len(args) != f.__code__.co_argcount:  # (a default used: this call goes generally)
        return None
    try:
        spec = Specialiser(f, mask).run(args)
        entry = _entry(spec)
        _LAST_REASON.pop(f.__code__, None)
        return entry
    except Unspecialisable as exc:
        _refuse_for(f.__code__, args, str(exc.args[0]) if exc.args else "unspecialisable")
    except Exception as exc:  # noqa: BLE001 (a case the pass does not know: not specialised)
        _refuse_for(f.__code__, args, f"{type(exc).__name__}: {exc}")
    return None


def _refuse_for(code, args, why):
    """Refuse `code` for arguments of this outline (after many, for any)."""
    refused = _REFUSED_FOR.setdefault(code, {})
    refused[_outline(args)] = why
    _LAST_REASON[code] = why
    if len(refused) >= _LIMIT:
        _REFUSED[code] = why


def _outline(value, depth=4):
    """A cheap outline of the structure of `value`: types, field names and
    lengths, `depth` levels down (a Chain of Dense layers and one holding a
    Dropout differ); what a refusal is remembered by."""
    t = type(value)
    if t in _FLAGS:  # a mode (training=True, "train"): a model in another mode
        return t, value  # is another case
    if depth == 0 or t in _SIMPLE:
        return t
    if t is tuple or t is list:
        return t, tuple(_outline(v, depth - 1) for v in value[:64])
    if t is dict:
        return t, tuple((k, _outline(v, depth - 1)) for k, v in list(value.items())[:64])
    fields = getattr(value, "__dict__", None)
    if type(fields) is dict:
        return t, tuple((k, _outline(v, depth - 1)) for k, v in list(fields.items())[:64])
    return t


def _entry(spec):
    namespace = dict(spec.namespace)
    namespace["__builtins__"] = builtins
    namespace["_objects"] = threading.local()  # `_objects.now`: this call's structures
    filename = sources.register(spec.text, spec.name)
    lines = {n: (line, tracebacks.FORWARD, file, function)
             for n, (line, file, function) in spec.lines.items()}
    tracebacks.register(filename, tracebacks.LineMap(spec.name, filename, lines))
    tracebacks.HINTS[filename] = f"zygopy.runtime.specialised.source({spec.fn.__name__})"
    exec(compile(spec.text, filename, "exec"), namespace)  # noqa: S102 (zygopy's own text)
    flat = namespace[spec.name]
    flat.zygopy_user_names = spec.user_names  # (the compiler's errors name locals by them)
    params = ", ".join(["_f"] + [f"_a{i}" for i in range(len(spec.params))])
    leaves = ", ".join(leaf.var for leaf in spec.leaves)
    objects = ", ".join(spec.objects)
    statics = ", ".join(spec.statics)
    body = "\n".join("        " + line for line in spec.guard_lines)
    guard_text = (f"def guard({params}):\n"
                  f"    try:\n{body or '        pass'}\n"
                  f"    except (AttributeError, IndexError, KeyError, TypeError, ValueError):\n"
                  f"        return None\n"
                  f"    return ({leaves}{',' if leaves else ''}), ({objects}{',' if objects else ''}), "
                  f"({statics}{',' if statics else ''})\n")
    guard_ns = dict(spec.guard_names, _FunctionType=types.FunctionType,
                    __builtins__=builtins)
    guard = sources.exec_source(guard_text, f"guard of {spec.name}", guard_ns)["guard"]
    build_ns = dict(spec.build_names, _Tangent=Tangent.of, _zl=_zero_of,
                    _closure_tangent=_closure_tangent, __builtins__=builtins)
    build = sources.exec_source(spec.build_text, f"gradient of {spec.name}", build_ns)["build"]
    mask = tuple(leaf.differentiable for leaf in spec.leaves)
    text = f"{spec.text}\n# guard:\n{guard_text}\n# gradient:\n{spec.build_text}"
    return Entry(guard, flat, build, mask, namespace["_objects"], text)


def _zero_of(value):
    return None if value is None else materialize(ZERO, value)


def _closure_tangent(f, fields):
    """A closure's gradient: a Tangent of the variables it captures, or None
    where none of them can carry a gradient (as the general path gives)."""
    if not any(holds_differentiable(c.cell_contents) for c in f.__closure__ if filled(c)):
        return None
    return Tangent(types.FunctionType, **fields)


def reason(f):
    """Why `f` was not specialised the last time it was tried (None if it was,
    or has not been tried)."""
    code = getattr(f, "__code__", None)
    return _REFUSED.get(code) or _LAST_REASON.get(code)


def source(f):
    """The flat functions, guards and builders made for `f`, as text."""
    code = getattr(f, "__code__", None)
    return "\n".join(e.text for (c, _), entries in _ENTRIES.items() if c is code
                     for e in entries)


def forget():
    """Drop every specialisation (a rule was registered: they may inline a
    function that has one now)."""
    _ENTRIES.clear()
    _SEEN.clear()
    _REFUSED.clear()
    _REFUSED_FOR.clear()
    _LAST_REASON.clear()
    _FAILURES.clear()
    _MADE.clear()
