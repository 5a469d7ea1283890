"""Kernels with hand-written rules: convolution, pooling, softmax."""

from .conv import conv2d, conv2d_data_grad, conv2d_filter_grad, conv_output_size  # noqa: F401
from .pool import (  # noqa: F401
    gather_windows,
    maxpool2d,
    meanpool2d,
    meanpool2d_adjoint,
    scatter_windows,
)
from .softmax import (  # noqa: F401
    logsoftmax,
    softmax,
    softmax_crossentropy,
    softmax_crossentropy_mean,
)
