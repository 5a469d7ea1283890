"""Implicit parameters reached through objects and closures, and a closure's
cache entry following what its cells hold now."""

import numpy as np

import zygopy as zp


class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def __call__(self, x):
        return self.W @ x + self.b


MODEL = Affine(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0.5, -0.5]))
X = np.array([1.0, -1.0])


def global_model_loss():
    return np.sum(MODEL(X) ** 2)


def test_params_of_a_global_model():
    gs = zp.gradient(global_model_loss, zp.params(MODEL.W, MODEL.b))
    r = MODEL(X)
    np.testing.assert_allclose(gs[MODEL.W], 2 * np.outer(r, X))
    np.testing.assert_allclose(gs[MODEL.b], 2 * r)


def test_params_of_a_closure_model_through_two_closures():
    def make(model):
        loss = lambda x: np.sum(model(x) ** 2)
        return lambda: loss(X)

    m = Affine(np.eye(2), np.zeros(2))
    gs = zp.gradient(make(m), zp.params(m.W, m.b))
    np.testing.assert_allclose(gs[m.b], 2 * (m.W @ X))


def test_the_same_closure_code_with_a_model_after_a_plain_function():
    def run(loss):
        return zp.gradient(lambda: loss(X), zp.params(MODEL.W))[MODEL.W]

    plain = run(lambda x: 0.0 * np.sum(x))  # compiled first: nothing to carry
    assert np.all(plain == 0)
    got = run(lambda x: np.sum(MODEL(x) ** 2))  # same lambda code, now a model
    np.testing.assert_allclose(got, 2 * np.outer(MODEL(X), X))


W_GLOBAL = np.full((2, 3), 0.5)


def reads_the_global(v):
    return np.sum(W_GLOBAL * v)


def reads_it_with_no_arguments():
    return np.sum(np.tanh(W_GLOBAL))


def test_a_call_with_constant_arguments_still_hands_back_implicit_gradients():
    """`inner(2.0)` takes no differentiable argument, but reads a parameter:
    its pullback must run for that (the backward dropped it as unused)."""
    ps = zp.params(W_GLOBAL)
    gs = zp.gradient(lambda: reads_the_global(2.0), ps)
    np.testing.assert_allclose(gs[W_GLOBAL], np.full((2, 3), 2.0))
    gs = zp.gradient(lambda: reads_it_with_no_arguments() * 3.0, ps)
    np.testing.assert_allclose(gs[W_GLOBAL], 3 * (1 - np.tanh(W_GLOBAL) ** 2))


def test_gradients_accumulate_with_plus_and_sum():
    import layers

    m = layers.f64(layers.Dense(2, 1))
    x = np.ones((3, 2))
    gs = [zp.gradient(lambda m: np.sum(m(x * k)), m)[0] for k in (1.0, 2.0)]
    np.testing.assert_array_equal(sum(gs).weight, gs[0].weight + gs[1].weight)
    ps = layers.params(m)
    G = [zp.gradient(lambda: np.sum(m(x * k)), ps) for k in (1.0, 2.0)]
    np.testing.assert_array_equal((G[0] + G[1])[ps[0]], G[0][ps[0]] + G[1][ps[0]])
    np.testing.assert_array_equal(sum(G)[ps[1]], G[0][ps[1]] + G[1][ps[1]])
