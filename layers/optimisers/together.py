"""Adam on many small parameters at once (multi-tensor apply, as PyTorch's
`foreach` optimisers).

A small model's step is ruled by numpy's cost per call: Adam makes a dozen
calls per parameter, each about a microsecond however few elements it
touches. `setup` lays the moments of the parameters of at most `SMALL`
elements that share its Adam rule and a dtype end to end in one buffer (each
leaf's state holds views of it: `adjust` and `io` see and share them as
before); `update` then steps them as one flat array whenever all of them have
a gradient and one step count: their gradients are copied into one buffer,
the dozen calls run once for all, and each parameter takes its slice of the
step. The arithmetic is `adam_moments`', elementwise, so every parameter ends
bitwise where a step of its own would put it. Anything else (a leaf without a
gradient this step, step counts apart, moments replaced) is stepped one
parameter at a time.
"""

from __future__ import annotations

import math

import numpy as np

from .rules import Adam, adam_moments, aligned_empty

SMALL = 16384  # elements: larger parameters are stepped one by one (their own
# calls cost little beside their work, and a copy of their gradient would not)


class _Group:
    """The flat buffers of some leaves: moments, scratch, gradients, and the
    views each leaf's state and parameter take of them."""

    __slots__ = ("dtype", "g", "leaves", "m", "ms", "rule", "steps", "t", "v", "vs")

    def __init__(self, leaves, shapes, dtype):
        n = sum(math.prod(s) for s in shapes)
        self.leaves, self.rule, self.dtype = leaves, leaves[0].rule, dtype
        self.m, self.v, self.t, self.g = (aligned_empty((n,), dtype) for _ in range(4))
        self.ms, self.vs, self.steps = [], [], []
        start = 0
        for leaf, shape in zip(leaves, shapes):
            end = start + math.prod(shape)
            m, v, bt = leaf.state
            self.ms.append(self.m[start:end].reshape(shape))
            self.vs.append(self.v[start:end].reshape(shape))
            self.ms[-1][...] = m  # (the moments so far: zeros from `setup`, or a
            self.vs[-1][...] = v  # state whose moments were replaced)
            leaf.state = (self.ms[-1], self.vs[-1], bt)
            self.steps.append(self.t[start:end].reshape(shape))
            start = end

    def for_leaves(self, leaves):
        """The same buffers for other Leaf objects holding the same states
        (`adjust`'s copy of an OptState)."""
        twin = object.__new__(_Group)
        for name in _Group.__slots__:
            setattr(twin, name, getattr(self, name))
        twin.leaves = leaves
        twin.rule = leaves[0].rule
        return twin


def lay_out(state, params):
    """Give the small Adam parameters among `params` (in the order of
    `state.leaves`) moments laid end to end (`state._together`), or none."""
    leaves = list(state.leaves.values())
    picked = _small(leaves, params)
    state.__dict__["_together"] = _Group([leaves[i] for i in picked],
                                         [params[i].shape for i in picked],
                                         params[picked[0]].dtype) if picked else None


def _small(leaves, params):
    """Indices of the parameters that may be stepped together: small numpy
    arrays under the first such one's Adam rule (the same object), of its
    dtype, with moments of that dtype; none unless at least two."""
    picked = [i for i, (leaf, p) in enumerate(zip(leaves, params))
              if type(leaf.rule) is Adam and type(p) is np.ndarray and p.size <= SMALL
              and type(leaf.state) is tuple and type(leaf.state[0]) is np.ndarray
              and leaf.state[0].dtype == p.dtype]
    if not picked:
        return []
    rule, dtype = leaves[picked[0]].rule, params[picked[0]].dtype
    picked = [i for i in picked if leaves[i].rule is rule and params[i].dtype == dtype]
    return picked if len(picked) > 1 else []


def step_small(state, leaves, params, grads):
    """Step the parameters of `state`'s group together when all of them are
    among `params` (with their `leaves` and `grads`, checked by `update`),
    untouched since and at one step count; returns the indices stepped, or ()
    (the caller steps each parameter alone)."""
    group = state.__dict__.get("_together")
    if group is None:
        return ()
    where = {id(leaf): i for i, leaf in enumerate(leaves)}
    picked = [where.get(id(leaf)) for leaf in group.leaves]
    if None in picked:  # (a parameter without a gradient this step: its moments stay)
        return ()
    bt = group.leaves[0].state[2]
    for i, leaf, m, v in zip(picked, group.leaves, group.ms, group.vs):
        held = leaf.state
        if held[0] is not m or held[1] is not v or held[2] != bt \
                or leaf.rule is not group.rule or params[i].dtype != group.dtype \
                or params[i].shape != m.shape:
            if held[0] is not m or held[1] is not v:  # moments replaced: laid
                lay_out(state, _parameters(state, leaves, params))
            return ()  # out again for the next step; this one, one by one
    np.concatenate([grads[i] for i in picked], axis=None, out=group.g)
    adam_moments(group.rule, group.m, group.v, bt, group.g, group.t)
    for i, step in zip(picked, group.steps):
        params[i] -= step
    bt = (bt[0] * group.rule.beta[0], bt[1] * group.rule.beta[1])
    for leaf, m, v in zip(group.leaves, group.ms, group.vs):
        leaf.state = (m, v, bt)
    return picked


def _parameters(state, leaves, params):
    """The parameter of each leaf of `state`, in its order, where this step
    has one (None for the others: they are not laid out)."""
    by_leaf = {id(leaf): p for leaf, p in zip(leaves, params)}
    return [by_leaf.get(id(leaf)) for leaf in state.leaves.values()]
