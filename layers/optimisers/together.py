"""Adam on many small parameters at once (multi-tensor apply, as PyTorch's
`foreach` optimisers).

A small model's step is ruled by numpy's cost per call: Adam makes a dozen
calls per parameter, each about a microsecond however few elements it
touches. The parameters of at most `SMALL` elements that share an Adam rule
(equal hyperparameters), dtype and step count are stepped as one flat array: their moments live in
one buffer (each leaf's state holds views of it), their gradients are copied
into one, the dozen calls run once for all, and each parameter then takes its
slice of the step. The arithmetic is `adam_moments`', elementwise, so every
parameter ends bitwise where a step of its own would put it.
"""

from __future__ import annotations

import numpy as np

from .rules import Adam, adam_moments, aligned_empty

SMALL = 16384  # elements: larger parameters are stepped one by one (their own
# calls cost little beside their work, and a copy of their gradient would not)


class _Group:
    """The flat buffers of some leaves: moments, scratch, gradients, and the
    views each leaf's state and parameter take of them."""

    __slots__ = ("g", "leaves", "m", "ms", "steps", "t", "v", "vs")

    def __init__(self, leaves, shapes, dtype):
        n = sum(int(np.prod(s)) for s in shapes)
        self.leaves = leaves
        self.m, self.v, self.t, self.g = (aligned_empty((n,), dtype) for _ in range(4))
        self.ms, self.vs, self.steps = [], [], []
        start = 0
        for leaf, shape in zip(leaves, shapes):
            end = start + int(np.prod(shape))
            m, v, bt = leaf.state
            self.ms.append(self.m[start:end].reshape(shape))
            self.vs.append(self.v[start:end].reshape(shape))
            self.ms[-1][...] = m  # (the moments so far: a model trained before)
            self.vs[-1][...] = v
            leaf.state = (self.ms[-1], self.vs[-1], bt)
            self.steps.append(self.t[start:end].reshape(shape))
            start = end

    def holds(self, leaves):
        """Whether these are still its leaves, with its views as their moments
        (a load, an adjust or a new setup replaces them)."""
        return len(leaves) == len(self.leaves) and all(
            a is b and a.state[0] is m and a.state[1] is v
            for a, b, m, v in zip(leaves, self.leaves, self.ms, self.vs))


def step_small(state, leaves, params, grads):
    """Step together the small parameters among `params` (their `leaves` of
    OptState `state`, their `grads` checked by `update`) that share the first
    one's Adam rule, dtype and step count; returns the indices stepped, or ()
    where fewer than two qualify (the caller steps the others one by one)."""
    picked = [i for i, (leaf, p) in enumerate(zip(leaves, params))
              if type(leaf.rule) is Adam and type(p) is np.ndarray and p.size <= SMALL]
    if len(picked) < 2:
        return ()
    first = leaves[picked[0]]
    rule, bt, dtype = first.rule, first.state[2], params[picked[0]].dtype
    picked = [i for i in picked if (leaves[i].rule is rule or leaves[i].rule == rule)
              and leaves[i].state[2] == bt and params[i].dtype == dtype]
    if len(picked) < 2:
        return ()
    chosen = [leaves[i] for i in picked]
    group = state.__dict__.get("_together")
    if group is None or not group.holds(chosen):
        group = state.__dict__["_together"] = _Group(chosen, [params[i].shape for i in picked],
                                                     dtype)
    np.concatenate([grads[i] for i in picked], axis=None, out=group.g)
    adam_moments(rule, group.m, group.v, bt, group.g, group.t)
    for i, step in zip(picked, group.steps):
        params[i] -= step
    bt = (bt[0] * rule.beta[0], bt[1] * rule.beta[1])
    for leaf, m, v in zip(chosen, group.ms, group.vs):
        leaf.state = (m, v, bt)
    return picked
