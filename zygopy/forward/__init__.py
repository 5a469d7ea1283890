"""Forward mode by dual numbers: a value carried together with its tangent.

`Dual(primal, tangent)` behaves like a numpy array (or a number) whose every
operation also pushes its tangent forward: `np.sin(Dual(x, t))` is
`Dual(sin(x), cos(x) * t)`. It is what the tutorials use to explain AD, and it
is how zygopy computes `jvp` and, run through the generated reverse-mode code,
Hessian-vector products (forward over reverse): `grad(grad(f))`, `hessian`.

Elementwise derivatives come from the same formula table as the reverse-mode
rules (rules/formulas.py); everything else has a push-forward in `JVPS` below,
keyed by the numpy function. A function with none raises `NoForwardRule`
naming it: a missing rule is never a silent zero.

One level of nesting is supported (a Dual's parts are plain values), which is
what second derivatives need.
"""

from __future__ import annotations

from . import linalg  # noqa: F401  (registers the decompositions)
from .dual import Dual, NoForwardRule, dual, from_nested, primal, tangent
from .functions import INERT, JVPS
from .ufuncs import math_call

__all__ = [
           "INERT",
           "JVPS",
           "Dual",
           "NoForwardRule",
           "dual",
           "from_nested",
           "math_call",
           "primal",
           "tangent",
]
