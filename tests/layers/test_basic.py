"""Basic layers: shapes and values against numpy, reprs, parameter counts, errors."""

import doctest

import numpy as np
import pytest

import layers.activations
import layers.basic
import layers.conv
import layers.init
import layers.losses
import layers.normalise
import layers.recurrent
from layers.activations import relu, sigmoid
from layers.basic import (
    Chain,
    Dense,
    Embedding,
    Parallel,
    Scale,
    SkipConnection,
    compose,
    count_parameters,
    flatten,
)
from layers.init import (
    glorot_normal,
    glorot_uniform,
    kaiming_normal,
    kaiming_uniform,
    ones,
    set_seed,
    zeros,
)

X = np.random.default_rng(0).standard_normal((4, 10)).astype(np.float32)


@pytest.mark.parametrize(
    "module",
    [
        layers.activations,
        layers.basic,
        layers.conv,
        layers.init,
        layers.losses,
        layers.normalise,
        layers.recurrent,
    ],
    ids=lambda m: m.__name__,
)
def test_doctests(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_dense_forward_matches_numpy():
    d = Dense(10, 5, sigmoid)
    d.bias = np.arange(5, dtype=np.float32)
    y = d(X)
    assert y.shape == (4, 5) and y.dtype == np.float32
    np.testing.assert_allclose(
        y, 1 / (1 + np.exp(-(X @ d.weight.T + d.bias))), rtol=1e-6
    )
    np.testing.assert_allclose(d(X[0]), y[0], rtol=1e-6)  # a single vector


def test_dense_constructor_forms_and_repr():
    d = Dense((10, 5), relu)
    assert d.weight.shape == (5, 10) and d.bias.shape == (5,) and d.activation is relu
    assert repr(Dense(5, 2, relu)) == "Dense(5 => 2, relu)  # 12 parameters"
    assert repr(Dense(10, 5, sigmoid)) == "Dense(10 => 5, σ)  # 55 parameters"
    nb = Dense(5, 2, bias=False)
    assert nb.bias is None and repr(nb) == "Dense(5 => 2, bias=False)  # 10 parameters"
    assert count_parameters(Dense(112, 3)) == 339


@pytest.mark.parametrize("call, error, message", [
    (lambda: Dense(4.0, 2), TypeError,
     r"^Dense: in_features must be a positive int, got 4\.0 \(a float\)$"),
    (lambda: Dense(-4, 2), ValueError, r"^Dense: in_features must be a positive int, got -4$"),
    (lambda: Dense(4, 0), ValueError, r"^Dense: out_features must be a positive int, got 0$"),
    (lambda: Dense(4), TypeError, r"^Dense: out_features must be a positive int, got None$"),
    (lambda: Dense(4, relu, 2), TypeError,
     (r"^Dense: out_features must be a positive int, got relu \(a function\): the "
      r"activation comes after the sizes, Dense\(in, out, activation\)$")),
    (lambda: Dense(4, 2, 3), TypeError,
     r"^Dense: activation must be a function such as relu, got 3 \(an int\)$"),
    (lambda: Dense((4, 2.5)), TypeError, r"^Dense: out_features .* got 2\.5"),
    (lambda: Dense(True, 2), TypeError, r"^Dense: in_features .* got True"),
])
def test_dense_constructor_checks_its_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()
    assert Dense(np.int64(3), 2).weight.shape == (2, 3)  # numpy ints are ints


def test_dense_shape_error_names_layer_and_shapes():
    with pytest.raises(
        ValueError,
        match=r"Dense\(10 => \d+(, \w+)?\): expected input features .* 10, got 7 \(input of shape \(3, 7\), "
        r"weight of shape \(5, 10\)\)",
    ):
        Dense(10, 5)(np.ones((3, 7), np.float32))


def test_chain_calls_layers_and_functions_in_order():
    d1, d2 = Dense(10, 5, relu), Dense(5, 2)
    c = Chain(d1, d2, lambda x: 2 * x)
    np.testing.assert_allclose(c(X), 2 * d2(d1(X)))
    assert len(c) == 3 and c[0] is d1 and list(c)[1] is d2
    assert isinstance(c[:2], Chain) and c[:2].layers == (d1, d2)
    np.testing.assert_allclose(compose(d2, d1)(X), d2(d1(X)))


def test_named_chain():
    enc, dec = Dense(10, 3), Dense(3, 10)
    c = Chain(enc=enc, dec=dec)
    assert c.enc is enc and c["dec"] is dec and c[1] is dec
    assert c[1:].names == ("dec",)
    np.testing.assert_allclose(c(X), dec(enc(X)))
    assert "enc = Dense(10 => 3),  # 33 parameters" in repr(c)
    with pytest.raises(KeyError):
        _ = c["nope"]
    with pytest.raises(AttributeError):
        _ = c.nope
    with pytest.raises(TypeError):
        Chain(enc, dec=dec)


def test_chain_repr_counts_parameters():
    c = Chain(Dense(10, 5, sigmoid), Dense(5, 2), layers.activations.softmax)
    assert repr(c) == (
        "Chain(\n"
        "  Dense(10 => 5, σ),  # 55 parameters\n"
        "  Dense(5 => 2),  # 12 parameters\n"
        "  softmax,\n"
        ")  # Total: 4 arrays, 67 parameters"
    )


def test_tied_weights_counted_once():
    d = Dense(4, 4)
    assert count_parameters(Chain(d, d)) == 20


def test_parallel_and_skip():
    a, b = Dense(10, 3), Dense(10, 3)
    np.testing.assert_allclose(Parallel(np.add, a, b)(X), a(X) + b(X))
    cat = Parallel(lambda *ys: np.concatenate(ys, axis=-1), a, b)
    assert cat(X).shape == (4, 6)
    np.testing.assert_allclose(Parallel(np.add, a, b)(X, 2 * X), a(X) + b(2 * X))
    with pytest.raises(ValueError, match=r"^Parallel\(add, Dense\(10 => 3\), Dense\(10 => 3\)\): "
                       r"expected number of inputs 2, got 3"):
        Parallel(np.add, a, b)(X, X, X)
    s = SkipConnection(Dense(10, 10), np.add)
    np.testing.assert_allclose(s(X), s.layer(X) + X)


def test_parallel_unpacks_one_tuple_input():
    a, b = Dense(10, 3), Dense(10, 3)
    p = Parallel(np.add, a, b)
    np.testing.assert_allclose(p((X, 2 * X)), a(X) + b(2 * X))
    np.testing.assert_allclose(p((X,)), a(X) + b(X))  # one input: every layer gets it
    with pytest.raises(ValueError, match=r"expected number of inputs 2, got 3"):
        p((X, X, X))
    split = Parallel(lambda u, v: (u, v), Dense(10, 4), Dense(10, 5))
    join = Parallel(np.add, Dense(4, 2), Dense(5, 2))
    u, v = split(X)
    np.testing.assert_allclose(Chain(split, join)(X), join.layers[0](u) + join.layers[1](v))


def test_gradient_through_a_chain_of_parallels():
    """The tuple one Parallel returns, unpacked by the next, differentiated by
    zygopy against central differences (parameters and input)."""
    import zygopy as zp
    from layers.devices import f64
    from layers.functor import gradient_pairs, parameters
    from zygopy.testing import check_grads

    model = f64(Chain(
        Parallel(lambda u, v: (u, v), Dense(3, 4, layers.activations.tanh), Dense(3, 2)),
        Parallel(lambda u, v: np.concatenate([u, v], axis=-1), Dense(4, 2), Scale(2)),
    ))
    x = np.random.default_rng(1).standard_normal((5, 3))
    dy = np.random.default_rng(2).standard_normal((5, 4))

    def f(m):
        return np.sum(m(x) * dy)

    (g,) = zp.gradient(f, model)
    got = {path: grad for path, _, grad in gradient_pairs(model, g)}
    params = parameters(model)
    assert len(params) == 8 and set(got) == {path for path, _ in params}
    for path, a in params:
        want = np.zeros_like(a)
        for j in range(a.size):
            orig = a.flat[j]
            a.flat[j] = orig + 1e-6
            up = f(model)
            a.flat[j] = orig - 1e-6
            down = f(model)
            a.flat[j] = orig
            want.flat[j] = (up - down) / 2e-6
        np.testing.assert_allclose(got[path], want, rtol=1e-5, atol=1e-7, err_msg=path)
    check_grads(lambda x: np.sum(model(x) * dy), x)


def test_frozen_layer_repr_counts_its_parameters_as_non_trainable():
    from layers.functor import freeze

    c = Chain(Dense(3, 4), Dense(4, 2))
    freeze(c.layers[0])
    assert repr(c) == (
        "Chain(\n"
        "  Dense(3 => 4),  # 0 parameters, plus 16 non-trainable\n"
        "  Dense(4 => 2),  # 10 parameters\n"
        ")  # Total: 2 trainable arrays, 10 parameters, plus 2 non-trainable, 16 parameters"
    )


def test_scale_and_flatten():
    s = Scale(10, relu)
    s.scale = np.full(10, -2.0, np.float32)
    np.testing.assert_allclose(s(X), np.maximum(-2 * X, 0))
    assert repr(Scale((2, 3))) == "Scale((2, 3))  # 12 parameters"
    assert flatten(np.zeros((2, 3, 4, 5))).shape == (2, 60)


def test_embedding():
    e = Embedding(6, 3)
    idx = np.array([[0, 5], [2, 2]])
    np.testing.assert_array_equal(e(idx), e.weight[idx])
    onehot = np.eye(6, dtype=np.float32)[[1, 4]]
    np.testing.assert_allclose(e(onehot), e.weight[[1, 4]])
    assert repr(e) == "Embedding(6 => 3)  # 18 parameters"
    with pytest.raises(IndexError, match=r"Embedding: indices must lie in \[0, 6\)"):
        e(np.array([6]))


@pytest.mark.parametrize(
    "init", [glorot_uniform, glorot_normal, kaiming_uniform, kaiming_normal]
)
def test_initialisers(init):
    set_seed(1)
    a = init(200, 300)
    set_seed(1)
    assert np.array_equal(a, init(200, 300)) and a.dtype == np.float32
    rng = np.random.default_rng(5)
    b = init(200, 300, rng=rng)
    assert np.array_equal(b, init(200, 300, rng=np.random.default_rng(5)))
    std = {
        glorot_uniform: np.sqrt(2 / 500),
        glorot_normal: np.sqrt(2 / 500),
        kaiming_uniform: np.sqrt(2 / 300),
        kaiming_normal: np.sqrt(2 / 300),
    }[init]
    assert a.std() == pytest.approx(std, rel=0.03)
    assert init(8, 3, 5, 5).shape == (8, 3, 5, 5)


def test_zeros_ones():
    assert zeros(2, 3).dtype == ones(4).dtype == np.float32
    assert zeros((2, 3)).shape == (2, 3) and ones(4).sum() == 4


def _z(*shape):
    return np.zeros(shape, np.float32)


@pytest.mark.parametrize("call, error, message", [
    (lambda: Dense(3, 2)(np.float32(1)), ValueError,
     r"Dense\(3 => 2\): expected input features \(last axis\) 3, got a scalar"),
    (lambda: layers.BatchNorm(3)(_z(3)), ValueError,
     r"BatchNorm\(3\): expected an input of at least 2 axes \(N, C, ...\), got one of "
     r"shape \(3,\)"),
    (lambda: layers.GroupNorm(4, 2)(_z(4)), ValueError, r"GroupNorm\(4, 2\): expected"),
    (lambda: layers.GlobalMaxPool()(_z(2, 4)), ValueError,
     r"GlobalMaxPool\(\): expected input rank \(N, C, H, W\) 4, got 2"),
    (lambda: layers.GlobalMeanPool()(_z(2, 4)), ValueError, r"GlobalMeanPool\(\)"),
    (lambda: layers.Scale(3)(_z(2, 4)), ValueError,
     r"Scale\(3\): the weight of shape \(3,\) does not broadcast against the input of "
     r"shape \(2, 4\)"),
    (lambda: layers.LSTMCell(3, 2)((_z(4, 3), _z(4, 3)), _z(4, 3)), ValueError,
     r"LSTMCell\(3 => 2\): expected state width \(last axis\) 2, got 3"),
    (lambda: layers.LSTMCell(3, 2)((_z(4, 2), _z(4, 3)), _z(4, 3)), ValueError,
     r"LSTMCell\(3 => 2\): expected cell state shape"),
    (lambda: layers.RNNCell(3, 2)(_z(5, 2), _z(4, 3)), ValueError,
     r"RNNCell\(3 => 2\): expected state batch \(axis 0\), the input's 4, got 5"),
    (lambda: layers.Embedding(5, 2)(np.array([True, False])), IndexError,
     r"Embedding: indices must be integers, got an array of bool"),
])
def test_bad_inputs_name_the_layer(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_a_chain_of_a_list_says_to_pass_the_layers_themselves():
    with pytest.raises(TypeError, match=r"Chain: layer 0 is a list, not a callable layer or "
                       r"function: pass the layers themselves, Chain\(\*layers\)"):
        Chain([Dense(4, 3), Dense(3, 2)])


def test_dense_checks_a_given_bias_shape():
    with pytest.raises(ValueError, match=r"Dense: bias must have shape \(3,\) for 3 outputs, "
                       r"got \(4,\)"):
        Dense(2, 3, bias=np.zeros(4))
