"""jacobian, stop_gradient/nograd and checkpointed, against central differences."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import zygopy as zp
from zygopy.testing import assert_close, check_grads, numerical_vjp


def numerical_jacobian(f, *args):
    """One central-difference VJP per output element, stacked (float64)."""
    y = np.asarray(f(*args), dtype=np.float64)
    rows = []
    for k in range(y.size):
        dy = np.zeros(y.shape)
        dy.flat[k] = 1.0
        rows.append(numerical_vjp(f, args, dy if y.ndim else 1.0))
    return tuple(
        None
        if rows[0][i] is None
        else np.stack([np.asarray(r[i]) for r in rows]).reshape(y.shape + np.shape(a))
        for i, a in enumerate(args)
    )


# -- jacobian -----------------------------------------------------------------------
def layer(W, x):
    return np.tanh(W @ x)


def cumulative(x):
    out = np.zeros(x.shape[0])
    total = 0.0
    for i in range(x.shape[0]):
        total = total + np.sin(x[i]) * x[i]
        out[i] = total
    return out


def outer_square(x):
    return np.outer(x, x) ** 2


JACOBIAN_CASES = [
    ("elementwise", lambda x: np.exp(x) * x, (np.linspace(-1, 1, 4),)),
    ("matvec", layer, (np.arange(6.0).reshape(3, 2) / 6, np.array([0.3, -0.8]))),
    ("loop and mutation", cumulative, (np.linspace(0.1, 1.2, 5),)),
    ("matrix output", outer_square, (np.array([0.5, -1.0, 2.0]),)),
    ("scalar output", lambda x: np.sum(x**3), (np.array([1.0, -2.0]),)),
    ("scalar argument", lambda a, x: a * np.sin(x), (0.7, np.array([0.1, 0.2, 0.3]))),
]


@pytest.mark.parametrize(
    "f,args", [c[1:] for c in JACOBIAN_CASES], ids=[c[0] for c in JACOBIAN_CASES]
)
def test_jacobian_matches_central_differences(f, args):
    got = zp.jacobian(f, *args)
    want = numerical_jacobian(f, *args)
    assert isinstance(got, tuple) and len(got) == len(args)
    for g, w, a in zip(got, want, args):
        assert np.shape(g) == np.shape(f(*args)) + np.shape(a)
        assert_close(g, w)


@given(
    W=hnp.arrays(np.float64, (3, 2), elements=st.floats(-2, 2)),
    x=hnp.arrays(np.float64, (2,), elements=st.floats(-2, 2)),
)
def test_jacobian_property(W, x):
    got = zp.jacobian(layer, W, x)
    assert_close(got, numerical_jacobian(layer, W, x))


def test_jacobian_of_scalar_function_is_its_gradient():
    def f(x, y):
        return np.sum(x * y) ** 2

    x, y = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    assert_close(zp.jacobian(f, x, y), zp.gradient(f, x, y))


def test_jacobian_of_numbers_is_numbers():
    assert zp.jacobian(lambda x, y: x * y + x**2, 3.0, 2.0) == (8.0, 3.0)


def test_jacobian_keeps_float32():
    x = np.array([1.0, 2.0], dtype=np.float32)
    (J,) = zp.jacobian(lambda x: x * x, x)
    assert J.dtype == np.float32
    assert_close(J, np.diag([2.0, 4.0]))


def test_jacobian_of_integer_argument_is_none():
    J = zp.jacobian(lambda x, n: x * n, np.array([1.0, 2.0]), np.array([2, 3]))
    assert J[1] is None
    assert_close(J[0], np.diag([2.0, 3.0]))


def test_jacobian_leaves_the_output_alone():
    # the pullback undoes and redoes mutations: the result must survive
    x = np.linspace(0.1, 1.2, 5)
    y, back = zp.pullback(cumulative, x)
    expected = cumulative(x)
    for k in range(3):
        back(np.eye(5)[k])
    assert_close(y, expected, what="output after its pullback ran")


@pytest.mark.parametrize("result", [(np.ones(2), np.ones(2)), "text", np.array([1, 2])])
def test_jacobian_of_non_real_output_says_what_to_do(result):
    with pytest.raises(TypeError, match="(?s)real array or number.*Possible fixes"):
        zp.jacobian(lambda x: result if x is not None else x, 1.0)


# -- stop_gradient ------------------------------------------------------------------
def test_stop_gradient_blocks_the_gradient():
    assert zp.gradient(lambda x: x * zp.stop_gradient(x), 3.0) == (3.0,)
    x = np.array([1.0, -2.0, 0.5])
    (g,) = zp.gradient(lambda x: np.sum(x * zp.stop_gradient(x)), x)
    assert_close(g, x)


def test_nograd_stops_a_value_or_makes_a_function_nondifferentiable():
    assert zp.gradient(lambda x, y: zp.nograd(x) * y + y, 2.0, 5.0) == (0.0, 3.0)

    @zp.nograd
    def scaled(v):
        return v * 100.0

    assert scaled(2.0) == 200.0 and scaled.__name__ == "scaled"
    x = np.array([0.3, -0.7])
    np.testing.assert_array_equal(zp.gradient(lambda v: np.sum(scaled(v) + v), x)[0],
                                  np.ones(2))


def test_stop_gradient_straight_through_estimator():
    # round in the forward, identity in the backward
    def ste(x):
        return np.sum(x + zp.stop_gradient(np.round(x) - x))

    x = np.array([0.2, 1.7, -0.6])
    y, (g,) = zp.withgradient(ste, x)
    assert y == pytest.approx(np.sum(np.round(x)))
    assert_close(g, np.ones(3))


def test_stop_gradient_in_a_called_function():
    def detached_norm(x):
        return x / zp.stop_gradient(np.sqrt(np.sum(x * x)))

    x = np.array([3.0, 4.0])
    (g,) = zp.gradient(lambda x: np.sum(detached_norm(x)), x)
    assert_close(g, np.full(2, 1 / 5))


def test_stop_gradient_outside_differentiation_is_identity():
    x = np.ones(3)
    assert zp.stop_gradient(x) is x


# -- checkpointed -------------------------------------------------------------------
RUNS = []  # one entry per run of a Counted block, plain or compiled


class Counted:
    """tanh(W @ x), recording in RUNS each time it runs."""

    def __init__(self, W):
        self.W = W

    def __call__(self, x):
        RUNS.append(self)
        return np.tanh(self.W @ x)


RNG = np.random.default_rng(0)
W1, W2 = RNG.standard_normal((4, 3)), RNG.standard_normal((2, 4))
X = RNG.standard_normal(3)


def test_checkpointed_gradient_matches_central_differences():
    def loss(W1, W2, x):
        h = zp.checkpointed(lambda v: np.tanh(W1 @ v), x)
        return np.sum((W2 @ h) ** 2)

    check_grads(loss, W1, W2, X)


def test_checkpointed_matches_the_plain_gradient():
    def plain(W1, x):
        return np.sum(np.sin(np.tanh(W1 @ x)))

    def remat(W1, x):
        return np.sum(np.sin(zp.checkpointed(layer, W1, x)))

    assert_close(zp.gradient(remat, W1, X), zp.gradient(plain, W1, X))


def test_checkpointed_recomputes_in_the_backward_pass():
    block = Counted(W1)

    def loss(x):
        return np.sum(zp.checkpointed(block, x) ** 2)

    RUNS.clear()
    y, back = zp.pullback(loss, X)
    assert len(RUNS) == 1  # the forward ran it once, keeping nothing
    back(1.0)
    assert len(RUNS) == 2  # the backward ran it again, recording
    back(1.0)
    assert len(RUNS) == 3
    assert y == pytest.approx(np.sum(np.tanh(W1 @ X) ** 2))


def test_checkpointed_closure_gets_its_gradient():
    block = Counted(W1)

    def loss(block, x):
        return np.sum(W2 @ zp.checkpointed(block, x))

    (d_block, _) = zp.gradient(loss, block, X)
    want = numerical_vjp(lambda W: np.sum(W2 @ np.tanh(W @ X)), (W1,), 1.0)[0]
    assert_close(d_block.W, want)


def test_checkpointed_in_a_loop():
    def deep(x, W):
        for _ in range(3):
            x = zp.checkpointed(lambda v: np.tanh(W @ v), x)
        return np.sum(x)

    check_grads(deep, X, RNG.standard_normal((3, 3)))


def test_checkpointed_nested():
    def f(x):
        return np.sum(zp.checkpointed(lambda v: zp.checkpointed(np.sin, v) * v, x))

    check_grads(f, X)


def test_checkpointed_with_implicit_params():
    W = W1.copy()
    x = X.copy()
    ps = zp.params(W)
    remat = zp.gradient(
        lambda: np.sum(zp.checkpointed(lambda v: np.tanh(W @ v), x)), ps
    )
    plain = zp.gradient(lambda: np.sum(np.tanh(W @ x)), ps)
    assert_close(remat[W], plain[W])


def test_checkpointed_recomputation_runs_in_train_mode():
    seen = []

    def probe(x):
        seen.append(zp.is_differentiating())
        return x * 2.0

    zp.gradient(lambda x: zp.checkpointed(probe, x), 1.0)
    assert seen == [True, True]


def test_checkpointed_outside_differentiation_is_a_call():
    assert zp.checkpointed(lambda a, b: a * b, 3.0, 4.0) == 12.0


def test_jacobian_of_an_empty_output_has_no_rows():
    (j,) = zp.jacobian(lambda a: a[:0] * 2, np.array([0.3, 0.7, 1.1]))
    assert j.shape == (0, 3) and j.dtype == np.float64
