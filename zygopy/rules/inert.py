"""Functions whose outputs carry no gradient: array creation, random numbers,
shape and dtype queries, index-valued functions (argmax, argsort, ...).

Calls to them run as they are, even on differentiable arguments; the gradient
through them is zero (see `registry.nondifferentiable`).
"""

from __future__ import annotations

import numpy as np

from .registry import nondifferentiable

# array creation
nondifferentiable(
    np.zeros, np.ones, np.empty, np.full, np.zeros_like, np.ones_like,
    np.empty_like, np.full_like, np.eye, np.identity, np.arange, np.linspace,
    np.logspace, np.geomspace, np.tri, np.indices, np.diag_indices,
    np.tril_indices, np.triu_indices,
)

# random numbers: the legacy module functions and Generator methods
nondifferentiable(
    np.random.rand, np.random.randn, np.random.random, np.random.random_sample,
    np.random.normal, np.random.uniform, np.random.randint, np.random.choice,
    np.random.permutation, np.random.shuffle, np.random.seed,
    np.random.standard_normal, np.random.default_rng,
    *[(np.random.Generator, name) for name in (
        "normal", "uniform", "standard_normal", "random", "integers", "choice",
        "permutation", "permuted", "shuffle", "binomial", "bernoulli", "exponential",
    ) if hasattr(np.random.Generator, name)],
)

# shapes, dtypes, index-valued and counting functions
nondifferentiable(
    np.shape, np.ndim, np.size, np.result_type, np.argmax, np.argmin, np.argsort,
    np.argwhere, np.nonzero, np.flatnonzero, np.searchsorted, np.digitize,
    np.count_nonzero, np.bincount, np.histogram, np.unravel_index,
    np.ravel_multi_index, np.isscalar, np.iscomplexobj, np.isrealobj,
    np.ndarray.argmax, np.ndarray.argmin, np.ndarray.argsort, np.ndarray.nonzero,
    *[(np.ndarray, name) for name in (
        "shape", "ndim", "size", "dtype", "itemsize", "nbytes", "strides",
    )],
)
