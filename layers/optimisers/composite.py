"""Gradient transformations (weight decay, clipping) and `OptimiserChain`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .rules import Rule, _cast


@dataclass
class WeightDecay(Rule):
    """L2 regularisation: ``g ← g + λ x`` with ``λ = decay``.

    Put it first in an `OptimiserChain`: ``OptimiserChain(WeightDecay(), Adam())``
    equals adding ``λ/2 ‖x‖²`` to the loss.
    """

    decay: float = 5e-4

    def apply(self, state, param, grad):
        return state, _cast(grad + self.decay * param, param)


@dataclass
class ClipGrad(Rule):
    """Clip every gradient component to ``[-δ, δ]`` (``δ = delta``)."""

    delta: float = 10.0

    def apply(self, state, param, grad):
        return state, _cast(np.clip(grad, -self.delta, self.delta), param)


def _norm(g, p):
    a = np.abs(g)
    if p == np.inf:
        return float(np.max(a)) if a.size else 0.0
    return float(np.sum(a.astype(np.float64) ** p) ** (1 / p))


@dataclass
class ClipNorm(Rule):
    """Rescale each gradient array whose p-norm exceeds ω: ``g ← g · min(1, ω/‖g‖ₚ)``.

    A non-finite norm raises `FloatingPointError` (set ``throw=False`` to let it pass).
    """

    omega: float = 10.0
    p: float = 2.0
    throw: bool = True

    def apply(self, state, param, grad):
        norm = _norm(grad, self.p)
        if not np.isfinite(norm):
            if self.throw:
                raise FloatingPointError(
                    f"ClipNorm: gradient has {self.p}-norm {norm} for an array of "
                    f"shape {param.shape}"
                )
            return state, grad
        scale = min(1.0, self.omega / norm) if norm > 0 else 1.0
        return state, _cast(grad * scale, param)


@dataclass
class ClipGlobalNorm(Rule):
    """Rescale all gradients together: ``g ← g · min(1, ω / √(Σ over params ‖g‖²))``.

    It needs every gradient at once, so the update driver (`update` in either
    style) applies it to all the gradients of one `update` call *before* the
    per-parameter rules run. It must therefore be the rule itself or the first
    rule of an `OptimiserChain` (`setup`/`update` raise `ValueError` otherwise).
    Its own `apply` is the identity. A non-finite global norm raises
    `FloatingPointError` unless ``throw=False``.
    """

    omega: float = 1.0
    throw: bool = True

    def apply(self, state, param, grad):
        return state, grad

    def scale(self, grads) -> float:
        """The factor ``min(1, ω/‖g‖)`` for a list of gradient arrays."""
        total = float(np.sqrt(sum(_norm(g, 2) ** 2 for g in grads)))
        if not np.isfinite(total):
            if self.throw:
                raise FloatingPointError(
                    f"ClipGlobalNorm: global gradient norm is {total}"
                )
            return 1.0
        return min(1.0, self.omega / total) if total > 0 else 1.0


class OptimiserChain(Rule):
    """Compose rules: each transforms the update of the previous one, in order.

    ``OptimiserChain(ClipGrad(1.0), WeightDecay(), Descent(0.1))``: clip, add
    ``λx``, then scale by η. The empty chain is the identity (``Descent(1)``).
    The state is a tuple of the member states.
    """

    def __init__(self, *rules):
        for r in rules:
            if not isinstance(r, Rule):
                raise TypeError(f"OptimiserChain takes rules, got {type(r).__name__}")
        self.rules = tuple(rules)

    def init(self, param):
        return tuple(r.init(param) for r in self.rules)

    def apply(self, state, param, grad):
        new = []
        for rule, s in zip(self.rules, state):
            s, grad = rule.apply(s, param, grad)
            new.append(s)
        return tuple(new), grad

    def __eq__(self, other):
        return isinstance(other, OptimiserChain) and self.rules == other.rules

    __hash__ = None

    def __repr__(self):
        return f"OptimiserChain({', '.join(map(repr, self.rules))})"
