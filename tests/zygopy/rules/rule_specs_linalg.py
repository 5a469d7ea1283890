"""Spec rows for joins/splits, products and np.linalg (see rule_specs.py)."""

from __future__ import annotations

import operator

import numpy as np
from hypothesis import strategies as st
from rule_specs import matrices, spec, with_shape

from zygopy.runtime.generated import op_imatmul

# joining and splitting -------------------------------------------------------


def _join(d, axis_kw=True, same=False, min_dims=1):
    base = d.shape(min_dims, 3)
    axis = d.draw(st.integers(-len(base), len(base) - 1)) if base else 0
    arrays = []
    for _ in range(d.draw(st.integers(1, 3))):
        s = list(base)
        if s and not same:
            s[axis] = d.draw(st.integers(1, 3))
        arrays.append(d.array(tuple(s)))
    container = list if d.draw(st.booleans()) else tuple
    return container(arrays), axis


spec(np.concatenate, lambda d: (lambda a, ax: ((a, ax), {}))(*_join(d)), sequence=True)
spec(np.stack, lambda d: (lambda a, ax: ((a,), {"axis": ax}))(*_join(d, same=True)),
     sequence=True)
spec(np.hstack, lambda d: ((_join(d, same=True)[0],), {}), sequence=True)
spec(np.vstack, lambda d: ((_join(d, same=True)[0],), {}), sequence=True)
spec(np.dstack, lambda d: ((_join(d, same=True)[0],), {}), sequence=True)
spec(np.column_stack, lambda d: ((_join(d, same=True, min_dims=1)[0],), {}),
     sequence=True)


def _split(d, x):
    axis = d.draw(st.integers(-x.ndim, x.ndim - 1))
    n = x.shape[axis]
    cuts = sorted(d.draw(st.lists(st.integers(0, n), max_size=3)))
    return (x, cuts, axis), {}


spec(np.split, with_shape(_split))
spec(np.array_split, with_shape(lambda d, x: (
    (x, d.draw(st.integers(1, 4))), {"axis": d.draw(st.integers(-x.ndim, x.ndim - 1))})))
spec(np.hsplit, with_shape(lambda d, x: ((x, [1]), {})))
spec(np.vsplit, lambda d: ((d.array(d.shape(2)), [1]), {}))
spec(np.dsplit, lambda d: ((d.array(d.shape(3)), [1]), {}))
spec(np.unstack, with_shape(lambda d, x: ((x,), {"axis": d.draw(
    st.integers(-x.ndim, x.ndim - 1))})))
spec(np.tile, with_shape(lambda d, x: ((x, d.shape(0, 3)), {})))


def _repeat(d, x):
    axis = d.axis(x.ndim, tuples=False)
    n = x.size if axis is None else x.shape[axis]
    repeats = d.draw(st.integers(1, 3)) if d.draw(st.booleans()) else \
        d.rng.integers(0, 3, n)
    return (x, repeats, axis), {}


spec(np.repeat, with_shape(_repeat))
spec(np.ndarray.repeat, with_shape(_repeat), name="ndarray.repeat")


def _pad(d, x):
    mode = d.draw(st.sampled_from(["constant", "edge", "reflect", "symmetric", "wrap"]))
    widths = [(d.draw(st.integers(0, 2)), d.draw(st.integers(0, 2))) for _ in x.shape]
    if mode == "reflect":
        widths = [(min(b, n - 1), min(a, n - 1)) for (b, a), n in zip(widths, x.shape)]
    return (x, widths), {"mode": mode}


spec(np.pad, with_shape(_pad))


def _nested(d):
    kind = d.draw(st.sampled_from(["scalars", "arrays", "nested", "array"]))
    if kind == "array":
        return (d.array(d.shape()),), {}
    if kind == "scalars":
        return ([float(v) for v in d.array((d.draw(st.integers(1, 4)),))],), {}
    shape = d.shape(0, 2)
    if kind == "arrays":
        return ([d.array(shape) for _ in range(d.draw(st.integers(1, 3)))],), {}
    return ([[float(d.array(())), float(d.array(()))], (d.array(()), 1.5)],), {}


for fn in (np.array, np.asarray, np.asanyarray, np.ascontiguousarray):
    spec(fn, _nested, sequence=True)

# products --------------------------------------------------------------------


def _matmul(d):
    k = d.draw(st.integers(1, 3))
    batch = d.shape(0, 2, max_side=2)
    a = batch + (d.draw(st.integers(1, 3)), k) if d.draw(st.booleans()) else (k,)
    b = d.bshape(batch) + (k, d.draw(st.integers(1, 3))) if d.draw(st.booleans()) \
        else (k,)
    if d.draw(st.booleans()):
        a = d.bshape(a[:-2]) + a[-2:] if len(a) > 1 else a
    return (d.array(a), d.array(b)), {}


spec(np.matmul, _matmul)
spec(operator.matmul, _matmul, name="operator.matmul")
spec(op_imatmul, _matmul, name="op_imatmul")  # generated code's `a @= b`


def _dot(d):
    kind = d.draw(st.sampled_from(["scalar", "matmul", "nd"]))
    if kind == "scalar":
        return (d.array(()), d.array(d.shape())), {}
    if kind == "matmul":
        return _matmul(d)
    k = d.draw(st.integers(1, 3))
    a = d.shape(0, 2) + (k,)
    b = d.shape(0, 1) + (k, d.draw(st.integers(1, 3))) if d.draw(st.booleans()) else (k,)
    return (d.array(a), d.array(b)), {}


spec(np.dot, _dot)
spec(np.ndarray.dot, _dot, name="ndarray.dot")


def _inner(d):
    k = d.draw(st.integers(1, 3))
    return (d.array(d.shape(0, 2) + (k,)), d.array(d.shape(0, 2) + (k,))), {}


spec(np.inner, _inner)
spec(np.outer, lambda d: ((d.array(d.shape(0, 2)), d.array(d.shape(0, 2))), {}))
spec(np.vdot, lambda d: (lambda n: ((d.array((n,)), d.array((n,))), {}))(
    d.draw(st.integers(1, 4))))


def _tensordot(d):
    shared = d.shape(0, 2)
    fa, fb = d.shape(0, 2), d.shape(0, 2)
    pa, pb = d.rng.permutation(len(fa) + len(shared)), d.rng.permutation(len(fb) + len(shared))
    a_shape = [None] * len(pa)
    b_shape = [None] * len(pb)
    ia, ib = list(pa[: len(shared)]), list(pb[: len(shared)])
    for i, n in zip(ia, shared):
        a_shape[i] = n
    for i, n in zip(ib, shared):
        b_shape[i] = n
    free_a = iter(fa)
    a_shape = [n if n is not None else next(free_a) for n in a_shape]
    free_b = iter(fb)
    b_shape = [n if n is not None else next(free_b) for n in b_shape]
    axes = ([int(i) for i in ia], [int(i) for i in ib])
    return (d.array(tuple(a_shape)), d.array(tuple(b_shape)), axes), {}


spec(np.tensordot, _tensordot)


def _einsum(d):
    spec_, shapes = d.draw(st.sampled_from([
        ("ij,jk->ik", [(2, 3), (3, 2)]), ("ij,j", [(2, 3), (3,)]),
        ("...j,j->...", [(2, 2, 3), (3,)]), ("ij->", [(2, 3)]),
        ("ij,k->ijk", [(2, 3), (2,)]), ("bij,bjk->bik", [(2, 1, 3), (2, 3, 2)]),
        ("ij,ij->ij", [(1, 3), (2, 3)]), ("i,i", [(3,), (3,)]), ("ji", [(2, 3)]),
    ]))
    return (spec_, *[d.array(s) for s in shapes]), {}


spec(np.einsum, _einsum)
spec(np.kron, lambda d: ((d.array(d.shape(0, 3)), d.array(d.shape(0, 3))), {}))


def _diagonal(d, x):
    axis1, axis2 = d.rng.choice(x.ndim, 2, replace=False) - x.ndim * d.draw(st.booleans())
    return (x, d.draw(st.integers(-2, 2)), int(axis1), int(axis2)), {}


spec(np.diagonal, lambda d: _diagonal(d, d.array(d.shape(2))))
spec(np.ndarray.diagonal, lambda d: _diagonal(d, d.array(d.shape(2))),
     name="ndarray.diagonal")
spec(np.trace, lambda d: _diagonal(d, d.array(d.shape(2))))
spec(np.ndarray.trace, lambda d: _diagonal(d, d.array(d.shape(2))), name="ndarray.trace")
spec(np.diag, lambda d: ((d.array(d.shape(1, 2)), d.draw(st.integers(-2, 2))), {}))
spec(np.tril, lambda d: ((d.array(d.shape(2)), d.draw(st.integers(-2, 2))), {}))
spec(np.triu, lambda d: ((d.array(d.shape(2)), d.draw(st.integers(-2, 2))), {}))

# np.linalg -------------------------------------------------------------------

spec(np.linalg.inv, matrices("matrix", 4))
spec(np.linalg.det, matrices("matrix", 4))
spec(np.linalg.slogdet, matrices("matrix", 4))


def _solve(d):
    (a,), _ = matrices("matrix", 3)(d)
    if a.ndim == 2 and d.draw(st.booleans()):
        return (a, d.array(a.shape[-1:])), {}
    return (a, d.array(a.shape[:-1] + (d.draw(st.integers(1, 3)),))), {}


spec(np.linalg.solve, _solve)
spec(np.linalg.cholesky, lambda d: (matrices("spd", 4)(d)[0], {"upper": d.draw(
    st.booleans())}))
spec(np.linalg.eigh, lambda d: (matrices("spd", 3)(d)[0] + (d.draw(
    st.sampled_from(["L", "U"])),), {}), rtol=1e-4)


def _tall(d, wide=False):
    n = d.draw(st.integers(1, 3))
    m = n + d.draw(st.integers(0, 2))
    shape = (n, m) if wide else (m, n)
    return d.array(d.shape(0, 1, max_side=2) + shape)


spec(np.linalg.qr, lambda d: ((_tall(d),), {"mode": d.draw(st.sampled_from(
    ["reduced", "r"]))}), rtol=1e-4)


def _svd(d):
    x = _tall(d, wide=d.draw(st.booleans()))
    return (x,), {"full_matrices": False, "compute_uv": d.draw(st.booleans())}


spec(np.linalg.svd, _svd, rtol=1e-4)


def _norm(d):
    kind = d.draw(st.sampled_from(["flat", "vector", "matrix"]))
    if kind == "flat":
        return (d.array(d.shape(), "nonzero"),), {}
    x = d.array(d.shape(1), "distinct")
    if kind == "vector" or x.ndim < 2:
        order = d.draw(st.sampled_from([None, 2, 1, np.inf, -np.inf, 3, 0]))
        return (x,), {"ord": order, "axis": d.axis(x.ndim, none=x.ndim == 1,
                                                     tuples=False),
                      "keepdims": d.draw(st.booleans())}
    axes = tuple(int(a) for a in d.rng.choice(x.ndim, 2, replace=False))
    order = d.draw(st.sampled_from([None, "fro", "nuc", 2, -2, 1, -1, np.inf, -np.inf]))
    return (x,), {"ord": order, "axis": axes, "keepdims": d.draw(st.booleans())}


spec(np.linalg.norm, _norm, rtol=1e-4)


def _vector_norm(d):
    x = d.array(d.shape(1), "nonzero")
    return (x,), {"axis": d.axis(x.ndim), "keepdims": d.draw(st.booleans()),
                  "ord": d.draw(st.sampled_from([2, 1, 3]))}


spec(np.linalg.vector_norm, _vector_norm)
spec(np.linalg.matrix_norm, lambda d: ((d.array(d.shape(0, 1, max_side=2) + (2, 3),
                                                "nonzero"),),
                                       {"keepdims": d.draw(st.booleans())}))
spec(np.linalg.eigvalsh, lambda d: ((matrices("spd", 3)(d)[0][0],), {}), rtol=1e-4)
spec(np.linalg.cond, lambda d: ((_tall(d),), {}), rtol=1e-4)
spec(np.linalg.pinv, lambda d: ((_tall(d, wide=d.draw(st.booleans())),), {}), rtol=1e-4)


def _lstsq(d):
    a = d.array((d.draw(st.integers(3, 5)), d.draw(st.integers(1, 3))))
    b = d.array((a.shape[0],) + d.shape(0, 1, max_side=2))
    return (a, b), {"rcond": None}


spec(np.linalg.lstsq, _lstsq, rtol=1e-4)


def _einsum_diagonal(d):
    """einsum with a letter repeated within an operand (a diagonal or trace)."""
    n = d.draw(st.integers(1, 3))
    spec_, shapes = d.draw(st.sampled_from([
        ("ii->", [(n, n)]), ("ii->i", [(n, n)]), ("bii->b", [(2, n, n)]),
        ("bii,i->bi", [(2, n, n), (n,)]), ("...ii->...", [(2, n, n)]),
        ("iij,j->i", [(n, n, 2), (2,)]),
    ]))
    return (spec_, *[d.array(s) for s in shapes]), {}


spec(np.einsum, _einsum_diagonal, name="einsum diagonal")


# np.linalg's array-API spellings (composites of the rules above)
spec(np.linalg.matmul, _matmul)
spec(np.linalg.outer, lambda d: (lambda n, m: ((d.array((n,)), d.array((m,))), {}))(
    d.draw(st.integers(1, 3)), d.draw(st.integers(1, 3))))
spec(np.linalg.tensordot, lambda d: (lambda args: (args[:2], {"axes": args[2]}))(
    _tensordot(d)[0]))
spec(np.linalg.trace, lambda d: ((d.array(d.shape(2)),), {"offset": d.draw(
    st.integers(-1, 1))}))
spec(np.linalg.diagonal, lambda d: ((d.array(d.shape(2)),), {"offset": d.draw(
    st.integers(-1, 1))}))
spec(np.linalg.vecdot, lambda d: (lambda s: ((d.array(s), d.array(s)), {"axis": d.draw(
    st.integers(-len(s), len(s) - 1))}))(d.shape(1)))
spec(np.linalg.cross, lambda d: (lambda s: ((d.array(s + (3,)), d.array(s + (3,))), {}))(
    d.shape(0, 2)))
spec(np.linalg.svdvals, lambda d: ((_tall(d, wide=d.draw(st.booleans())),), {}), rtol=1e-4)


def _einsum_interleaved(d):
    """einsum's interleaved form: operands each followed by a list of axis labels."""
    n = d.draw(st.integers(1, 3))
    form = d.draw(st.sampled_from([
        ([(n,), [0], (n,), [0]]), ([(2, n), [0, 1], (n, 2), [1, 2], [2, 0]]),
        ([(2, n), [Ellipsis, 1], [Ellipsis]]),
    ]))
    return tuple(d.array(a) if isinstance(a, tuple) else a for a in form), {}


spec(np.einsum, _einsum_interleaved, name="einsum interleaved")
