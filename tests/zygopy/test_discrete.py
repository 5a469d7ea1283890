"""Integer and boolean values made from real ones are step functions: no
gradient flows through them, at first or second order, while the real
arguments of such code still get theirs."""

import numpy as np
import pytest

import zygopy as zp

X = np.array([0.5, 1.25, 2.75])
TABLE = np.array([0.0, 1.0, 4.0, 9.0, 16.0])


def interp(x):
    i = x.astype(int)
    t = x - i
    return np.sum(TABLE[i] * (1 - t) + TABLE[i + 1] * t)


CASTS = {
    "astype(int)": lambda x: np.sum(x.astype(int) * x),
    "astype(bool)": lambda x: np.sum(x.astype(bool) * x),
    "asarray(dtype=int)": lambda x: np.sum(np.asarray(x, dtype=int) * x),
    "array(dtype=int32)": lambda x: np.sum(np.array(x, dtype=np.int32) * x**2),
    "interpolation": interp,
}


def central(f, x, h=1e-6):
    return np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(len(x))])


@pytest.mark.parametrize("f", CASTS.values(), ids=CASTS.keys())
def test_gradients_through_integer_casts(f):
    (g,) = zp.gradient(f, X)
    np.testing.assert_allclose(g, central(f, X), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("f", CASTS.values(), ids=CASTS.keys())
def test_second_order_through_integer_casts(f):
    v = np.array([1.0, -0.5, 2.0])
    _, tangent = zp.jvp(f, (X,), (v,))
    assert tangent == pytest.approx(central(f, X) @ v, rel=1e-6, abs=1e-8)
    hess = zp.hessian(f, X)
    numeric = np.array([central(lambda x: zp.gradient(f, x)[0][i], X) for i in range(3)])
    np.testing.assert_allclose(hess, numeric, rtol=1e-5, atol=1e-6)


def test_a_scalar_cast_to_int_has_no_gradient():
    assert zp.gradient(lambda s: np.float64(s).astype(int) * 1.0, 2.7) == (0.0,)


def central_scalar(f, args, h=1e-6):
    out = []
    for i in range(len(args)):
        up, down = list(args), list(args)
        up[i] += h
        down[i] -= h
        out.append((f(*up) - f(*down)) / (2 * h))
    return out


LISTS = {
    "square of a one-item list": lambda x, y: np.sum(np.square([x])) + y,
    "power of a tuple": lambda x, y: np.sum(np.power((x, y), 2)),
    "log of a list": lambda x, y: np.sum(np.log([x, y])),
    "square of a list": lambda x, y: np.sum(np.square([x, y])),
    "max of a list": lambda x, y: np.max([x**2, x * y]),
    "min of a tuple": lambda x, y: np.min((x**2, x * y, y)),
    "maximum of lists": lambda x, y: np.sum(np.maximum([x, y], [y, 1.0])),
}


@pytest.mark.parametrize("f", LISTS.values(), ids=LISTS.keys())
def test_numpy_functions_of_lists_of_numbers(f):
    args = (3.0, 1.7)
    np.testing.assert_allclose(zp.gradient(f, *args), central_scalar(f, args), rtol=1e-6)


def test_the_gradient_of_a_list_argument_is_a_list():
    g = zp.gradient(lambda xs: np.sum(np.square(xs)), [3.0, 4.0])
    assert g == ([6.0, 8.0],)


def test_numpy_integer_scalar_casts_have_no_gradient():
    def f(x):
        return np.int64(x) * x + np.float64(np.bool_(x > 0)) * x

    assert zp.gradient(f, 2.7) == (3.0,)  # int64(2.7) = 2, plus 1


SECOND_ORDER_OF_LISTS = {
    "mean of a list": lambda x: np.mean([v**3 for v in x]),
    "sum of a list": lambda x: np.sum([x[0] ** 2, x[1] * x[2]]),
    "dot of lists": lambda x: np.dot([x[0], x[1]], [x[1], x[2]]) ** 2,
    "norm of a list": lambda x: np.linalg.norm([x[0], x[1] * x[2]]),
    "float64 cast": lambda x: np.float64(np.sum(x**3)) * x[0],
    "log of a list": lambda x: np.sum(np.log([x[0] ** 2 + 1, x[1] * x[2] + 3])),
    "median of a list": lambda x: np.median([x[0], x[1] ** 2, x[2] * x[0]]),
    "where of lists": lambda x: np.sum(np.where([True, False], [x[0], x[1] ** 2],
                                                [x[2] ** 3, 1.0])),
    "clip of a list": lambda x: np.sum(np.clip([x[0] ** 2, x[1] * x[2]], 0.1, 2.5)),
    "sort of a list": lambda x: np.sort([x[0] ** 2, x[1], x[2] * x[0]])[0],
    "concatenate of lists": lambda x: np.sum(np.concatenate([[x[0]], [x[1] * x[2]]]) ** 2),
}


@pytest.mark.parametrize("f", SECOND_ORDER_OF_LISTS.values(), ids=SECOND_ORDER_OF_LISTS.keys())
def test_hessians_through_lists_of_numbers(f):
    x = np.array([0.5, 1.5, 2.0])
    (g,) = zp.gradient(f, x)
    np.testing.assert_allclose(g, central(f, x), rtol=1e-6, atol=1e-8)
    numeric = np.array([central(lambda y: zp.gradient(f, y)[0][i], x) for i in range(3)])
    np.testing.assert_allclose(zp.hessian(f, x), numeric, rtol=1e-5, atol=1e-6)


def test_rules_of_lists_still_take_keyword_arguments():
    import layers

    v = np.array([1.0, 2.0])
    assert np.array_equal(zp.gradient(lambda v: np.dot(v, b=v), v)[0], 2 * v)
    assert np.allclose(zp.gradient(lambda v: np.linalg.norm(x=v), v)[0], v / np.sqrt(5))
    assert np.array_equal(zp.gradient(lambda v: np.sum(layers.relu(x=v)), v)[0], [1.0, 1.0])
    assert np.array_equal(zp.gradient(lambda v: np.sum(np.outer(a=v, b=v)), v)[0], [6.0, 6.0])
