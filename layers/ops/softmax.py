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


def _log_probabilities(logits, axis):
    """`(e, total_e, logp)` of the stable softmax along `axis`: `e` the
    exponentials of the logits less their maximum, `total_e` their sums (kept
    dimensions) and `logp` the log-probabilities, made in place of the
    shifted logits (the cross-entropy kernels keep all three)."""
    logp = logits - np.max(logits, axis=axis, keepdims=True)
    e = np.exp(logp)
    total_e = e.sum(axis=axis, keepdims=True)
    if logp.dtype.kind == "f":
        logp -= np.log(total_e)
    else:  # (integer logits: the log-probabilities are floats)
        logp = logp - np.log(total_e)
    return e, total_e, logp


@rule(softmax_crossentropy)
def softmax_crossentropy_rule(logits, target, axis=-1, _needed=(True, True)):
    """The probabilities exp(s) / sum(exp(s)) of the forward pass are kept for
    the pullback; the target's cotangent is made only when the caller
    differentiates the target (a label smoothing schedule, say)."""
    e, total_e, logp = _log_probabilities(logits, axis)
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
    e, total_e, s = _log_probabilities(logits, axis)
    n = s.size // s.shape[axis]  # samples (none: nan, as mean gives; no classes: the
    # maximum has already refused)
    y = -(target * s).sum() / n  # (a method of the kernel's own array: one call fewer)
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
