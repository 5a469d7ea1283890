"""Scalar gradients: zygopy vs a hand-written derivative, measured in one run.

Run with: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_scalar.py

Prints, for f(x, y) = 3x^2 + 2x + y and a 20-operation scalar expression,
the time of one `zygopy.gradient` call and its ratio to a hand-written
derivative (target: at most 3x), and the same for HIPS autograd when it is
installed (`pip install -e .[bench]`); then the first call of a 30-line
function (parse, generate, compile, run; target: under 20 ms), the median
over several distinct functions.
"""

import itertools
import math
import os
import statistics
import tempfile
import time
import timeit

import zygopy as zp

try:
    import autograd
    import autograd.numpy as anp
except ImportError:  # the bench extra is not installed
    autograd = None


def f(x, y):
    return 3 * x**2 + 2 * x + y


def df_hand(x, y):
    return 6 * x + 2, 1.0


def g(x, y):
    a = x * y + math.sin(x)
    b = a * a - y / (1 + x * x)
    c = math.exp(-b * 0.1) + math.tanh(a)
    d = c * x - b * y + a
    return d * d + math.cos(d) - c / 3 + a * b


def g_autograd(x, y):  # g for autograd, which needs its own numpy
    a = x * y + anp.sin(x)
    b = a * a - y / (1 + x * x)
    c = anp.exp(-b * 0.1) + anp.tanh(a)
    d = c * x - b * y + a
    return d * d + anp.cos(d) - c / 3 + a * b


def dg_hand(x, y):
    sx, cx = math.sin(x), math.cos(x)
    a = x * y + sx
    q = 1 + x * x
    b = a * a - y / q
    e = math.exp(-b * 0.1)
    t = math.tanh(a)
    c = e + t
    d = c * x - b * y + a
    dd = 2 * d - math.sin(d)
    dc = dd * x - 1 / 3
    db = -dd * y + a + dc * (-0.1 * e)
    da = dd + b + dc * (1 - t * t) + db * 2 * a
    dx = dd * c + db * (2 * x * y / (q * q)) + da * (y + cx)
    dy = -dd * b + db * (-1 / q) + da * x
    return dx, dy


def best(fn, number=20000):
    """Seconds per call: the best of 7 repeats (the least disturbed)."""
    return min(timeit.repeat(fn, number=number, repeat=7)) / number


_DISTINCT = itertools.count()  # functions with equal code share compiled code


def first_call_ms(runs=7):
    """Median time of the first `gradient` call of distinct 30-line functions."""
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(runs):
            lines = ["def big(x):", f"    s = x + {next(_DISTINCT)}"]
            for i in range(27):
                lines.append(f"    s = s * 0.9 + math.sin(s) * {i % 5 + 1} - x / {i + 2}")
            lines.append("    return s")
            path = os.path.join(tmp, f"big{run}.py")
            with open(path, "w") as fh:
                fh.write("import math\n" + "\n".join(lines) + "\n")
            ns = {}
            with open(path) as fh:
                exec(compile(fh.read(), path, "exec"), ns)
            start = time.perf_counter()
            zp.gradient(ns["big"], 0.3)
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), min(times)


def main():
    cases = (("3x^2+2x+y", f, df_hand, f), ("20-op expression", g, dg_hand, g_autograd))
    for name, fn, hand, ag_fn in cases:
        assert max(abs(a - b) for a, b in zip(zp.gradient(fn, 0.3, 0.7), hand(0.3, 0.7))) < 1e-9
        t_zp = best(lambda fn=fn: zp.gradient(fn, 0.3, 0.7))
        t_hand = best(lambda hand=hand: hand(0.3, 0.7))
        line = (f"{name:18s} zygopy {t_zp * 1e6:7.2f} us  hand {t_hand * 1e6:6.2f} us  "
                f"ratio {t_zp / t_hand:5.1f}x (target <= 3x)")
        if autograd is not None:
            ag = autograd.grad(ag_fn, (0, 1))
            t_ag = best(lambda ag=ag: ag(0.3, 0.7), number=2000)
            line += f"  |  autograd {t_ag * 1e6:7.1f} us  ratio {t_ag / t_hand:5.0f}x"
        print(line)
    if autograd is None:
        print("(HIPS autograd not installed: pip install -e .[bench] to compare)")
    median, fastest = first_call_ms()
    print(f"first call of a 30-line function: {median:.1f} ms median, "
          f"{fastest:.1f} ms best of 7 (target < 20 ms)")


if __name__ == "__main__":
    main()
