"""Conv and pooling layers: shapes, values, parameter counts, reprs, errors."""

import numpy as np
import pytest

import zygopy as zp
from layers.activations import relu
from layers.basic import Chain, Dense, count_parameters, flatten
from layers.conv import (
    AdaptiveMeanPool,
    Conv,
    ConvTranspose,
    GlobalMaxPool,
    GlobalMeanPool,
    MaxPool,
    MeanPool,
)
from layers.ops import conv2d, conv2d_data_grad, maxpool2d
from zygopy.testing import numerical_vjp

X = np.random.default_rng(0).standard_normal((2, 3, 28, 28)).astype(np.float32)


def test_seed_example_parameter_counts_and_shapes():
    model = Chain(
        Conv((3, 3), 3, 10, relu, stride=1, pad=1),
        Conv((5, 5), 10, 5, relu, stride=2),
        Conv((10, 10), 5, 7, relu),
        MaxPool((2, 2)),
        flatten,
        Dense(112, 3),
    )
    counts = [count_parameters(model[i]) for i in (0, 1, 2, 5)]
    assert counts == [280, 1_255, 3_507, 339]
    assert model[:3](X).shape == (2, 7, 3, 3)  # 28 -> 28 (pad 1) -> 12 -> 3
    # 24 -> 22 -> 18 -> 9 -> 4 (pool): flatten gives 7 * 4 * 4 = 112 features
    net = Chain(
        Conv((3, 3), 3, 10, relu),
        Conv((5, 5), 10, 5, relu),
        Conv((10, 10), 5, 7, relu),
        MaxPool((2, 2)),
        flatten,
        Dense(112, 3),
    )
    y = net(X[:, :, :24, :24])
    assert y.shape == (2, 3) and y.dtype == np.float32


def test_conv_forward_is_conv2d_plus_bias():
    c = Conv((3, 3), 3, 4, relu, stride=2, pad=1, dilation=1)
    c.bias = np.arange(4, dtype=np.float32)
    want = np.maximum(conv2d(X, c.weight, stride=2, pad=1) + c.bias[:, None, None], 0)
    np.testing.assert_allclose(c(X), want, rtol=1e-6)
    assert c(X).shape == (2, 4, 14, 14)


def test_conv_options():
    assert Conv(3, 3, 6, groups=3).weight.shape == (6, 1, 3, 3)
    assert Conv((3, 5), (3, 6), relu).weight.shape == (6, 3, 3, 5)
    assert Conv(5, 3, 2, pad="same", dilation=2)(X).shape == (2, 2, 28, 28)
    f = Conv(3, 3, 2, flipped=True)
    np.testing.assert_allclose(
        f(X), conv2d(X, f.weight[:, :, ::-1, ::-1]), rtol=1e-5, atol=1e-6
    )
    assert Conv(3, 3, 2, bias=False).bias is None


@pytest.mark.parametrize("make", [Conv, ConvTranspose], ids=lambda m: m.__name__)
def test_the_pair_form_takes_the_activation_by_keyword_too(make):
    by_keyword, by_position = make(3, (3, 4), activation=relu), make(3, (3, 4), relu)
    assert by_keyword.activation is relu is by_position.activation
    assert np.min(by_keyword(X[:, :, :6, :6])) >= 0
    with pytest.raises(TypeError, match="activation is given twice"):
        make(3, (3, 4), relu, activation=np.tanh)


def test_conv_reprs():
    assert repr(Conv((3, 3), 3, 10)) == "Conv((3, 3), 3 => 10)  # 280 parameters"
    assert (
        repr(Conv((5, 5), 10, 5, relu, stride=2, pad=1))
        == "Conv((5, 5), 10 => 5, relu, stride=2, pad=1)  # 1_255 parameters"
    )
    assert (
        repr(Conv(3, 4, 4, groups=2, bias=False))
        == "Conv((3, 3), 4 => 4, groups=2, bias=False)  # 72 parameters"
    )


def test_conv_errors_name_layer_and_shapes():
    with pytest.raises(ValueError, match=r"Conv\(.*\): expected input channels .* 3, got 4 "
                       r"\(input of shape \(1, 4, 8, 8\), weight of shape \(2, 3, 3, 3\)\)"):
        Conv(3, 3, 2)(np.zeros((1, 4, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r"Conv\(.*\): expected input rank"):
        Conv(3, 3, 2)(np.zeros((3, 8, 8), np.float32))
    with pytest.raises(ValueError, match="groups"):
        Conv(3, 3, 4, groups=2)
    small = np.ones((1, 3, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"Conv\(\(5, 5\), 3 => 4\): the window \(5, 5\) is "
                       r"larger than the padded input \(3, 3\) \(input of shape \(1, 3, 3, 3\)"):
        Conv(5, 3, 4)(small)
    with pytest.raises(ValueError, match=r"Conv\(.*dilation=2\): the window \(5, 5\)"):
        Conv(3, 3, 4, dilation=2)(small)
    with pytest.raises(ValueError, match=r"MaxPool\(\(4, 4\)\): the window \(4, 4\) is larger"):
        MaxPool(4)(small)
    with pytest.raises(ValueError, match=r"MeanPool\(.*\): padding \(2, 2, 2, 2\) must be "
                       r"smaller than the window \(2, 2\) \(input of shape \(1, 3, 3, 3\)\)"):
        MeanPool(2, pad=2)(small)


@pytest.mark.parametrize("stride, pad, output_pad", [(1, 0, 0), (2, 1, 1), (3, 0, 2)])
def test_conv_transpose_inverts_conv_shapes(stride, pad, output_pad):
    t = ConvTranspose(3, 4, 2, stride=stride, pad=pad, output_pad=output_pad)
    x = np.random.default_rng(1).standard_normal((2, 4, 5, 5)).astype(np.float32)
    y = t(x)
    n = (5 - 1) * stride - 2 * pad + 3 + output_pad
    assert y.shape == (2, 2, n, n) and y.dtype == np.float32
    # it is the adjoint of the matching Conv
    back = conv2d(y, t.weight, stride=stride, pad=pad)
    assert back.shape == x.shape
    z = y - t.bias[:, None, None]
    assert np.sum(z * y) == pytest.approx(
        np.sum(x * conv2d(y, t.weight, stride=stride, pad=pad)), rel=1e-4
    )
    np.testing.assert_allclose(
        z,
        conv2d_data_grad(x, t.weight, x_shape=y.shape, stride=stride, pad=pad),
        rtol=1e-6,
    )
    assert (
        repr(ConvTranspose(3, 4, 2)) == "ConvTranspose((3, 3), 4 => 2)  # 74 parameters"
    )


def test_pool_layers():
    assert MaxPool(2)(X).shape == (2, 3, 14, 14)
    np.testing.assert_allclose(MaxPool((2, 2))(X), maxpool2d(X, kernel=2))
    m = MeanPool(2)(X)
    np.testing.assert_allclose(
        m, X.reshape(2, 3, 14, 2, 14, 2).mean(axis=(3, 5)), rtol=1e-6
    )
    assert m.dtype == np.float32
    assert MeanPool(3, stride=2, pad=1)(X).shape == (2, 3, 14, 14)
    np.testing.assert_allclose(GlobalMaxPool()(X)[..., 0, 0], X.max(axis=(2, 3)))
    np.testing.assert_allclose(
        GlobalMeanPool()(X)[..., 0, 0], X.mean(axis=(2, 3)), rtol=1e-5
    )
    assert repr(MaxPool(2)) == "MaxPool((2, 2))"
    assert repr(MeanPool(3, stride=1)) == "MeanPool((3, 3), stride=(1, 1))"


def test_max_pool_of_windows_of_padding_and_minus_infinity():
    # the window's maximum is -inf, found in the input (not a padding cell,
    # whose index would wrap to another pixel), and the gradient runs
    x = np.full((1, 1, 4, 4), -np.inf)
    x[0, 0, 3, 3] = 5.0
    y = maxpool2d(x, kernel=3, stride=1, pad=1)
    expected = np.full((4, 4), -np.inf)
    expected[2:, 2:] = 5.0
    np.testing.assert_array_equal(y[0, 0], expected)
    (g,) = zp.gradient(lambda x: np.sum(np.exp(MaxPool(3, stride=1, pad=1)(x))), x)
    assert g[0, 0, 3, 3] == 4 * np.exp(5.0) and np.sum(g) == g[0, 0, 3, 3]


def test_adaptive_mean_pool():
    a = AdaptiveMeanPool((7, 4))(X)
    assert a.shape == (2, 3, 7, 4) and a.dtype == np.float32
    np.testing.assert_allclose(
        a, X.reshape(2, 3, 7, 4, 4, 7).mean(axis=(3, 5)), rtol=1e-5, atol=1e-6
    )
    x = np.arange(5.0).reshape(1, 1, 5, 1)
    np.testing.assert_allclose(
        AdaptiveMeanPool((2, 1))(x).ravel(), [1.0, 3.0]
    )  # [0,3), [2,5)


@pytest.mark.parametrize("layer", [Conv, ConvTranspose])
def test_groups_must_divide_channels(layer):
    with pytest.raises(ValueError, match=f"{layer.__name__}: channels 3 => 4 .*groups=2"):
        layer((3, 3), 3, 4, groups=2)


def _penalty_of(x):
    """A gradient penalty (as WGAN-GP's): |d sum(m(x)) / dx|^2, a function of m."""
    import zygopy as zp

    def penalty(m):
        gx = zp.gradient(lambda v: np.sum(m(v)), x)[0]
        return np.sum(gx**2)

    return penalty


@pytest.mark.parametrize(
    "make",
    [
        lambda: Conv((2, 2), 2, 2, np.tanh, pad=1),
        lambda: Conv((3, 3), 2, 2, np.tanh, stride=2, dilation=1, groups=2),
        lambda: Chain(Conv((1, 1), 2, 2, np.tanh), MaxPool((2, 2))),
        lambda: Chain(Conv((1, 1), 2, 2, np.tanh), MeanPool((2, 2), pad=1)),
        lambda: ConvTranspose((2, 2), 2, 1, np.tanh, stride=2),
    ],
    ids=["conv", "strided-grouped", "maxpool", "meanpool", "transpose"],
)
def test_gradients_of_gradients_through_kernels(make):
    """Second order pushes forward-mode Duals through the kernels (multilinear):
    the gradient of a gradient penalty matches central differences."""
    import layers
    import zygopy as zp

    m = layers.f64(make())
    x = np.random.default_rng(2).standard_normal((1, 2, 5, 5))
    penalty = _penalty_of(x)
    _, (g,) = zp.withgradient(penalty, m)
    conv = m.layers[0] if isinstance(m, Chain) else m
    d_conv = g.layers[0] if isinstance(m, Chain) else g

    def penalty_at(weight):
        conv.weight = weight
        return penalty(m)

    (numeric,) = numerical_vjp(penalty_at, (conv.weight.copy(),), 1.0)
    np.testing.assert_allclose(d_conv.weight, numeric, rtol=1e-5, atol=1e-8)


def test_hessian_through_a_conv():
    import layers
    import zygopy as zp

    c = layers.f64(Conv((2, 2), 1, 1, np.tanh))
    x = np.random.default_rng(3).standard_normal((1, 1, 3, 3))
    H = zp.hessian(lambda v: np.sum(c(v) ** 2), x)
    gradient = lambda v: zp.gradient(lambda u: np.sum(c(u) ** 2), v)[0]
    h = 1e-6
    for i in [(0, 0, 1, 1), (0, 0, 2, 0)]:
        e = np.zeros_like(x)
        e[i] = h
        np.testing.assert_allclose(H[(0, 0, slice(None), slice(None)) + i],
                                   ((gradient(x + e) - gradient(x - e)) / (2 * h))[0, 0],
                                   rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("make, message", [
    (lambda: Conv(3, 1, 1, stride=0), r"Conv: stride must be at least 1, got 0"),
    (lambda: Conv(3, 1, 1, dilation=0), r"Conv: dilation must be at least 1"),
    (lambda: Conv((3, 0), 1, 1), r"Conv: kernel must be at least 1"),
    (lambda: MaxPool(2, stride=0), r"MaxPool: stride must be at least 1"),
    (lambda: MeanPool(0), r"MeanPool: window must be at least 1"),
    (lambda: ConvTranspose(3, 1, 1, stride=1, output_pad=1),
     r"ConvTranspose: output_pad must be .* smaller than the stride or the dilation"),
])
def test_hyperparameters_are_checked_when_made(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_kernels_check_strides_too():
    x = np.zeros((1, 1, 4, 4))
    with pytest.raises(ValueError, match="conv2d: stride must be at least 1"):
        conv2d(x, np.ones((1, 1, 2, 2)), stride=0)
    with pytest.raises(ValueError, match="pooling: stride must be at least 1"):
        maxpool2d(x, kernel=2, stride=(1, 0))


def test_conv_checks_its_channels_and_activation_when_made():
    with pytest.raises(TypeError, match="Conv: the activation must be a function, got 8"):
        Conv((3, 3), (2, 4), 8)
    with pytest.raises(ValueError, match=r"Conv: channels are a pair \(in, out\), got \(2,\)"):
        Conv((3, 3), (2,))
    with pytest.raises(ValueError, match="ConvTranspose: out_ch must be a positive int, got 4.0"):
        ConvTranspose((3, 3), 2, 4.0)
