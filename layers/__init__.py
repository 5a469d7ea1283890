"""layers: a Flux-style neural-network library differentiated by zygopy."""

from .activations import (  # noqa: F401
    celu, elu, gelu, hardsigmoid, hardtanh, identity, leakyrelu, logsigmoid,
    logsoftmax, relu, relu6, selu, sigmoid, silu, softmax, softplus, softsign,
    swish, tanh, σ,
)
from .basic import (  # noqa: F401
    Chain, Dense, Embedding, Parallel, Scale, SkipConnection, compose, flatten,
)
from .conv import (  # noqa: F401
    AdaptiveMeanPool, Conv, ConvTranspose, GlobalMaxPool, GlobalMeanPool, MaxPool,
    MeanPool,
)
from .data import DataLoader, onecold, onehot, onehotbatch  # noqa: F401
from .devices import cpu, f32, f64, gpu  # noqa: F401
from .functor import (  # noqa: F401
    children, fmap, freeze, layer, parameters, params, thaw, trainable,
)
from .init import (  # noqa: F401
    glorot_normal, glorot_uniform, kaiming_normal, kaiming_uniform, ones, set_seed,
    zeros,
)
from .io import load, save, state  # noqa: F401
from .losses import (  # noqa: F401
    binarycrossentropy, crossentropy, focal_loss, hinge_loss, huber_loss,
    kldivergence, label_smoothing, logitbinarycrossentropy, logitcrossentropy, mae,
    mse, msle, poisson_loss, squared_hinge_loss,
)
from .normalise import (  # noqa: F401
    AlphaDropout, BatchNorm, Dropout, GroupNorm, LayerNorm, testmode, trainmode,
)
from .optimisers import (  # noqa: F401
    AdaBelief, AdaDelta, AdaGrad, AdaMax, Adam, AdamW, AMSGrad, ClipGlobalNorm,
    ClipGrad, ClipNorm, Cosine, Descent, Exponential, Lion, Momentum, NAdam, Nesterov,
    OptimiserChain, RAdam, RMSProp, Scheduler, Step, Warmup, WeightDecay, adjust,
    setup, update,
)
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell  # noqa: F401
from .show import count_parameters, summary  # noqa: F401
from .training import (  # noqa: F401
    EarlyStopping, NonFiniteLoss, StopTraining, stop, throttle, train,
)

ADAM = Adam  # the old Flux spelling used by the tutorials
