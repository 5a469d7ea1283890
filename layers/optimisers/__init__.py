"""Optimisers: rules, gradient transformations, schedules, `setup`/`update`/`adjust`."""

from .composite import (  # noqa: F401
    ClipGlobalNorm,
    ClipGrad,
    ClipNorm,
    OptimiserChain,
    WeightDecay,
)
from .rules import (  # noqa: F401
    AdaBelief,
    AdaDelta,
    AdaGrad,
    Adam,
    AdaMax,
    AdamW,
    AMSGrad,
    Descent,
    Lion,
    Momentum,
    NAdam,
    Nesterov,
    RAdam,
    RMSProp,
    Rule,
)
from .schedules import (  # noqa: F401
    Constant,
    Cosine,
    Exponential,
    Schedule,
    Scheduler,
    Sequence,
    Step,
    Warmup,
)
from .update import Leaf, OptState, adjust, setup, update  # noqa: F401
