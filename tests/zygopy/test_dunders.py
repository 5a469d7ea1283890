"""Operators on objects of user classes run (and differentiate) the class's
own special methods; protocols zygopy cannot follow back to the fields are
refused, never a silent zero."""

import math

import numpy as np
import pytest

import zygopy as zp
from zygopy.testing import numerical_vjp


class V:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __mul__(self, k):
        return V(self.x * k, self.y + k)

    def __neg__(self):
        return V(self.y, self.x)

    def __sub__(self, o):
        return self.x * o.x - self.y

    def __radd__(self, other):
        return other + self.y

    def __rmul__(self, k):
        return k * self.x

    def __pow__(self, p):
        return self.x**p

    def __truediv__(self, k):
        return NotImplemented  # Python then tries the right operand's __rtruediv__


class Scale:
    def __init__(self, s):
        self.s = s

    def __rtruediv__(self, v):
        return v.x / self.s


class Sub(V):
    def __rmul__(self, k):  # a subclass's reflected method goes first
        return k * self.y


class Doubler:
    def __init__(self, xs):
        self.xs = xs

    def __getitem__(self, i):
        return self.xs[i] * 2

    def __getattr__(self, name):
        if name == "first":
            return self.xs[0] * 3
        raise AttributeError(name)


class Pair:
    def __init__(self, a):
        self.a = a

    def __iter__(self):
        return iter([self.a, self.a * 2])

    def __float__(self):
        return self.a * 2

    def __abs__(self):
        return self.a


CASES = [
    (lambda x: (-V(x, 2.0)).y, 1.5, 1.0),
    (lambda x: V(x, 2.0) - V(3.0, x), 1.5, 3.0),
    (lambda x: (V(x, 2.0) * x).y + (V(x, 2.0) * x).x, 1.5, 1.0 + 2 * 1.5),
    (lambda x: 1.0 + V(1.0, x), 1.5, 1.0),
    (lambda x: 3.0 * V(x, 7.0), 1.5, 3.0),
    (lambda x: V(x, 1.0) ** 3, 1.5, 3 * 1.5**2),
    (lambda x: sum([V(1.0, x), V(2.0, x)]), 1.5, 2.0),
    (lambda x: sum([V(1.0, x), V(2.0, x)], x * x), 1.5, 2.0 + 2 * 1.5),
    (lambda x: V(x, 2.0) / Scale(x * x), 1.5, -1 / 1.5**2),
    (lambda x: x * Sub(5.0, 2.0), 1.5, 2.0),
    (lambda x: Doubler([x, 3.0])[0] + Doubler([x, x])[1], 1.5, 4.0),
    (lambda x: Doubler([x, 3.0]).first, 1.5, 3.0),
]


@pytest.mark.parametrize("f, x, expected", CASES)
def test_special_methods_of_user_classes_are_differentiated(f, x, expected):
    (g,) = zp.gradient(f, x)
    h = 1e-6
    assert g == pytest.approx(expected, rel=1e-9)
    assert g == pytest.approx((f(x + h) - f(x - h)) / (2 * h), rel=1e-6)


def test_gradients_with_respect_to_the_object_mirror_its_fields():
    (g,) = zp.gradient(lambda v: (v * 3.0).y, V(1.0, 2.0))
    assert (g.x, g.y) == (0.0, 1.0)
    (g,) = zp.gradient(lambda v: (-v).x, V(1.0, 2.0))
    assert (g.x, g.y) == (0.0, 1.0)
    (g,) = zp.gradient(lambda c: c[0] + c[1], Doubler([1.0, 2.0]))
    assert g.xs == [2.0, 2.0]
    assert zp.gradient(lambda a, k: (V(a, 1.0) * k).x, 1.5, 2.0) == (2.0, 1.5)


@pytest.mark.parametrize("f, what", [
    (lambda x: sum(list(Pair(x))), "iterating an object of class Pair"),
    (lambda x: min(Pair(x)), "iterating an object of class Pair"),
    (lambda x: float(Pair(x)), r"float\(\) of an object of class Pair"),
    (lambda x: abs(Pair(x)), r"abs\(\) of an object of class Pair"),
    (lambda x: math.sqrt(Pair(x)), r"sqrt\(\) of an object of class Pair"),
])
def test_protocols_it_cannot_follow_are_refused(f, what):
    with pytest.raises(zp.NoRuleError, match=what):
        zp.gradient(f, 1.5)


def unpacks(x):
    p, q = Pair(x)
    return p + q


def test_unpacking_an_object_is_refused():
    with pytest.raises(zp.NoRuleError, match="unpacking an object of class Pair"):
        zp.gradient(unpacks, 1.5)


def test_the_explicit_method_is_the_way_out():
    assert zp.gradient(lambda x: Pair(x).__float__(), 1.5) == (2.0,)
    assert zp.gradient(lambda x: np.sum(np.array([1.0, 2.0]) * x), 1.5) == (3.0,)


# -- sub-layers found by name: properties, __getattr__, getattr, __dict__, vars ----------


class Lin:
    def __init__(self, w):
        self.w = w

    def __call__(self, x):
        return self.w * x


class Box:
    def __init__(self, a, b):
        self.mods = (Lin(a), Lin(b))

    @property
    def first(self):
        return self.mods[0]

    def __getattr__(self, name):
        if name == "second":
            return self.mods[1]
        raise AttributeError(name)

    def by_name(self, x):
        return getattr(self, "second")(x) + vars(self)["mods"][0](x)  # noqa: B009


X2 = np.array([1.0, 2.0])


@pytest.mark.parametrize("f, expected", [
    (lambda m: np.sum(m.first(X2)), ([1.0, 2.0], [0.0, 0.0])),
    (lambda m: np.sum(m.second(X2)), ([0.0, 0.0], [1.0, 2.0])),
    (lambda m: np.sum(m.by_name(X2)), ([1.0, 2.0], [1.0, 2.0])),
    (lambda m: np.sum(m.__dict__["mods"][1](X2)), ([0.0, 0.0], [1.0, 2.0])),
])
def test_callees_computed_by_name_send_gradients_to_fields(f, expected):
    """Calling what a property, __getattr__, getattr or __dict__ gives (a named
    sub-layer) differentiates through that lookup (was a silent zero)."""
    (g,) = zp.gradient(f, Box(np.array([0.5, -1.0]), np.array([2.0, 3.0])))
    np.testing.assert_allclose(g.mods[0].w, expected[0])
    np.testing.assert_allclose(g.mods[1].w, expected[1])


def test_a_named_chain_trains_through_its_names():
    import layers

    m = layers.f64(layers.Chain(enc=layers.Dense(2, 3, np.tanh), dec=layers.Dense(3, 2)))
    x = np.array([[0.3, -0.4], [1.0, 0.5]])
    loss = lambda m: np.sum((m.dec(m.enc(x)) - x) ** 2)
    (g,) = zp.gradient(loss, m)
    (by_index,) = zp.gradient(lambda m: np.sum((m(x) - x) ** 2), m)
    np.testing.assert_allclose(g.layers[0].weight, by_index.layers[0].weight)
    assert np.any(g.layers[0].weight != 0)
    enc = m.layers[0]

    def loss_at(weight):
        enc.weight = weight
        return loss(m)

    (numeric,) = numerical_vjp(loss_at, (enc.weight.copy(),), 1.0)
    np.testing.assert_allclose(g.layers[0].weight, numeric, rtol=1e-5, atol=1e-8)


class _B:
    def __init__(self, x):
        self.x = x

    def __mul__(self, o):
        return self.x * o.x

    def __rmul__(self, o):
        return 10.0 * self.x * o.x


class _C(_B):  # inherits __rmul__: Python runs the left operand's __mul__
    pass


def test_an_inherited_reflected_method_does_not_go_first():
    f = lambda a: _B(a) * _C(a)
    assert f(1.3) == pytest.approx(1.69)
    assert zp.withgradient(f, 1.3) == (pytest.approx(1.69), (pytest.approx(2.6),))


class _A:
    def __init__(self, w):
        self.w = w

    def __rmul__(self, k):
        return _A(self.w * k)

    def __float__(self):
        return self.w * 3


@pytest.mark.parametrize("f, what", [
    (lambda a: np.sum(_A(a * a)).w, r"np.sum \(of an object of class _A"),
    (lambda a: np.float64(_A(a)) * 1.0, r"np.float64 \(of an object of class _A"),
    (lambda a: np.sum((np.array([a, 2.0]) * _A(a)).w), "an array and an object of class _A"),
])
def test_numpy_of_user_objects_is_refused(f, what):
    with pytest.raises(zp.NoRuleError, match=what):
        zp.gradient(f, 1.5)


def _star(x):
    return _add2(*Pair(x))


def _add2(p, q):
    return p + q


def test_star_unpacking_an_object_is_refused():
    with pytest.raises(zp.NoRuleError, match="unpacking an object of class Pair"):
        zp.gradient(_star, 1.5)


class _V2:
    def __init__(self, a, b):
        self.a, self.b = a, b

    def __add__(self, o):
        return _V2(self.a + o, self.b)


def _adds_in_place(a, b):
    v = _V2(a, b)
    v += a  # no __iadd__: v is rebound, the class is not shared
    w = _V2(b, b)
    return v.a + v.b + w.a


def test_augmented_assignment_of_an_object_without_iadd():
    assert zp.gradient(_adds_in_place, 0.5, 1.5) == (2.0, 2.0)


class _W:
    def __init__(self, x):
        self.x = x

    def __add__(self, o):
        return _W(self.x + o)

    def __iadd__(self, o):
        return _W(self.x + 2 * o)


class _OnlyIadd:
    def __init__(self, x):
        self.x = x

    def __iadd__(self, o):
        return _OnlyIadd(self.x * o)


def _adds_twice(a):
    w = _W(a)
    w += a  # __iadd__, as Python
    v = _W(a) + a  # __add__
    return w.x + v.x


def _only_iadd(a):
    w = _OnlyIadd(a)
    w += a
    return w.x


def test_augmented_assignment_runs_the_in_place_method():
    assert _adds_twice(1.3) == pytest.approx(3 * 1.3 + 2 * 1.3)
    assert zp.withgradient(_adds_twice, 1.3) == (pytest.approx(6.5), (pytest.approx(5.0),))
    assert zp.gradient(_only_iadd, 1.3) == (pytest.approx(2.6),)


def test_a_gradient_with_respect_to_a_bound_method_is_its_objects():
    (g, gx) = zp.gradient(lambda m, x: m(x), Lin(1.3).__call__, 0.7)
    assert g.w == pytest.approx(0.7) and gx == pytest.approx(1.3)
