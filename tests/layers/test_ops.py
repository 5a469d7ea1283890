"""layers.ops kernels: values against loops, rules against central differences."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from layers.ops import (
    conv2d,
    conv2d_data_grad,
    conv2d_filter_grad,
    gather_windows,
    logsoftmax,
    maxpool2d,
    meanpool2d,
    meanpool2d_adjoint,
    scatter_windows,
    softmax,
    softmax_crossentropy,
    softmax_crossentropy_mean,
)
from layers.ops.conv import pads
from layers.ops.pool import maxpool_indices
from zygopy.testing import check_rule


def conv_reference(x, w, stride=1, pad=0, dilation=1, groups=1, flipped=False):
    """Direct loops over output positions: the definition of cross-correlation."""
    s = (stride, stride) if isinstance(stride, int) else stride
    d = (dilation, dilation) if isinstance(dilation, int) else dilation
    o_, cg, kh, kw = w.shape
    p = pads(pad, (kh, kw), d)
    if flipped:
        w = w[:, :, ::-1, ::-1]
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[1]), (p[2], p[3])))
    ho = (xp.shape[2] - d[0] * (kh - 1) - 1) // s[0] + 1
    wo = (xp.shape[3] - d[1] * (kw - 1) - 1) // s[1] + 1
    y = np.zeros((x.shape[0], o_, ho, wo))
    for o in range(o_):
        g = o // (o_ // groups)
        for i in range(ho):
            for j in range(wo):
                patch = xp[
                    :,
                    g * cg : (g + 1) * cg,
                    i * s[0] : i * s[0] + d[0] * (kh - 1) + 1 : d[0],
                    j * s[1] : j * s[1] + d[1] * (kw - 1) + 1 : d[1],
                ]
                y[:, o, i, j] = np.sum(patch * w[o], axis=(1, 2, 3))
    return y


CONFIGS = [
    dict(),
    dict(stride=2),
    dict(pad=1),
    dict(pad=(1, 2, 0, 1), stride=(2, 1)),
    dict(dilation=2, pad=2),
    dict(groups=2),
    dict(groups=2, stride=2, dilation=(1, 2), pad=(1, 0)),
    dict(flipped=True, pad=1),
    dict(pad="same", dilation=2),
]


def _case(rng, cfg, n=2, c=4, o=6, h=7, w=6, k=(3, 2)):
    groups = cfg.get("groups", 1)
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((o, c // groups) + k)
    return x, wt


@pytest.mark.parametrize("cfg", CONFIGS, ids=str)
def test_conv2d_matches_loops(cfg):
    x, w = _case(np.random.default_rng(1), cfg)
    np.testing.assert_allclose(
        conv2d(x, w, **cfg), conv_reference(x, w, **cfg), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("cfg", CONFIGS, ids=str)
def test_conv2d_rules(cfg):
    rng = np.random.default_rng(2)
    x, w = _case(rng, cfg)
    y = conv2d(x, w, **cfg)
    check_rule(conv2d, x, w, **cfg)
    check_rule(conv2d_data_grad, y, w, x_shape=x.shape, **cfg)
    check_rule(conv2d_filter_grad, x, y, w_shape=w.shape, **cfg)


@given(
    n=st.integers(1, 2),
    cg=st.integers(1, 2),
    og=st.integers(1, 2),
    groups=st.integers(1, 2),
    h=st.integers(3, 6),
    w=st.integers(3, 6),
    kh=st.integers(1, 3),
    kw=st.integers(1, 3),
    s=st.integers(1, 2),
    p=st.integers(0, 2),
    d=st.integers(1, 2),
    flipped=st.booleans(),
)
def test_conv2d_rule_random_shapes(n, cg, og, groups, h, w, kh, kw, s, p, d, flipped):
    if h + 2 * p < d * (kh - 1) + 1 or w + 2 * p < d * (kw - 1) + 1:
        return
    rng = np.random.default_rng(h * 7 + w)
    x = rng.standard_normal((n, cg * groups, h, w))
    wt = rng.standard_normal((og * groups, cg, kh, kw))
    cfg = dict(stride=s, pad=p, dilation=d, groups=groups, flipped=flipped)
    np.testing.assert_allclose(
        conv2d(x, wt, **cfg), conv_reference(x, wt, **cfg), atol=1e-12
    )
    check_rule(conv2d, x, wt, **cfg)


def test_conv2d_keeps_float32_and_names_shapes():
    x = np.ones((1, 3, 5, 5), np.float32)
    w = np.ones((2, 3, 3, 3), np.float32)
    assert conv2d(x, w).dtype == np.float32
    with pytest.raises(
        ValueError, match=r"conv2d: input .*\(1, 3, 5, 5\).*\(2, 2, 3, 3\)"
    ):
        conv2d(x, np.ones((2, 2, 3, 3)))
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv2d(x, np.ones((2, 3, 7, 7)))


def _distinct(rng, shape):
    """Ties-free input: a random permutation of well-separated values."""
    return (
        rng.permutation(np.arange(np.prod(shape), dtype=np.float64)).reshape(shape) / 7
    )


@pytest.mark.parametrize(
    "cfg",
    [
        dict(kernel=2),
        dict(kernel=3, stride=2, pad=1),
        dict(kernel=(2, 3), stride=1),
        dict(kernel=3, stride=(1, 2)),
    ],
    ids=str,
)
def test_pooling_values_and_rules(cfg):
    rng = np.random.default_rng(3)
    x = _distinct(rng, (2, 3, 7, 6))
    k = cfg["kernel"] if isinstance(cfg["kernel"], tuple) else (cfg["kernel"],) * 2
    s = cfg.get("stride", k)
    s = s if isinstance(s, tuple) else (s, s)
    p = cfg.get("pad", 0)
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
    xz = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    y, m = maxpool2d(x, **cfg), meanpool2d(x, **cfg)
    for i in range(y.shape[2]):
        for j in range(y.shape[3]):
            win = (
                slice(None),
                slice(None),
                slice(i * s[0], i * s[0] + k[0]),
                slice(j * s[1], j * s[1] + k[1]),
            )
            np.testing.assert_allclose(y[:, :, i, j], xp[win].max(axis=(2, 3)))
            np.testing.assert_allclose(m[:, :, i, j], xz[win].mean(axis=(2, 3)))
    check_rule(maxpool2d, x, **cfg)
    check_rule(meanpool2d, x, **cfg)
    check_rule(meanpool2d_adjoint, m, shape=x.shape, **cfg)
    idx = maxpool_indices(x, **cfg)
    check_rule(gather_windows, x, idx)
    check_rule(scatter_windows, y, idx, shape=x.shape)


def test_pooling_float32_and_bad_window():
    x = np.ones((1, 1, 4, 4), np.float32)
    assert maxpool2d(x, kernel=2).dtype == meanpool2d(x, kernel=2).dtype == np.float32
    with pytest.raises(ValueError, match="pooling"):
        maxpool2d(x, kernel=5)


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_rules(axis):
    x = np.random.default_rng(4).standard_normal((3, 4))
    t = np.random.default_rng(5).random((3, 4))
    check_rule(softmax, x, axis=axis)
    check_rule(logsoftmax, x, axis=axis)
    check_rule(softmax_crossentropy, x, t, axis=axis)
    check_rule(softmax_crossentropy_mean, x, t, axis=axis)
    e = np.exp(x)
    np.testing.assert_allclose(softmax(x, axis), e / e.sum(axis, keepdims=True))
    np.testing.assert_allclose(logsoftmax(x, axis), np.log(softmax(x, axis)))


@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    axis_at=st.integers(0, 2),
    scale=st.sampled_from([1.0, 30.0, 1e3]),
    one_hot=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_mean_crossentropy_kernel(shape, axis_at, scale, one_hot, seed):
    """The fused mean kernel against the mean of the per-sample kernel, and its
    rule against central differences, over shapes, axes, large logits and
    one-hot or soft (unnormalised) targets."""
    rng = np.random.default_rng(seed)
    axis = axis_at % len(shape) - (axis_at % 2) * len(shape)  # both signs
    x = scale * rng.standard_normal(shape)
    if one_hot:
        t = np.moveaxis(np.eye(shape[axis])[rng.integers(0, shape[axis], x.size // shape[axis])]
                        .reshape(*np.delete(shape, axis % len(shape)), shape[axis]), -1, axis)
    else:
        t = rng.random(shape)
    want = np.mean(softmax_crossentropy(x, t, axis=axis))
    np.testing.assert_allclose(softmax_crossentropy_mean(x, t, axis), want, rtol=1e-12)
    if scale == 1.0:  # (large logits: central differences cross the kinks of the max)
        check_rule(softmax_crossentropy_mean, x, t, axis=axis)


def test_crossentropy_rules_take_integer_logits():
    from layers.ops.softmax import (
        softmax_crossentropy_mean_rule,
        softmax_crossentropy_rule,
    )

    logits, target = np.array([[1, 2, 3], [0, 0, 5]]), np.array([[0.0, 0.0, 1.0], [1, 0, 0]])
    want = softmax_crossentropy(logits.astype(float), target)
    np.testing.assert_allclose(softmax_crossentropy_rule(logits, target)[0], want)
    np.testing.assert_allclose(softmax_crossentropy_mean_rule(logits, target)[0], np.mean(want))


def test_softmax_is_stable_and_keeps_float32():
    x = np.array([[1000.0, -1000.0, 0.0], [-1e4, -1e4, -1e4]], np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y, ly = softmax(x), logsoftmax(x)
        ce = softmax_crossentropy(x, np.eye(3, dtype=np.float32)[[1, 0]])
        mean = softmax_crossentropy_mean(x, np.eye(3, dtype=np.float32)[[1, 0]])
    assert y.dtype == ly.dtype == ce.dtype == mean.dtype == np.float32
    np.testing.assert_allclose(mean, (2000 + np.log(3)) / 2, rtol=1e-6)
    np.testing.assert_allclose(y, [[1, 0, 0], [1 / 3] * 3], atol=1e-7)
    np.testing.assert_allclose(ly[0], [0, -2000, -1000])
    np.testing.assert_allclose(ce, [2000, np.log(3)], rtol=1e-6)
