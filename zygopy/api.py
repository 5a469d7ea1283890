"""The public API: gradient, pullback, withgradient, grad, value_and_grad,
differentiable, source, and implicit parameters (params / Grads)."""

from __future__ import annotations

import contextlib
import functools
import inspect
import types
import weakref

import numpy as np

from .rules.registry import CHANGED, NONDIFFERENTIABLE, RULES
from .runtime import dispatch, specialised
from .runtime.arrays import on_device_of
from .runtime.generated import seed as _seed
from .runtime.tangents import ZERO, materialize
from .runtime.tracebacks import point_at_user_line


def plain(f):
    """The function itself, for a `@differentiable` one."""
    return f.fn if isinstance(f, Differentiable) else f


def top_call(f, args, need_free):
    """`(y, pullback)` of `f(*args)`, with `is_differentiating()` true while its
    forward runs; `need_free`: differentiate what a plain function closes over."""
    f = plain(f)
    with differentiating(f):
        if type(f) is types.FunctionType and not _has_rule(f):
            return dispatch.call_function(f, args, {}, need_free=need_free, top=True)
        return dispatch.call(f, *args)  # (a function with a rule: by its rule)


def _has_rule(fn):
    """Whether `fn` has a registered rule or is declared non-differentiable."""
    return fn in RULES or fn in NONDIFFERENTIABLE


def _top_pullback(f, args):
    """(y, back) where back(dy) gives one materialised cotangent per argument."""
    if not callable(f):
        raise TypeError(f"the function to differentiate must be callable, got a "
                        f"{type(f).__name__}: gradient(f, *args) takes f first")
    y, pb = top_call(f, args, need_free=_in_implicit())

    def back(dy):
        grads = pb(_cotangent(dy, y))
        return tuple(map(materialize, grads[1:], args))

    return y, back


def _cotangent(dy, y, where="the output"):
    """A cotangent handed to a pullback, checked and made ready: it has the
    output's structure and each array its array's shape (broadcasting one
    would give another function's gradient); None becomes ZERO; a number or
    numpy cotangent of a device (CuPy) output moves to the device."""
    if dy is None or dy is ZERO:
        return ZERO
    if isinstance(y, (tuple, list)):
        if not isinstance(dy, (tuple, list)) or len(dy) != len(y):
            raise ValueError(f"the cotangent of {where}, a {type(y).__name__} of "
                             f"{len(y)}, must be one too, got {type(dy).__name__}"
                             + (f" of {len(dy)}" if hasattr(dy, "__len__") else ""))
        ds = [_cotangent(d, v, f"{where}[{i}]") for i, (d, v) in enumerate(zip(dy, y))]
        return type(dy)(*ds) if hasattr(dy, "_fields") else type(dy)(ds)
    shape = getattr(y, "shape", None)
    if shape is not None and np.shape(dy) != tuple(shape):  # (a number for an array too:
        raise ValueError(f"the cotangent of {where} has shape {np.shape(dy)}, but "
                         f"{where} has shape {shape}: it must match")  # as torch and JAX)
    return on_device_of(dy, y)


# -- the fast path of gradient/withgradient ----------------------------------
# A plain function called again with positional floats (or float arrays) of
# the same types as before, outside implicit-parameter contexts, runs a fused
# function generated for it (compiler.fuse: the forward and backward in one
# function; `f_gradient` returns the gradients, `f_withgradient` the value
# too), without the general argument handling of _top_pullback and
# dispatch.call_function.
# Entries are keyed by a plain weak reference to the callee (kept in the entry,
# so `weakref.ref(f)` returns that same object: a cheap lookup) and dropped
# when the callee dies.
_FAST: dict = {}  # weakref(f) or (weakref(f), mask) -> [floats only, float or dtype
#     per argument, observed, unwrap, [f_gradient, f_withgradient], evict, mask,
#     f_gradient surely returns floats (for `_remember_last`), the code it was made of]
_FAST_LIMIT = 256  # entries; a program making new functions in a loop starts afresh
_THREAD = dispatch.THREAD  # this thread's implicit contexts and forward passes
_ANY_IMPLICIT = dispatch.ANY_IMPLICIT  # (the list itself: mutated, never rebound)


def _in_implicit():
    """Whether this thread is inside an implicit-parameter gradient (the hot
    paths spell this out: a call costs as much as the test)."""
    return bool(_ANY_IMPLICIT and _THREAD.implicit)


_ref = weakref.ref
_NDARRAY = np.ndarray


def _fast(f, args, value, mask=None):
    """`(y, gradients)` (`value` true) or the gradients alone, by the fused
    function of `f`; None if `f` has no cache entry for arguments of these
    types (then the general path runs). With a `mask`, only the arguments it
    flags are differentiated (the others' gradients are None)."""
    try:
        entry = _FAST.get(_ref(f) if mask is None else (_ref(f), mask))
    except TypeError:  # not weakly referenceable: a builtin, a bound method...
        return None
    if entry is None or (_ANY_IMPLICIT and _THREAD.implicit):
        return None
    floats, arg_types, observed, unwrap, fused, _, _, _, code = entry
    if (f.fn if unwrap else f).__code__ is not code:  # its __code__ was replaced
        _FAST.pop(_ref(f) if mask is None else (_ref(f), mask), None)
        return None
    if len(args) != len(arg_types):
        return None
    if floats:
        for a in args:
            if type(a) is not float:
                return None
    else:
        for a, t in zip(args, arg_types):  # t: float, or the array's dtype
            if type(a) is not (float if t is float else _NDARRAY) or \
                    t is not float and a.dtype is not t:
                return None
    run = fused[value]
    if run is None:  # made on the second call: most functions get just one
        run, observed = _fuse(entry, f, args, value)
        if run is None:
            return None
    elif entry[7] and not value:  # `gradient` of it again: remembered as the last
        _remember_last(f, run, len(args))
    try:
        out = _call_fused(run, args, observed, f.fn if unwrap else f)
    except dispatch.Stale:  # a guarded callee was rebound: recompile, generally
        _FAST.pop(_ref(f) if mask is None else (_ref(f), mask), None)
        _forget_last()
        return None
    grads = out[1] if value else out
    if mask is not None:
        grads = _masked(grads, args, mask)
        return (out[0], grads) if value else grads
    if floats:
        for g in grads:
            if type(g) is not float:  # ZERO, a numpy scalar: make a float of it
                break
        else:
            return out
    else:
        for g, a in zip(grads, args):
            if type(g) is not np.ndarray or g.dtype is not a.dtype or g.shape != a.shape:
                break
        else:
            return out
    grads = tuple(map(materialize, grads, args))
    return (out[0], grads) if value else grads


def _call_fused(run, args, observed, f):
    """`run(*args)` for a fused function of `f`, as differentiating `f` while it
    runs where code it calls may ask is_differentiating() (`observed`); an
    error of the user's code gets a note naming the user's line."""
    if observed:
        _THREAD.differentiating.append(f)
    try:
        return run(*args)
    except dispatch.Stale:
        raise
    except Exception as exc:
        point_at_user_line(exc)
        raise
    finally:
        if observed:
            _THREAD.differentiating.pop()


def _masked(grads, args, mask):
    """The gradients of the arguments `mask` flags, each a concrete array or
    number like its argument (ZERO made real); None for the others."""
    return tuple(None if not m or g is None else g if type(g) is _NDARRAY and
                 g.dtype is a.dtype and g.shape == a.shape else materialize(g, a)
                 for g, a, m in zip(grads, args, mask))


def _fused_of(f, mask):
    """`(f_withgradient, observed)`: the fused function `_fast` made for `f`
    differentiating the arguments `mask` flags, and whether code it calls may
    ask is_differentiating(); (None, False) while there is none."""
    entry = _FAST.get((_ref(f), mask))
    if entry is None:
        return None, False
    return entry[4][True], entry[2]


def _fuse(entry, f, args, value):
    """Make the fused function of `f`'s fast-path `entry`: (it, observed)."""
    fn = plain(f)
    kinds = tuple(map(dispatch.kind_of, args))
    if entry[6] is not None:
        kinds = dispatch._masked_kinds(kinds, entry[6], None)
    run, calls_user_code, returns_floats = dispatch.gradient_function(
        fn, kinds, value, entry[0])
    if run is None:  # not fused: it changes an argument in place
        _FAST.pop(_ref(f) if entry[6] is None else (_ref(f), entry[6]), None)
        return None, False
    entry[2] = calls_user_code
    entry[4][value] = run
    if returns_floats and not value and not calls_user_code and entry[6] is None \
            and type(f) is types.FunctionType:
        entry[7] = True
        _remember_last(f, run, len(args))
    return run, calls_user_code


def _remember_last(f, run, n):
    global _last_ref, _last_run, _last_n, _last_plain, _last_code
    _last_ref, _last_run, _last_n, _last_code = _ref(f), run, n, f.__code__
    # a function closing over nothing (a module's) is held: checked by `is`
    _last_plain = f if getattr(f, "__closure__", True) is None else _NOTHING


# The last function whose fused `f_gradient` takes floats and surely returns a
# tuple of floats, without calling user code: `gradient` runs it after a
# weak-reference check and a type check of each argument, and nothing more
# (what repeated scalar gradients of one function, as in a loop, need). Module
# globals rather than a tuple: each unpacking would cost a tenth of the call.
_NOTHING = object()
_last_plain = _NOTHING  # f itself, when it closes over nothing (else a weakref only)
_last_code = None  # its code (a function whose __code__ is replaced is compiled again)
_last_ref = _ref(_fuse)  # weakref(f)
_last_run = None  # its f_gradient
_last_n = -1  # its number of arguments (a call with another number raises TypeError)


def _forget_last():
    global _last_ref, _last_run, _last_n, _last_plain
    _last_ref, _last_run, _last_n, _last_plain = _ref(_fuse), None, -1, _NOTHING


def _forget_fast():
    """A rule or declaration was added: fused functions may inline a callee
    that has one now, or be one."""
    _FAST.clear()
    _forget_last()


CHANGED.append(_forget_fast)
CHANGED.append(specialised.forget)


def _remember_fast(f, args, mask=None):
    """After a general `withgradient(f, *args)`, cache what the fast path needs
    when `f` is a plain function called with positional floats/float arrays
    (differentiating those `mask` flags, when given)."""
    fn = plain(f)
    if type(fn) is not types.FunctionType or _in_implicit() or fn.__defaults__ \
            or fn.__kwdefaults__ or _has_rule(fn):
        return
    code = fn.__code__
    if code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS) \
            or code.co_kwonlyargcount or len(args) != code.co_argcount:
        return
    if not all(type(a) is float or type(a) is np.ndarray and a.dtype.kind == "f"
               for a in args):
        return
    arg_types = tuple(float if type(a) is float else a.dtype for a in args)
    if len(_FAST) >= _FAST_LIMIT:
        _FAST.clear()
    key = _ref(f) if mask is None else (_ref(f), mask)
    evict = _ref(f, lambda _, key=key: _FAST.pop(key, None))
    floats = all(t is float for t in arg_types)
    _FAST[key] = [floats, arg_types, True, fn is not f, [None, None], evict, mask,
                  False, fn.__code__]  # observed and `_remember_last`'s flag: by _fuse


@contextlib.contextmanager
def differentiating(f=None):
    """Within this block `is_differentiating()` is true (what `gradient` does
    around a forward pass; `checkpointed` uses it for its recomputation)."""
    _THREAD.differentiating.append(f)
    try:
        yield
    finally:
        _THREAD.differentiating.pop()


def is_differentiating() -> bool:
    """True while the forward pass of a `gradient`/`pullback` call runs in this
    thread (another thread's gradient does not make it true here).

    Layers with a train mode (BatchNorm, Dropout) use it as their default:
    they train under `gradient` and run in test mode otherwise (Flux's
    `istraining()`)."""
    return bool(_THREAD.differentiating)


def pullback(f, *args):
    """`(y, back)`: the value of `f(*args)` and its pullback.

    `back(dy)` takes a cotangent shaped like `y` (a tuple for a tuple output)
    and returns one gradient per argument, each shaped like its argument.

    >>> y, back = pullback(lambda x, y: 3 * x**2 + 2 * x + y, 2.0, 2.0)
    >>> back(1.0)
    (14.0, 1.0)
    """
    if len(args) == 1 and isinstance(args[0], Params):
        return _implicit_pullback(f, args[0])
    return _top_pullback(f, args)


def gradient(f, *args):
    """One gradient per argument of a real-scalar-valued `f`, at `args`.

    >>> gradient(lambda x, y: 3 * x**2 + 2 * x + y, 2.0, 2.0)
    (14.0, 1.0)

    With implicit parameters, `gradient(lambda: loss(x, y), params(W, b))`
    returns a `Grads` looked up by the arrays themselves: `gs[W]`.
    """
    if (f is _last_plain or _last_ref() is f) and f.__code__ is _last_code \
            and not (_ANY_IMPLICIT and _THREAD.implicit):
        for a in args:
            if type(a) is not float:
                break
        else:
            try:
                return _last_run(*args)
            except dispatch.Stale:  # a guarded callee was rebound: recompile
                _FAST.pop(_last_ref, None)
                _forget_last()
            except TypeError as exc:
                if len(args) == _last_n:  # raised by f: else the general path says
                    point_at_user_line(exc)  # what Python says of f's arguments
                    raise
            except Exception as exc:
                point_at_user_line(exc)
                raise
    out = _fast(f, args, False)
    return out if out is not None else _withgradient(f, args)[1]


def withgradient(f, *args):
    """`(y, gradients)`: the value of `f(*args)` and `gradient(f, *args)`."""
    out = _fast(f, args, True)
    return out if out is not None else _withgradient(f, args)


def _withgradient(f, args):
    out = _specialised(f, args, None)
    if out is not None:
        return out
    y, back = pullback(f, *args)
    out = y, back(_seed(y))
    _remember_fast(f, args)
    return out


def gradient_of(ps):
    """Decorator form of `gradient(f, ps)`, Julia's `gradient(ps) do ... end`:

        @gradient_of(params(W, b))
        def gs():
            return loss(x, y)
        gs[W]   # the decorated name is bound to the Grads
    """
    def decorate(f):
        return gradient(f, ps)

    return decorate


def grad(f, argnums=0, has_aux=False):
    """The gradient function of `f` with respect to argument(s) `argnums`.

    `grad(f)(x, y)` is `gradient(f, x, y)[0]`; a tuple `argnums` gives a tuple.
    Nests: `grad(grad(f))` is the second derivative. With `has_aux=True`, `f`
    returns `(value, aux)` and the result is `(gradient, aux)`. Keyword
    arguments pass through to `f` undifferentiated (`grad(loss)(w, scale=2.0)`),
    as in JAX.
    """
    return GradFunction(f, argnums, with_value=False, has_aux=has_aux)


def value_and_grad(f, argnums=0, has_aux=False):
    """JAX-style: a function returning `(value, gradient)`.

    With `has_aux=True`, `f` returns `(value, aux)` and the result is
    `((value, aux), gradient)`; only `value` is differentiated."""
    return GradFunction(f, argnums, with_value=True, has_aux=has_aux)


class GradFunction:
    """A callable computing gradients of `f` (what `grad` and `value_and_grad`
    return). It is itself differentiable: `grad(grad(f))` works."""

    def __init__(self, f, argnums=0, with_value=False, has_aux=False):
        self.f = f
        self.argnums = argnums
        self.with_value = with_value
        self.has_aux = has_aux
        self._last = None  # (number of arguments, mask, index): how the last
        functools.update_wrapper(self, f, updated=())  # call was specialised

    def __call__(self, *args, **kwargs):
        last = self._last
        if last is not None and len(args) == last[0] and not kwargs:
            out = _specialised(self.f, args, last[1])  # (as last time: a training loop)
            if out is not None:
                return (out[0], out[1][last[2]]) if self.with_value else out[1][last[2]]
        if kwargs:  # passed through, not differentiated (JAX's grad does the same)
            return _with_keywords(self, kwargs)(*args)
        n = len(args)
        chosen = (self.argnums,) if isinstance(self.argnums, int) else tuple(self.argnums)
        for i in chosen:
            if not -n <= i < n:
                raise IndexError(f"argnums {i} is out of range for {n} arguments")
        chosen = (chosen[0] % n,) if len(chosen) == 1 else tuple(i % n for i in chosen)
        if self.has_aux:
            value, grads = _withgradient_of(self.f, args, chosen, True)
        elif _others_carry(args, chosen):
            mask = tuple(i in chosen for i in range(n))
            out = _fast(self.f, args, self.with_value, mask)
            if out is None:
                out = _specialised(self.f, args, mask)
                if out is None:
                    out = _withgradient_of(self.f, args, chosen, False)
                    _remember_fast(self.f, args, mask)
                elif isinstance(self.argnums, int):
                    self._last = (n, mask, chosen[0])
                value, grads = out
            else:
                value, grads = out if self.with_value else (None, out)
        elif self.with_value:
            value, grads = withgradient(self.f, *args)
        else:
            value, grads = None, gradient(self.f, *args)
        g = grads[chosen[0]] if isinstance(self.argnums, int) else \
            tuple(grads[i] for i in chosen)
        if self.has_aux and not self.with_value:
            return g, value[1]  # grad(f, has_aux=True): (gradient, aux)
        return (value, g) if self.with_value else g


def _others_carry(args, chosen):
    """Whether an argument `chosen` does not name could carry a gradient (then
    only the chosen are differentiated: a batch of data costs no work)."""
    for i, a in enumerate(args):
        if i not in chosen and not isinstance(a, float) and (
                type(a) is _NDARRAY and a.dtype.kind in "fc" or dispatch.carries_gradient(a)):
            return True
    return False


def _with_keywords(f, kwargs):
    """`f` with keyword arguments bound where they are used: by the function
    innermost in nested grad functions (`grad(grad(f))(x, s=3.0)`), constants
    of every level."""
    if isinstance(f, GradFunction):
        return GradFunction(_with_keywords(f.f, kwargs), f.argnums, f.with_value, f.has_aux)
    return functools.partial(f, **kwargs)


def _specialised(f, args, mask):
    """`(value, gradients)` by the flat function specialised on the structure
    of `args` (runtime.specialised), or None: then the general path runs."""
    fn = plain(f)
    if _in_implicit() or _THREAD.differentiating or type(fn) is not types.FunctionType \
            or _has_rule(fn):
        return None
    return specialised.withgradient(fn, args, mask)


def _withgradient_of(f, args, chosen, has_aux):
    """`withgradient(f, *args)` differentiating only the arguments `chosen`
    (the others get None: an array nobody asked about costs no work, as with
    JAX's argnums); with `has_aux`, `f` returns `(value, aux)` and only the
    value is differentiated."""
    for i in chosen:
        if not 0 <= i < len(args):
            raise IndexError(f"argnums {i} is out of range for {len(args)} arguments")
    mask = tuple(i in chosen for i in range(len(args)))
    fn = plain(f)
    with differentiating(fn):
        if type(fn) is types.FunctionType and not _has_rule(fn):
            y, pb = dispatch.call_function(fn, args, {}, need_free=_in_implicit(),
                                           mask=mask, top=True)
        else:  # (a function with a rule: by its rule)
            y, pb = dispatch.call_masked(mask, fn, *args)
    if has_aux:
        if not (isinstance(y, tuple) and len(y) == 2):
            raise TypeError("value_and_grad(f, has_aux=True): f must return a pair "
                            f"(value, aux), but it returned {type(y).__name__}")
        grads = pb((_seed(y[0]), ZERO))
    else:
        grads = pb(_seed(y))
    return y, tuple(materialize(grads[1 + i], a) if m else None
                    for i, (a, m) in enumerate(zip(args, mask)))


def source(f) -> str:
    """The generated forward and backward Python code of `f`, as text.

    Compiles `f` for float arguments if it has not been compiled yet."""
    if isinstance(f, Differentiable):
        return f.source()
    fn = f
    compiled = [c for k, c in dispatch._COMPILED.items() if k[0] is fn.__code__]
    if not compiled:
        kinds = tuple("any" for _ in range(fn.__code__.co_argcount))
        dispatch.adjoint_functions(fn, kinds, False, False)
        compiled = [c for k, c in dispatch._COMPILED.items() if k[0] is fn.__code__]
    return compiled[-1].text


class Differentiable:
    """A function whose adjoint code was generated at decoration time.

    Calling it runs the original function; `zygopy.gradient` and friends use
    the generated code; `source()` prints it."""

    zygopy_differentiable = True  # the dispatcher differentiates `fn` itself

    def __init__(self, fn):
        self.fn = fn
        functools.update_wrapper(self, fn)
        kinds = tuple("any" for _ in range(fn.__code__.co_argcount))
        self._generic = dispatch.adjoint_functions(fn, kinds, False, False)[2]

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def __get__(self, obj, objtype=None):
        """As a method (a decorated `__call__` of a layer): bound to the object."""
        return self if obj is None else types.MethodType(self, obj)

    def source(self):
        return self._generic.text

    def __repr__(self):
        return f"<differentiable {self.fn.__qualname__}>"


def differentiable(fn):
    """Decorator: parse `fn` and generate its adjoint code now, ahead of any call.

    Unsupported syntax is reported here, at definition time.

    >>> @differentiable
    ... def f(x):
    ...     return x * x
    >>> gradient(f, 3.0)
    (6.0,)
    """
    return Differentiable(fn)


from .implicit import Grads, Params, _implicit_pullback, params  # noqa: F401
