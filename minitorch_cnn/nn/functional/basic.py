"""linear, dropout and batch_norm: the layers every network uses, each one fused ``Function``.

Notation: N batch, C channels (= features for 2-D input), L = H*W (or the length of (N, C, L)
input; L = 1 for (N, C)), M = N*L the number of values each channel's statistics are taken over.

* ``linear``      y = x @ W.T + b, with W stored (out, in) like PyTorch.  Any leading dims:
                  the input is viewed as a (rows, in) matrix, so forward and backward are each one
                  BLAS matrix multiply.
* ``dropout``     inverted dropout: keep each value with probability 1 - p and scale it by
                  1 / (1 - p), so the expected output equals the input and evaluation needs no
                  rescaling.  Backward multiplies by the same mask.
* ``batch_norm``  per-channel standardisation, x_hat = (x - mean) / sqrt(var + eps), then
                  y = gamma * x_hat + beta.  Written as one op with the analytic backward rather
                  than a chain of mean/sub/mul ops: the chain would keep a dozen full-size
                  intermediates alive, the fused op keeps one (x_hat) and makes a few passes.
"""
import numpy as np

from ...autograd import Function
from ...kernels.batchnorm import batch_norm_backward, batch_norm_forward
from ...tensor import Tensor
from .._args import as_tensor, same_dtype


# ------------------------------------------------------------------------------ linear
class LinearFn(Function):
    @staticmethod
    def forward(ctx, x, w, b):
        lead = x.shape[:-1]
        rows = int(np.prod(lead))                           # (spelt out: -1 fails for 0 in)
        x2 = x.reshape(rows, x.shape[-1])                   # (rows, in): one matmul for all dims
        y = x2 @ w.T                                        # y = x W^T        (rows, out)
        if b is not None:
            y += b                                          #   + b (broadcast over rows)
        ctx.save_for_backward(x2, w)
        ctx.lead, ctx.has_bias = lead, b is not None
        return y.reshape(lead + (w.shape[0],))

    @staticmethod
    def backward(ctx, g):
        x2, w = ctx.saved
        need_x, need_w, need_b = ctx.needs_input_grad
        g2 = g.reshape(x2.shape[0], w.shape[0])             # (rows, out)
        gx = (g2 @ w).reshape(ctx.lead + (w.shape[1],)) if need_x else None   # dx = g W
        gw = g2.T @ x2 if need_w else None                  # dW = g^T x       (out, in)
        gb = g2.sum(axis=0) if ctx.has_bias and need_b else None   # db = sum of g over rows
        return gx, gw, gb


def linear(x, weight, bias=None):
    """y = x @ weight.T + bias.

    Shape:
        x (..., in), weight (out, in), bias (out,) -> y (..., out)
    """
    x = as_tensor("linear", x)
    weight = as_tensor("linear", weight, "weight")
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape "
                         f"{weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} has {x.shape[-1] if x.ndim else 0} "
                         f"features in its last dim, but weight of shape {weight.shape} expects "
                         f"in_features={weight.shape[1]}")
    if bias is not None:
        bias = as_tensor("linear", bias, "bias")
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"linear: bias must have shape ({weight.shape[0]},) to match weight "
                             f"of shape {weight.shape}, got {bias.shape}")
    same_dtype("linear", x, weight=weight, bias=bias)
    return LinearFn.apply(x, weight, bias)


# ------------------------------------------------------------------------------ dropout
class DropoutFn(Function):
    @staticmethod
    def forward(ctx, x, p):
        keep = np.random.random_sample(x.shape) >= p        # P(keep) = 1 - p, global numpy RNG
        scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
        y = x * keep
        y *= scale                                          # y = x * mask / (1 - p)
        ctx.save_for_backward(keep)                         # a bool mask: 1 byte per element
        ctx.scale = scale
        return y

    @staticmethod
    def backward(ctx, g):
        (keep,) = ctx.saved
        gx = g * keep
        gx *= ctx.scale                                     # dx = g * mask / (1 - p)
        return gx


def dropout(x, p=0.5, training=True):
    """Zero each element with probability p and scale the rest by 1/(1-p) (training only).

    Uses numpy's global RNG, so ``np.random.seed`` makes it reproducible.  With
    ``training=False`` (or p = 0) it returns ``x`` unchanged.

    Shape:
        any -> same
    """
    x = as_tensor("dropout", x)
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)):
        raise TypeError(f"dropout: p must be a number in [0, 1], got {p!r}")
    if not 0 <= p <= 1:
        raise ValueError(f"dropout: p must lie in [0, 1], got {p}")
    if not training or p == 0:
        return x
    return DropoutFn.apply(x, p=float(p))


# ------------------------------------------------------------------------------ batch norm
class BatchNormFn(Function):
    """Batch normalisation over axes (N, L) of x viewed as (N, C, L), one fused op.

    Training (batch statistics: mean mu and biased variance var over the M = N*L values):
        x_hat = (x - mu) * inv_std,   inv_std = 1 / sqrt(var + eps),   y = gamma x_hat + beta
        dx = gamma inv_std / M * (M g - sum(g) - x_hat * sum(g x_hat))   (sums over N and L)
    The two sums appear because mu and var depend on every x of the channel.
    Evaluation (running statistics are constants):  dx = g gamma inv_std.
    Both:  dgamma = sum(g x_hat),  dbeta = sum(g).
    The passes (kernels/batchnorm.py) keep xc = x - mu for backward.
    """

    @staticmethod
    def forward(ctx, x, gamma, beta, running_mean, running_var, training, momentum, eps):
        N, C = x.shape[:2]
        x3 = x.reshape(N, C, int(np.prod(x.shape[2:])))     # (N, C, L), a view when contiguous
        y, xc, scale, inv_std = batch_norm_forward(x3, gamma, beta, running_mean, running_var,
                                                   training, momentum, eps)
        ctx.save_for_backward(xc)                           # for dgamma and (training) dx
        ctx.scale, ctx.inv_std, ctx.training = scale, inv_std, training
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        (xc,) = ctx.saved
        need_x, need_gamma, need_beta = ctx.needs_input_grad[:3]
        g3 = g.reshape(xc.shape)
        gx, dgamma, dbeta = batch_norm_backward(g3, xc, ctx.scale, ctx.inv_std, ctx.training,
                                                need_x, need_gamma)
        return (None if gx is None else gx.reshape(g.shape)), dgamma, \
            (dbeta if need_beta else None)


def _stat_array(op, name, v, C):
    """The ndarray behind a running statistic (updated in place), checked to be (C,)."""
    if v is None:
        return None
    arr = v.data if isinstance(v, Tensor) else v
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{op}: {name} must be an ndarray or Tensor, got {type(v).__name__}")
    if arr.shape != (C,):
        raise ValueError(f"{op}: {name} has shape {arr.shape} but the input has C={C} channels, "
                         f"so ({C},) was expected")
    return arr


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation, PyTorch's ``F.batch_norm``.

    training=True: normalise with the batch mean and biased variance over (N, H, W), and update
    ``running_mean`` / ``running_var`` IN PLACE (ndarrays or Tensors; either may be None) as
    r = (1 - momentum) r + momentum * stat, using the *unbiased* variance for ``running_var``.
    training=False: normalise with the running statistics.  ``weight`` (gamma) and ``bias``
    (beta) are optional per-channel (C,) tensors.

    Shape:
        x (N, C), (N, C, L) or (N, C, H, W) -> same
    """
    op = "batch_norm"
    x = as_tensor(op, x)
    if x.ndim < 2:
        raise ValueError(f"{op}: expected input of shape (N, C, ...), got {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got dtype {x.dtype}")
    C = x.shape[1]
    rm = _stat_array(op, "running_mean", running_mean, C)
    rv = _stat_array(op, "running_var", running_var, C)
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and as_tensor(op, p, name).shape != (C,):
            raise ValueError(f"{op}: {name} must have shape ({C},) for an input of shape "
                             f"{x.shape}, got {p.shape}")
    if training:
        if x.numel() and x.numel() // C <= 1:
            raise ValueError(f"{op}: expected more than 1 value per channel when training, got "
                             f"input of shape {x.shape}")
        if not eps > 0:                 # the variance of constant channels is 0: 1/sqrt(0)
            raise ValueError(f"{op}: eps must be positive during training, got {eps}")
    elif rm is None or rv is None:
        raise ValueError(f"{op}: running_mean and running_var are needed when training=False")
    if x.numel() == 0:                  # an empty batch: nothing to normalise, no statistics
        return x * 1                    # (torch leaves the running statistics unchanged too)
    return BatchNormFn.apply(x, weight, bias, running_mean=rm, running_var=rv,
                           training=bool(training), momentum=float(momentum), eps=float(eps))
