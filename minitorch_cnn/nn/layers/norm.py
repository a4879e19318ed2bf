"""Batch normalisation layers: BatchNorm1d and BatchNorm2d.

The idea: standardise each channel over the batch (and the spatial positions),
x_hat = (x - mean) / sqrt(var + eps), then let the net rescale it, y = gamma * x_hat + beta.
Statistics of a batch are noisy and unavailable at test time, so the layer keeps running averages

    running_mean <- (1 - momentum) * running_mean + momentum * batch_mean
    running_var  <- (1 - momentum) * running_var  + momentum * batch_var_unbiased

in *buffers* (numpy arrays: state, but not trained) and uses them in eval mode.  The buffers and
their names (running_mean, running_var, num_batches_tracked: an int64 0-d array counting training
batches) are PyTorch's, so state dicts move between the two.  ``momentum=None`` uses the
cumulative average, factor 1 / num_batches_tracked.  The fused op is ``F.batch_norm``.
"""
import numbers

import numpy as np

from .. import functional as F
from .. import init
from ..module import Module, Parameter
from ._util import check_tensor, int_arg


class _BatchNorm(Module):
    _layout = ""          # for error messages, set by the subclasses
    _ndims = ()
    _optional_state = ("num_batches_tracked",)     # old checkpoints lack it (torch allows)

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, *, bias=True):
        super().__init__()
        name = type(self).__name__
        self.num_features = int_arg(name, "num_features", num_features)
        if not isinstance(eps, numbers.Real) or not eps > 0:
            raise ValueError(f"{name}: eps must be a positive number, got {eps!r}")
        if momentum is not None and (not isinstance(momentum, numbers.Real)
                                     or not 0 <= momentum <= 1):
            raise ValueError(f"{name}: momentum must be in [0, 1] or None, got {momentum!r}")
        self.eps = eps
        self.momentum = momentum
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        C = self.num_features
        if self.affine:
            self.weight = Parameter(np.ones(C, np.float32))          # gamma
            if bias:
                self.bias = Parameter(np.zeros(C, np.float32))       # beta
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(C, np.float32))
            self.register_buffer("running_var", np.ones(C, np.float32))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def reset_parameters(self):
        self.reset_running_stats()
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x):
        check_tensor(self, x, self.weight)
        if x.ndim not in self._ndims or x.shape[1] != self.num_features:
            raise ValueError(f"{self!r}: expected input {self._layout.format(self.num_features)}"
                             f", got shape {tuple(x.shape)}")
        # torch's logic, step by step:
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked += 1                # in place on the int64 0-d buffer
            if self.momentum is None:                    # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked)
        # batch statistics when training, or when there are no running statistics to use
        use_batch_stats = self.training or self.running_mean is None
        # the running statistics are updated only when training *and* tracking
        track = not self.training or self.track_running_stats
        return F.batch_norm(x, self.running_mean if track else None,
                            self.running_var if track else None, self.weight, self.bias,
                            use_batch_stats, factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) features, or (N, C, L) sequences: statistics per C over N (and L).

    Args:
        num_features: C.
        eps: added to the variance for stability (1e-5).
        momentum: running-average factor (0.1); None = cumulative average.
        affine: learn gamma (weight, ones) and beta (bias, zeros) (True).
        track_running_stats: keep running_mean / running_var for eval (True); if False, batch
            statistics are used in eval mode too, and the buffers are None.
        bias (keyword): with affine, learn beta (True), as torch >= 2.13.

    Shape:
        - Input: (N, C) or (N, C, L)
        - Output: same shape as the input
    """

    _layout = "(N, {0}) or (N, {0}, L)"
    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over NCHW images: statistics per channel over N, H and W.

    Args: as ``BatchNorm1d``.

    Shape:
        - Input: (N, C, H, W)
        - Output: (N, C, H, W)
    """

    _layout = "(N, {0}, H, W)"
    _ndims = (4,)
