"""The fast path of gradient/withgradient (zygopy.api._FAST): a second call
with arguments of the same types gives what the general path gives."""

import gc
import math
import sys

import numpy as np
import pytest

import zygopy as zp
from layers.activations import relu
from zygopy import api

mm = math  # rebound by test_rebinding_a_guarded_callee_recompiles


def poly(x, y):
    return 3 * x**2 + 2 * x + y


def ignores_y(x, y):
    return x * x


def guarded(x):
    return mm.tanh(x) * 2.0


def loss(W, x):
    return np.sum(np.tanh(W @ x) ** 2)


def divides(x, y):
    return x / (y - 2.0)


def _twice(f, *args):
    """(general path result, fast path result)."""
    api._FAST.clear()
    first = zp.withgradient(f, *args)
    assert api._FAST, "the first call should remember a fast entry"
    return first, zp.withgradient(f, *args)


def test_floats_same_result_and_types():
    (y1, g1), (y2, g2) = _twice(poly, 2.0, 2.0)
    assert y1 == y2 == 18.0
    assert g1 == g2 == (14.0, 1.0)
    assert all(type(g) is float for g in g2)


def test_unused_argument_gets_a_float_zero():
    _, (_, g) = _twice(ignores_y, 3.0, 1.0)
    assert g == (6.0, 0.0) and type(g[1]) is float


def test_arrays_keep_their_dtype():
    rng = np.random.default_rng(0)
    W, x = rng.standard_normal((2, 3)), rng.standard_normal(3)
    (_, g1), (_, g2) = _twice(loss, W, x)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b)
    g32 = zp.gradient(loss, W.astype(np.float32), x)  # same kinds: fast path
    assert g32[0].dtype == np.float32 and g32[1].dtype == np.float64
    np.testing.assert_allclose(g32[0], g1[0], rtol=1e-5)


def test_other_argument_types_take_the_general_path():
    zp.gradient(poly, 2.0, 2.0)
    assert zp.gradient(poly, 2, 2.0) == (14.0, 1.0)
    assert zp.gradient(poly, np.float64(2.0), 2.0) == (14.0, 1.0)
    (gx,) = zp.gradient(lambda v: np.sum(v * v), np.array([1, 2]))  # int array
    assert gx is None or not np.any(gx)


def test_rebinding_a_guarded_callee_recompiles(monkeypatch):
    assert zp.gradient(guarded, 0.5) == zp.gradient(guarded, 0.5)
    monkeypatch.setattr(sys.modules[__name__], "mm", type("M", (), {"tanh": math.sin}))
    (g,) = zp.gradient(guarded, 0.5)
    assert g == pytest.approx(2.0 * math.cos(0.5))


def test_is_differentiating_during_the_forward():
    seen = []

    def f(x):
        seen.append(zp.is_differentiating())
        return x * 2.0

    zp.gradient(f, 1.0)
    zp.gradient(f, 1.0)
    assert seen == [True, True]
    assert not zp.is_differentiating()


def test_errors_on_the_fast_path_name_the_user_line():
    zp.gradient(divides, 1.0, 3.0)
    with pytest.raises(ZeroDivisionError) as info:
        zp.gradient(divides, 1.0, 2.0)
    assert "return x / (y - 2.0)" in info.value.__notes__[0]


def test_entries_die_with_their_function():
    api._FAST.clear()

    def f(x):
        return x * x

    zp.gradient(f, 1.0)
    assert len(api._FAST) == 1
    del f
    gc.collect()
    assert not api._FAST


def test_implicit_parameters_are_not_fast_pathed():
    W = np.ones(3)
    ps = zp.params(W)
    g1 = zp.gradient(lambda: np.sum(W * W), ps)
    g2 = zp.gradient(lambda: np.sum(W * W), ps)
    np.testing.assert_allclose(g1[W], 2 * W)
    np.testing.assert_allclose(g2[W], 2 * W)


# -- the fused gradient function (compiler.fuse) the fast path runs -----------------


def rebinds_its_result(x, y):
    z = x
    z += y
    z *= x
    return z


def loops_and_branches(x, n):
    total = 0.0
    for i in range(int(n)):
        if i % 2:
            total = total + x * i
        else:
            total = total - math.sin(x)
    while total > 10.0:
        total = total / 2.0
    return total


def fills_by_mutation(w):
    out = np.zeros(3)
    for i in range(3):
        out[i] = w[i] * w[(i + 1) % 3]
    return np.sum(out)


def column_sums(W):
    return np.sum(W, axis=0)


def sqrt_at(x):
    return x**0.5


def sum_of_elementwise(x, b):
    return np.sum(np.tanh(x) ** 3) + np.sum(np.exp(x * b)) - np.mean(1.0 / (1.0 + x * x))


def seeded_constants(x, y):
    a = x * y
    return 2.0 * a - a / 4.0 + 3.0


@pytest.mark.parametrize("f,args", [
    (rebinds_its_result, (0.7, 0.3)),
    (loops_and_branches, (0.4, 5.0)),
    (fills_by_mutation, (np.array([0.5, -1.0, 2.0]),)),
    (loss, (np.full((2, 2), 0.3, np.float32), np.ones(2, np.float32))),
    (sum_of_elementwise, (np.linspace(-1, 1, 6).reshape(2, 3), np.array([0.5, -1.0, 2.0]))),
    (sum_of_elementwise, (np.linspace(-1, 1, 4, dtype=np.float32), np.float32([2]))),
    (seeded_constants, (0.3, -1.5)),
])
def test_fused_function_agrees_with_the_general_path(f, args):
    (y1, g1), (y2, g2) = _twice(f, *args)
    assert api._FAST[api._ref(f)][4][True] is not None, "the second call should be fused"
    assert y2 == pytest.approx(y1) and y2 == pytest.approx(f(*args))
    for a, b, arg in zip(g1, g2, args):
        np.testing.assert_allclose(b, a, rtol=1e-6)
        assert type(b) is type(a) and np.asarray(b).dtype == np.asarray(arg).dtype


def test_fused_function_refuses_an_output_that_became_an_array():
    zp.gradient(column_sums, np.ones(3))
    zp.gradient(column_sums, np.ones(3))
    with pytest.raises(zp.NotScalarError, match=r"an array of shape \(2,\)"):
        zp.gradient(column_sums, np.ones((3, 2)))


def test_errors_in_the_fused_backward_name_the_user_line():
    zp.gradient(sqrt_at, 4.0)
    zp.gradient(sqrt_at, 4.0)
    with pytest.raises(ZeroDivisionError) as info:
        zp.gradient(sqrt_at, 0.0)
    note = info.value.__notes__[0]
    assert "return x**0.5" in note and "backward" in note


def _fused_text(f, value):
    import linecache

    fused = api._FAST[api._ref(f)][4][value]
    return fused.__name__, "".join(linecache.getlines(fused.__code__.co_filename))


def test_generated_gradient_functions_are_readable():
    api._FAST.clear()
    zp.gradient(poly, 1.0, 2.0)
    assert zp.gradient(poly, 1.0, 2.0) == (8.0, 1.0)
    assert zp.withgradient(poly, 1.0, 2.0) == (7.0, (8.0, 1.0))
    name, text = _fused_text(poly, True)
    assert name == "poly_withgradient"
    assert "def poly_withgradient(x, y):" in text and "return _value, (dx, 1.0)" in text
    name, text = _fused_text(poly, False)
    assert name == "poly_gradient" and "def poly_gradient(x, y):" in text
    # a float output of float arguments is proven: no check, no dead value
    assert "return dx, 1.0" in text and "_zp.seed" not in text and "_value" not in text


def test_gradient_alone_keeps_statements_that_could_raise():
    def f(x, y):
        unused = math.log(y)  # raises for y <= 0, like the function itself
        return x * x + 0 * unused

    zp.gradient(f, 1.0, 2.0)
    zp.gradient(f, 1.0, 2.0)
    with pytest.raises(ValueError, match="math domain error"):
        zp.gradient(f, 1.0, -2.0)
    _, text = _fused_text(f, False)
    assert "math.log(y)" in text


def test_gradient_alone_checks_outputs_it_cannot_prove_float():
    def f(x, p):
        return x ** p  # a negative x to a fractional power is a complex number

    assert zp.gradient(f, 2.0, 2.0) == zp.gradient(f, 2.0, 2.0)
    with pytest.raises(zp.NotScalarError):
        zp.gradient(f, -2.0, 0.5)
    _, text = _fused_text(f, False)
    assert "_zp.seed" in text


# -- the last function proven to return floats (api._last_*) ------------------------


def _last_is(f):
    return api._last_ref() is f


def test_gradient_of_floats_remembers_the_last_proven_function():
    api._FAST.clear()
    api._forget_last()
    assert zp.gradient(poly, 2.0, 2.0) == (14.0, 1.0)  # general
    assert zp.gradient(poly, 2.0, 2.0) == (14.0, 1.0)  # fused, remembered
    assert _last_is(poly)
    g = zp.gradient(poly, 1.0, 3.0)  # the remembered function
    assert g == (8.0, 1.0) and all(type(v) is float for v in g)
    assert zp.gradient(poly, 1, 3.0) == (8.0, 1.0)  # an int: the general path
    assert zp.gradient(poly, np.float64(1.0), 3.0) == (8.0, 1.0)
    (gx,) = zp.gradient(ignores_y, 3.0, 1.0)[:1]
    assert gx == 6.0


def test_remembered_function_called_with_another_number_of_arguments():
    zp.gradient(poly, 2.0, 2.0)
    zp.gradient(poly, 2.0, 2.0)
    assert _last_is(poly)
    with pytest.raises(TypeError, match=r"poly\(\) too many positional arguments"):
        zp.gradient(poly, 2.0, 2.0, 1.0)


def test_remembered_function_raising_names_the_user_line():
    def inv(x):
        return 1.0 / x

    zp.gradient(inv, 2.0)
    zp.gradient(inv, 2.0)
    assert _last_is(inv)
    with pytest.raises(ZeroDivisionError) as info:
        zp.gradient(inv, 0.0)
    assert "return 1.0 / x" in info.value.__notes__[0]


def test_remembered_closure_dies():
    scale = 2.0

    def f(x):
        _ = scale  # a closure: remembered by a weak reference only
        return x * x

    zp.gradient(f, 1.0)
    zp.gradient(f, 1.0)
    assert _last_is(f)
    del f
    gc.collect()
    assert api._last_ref() is None


def test_remembered_module_function_is_held():
    zp.gradient(poly, 1.0, 1.0)
    zp.gradient(poly, 1.0, 1.0)
    assert api._last_plain is poly  # closes over nothing: checked by `is`
    assert zp.gradient(poly, 1.0, 2.0) == (8.0, 1.0)


def test_outputs_not_proven_float_are_not_remembered():
    def f(x, p):
        return x ** p

    zp.gradient(f, 2.0, 2.0)
    zp.gradient(f, 2.0, 2.0)
    assert not _last_is(f)


def test_remembered_function_with_a_guarded_callee_rebound(monkeypatch):
    def f(x):
        return math.tanh(x) * 2.0

    zp.gradient(f, 0.5)
    zp.gradient(f, 0.5)
    assert _last_is(f)
    monkeypatch.setattr(math, "tanh", math.sin)
    (g,) = zp.gradient(f, 0.5)
    assert g == pytest.approx(2.0 * math.cos(0.5))


def test_remembered_function_inside_implicit_parameters():
    zp.gradient(poly, 2.0, 2.0)
    zp.gradient(poly, 2.0, 2.0)
    W = np.ones(2)

    def loss():
        slope = zp.gradient(poly, 1.0, 1.0)[0]  # 8.0, a constant here
        return np.sum(W * W) * slope

    gs = zp.gradient(loss, zp.params(W))
    np.testing.assert_allclose(gs[W], 16 * W)


def test_fused_after_a_callee_was_rebound_uses_its_own_guards(monkeypatch):
    def f(x):
        return mm.tanh(x) * 2.0

    api._FAST.clear()
    monkeypatch.setattr(sys.modules[__name__], "mm", type("M", (), {"tanh": math.sin}))
    assert zp.gradient(f, 0.5) == pytest.approx((2.0 * math.cos(0.5),))  # compiled
    monkeypatch.undo()  # mm is math again when the second call fuses the code
    (g,) = zp.gradient(f, 0.5)
    assert g == pytest.approx(2.0 * (1 - math.tanh(0.5) ** 2))


def test_fused_folds_keep_every_bit():
    """`dx = 2.0; dx = dx + 3.0 * (2 * x)` is fused to `dx = 2.0 + 6.0 * x`:
    the same floats (scaling by two rounds nothing)."""
    api._FAST.clear()
    api._forget_last()
    zp.gradient(poly, 1.0, 1.0)
    zp.gradient(poly, 1.0, 1.0)
    _, text = _fused_text(poly, False)
    assert "dx = 2.0 + 6.0 * x" in text
    rng = np.random.default_rng(0)
    for x in [*rng.standard_normal(50) * 1e3, 1e150, -1e150, 5e-324, 0.1]:
        assert zp.gradient(poly, float(x), 1.0)[0] == 2.0 + 3.0 * (2 * float(x))


def huge_scale(x):
    return 1e308 * x**2


def test_a_fold_whose_constant_would_overflow_is_not_made():
    g = [zp.gradient(huge_scale, 1e-10)[0] for _ in range(3)]
    assert g[0] == g[1] == g[2] == 1e308 * (2 * 1e-10)



def test_a_replaced_code_object_is_compiled_again():
    def e(x):
        return x * x

    def cube(x):
        return x * x * x

    for _ in range(3):  # general path, then fused, then remembered
        assert zp.gradient(e, 3.0) == (6.0,)
        assert zp.withgradient(e, 3.0) == (9.0, (6.0,))
    e.__code__ = cube.__code__
    assert zp.withgradient(e, 3.0) == (27.0, (27.0,))
    assert zp.gradient(e, 3.0) == (27.0,)
    assert zp.gradient(e, 3.0) == (27.0,)


def relu_mlp(W1, W2, x):
    h = relu(x @ W1.T)
    return np.sum(relu(h @ W2.T) ** 2)


def relu_reused(W1, W2, x):
    """The relu's input cotangent is also a second term's: accumulated, not
    a matmul's own array, so not multiplied in place."""
    a = x @ W1.T
    h = relu(a)
    z = h @ W2.T
    return np.sum(z**2) + np.sum(relu(z) * z) + np.sum(a * h)


def relu_kept(W1, W2, x):
    """The matmul's cotangent is read again after the relu's adjoint (the
    relu's output feeds two matmuls)."""
    h = relu(x @ W1.T)
    return np.sum(relu(h @ W2.T)) + np.sum((h @ W2.T) ** 2)


@pytest.mark.parametrize("f, in_place", [(relu_mlp, 1), (relu_reused, 0), (relu_kept, 0)])
def test_relu_masks_multiplied_in_place_keep_the_gradient(f, in_place):
    """`d = g * (y > 0)` (layers' relu: a declared row whose derivative is
    `x > 0`) becomes `g *= y > 0` on a matmul's own cotangent nothing reads
    afterwards, and only there; the fused gradient stays the general path's
    and central differences' (float64 and float32)."""
    rng = np.random.default_rng(0)
    for dtype in (np.float64, np.float32):
        args = [rng.standard_normal(s).astype(dtype) for s in ((4, 3), (2, 4), (5, 3))]
        (_, g1), (_, g2) = _twice(f, *args)
        for a, b in zip(g1, g2):
            np.testing.assert_array_equal(a, b)
            assert b.dtype == dtype
        if dtype == np.float64:
            from zygopy.testing import check_grads

            check_grads(f, *args)
    _, text = _fused_text(f, True)
    assert text.count(" *= ") == in_place, text


def test_relu_mlp_fused_code_multiplies_its_mask_in_place():
    import layers

    def mlp(W1, W2, x):
        return np.sum(layers.relu(layers.relu(x @ W1.T) @ W2.T) ** 2)

    rng = np.random.default_rng(1)
    args = [rng.standard_normal(s) for s in ((4, 3), (2, 4), (5, 3))]
    _twice(mlp, *args)
    _, text = _fused_text(mlp, True)
    # the inner relu's (its cotangent is the second matmul's); the outer one's
    # comes from the square's adjoint, whose shape is not proven
    assert text.count(" *= ") == 1 and "d_t3 *= _t2 > 0" in text, text


def _through(fuse_pass, lines, extra, at):
    """Generated code `lines`, with `extra` inserted before line `at` (None:
    at the end), through a pass of `zygopy.compiler.fuse`, as text."""
    import ast

    lines = list(lines)
    if extra:
        lines.insert(len(lines) if at is None else at, extra)
    return ast.unparse(ast.Module(fuse_pass(ast.parse("\n".join(lines)).body), []))


@pytest.mark.parametrize("extra, at, rewritten", [
    ("", None, True),
    ("out = dh", None, False),  # the matmul's cotangent read again afterwards
    ("out = _g[0]", None, False),  # the call's result read whole again
    ("out = _zp.unbroadcast(dh, w)", 2, False),  # (before: may hand dh itself on)
])
def test_masks_multiplied_in_place_only_on_an_unshared_matmul_cotangent(extra, at, rewritten):
    from zygopy.compiler.fuse import _masks_in_place

    lines = ["_g = _zp.matmul_adjoint(dz, h, w, True, True)", "dh = _g[0]", "dw = _g[1]",
             "d_r = dh", "dy = d_r * (y > 0)"]
    out = _through(_masks_in_place, lines, extra, at)
    assert ("d_r *= y > 0\ndy = d_r" in out) is rewritten, out
    assert ("dy = d_r * (y > 0)" in out) is not rewritten


@pytest.mark.parametrize("extra, at, rewritten", [
    ("", None, True),
    ("out = y * 2", None, False),  # the product read again
    ("y = w", 1, False),  # rebound before the sum: not the product any more
])
def test_a_bias_is_added_in_place_only_to_an_unshared_product(extra, at, rewritten):
    from zygopy.compiler.fuse import _sums_in_place

    lines = ["y = x @ w", "z = y + b", "dy = _zp.unbroadcast(dz, y)"]
    out = _through(_sums_in_place, lines, extra, at)
    assert ("z = _zp.add_into(y, b)" in out) is rewritten, out


@pytest.mark.parametrize("y_shape, b_shape, b_dtype, in_place", [
    ((4, 3), (3,), np.float32, True),
    ((4, 3), (), np.float32, True),
    ((4, 3), (4, 1), np.float32, False),  # (broadcasts along the last axis)
    ((3,), (4, 3), np.float32, False),  # (the sum is larger than y)
    ((4, 3), (3,), np.float64, False),  # (the sum is float64)
])
def test_add_into_adds_in_place_only_where_the_sum_is_ys_shape_and_dtype(
        y_shape, b_shape, b_dtype, in_place):
    from zygopy.runtime.generated import add_into

    rng = np.random.default_rng(0)
    y = rng.standard_normal(y_shape).astype(np.float32)
    b = np.asarray(rng.standard_normal(b_shape), dtype=b_dtype)
    want = y + b
    got = add_into(y, b)
    assert (got is y) is in_place
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype and got.shape == want.shape
