"""Linear-algebra and statistics functions built from differentiated pieces:
vector_norm, matrix_norm, vecdot, eigvalsh, cond, lstsq, cov, corrcoef,
nan_to_num, gradient, select (reference implementations, see composite.py),
and pinv, whose derivative is a closed formula."""

from __future__ import annotations

import numpy as np

from ..runtime.arrays import array_module
from .composite import composite
from .registry import rule


@composite(np.linalg.vector_norm)
def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    """`np.linalg.vector_norm`: over the flattened array without `axis`, or
    over the axes given (flattened together at the end)."""
    nd = np.ndim(x)
    axes = tuple(range(nd)) if axis is None else \
        tuple(a % nd for a in ((axis,) if np.ndim(axis) == 0 else axis))
    rest = [n for i, n in enumerate(np.shape(x)) if i not in axes]
    moved = np.moveaxis(x, axes, tuple(range(nd - len(axes), nd)))
    y = np.linalg.norm(np.reshape(moved, tuple(rest) + (-1,)), ord, -1)
    if keepdims:
        return np.reshape(y, tuple(1 if i in axes else n for i, n in enumerate(np.shape(x))))
    return y


@composite(np.linalg.matrix_norm)
def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    """`np.linalg.matrix_norm`: over the last two axes."""
    return np.linalg.norm(x, ord, (-2, -1), keepdims)


@composite(np.vecdot)
def vecdot(x1, x2, /, *, axis=-1):
    """`np.vecdot` of real arrays: the sum of the products along `axis`."""
    return np.sum(x1 * x2, axis=axis)


if hasattr(np, "matvec"):  # numpy 2.2
    @composite(np.matvec)
    def matvec(x1, x2, /):
        """`np.matvec`: matrices times vectors, batched."""
        return np.squeeze(x1 @ np.expand_dims(x2, -1), -1)

    @composite(np.vecmat)
    def vecmat(x1, x2, /):
        """`np.vecmat` of real arrays: vectors times matrices, batched."""
        return np.squeeze(np.expand_dims(x1, -2) @ x2, -2)


@composite(np.linalg.eigvalsh)
def eigvalsh(a, UPLO="L"):
    """`np.linalg.eigvalsh`: the eigenvalues of `eigh`."""
    return np.linalg.eigh(a, UPLO)[0]


@composite(np.linalg.cond, supports=lambda x, p=None: None if p in (None, 2, -2)
           else "p=None, 2 or -2 (ratios of singular values)")
def cond(x, p=None):
    """`np.linalg.cond` for the 2-norm: the largest singular value over the
    smallest (p=-2: the inverse)."""
    s = np.linalg.svd(x, compute_uv=False)
    ratio = s[..., 0] / s[..., -1]
    return 1.0 / ratio if p == -2 else ratio


@rule(np.linalg.pinv)
def pinv_rule(a, rcond=None, hermitian=False, **kw):
    """`np.linalg.pinv(a)`: with A+ the pseudo-inverse and G its cotangent,
    dA = -A+ᵀ G A+ᵀ + (I - A A+) Gᵀ A+ A+ᵀ + A+ᵀ A+ Gᵀ (I - A+ A), exact where
    the rank does not change (Golub and Pereyra)."""
    xp = array_module(a)
    options = {} if rcond is None else {"rcond": rcond}
    if hermitian:  # (CuPy's pinv has no such option)
        options["hermitian"] = True
    p = xp.linalg.pinv(a, **options, **kw)
    pT = xp.swapaxes(p, -1, -2)

    def pinv_pullback(g):
        gT = xp.swapaxes(g, -1, -2)
        m, n = a.shape[-2], a.shape[-1]
        left = xp.eye(m, dtype=p.dtype) - a @ p  # I - A A+, (m, m)
        right = xp.eye(n, dtype=p.dtype) - p @ a  # I - A+ A, (n, n)
        da = -(pT @ g @ pT) + left @ gT @ (p @ pT) + (pT @ p) @ gT @ right
        return (da,)

    return p, pinv_pullback


@composite(np.linalg.lstsq)
def lstsq(a, b, rcond=None):
    """`np.linalg.lstsq`: x = pinv(a) b, the residuals' squared norms (when
    a has full column rank and more rows than columns), rank and singular
    values, as numpy gives them."""
    s = np.linalg.svd(a, compute_uv=False)
    rank = np.linalg.matrix_rank(a).astype(np.int32)  # as lstsq's (on a's device)
    x = np.linalg.pinv(a) @ b
    m, n = np.shape(a)
    if rank == n and m > n:
        r = b - a @ x
        residuals = np.sum(r * r, axis=0)
        if np.ndim(b) == 1:
            residuals = np.reshape(residuals, (1,))
    else:
        residuals = np.zeros_like(b, shape=(0,), dtype=np.result_type(a, b))  # b's device
    return x, residuals, rank, s


@composite(np.cov, supports=lambda m, y=None, rowvar=True, bias=False, ddof=None,
           fweights=None, aweights=None, **kw:
           None if y is None and fweights is None and aweights is None
           else "one array without weights")
def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None,
        *, dtype=None):
    """`np.cov` of the rows (variables) of `m`: centred products over the
    observations, divided by n - ddof."""
    x = np.atleast_2d(m).astype(np.result_type(m, np.float64))  # as numpy: float64
    if not rowvar and np.ndim(m) != 1:
        x = x.T
    n = np.shape(x)[1]
    if ddof is None:
        ddof = 0 if bias else 1
    centred = x - np.mean(x, axis=1, keepdims=True)
    c = centred @ centred.T / (n - ddof)
    return np.squeeze(c)


@composite(np.corrcoef, supports=lambda x, y=None, rowvar=True, **kw:
           None if y is None else "one array")
def corrcoef(x, y=None, rowvar=True, *, dtype=None):
    """`np.corrcoef`: the covariance scaled by the standard deviations,
    clipped to [-1, 1] as numpy does."""
    c = np.cov(x, rowvar=rowvar)
    if np.ndim(c) == 0:
        return c / c
    d = np.sqrt(np.diagonal(c))
    return np.clip(c / d[:, None] / d[None, :], -1, 1)


@composite(np.nan_to_num, supports=lambda x, copy=True, nan=0.0, posinf=None, neginf=None:
           "copy=True (copy=False changes x in place: write x = np.nan_to_num(x))"
           if copy is False else
           None if np.ndim(nan) == 0 else "scalar replacement values")
def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """`np.nan_to_num`: x where finite (gradient 1), the replacements
    elsewhere (gradient 0)."""
    big = np.finfo(np.result_type(x, 1.0)).max
    high = big if posinf is None else posinf
    low = -big if neginf is None else neginf
    filled = np.where(np.isnan(x), nan, np.where(x > 0, high, low))
    return np.where(np.isfinite(x), x, filled.astype(np.result_type(x, 1.0)))


@composite(np.gradient, supports=lambda f, *varargs, axis=None, edge_order=1:
           None if np.ndim(f) == 1 and edge_order == 1 and len(varargs) <= 1
           and all(np.ndim(v) == 0 for v in varargs)
           else "1-D arrays, a scalar spacing and edge_order=1")
def gradient(f, *varargs, axis=None, edge_order=1):
    """`np.gradient` of a 1-D array: central differences inside, one-sided
    ones at the ends, over the spacing."""
    h = varargs[0] if varargs else 1.0
    inner = (f[2:] - f[:-2]) / (2.0 * h)
    first = np.reshape((f[1] - f[0]) / h, (1,))
    last = np.reshape((f[-1] - f[-2]) / h, (1,))
    return np.concatenate([first, inner, last])


@composite(np.select)
def select(condlist, choicelist, default=0):
    """`np.select`: the choice of the first true condition, else `default`."""
    n = len(condlist)
    out = np.where(condlist[n - 1], choicelist[n - 1], default)  # on their device
    for i in range(n - 2, -1, -1):
        out = np.where(condlist[i], choicelist[i], out)
    return out
