"""Functions whose outputs carry no gradient: array creation, random numbers,
shape and dtype queries, index-valued functions (argmax, argsort, ...).

Calls to them run as they are, even on differentiable arguments; the gradient
through them is zero (see `registry.nondifferentiable`).
"""

from __future__ import annotations

import numpy as np

from ..runtime.arrays import array_module
from .registry import key_of, nondifferentiable

# array creation
# (full, full_like, linspace, logspace, geomspace and arange take values: creation.py
# and composite.py differentiate them)
nondifferentiable(
    np.zeros, np.ones, np.empty, np.zeros_like, np.ones_like, np.empty_like,
    np.eye, np.identity, np.tri, np.indices,
    np.diag_indices, np.diag_indices_from, np.tril_indices, np.triu_indices,
)

# random numbers: the legacy module functions and Generator methods. Those
# drawn with parameters (a mean, a scale, bounds) refuse differentiable ones:
# their draws do depend on them (DRAWN, checked by the dispatcher).
_GENERATOR_DRAWS = ("normal", "uniform", "exponential", "gamma", "beta", "lognormal",
                    "laplace", "logistic", "gumbel", "binomial", "poisson")
_DRAWS = (np.random.normal, np.random.uniform, np.random.exponential,
          np.random.lognormal, np.random.laplace, np.random.gamma, np.random.beta,
          *[(np.random.Generator, name) for name in _GENERATOR_DRAWS
            if hasattr(np.random.Generator, name)])
DRAWN = {key_of(f) for f in _DRAWS}  # registry keys
nondifferentiable(*_DRAWS)
# random permutations of an array argument: a gather (or an in-place one)
# whose gradient they would drop
PERMUTING = {key_of(f) for f in (np.random.permutation, np.random.shuffle,
                                 *[(np.random.Generator, n) for n in (
                                     "permutation", "permuted", "shuffle")
                                   if hasattr(np.random.Generator, n)])}


def refuse_draw(f):
    """Raise NoRuleError if `f` (a callable or its registry key) is one of the
    DRAWN: called with differentiable parameters, its draws depend on them."""
    key = f if isinstance(f, tuple) else key_of(f)
    if key not in DRAWN and key not in PERMUTING:
        return
    from ..errors import NoRuleError

    if key in PERMUTING:
        raise NoRuleError(f, " (a random permutation of a differentiable array, which "
                             "would carry no gradient, or is made in place: index with a "
                             "permutation of positions instead, "
                             "x = x[rng.permutation(len(x))])")

    name = f"{key[0].__name__}.{key[1]}" if isinstance(key, tuple) else \
        getattr(f, "__name__", repr(f))
    raise NoRuleError(f, f" ({name} draws with differentiable parameters, which its "
                         "draws depend on)", fixes=[
                             ("draw standard values and transform them (the "
                              "reparameterisation trick): mu + sigma * "
                              "rng.standard_normal(shape), low + (high - low) * "
                              "rng.random(shape)"),
                             ("or wrap the parameters in zygopy.stop_gradient(...) if "
                              "no gradient should flow to them")])
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
    np.count_nonzero, np.unravel_index, array_module, np.linalg.matrix_rank,
    np.ravel_multi_index, np.isscalar, np.iscomplexobj, np.isrealobj,
    np.ndarray.argmax, np.ndarray.argmin, np.ndarray.argsort, np.ndarray.nonzero,
    *[(np.ndarray, name) for name in (
        "shape", "ndim", "size", "dtype", "itemsize", "nbytes", "strides",
    )],
)
