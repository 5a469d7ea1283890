"""Push-forwards of np.linalg: inv, solve, det, slogdet, cholesky, eigh, qr,
svd and norm. Matrices may be stacked (..., m, n)."""

from __future__ import annotations

import numpy as np

from .dual import Dual, NoForwardRule, dual, primal, tangent
from .functions import _option, _register
from .ufuncs import _accumulate


def _mT(a):
    return np.swapaxes(a, -1, -2)


def _inv(func, args, kwargs):
    a = args[0]
    y = func(primal(a))
    if tangent(a) is None:
        return y
    return Dual(y, -(y @ a.tangent @ y))


def _pinv(func, args, kwargs):
    """dA+ = -A+ dA A+ + A+ A+ᵀ dAᵀ (I - A A+) + (I - A+ A) dAᵀ A+ᵀ A+ (constant rank)."""
    a = args[0]
    pa = primal(a)
    y = func(pa, *args[1:], **kwargs)
    if tangent(a) is None:
        return y
    t, tT, yT = a.tangent, _mT(a.tangent), _mT(y)
    m, n = pa.shape[-2], pa.shape[-1]
    left = np.eye(n) - y @ pa  # I - A+ A
    right = np.eye(m) - pa @ y  # I - A A+
    return Dual(y, -(y @ t @ y) + y @ yT @ tT @ right + left @ tT @ yT @ y)


def _solve(func, args, kwargs):
    a, b = args[0], args[1]
    pa, pb = primal(a), primal(b)
    y = func(pa, pb)
    t = None
    if tangent(b) is not None:
        t = func(pa, b.tangent)
    if tangent(a) is not None:
        vec = np.ndim(pb) == 1  # numpy 2: any other b is a (stack of) matrices
        yy = y[..., None] if vec else y
        ta = -func(pa, a.tangent @ yy)
        t = _accumulate(t, ta[..., 0] if vec else ta)
    return dual(y, t)


def _det(func, args, kwargs):
    a = args[0]
    y = func(primal(a))
    if tangent(a) is None:
        return y
    try:
        inv_t = np.linalg.solve(primal(a), a.tangent)
    except np.linalg.LinAlgError:  # singular: through the cofactors
        from ..rules.decompositions import det_cofactors

        return Dual(y, np.sum(det_cofactors(primal(a)) * a.tangent, axis=(-2, -1)))
    return Dual(y, y * np.trace(inv_t, axis1=-2, axis2=-1))


def _slogdet(func, args, kwargs):
    a = args[0]
    sign, logdet = func(primal(a))
    if tangent(a) is None:
        return sign, logdet
    inv_t = np.linalg.solve(primal(a), a.tangent)
    return type(func(np.eye(1)))(sign, Dual(logdet, np.trace(inv_t, axis1=-2, axis2=-1)))


def _symmetric_part(t, uplo):
    """The symmetric matrix that numpy reads from `t`: its lower (or upper)
    triangle, mirrored (cholesky and eigh never look at the other half)."""
    if uplo == "U":
        return np.triu(t) + _mT(np.triu(t, 1))
    return np.tril(t) + _mT(np.tril(t, -1))


def _cholesky(func, args, kwargs):
    a = args[0]
    upper = kwargs.get("upper", False)
    y = func(primal(a), **kwargs)
    if tangent(a) is None:
        return y
    # dL = L phi(L^-1 dA L^-T), phi: lower triangle with the diagonal halved
    L = _mT(y) if upper else y
    ta = _symmetric_part(a.tangent, "U" if upper else "L")
    inner = np.linalg.solve(L, _mT(np.linalg.solve(L, _mT(ta))))
    phi = np.tril(inner, -1) + 0.5 * np.eye(L.shape[-1]) * inner
    dL = L @ phi
    return Dual(y, _mT(dL) if upper else dL)


def _eigh(func, args, kwargs):
    a = args[0]
    w, v = func(primal(a), *args[1:], **kwargs)
    if tangent(a) is None:
        return w, v
    ta = _symmetric_part(a.tangent, _option(args, kwargs, 1, "UPLO", "L"))
    inner = _mT(v) @ ta @ v
    dw = np.diagonal(inner, axis1=-2, axis2=-1)
    gap = w[..., None, :] - w[..., :, None]
    with np.errstate(divide="ignore"):
        f = np.where(gap == 0, 0.0, 1.0 / np.where(gap == 0, 1.0, gap))
    dv = v @ (f * inner)
    return type(func(np.eye(1)))(Dual(w, dw), Dual(v, dv))


def _qr(func, args, kwargs):
    """Reduced QR of a tall or square matrix (m >= n): with C = Q^T dA R^-1 and
    w = tril(C, -1) - tril(C, -1)^T, dQ = Q w + (I - Q Q^T) dA R^-1, dR = Q^T dA - w R."""
    a = args[0]
    mode = _option(args, kwargs, 1, "mode", "reduced")
    if tangent(a) is None:
        return func(primal(a), mode=mode)
    if mode not in ("reduced", "r") or primal(a).shape[-2] < primal(a).shape[-1]:
        raise NoForwardRule(func)
    q, r = func(primal(a), mode="reduced")
    ta = a.tangent
    ta_rinv = _mT(np.linalg.solve(_mT(r), _mT(ta)))  # dA R^-1
    c = _mT(q) @ ta_rinv
    low = np.tril(c, -1)
    w = low - _mT(low)
    dr = _mT(q) @ ta - w @ r
    if mode == "r":
        return Dual(r, dr)
    dq = q @ w + ta_rinv - q @ (_mT(q) @ ta_rinv)
    return type(func(np.eye(1)))(Dual(q, dq), Dual(r, dr))


def _svd(func, args, kwargs):
    """Thin SVD with distinct singular values. With dP = U^T dA V and
    F_ij = 1 / (s_j^2 - s_i^2): dS = diag(dP), dU = U (F o (dP S + S dP^T))
    + (I - U U^T) dA V S^-1, and dV alike with A^T."""
    a = args[0]
    full = _option(args, kwargs, 1, "full_matrices", True)
    compute_uv = _option(args, kwargs, 2, "compute_uv", True)
    p = primal(a)
    if tangent(a) is None:
        return func(p, full_matrices=full, compute_uv=compute_uv)
    m, n = p.shape[-2:]
    if full and compute_uv and m != n:
        raise NoForwardRule(func)
    u, sv, vt = func(p, full_matrices=False)
    v = _mT(vt)
    ta = a.tangent
    dp = _mT(u) @ ta @ v
    ds = np.diagonal(dp, axis1=-2, axis2=-1)
    if not compute_uv:
        return Dual(sv, ds)
    s2 = sv * sv
    gap = s2[..., None, :] - s2[..., :, None]
    f = np.where(gap == 0, 0.0, 1.0 / np.where(gap == 0, 1.0, gap))
    cols, rows = sv[..., None, :], sv[..., :, None]  # X * cols = X S, X * rows = S X
    du = u @ (f * (dp * cols + _mT(dp) * rows)) + (ta @ v - u @ (_mT(u) @ ta @ v)) / cols
    dv = v @ (f * (dp * rows + _mT(dp) * cols)) + \
        (_mT(ta) @ u - v @ (_mT(v) @ _mT(ta) @ u)) / cols
    svd_result = type(func(np.eye(1)))
    return svd_result(Dual(u, du), Dual(sv, ds), Dual(vt, _mT(dv)))


def _norm(func, args, kwargs):
    """linalg.norm, every vector and matrix order, written with dual arithmetic
    (the spectral ones through the tangents of the singular values)."""
    x = args[0]
    ord_ = _option(args, kwargs, 1, "ord")
    axis = _option(args, kwargs, 2, "axis")
    keepdims = _option(args, kwargs, 3, "keepdims", False)
    p = primal(x)
    if tangent(x) is None:
        return func(p, ord_, axis, keepdims)
    if axis is None and (ord_ is None or p.ndim == 1):
        out = np.sqrt(np.sum(x * x)) if ord_ is None else _vector_norm(x, ord_, 0, False)
        return np.reshape(out, (1,) * p.ndim) if keepdims else out
    if axis is None:
        axis = (0, 1)
    if isinstance(axis, (tuple, list)) and len(axis) == 2:
        out = _matrix_norm(x, ord_, tuple(a % p.ndim for a in axis))
        if keepdims:
            shape = tuple(1 if i in [a % p.ndim for a in axis] else n
                          for i, n in enumerate(p.shape))
            out = np.reshape(out, shape)
        return out
    axis = axis[0] if isinstance(axis, (tuple, list)) else axis
    return _vector_norm(x, ord_, axis, keepdims)


def _vector_norm(x, ord_, axis, keepdims):
    a = np.absolute(x)
    if ord_ is None or ord_ == 2:
        return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))
    if ord_ == np.inf:
        return np.max(a, axis=axis, keepdims=keepdims)
    if ord_ == -np.inf:
        return np.min(a, axis=axis, keepdims=keepdims)
    if ord_ == 0:
        return np.sum(primal(x) != 0, axis=axis, keepdims=keepdims).astype(primal(x).dtype)
    if ord_ == 1:
        return np.sum(a, axis=axis, keepdims=keepdims)
    return np.sum(a ** ord_, axis=axis, keepdims=keepdims) ** (1.0 / ord_)


def _matrix_norm(x, ord_, axes):
    row, col = axes
    if ord_ in (None, "fro"):
        return np.sqrt(np.sum(x * x, axis=axes))
    if ord_ in (1, -1, np.inf, -np.inf):
        summed, other = (row, col) if ord_ in (1, -1) else (col, row)
        sums = np.sum(np.absolute(x), axis=summed)
        pick = np.max if ord_ in (1, np.inf) else np.min
        return pick(sums, axis=other - (summed < other))
    # spectral norms: d sigma_i = u_i^T dA v_i
    moved = np.moveaxis(x, axes, (-2, -1))
    u, s, vt = np.linalg.svd(primal(moved), full_matrices=False)
    ds = np.einsum("...ji,...jk,...ik->...i", u, moved.tangent, vt)
    sigma = Dual(s, ds)
    if ord_ == "nuc":
        return np.sum(sigma, axis=-1)
    return np.max(sigma, axis=-1) if ord_ == 2 else np.min(sigma, axis=-1)


_register(_inv, np.linalg.inv)
_register(_pinv, np.linalg.pinv)
_register(_solve, np.linalg.solve)
_register(_det, np.linalg.det)
_register(_slogdet, np.linalg.slogdet)
_register(_cholesky, np.linalg.cholesky)
_register(_eigh, np.linalg.eigh)
_register(_qr, np.linalg.qr)
_register(_svd, np.linalg.svd)
_register(_norm, np.linalg.norm)
