"""Objects of user classes built inside differentiated code (runtime/construct.py):
a class whose __init__ computes and sets fields of self is differentiated
through its field function; others are refused naming the class and why."""

import numpy as np
import pytest

import zygopy as zp
from zygopy.testing import check_grads

X = np.array([0.5, -1.0])
W = np.random.default_rng(0).standard_normal((3, 2))


class Affine:
    SCALE = 2.0  # a class attribute read in __init__

    def __init__(self, W, b=None, *, act=np.tanh):
        self.W = W * self.SCALE
        if b is None:
            self.b = np.zeros(W.shape[0])
        else:
            self.b = b
        self.act = act
        self.norm = np.sqrt(np.sum(self.W ** 2))
        self.W = self.W / self.norm  # a field read and set again

    def __call__(self, x):
        return self.act(self.W @ x + self.b)


class Pair:
    def __init__(self, a, c):
        self.inner = Affine(a)  # an object built inside another's __init__
        self.w = c * 3.0


class Totals:
    def __init__(self, xs, flag=True):
        self.total = 0.0
        for v in xs:
            self.total += v * v
        if flag:
            self.twice = self.total * 2.0
            return
        self.half = self.total / 2.0


class Particle:
    def __init__(self, pos, vel):
        self.pos, self.vel = pos, vel

    def step(self, dt):
        return Particle(self.pos + dt * self.vel, self.vel * 0.9)


def simulate(p0, v0):
    p = Particle(p0, v0)
    for _ in range(5):
        p = p.step(0.1)
    return np.sum(p.pos ** 2)


@pytest.mark.parametrize("f, args", [
    (lambda W, b: np.sum(Affine(W, b, act=np.sin)(X) ** 2), (W, np.full(3, 0.1))),
    (lambda W: np.sum(Affine(W)(X) ** 2), (W,)),
    (lambda W, c: np.sum(Pair(W, c).inner(X)) * Pair(W, c).w, (W, 0.7)),
    (lambda x: Totals([x, 2 * x]).twice + Totals([x], flag=False).half, (0.7,)),
    (simulate, (np.array([0.5, -1.0]), np.array([1.0, 0.3]))),
])
def test_objects_built_inside_differentiate(f, args):
    check_grads(f, *args)


def test_second_derivative_through_a_built_object():
    f = lambda x: Totals([x, x * x]).twice
    assert zp.grad(zp.grad(f))(0.7) == pytest.approx(2 * (2 + 12 * 0.7 ** 2))


def test_a_built_object_is_an_ordinary_instance():
    p = Particle(np.ones(2), np.ones(2))
    (g,) = zp.gradient(lambda p: np.sum(p.step(0.1).pos ** 2), p)
    np.testing.assert_allclose(g.pos, 2 * 1.1 * np.ones(2))
    np.testing.assert_allclose(g.vel, 0.2 * 1.1 * np.ones(2))


class WithSuper(Affine):
    def __init__(self, W):
        super().__init__(W)


class CallsAMethod:
    def __init__(self, x):
        self.x = x
        self.y = self.double()

    def double(self):
        return self.x * 2


class Interned:
    def __new__(cls, x):
        return super().__new__(cls)

    def __init__(self, x):
        self.x = x


@pytest.mark.parametrize("cls, why", [
    (WithSuper, "calls super()"),
    (CallsAMethod, "calls the method `self.double`"),
    (Interned, "custom __new__"),
])
def test_other_classes_are_refused_with_the_reason(cls, why):
    with pytest.raises(zp.NoRuleError, match=f"not {cls.__name__}: .*{why}"):
        zp.gradient(lambda w: np.sum(w) + 0.0 * (cls(w) is None), W)


class Checked:
    def __init__(self, x):
        if x < 0:
            raise ValueError("x must be non-negative")
        self.x = x


def test_an_error_in_init_points_at_the_users_line():
    with pytest.raises(ValueError, match="non-negative") as info:
        zp.gradient(lambda x: Checked(x).x, -1.0)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "test_construct.py" in notes and "raise ValueError" in notes


class Counted:
    count = 0  # a class attribute the instance's field starts from

    def __init__(self, x):
        self.count = self.count + 1
        self.x = x * self.count


def test_a_field_read_before_it_is_set_is_the_class_attribute():
    assert Counted(2.0).x == 2.0
    assert zp.gradient(lambda x: Counted(x).x * 3.0, 2.0) == (3.0,)
