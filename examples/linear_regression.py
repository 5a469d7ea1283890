"""Linear regression with per-sample gradients, Descent, then `train` (shared seed 003).

Julia (Flux, implicit parameters)       Python (zygopy + layers)
predict(x) = W * x .+ b                 def predict(x): return W @ x + b
loss(x, y) = sum((y .- predict(x)).^2)  def loss(x, y): return np.sum((y - predict(x)) ** 2)
grads = gradient(params(W, b)) do       @zp.gradient_of(zp.params(W, b))
    return loss(x[i], y[i])             def grads(): return loss(x[i], y[i])
end
update!(optimizer, p, grads[p])         update(optimizer, p, grads[p])
Flux.train!(loss, params(W, b), zip(x, y), optimizer)
                                        train(loss, zp.params(W, b), zip(x, y), optimizer)

Run: ``python examples/linear_regression.py [--fast] [--out DIR]``; writes
``linear_regression.png`` (the loss curves) into DIR (default ``examples/out``,
a temporary folder with ``--fast``) when matplotlib is installed.
"""

import argparse
import os
import tempfile
import time

import numpy as np

import zygopy as zp
from layers import Descent, train, update


def generate_data(n_samples, rng):
    """n observations x (5,) and y = W0 x + b0 + noise (2,), as lists of vectors."""
    W0, b0 = rng.random((2, 5)), rng.random(2)
    x = [rng.random(5) for _ in range(n_samples)]
    y = [W0 @ xi + b0 + rng.random(2) for xi in x]
    return x, y


# The model's parameters are global arrays, as in the tutorial; updates happen
# in place, so the arrays (and the params collecting them) stay the same objects.
W, b = np.zeros((2, 5)), np.zeros(2)


def predict(x):
    return W @ x + b


def loss(x, y):
    ypred = predict(x)
    return np.sum((y - ypred) ** 2)


def total_loss(x, y):
    return sum(float(loss(xi, yi)) for xi, yi in zip(x, y))


def fit_by_hand(x, y, iters):
    """The tutorial's first loop: one gradient and update per sample."""
    optimizer = Descent(0.05)
    losses = []
    for _ in range(iters):
        for i in range(len(x)):

            @zp.gradient_of(zp.params(W, b))  # Julia's `gradient(params(W, b)) do`
            def grads():
                return loss(x[i], y[i])  # noqa: B023 -- called at once

            for p in (W, b):
                update(optimizer, p, grads[p])
        losses.append(total_loss(x, y))
    return losses


def fit_with_train(x, y, iters):
    """The same, with `train` replacing the inner loop."""
    optimizer = Descent(0.05)
    losses = []
    for _ in range(iters):
        train(loss, zp.params(W, b), zip(x, y), optimizer, progress=False)
        losses.append(total_loss(x, y))
    return losses


def save_plot(path, curves):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for (label, losses), style in zip(curves.items(), ("-", "--")):
        ax.plot(np.arange(1, len(losses) + 1), losses, style, label=label)
    ax.set(
        xlabel="iteration (pass over the data)",
        ylabel="sum of losses",
        yscale="log",
        title="Linear regression, Descent(0.05)",
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"loss curves saved to {path}")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--fast",
        action="store_true",
        default=os.environ.get("ZYGOPY_FAST") == "1",
        help="100 iterations instead of 1000, output in a temporary folder "
        "(for the tests); also set by ZYGOPY_FAST=1",
    )
    p.add_argument("--out", help="folder for the plot")
    args = p.parse_args()
    if args.out is None:
        here = os.path.dirname(os.path.abspath(__file__))
        args.out = (
            tempfile.mkdtemp(prefix="zygopy-")
            if args.fast
            else os.path.join(here, "out")
        )
    os.makedirs(args.out, exist_ok=True)
    return args


def main():
    args = parse_args()
    iters = 100 if args.fast else 1000
    rng = np.random.default_rng(0)
    x, y = generate_data(10, rng)
    W0, b0 = rng.random((2, 5)), rng.random(2)  # the initial parameters

    # One per-sample gradient, checked against the hand-derived one.
    W[...], b[...] = W0, b0
    gs = zp.gradient(lambda: loss(x[0], y[0]), zp.params(W, b))
    r = y[0] - predict(x[0])
    print("per-sample gradient dW =\n", gs[W].round(4))
    print(
        "matches the hand-derived -2 (y - ŷ) xᵀ:",
        np.allclose(gs[W], -2 * np.outer(r, x[0])) and np.allclose(gs[b], -2 * r),
    )

    print(f"loss before training: {total_loss(x, y):.4f}")
    t = time.perf_counter()
    by_hand = fit_by_hand(x, y, iters)
    t_hand = time.perf_counter() - t
    W_hand, b_hand = W.copy(), b.copy()
    print(
        f"per-sample loop, {iters} iterations: loss {by_hand[-1]:.6f} "
        f"({t_hand:.2f} s, {t_hand / (iters * len(x)) * 1e6:.0f} us a sample)"
    )

    W[...], b[...] = W0, b0  # start again from the same parameters
    t = time.perf_counter()
    with_train = fit_with_train(x, y, iters)
    t_train = time.perf_counter() - t
    print(
        f"train,           {iters} iterations: loss {with_train[-1]:.6f} "
        f"({t_train:.2f} s)"
    )
    print(
        "train reproduces the per-sample loop:",
        np.allclose(W, W_hand)
        and np.allclose(b, b_hand)
        and np.allclose(with_train, by_hand),
    )
    print("fitted W =\n", W.round(3), "\nfitted b =", b.round(3))

    save_plot(
        os.path.join(args.out, "linear_regression.png"),
        {"per-sample gradient loop": by_hand, "train": with_train},
    )


if __name__ == "__main__":
    main()
