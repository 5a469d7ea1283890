"""np.linalg rules: inv, det, slogdet, solve, cholesky, eigh, qr, svd.

All accept stacks of matrices (..., n, n). Functions that numpy documents as
reading one triangle of a symmetric input (cholesky, eigh) get the gradient
of exactly that function: it lives in the triangle that is read (off-diagonal
entries doubled), so it agrees with finite differences of numpy, and it sums
to the usual symmetric gradient when the input is built symmetrically
(A = X @ X.T + ...). Degenerate inputs are described on each rule.
"""

from __future__ import annotations

import numpy as np

from ._helpers import array_module, is_zero, nones, option
from .registry import rule


def _mT(a):
    return array_module(a).swapaxes(a, -1, -2)


def _eye_like(a):
    return array_module(a).eye(np.shape(a)[-1], dtype=a.dtype)


def _expand2(g):
    xp = array_module(g)
    return xp.expand_dims(xp.expand_dims(g, -1), -1)


def _diag_embed(v):
    """(..., n) -> (..., n, n) with v on the diagonal."""
    return array_module(v).expand_dims(v, -2) * _eye_like(v)


def _zero_or(g, y):
    return array_module(y).zeros_like(y) if is_zero(g) else g


def _triangle(S, upper):
    """The gradient w.r.t. the read triangle of a symmetric input from a
    gradient S w.r.t. the whole (symmetric) matrix."""
    xp = array_module(S)
    S = (S + _mT(S)) * 0.5
    return (xp.triu if upper else xp.tril)(S * 2) - S * _eye_like(S)


@rule(np.linalg.inv)
def inv_rule(a):
    """`np.linalg.inv(a)`: da = -y^T dy y^T. Singular a raises LinAlgError."""
    xp = array_module(a)
    y = xp.linalg.inv(a)

    def inv_pullback(dy):
        return (-xp.matmul(_mT(y), xp.matmul(dy, _mT(y))),)

    return y, inv_pullback


def det_cofactors(a):
    """d det(a) / da, the cofactor matrix (the adjugate transposed), without
    inverting a (a singular one too): with a = U diag(s) V^T, it is
    det(U) det(V) U diag(prod of the other singular values) V^T."""
    xp = array_module(a)
    n = np.shape(a)[-1]
    if n <= 3:  # written out: a polynomial, exact, and differentiable again
        return _small_cofactors(a, n)
    u, s, vt = xp.linalg.svd(a)
    ones = xp.ones_like(s[..., :1])
    before = xp.cumprod(xp.concatenate([ones, s[..., :-1]], axis=-1), axis=-1)
    after = xp.flip(xp.cumprod(xp.concatenate([ones, xp.flip(s, -1)[..., :-1]], axis=-1),
                               axis=-1), -1)
    sign = xp.linalg.det(u) * xp.linalg.det(vt)
    return _expand2(sign) * ((u * (before * after)[..., None, :]) @ vt)


def _small_cofactors(a, n):
    """The cofactor matrix of 1x1, 2x2 and 3x3 matrices (stacked on leading
    axes): for 3x3, each row is the cross product of the other two rows."""
    xp = array_module(a)
    if n == 1:
        return xp.ones_like(a)
    e = [[a[..., i, j] for j in range(n)] for i in range(n)]
    if n == 2:
        rows = [[e[1][1], -e[1][0]], [-e[0][1], e[0][0]]]
    else:
        def cross(u, v):
            return [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2],
                    u[0] * v[1] - u[1] * v[0]]

        rows = [cross(e[1], e[2]), cross(e[2], e[0]), cross(e[0], e[1])]
    return xp.stack([xp.stack(row, axis=-1) for row in rows], axis=-2)


@rule(np.linalg.det)
def det_rule(a):
    """`np.linalg.det(a)`: da = dy det(a) a^{-T}; for a singular a, dy times
    the cofactor matrix (`det_cofactors`), which that formula is otherwise."""
    xp = array_module(a)
    y = xp.linalg.det(a)

    def det_pullback(dy):
        try:
            return (_expand2(dy * y) * _mT(xp.linalg.inv(a)),)
        except np.linalg.LinAlgError:
            return (_expand2(dy) * det_cofactors(a),)

    return y, det_pullback


@rule(np.linalg.slogdet)
def slogdet_rule(a):
    """`np.linalg.slogdet(a)` -> (sign, logabsdet): d logabsdet = a^{-T}; the
    sign carries no gradient. Singular a raises LinAlgError in the pullback."""
    xp = array_module(a)
    y = xp.linalg.slogdet(a)

    def slogdet_pullback(dy):
        dlog = dy[1]
        if is_zero(dlog):
            return (xp.zeros_like(a),)
        return (_expand2(dlog) * _mT(xp.linalg.inv(a)),)

    return y, slogdet_pullback


@rule(np.linalg.solve)
def solve_rule(a, b):
    """`np.linalg.solve(a, b)`, b a vector (n,) or matrices (..., n, k):
    db = solve(a^T, dy), da = -db x^T."""
    xp = array_module(a, b)
    x = xp.linalg.solve(a, b)
    vec = np.ndim(b) == 1

    def solve_pullback(dy):
        g = xp.expand_dims(dy, -1) if vec else dy
        X = xp.expand_dims(x, -1) if vec else x
        db = xp.linalg.solve(_mT(a), g)
        da = -xp.matmul(db, _mT(X))
        return da, (xp.squeeze(db, -1) if vec else db)

    return x, solve_pullback


@rule(np.linalg.cholesky)
def cholesky_rule(a, **kw):
    """`np.linalg.cholesky(a)` (lower, or `upper=True`): Murray's formula,
    S = L^{-T} Phi(L^T dL) L^{-1}, returned on the triangle numpy reads. Needs
    a symmetric positive definite a (else LinAlgError in the primal)."""
    xp = array_module(a)
    y = xp.linalg.cholesky(a, **kw)
    upper = kw.get("upper", False)

    def cholesky_pullback(dy):
        L, dL = (_mT(y), _mT(dy)) if upper else (y, dy)
        P = xp.tril(xp.matmul(_mT(L), dL))
        P = P - 0.5 * P * _eye_like(P)
        Linv = xp.linalg.inv(L)
        S = xp.matmul(_mT(Linv), xp.matmul(P, Linv))
        return (_triangle(S, upper),)

    return y, cholesky_pullback


def _safe_inverse(d):
    """1 / d where d != 0, else 0 (degenerate eigen/singular value gaps)."""
    xp = array_module(d)
    zero = xp.equal(d, 0)
    return xp.where(zero, 0, 1 / xp.where(zero, 1, d))


@rule(np.linalg.eigh)
def eigh_rule(a, *args, **kw):
    """`np.linalg.eigh(a, UPLO)` -> (w, V): da = V (diag(dw) + F o V^T dV) V^T
    with F_ij = 1 / (w_j - w_i). Repeated eigenvalues: eigenvectors are not
    unique there, the 1/0 terms are dropped (F_ij = 0), which is right only
    for losses invariant to the basis chosen inside the degenerate subspace."""
    xp = array_module(a)
    y = xp.linalg.eigh(a, *args, **kw)
    upper = option(args, kw, 0, "UPLO", "L") == "U"

    def eigh_pullback(dy):
        w, V = y
        dw, dV = _zero_or(dy[0], w), _zero_or(dy[1], V)
        F = _safe_inverse(xp.expand_dims(w, -2) - xp.expand_dims(w, -1))
        inner = _diag_embed(dw) + F * xp.matmul(_mT(V), dV)
        S = xp.matmul(V, xp.matmul(inner, _mT(V)))
        return (_triangle(S, upper),) + nones(args)

    return y, eigh_pullback


@rule(np.linalg.qr)
def qr_rule(a, *args, **kw):
    """`np.linalg.qr(a, mode)` for mode 'reduced' or 'r' and tall or square a
    (m >= n): da = (dQ + Q copyltu(M)) R^{-T}, M = R dR^T - dQ^T Q. A
    rank-deficient a (singular R) raises LinAlgError in the pullback; wide a
    and mode 'complete' with m > n raise NotImplementedError."""
    xp = array_module(a)
    mode = option(args, kw, 0, "mode", "reduced")
    m, n = np.shape(a)[-2:]
    if m < n or mode not in ("reduced", "r") and not (mode == "complete" and m == n):
        raise NotImplementedError(f"no gradient for np.linalg.qr(mode={mode!r}) of a "
                                  f"{m}x{n} matrix: needs m >= n and mode 'reduced'")
    y = xp.linalg.qr(a, *args, **kw)
    Q, R = xp.linalg.qr(a) if mode == "r" else y

    def qr_pullback(dy):
        dQ, dR = (xp.zeros_like(Q), dy) if mode == "r" else \
            (_zero_or(dy[0], Q), _zero_or(dy[1], R))
        M = xp.matmul(R, _mT(dR)) - xp.matmul(_mT(dQ), Q)
        M = xp.tril(M) + _mT(xp.tril(M, -1))
        b = dQ + xp.matmul(Q, M)
        return (_mT(xp.linalg.solve(R, _mT(b))),) + nones(args)

    return y, qr_pullback


@rule(np.linalg.svd)
def svd_rule(a, *args, **kw):
    """`np.linalg.svd(a, full_matrices, compute_uv)` of real (..., m, n)
    matrices (Townsend's formula). `full_matrices=True` (numpy's default) is
    supported for square a only. Degenerate inputs: repeated singular values
    make U, V non-unique (their 1/(s_j^2 - s_i^2) terms are dropped) and zero
    singular values drop the 1/s terms; the gradient of s alone is always
    exact where s is distinct."""
    xp = array_module(a)
    full = option(args, kw, 0, "full_matrices", True)
    compute_uv = option(args, kw, 1, "compute_uv", True)
    m, n = np.shape(a)[-2:]
    if compute_uv and full and m != n:
        raise NotImplementedError("no gradient for np.linalg.svd(full_matrices=True) "
                                  "of a non-square matrix; pass full_matrices=False")
    y = xp.linalg.svd(a, *args, **kw)
    U, s, Vh = y if compute_uv else xp.linalg.svd(a, full_matrices=False)

    def svd_pullback(dy):
        if not compute_uv:
            return (xp.matmul(U * xp.expand_dims(dy, -2), Vh),) + nones(args)
        dU, ds, dVh = _zero_or(dy[0], U), _zero_or(dy[1], s), _zero_or(dy[2], Vh)
        V, dV = _mT(Vh), _mT(dVh)
        s2 = s * s
        F = _safe_inverse(xp.expand_dims(s2, -2) - xp.expand_dims(s2, -1))
        S, sinv = xp.expand_dims(s, -2), xp.expand_dims(_safe_inverse(s), -2)
        UtdU, VtdV = xp.matmul(_mT(U), dU), xp.matmul(_mT(V), dV)
        inner = (F * (UtdU - _mT(UtdU))) * S + _diag_embed(ds) \
            + _mT(S) * (F * (VtdV - _mT(VtdV)))
        da = xp.matmul(U, xp.matmul(inner, Vh))
        if m > n:
            du = dU - xp.matmul(U, UtdU)
            da = da + xp.matmul(du * sinv, Vh)
        if n > m:
            dv = dV - xp.matmul(V, VtdV)
            da = da + xp.matmul(U * sinv, _mT(dv))
        return (da,) + nones(args)

    return y, svd_pullback
