"""Applying rules to parameters: implicit `update(opt, params, grads)` and explicit
`setup`/`update(state, model, grads)`, plus `adjust` for hyperparameters.

Implicit style (old Flux ``update!(opt, ps, gs)``): the per-parameter state is
kept inside the rule object, keyed by array identity, and the arrays are
updated in place. Explicit style (``Flux.setup``/``update!``): `setup` returns
an `OptState` holding one `Leaf` (rule + state) per parameter path;
``state, model = update(state, model, grads)`` with the structural gradient
updates the model's arrays **in place** and the state's leaves in place, and
returns both (always use the returned values).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from zygopy.implicit import Params
from zygopy.runtime.tangents import Tangent, is_zero

from .. import functor
from ..functor import is_array
from . import together
from .composite import ClipGlobalNorm, OptimiserChain
from .rules import Rule
from .schedules import Scheduler


class Leaf:
    """One parameter's optimiser state: the `rule` and its `state`."""

    __slots__ = ("rule", "state")

    def __init__(self, rule, state):
        self.rule, self.state = rule, state

    def __repr__(self):
        return f"Leaf({self.rule!r})"


class OptState:
    """The explicit optimiser state of a model, from `setup`.

    ``state.leaves`` maps each trainable parameter path (``"layers.0.weight"``)
    to its `Leaf`; ``state["layers.0.weight"]`` is a shortcut.
    """

    def __init__(self, rule, leaves):
        self.rule, self.leaves = rule, leaves

    def __getitem__(self, path):
        return self.leaves[path]

    def __getstate__(self):
        # (copied or pickled, the leaves' moments become arrays of their own:
        # the copy lays them out anew at its first update, see `together`)
        return {k: v for k, v in self.__dict__.items() if k != "_together"}

    def __len__(self):
        return len(self.leaves)

    def __repr__(self):
        return f"OptState({self.rule!r}, {len(self.leaves)} parameters)"


def _check_rule(rule):
    if not isinstance(rule, Rule):
        raise TypeError(
            f"expected an optimisation rule such as Adam(), got {type(rule).__name__}"
        )
    if _clips_later(rule):
        raise ValueError(
            "ClipGlobalNorm must be the first rule of an OptimiserChain (of the "
            "outermost one, where chains are nested): it rescales the raw gradients "
            "of all parameters before the other rules"
        )


def _clips_later(rule, first=True):
    """Whether a ClipGlobalNorm in `rule` acts after another rule."""
    if isinstance(rule, Scheduler):
        return _clips_later(rule.rule, first)
    if isinstance(rule, OptimiserChain):
        return any(_clips_later(r, first and i == 0) for i, r in enumerate(rule.rules))
    return isinstance(rule, ClipGlobalNorm) and not first


def _leading(rule, state):
    """The rule that acts first on the raw gradients, as it is for this step:
    through the first members of chains and through schedulers, set for the
    step count in `state` (one parameter's state, which holds it)."""
    while True:
        if isinstance(rule, Scheduler):
            t, state = state if state is not None else (0, None)
            rule = rule.rule_at(t)
        elif isinstance(rule, OptimiserChain) and rule.rules:
            rule, state = rule.rules[0], state[0] if state is not None else None
        else:
            return rule


def _global_clip(rule, grads, state):
    """Rescale all gradients if `rule` starts with ClipGlobalNorm (`state`:
    the first parameter's, for the step count of schedules)."""
    if not grads:
        return grads
    first = _leading(rule, state)
    if not isinstance(first, ClipGlobalNorm):
        return grads
    scale = first.scale(grads)
    return grads if scale == 1.0 else [g * scale for g in grads]


def _as_grad(g, param, where):
    """`g` as the gradient of `param`: its shape (checked), dtype and layout
    (`where`: the parameter's path, for the error; None in implicit style)."""
    if type(g) is np.ndarray and type(param) is np.ndarray and g.dtype is param.dtype \
            and g.shape == param.shape and g.flags.c_contiguous:
        return g  # (the common case: a gradient made for this parameter)
    xp_array = g if is_array(g) else np.asarray(g)
    if xp_array.shape != param.shape:
        where = f"array {param.shape}" if where is None else repr(where)
        raise ValueError(
            f"gradient for {where} has shape {xp_array.shape}, parameter has {param.shape}"
        )
    g = xp_array.astype(param.dtype, copy=False)
    if param.flags.c_contiguous and not g.flags.c_contiguous:
        # e.g. the transposed gradient of a Dense weight: elementwise updates
        # on mismatched layouts run several times slower than this one copy
        g = g.copy(order="C")
    return g


def setup(rule, model) -> OptState:
    """Initialise explicit optimiser state for every trainable parameter of `model`.

    ``state = setup(Adam(), model)``; then ``state, model = update(state, model, g)``.
    """
    _check_rule(rule)
    params = functor.parameters(model)
    state = OptState(rule, {path: Leaf(rule, rule.init(p)) for path, p in params})
    together.lay_out(state, [p for _, p in params])  # small Adam parameters' moments
    return state


def update(opt_or_state, model_or_params, grads):
    """One optimisation step; dispatches on the first argument.

    * ``update(state, model, grads)`` with an `OptState` from `setup` and the
      structural gradient of `model` (a `zygopy.Tangent` tree): updates the
      arrays in place and returns ``(state, model)``. Parameters without a
      gradient (None/ZERO) are left alone; a tied array gets the sum of its
      gradients.
    * ``update(rule, params, grads)`` (implicit): `params` is a
      ``zygopy.Params``, a list of arrays or one array; `grads` a
      ``zygopy.Grads`` (``grads[p]``), a dict keyed by ``id(p)``, a list
      matching `params`, or one array. State lives in the rule, keyed by
      array identity. Updates in place and returns None.
    """
    if isinstance(opt_or_state, OptState):
        return _update_explicit(opt_or_state, model_or_params, grads)
    if isinstance(opt_or_state, Rule):
        return _update_implicit(opt_or_state, model_or_params, grads)
    raise TypeError(
        "update expects an OptState from setup(rule, model) or a rule such as "
        f"Adam() as its first argument, got {type(opt_or_state).__name__}"
    )


def _update_explicit(state, model, grads):
    triples = functor.gradient_pairs(model, grads)
    gs = [_as_grad(g, p, path) for path, p, g in triples]
    if triples:
        leaf = state.leaves.get(triples[0][0])
        gs = _global_clip(state.rule, gs, leaf.state if leaf is not None else None)
    leaves = []
    for path, param, _ in triples:  # (all checked before anything changes)
        leaf = state.leaves.get(path)
        if leaf is None:
            raise KeyError(
                f"no optimiser state for parameter {path!r}: the model gained or "
                "renamed parameters (or was thawed) after setup; call setup again"
            )
        if type(param) is np.ndarray and not param.flags.writeable:
            raise ValueError(f"parameter {path!r} is read-only: update changes parameters "
                             "in place (make it writeable, or a copy: param.copy())")
        leaves.append(leaf)
    params = [p for _, p, _ in triples]
    done = set(together.step_small(state, leaves, params, gs))  # small Adam ones at once
    for i, (leaf, param, g) in enumerate(zip(leaves, params, gs)):
        if i not in done:
            leaf.state = leaf.rule.step(leaf.state, param, g)  # in place (see Rule.step)
    return state, model


def _implicit_pairs(params, grads):
    if is_array(params):
        return [(params, grads)]
    params = list(params)
    if isinstance(grads, dict):
        return [(p, grads.get(id(p))) for p in params]
    if isinstance(grads, (list, tuple)) or hasattr(grads, "__next__"):
        grads = list(grads)
        if len(grads) != len(params):
            raise ValueError(f"{len(grads)} gradients for {len(params)} parameters")
        return list(zip(params, grads))
    pairs = []
    for p in params:
        try:
            pairs.append((p, grads[p]))
        except KeyError:
            pairs.append((p, None))
    return pairs


def _update_implicit(rule, params, grads):
    _check_rule(rule)
    if isinstance(grads, Tangent) or not isinstance(params, (list, tuple, Params)) \
            and functor._object_fields(params) is not None:
        raise TypeError(
            f"update({type(rule).__name__}(...), model, grads) with a model and its "
            "structural gradient needs the optimiser state first: state = "
            "setup(rule, model), then state, model = update(state, model, grads) "
            "(or update(rule, params(model), grads) with implicit gradients)"
        )
    store = rule.__dict__.setdefault("_implicit", {})  # id -> (param, state)
    pairs = [(p, g) for p, g in _implicit_pairs(params, grads) if not is_zero(g)]
    states = []
    for p, _ in pairs:
        entry = store.get(id(p))
        states.append(entry[1] if entry is not None and entry[0] is p else rule.init(p))
    gs = [_as_grad(g, p, None) for p, g in pairs]
    gs = _global_clip(rule, gs, states[0] if states else None)
    for (p, _), g, state in zip(pairs, gs, states):
        store[id(p)] = (p, rule.step(state, p, g))


def adjust(opt_or_state, lr=None, **hyperparams):
    """A copy with hyperparameters changed: ``adjust(opt, lr=1e-4, beta=(0.8, 0.99))``.

    ``lr`` is an alias of ``eta``. On an `OptimiserChain` (or `Scheduler`), each
    member rule that has a field gets the value; a name no rule has is an
    error. On an `OptState`, returns a new state with every leaf's rule
    adjusted and the same per-parameter states. The implicit state kept in a
    rule carries over to the copy.
    """
    if lr is not None:
        hyperparams["eta"] = lr
    if isinstance(opt_or_state, OptState):
        new_rule = adjust(opt_or_state.rule, **hyperparams)
        adjusted = {}  # leaves sharing a rule share its adjusted copy

        def adjusted_rule(rule):
            if id(rule) not in adjusted:
                adjusted[id(rule)] = adjust(rule, **hyperparams)
            return adjusted[id(rule)]

        leaves = {k: Leaf(adjusted_rule(v.rule), v.state)
                  for k, v in opt_or_state.leaves.items()}
        state = OptState(new_rule, leaves)
        group = opt_or_state.__dict__.get("_together")
        if group is not None:  # the same moments, laid out as they were
            by_old = dict(zip(map(id, opt_or_state.leaves.values()), leaves.values()))
            state._together = group.for_leaves([by_old[id(leaf)] for leaf in group.leaves])
        return state
    rule = opt_or_state
    missing = [k for k in hyperparams if not _has_field(rule, k)]
    if missing:
        raise TypeError(f"{rule!r} has no hyperparameter {missing[0]!r}")
    return _adjust(rule, hyperparams)


def _has_field(rule, name):
    if isinstance(rule, OptimiserChain):
        return any(_has_field(r, name) for r in rule.rules)
    if isinstance(rule, Scheduler):
        return _has_field(rule.rule, name)
    return dataclasses.is_dataclass(rule) and name in {
        f.name for f in dataclasses.fields(rule)
    }


def _adjust(rule, hyper):
    if isinstance(rule, OptimiserChain):
        new = OptimiserChain(*(_adjust(r, hyper) for r in rule.rules))
    elif isinstance(rule, Scheduler):
        new = Scheduler(_adjust(rule.rule, hyper), **rule.schedules)
    else:
        mine = {k: v for k, v in hyper.items() if _has_field(rule, k)}
        new = dataclasses.replace(rule, **mine) if mine else rule
    if new is not rule and "_implicit" in rule.__dict__:
        new.__dict__["_implicit"] = rule.__dict__["_implicit"]
    return new
