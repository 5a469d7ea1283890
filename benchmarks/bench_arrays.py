"""Array gradients: zygopy vs hand-written numpy forward+backward, in one run.

Run with: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_arrays.py

Two cases (issue 3):
- `sum(tanh(W @ x))`, W 2x2 and x 2x1: the per-call overhead;
- a 784-256-128-10 relu MLP with a softmax cross-entropy loss on a batch of
  128, float32: the cost around big matmuls.
Each prints the time of one gradient (value and gradients of every argument)
and its ratio to hand-written numpy that computes the same, and the same for
autograd, JAX (jit) and PyTorch (eager) when they are importable. Times are
the minimum over repeats of the mean of a timeit loop (and the median, for
the spread). Targets: MLP <= 1.05x, 2x2 <= 1.5x hand-written numpy.

`--threads N` limits every library's thread pool to N threads (BLAS, OpenMP,
XLA, PyTorch): on a small machine shared with other work, `--threads 1`
gives steadier figures.
"""

from __future__ import annotations

import itertools
import os
import statistics
import sys
import timeit

THREADS = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else None
if THREADS is not None:  # before numpy, jax and torch start their pools
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = THREADS
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
        f" intra_op_parallelism_threads={THREADS}"
    )

import numpy as np

import zygopy as zp


# -- the functions, as a user writes them -------------------------------------------
def small(W, x):
    return np.sum(np.tanh(W @ x))


def mlp_loss(W1, b1, W2, b2, W3, b3, x, onehot):
    h1 = np.maximum(x @ W1.T + b1, 0.0)
    h2 = np.maximum(h1 @ W2.T + b2, 0.0)
    z = h2 @ W3.T + b3
    m = np.max(z, axis=1, keepdims=True)
    lse = m + np.log(np.sum(np.exp(z - m), axis=1, keepdims=True))
    return -np.sum(onehot * (z - lse)) / x.shape[0]


def mlp_loss_of_params(x, onehot):
    """The same loss as a function of the parameters, the batch closed over.

    zygopy differentiates every float array argument: `zp.gradient(mlp_loss,
    *params, x, onehot)` also computes dx = da1 @ W1, a fourth large matmul
    that no training step needs. Closing over the batch makes it constant."""

    def loss(W1, b1, W2, b2, W3, b3):
        h1 = np.maximum(x @ W1.T + b1, 0.0)
        h2 = np.maximum(h1 @ W2.T + b2, 0.0)
        z = h2 @ W3.T + b3
        m = np.max(z, axis=1, keepdims=True)
        lse = m + np.log(np.sum(np.exp(z - m), axis=1, keepdims=True))
        return -np.sum(onehot * (z - lse)) / x.shape[0]

    return loss


# -- hand-written forward + backward -------------------------------------------------
def small_hand(W, x):
    y = np.tanh(W @ x)
    dh = 1 - y * y
    return y.sum(), (dh @ x.T, W.T @ dh)


def mlp_hand(W1, b1, W2, b2, W3, b3, x, onehot, all_grads=False):
    """The loss and its 6 parameter gradients, derived by hand; with
    `all_grads`, also the gradients of the data (x, onehot): what zygopy's
    gradient with respect to all eight arguments computes."""
    a1 = x @ W1.T + b1
    h1 = np.maximum(a1, 0)
    a2 = h1 @ W2.T + b2
    h2 = np.maximum(a2, 0)
    z = h2 @ W3.T + b3
    m = np.max(z, axis=1, keepdims=True)
    e = np.exp(z - m)
    s = np.sum(e, axis=1, keepdims=True)
    n = x.shape[0]
    logp = z - m - np.log(s)
    loss = -np.sum(onehot * logp) / n
    dz = (e / s - onehot) / n
    dW3, db3 = dz.T @ h2, dz.sum(axis=0)
    da2 = (dz @ W3) * (a2 > 0)
    dW2, db2 = da2.T @ h1, da2.sum(axis=0)
    da1 = (da2 @ W2) * (a1 > 0)
    dW1, db1 = da1.T @ x, da1.sum(axis=0)
    grads = (dW1, db1, dW2, db2, dW3, db3)
    return loss, grads + (da1 @ W1, -logp / n) if all_grads else grads


def mlp_hand_all(*args):
    return mlp_hand(*args, all_grads=True)


# -- data ------------------------------------------------------------------------------
def small_data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((2, 2)), rng.standard_normal((2, 1))


def mlp_data(dtype=np.float32, batch=128, sizes=(784, 256, 128, 10)):
    rng = np.random.default_rng(0)
    params = []
    for n_in, n_out in itertools.pairwise(sizes):
        params.append(
            (rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(dtype)
        )
        params.append(np.zeros(n_out, dtype))
    x = rng.standard_normal((batch, sizes[0])).astype(dtype)
    onehot = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], batch)]
    return params, x, onehot


# -- other frameworks, when installed ------------------------------------------------
def autograd_fns():
    try:
        import autograd
        import autograd.numpy as anp
    except ImportError:
        return None

    def small_ag(W, x):
        return anp.sum(anp.tanh(W @ x))

    def mlp_ag(W1, b1, W2, b2, W3, b3, x, onehot):
        h1 = anp.maximum(x @ W1.T + b1, 0.0)
        h2 = anp.maximum(h1 @ W2.T + b2, 0.0)
        z = h2 @ W3.T + b3
        m = anp.max(z, axis=1, keepdims=True)
        lse = m + anp.log(anp.sum(anp.exp(z - m), axis=1, keepdims=True))
        return -anp.sum(onehot * (z - lse)) / x.shape[0]

    return (
        autograd.value_and_grad(small_ag, argnum=[0, 1]),
        autograd.value_and_grad(mlp_ag, argnum=list(range(6))),
    )


def jax_fns():
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None

    def small_j(W, x):
        return jnp.sum(jnp.tanh(W @ x))

    def mlp_j(W1, b1, W2, b2, W3, b3, x, onehot):
        h1 = jnp.maximum(x @ W1.T + b1, 0.0)
        h2 = jnp.maximum(h1 @ W2.T + b2, 0.0)
        z = h2 @ W3.T + b3
        lse = jax.nn.logsumexp(z, axis=1, keepdims=True)
        return -jnp.sum(onehot * (z - lse)) / x.shape[0]

    jax.config.update("jax_enable_x64", True)  # the 2x2 case is float64
    small_vg = jax.jit(jax.value_and_grad(small_j, argnums=(0, 1)))
    mlp_vg = jax.jit(jax.value_and_grad(mlp_j, argnums=tuple(range(6))))

    def run(fn):
        def call(*args):
            value, grads = fn(*args)
            jax.block_until_ready(grads)
            return value, grads

        return call

    return run(small_vg), run(mlp_vg), jnp.asarray


def torch_fns():
    try:
        import torch
    except ImportError:
        return None
    if THREADS is not None:
        torch.set_num_threads(int(THREADS))

    def small_t(W, x):
        W = W.detach().requires_grad_()
        x = x.detach().requires_grad_()
        y = torch.tanh(W @ x).sum()
        return y, torch.autograd.grad(y, (W, x))

    def mlp_t(W1, b1, W2, b2, W3, b3, x, onehot):
        ps = [p.detach().requires_grad_() for p in (W1, b1, W2, b2, W3, b3)]
        W1, b1, W2, b2, W3, b3 = ps
        h1 = torch.relu(x @ W1.T + b1)
        h2 = torch.relu(h1 @ W2.T + b2)
        z = h2 @ W3.T + b3
        loss = -(onehot * torch.log_softmax(z, dim=1)).sum() / x.shape[0]
        return loss, torch.autograd.grad(loss, ps)

    return small_t, mlp_t, torch.from_numpy


# -- timing ----------------------------------------------------------------------------
def timed(candidates, number, repeat=9):
    """{label: (min, median)} of the mean time of `number` calls of each
    `(fn, args)`, over `repeat` rounds that take turns between the candidates
    (so a busy spell on the machine hits all of them alike)."""
    times = {label: [] for label in candidates}
    for fn, args in candidates.values():
        fn(*args)  # warm up: compile, jit, caches
    for _ in range(repeat):
        for label, (fn, args) in candidates.items():
            total = timeit.timeit(lambda fn=fn, args=args: fn(*args), number=number)
            times[label].append(total / number)
    return {label: (min(t), statistics.median(t)) for label, t in times.items()}


def check(got, want, rtol):
    value, grads = got
    want_value, want_grads = want
    np.testing.assert_allclose(float(value), float(want_value), rtol=rtol)
    for g, w in zip(grads, want_grads):
        np.testing.assert_allclose(
            np.asarray(g, dtype=np.float64), w, rtol=rtol, atol=rtol * 1e-2
        )


def report(name, times, hand="hand-written numpy"):
    """Print each candidate's time and its ratio to `hand`."""
    h_min, h_med = times[hand]
    print(name)
    for label, (t_min, t_med) in times.items():
        ratio = (
            ""
            if label == hand
            else f"  ratio {t_min / h_min:5.2f}x  (median {t_med / h_med:.2f}x)"
        )
        print(
            f"  {label:28s} {t_min * 1e6:9.1f} us  (median {t_med * 1e6:8.1f}){ratio}"
        )


def zygopy_value_and_grad(f):
    def run(*args):
        return zp.withgradient(f, *args)

    return run


def main():
    print(
        f"numpy {np.__version__}, python {sys.version.split()[0]}, threads "
        f"{THREADS or 'default'}; min (median) of the mean time per call"
    )
    W, x = small_data()
    small_zp = zygopy_value_and_grad(small)
    check(small_zp(W, x), small_hand(W, x), 1e-12)
    small_cases = {
        "hand-written numpy": (small_hand, (W, x)),
        "zygopy": (small_zp, (W, x)),
    }

    params, xb, onehot = mlp_data()
    args = (*params, xb, onehot)
    mlp_zp = zygopy_value_and_grad(mlp_loss_of_params(xb, onehot))
    value, grads = mlp_zp(*params)
    check((value, grads), mlp_hand(*args), 1e-4)
    assert all(g.dtype == np.float32 for g in grads)
    mlp_cases = {"hand-written numpy": (mlp_hand, args), "zygopy": (mlp_zp, params)}

    mlp_zp_all = zygopy_value_and_grad(mlp_loss)
    check(mlp_zp_all(*args), mlp_hand_all(*args), 1e-4)
    all_cases = {
        "hand-written numpy": (mlp_hand_all, args),
        "zygopy": (mlp_zp_all, args),
    }

    # numpy only first, in rounds that take turns: the other frameworks start
    # thread pools that keep spinning after a call and would slow whatever
    # runs next on a small machine
    small_times = timed(small_cases, 2000)
    mlp_times = timed(mlp_cases, 10)
    all_times = timed(all_cases, 10)
    for label, fns in (
        ("autograd", autograd_fns()),
        ("jax (jit)", jax_fns()),
        ("pytorch (eager)", torch_fns()),
    ):
        if fns is None:
            print(f"{label}: not installed")
            continue
        convert = fns[2] if len(fns) == 3 else (lambda a: a)
        small_times |= timed({label: (fns[0], tuple(convert(a) for a in (W, x)))}, 2000)
        mlp_times |= timed({label: (fns[1], tuple(convert(a) for a in args))}, 10)

    report(
        "sum(tanh(W @ x)), W 2x2, x 2x1, float64: value and both gradients", small_times
    )
    report(
        "784-256-128-10 relu MLP, softmax cross-entropy, batch 128, float32: "
        "value and the 6 parameter gradients",
        mlp_times,
    )
    report(
        "the same MLP as a function of all 8 arguments: value and all 8 "
        "gradients (hand-written computes dx and d onehot too)",
        all_times,
    )


if __name__ == "__main__":
    main()
