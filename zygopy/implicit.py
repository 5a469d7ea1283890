"""Implicit parameters, Flux.params style: `gradient(() -> loss(), params(W, b))`."""

from __future__ import annotations

import types

import numpy as np

from .runtime import dispatch
from .runtime.structure import closure_fields, object_fields
from .runtime.tangents import ZERO, Tangent, add, zero_like


class Params:
    """An ordered set of arrays, identified by identity (tied arrays once)."""

    def __init__(self, arrays=()):
        self._arrays = []
        self._ids = set()
        for a in arrays:
            self.add(a)

    def add(self, array):
        if id(array) not in self._ids:
            self._ids.add(id(array))
            self._arrays.append(array)

    def __iter__(self):
        return iter(self._arrays)

    def __len__(self):
        return len(self._arrays)

    def __contains__(self, array):
        return id(array) in self._ids

    def __getitem__(self, i):
        return self._arrays[i]

    def __repr__(self):
        shapes = ", ".join(str(getattr(a, "shape", "?")) for a in self._arrays)
        return f"Params([{shapes}])"


def params(*xs):
    """`Params` of the given arrays (or of every array inside given objects)."""
    ps = Params()
    for x in xs:
        if isinstance(x, (int, float, complex, np.generic)):
            raise TypeError(
                f"params takes arrays, or objects and containers holding them, not a "
                f"{type(x).__name__}: a number cannot be told apart by identity "
                "(gs[p] looks parameters up by the array itself). Use a 0-d array, "
                "np.array(1.0), or differentiate the number as an argument")
        _collect(x, ps)
    return ps


def _collect(x, ps):
    if getattr(getattr(x, "dtype", None), "kind", "") in "fc" and hasattr(x, "shape"):
        ps.add(x)
    elif isinstance(x, (list, tuple)):
        for v in x:
            _collect(v, ps)
    elif isinstance(x, dict):
        for v in x.values():
            _collect(v, ps)
    elif isinstance(x, Params):
        for v in x:
            ps.add(v)
    else:
        fields = object_fields(x)
        for v in (fields or {}).values():
            _collect(v, ps)


class Grads:
    """Gradients looked up by the parameter array itself: `gs[W]`."""

    def __init__(self, params, grads):
        self.params = params
        self._grads = grads  # id -> gradient

    def __getitem__(self, array):
        try:
            return self._grads[id(array)]
        except KeyError:
            raise KeyError("this array is not one of the Params the gradient was "
                           "taken with respect to") from None

    def __contains__(self, array):
        return id(array) in self._grads

    def __iter__(self):
        return iter(self.params)

    def items(self):
        return [(p, self._grads[id(p)]) for p in self.params]

    def values(self):
        return [self._grads[id(p)] for p in self.params]

    def __len__(self):
        return len(self.params)

    def __add__(self, other):
        """Gradients added parameter by parameter (accumulated over batches, as
        Zygote's `gs1 .+ gs2`); `sum` of a list of Grads works too."""
        if isinstance(other, (int, float)) and other == 0:
            return self
        if not isinstance(other, Grads) or [id(p) for p in other.params] != \
                [id(p) for p in self.params]:
            return NotImplemented
        return Grads(self.params, {k: add(g, other._grads[k]) for k, g in self._grads.items()})

    __radd__ = __add__

    def __repr__(self):
        return f"Grads({len(self)} arrays)"


class _Context:
    """Collects adjoints of the Params' arrays while a backward pass runs."""

    def __init__(self, ps):
        self.ps = ps
        self.grads = {}

    def accumulate(self, x, dx):
        if id(x) in self.ps._ids:
            self.grads[id(x)] = add(self.grads.get(id(x), ZERO), dx)
            return
        if isinstance(x, types.FunctionType) and isinstance(dx, Tangent):
            fields = closure_fields(x)  # a closure: its tangent has one field per cell
        else:
            fields = object_fields(x) if isinstance(dx, Tangent) else None
        if isinstance(x, types.MethodType) and isinstance(dx, Tangent):
            self.accumulate(x.__self__, dx)
        elif fields:
            for name, value in fields.items():
                self.accumulate(value, dx._fields.get(name, ZERO))
        elif isinstance(x, (list, tuple)) and isinstance(dx, (list, tuple)):
            for v, d in zip(x, dx):
                self.accumulate(v, d)
        elif isinstance(x, dict) and isinstance(dx, dict):
            for k, d in dx.items():
                if k in x:
                    self.accumulate(x[k], d)


def _implicit_pullback(f, ps):
    """Pullback of a zero-argument `f` with respect to the implicit `ps`."""
    from .api import plain, top_call

    f = plain(f)
    ctx = _Context(ps)
    with dispatch.implicit(ctx):
        y, pb = top_call(f, (), need_free=True)  # its closure too: a model held there

    def back_implicit(dy):
        ctx.grads = {}
        with dispatch.implicit(ctx):
            d_f = pb(ZERO if dy is None else dy)[0]
            # what `f` closes over (a model in a closure, a bound method's self)
            ctx.accumulate(f, d_f)
        grads = {id(p): ctx.grads.get(id(p), ZERO) for p in ps}
        return Grads(ps, {k: (zero_like(p) if g is ZERO else g)
                          for (k, g), p in zip(grads.items(), ps)})

    return y, back_implicit
