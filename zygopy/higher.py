"""Higher order: jvp (forward mode), Hessian-vector products, hessian, and the
rules that make `grad(grad(f))` work.

Forward mode runs the function on dual numbers (zygopy.forward.Dual). Second
derivatives are forward over reverse: the generated reverse-mode code of `f`
runs on duals, so its gradient comes out with a tangent, and that tangent is
a Hessian-vector product `H v`. It costs about two gradients, and it is how
the reverse pass of a gradient is differentiated: when the outer `grad` of
`grad(grad(f))` pulls a cotangent `v` back through the inner gradient, the
answer is `H v` (the Hessian is symmetric), covering the arguments and the
variables `f` closes over alike.
"""

from __future__ import annotations

import contextlib
import numbers

import numpy as np

from . import api
from .errors import NoRuleError
from .forward import Dual, primal
from .rules.registry import RULES, nondifferentiable, rule
from .runtime import dispatch
from .runtime.arrays import array_module, holds_dual
from .runtime.tangents import ZERO, Tangent, add, is_zero, materialize, scale
from .transforms import jacobian

__all__ = ["hessian", "hvp", "jvp"]


class NotPerturbable(TypeError):
    """A value forward mode cannot carry a tangent for (an object)."""

    def __init__(self, message, kind):
        super().__init__(message)
        self.kind = kind


def _second_order_of_objects(pb, dy, args):
    """`pb(dy)` of a gradient called in differentiated code, its refusal of
    an object argument said in the user's terms. Its forward ran on duals as
    well (a `jvp` of a gradient is second order); pulling back through it
    then would be third order."""
    _refuse_third_order(args)
    try:
        return pb(dy)
    except NotPerturbable as exc:
        raise NoRuleError("zygopy.gradient", f" (a gradient of a gradient with respect to "
                          f"a {exc.kind} object: second order perturbs numbers and arrays, "
                          "and tuples, lists and dicts of them; take the inner gradient "
                          "with respect to the object's arrays, e.g. zp.gradient(lambda w: "
                          "loss(make(w)), m.w))") from None


def _as_dual(x, t):
    """`x` perturbed along `t` (x itself where `t` is absent)."""
    if t is None or t is ZERO:
        return x
    if isinstance(x, (tuple, list)):
        return type(x)(_as_dual(a, b) for a, b in zip(x, t))
    if isinstance(x, dict):  # a dict of arguments (JAX's pytrees): by key
        return {k: _as_dual(v, t.get(k)) for k, v in x.items()}
    if not isinstance(x, numbers.Real) and not hasattr(x, "shape"):
        raise NotPerturbable(f"jvp/hvp: a tangent for a {type(x).__name__} (numbers, "
                             "arrays, and tuples, lists and dicts of them take tangents)",
                             type(x).__name__)
    if hasattr(x, "shape") and x.dtype.kind not in "fc":
        if not np.any(t):  # a zero tangent (an index, say): the value as it is
            return x
        raise NotPerturbable(f"jvp/hvp: a non-zero tangent for {x.dtype} values (as in "
                             "first order, where their gradient is None, integer and "
                             "bool arrays and numpy scalars take none: pass None or "
                             "zeros as their tangent, or x.astype(float) to perturb "
                             "them)", "integer")
    if hasattr(x, "shape") and not isinstance(x, np.generic):  # numpy's or CuPy's
        xp = array_module(x)
        t = xp.broadcast_to(xp.asarray(t, dtype=x.dtype), x.shape)
    elif isinstance(x, np.generic):
        t = x.dtype.type(t)
    else:
        x = x if type(x) is bool else float(x)  # an int is a real number here too
        t = float(t)
    return Dual(x, t)


def _split(y):
    """(primal structure, tangent structure) of a result holding duals."""
    if type(y) is Dual:
        return y.primal, y.tangent
    if isinstance(y, (tuple, list)):
        pairs = [_split(v) for v in y]
        return type(y)(p for p, _ in pairs), type(y)(t for _, t in pairs)
    if isinstance(y, dict):
        pairs = {k: _split(v) for k, v in y.items()}
        return {k: p for k, (p, _) in pairs.items()}, {k: t for k, (_, t) in pairs.items()}
    if isinstance(y, Tangent):
        pairs = {k: _split(v) for k, v in y._fields.items()}
        return (Tangent(y._primal_type, **{k: p for k, (p, _) in pairs.items()}),
                Tangent(y._primal_type, **{k: t for k, (_, t) in pairs.items()}))
    if y is None or y is ZERO:
        return y, ZERO
    return y, ZERO  # a constant: zero tangent


def jvp(f, primals, tangents):
    """`(f(*primals), J @ tangents)`: forward mode, by dual numbers.

    `primals` and `tangents` are tuples of the same structure, one entry per
    argument; the result's tangent has the structure of the output.

    >>> jvp(lambda x: x ** 3, (2.0,), (1.0,))
    (8.0, 12.0)
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp(f, primals, tangents) takes a tuple of arguments and a tuple "
                        "of their tangents, as JAX's: jvp(f, (x,), (v,))")
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    for i, (p, t) in enumerate(zip(primals, tangents)):
        if hasattr(p, "shape") and t is not None and np.ndim(t) \
                and np.shape(t) != np.shape(p):
            raise ValueError(f"jvp: the tangent of argument {i} has shape {np.shape(t)}, "
                             f"the argument {np.shape(p)}: they must match")
    args = tuple(_as_dual(p, t) for p, t in zip(primals, tangents))
    y, _ = dispatch.call(api.plain(f), *args)
    value, t = _split(y)
    return value, materialize(t, value)


def _gradient_with_tangents(f, args, directions):
    """The full first-order gradient of scalar `f` at `args` (callee first),
    run on duals perturbed along `directions`: (value, primal grads, tangents)."""
    duals = tuple(_as_dual(a, v) for a, v in zip(args, directions))
    with api.differentiating(api.plain(f)):  # a gradient's forward pass, as first order's
        y, pb = dispatch.call(api.plain(f), *duals)  # (layers in train mode)
    value = primal(y)
    grads = pb(api._seed(value))
    p, t = _split(tuple(grads))
    return value, p, t


def hvp(f, args, directions):
    """The Hessian-vector product: one `H @ v` per argument of scalar `f`.

    `directions` has one entry per argument (None: not perturbed)."""
    args = tuple(args)
    _, _, t = _gradient_with_tangents(f, args, tuple(directions))
    return tuple(materialize(g, a) for g, a in zip(t[1:], args))


def hessian(f, x):
    """The Hessian of scalar `f` at `x`: shape `x.shape + x.shape` (a float
    for a float `x`), one Hessian-vector product per entry of `x`.

    >>> hessian(lambda x: x[0] ** 2 * x[1], np.array([1.0, 2.0]))
    array([[4., 2.],
           [2., 0.]])
    """
    if isinstance(x, dict) or not isinstance(x, (list, tuple, numbers.Real)) \
            and not hasattr(x, "shape"):
        raise TypeError(f"hessian takes a number, an array, or a list or tuple of numbers, "
                        f"not a {type(x).__name__}: flatten it into one array first")
    if isinstance(x, (list, tuple)):  # numbers (JAX's pytree): an n x n array
        if not all(isinstance(v, numbers.Real) for v in x):
            raise TypeError("hessian of a list or tuple takes one of numbers; for "
                            "arrays, pass one array (np.concatenate them)")
        columns = []
        for i in range(len(x)):
            e = type(x)(1.0 if j == i else 0.0 for j in range(len(x)))
            (h,) = hvp(f, (x,), (e,))
            columns.append(np.asarray(h, dtype=float))
        return np.stack(columns, axis=-1) if columns else np.zeros((0, 0))
    if not hasattr(x, "shape") or isinstance(x, np.generic):
        (h,) = hvp(f, (x,), (1.0,))
        return h
    xp = array_module(x)  # numpy or CuPy
    columns = []
    for i in range(x.size):
        e = xp.zeros(x.size, x.dtype)
        e[i] = 1
        (h,) = hvp(f, (x,), (e.reshape(x.shape),))
        columns.append(xp.asarray(h, dtype=x.dtype))
    if not columns:
        return xp.zeros(x.shape + x.shape, x.dtype)
    return xp.stack(columns, axis=-1).reshape(x.shape + x.shape)


# -- grad of grad ---------------------------------------------------------------
def _second_order_pullback(f, args, positions, with_value, log=()):
    """The pullback of `gradient(f, *args)[positions]` (and of f's value when
    `with_value`), for the outer level of a nested differentiation. It runs
    `f` again, on duals: what the first run drew through `replayed` (`log`)
    is replayed, so Dropout keeps its masks."""

    positions = (positions,) if isinstance(positions, int) else tuple(positions)

    def pullback(dout):
        dvalue, dgrad = dout if with_value else (ZERO, dout)
        if len(positions) == 1 and not isinstance(dgrad, tuple):
            dgrad = (dgrad,)
        directions = [None] * len(args)
        for i, d in zip(positions, dgrad):
            directions[i] = None if is_zero(d) else d
        if all(d is None for d in directions) and is_zero(dvalue):
            return (ZERO,) * (1 + len(args))
        # H v from the tangents, plus dvalue times the gradient for `with_value`
        with _draws(log, replaying=True):
            _, first, second = _gradient_with_tangents(f, args, directions)
        if is_zero(dvalue):
            return tuple(second)
        return tuple(add(g2, scale(g1, dvalue)) for g1, g2 in zip(first, second))

    return pullback


class _Draws:
    """The values `replayed` gave during one run of a nested gradient: recorded
    on its first run, given again in order on the second-order rerun."""

    __slots__ = ("index", "log", "replaying")

    def __init__(self, log, replaying):
        self.log, self.replaying, self.index = log, replaying, 0


_DRAWS: list = []  # the innermost nested gradient being run (recorded or replayed) last


@contextlib.contextmanager
def _draws(log, replaying):
    _DRAWS.append(_Draws(log, replaying))
    try:
        yield
    finally:
        _DRAWS.pop()


def replayed(draw, *args, **kwargs):
    """`draw(*args, **kwargs)`, for a value that must be the same each time a
    function runs: a random draw (Dropout's mask) or anything else with a
    side effect. A gradient taken inside differentiated code (a gradient
    penalty) is run again, on dual numbers, when the outer gradient is
    computed; that second run gets the first run's values, in order, instead
    of drawing new ones (which would pair one mask's value with another's
    gradient). Elsewhere it is `draw(*args, **kwargs)`."""
    if not _DRAWS:
        return draw(*args, **kwargs)
    frame = _DRAWS[-1]
    if not frame.replaying:
        value = draw(*args, **kwargs)
        frame.log.append(value)
        return value
    if frame.index >= len(frame.log):
        from .errors import ZygopyError

        raise ZygopyError(
            f"{getattr(draw, '__qualname__', draw)} drew more values when zygopy ran a "
            "nested gradient again (second order) than on its first run: its control "
            "flow must not depend on the values being differentiated")
    frame.index += 1
    return frame.log[frame.index - 1]


def rerunning() -> bool:
    """Whether a nested gradient is being run again for second order (see
    `replayed`): side effects such as BatchNorm's running statistics, made on
    the first run, are skipped."""
    return bool(_DRAWS) and _DRAWS[-1].replaying


nondifferentiable(replayed, rerunning)  # (their values carry no gradient)


def _refuse_third_order(args):
    if any(holds_dual(a) for a in args):
        from .errors import ZygopyError

        raise ZygopyError(
            "third-order derivatives are not supported: a gradient inside a "
            "second-order computation (grad of grad of grad, or hessian of a function "
            "that calls grad). Second derivatives nest one level of dual numbers.")


def _grad_function_rule(gf, *args, **kwargs):
    """Calling a `grad(f)` / `value_and_grad(f)` object inside differentiated code."""
    if kwargs:
        from .errors import ZygopyError

        raise ZygopyError(
            "a grad or value_and_grad function called with keyword arguments inside "
            "differentiated code (second order): pass them by position, with argnums "
            f"choosing what is differentiated (keywords given: {', '.join(kwargs)})")
    if gf.has_aux:
        raise NotImplementedError("differentiating value_and_grad(..., has_aux=True)")
    log = []
    with _draws(log, replaying=False):
        y = gf(*args)
    pb = _second_order_pullback(gf.f, args, gf.argnums, gf.with_value, log)

    def grad_function_pullback(dy):
        grads = _second_order_of_objects(pb, dy, (gf.f, *args))
        d_gf = Tangent(type(gf), f=grads[0]) if grads[0] not in (None, ZERO) else ZERO
        return (d_gf,) + tuple(grads[1:])

    return y, grad_function_pullback


RULES[(api.GradFunction, "__call__")] = _grad_function_rule


@rule(api.gradient)
def _gradient_rule(f, *args):
    """`zp.gradient(f, *args)` inside differentiated code."""
    if len(args) == 1 and isinstance(args[0], api.Params):
        raise NotImplementedError("differentiating gradient(f, params(...))")
    log = []
    with _draws(log, replaying=False):
        y = api.gradient(f, *args)
    pb = _second_order_pullback(f, args, tuple(range(len(args))), False, log)
    return y, lambda dy: _second_order_of_objects(pb, dy, (f, *args))


def _constructor_rule(make):
    """`grad(f)` builds an object; its tangent carries the tangent of `f`."""

    def grad_constructor_rule(f, *rest, **kwargs):
        y = make(f, *rest, **kwargs)

        def grad_constructor_pullback(d_gf):
            d_f = d_gf._fields.get("f", ZERO) if isinstance(d_gf, Tangent) else ZERO
            return (d_f,) + (None,) * len(rest)

        return y, grad_constructor_pullback

    return grad_constructor_rule


rule(api.grad)(_constructor_rule(api.grad))
rule(api.value_and_grad)(_constructor_rule(api.value_and_grad))


@rule(api.withgradient)
def _withgradient_rule(f, *args):
    """`zp.withgradient(f, *args)` inside differentiated code: the value and
    the gradient, both differentiated."""
    if len(args) == 1 and isinstance(args[0], api.Params):
        raise NotImplementedError("differentiating withgradient(f, params(...))")
    log = []
    with _draws(log, replaying=False):
        y = api.withgradient(f, *args)
    pb = _second_order_pullback(f, args, tuple(range(len(args))), True, log)
    return y, lambda dy: _second_order_of_objects(pb, dy, (f, *args))


def _not_differentiated_again(fn, name):
    """A rule for a transform zygopy cannot differentiate: it runs as it is when
    nothing it is given carries a gradient, and is refused when something does
    (instead of compiling zygopy's own code and failing somewhere inside)."""

    def not_differentiated_again_rule(*args, **kwargs):
        if any(map(dispatch.carries_gradient, args)) or \
                any(map(dispatch.carries_gradient, kwargs.values())):
            from .errors import ZygopyError

            raise ZygopyError(
                f"zp.{name} inside a function being differentiated: zygopy "
                "differentiates zp.gradient, zp.withgradient, zp.grad and "
                "zp.value_and_grad again (second derivatives), not zp.pullback, "
                "zp.jacobian, zp.jvp, zp.hvp or zp.hessian. Possible fixes: compute "
                "it outside, or write what the loss needs with zp.gradient of a scalar")
        y = fn(*args, **kwargs)
        return y, lambda dy: (None,) * len(args)

    not_differentiated_again_rule.__name__ = f"{name}_rule"
    rule(fn)(not_differentiated_again_rule)


for _fn in (api.pullback, jacobian, jvp, hvp, hessian):
    _not_differentiated_again(_fn, _fn.__name__)
