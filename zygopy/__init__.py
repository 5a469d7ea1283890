"""zygopy: source-to-source reverse-mode automatic differentiation for Python.

Plain Python functions (numbers, numpy arrays, control flow, closures, user
classes) are parsed and turned into readable adjoint Python code ahead of
time; `gradient`, `pullback` and friends run it.
"""

from .api import (  # noqa: F401
    Grads,
    Params,
    differentiable,
    grad,
    gradient,
    gradient_of,
    is_differentiating,
    params,
    pullback,
    source,
    value_and_grad,
    withgradient,
)
from .errors import (  # noqa: F401
    GeneratedCodeError,
    NoRuleError,
    NoSourceError,
    NotScalarError,
    StaleSourceError,
    UnsupportedSyntax,
    ZygopyError,
)
from .higher import hessian, hvp, jvp, replayed, rerunning  # noqa: F401
from .rules import elementwise, formula_of, linear, lookup, nondifferentiable, rule  # noqa: F401
from .runtime.arrays import array_module, unbroadcast  # noqa: F401
from .runtime.tangents import ZERO, Tangent  # noqa: F401
from .transforms import checkpointed, jacobian, nograd, stop_gradient  # noqa: F401

__version__ = "0.1.0"
