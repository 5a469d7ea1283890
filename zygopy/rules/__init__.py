"""All calculus lives here: the registry and the rules, grouped by family."""

from . import registry, formulas  # noqa: F401
from . import python  # noqa: F401  (operators, math, builtins)
from . import ufuncs, reductions, indexing, shape, joins  # noqa: F401  (numpy)
from . import linalg, decompositions, norms, inert, creation, composite  # noqa: F401
from . import iterables  # noqa: F401  (math.prod, math.fsum, itertools.accumulate)
from . import statistics  # noqa: F401  (pinv, lstsq, cov, norms of numpy 2, ...)
from . import special  # noqa: F401  (math.gamma, math.lgamma: digamma)
from .registry import linear, rule, nondifferentiable, lookup  # noqa: F401
from .formulas import elementwise, formula_of  # noqa: F401

# functions of lists and tuples as of the arrays numpy makes of them, duals
# included (second order): the operands of selections and sorts
from .derive import of_sequences_too
import numpy as _np

of_sequences_too((_np.median, _np.sort), 1)
of_sequences_too((_np.where, _np.clip), 3)
