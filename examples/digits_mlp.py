"""Classify handwritten digits with an MLP: train, evaluate, save, reload, plot.

scikit-learn's bundled 8x8 digits (1797 images, no download) split 80/20;
a Chain of Dense layers trained with logitcrossentropy and Adam over a
shuffling DataLoader, by `layers.train` with its progress bar. It reaches
at least 95% test accuracy, saves the model as safetensors, reloads it into
a fresh model and checks that the predictions are identical, and plots the
loss and the accuracy.

Run: ``python examples/digits_mlp.py [--epochs N] [--fast] [--out DIR] [--gpu]``;
needs scikit-learn (``pip install -e .[examples]``); the plot needs
matplotlib, the progress bar tqdm (a plain text line without it).
``--fast`` (or ``ZYGOPY_FAST=1``) trains 3 epochs and writes into a
temporary folder, for the tests.
"""

import argparse
import os
import tempfile
import time

import numpy as np

import layers
from layers import Adam, Chain, DataLoader, Dense, logitcrossentropy, onehotbatch, relu


def load_data(seed=0, test_fraction=0.2):
    """(x_train, y_train, x_test, y_test): x float32 (N, 64) in [0, 1], y labels."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise SystemExit(
            "digits_mlp needs scikit-learn for its bundled data set: "
            'pip install -e ".[examples]"  (or pip install scikit-learn)'
        ) from None
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)  # pixels are 0..16
    y = digits.target
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = round(test_fraction * len(x))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def make_model():
    return Chain(Dense(64, 128, relu), Dense(128, 64, relu), Dense(64, 10))


def loss(model, x, y):
    return logitcrossentropy(model(x), y)


def accuracy(model, x, labels):
    return float(np.mean(layers.onecold(layers.cpu(model(x))) == labels))


class EpochEnd:
    """A `train` callback: at the end of each epoch, record the test accuracy."""

    def __init__(self, batches_per_epoch, model, x, labels):
        self.n, self.model, self.x, self.labels = batches_per_epoch, model, x, labels
        self.accuracies = []

    def on_batch(self, info):
        if info.batch == self.n:
            self.accuracies.append(accuracy(self.model, self.x, self.labels))


def save_plot(path, history, batches_per_epoch, accuracies):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
        return
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = np.arange(1, len(history) + 1) / batches_per_epoch
    ax1.plot(epochs, history, lw=0.6, label="batch")
    per_epoch = np.asarray(history).reshape(-1, batches_per_epoch).mean(axis=1)
    ax1.plot(np.arange(1, len(per_epoch) + 1), per_epoch, "o-", label="epoch mean")
    ax1.set(
        xlabel="epoch", ylabel="logitcrossentropy", yscale="log", title="training loss"
    )
    ax1.legend()
    ax2.plot(np.arange(1, len(accuracies) + 1), 100 * np.asarray(accuracies), "o-")
    ax2.set(xlabel="epoch", ylabel="accuracy (%)", title="test accuracy")
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"loss/accuracy plot saved to {path}")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--fast",
        action="store_true",
        default=os.environ.get("ZYGOPY_FAST") == "1",
        help="3 epochs, output in a temporary folder (for the tests); "
        "also set by ZYGOPY_FAST=1",
    )
    p.add_argument("--epochs", type=int, help="passes over the data (default 20)")
    p.add_argument("--out", help="folder for the model file and the plot")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--gpu", action="store_true",
                   help="train on a CUDA device through CuPy (stays on the CPU, "
                   "with a warning, without one)")
    args = p.parse_args()
    if args.epochs is None:
        args.epochs = 3 if args.fast else 20
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
    x_train, y_train, x_test, y_test = load_data()
    classes = list(range(10))
    print(
        f"digits: {len(x_train)} training and {len(x_test)} test images of 8x8 pixels"
    )

    to_device = layers.gpu if args.gpu else (lambda a: a)
    layers.set_seed(0)
    model = to_device(make_model())
    print(model)
    x_train, x_test_on = to_device(x_train), to_device(x_test)
    loader = DataLoader(
        (x_train, to_device(onehotbatch(y_train, classes))), batchsize=32, shuffle=True,
        rng=0,
    )
    epoch_end = EpochEnd(len(loader), model, x_test_on, y_test)
    start = time.perf_counter()
    history = layers.train(
        loss,
        model,
        loader,
        Adam(1e-3),
        epochs=args.epochs,
        callbacks=[epoch_end],
        progress=not args.no_progress,
    )
    seconds = time.perf_counter() - start
    steps = len(history)
    print(
        f"trained {args.epochs} epochs ({steps} steps of batch 32) in "
        f"{seconds:.2f} s, {seconds / steps * 1e6:.0f} us a step"
    )
    for epoch, acc in enumerate(epoch_end.accuracies, start=1):
        if epoch in (1, args.epochs) or epoch % 5 == 0:
            mean = np.mean(history[(epoch - 1) * len(loader) : epoch * len(loader)])
            print(
                f"  epoch {epoch:3d}: mean loss {mean:.4f}, test accuracy "
                f"{100 * acc:.2f}%"
            )
    train_acc = accuracy(model, x_train, y_train)
    test_acc = accuracy(model, x_test_on, y_test)
    print(f"train accuracy: {100 * train_acc:.2f}%")
    print(f"test accuracy: {100 * test_acc:.2f}%")

    path = os.path.join(args.out, "digits_mlp.safetensors")
    layers.save(path, model)
    layers.set_seed(1)  # a fresh model with different weights...
    fresh = to_device(layers.load(path, make_model()))  # ...gets the saved ones
    same = np.array_equal(layers.cpu(model(x_test_on)), layers.cpu(fresh(x_test_on)))
    print(f"saved to {path}; reloaded model predictions identical: {same}")

    save_plot(
        os.path.join(args.out, "digits_mlp.png"),
        history,
        len(loader),
        epoch_end.accuracies,
    )
    if not same:
        raise SystemExit("the reloaded model predicts differently")


if __name__ == "__main__":
    main()
