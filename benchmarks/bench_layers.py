"""MLP training through `layers` vs hand-written numpy (and PyTorch), in one run.

Run with: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_layers.py
(``--quick`` for fewer repetitions; ``--threads 1`` for one BLAS thread, steadier
when other processes share the cores: two BLAS threads on two busy cores make
numpy's matmuls stall for whole scheduler slices). Prints:

1. one training step of a 784-256-128-10 relu MLP, batch 128, float32,
   logitcrossentropy, Adam: `layers` (``zygopy.withgradient`` of the model +
   ``layers.update``, and the same inside ``layers.train``) as a ratio to a
   hand-written numpy forward + backward + Adam doing the same operations in
   float32, and to PyTorch eager on the CPU when torch is importable;
2. examples/digits_mlp.py's training (20 epochs, batch 32, the same data,
   model and batch order) through `layers` vs the same training hand-written
   in numpy: wall time and test accuracy of each.

Targets (issue 4): at most 1.05x hand-written numpy per step; digits within
1.2x of hand-written numpy. Times are medians of interleaved blocks.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import layers
import zygopy as zp
from layers import Adam, Chain, Dense, logitcrossentropy, relu, setup, update

ROOT = Path(__file__).resolve().parent.parent
B1, B2, EPS = 0.9, 0.999, 1e-8


# ------------------------------------------------------- hand-written numpy


class NumpyMLP:
    """relu MLP with a logitcrossentropy loss and Adam, written out by hand.

    Same math as `layers` (weight (out, in), batch first, Flux's Adam with ε
    outside the square root after bias correction), float32 throughout; the
    Adam moments are updated in place with one scratch buffer per parameter.
    """

    def __init__(self, weights, biases, lr=1e-3):
        self.ws = [w.copy() for w in weights]
        self.bs = [b.copy() for b in biases]
        self.params = [p for wb in zip(self.ws, self.bs) for p in wb]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.tmp = [np.empty_like(p) for p in self.params]
        self.lr, self.bt1, self.bt2 = lr, 1.0, 1.0

    def predict(self, x):
        for i, (w, b) in enumerate(zip(self.ws, self.bs)):
            x = x @ w.T + b
            if i < len(self.ws) - 1:
                x = np.maximum(x, 0)
        return x

    def loss_and_grads(self, x, y):
        acts, h = [x], x
        for i, (w, b) in enumerate(zip(self.ws, self.bs)):
            h = h @ w.T + b
            if i < len(self.ws) - 1:
                h = np.maximum(h, 0)
                acts.append(h)
        z = h - np.max(h, axis=1, keepdims=True)
        e = np.exp(z)
        s = np.sum(e, axis=1, keepdims=True)
        n = x.shape[0]
        loss = -np.sum(y * (z - np.log(s))) / n
        dh = (e / s - y) / np.float32(n)
        grads = []
        for i in range(len(self.ws) - 1, -1, -1):
            grads.append(np.sum(dh, axis=0))  # bias
            grads.append(dh.T @ acts[i])  # weight
            if i > 0:
                dh = dh @ self.ws[i]
                dh *= acts[i] > 0
        return loss, grads[::-1]

    def adam(self, grads):
        self.bt1 *= B1
        self.bt2 *= B2
        c1, c2 = 1 / (1 - self.bt1), 1 / (1 - self.bt2)
        for p, g, m, v, t in zip(self.params, grads, self.m, self.v, self.tmp):
            m *= B1
            np.multiply(g, 1 - B1, out=t)
            m += t
            v *= B2
            np.multiply(g, g, out=t)
            t *= 1 - B2
            v += t
            np.multiply(v, c2, out=t)
            np.sqrt(t, out=t)
            t += EPS
            np.divide(m, t, out=t)
            t *= self.lr * c1
            p -= t

    def step(self, x, y):
        loss, grads = self.loss_and_grads(x, y)
        self.adam(grads)
        return loss


# ----------------------------------------------------------------- layers


def mlp(sizes, seed=0):
    layers.set_seed(seed)
    n = len(sizes) - 1
    return Chain(
        *(
            Dense(sizes[i], sizes[i + 1], relu if i < n - 1 else layers.identity)
            for i in range(n)
        )
    )


def weights_of(model):
    return [d.weight for d in model.layers], [d.bias for d in model.layers]


def loss(model, x, y):
    return logitcrossentropy(model(x), y)


def layers_step(model, state, x, y):
    value, (g,) = zp.withgradient(lambda m: loss(m, x, y), model)
    update(state, model, g)
    return value


# ------------------------------------------------------------------ torch


def torch_stepper(weights, biases, lr=1e-3, device="cpu"):
    import torch

    ws = [torch.tensor(w, device=device, requires_grad=True) for w in weights]
    bs = [torch.tensor(b, device=device, requires_grad=True) for b in biases]
    opt = torch.optim.Adam([p for wb in zip(ws, bs) for p in wb], lr=lr, eps=EPS)

    def step(x, y):
        h = x
        for i, (w, b) in enumerate(zip(ws, bs)):
            h = torch.nn.functional.linear(h, w, b)
            if i < len(ws) - 1:
                h = torch.relu(h)
        loss = torch.nn.functional.cross_entropy(h, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    return step, torch


def torch_step_seconds(steps, blocks):
    """PyTorch's median step time, measured in a child process: importing torch
    here would start its OpenMP thread pool beside OpenBLAS's, which on a small
    machine slows numpy's matmuls several times and would skew the comparison."""
    if importlib.util.find_spec("torch") is None:
        return None
    out = subprocess.run(
        [sys.executable, __file__, "--torch-child", str(steps), str(blocks)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])["seconds"]


def torch_child(steps, blocks):
    x, labels, _ = step_data()
    step, torch = torch_stepper(*weights_of(mlp(SIZES)))
    tx, ty = torch.from_numpy(x), torch.from_numpy(labels)
    t = interleaved({"torch": lambda: step(tx, ty)}, steps, blocks)["torch"]
    print(json.dumps({"seconds": t, "threads": torch.get_num_threads()}))


# ------------------------------------------------------------------ timing


def interleaved(fns: dict, steps, blocks):
    """Median seconds per call of each fn, timed in interleaved blocks."""
    times = {k: [] for k in fns}
    for _ in range(blocks):
        for k, f in fns.items():
            t = time.perf_counter()
            for _ in range(steps):
                f()
            times[k].append((time.perf_counter() - t) / steps)
    return {k: (statistics.median(v), min(v), max(v)) for k, v in times.items()}


SIZES = (784, 256, 128, 10)


def step_data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, SIZES[0])).astype(np.float32)
    labels = rng.integers(0, SIZES[-1], 128)
    return x, labels, np.eye(SIZES[-1], dtype=np.float32)[labels]


def bench_step(quick):
    sizes = SIZES
    x, _, y = step_data()
    model = mlp(sizes)
    ws, bs = weights_of(model)
    hand = NumpyMLP(ws, bs)
    state = setup(Adam(1e-3), model)

    # same numbers: the first losses and updated weights agree
    l0 = layers_step(model, state, x, y)
    h0 = hand.step(x, y)
    assert abs(float(l0) - float(h0)) < 1e-4, (l0, h0)
    np.testing.assert_allclose(model.layers[0].weight, hand.ws[0], rtol=1e-4, atol=1e-5)
    assert model.layers[0].weight.dtype == np.float32

    train_model = mlp(sizes)
    train_state = setup(Adam(1e-3), train_model)
    per_call = 10
    batches = [(x, y)] * per_call
    _, (g,) = zp.withgradient(lambda m: loss(m, x, y), model)
    _, hand_grads = hand.loss_and_grads(x, y)
    part_state = setup(Adam(1e-3), mlp(sizes))
    part_model = mlp(sizes)

    fns = {
        "numpy by hand": lambda: hand.step(x, y),
        "layers step": lambda: layers_step(model, state, x, y),
        "layers train": lambda: layers.train(
            loss, train_model, batches, train_state, progress=False
        ),
        "  numpy fwd+bwd": lambda: hand.loss_and_grads(x, y),
        "  zygopy gradient": lambda: zp.withgradient(lambda m: loss(m, x, y), model),
        "  numpy Adam": lambda: hand.adam(hand_grads),
        "  layers update": lambda: update(part_state, part_model, g),
    }
    scale = {"layers train": per_call}
    steps, blocks = (10, 5) if quick else (20, 15)
    t = interleaved(fns, steps, blocks)
    for k, s in scale.items():
        t[k] = tuple(v / s for v in t[k])
    torch_t = torch_step_seconds(steps, blocks)
    if torch_t is not None:
        t["PyTorch eager *"] = tuple(torch_t)
    base, base_lo = t["numpy by hand"][:2]
    print(
        f"\n1. training step, MLP {'-'.join(map(str, sizes))}, batch 128, float32, "
        f"Adam ({blocks} interleaved blocks of {steps} steps)\n"
        f"   {'':18s} {'median':>9s} {'ratio':>6s}   {'fastest':>9s} {'ratio':>6s}"
        "   (ratio: to numpy by hand's step)"
    )
    for k, (med, lo, _) in t.items():
        print(
            f"   {k:18s} {med * 1e6:6.0f} us {med / base:5.2f}x   "
            f"{lo * 1e6:6.0f} us {lo / base_lo:5.2f}x"
        )
    if torch_t is None:
        print("   (PyTorch not installed: no comparison)")
    else:
        print("   * in a child process (torch's threads would slow numpy here)")
    print("   target: layers <= 1.05x numpy by hand")
    return t


def load_digits_example():
    spec = importlib.util.spec_from_file_location(
        "digits_mlp", ROOT / "examples" / "digits_mlp.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def bench_digits(epochs=20):
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("\n2. digits_mlp: scikit-learn not installed, skipped")
        return None
    ex = load_digits_example()
    x_train, y_train, x_test, y_test = ex.load_data()
    onehot = layers.onehotbatch(y_train, list(range(10)))

    def layers_run():
        layers.set_seed(0)
        model = ex.make_model()
        loader = layers.DataLoader((x_train, onehot), batchsize=32, shuffle=True, rng=0)
        t = time.perf_counter()
        layers.train(ex.loss, model, loader, Adam(1e-3), epochs=epochs, progress=False)
        return time.perf_counter() - t, ex.accuracy(model, x_test, y_test)

    def numpy_run():
        layers.set_seed(0)
        ws, bs = weights_of(ex.make_model())  # the same initial weights
        net = NumpyMLP(ws, bs)
        rng = np.random.default_rng(0)  # the same batch order as the DataLoader's
        n = len(x_train)
        t = time.perf_counter()
        for _ in range(epochs):
            order = rng.permutation(n)
            for i in range(0, n, 32):
                idx = order[i : i + 32]
                net.step(x_train[idx], onehot[idx])
        seconds = time.perf_counter() - t
        acc = float(np.mean(np.argmax(net.predict(x_test), axis=1) == y_test))
        return seconds, acc

    runs = {"numpy by hand": [], "layers train": []}
    for _ in range(3):
        runs["numpy by hand"].append(numpy_run())
        runs["layers train"].append(layers_run())
    print(
        f"\n2. digits_mlp: {epochs} epochs, batch 32, 64-128-64-10, Adam "
        "(best of 3 runs)"
    )
    base = min(s for s, _ in runs["numpy by hand"])
    for k, rs in runs.items():
        s = min(s for s, _ in rs)
        acc = rs[0][1]
        print(
            f"   {k:16s} {s:6.2f} s   {s / base:5.2f}x   test accuracy {100 * acc:.2f}%"
        )
    print("   target: layers <= 1.2x numpy by hand")
    return runs


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repetitions")
    p.add_argument(
        "--threads",
        type=int,
        help="restart with OPENBLAS_NUM_THREADS (and OMP_NUM_THREADS) set to this; "
        "1 gives steadier figures on a busy machine",
    )
    p.add_argument("--torch-child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.threads and os.environ.get("OPENBLAS_NUM_THREADS") != str(args.threads):
        n = str(args.threads)
        env = dict(os.environ, OPENBLAS_NUM_THREADS=n, OMP_NUM_THREADS=n)
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    if args.torch_child:
        return torch_child(*args.torch_child)
    blas = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(
        f"numpy {np.__version__}; zygopy {zp.__version__}; {os.cpu_count()} cores; "
        f"OPENBLAS_NUM_THREADS={blas}; load average {os.getloadavg()[0]:.2f}"
    )
    bench_step(args.quick)
    bench_digits()
    print(
        f"\nload average at the end {os.getloadavg()[0]:.2f} (other processes skew "
        "the figures when it is near or above the number of cores)"
    )


if __name__ == "__main__":
    main()
