"""Products and matrix structure: matmul (and `@`), dot, inner, outer, vdot,
tensordot, einsum, kron, trace, diag, diagonal, tril, triu.

Batched (...) arguments broadcast like numpy; batch-broadcast cotangents are
summed back by the dispatcher. Decompositions live in `decompositions.py`.
"""

from __future__ import annotations

import operator

import numpy as np

from ..runtime.arrays import unbroadcast
from ._helpers import ZERO, array_module, named, nones, option
from .derive import of_sequences_too
from .registry import rule


def _mT(a):
    return array_module(a).swapaxes(a, -1, -2)


@rule(np.matmul, operator.matmul)
def matmul_rule(a, b, _needed=(True, True)):
    """`a @ b` for (..., m, k) @ (..., k, n), with numpy's 1-D promotions:
    da = dy @ b^T, db = a^T @ dy (see `matmul_adjoint`)."""
    y = a @ b if type(a) is np.ndarray is type(b) else array_module(a, b).matmul(a, b)
    need_a, need_b = _needed

    def matmul_pullback(dy):
        return matmul_adjoint(dy, a, b, need_a, need_b)

    return y, matmul_pullback


matmul_rule.takes_needed = True  # dispatch passes which cotangents the caller uses


def matmul_adjoint(dy, a, b, need_a=True, need_b=True):
    """(da, db) for y = a @ b, each shaped like its operand (None where not
    needed: a batch's own gradient is a large product no training step uses).

    The generated code calls this directly for `a @ b` on arrays. When `b` is a
    transposed view (`x @ W.T`, F-ordered), db is computed as (dy^T a)^T, which
    costs the same and makes the gradient of W (its transpose) C-ordered, the
    layout elementwise optimiser updates are fast on."""
    if type(a) is np.ndarray is type(b) and a.ndim == 2 == b.ndim and type(dy) is np.ndarray:
        da = dy @ b.T if need_a else None
        if not need_b:
            return da, None
        if b.strides[0] < b.strides[1]:  # a transposed view (cheaper than .flags)
            return da, (dy.T @ a).T
        return da, a.T @ dy
    if dy is ZERO:  # an output the caller does not use
        return (ZERO if need_a else None), (ZERO if need_b else None)
    xp = array_module(a, b)
    va, vb = np.ndim(a) == 1, np.ndim(b) == 1
    A = xp.expand_dims(a, 0) if va else a
    B = xp.expand_dims(b, -1) if vb else b
    G = xp.expand_dims(dy, -1) if vb else dy
    G = xp.expand_dims(G, -2) if va else G
    da = db = None
    if need_a:
        da = xp.matmul(G, _mT(B))
        da = unbroadcast(xp.squeeze(da, -2) if va else da, a)
    if need_b:
        db = xp.matmul(_mT(A), G)
        db = unbroadcast(xp.squeeze(db, -1) if vb else db, b)
    return da, db


def _tensordot_grads(a, b, ia, ib, dy):
    """Cotangents of `tensordot(a, b, (ia, ib))` (non-negative axis lists)."""
    xp = array_module(a, b, dy)
    fa = [i for i in range(np.ndim(a)) if i not in ia]
    fb = [i for i in range(np.ndim(b)) if i not in ib]
    nfa = len(fa)
    # axes as tuples: CuPy accepts ((), ()) for a 0-d operand, not ([], [])
    da = xp.tensordot(dy, b, (tuple(range(nfa, nfa + len(fb))), tuple(fb)))
    da = xp.transpose(da, np.argsort(fa + [ia[ib.index(j)] for j in sorted(ib)]))
    db = xp.tensordot(a, dy, (tuple(fa), tuple(range(nfa))))
    db = xp.transpose(db, np.argsort([ib[ia.index(i)] for i in sorted(ia)] + fb))
    return da, db


def _axes_pair(a, b, axes):
    """tensordot's `axes` argument as two lists of non-negative axes."""
    if isinstance(axes, (int, np.integer)):
        return list(range(np.ndim(a) - axes, np.ndim(a))), list(range(axes))
    ia, ib = axes
    ia = [ia] if isinstance(ia, (int, np.integer)) else list(ia)
    ib = [ib] if isinstance(ib, (int, np.integer)) else list(ib)
    return [i % np.ndim(a) for i in ia], [i % np.ndim(b) for i in ib]


@rule(np.tensordot)
def tensordot_rule(a, b, *args, **kw):
    """`np.tensordot(a, b, axes)`: each cotangent is a tensordot of dy with
    the other operand over the free axes, transposed into place."""
    xp = array_module(a, b)
    y = xp.tensordot(a, b, *args, **kw)
    ia, ib = _axes_pair(a, b, option(args, kw, 0, "axes", 2))

    def tensordot_pullback(dy):
        return _tensordot_grads(a, b, ia, ib, dy) + nones(args)

    return y, tensordot_pullback


def _contraction(fn, name, axes_of):
    """A rule for a product that is a tensordot (or, with a scalar, a multiply)."""

    def contraction_rule(a, b):
        y = fn(a, b)

        def contraction_pullback(dy):
            if np.ndim(a) == 0 or np.ndim(b) == 0:
                return dy * b, dy * a
            return _tensordot_grads(a, b, *axes_of(a, b), dy)

        return y, named(contraction_pullback, f"{name}_pullback")

    contraction_rule.__doc__ = f"`np.{name}(a, b)`: a tensordot (or a scalar product)."
    return named(contraction_rule, f"{name}_rule")


def _dot_axes(a, b):
    return [np.ndim(a) - 1], [max(np.ndim(b) - 2, 0)]


def _inner_axes(a, b):
    return [np.ndim(a) - 1], [np.ndim(b) - 1]


dot_rule = rule(np.dot, np.ndarray.dot)(_contraction(np.dot, "dot", _dot_axes))
inner_rule = rule(np.inner)(_contraction(np.inner, "inner", _inner_axes))


@rule(np.outer)
def outer_rule(a, b):
    """`np.outer(a, b)` of the flattened inputs."""
    xp = array_module(a, b)
    sa, sb = np.shape(a), np.shape(b)

    def outer_pullback(dy):
        da = xp.matmul(dy, xp.ravel(b))
        db = xp.matmul(xp.ravel(a), dy)
        return xp.reshape(da, sa), xp.reshape(db, sb)

    return xp.outer(a, b), outer_pullback


@rule(np.vdot)
def vdot_rule(a, b):
    """`np.vdot(a, b)`: the dot product of the flattened (real) inputs."""
    xp = array_module(a, b)
    sa, sb = np.shape(a), np.shape(b)

    def vdot_pullback(dy):
        return xp.reshape(dy * xp.ravel(b), sa), xp.reshape(dy * xp.ravel(a), sb)

    return xp.vdot(a, b), vdot_pullback


def _einsum_letters(spec, operands):
    """Explicit subscripts (ellipses spelled as capitals) and the output."""
    spec = spec.replace(" ", "")
    ins, out = spec.split("->") if "->" in spec else (spec, None)
    ins = ins.split(",")
    if out is None:
        letters = "".join(ins).replace(".", "")
        out = ("..." if "..." in spec else "") + "".join(
            sorted(c for c in set(letters) if letters.count(c) == 1))
    nell = max((np.ndim(o) - len(s.replace("...", "")) for s, o in zip(ins, operands)
                if "..." in s), default=0)
    caps = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    ins = [s.replace("...", caps[nell - (np.ndim(o) - len(s) + 3):nell])
           for s, o in zip(ins, operands)]
    return ins, out.replace("...", caps[:nell])


def _einsum_interleaved(args, kw):
    """`np.einsum(op, sublist, op, sublist, ..., [output])` as `einsum_rule`
    of the subscripts string; cotangents back in the interleaved places."""
    n = len(args) // 2
    ops, subs = args[0:2 * n:2], args[1:2 * n:2]

    def word(sublist):
        return "".join("..." if s is Ellipsis else _LETTERS[s] for s in sublist)

    spec = ",".join(map(word, subs)) + (f"->{word(args[-1])}" if len(args) % 2 else "")
    y, pb = einsum_rule(spec, *ops, **kw)

    def einsum_interleaved_pullback(dy):
        grads = pb(dy)[1:]
        return tuple(x for g in grads for x in (g, None)) + (None,) * (len(args) % 2)

    return y, einsum_interleaved_pullback


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"  # numpy's 52 labels


@rule(np.einsum)
def einsum_rule(spec, *operands, **kw):
    """`np.einsum(spec, *operands)`: operand i's cotangent is the einsum of dy
    with the other operands into i's subscripts; letters i does not share are
    broadcast. A letter repeated within one operand (`"ii->"`, `"bii->bi"`)
    takes that operand's diagonal first. The interleaved form
    (`np.einsum(a, [0, 1], b, [1])`) is spelled as subscripts first."""
    if not isinstance(spec, str):
        return _einsum_interleaved((spec, *operands), kw)
    xp = array_module(*operands)
    ins, out = _einsum_letters(spec, operands)
    if any(len(set(s)) != len(s) for s in ins):
        return _einsum_of_diagonals(ins, out, operands, kw)
    y = xp.einsum(spec, *operands, **kw)

    def einsum_pullback(dy):
        grads = []
        for i, (s, x) in enumerate(zip(ins, operands)):
            others = ins[:i] + ins[i + 1:]
            known = set(out).union(*others)
            target = "".join(c for c in s if c in known)
            terms = ",".join([out] + others)
            g = xp.einsum(f"{terms}->{target}", dy, *operands[:i], *operands[i + 1:])
            for axis, c in enumerate(s):
                if c not in known:
                    g = xp.expand_dims(g, axis)
            grads.append(xp.broadcast_to(g, np.shape(x)) if target != s else g)
        return (None, *grads)

    return y, einsum_pullback


def _einsum_of_diagonals(ins, out, operands, kw):
    """einsum where a letter repeats within an operand: the operand's diagonal
    over those two axes (np.diagonal, which puts it last) is taken until no
    letter repeats, then the einsum of the diagonals; the cotangents go back
    through both rules."""
    steps, reduced, subs = [], [], []
    for s, x in zip(ins, operands):
        chain = []
        while len(set(s)) != len(s):
            c = next(c for c in s if s.count(c) > 1)
            i = s.index(c)
            j = s.index(c, i + 1)
            x, pb = diagonal_rule(x, 0, i, j)
            chain.append(pb)
            s = s[:i] + s[i + 1:j] + s[j + 1:] + c
        steps.append(chain)
        reduced.append(x)
        subs.append(s)
    y, pb = einsum_rule(",".join(subs) + "->" + out, *reduced, **kw)

    def einsum_of_diagonals_pullback(dy):
        grads = list(pb(dy)[1:])
        for i, chain in enumerate(steps):
            for diagonal_pullback in reversed(chain):
                grads[i] = diagonal_pullback(grads[i])[0]
        return (None, *grads)

    return y, einsum_of_diagonals_pullback


@rule(np.kron)
def kron_rule(a, b):
    """`np.kron(a, b)`: dy viewed as interleaved (a-axis, b-axis) pairs and
    contracted with the other factor."""
    xp = array_module(a, b)
    sa, sb = np.shape(a), np.shape(b)
    d = max(len(sa), len(sb))
    pa, pb = (1,) * (d - len(sa)) + sa, (1,) * (d - len(sb)) + sb
    pairs = tuple(n for pair in zip(pa, pb) for n in pair)
    ones = (1,) * d
    inter_a = tuple(n for pair in zip(pa, ones) for n in pair)
    inter_b = tuple(n for pair in zip(ones, pb) for n in pair)

    def kron_pullback(dy):
        g = xp.reshape(dy, pairs)
        da = xp.sum(g * xp.reshape(b, inter_b), axis=tuple(range(1, 2 * d, 2)))
        db = xp.sum(g * xp.reshape(a, inter_a), axis=tuple(range(0, 2 * d, 2)))
        return xp.reshape(da, sa), xp.reshape(db, sb)

    return xp.kron(a, b), kron_pullback


def diagonal_embed(g, n, m, offset):
    """The (..., n, m) array with `g`'s last axis on diagonal `offset`, zeros
    elsewhere: the adjoint of `np.diagonal(x, offset, -2, -1)`."""
    xp = array_module(g)
    eye = xp.eye(n, m, k=offset, dtype=getattr(g, "dtype", np.float64))
    length = n if offset >= 0 else m
    g = xp.pad(g, [(0, 0)] * (np.ndim(g) - 1) + [(0, length - np.shape(g)[-1])])
    g = xp.expand_dims(g, -1 if offset >= 0 else -2)
    return g * eye


@rule(np.diagonal, np.ndarray.diagonal)
def diagonal_rule(x, *args, **kw):
    """`np.diagonal(x, offset, axis1, axis2)`: dy goes back on the diagonal."""
    xp = array_module(x)
    offset, axis1, axis2 = (option(args, kw, i, name, d) for i, name, d in
                            ((0, "offset", 0), (1, "axis1", 0), (2, "axis2", 1)))
    n, m = np.shape(x)[axis1], np.shape(x)[axis2]

    def diagonal_pullback(dy):
        g = diagonal_embed(dy, n, m, offset)
        return (xp.moveaxis(g, (-2, -1), (axis1, axis2)),) + nones(args)

    return xp.diagonal(x, *args, **kw), diagonal_pullback


@rule(np.trace, np.ndarray.trace)
def trace_rule(x, *args, **kw):
    """`np.trace(x, offset, axis1, axis2)`: dx = dy times the identity."""
    xp = array_module(x)
    offset, axis1, axis2 = (option(args, kw, i, name, d) for i, name, d in
                            ((0, "offset", 0), (1, "axis1", 0), (2, "axis2", 1)))
    n, m = np.shape(x)[axis1], np.shape(x)[axis2]
    y = xp.trace(x, *args, **kw)

    def trace_pullback(dy):
        g = xp.expand_dims(xp.expand_dims(dy, -1), -1) * xp.eye(n, m, offset, x.dtype)
        return (xp.moveaxis(g, (-2, -1), (axis1, axis2)),) + nones(args)

    return y, trace_pullback


@rule(np.diag)
def diag_rule(v, *args, **kw):
    """`np.diag(v, k)`: builds a matrix from a vector (dv = its diagonal) or
    takes a matrix's diagonal (dv = dy put back on it)."""
    xp = array_module(v)
    shape, k = np.shape(v), option(args, kw, 0, "k", 0)

    def diag_pullback(dy):
        if len(shape) == 1:
            return (xp.diagonal(dy, k),) + nones(args)
        return (diagonal_embed(dy, shape[0], shape[1], k),) + nones(args)

    return xp.diag(v, *args, **kw), diag_pullback


def _triangle(name):
    """An rrule for np.tril/np.triu(x, k): a mask, its own adjoint."""

    def triangle_rule(x, *args, **kw):
        xp, k = array_module(x), option(args, kw, 0, "k", 0)
        mask = getattr(xp, name)

        def triangle_pullback(dy):
            return (mask(dy, k),) + nones(args)

        return mask(x, k), named(triangle_pullback, f"{name}_pullback")

    triangle_rule.__doc__ = f"`np.{name}(x, k)`: a mask, its own adjoint."
    return named(triangle_rule, f"{name}_rule")


rule(np.tril)(_triangle("tril"))
rule(np.triu)(_triangle("triu"))


of_sequences_too((np.dot, np.inner, np.outer, np.vdot), 2)  # np.dot([a, b], [c, d])
