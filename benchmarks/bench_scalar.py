"""Scalar gradients: zygopy vs a hand-written derivative, measured in one run.

Run with: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_scalar.py
Prints ratios (zygopy time / hand-written time) and the first-call time of a
30-line function (parse, generate, compile, run)."""

import math
import time
import timeit

import zygopy as zp


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


def best(stmt, number=20000):
    return min(timeit.repeat(stmt, number=number, repeat=5)) / number


def first_call_ms():
    lines = ["def big(x):", "    s = x"]
    for i in range(27):
        lines.append(f"    s = s * 0.9 + math.sin(s) * {i % 5 + 1} - x / {i + 2}")
    lines.append("    return s")
    path = "/tmp/_zygopy_bench_big.py"
    with open(path, "w") as fh:
        fh.write("import math\n" + "\n".join(lines) + "\n")
    ns = {}
    exec(compile(open(path).read(), path, "exec"), ns)
    start = time.perf_counter()
    zp.gradient(ns["big"], 0.3)
    return (time.perf_counter() - start) * 1e3


def main():
    zp.gradient(f, 2.0, 2.0)
    zp.gradient(g, 0.3, 0.7)
    for name, fn, hand in (("3x^2+2x+y", f, df_hand), ("20-op expression", g, dg_hand)):
        t_zp = best(lambda: zp.gradient(fn, 0.3, 0.7))
        t_hand = best(lambda: hand(0.3, 0.7))
        print(f"{name:18s} zygopy {t_zp * 1e6:7.2f} us  hand {t_hand * 1e6:6.2f} us  "
              f"ratio {t_zp / t_hand:5.1f}x")
    print(f"first call of a 30-line function: {first_call_ms():.1f} ms")


if __name__ == "__main__":
    main()
