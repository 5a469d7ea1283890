"""Model walking: parameters by path, tied weights, trainable/freeze, fmap, gradient zip."""

import dataclasses
from collections import namedtuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import layers
from layers import functor as F
from zygopy import ZERO, Tangent


class Dense:
    def __init__(self, n, m):
        self.weight = np.ones((m, n), np.float32)
        self.bias = np.zeros(m, np.float32)
        self.activation = np.tanh


class Chain:
    def __init__(self, *layers):
        self.layers = list(layers)


class Norm:
    def __init__(self):
        self.scale = np.ones(2, np.float32)
        self.mean = np.zeros(2, np.float32)
        self.count = np.zeros(1, np.int64)

    def trainable(self):
        return ("scale",)


@dataclasses.dataclass(frozen=True)
class Frozen:
    w: np.ndarray
    n: int = 3


def test_parameter_paths():
    m = Chain(Dense(2, 3), np.tanh, {"head": Dense(3, 1), "k": 4})
    assert [p for p, _ in F.parameters(m)] == [
        "layers.0.weight",
        "layers.0.bias",
        "layers.2.head.weight",
        "layers.2.head.bias",
    ]


def test_tied_weights_first_path_wins():
    a, b = Dense(2, 2), Dense(2, 2)
    b.weight = a.weight
    paths = [p for p, _ in F.parameters(Chain(a, b))]
    assert paths == ["layers.0.weight", "layers.0.bias", "layers.1.bias"]
    shared = Dense(1, 1)
    assert len(F.parameters([shared, shared])) == 2


def test_trainable_and_nonfloat():
    n = Norm()
    assert [p for p, _ in F.parameters(n)] == ["scale"]
    assert [p for p, _ in F.walk_arrays(n)] == ["scale", "mean", "count"]
    assert F.trainable(n) == ("scale",)


def test_freeze_and_thaw():
    m = Chain(Dense(2, 2), Dense(2, 2))
    F.freeze(m.layers[0])
    assert [p for p, _ in F.parameters(m)] == ["layers.1.weight", "layers.1.bias"]
    F.freeze(m.layers[1], "bias")
    assert [p for p, _ in F.parameters(m)] == ["layers.1.weight"]
    F.thaw(m.layers[0])
    F.thaw(m.layers[1], "bias")
    assert len(F.parameters(m)) == 4
    F.freeze(m.layers)
    assert F.parameters(m) == []
    assert "_frozen" not in F.children(m.layers[0])
    with pytest.raises(AttributeError, match="no field 'nope'"):
        F.freeze(m.layers[0], "nope")
    with pytest.raises(TypeError, match="array held directly"):
        F.freeze([np.ones(2)])


def test_layer_decorator():
    @F.layer(trainable=("a",))
    class L:
        def __init__(self):
            self.a, self.b = np.ones(1), np.ones(1)

    assert [p for p, _ in F.parameters(L())] == ["a"]
    assert F.layer(Dense) is Dense


def test_bad_trainable_names():
    class Bad:
        def __init__(self):
            self.w = np.ones(1)

        def trainable(self):
            return ("v",)

    with pytest.raises(AttributeError, match="'v'"):
        F.parameters(Bad())


def test_children():
    d = Dense(1, 1)
    assert set(F.children(d)) == {"weight", "bias", "activation"}
    assert F.children((1, 2)) == {0: 1, 1: 2}
    assert F.children(np.ones(2)) == {} and F.children(np.tanh) == {}


def test_fmap_rebuilds_and_keeps_ties():
    a, b = Dense(2, 2), Dense(2, 2)
    b.weight = a.weight
    P = namedtuple("P", "x y")
    m = {"chain": Chain(a, b), "t": P(np.ones(1), 5), "fz": Frozen(np.ones(2))}
    out = F.fmap(lambda x: x.astype(np.float64), m)
    assert out is not m and out["chain"] is not m["chain"]
    l0, l1 = out["chain"].layers
    assert l0.weight.dtype == np.float64 and l0.weight is l1.weight
    assert l0.activation is np.tanh
    assert isinstance(out["t"], P) and out["t"].y == 5
    assert out["fz"].w.dtype == np.float64 and out["fz"].n == 3
    assert a.weight.dtype == np.float32  # input untouched


def test_fmap_identity_shares_structure():
    m = Chain(Dense(1, 1))
    assert F.fmap(lambda x: x, m) is m


def test_fmap_cycle():
    m = Chain(Dense(1, 1))
    m.parent = m
    out = F.fmap(lambda x: x * 2, m)
    assert out.layers[0].weight[0, 0] == 2


def test_gradient_pairs():
    m = Chain(Dense(2, 1), np.tanh, Norm())
    g = Tangent(
        Chain,
        layers=[
            Tangent(Dense, weight=np.full((1, 2), 3.0), bias=ZERO, activation=None),
            None,
            Tangent(Norm, scale=np.ones(2), mean=np.ones(2), count=None),
        ],
    )
    got = [(p, g.tolist()) for p, _, g in F.gradient_pairs(m, g)]
    assert got == [("layers.0.weight", [[3.0, 3.0]]), ("layers.2.scale", [1.0, 1.0])]
    assert F.gradient_pairs(m, None) == []
    with pytest.raises(TypeError, match="length"):
        F.gradient_pairs(m, Tangent(Chain, layers=[None]))


def test_gradient_pairs_dict_gradient_for_object():
    m = Dense(1, 1)
    [(p, _, _)] = F.gradient_pairs(m, {"weight": np.ones((1, 1))})
    assert p == "weight"


def test_params_uses_zygopy(monkeypatch):
    import zygopy

    monkeypatch.setattr(zygopy, "params", lambda *a: list(a))
    m = Dense(1, 2)
    ps = F.params(m)
    assert ps[0] is m.weight and ps[1] is m.bias


@given(st.lists(st.integers(1, 4), min_size=1, max_size=5))
def test_parameters_count_random_chains(sizes):
    m = Chain(*[Dense(n, n) for n in sizes])
    assert len(F.parameters(m)) == 2 * len(sizes)
    assert sum(a.size for _, a in F.parameters(m)) == sum(n * n + n for n in sizes)


def test_an_l2_penalty_over_parameters_inside_a_loss():
    """`parameters(m)` in differentiated code: each array's cotangent goes back
    to its field (torch's `for p in model.parameters()` regulariser)."""
    import zygopy as zp
    from zygopy.testing import numerical_vjp

    m = layers.f64(layers.Chain(layers.Dense(3, 4, np.tanh), layers.Dense(4, 2)))
    x = np.random.default_rng(0).standard_normal((5, 3))

    def loss(m):
        reg = sum(np.sum(p**2) for _, p in layers.parameters(m))
        return np.sum(m(x) ** 2) + 0.01 * reg

    (g,) = zp.gradient(loss, m)
    for i, name in [(0, "weight"), (1, "bias")]:
        array = getattr(m.layers[i], name)

        def loss_at(a, i=i, name=name):
            setattr(m.layers[i], name, a)
            return loss(m)

        (num,) = numerical_vjp(loss_at, (array.copy(),), 1.0)
        setattr(m.layers[i], name, array)
        np.testing.assert_allclose(getattr(g.layers[i], name), num, rtol=1e-5, atol=1e-8)


def linear(n_in, n_out, seed=0):
    """The tutorials' closure layer: `linear1.W` in Julia, a captured W here."""
    rng = np.random.default_rng(seed)
    W, b = rng.standard_normal((n_out, n_in)), rng.standard_normal(n_out)
    return lambda x: W @ x + b


def test_a_closure_is_a_model_of_what_it_captures(tmp_path):
    import zygopy as zp

    m = linear(3, 2)
    W, b = (c.cell_contents for c in m.__closure__)
    x, y = np.array([0.5, -1.0, 2.0]), np.array([1.0, -1.0])

    def loss(m, x, y):
        return np.sum((m(x) - y) ** 2)

    (g,) = zp.gradient(loss, m, x, y)[:1]
    r = W @ x + b - y
    np.testing.assert_allclose(g.W, 2 * np.outer(r, x))
    np.testing.assert_allclose(g.b, 2 * r)
    assert [p.shape for p in layers.params(m)] == [(2, 3), (2,)]
    assert list(layers.state(m)) == ["W", "b"]
    history = layers.train(loss, m, [(x, y)] * 30, layers.Descent(0.05), progress=False)
    assert history[-1] < 1e-6 * history[0]  # trained in place, through the closure
    m32 = layers.f32(m)
    assert m32(x.astype(np.float32)).dtype == np.float32 and W.dtype == np.float64
    layers.save(tmp_path / "m.safetensors", m)
    fresh = linear(3, 2, seed=1)
    layers.load(tmp_path / "m.safetensors", fresh)
    np.testing.assert_array_equal(fresh(x), m(x))


class _SlotsAffine:
    """A callable layer with __slots__ (no __dict__)."""

    __slots__ = ("b", "w")

    def __init__(self):
        self.w, self.b = np.ones((3, 3)), np.zeros(3)

    def __call__(self, x):
        return x @ self.w + self.b


def test_a_callable_layer_with_slots_is_trained_and_saved():
    # (it was taken for an opaque function: never trained, never saved)
    model = layers.Chain(_SlotsAffine(), layers.f64(layers.Dense(3, 1)))
    assert [p for p, _ in F.parameters(model)][:2] == ["layers.0.b", "layers.0.w"]
    x, y = np.random.default_rng(0).standard_normal((8, 3)), np.ones((8, 1))
    w0 = model[0].w.copy()
    layers.train(lambda m, x, y: layers.mse(m(x), y), model, [(x, y)] * 3,
                 layers.Descent(0.1), progress=False)
    assert not np.array_equal(model[0].w, w0)
    assert "layers.0.w" in layers.state(model)
    assert layers.f32(model)[0].w.dtype == np.float32


class _WithAMethod:
    def __init__(self):
        self.W = np.ones((1, 2))

    def forward(self, x):
        return x @ self.W.T


def test_a_bound_method_is_a_model_of_its_object():
    # (it trained nothing: its gradient is its object's, its params were none)
    k = _WithAMethod()
    x, y = np.ones((4, 2)), np.zeros((4, 1))
    assert [p.shape for p in layers.params(k.forward)] == [(1, 2)]
    history = layers.train(lambda m, x, y: np.mean((m(x) - y) ** 2), k.forward,
                           [(x, y)] * 5, layers.Descent(0.1), progress=False)
    assert history[-1] < history[0] and not np.array_equal(k.W, np.ones((1, 2)))
    moved = layers.f32(k.forward)
    assert moved.__self__.W.dtype == np.float32 and k.W.dtype == np.float64
