"""Records made inside differentiated code: a dataclass (with its generated
__init__ and no __post_init__) or a namedtuple built from differentiable values
sends each field's cotangent back to the argument that filled it; other
classes are refused with a NoRuleError that says what is supported."""

import collections
import dataclasses

import numpy as np
import pytest

import zygopy as zp
from zygopy.testing import check_grads

X = np.array([1.0, 2.0, 3.0])


@dataclasses.dataclass(frozen=True)
class Linear:
    w: np.ndarray
    b: float = 0.0

    def __call__(self, x):
        return self.w @ x + self.b


@dataclasses.dataclass
class Pair:
    a: float
    b: float


@dataclasses.dataclass
class Doubled:
    w: np.ndarray

    def __post_init__(self):
        self.w = self.w * 2


P = collections.namedtuple("P", "a b")


def builds_a_layer(w, b):
    return np.sum(Linear(w, b=b)(X) ** 2) + np.sum(Linear(w)(X))


def builds_pairs(x, y):
    ps = [Pair(x, y), Pair(y, x * x)]
    return sum(p.a * p.b for p in ps)


def builds_a_namedtuple(x, y):
    p = P(x * 2, b=y)
    return np.sum(p.a * p.b) + p[0][1]  # read by field and by index


@pytest.mark.parametrize("f, args", [
    (builds_a_layer, (np.arange(6.0).reshape(2, 3) / 5, 0.3)),
    (builds_pairs, (0.5, 1.5)),
    (builds_a_namedtuple, (X, X + 1)),
])
def test_records_made_inside_differentiate(f, args):
    check_grads(f, *args)


def test_other_classes_are_refused_naming_what_works():
    with pytest.raises(zp.NoRuleError, match="dataclass with __post_init__"):
        zp.gradient(lambda w: np.sum(Doubled(w).w), X)


def test_a_dataclass_gradient_has_its_other_attributes_too():
    """Attributes set in __post_init__ or later are fields of the gradient, as
    they are of a plain class's (they were dropped: a silent zero)."""
    import dataclasses

    @dataclasses.dataclass
    class P:
        a: float
        b: float = 1.0

        def __post_init__(self):
            self.c = self.a * self.b

    (g,) = zp.gradient(lambda p: p.c * p.a, P(2.0, 3.0))
    assert (g.a, g.b, g.c) == (6.0, 0.0, 2.0)

    @dataclasses.dataclass
    class R:
        a: float

    r = R(2.0)
    r.extra = 4.0
    (g,) = zp.gradient(lambda o: o.extra * o.a, r)
    assert (g.a, g.extra) == (4.0, 2.0)
