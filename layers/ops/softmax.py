"""Numerically stable softmax, logsoftmax and softmax cross-entropy, with rules.

All three subtract the maximum along `axis` before exponentiating, so no
input overflows; their pullbacks are written with numpy operations only.
"""

from __future__ import annotations

import numpy as np

from zygopy import rule


def softmax(x, axis=-1):
    """`exp(x) / sum(exp(x), axis)`, computed as `exp(x - max(x))` to avoid overflow.

    x: any shape; y has the same shape and sums to 1 along `axis`.
    """
    z = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return z / np.sum(z, axis=axis, keepdims=True)


@rule(softmax)
def softmax_rule(x, axis=-1):
    y = softmax(x, axis=axis)

    def softmax_pullback(dy):
        return (y * (dy - np.sum(dy * y, axis=axis, keepdims=True)),)

    return y, softmax_pullback


def logsoftmax(x, axis=-1):
    """`x - log(sum(exp(x), axis))`, computed with the maximum subtracted first."""
    s = x - np.max(x, axis=axis, keepdims=True)
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


@rule(logsoftmax)
def logsoftmax_rule(x, axis=-1):
    y = logsoftmax(x, axis=axis)

    def logsoftmax_pullback(dy):
        return (dy - np.exp(y) * np.sum(dy, axis=axis, keepdims=True),)

    return y, logsoftmax_pullback


def softmax_crossentropy(logits, target, axis=-1):
    """`-sum(target * logsoftmax(logits), axis)`: the cross-entropy per sample.

    logits, target: the same shape, e.g. (batch, classes); the result drops
    `axis`, e.g. (batch,). Stable for any finite logits.
    """
    return -np.sum(target * logsoftmax(logits, axis=axis), axis=axis)


@rule(softmax_crossentropy)
def softmax_crossentropy_rule(logits, target, axis=-1, _needed=(True, True)):
    """The probabilities exp(s) / sum(exp(s)) of the forward pass are kept for
    the pullback; the target's cotangent is made only when the caller
    differentiates the target (a label smoothing schedule, say)."""
    s = logits - np.max(logits, axis=axis, keepdims=True)
    e = np.exp(s)
    total_e = np.sum(e, axis=axis, keepdims=True)
    logp = s - np.log(total_e)
    y = -np.sum(target * logp, axis=axis)
    need_target = len(_needed) < 2 or _needed[1]

    def softmax_crossentropy_pullback(dy):
        dy = np.expand_dims(dy, axis)
        total = np.sum(target, axis=axis, keepdims=True)
        dlogits = dy * (e / total_e * total - target)
        return dlogits, (-dy * logp if need_target else None)

    return y, softmax_crossentropy_pullback


softmax_crossentropy_rule.takes_needed = True  # dispatch passes which cotangents are used


def softmax_crossentropy_mean(logits, target, axis=-1):
    """`mean(softmax_crossentropy(logits, target, axis))`: the mean cross-entropy
    over the samples, as one kernel (`logitcrossentropy`'s default `agg`).

    Its rule keeps no vector of per-sample losses and makes the gradient of the
    logits in three passes: a training step's loss costs about what it costs
    written by hand."""
    return np.mean(softmax_crossentropy(logits, target, axis=axis))


@rule(softmax_crossentropy_mean)
def softmax_crossentropy_mean_rule(logits, target, axis=-1, _needed=(True, True)):
    """As `softmax_crossentropy_rule`, the mean taken inside: the value is
    `-sum(target * logp) / n`, with n the number of samples (the size over the
    other axes)."""
    s = logits - np.max(logits, axis=axis, keepdims=True)
    e = np.exp(s)
    total_e = e.sum(axis=axis, keepdims=True)  # (methods of the kernel's own arrays:
    s -= np.log(total_e)  # one Python call fewer each; s is now log p)
    n = s.size // s.shape[axis]  # samples (none: nan, as mean gives; no classes: the
    # maximum above has already refused)
    y = -(target * s).sum() / n
    need_target = len(_needed) < 2 or _needed[1]

    def softmax_crossentropy_mean_pullback(dy):
        scale = dy / n
        total = np.sum(target, axis=axis, keepdims=True)  # 1 for labels that are
        dlogits = e * (total / total_e)  # probabilities; any row sums work
        dlogits -= target
        dlogits *= scale
        return dlogits, (s * -scale if need_target else None), None

    return y, softmax_crossentropy_mean_pullback


softmax_crossentropy_mean_rule.takes_needed = True
