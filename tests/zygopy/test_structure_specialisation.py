"""Gradients specialised on a model's structure (compiler.specialise,
runtime.specialised): the flat function a call runs from its second time on
must give what the general path gives, field by field and dtype included; a
guard must notice every change of structure; what cannot be specialised goes
the general way, with the same answer and the same errors."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import itertools
import re
import sys
import threading
import types
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import layers
import zygopy as zp
from zygopy import Tangent
from zygopy.runtime import specialised
from zygopy.testing import numerical_vjp

RNG = np.random.default_rng(0)
X = RNG.standard_normal((4, 3))
Y = RNG.standard_normal((4, 2))


def randn(*shape):
    return RNG.standard_normal(shape)


def f32(a):
    return a.astype(np.float32)


def assert_same(got, want, path="gradient"):
    """`got` and `want` agree field by field: the same Tangent types and
    fields (in the same order, as dict keys, of the same types), containers
    (object arrays item by item), None where None, and arrays of one dtype
    and shape."""
    assert type(got) is type(want), f"{path}: {type(got)} != {type(want)}"
    if isinstance(want, Tangent):
        assert got._primal_type is want._primal_type, path
        assert list(got.fields()) == list(want.fields()), path
        for k, v in want:
            assert_same(got.get(k), v, f"{path}.{k}")
    elif isinstance(want, (tuple, list)):
        assert len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same(g, w, f"{path}[{i}]")
    elif isinstance(want, dict):
        assert [(k, type(k)) for k in got] == [(k, type(k)) for k in want], path
        for k in want:
            assert_same(got[k], want[k], f"{path}[{k!r}]")
    elif isinstance(want, np.ndarray) and want.dtype == object:
        assert (got.dtype, got.shape) == (want.dtype, want.shape), path
        for i, w in np.ndenumerate(want):
            assert_same(got[i], w, f"{path}[{i}]")
    elif isinstance(want, (np.ndarray, np.generic)):
        assert (got.dtype, got.shape) == (want.dtype, want.shape), path
        tol = 1e-5 if want.dtype == np.float32 else 1e-10
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=path)
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-10, abs=1e-12), path
    else:
        assert got == want, path


@pytest.fixture(autouse=True)
def enabled(monkeypatch):
    """Specialisation on (whatever ZYGOPY_SPECIALISE says), from a clean slate."""
    monkeypatch.setattr(specialised, "ENABLED", True)
    specialised.forget()
    yield
    specialised.forget()


def general(f, *args, run=zp.withgradient):
    """`run(f, *args)` with specialisation off."""
    with mock.patch.object(specialised, "ENABLED", False):
        return run(f, *args)


def by_specialisation(f, *args, run=zp.withgradient):
    """`run(f, *args)` the third time after `forget()`: by its specialisation
    (made on the first call or the second, whichever ZYGOPY_SPECIALISE says)."""
    specialised.forget()
    for _ in range(3):
        out = run(f, *args)
    return out


# -- models ------------------------------------------------------------------------


def double(h):
    return 2.0 * h


def helper(h):
    return np.tanh(h)


def linear(i, o):
    W, b = randn(o, i), randn(o)
    return lambda x: W @ x + b


class Stack:
    """A list of layers, a dict of layers, a float and an int used
    arithmetically, and an array nobody reads."""

    def __init__(self):
        self.layers = [layers.f64(layers.Dense(3, 4, layers.tanh)), double]
        self.heads = {k: layers.f64(layers.Dense(4, 2)) for k in "ab"}
        self.scale, self.n = 0.5, 3
        self.unused = randn(2, 2)

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return self.scale * self.heads["a"](x) + self.n * self.heads["b"](x)


@dataclasses.dataclass
class Record:
    W: np.ndarray
    b: np.ndarray
    act: object = np.tanh

    def __call__(self, x):
        return self.act(x @ self.W + self.b)


class Branchy:
    """A loop over `range(self.n)` and a data-dependent `if`."""

    def __init__(self, n=2):
        self.W, self.n = randn(3, 3), n

    def __call__(self, x):
        for _ in range(self.n):
            x = np.tanh(x @ self.W)
        if np.sum(x) > 0:
            x = x * 2.0
        else:
            x = -x
        return x


class Carried(Branchy):
    """Branchy with the loop's variable bound before the loop."""

    def __call__(self, x):
        h = x
        for _ in range(self.n):
            h = np.tanh(h @ self.W)
        if np.sum(h) > 0:
            h = h * 2.0
        return h


class Counted(Branchy):
    """A while loop counting to the int field `n`; its test reads the counter
    the body writes."""

    def __call__(self, x):
        k = 0
        while k < self.n:
            x = np.tanh(x @ self.W)
            k += 1
        return x


def halved(x, n):
    """Rebinds its parameter in a loop: the caller's variable must not change."""
    for _ in range(n):
        x = x * 0.5
    return x


class Keeps(Branchy):
    def __call__(self, x):
        h = x @ self.W
        return h + halved(h, self.n)


class Accumulates(Branchy):
    """Updates in place of arrays its own calls made: a residual after a ufunc,
    an accumulator from np.zeros over a loop of the data, a `.copy()`."""

    def __call__(self, x):
        h = np.tanh(x @ self.W)
        h += x
        acc = np.zeros(3)
        for row in h:
            acc += row
        y = (h * 2.0).copy()
        y += 1.0
        return acc * y


class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def __call__(self, x):
        return x @ self.W + self.b


def mse(m, x, y):
    return np.mean((m(x) - y) ** 2)


def total(m, x):
    return np.sum(m(x) ** 2)


def squashed(m, x):
    return np.sum(helper(m(x)))


def of_vector(m, x):
    return np.sum(m(x[0]) ** 2)


class Tupled:
    """A tuple of a layer and an array computed before a loop rebinding the
    variable it was computed from: the item is the value when the tuple was
    made."""

    def __init__(self):
        self.inner = Affine(randn(3, 3), randn(3))
        self.rows = randn(2, 3)

    def __call__(self, x):
        h = x * 1.0
        t = (self.inner, h * 2.0)
        for row in self.rows:
            h = h * row
        layer, v = t
        return layer(v) + h


class Renamed(Affine):
    """`b = a` in a method whose parameter `a` holds a call's result."""

    def square(self, a):
        b = a
        return a * b

    def __call__(self, x):
        return self.square(np.tanh(x @ self.W)) + self.b


class OrDouble:
    """`self.act or double`: the value of `or` is its operand (a layer)."""

    def __init__(self, act):
        self.W, self.act = randn(3, 2), act

    def __call__(self, x):
        f = self.act or double
        return f(x @ self.W)


class AndFour:
    """`self.cfg and 4.0`: a list or 4.0, as Python says."""

    def __init__(self, cfg):
        self.W, self.cfg = randn(3, 2), cfg

    def __call__(self, x):
        return x @ self.W * (self.cfg and 4.0)


class LoopTupled(Tupled):
    """A tuple of a layer and a *name* a loop over the data then rebinds: the
    item is the value the name had when the tuple was made, not the loop's."""

    def __call__(self, x):
        h = x * 1.0
        t = (self.inner, h)
        for row in x:  # a loop over data: a loop of the flat function too
            h = h * row
        layer, v = t
        return layer(v) + h


def ident(a):
    return a


class UnderscoreRes(Affine):
    """A user variable named `_res` (as the specialiser's own names are),
    rebound in a loop over the data and passed through an identity helper."""

    def __call__(self, x):
        _res = x @ self.W
        acc = _res * 0.0
        for row in x:
            _res = np.tanh(_res * row)
            y = ident(_res)
            acc = acc + _res * y
        return acc + self.b


class Extras(Affine):
    """Functions applied after the affine map, from a tuple field (maybe empty)."""

    def __init__(self, extra):
        super().__init__(randn(3, 2), randn(2))
        self.extra = extra

    def __call__(self, x):
        y = x @ self.W + self.b
        for f in self.extra:
            y = f(y)
        return y


class Doubled(Extras):
    """The output doubled where the tuple field `extra` is not empty."""

    def __call__(self, x):
        y = x @ self.W + self.b
        if self.extra:
            y = y * 2.0
        return y


MODELS = {
    "dense relu, tanh, no bias; lambda; function (float32)": lambda: (layers.Chain(
        layers.Dense(3, 5, layers.relu), layers.Dense(5, 4, layers.tanh, bias=False),
        lambda h: h * 3.0, layers.Dense(4, 2, layers.identity), double),
        mse, f32(X), f32(Y)),
    "chain float64": lambda: (
        layers.f64(layers.Chain(layers.Dense(3, 2, layers.sigmoid))), mse, X, Y),
    "closure linear(i, o)": lambda: (linear(3, 2), of_vector, X),
    "list, dict, float and int fields, unused array": lambda: (Stack(), mse, X, Y),
    "dataclass": lambda: (Record(randn(3, 2), randn(2)), mse, X, Y),
    "data-dependent if, loop over range(self.n)": lambda: (Branchy(), total, X),
    "loop over range(self.n) carrying a local": lambda: (Carried(), total, X),
    "while loop counting to an int field": lambda: (Counted(3), total, X),
    "updates in place of arrays its calls made": lambda: (Accumulates(), total, X),
    "a helper rebinding its parameter in a loop": lambda: (Keeps(), total, X),
    "module-level helper in the loss": lambda: (
        Affine(randn(3, 2), randn(2)), squashed, X),
    "a tuple of a layer and an array computed before a loop": lambda: (
        Tupled(), total, X),
    "`b = a` of a call's result": lambda: (Renamed(randn(3, 2), randn(2)), total, X),
    "`self.act or double` with a layer": lambda: (
        OrDouble(Affine(randn(2, 2), randn(2))), total, X),
    "`self.cfg and 4.0` with cfg = [1]": lambda: (AndFour([1]), total, X),
    "a tuple's item a name a loop over the data rebinds": lambda: (
        LoopTupled(), total, X),
    "a user variable `_res` through an identity helper in a data loop": lambda: (
        UnderscoreRes(randn(3, 3), randn(3)), total, X),
    "an empty tuple field iterated": lambda: (Extras(()), total, X),
    "an empty tuple field tested for truth": lambda: (Doubled(()), total, X),
    "a tuple field of one function tested for truth": lambda: (
        Doubled((np.tanh,)), total, X),
}


@pytest.mark.parametrize("make", MODELS.values(), ids=MODELS.keys())
def test_a_specialised_gradient_is_the_general_one(make):
    """Value and gradient of the flat function equal the general path's, field
    by field with dtypes; and the call was specialised."""
    model, loss, *data = make()
    want = general(loss, model, *data)
    got = by_specialisation(loss, model, *data)
    assert specialised.reason(loss) is None
    assert specialised.source(loss) != ""
    assert_same(got, want)


def test_value_and_grad_and_grad_with_argnums_are_specialised():
    """`value_and_grad(loss)` (the model alone) and `grad(loss, argnums=(0, 1))`
    (the model and the input, not the target) give the general path's
    gradients from their specialisations."""
    model = layers.f64(layers.Chain(layers.Dense(3, 4, layers.tanh),
                                    layers.Dense(4, 2)))
    for run in (lambda f, *a: zp.value_and_grad(f)(*a),
                lambda f, *a: zp.grad(f, argnums=(0, 1))(*a)):
        want = general(mse, model, X, Y, run=run)
        got = by_specialisation(mse, model, X, Y, run=run)
        assert specialised.source(mse) != ""
        assert_same(got, want)


@pytest.mark.parametrize("pad", [0, (1, 1)])
def test_a_convolutional_model_is_specialised_with_the_general_gradient(pad):
    """Conv, MaxPool and flatten in a Chain are specialised (the kernels are
    called by their rules; the window and stride tuples are passed as tuples
    of the layer's numbers, which get the general path's zero gradients) and
    give the general path's gradient."""
    x = f32(randn(2, 1, 6, 6))
    model = layers.Chain(layers.Conv((3, 3), 1, 2, layers.relu, pad=pad),
                         layers.MaxPool((2, 2)), layers.flatten,
                         layers.Dense(8 if pad == 0 else 18, 3))
    want = general(total, model, x)
    got = by_specialisation(total, model, x)
    assert specialised.reason(total) is None
    assert "conv2d(" in specialised.source(total)
    assert_same(got, want)


def test_training_two_epochs_ends_with_the_same_weights_both_ways(monkeypatch):
    """`layers.train` with Adam, two epochs of two batches: the same final
    weights with specialisation off and on (where it specialised the loss)."""
    x, y = f32(X), f32(Y)
    data = [(x[:2], y[:2]), (x[2:], y[2:])]
    start = layers.Chain(layers.Dense(3, 4, layers.relu), layers.Dense(4, 2))
    finals = []
    for enabled in (False, True):
        monkeypatch.setattr(specialised, "ENABLED", enabled)
        specialised.forget()
        model = copy.deepcopy(start)
        layers.train(mse, model, data, layers.Adam(1e-2), epochs=2, progress=False)
        assert (specialised.source(mse) != "") == enabled
        finals.append([a for d in model.layers for a in (d.weight, d.bias)])
    for off, on in zip(*finals):
        assert off.dtype == on.dtype
        np.testing.assert_allclose(on, off, rtol=1e-5, atol=1e-6)


# -- against central differences ------------------------------------------------

ACTIVATIONS = [layers.relu, layers.tanh, layers.sigmoid, layers.softplus,
               layers.identity]


@st.composite
def mlps(draw):
    """A float64 Chain of 1-3 Dense layers of widths 1-5, each with an
    activation and a bias or none, and an input batch for it."""
    widths = draw(st.lists(st.integers(1, 5), min_size=2, max_size=4))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    dense = [layers.Dense(i, o, draw(st.sampled_from(ACTIVATIONS)),
                          bias=draw(st.booleans()) and rng.standard_normal(o),
                          init=lambda *s: rng.standard_normal(s))
             for i, o in itertools.pairwise(widths)]
    return layers.Chain(*dense), rng.standard_normal((2, widths[0]))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mlps())
def test_a_specialised_mlp_gradient_matches_central_differences(drawn):
    """The structural gradient the specialisation gives an MLP of a drawn
    structure agrees with float64 central differences, field by field."""
    model, x = drawn
    value, (g, _) = by_specialisation(total, model, x)
    assert specialised.source(total) != ""
    assert value == pytest.approx(total(model, x), rel=1e-12)
    fields = [(i, name) for i, layer in enumerate(model.layers)
              for name in ("weight", "bias") if getattr(layer, name) is not None]
    arrays = [getattr(model.layers[i], n) for i, n in fields]

    def at(*new):
        for (i, n), a in zip(fields, new):
            setattr(model.layers[i], n, a)
        return total(model, x)

    want = numerical_vjp(at, arrays, 1.0)
    at(*arrays)  # the model as it was
    for (i, n), w in zip(fields, want):
        got = g.layers[i].get(n)
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-7, err_msg=f"{i}.{n}")
    assert all(g.layers[i].bias is None
               for i, layer in enumerate(model.layers) if layer.bias is None)


# -- guards ------------------------------------------------------------------------


def affine_tanh(self, x):
    return np.tanh(x @ self.W) + self.b


def mlp():
    return layers.Chain(layers.Dense(3, 4, layers.relu, bias=randn(4), init=randn),
                        layers.Dense(4, 2, bias=randn(2), init=randn))


def affine():
    return Affine(randn(3, 2), randn(2))


def the_input(f, *args):
    return zp.value_and_grad(f, argnums=1)(*args)  # the model held constant


def square(z):
    return z * z


def triple(z):
    return 3.0 * z


helpers = types.ModuleType("helpers")  # a module whose attributes a model reads
helpers.act, helpers.SCALE = square, 2.0
THIS = sys.modules[__name__]
SIGN = 0.0  # a global whose sign 1/SIGN shows


def leaky(z, slope=0.5):
    return np.maximum(z, z * slope)


class ViaModule(Affine):
    def __call__(self, x):
        return helpers.act(x @ self.W) * helpers.SCALE


class Absolute(Affine):
    def __call__(self, x):
        return abs(x @ self.W)


class Signed(Affine):
    def __call__(self, x):
        return x @ self.W + self.b * np.arctan(np.divide(1.0, SIGN))


class Leaky(Affine):
    def __call__(self, x):
        return leaky(x @ self.W + self.b)


def affine_as(cls):
    return lambda: cls(randn(3, 2), randn(2))


MUTATIONS = {  # model, loss, change (of the model, with monkeypatch), gradient
    "an activation replaced": (mlp, total, lambda m, mp: vars(m.layers[0]).update(
        activation=layers.tanh), zp.withgradient),
    "a bias set to None": (mlp, total, lambda m, mp: vars(m.layers[1]).update(
        bias=None), zp.withgradient),
    "a layer of another class": (mlp, total, lambda m, mp: vars(m).update(
        layers=(m.layers[0], Affine(randn(4, 2), randn(2)))), zp.withgradient),
    "a weight of another shape": (mlp, total, lambda m, mp: vars(m.layers[1]).update(
        weight=randn(5, 4), bias=randn(5)), zp.withgradient),
    "an int field bounding a loop": (lambda: Branchy(2), total, lambda m, mp: vars(
        m).update(n=3), the_input),
    "the class's __call__ patched": (affine, total, lambda m, mp: mp.setattr(
        Affine, "__call__", affine_tanh), zp.withgradient),
    "a module-level helper rebound": (affine, squashed, lambda m, mp: mp.setattr(
        sys.modules[__name__], "helper", np.sin), zp.withgradient),
    "a module's function rebound": (affine_as(ViaModule), total, lambda m, mp: (
        mp.setattr(helpers, "act", triple)), zp.withgradient),
    "a module's number rebound": (affine_as(ViaModule), total, lambda m, mp: (
        mp.setattr(helpers, "SCALE", 5.0)), zp.withgradient),
    "a builtin shadowed by a global": (affine_as(Absolute), total, lambda m, mp: (
        mp.setattr(THIS, "abs", np.square, raising=False)), zp.withgradient),
    "a global 0.0 rebound to -0.0": pytest.param(
        (affine_as(Signed), total, lambda m, mp: mp.setattr(THIS, "SIGN", -0.0),
         zp.withgradient), marks=pytest.mark.filterwarnings("ignore:divide by zero")),
    "the defaults of an inlined helper": (affine_as(Leaky), total, lambda m, mp: (
        mp.setattr(leaky, "__defaults__", (0.1,))), zp.withgradient),
}


@pytest.mark.parametrize("case", MUTATIONS.values(), ids=MUTATIONS.keys())
def test_a_guard_notices_a_change_of_structure(case, monkeypatch):
    """After a specialised call, a change of the model (or of the code it
    runs) is seen by the next call's guard: its value and gradient are the
    general path's on the changed model, and the function stays specialised
    (the old flat function did not run and fail)."""
    make, loss, mutate, run = case
    model = make()
    before = by_specialisation(loss, model, X, run=run)
    assert specialised.source(loss) != ""
    mutate(model, monkeypatch)
    got = run(loss, model, X)
    want = general(loss, model, X, run=run)
    assert want[0] != pytest.approx(before[0])  # the change matters
    assert_same(got, want)
    assert specialised.reason(loss) is None  # specialised anew, not by a failure


class IntWeights(Affine):
    """Affine whose weight is an int array (not differentiated) to start with."""

    def __init__(self):
        super().__init__(np.arange(6).reshape(3, 2), randn(2))


class OptionalExtra(Affine):
    """An optional parameter, off: `extra` is None and never read."""

    def __init__(self):
        super().__init__(randn(3, 2), randn(2))
        self.use_extra, self.extra = False, None

    def __call__(self, x):
        y = x @ self.W
        if self.use_extra:
            y = y + self.extra
        return y


class Keyed:
    """A dict field of weights."""

    def __init__(self):
        self.w = {"a": randn(3, 2), "b": randn(3, 2)}

    def __call__(self, x):
        return x @ self.w["a"] + (x @ self.w["b"]) ** 2


def reorder(d):
    """Put the keys of `d` in the opposite order, in place."""
    items = list(d.items())
    d.clear()
    d.update(reversed(items))


GRADIENT_CHANGES = {  # model, change of the model: the value stays, the gradient not
    "an int weight made float": (IntWeights, lambda m: vars(m).update(
        W=m.W.astype(float))),
    "an unread None field made an array": (OptionalExtra, lambda m: vars(m).update(
        extra=np.zeros(2))),
    "a dict field's keys in another order": (Keyed, lambda m: vars(m).update(
        w=dict(reversed(m.w.items())))),
    "a dict field reordered in place": (Keyed, lambda m: reorder(m.w)),
    "the model's fields in another order": (affine, lambda m: reorder(vars(m))),
}


@pytest.mark.parametrize("case", GRADIENT_CHANGES.values(), ids=GRADIENT_CHANGES.keys())
def test_a_guard_notices_a_change_of_the_gradients_structure(case):
    """A change the value does not see but the gradient's structure does (a
    field now differentiated, keys now in another order): the next call's
    gradient is the general path's on the changed model, not the old
    structure's."""
    make, change = case
    model = make()
    before = by_specialisation(total, model, X)
    assert specialised.source(total) != ""
    change(model)
    got = zp.withgradient(total, model, X)
    want = general(total, model, X)
    with pytest.raises(AssertionError):
        assert_same(before, want)  # the change matters
    assert_same(got, want)


# -- refusals and errors -----------------------------------------------------------


class EarlyExit:
    def __init__(self):
        self.W, self.skip = randn(3, 2), False

    def __call__(self, x):
        if self.skip:
            return x
        return np.tanh(x @ self.W)


class Counting:
    def __init__(self):
        self.W, self.calls = randn(3, 2), 0

    def __call__(self, x):
        self.calls += 1
        return np.tanh(x @ self.W)


REFUSED = {
    "a return before the end": (EarlyExit, X),
    "a field written by the forward": (Counting, X),
    "BatchNorm in training mode": (lambda: layers.Chain(
        layers.Dense(3, 4), layers.BatchNorm(4, active=True)), f32(X)),
}


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
def test_what_cannot_be_specialised_goes_the_general_way(case):
    """A model the pass does not understand is refused, says why, and its
    gradient is the general path's."""
    make, x = case
    model = make()
    want = general(total, model, x)
    got = by_specialisation(total, model, x)
    why = specialised.reason(total)
    assert isinstance(why, str) and why
    assert specialised.source(total) == ""
    assert_same(got, want)


def test_a_refused_forward_writes_its_field_once_per_call():
    """`self.calls += 1` in a refused forward counts the calls made, no more."""
    model = Counting()
    by_specialisation(total, model, X)
    assert model.calls == 3


def one_sided(m, x):
    if np.sum(x) > 0:
        x = m(x)
    return np.sum(x**2)


def test_a_parameter_rebound_in_one_branch_gives_the_general_gradient():
    """A data-dependent `if` without `else` rebinding the input, specialised
    with the branch taken: either way the condition then goes gives the
    general path's answer."""
    model = Affine(randn(3, 3), randn(3))
    by_specialisation(one_sided, model, np.abs(X))
    for x in (-np.abs(X), np.abs(X)):
        want = general(one_sided, model, x)
        assert_same(zp.withgradient(one_sided, model, x), want)


def test_a_parameter_rebound_in_one_branch_stays_specialised():
    """The flat function of a forward rebinding its input in one branch of a
    data-dependent `if` runs either branch: the function stays specialised."""
    model = Affine(randn(3, 3), randn(3))
    by_specialisation(one_sided, model, np.abs(X))
    zp.withgradient(one_sided, model, -np.abs(X))
    assert specialised.reason(one_sided) is None


def test_a_shape_error_is_the_general_paths_error():
    """Dense(3, 2) fed 4 features, after it was specialised on 3: the same
    ValueError, with the same message, as with specialisation off; a good
    input afterwards still gets the right gradient."""
    model = layers.Chain(layers.Dense(3, 2))
    good, bad = f32(X), f32(randn(4, 4))
    by_specialisation(total, model, good)
    assert specialised.source(total) != ""
    with pytest.raises(ValueError) as on:
        zp.withgradient(total, model, bad)
    with pytest.raises(ValueError) as off:
        general(total, model, bad)
    assert str(on.value) == str(off.value)
    assert "Dense(3 => 2): expected input features (last axis) 3, got 4" in str(
        on.value)
    want = general(total, model, good)
    assert_same(zp.withgradient(total, model, good), want)


def test_disabled_specialisation_makes_no_flat_function(monkeypatch):
    """With `ENABLED` false a new function is never specialised: no source,
    no reason."""

    def fresh(m, x):
        return np.sum(m(x))

    monkeypatch.setattr(specialised, "ENABLED", False)
    model = mlp()
    for _ in range(3):
        zp.withgradient(fresh, model, X)
    assert specialised.source(fresh) == ""
    assert specialised.reason(fresh) is None


def outcome(f, *args):
    """`zp.withgradient(f, *args)`, or the type and message of its error."""
    try:
        return zp.withgradient(f, *args)
    except Exception as exc:  # noqa: BLE001
        return type(exc), str(exc)


def test_and_of_an_empty_list_is_the_general_paths_error():
    """`self.cfg and 4.0` with `cfg = []` is `[]`, which does not broadcast:
    every call raises the general path's error (not a value of 0)."""
    model = AndFour([])
    want = general(total, model, X, run=outcome)
    assert want[0] is ValueError
    specialised.forget()
    for _ in range(3):
        assert outcome(total, model, X) == want


CALLS = []


def tally(x):
    """A side effect of the forward: counts its calls."""
    CALLS.append(x.shape)


zp.nondifferentiable(tally)


class Tallied(Affine):
    def __call__(self, x):
        tally(x)
        return x @ self.W + self.b


def test_an_error_of_the_flat_function_is_raised_without_a_second_run():
    """A shape mismatch raised by the flat function is raised as it is, not
    by running the call again the general way: the side effect before it
    happens once, and the message is the general path's."""
    model, bad = Tallied(randn(3, 2), randn(2)), randn(4, 5)
    by_specialisation(total, model, X)
    flat = re.match(r"def (\w+)\(", specialised.source(total)).group(1)
    CALLS.clear()
    with pytest.raises(ValueError) as on:
        zp.withgradient(total, model, bad)
    assert CALLS == [bad.shape]
    assert any(e.name.startswith(flat) for e in on.traceback)  # (it ran and raised)
    with pytest.raises(ValueError) as off:
        general(total, model, bad)
    assert str(on.value) == str(off.value)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes are 3.11's")
def test_a_shape_error_in_a_layer_is_pointed_at_the_layers_line():
    """The note of a shape error inside `layers.Dense` raised by the flat
    function names the user's line in layers/basic.py (in Dense.__call__),
    as the general path's note does, not only the generated code."""
    model = layers.Chain(layers.Dense(3, 2))
    by_specialisation(total, model, f32(X))
    flat = re.match(r"def (\w+)\(", specialised.source(total)).group(1)
    notes = []
    for run in (zp.withgradient, general):
        with pytest.raises(ValueError) as raised:
            run(total, model, f32(randn(4, 4)))
        notes.append("\n".join(getattr(raised.value, "__notes__", ())))
    on, off = notes
    assert f'File "{inspect.getsourcefile(layers.Dense)}", line' in on
    assert "Dense.__call__" in on
    assert on.split("generated code")[0] == off.split("generated code")[0]
    assert flat in on.split("generated code")[1]  # (raised by the flat function)


def scaled(m, x, scale=1.0):
    return total(m, x) * scale


def test_calls_using_a_default_leave_full_calls_specialised():
    """Calls of a top-level loss that leave its default argument out go the
    general way without refusing the loss: later calls giving every argument
    are specialised, with the general path's gradient."""
    model = affine()
    for _ in range(2):
        zp.withgradient(scaled, model, X)
    want = general(scaled, model, X, 2.0)
    for _ in range(3):
        got = zp.withgradient(scaled, model, X, 2.0)
    assert specialised.reason(scaled) is None
    assert specialised.source(scaled) != ""
    assert_same(got, want)


# -- the same outcome either way: errors, refusals, side effects, threads ------------


class Aliased(Affine):
    """`a = b = ...` binds one array to both names: `a += 1` changes `b` too
    (the general path refuses the update in place of a shared array)."""

    def __call__(self, x):
        a = b = x @ self.W
        a += 1.0
        return a * b


class ComplexAbs(Affine):
    """A Python complex field of a differentiated model, through `abs`."""

    def __init__(self):
        super().__init__(randn(3, 2), randn(2))
        self.c = 3.0 + 4.0j

    def __call__(self, x):
        return x @ self.W * abs(self.c)


class ComplexReal(ComplexAbs):
    """The complex field through `.real`."""

    def __call__(self, x):
        return x @ self.W * self.c.real


class CopiedInto(Affine):
    """`np.copyto` writing the input into an array field."""

    def __init__(self):
        super().__init__(randn(3, 2), randn(2))
        self.buf = np.zeros(3)

    def __call__(self, x):
        np.copyto(self.buf, x[0])
        return self.buf @ self.W + self.b


class ObjectArray:
    """Layers held in an ndarray of dtype object, looped over."""

    def __init__(self):
        self.ls = np.empty(2, dtype=object)
        self.ls[0] = Affine(randn(3, 3), randn(3))
        self.ls[1] = Affine(randn(3, 2), randn(2))

    def __call__(self, x):
        for layer in self.ls:
            x = layer(x)
        return x


class OddKeys:
    """A dict field with a key other than a string (never read)."""

    def __init__(self, key):
        self.d = {"w": randn(3, 2), key: 3.0}

    def __call__(self, x):
        return x @ self.d["w"]


def is_error(result):
    """Whether `result` (of `outcome`) is an error's type and message."""
    return isinstance(result[0], type) and issubclass(result[0], BaseException)


EITHER_WAY = {  # model, loss, data: no claim of being specialised or refused
    "`a = b = x @ self.W; a += 1`": lambda: (Aliased(randn(3, 2), randn(2)), total, X),
    "a complex field through abs": lambda: (ComplexAbs(), total, X),
    "a complex field through .real": lambda: (ComplexReal(), total, X),
    "np.copyto into an array field": lambda: (CopiedInto(), total, X),
    "layers in an object ndarray": lambda: (ObjectArray(), total, X),
    "a dict field with an np.float64 key": lambda: (
        OddKeys(np.float64(2.0)), total, X),
    "a dict field with a float key": lambda: (OddKeys(1.0), total, X),
    "a dict field with an int key": lambda: (OddKeys(1), total, X),
}


@pytest.mark.parametrize("make", EITHER_WAY.values(), ids=EITHER_WAY.keys())
def test_specialised_or_not_each_call_gets_the_general_paths_outcome(make):
    """Every call, specialised or refused, gives the general path's value and
    gradient (object arrays of Tangents and dict keys' types included), or
    its error with the same type and message: never a first call that raises
    and later ones that return, nor a value the general path does not give."""
    model, loss, *data = make()
    want = general(loss, model, *data, run=outcome)
    specialised.forget()
    for _ in range(3):
        got = outcome(loss, model, *data)
        if is_error(want):
            assert got == want
        else:
            assert_same(got, want)


class NumberKeyed:
    """A dict field of weights keyed by a number, read as `self.w[1]`."""

    def __init__(self, key):
        self.w = {key: randn(3, 2)}

    def __call__(self, x):
        return x @ self.w[1]


@pytest.mark.parametrize("key", [1.0, np.float64(1.0), True, np.int64(1)],
                         ids=["1.0", "np.float64(1.0)", "True", "np.int64(1)"])
def test_a_dict_key_equal_to_the_last_ones_keeps_its_type(key):
    """After calls on a dict field keyed `1`, a dict keyed by an equal number
    of another type (`1.0`, `True`, ...) gets the general path's gradient,
    keyed by its own key, not by `1`."""
    model = NumberKeyed(1)
    by_specialisation(total, model, X)
    model.w = {key: model.w[1]}
    got = zp.withgradient(total, model, X)
    want = general(total, model, X)
    assert type(next(iter(want[1][0].w))) is type(key)
    assert_same(got, want)


COUNT = []


def coin(y):
    """Counts its calls; true every second call."""
    COUNT.append(1)
    return len(COUNT) % 2 == 0


def note():
    """Counts its calls."""
    COUNT.append(1)


zp.nondifferentiable(coin, note)


class CoinIf(Affine):
    """`a if coin(y) else b`: a call in a conditional expression's test."""

    def __call__(self, x):
        y = x @ self.W
        return y * 2.0 if coin(y) else y * 3.0


class CoinOr(Affine):
    """`coin(y) or 5.0`: a call as the first operand of `or`."""

    def __call__(self, x):
        y = x @ self.W
        k = coin(y) or 5.0
        return y * k


class Paired:
    """A call's result held by a tuple with a layer, the tuple's item passed
    through an identity helper, then the tuple unpacked."""

    def __init__(self):
        self.layer = Affine(randn(3, 3), randn(3))

    def __call__(self, x):
        note()
        pair = (self.layer, np.tanh(x))
        y = ident(pair[1])
        layer, v = pair
        return layer(v) + y


COUNTED = {
    "`x if coin(y) else z`": lambda: CoinIf(randn(3, 2), randn(2)),
    "`coin(y) or 5.0`": lambda: CoinOr(randn(3, 2), randn(2)),
    "a call's result held by a tuple, then its item used": Paired,
}


def counted_calls(f, model, n=4):
    """`n` gradients of `f(model, X)` from a zero count, each with the count
    of the helper's calls after it."""
    COUNT.clear()
    return [(zp.withgradient(f, model, X), len(COUNT)) for _ in range(n)]


@pytest.mark.parametrize("make", COUNTED.values(), ids=COUNTED.keys())
def test_a_counting_helper_is_called_as_often_either_way(make):
    """A non-differentiable helper called in a conditional expression's test,
    in `or`, or before a tuple holding a call's result runs once per call
    of the forward (as many calls after each gradient either way), and each
    gradient is the general path's (the helper's answers, which depend on
    the count, included); the function is specialised."""
    model = make()
    want = general(total, model, run=counted_calls)
    specialised.forget()
    got = counted_calls(total, model)
    assert [n for _, n in got] == [n for _, n in want] == [1, 2, 3, 4]
    for (g, _), (w, _) in zip(got, want):
        assert_same(g, w)
    assert specialised.source(total) != ""


def test_an_empty_tuple_does_not_stop_a_later_structure_being_specialised():
    """After calls on a model whose tuple field is empty, the same forward on
    a model whose tuple holds a function is specialised too (the empty tuple
    did not refuse the function's code), with the general path's gradient."""
    by_specialisation(total, Extras(()), X)
    model = Extras((np.tanh,))
    want = general(total, model, X)
    for _ in range(3):
        got = zp.withgradient(total, model, X)
    assert specialised.reason(total) is None
    assert "tanh(" in specialised.source(total)  # (the second structure's flat function)
    assert_same(got, want)


def test_two_threads_get_their_own_models_gradients():
    """Two threads differentiating one loss on two models of one structure at
    once, 50 calls each (started together by a barrier each call, threads
    switched often), raise nothing, and each gets its own model's gradient
    every time (the specialisation they share keeps each call's structures
    to its own thread)."""
    models = [mlp(), mlp()]
    wants = [general(mse, m, X, Y) for m in models]
    for m in models:
        for _ in range(2):
            zp.withgradient(mse, m, X, Y)
    assert specialised.source(mse) != ""
    barrier = threading.Barrier(2, timeout=30)
    results, errors = [[], []], []

    def work(i):
        try:
            for _ in range(50):
                barrier.wait()
                results[i].append(zp.withgradient(mse, models[i], X, Y))
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)
            barrier.abort()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, inside a call too
    try:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
    assert specialised.reason(mse) is None
    for got, want in zip(results, wants):
        assert len(got) == 50
        for g in got:
            assert_same(g, want)


def wrapping(inner):
    """A closure capturing `inner` alone."""

    def wrapped(x):
        return inner(x) * 2.0

    return wrapped


CAPTURED = {
    "a plain function": triple,
    "np.sin": np.sin,  # (a ufunc: its __dict__ holds only __module__ and __qualname__)
}


@pytest.mark.parametrize("inner", CAPTURED.values(), ids=CAPTURED.keys())
def test_a_closure_capturing_nothing_differentiable_gets_none(inner):
    """A closure whose only captured variable is a function holding nothing
    differentiable gets the gradient None, as on the general path, not a
    Tangent of its cells."""
    model = wrapping(inner)
    want = general(total, model, X)
    got = by_specialisation(total, model, X)
    assert want[1][0] is None
    assert specialised.source(total) != ""
    assert_same(got, want)


def test_a_120_layer_chain_is_specialised_with_the_general_gradient():
    """A Chain of 120 `Dense(4, 4, tanh)` is specialised (no reason, a flat
    function) and its gradient is the general path's, layer by layer."""
    model = layers.f64(layers.Chain(*(layers.Dense(4, 4, layers.tanh)
                                      for _ in range(120))))
    x = randn(2, 4)
    want = general(total, model, x)
    got = by_specialisation(total, model, x)
    assert specialised.reason(total) is None
    assert specialised.source(total) != ""
    assert_same(got, want)


STEP = 0  # a global int a helper of the forward rebinds
HISTORY = []  # a global list a helper of the forward rebinds


def tick():
    """Rebinds the globals `STEP` (an int) and `HISTORY` (a new list)."""
    global STEP, HISTORY
    STEP += 1
    HISTORY = [*HISTORY, STEP]


zp.nondifferentiable(tick)


class TicksInt(Affine):
    """Reads the global int after the helper that rebinds it."""

    def __call__(self, x):
        tick()
        return x @ self.W * STEP


class TicksList(Affine):
    """Reads the global list's length after the helper that rebinds it."""

    def __call__(self, x):
        tick()
        return x @ self.W * len(HISTORY)


APPENDED = []  # a global list a helper of the forward appends to


def append_tick():
    APPENDED.append(len(APPENDED))


zp.nondifferentiable(append_tick)


class TicksAppended(Affine):
    """Reads the global list's length after the helper that appends to it."""

    def __call__(self, x):
        append_tick()
        return x @ self.W * len(APPENDED)


@pytest.mark.parametrize("cls", [TicksInt, TicksList, TicksAppended],
                         ids=["an int", "a list", "a list appended to"])
def test_a_global_rebound_by_a_helper_during_the_forward_is_read_after(
        cls, monkeypatch):
    """A global a non-differentiable helper rebinds (or appends to) during the
    forward is read, after that call, at its new value: four calls give the
    general path's values and gradients, call by call (such a forward is not
    specialised: the flat code reads globals when the call starts)."""
    model = cls(randn(3, 2), randn(2))

    def ticked(f, model):
        monkeypatch.setattr(THIS, "STEP", 0)
        monkeypatch.setattr(THIS, "HISTORY", [])
        monkeypatch.setattr(THIS, "APPENDED", [])
        return [zp.withgradient(f, model, X) for _ in range(4)]

    want = general(total, model, run=ticked)
    specialised.forget()
    got = ticked(total, model)
    for g, w in zip(got, want):
        assert_same(g, w)


class TalliedVector(Affine):
    """Returns an array (not a loss) when the batch has one row."""

    def __call__(self, x):
        tally(x)
        y = x @ self.W + self.b
        return y if x.shape[0] == 1 else np.sum(y)


class TalliedNameError(Affine):
    """Raises a NameError of its own on a batch of one row."""

    def __call__(self, x):
        tally(x)
        if x.shape[0] == 1:
            raise NameError("a batch of one row has no name")
        return np.sum(x @ self.W + self.b)


def direct(m, x):
    return m(x)


@pytest.mark.parametrize("make, bad, error", [
    (lambda: TalliedVector(randn(3, 2), randn(2)), lambda: randn(1, 3),
     zp.NotScalarError),
    (lambda: TalliedNameError(randn(3, 2), randn(2)), lambda: randn(1, 3), NameError),
], ids=["a loss returning an array", "a NameError of the user's"])
def test_an_error_of_the_users_code_runs_the_forward_once(make, bad, error):
    """Errors of the user's code raised by the flat function (zygopy's own
    NotScalarError for a loss that returns an array; a NameError the user's
    code raises) are raised as they are: the forward's side effect happens
    once per call, as with specialisation off; and a good batch after it is
    still specialised."""
    model, x = make(), bad()
    by_specialisation(direct, model, X)
    for run in (zp.withgradient, general):
        CALLS.clear()
        with pytest.raises(error):
            run(direct, model, x)
        assert CALLS == [x.shape]
    assert_same(zp.withgradient(direct, model, X), general(direct, model, X))
    assert specialised.reason(direct) is None


SCALE_OF_MODULE = 2.0


class ScaledByModule(Affine):
    def __call__(self, x):
        return (x @ self.W + self.b) * SCALE_OF_MODULE


def test_a_module_number_deleted_between_calls_raises_the_general_paths_error(
        monkeypatch):
    """A module-level number the forward reads, deleted after the call was
    specialised: the next call raises NameError, as Python (and the general
    path) does, not a KeyError of the flat code."""
    model = ScaledByModule(randn(3, 2), randn(2))
    by_specialisation(total, model, X)
    monkeypatch.delitem(globals(), "SCALE_OF_MODULE")
    with pytest.raises(NameError, match="SCALE_OF_MODULE"):
        zp.withgradient(total, model, X)


class Zipped:
    """A tuple of layers iterated with zip() and enumerate()."""

    def __init__(self):
        self.ls = (layers.Dense(3, 3), layers.Dense(3, 3))
        self.scales = (1.0, -2.0)

    def __call__(self, x):
        for i, (layer, s) in enumerate(zip(self.ls, self.scales)):
            x = layer(x) * s * (i + 1)
        return x


@pytest.mark.parametrize("specialise", [False, True], ids=["general", "specialised"])
def test_layers_iterated_by_zip_get_a_tuple_of_their_gradients(specialise, monkeypatch):
    """The gradient of a tuple of float32 layers iterated by zip/enumerate is a
    tuple of complete layer gradients (every field, float32), both ways: the
    general path's list of cotangents is made to mirror the tuple."""
    monkeypatch.setattr(specialised, "ENABLED", specialise)
    (g, _), = [by_specialisation(total, Zipped(), X, run=zp.gradient)]
    assert type(g.ls) is tuple and type(g.scales) is tuple
    for d in g.ls:
        assert set(d.fields()) == {"weight", "bias", "activation"}
        assert d.weight.dtype == np.float32


def bump_in_place(h):
    """A helper changing its argument in place (a buffer), returning 0."""
    CALLS.append(h.shape)
    h += 1.0
    return 0.0


zp.nondifferentiable(bump_in_place)


class EvaluatedInOrder:
    """`h * 2.0` is computed before `bump_in_place(h)` changes h, as Python does."""

    def __init__(self):
        self.w = randn(3)

    def __call__(self, x):
        h = x * self.w
        return np.sum(h * 2.0 + bump_in_place(h))


class Misordered:
    """Both products are wrong; Python raises the first one's error."""

    def __init__(self):
        self.A, self.B = randn(5, 2), randn(7, 2)

    def __call__(self, x):
        return np.sum((x @ self.A) * np.tanh(x @ self.B))


def test_operands_are_computed_in_pythons_order():
    """An operand computed in place before a later operand's call (which
    changes an array in place) sees the array as it was, as in Python; and of
    two errors, the first operand's is raised, pointed at the user's line."""
    model = EvaluatedInOrder()
    assert_same(by_specialisation(direct, model, X), general(direct, model, X))
    assert specialised.reason(direct) is None
    bad = Misordered()
    by_specialisation(total, Affine(randn(3, 2), randn(2)), X)  # (specialised first)
    for run in (zp.withgradient, general):
        with pytest.raises(ValueError, match="size 5"):
            run(total, bad, X)


class NamedOddly(Affine):
    """A field whose name is not an identifier (set with setattr)."""

    def __init__(self, W, b):
        super().__init__(W, b)
        setattr(self, "0", randn(2))

    def __call__(self, x):
        return x @ self.W + self.b + getattr(self, "0")


def test_a_field_named_by_setattr_does_not_stop_specialisation():
    """A field named "0" (not an identifier) is read and zeroed by the guard
    and the builder as `getattr(x, '0')`: the loss stays specialisable, for
    this model and a plain one after it."""
    odd = NamedOddly(randn(3, 2), randn(2))
    general(total, odd, X)
    by_specialisation(total, odd, X)
    plain = Affine(randn(3, 2), randn(2))
    assert_same(by_specialisation(total, plain, X), general(total, plain, X))
    assert specialised.reason(total) is None


class AliasedUpdate(Affine):
    def __call__(self, x):
        h = x @ self.W
        g = h
        h += self.b
        return np.sum(g * h)


def test_an_aliased_update_is_refused_naming_the_users_code():
    """An update in place of an array another name shares is refused in both
    ways with the general path's message, which names the user's file and
    variables (not the flat function's)."""
    model = AliasedUpdate(randn(3, 2), randn(2))
    messages = []
    for run in (zp.withgradient, general):
        for _ in range(3):
            with pytest.raises(zp.UnsupportedSyntax) as raised:
                run(total, model, X)
        messages.append(str(raised.value))
    assert messages[0] == messages[1]
    assert "test_structure_specialisation.py" in messages[0] and "`g`" in messages[0]


def test_a_loss_refused_for_one_model_is_specialised_for_another():
    """A loss refused for a model it cannot specialise (Dropout returns early)
    is still specialised for a model it can (refusals are remembered by the
    model's outline, not by the loss alone), and the reason is cleared."""
    dropping = layers.f64(layers.Chain(layers.Dense(3, 2), layers.Dropout(0.5)))
    layers.testmode(dropping)
    by_specialisation(total, dropping, X)
    assert specialised.reason(total) is not None and specialised.source(total) == ""
    plain = layers.f64(layers.Chain(layers.Dense(3, 2)))
    for _ in range(3):
        got = zp.withgradient(total, plain, X)
    assert specialised.reason(total) is None and specialised.source(total) != ""
    assert_same(got, general(total, plain, X))


def test_models_of_two_dtypes_alternate_with_a_specialisation_each():
    """The guard checks each array's dtype: a float32 and a float64 model of
    one structure, alternated, each get their own flat function (compiled for
    their dtype) and gradients of their own dtype, equal to the general path's."""
    m32 = layers.Chain(layers.Dense(3, 4, layers.tanh), layers.Dense(4, 2))
    m64 = layers.f64(layers.Chain(layers.Dense(3, 4, layers.tanh), layers.Dense(4, 2)))
    x32, x64 = f32(X), X
    specialised.forget()
    for _ in range(3):
        for m, x in ((m32, x32), (m64, x64)):
            got = zp.withgradient(total, m, x)
            assert_same(got, general(total, m, x))
            assert got[1][0].layers[0].weight.dtype == m.layers[0].weight.dtype
    assert specialised.source(total).count("def guard") == 2


def test_value_and_grad_repeats_its_specialised_call_and_notices_a_change():
    """A `value_and_grad` (or `grad`) function calls its last specialisation
    again straight away; a model of another structure, or arguments of
    another kind, still get their own gradient."""
    small = layers.Chain(layers.Dense(3, 4, layers.tanh), layers.Dense(4, 2))
    other = layers.Chain(layers.Dense(3, 2))
    vg, g = zp.value_and_grad(total), zp.grad(total)
    specialised.forget()
    for _ in range(3):
        for m in (small, other, small):
            want = general(total, m, X)
            value, got = vg(m, X)
            assert value == want[0]
            assert_same(got, want[1][0])
            assert_same(g(m, X), want[1][0])
    assert_same(g(small, f32(X)), general(total, small, f32(X))[1][0])
