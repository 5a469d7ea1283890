"""MLP training on a CUDA device: `layers` on CuPy vs the same step written by hand
with CuPy (and PyTorch on the GPU when importable), in one run.

Run on a machine with CuPy and a GPU: python benchmarks/bench_gpu.py
(``--quick`` for fewer repetitions). Prints, for a 784-256-128-10 relu MLP with
logitcrossentropy and Adam in float32, at batch 128 and at a large batch:
the median time of one training step of

- ``hand-written CuPy``: bench_layers.NumpyMLP run on CuPy arrays (its numpy
  calls dispatch to CuPy): forward, backward and Adam written out by hand;
- ``layers step``: ``zygopy.withgradient`` of the model + ``layers.update``;
- ``PyTorch CUDA``: torch eager with torch.optim.Adam (not the same kernels:
  a reference point, not a like-for-like ratio).

Each step is followed by a device synchronisation, so a time is the step's
whole cost. At batch 128 a step is a few dozen small kernels: the launch and
Python overhead decide it; the large batch shows the arithmetic.
Without CuPy or a device it says so and exits.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_layers import (
    SIZES,
    NumpyMLP,
    interleaved,
    layers_step,
    mlp,
    torch_stepper,
    weights_of,
)

import layers
import zygopy as zp
from layers.devices import _cupy  # CuPy with a device, or None


def _profile(fns, sync, calls=200):
    """cProfile of each fn over `calls` calls: where the host time goes."""
    import cProfile
    import pstats

    for name, f in fns.items():
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(calls):
            f()
        sync()
        prof.disable()
        print(f"\n--- profile of {calls} calls: {name}")
        pstats.Stats(prof).sort_stats("tottime").print_stats(18)


def bench(cupy, batch, steps, blocks, profile=False):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, SIZES[0])).astype(np.float32)
    labels = rng.integers(0, SIZES[-1], batch)
    y = np.eye(SIZES[-1], dtype=np.float32)[labels]
    model = layers.gpu(mlp(SIZES))
    state = layers.setup(layers.Adam(1e-3), model)
    hand = NumpyMLP(*weights_of(model))
    xd, yd = cupy.asarray(x), cupy.asarray(y)
    sync = cupy.cuda.Device().synchronize

    l0, h0 = layers_step(model, state, xd, yd), hand.step(xd, yd)  # same numbers
    assert abs(float(l0) - float(h0)) < 1e-4, (l0, h0)
    assert isinstance(model.layers[0].weight, cupy.ndarray)

    def timed(step):
        def run():
            step()
            sync()
        return run

    def gradient():
        return zp.withgradient(lambda m: layers.logitcrossentropy(m(xd), yd), model)

    _, (g,) = gradient()
    _, hand_grads = hand.loss_and_grads(xd, yd)
    part_model = layers.gpu(mlp(SIZES))
    part_state = layers.setup(layers.Adam(1e-3), part_model)
    fns = {
        "hand-written CuPy": timed(lambda: hand.step(xd, yd)),
        "layers step": timed(lambda: layers_step(model, state, xd, yd)),
        "  hand fwd+bwd": timed(lambda: hand.loss_and_grads(xd, yd)),
        "  zygopy gradient": timed(gradient),
        "  hand Adam": timed(lambda: hand.adam(hand_grads)),
        "  layers update": timed(lambda: layers.update(part_state, part_model, g)),
    }
    if profile:
        _profile({"gradient": gradient,
                  "update": lambda: layers.update(part_state, part_model, g)}, sync)
    if importlib.util.find_spec("torch") is not None:
        import torch

        if torch.cuda.is_available():
            ws, bs = weights_of(layers.cpu(mlp(SIZES)))
            tx = torch.from_numpy(x).cuda()
            ty = torch.from_numpy(labels).cuda()
            fns["PyTorch CUDA"] = _torch_cuda(torch, ws, bs, tx, ty)
    for f in fns.values():  # warm up: kernels compile on first use
        for _ in range(3):
            f()
    t = interleaved(fns, steps, blocks)
    base = t["hand-written CuPy"][0]
    print(f"\nbatch {batch}: median of {blocks} interleaved blocks of {steps} steps")
    for k, (med, lo, _) in t.items():
        print(f"   {k:20s} {med * 1e6:7.0f} us {med / base:5.2f}x   "
              f"(fastest block {lo * 1e6:7.0f} us)")


def _torch_cuda(torch, ws, bs, tx, ty):
    """bench_layers' torch eager Adam step of the same MLP, on the GPU, synchronised."""
    step, _ = torch_stepper(ws, bs, device="cuda")

    def synchronised():
        step(tx, ty)
        torch.cuda.synchronize()

    return synchronised


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repetitions")
    p.add_argument("--big", type=int, default=8192, help="the large batch")
    p.add_argument("--profile", action="store_true", help="cProfile the batch-128 step")
    args = p.parse_args()
    cupy = _cupy()
    if cupy is None:
        print("bench_gpu: needs CuPy and a CUDA device; nothing measured")
        return
    name = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    print(f"{name}; CuPy {cupy.__version__}; numpy {np.__version__}; "
          f"zygopy {zp.__version__}")
    steps, blocks = (10, 5) if args.quick else (30, 11)
    bench(cupy, 128, steps, blocks, args.profile)
    bench(cupy, args.big, steps, blocks)


if __name__ == "__main__":
    main()
