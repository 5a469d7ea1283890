"""The tutorials' gradient examples, in Python (see shared seeds 000 and 003).

Julia:  f(x, y) = 3x^2 + 2x + y;  gradient(f, 2, 2) == (14, 1)
        second derivative of 3x^2 + 2x + y in x: 6
        f(x) = sum(tanh.(W * x)); gradient(() -> f(x), params(W))
"""

import numpy as np

import zygopy as zp


def f(x, y):
    return 3 * x**2 + 2 * x + y


W = np.random.default_rng(0).random((2, 2))
x = np.random.default_rng(1).random((2, 1))


def g(x):
    return np.sum(np.tanh(W @ x))


def main():
    print("gradient(f, 2, 2) =", zp.gradient(f, 2, 2))  # ints are real numbers here
    y, back = zp.pullback(f, 2, 2)
    print("pullback: y =", y, " back(1) =", back(1.0))
    print("withgradient(f, 2, 2) =", zp.withgradient(f, 2, 2))
    print("grad(f)(2, 2) =", zp.grad(f)(2, 2))
    d2f = zp.grad(zp.grad(lambda x: f(x, 2)))  # nested: forward over reverse
    print("grad(grad(f))(2) =", d2f(2))
    print("hessian(f) at (2, 2) =", zp.hessian(lambda v: f(v[0], v[1]), np.array([2.0, 2.0])))

    # implicit parameters, both tutorial forms
    gs = zp.gradient(lambda: g(x), zp.params(W))
    print("gradient(() -> f(x), params(W))[W] =\n", gs[W])

    @zp.gradient_of(zp.params(W))
    def gs2():
        return g(x)

    print("do-block form agrees:", np.allclose(gs2[W], gs[W]))
    expected = (1 - np.tanh(W @ x) ** 2) @ x.T  # the hand-derived gradient
    print("matches the hand-derived gradient:", np.allclose(gs[W], expected))
    print(zp.source(f))


if __name__ == "__main__":
    main()
