"""Specialisation: what the compiler assumes about argument kinds, object
fields and which arguments a call site differentiates must never change a
gradient, only skip work. Each test checks the gradient and that the work
was skipped."""

from __future__ import annotations

import numpy as np

import zygopy as zp
from zygopy.runtime import dispatch
from zygopy.testing import assert_close, check_grads, numerical_vjp

X = np.random.default_rng(0).standard_normal((5, 3))


def project(W, x):
    return np.sum(np.tanh(x @ W))


def loss_of_weights(W):
    return project(W, X)  # the batch is not differentiated here


def test_a_callee_skips_the_gradient_of_an_undifferentiated_argument(products):
    W = np.random.default_rng(1).standard_normal((3, 2))
    (g,) = zp.gradient(loss_of_weights, W)
    (want,) = numerical_vjp(loss_of_weights, [W], 1.0)
    assert_close(g, want, 1e-6, 1e-8)
    assert products == [(False, True)]
    kinds = [k[1] for k in dispatch._COMPILED if k[0] is project.__code__]
    assert ("array", "-array") in kinds  # x keeps its kind, inactive


class Layer:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def __call__(self, x):
        y = x @ self.W
        if self.b is not None:
            y = y + self.b
        return np.tanh(y)


class Stack:
    def __init__(self, *layers):
        self.layers = list(layers)

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)  # x is the batch on the first pass only
        return x


def stack_loss(model):
    return np.sum(model(X) ** 2)


def test_a_loop_rebinding_the_batch_differentiates_it_from_the_second_pass(products):
    rng = np.random.default_rng(2)
    model = Stack(Layer(rng.standard_normal((3, 4)), rng.standard_normal(4)),
                  Layer(rng.standard_normal((4, 2)), rng.standard_normal(2)))
    (g,) = zp.gradient(stack_loss, model)
    W0 = model.layers[0].W
    want = numerical_vjp(lambda w: stack_loss(Stack(Layer(w, model.layers[0].b),
                                                    model.layers[1])), [W0], 1.0)[0]
    assert_close(g.layers[0].W, want, 1e-6, 1e-8)
    assert sorted(products) == [(False, True), (True, True)]


def test_object_field_kinds_recompile_when_a_field_changes():
    rng = np.random.default_rng(3)
    layer = Layer(rng.standard_normal((3, 2)), rng.standard_normal(2))
    f = lambda m: np.sum(m(X))
    (g1,) = zp.gradient(f, layer)
    layer.b = None  # the compiled code assumed an array here
    (g2,) = zp.gradient(f, layer)
    assert g2.b is None and g1.b is not None
    (want,) = numerical_vjp(lambda w: f(Layer(w, None)), [layer.W], 1.0)
    assert_close(g2.W, want, 1e-6, 1e-8)


def accumulate(x, n):
    s = 0.0  # a number, then an array: array code serves both
    for i in range(n):
        s = s + np.sin(x * (i + 1))
    return np.sum(s)


def test_numbers_and_arrays_merge_to_array_code():
    check_grads(accumulate, np.linspace(0.1, 1.0, 4), 3)
    check_grads(accumulate, 0.4, 2)
