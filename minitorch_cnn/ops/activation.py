"""Activations.  The sigmoid and the (log-)softmax are written so that inputs of +-1e4 give
finite, exact results: never exponentiate a large positive number."""
import numpy as np

from ..autograd import Function
from ..kernels.activation import relu_backward, relu_forward
from ..tensor import Tensor
from .dtypes import dim_index, require_float
from .inplace import inplace as inplace_op
from .math import as_float


class ReLUFn(Function):
    """y = max(x, 0);  dx = g where x > 0 (and at NaN, as torch), else 0.  Saved: the mask only,
    never x -- so ``inplace=True`` may write y over x (``relu(x, inplace=True)``)."""

    @staticmethod
    def forward(ctx, x, inplace=False):
        y, mask = relu_forward(x, inplace)
        ctx.save_for_backward(mask)
        return y

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved
        return relu_backward(g, mask)


class LeakyReLUFn(Function):
    @staticmethod
    def forward(ctx, x, slope):
        scale = np.where(x > 0, 1, slope).astype(x.dtype)
        ctx.save_for_backward(scale)
        return x * scale

    @staticmethod
    def backward(ctx, g):
        (scale,) = ctx.saved
        return g * scale, None


class SigmoidFn(Function):
    @staticmethod
    def forward(ctx, x):
        e = np.exp(-np.abs(x))                        # in (0, 1]: never overflows
        out = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved
        return g * s * (1 - s)                        # d sigmoid = s (1 - s)


class TanhFn(Function):
    @staticmethod
    def forward(ctx, x):
        out = np.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (t,) = ctx.saved
        return g * (1 - t * t)                        # d tanh = 1 - tanh^2


class SoftmaxFn(Function):
    @staticmethod
    def forward(ctx, x, dim):
        if x.size == 0:                               # nothing to normalise (numpy's max
            ctx.save_for_backward(x)                  # refuses an empty axis)
            ctx.dim = dim
            return x.copy()
        z = np.exp(x - x.max(axis=dim, keepdims=True))  # shift: the largest exponent is 0
        out = z / z.sum(axis=dim, keepdims=True)
        ctx.save_for_backward(out)
        ctx.dim = dim
        return out

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved
        # dx = s * (g - sum(g * s))   (the Jacobian diag(s) - s s^T applied to g)
        return s * (g - (g * s).sum(axis=ctx.dim, keepdims=True))


class LogSoftmaxFn(Function):
    @staticmethod
    def forward(ctx, x, dim):
        if x.size == 0:
            ctx.save_for_backward(x)
            ctx.dim = dim
            return x.copy()
        shifted = x - x.max(axis=dim, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
        ctx.save_for_backward(out)
        ctx.dim = dim
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved
        # dx = g - softmax * sum(g)
        return g - np.exp(out) * g.sum(axis=ctx.dim, keepdims=True)


def relu(x, inplace=False):
    """max(x, 0).  ``inplace=True`` writes the result into x and returns x, its version bumped
    (as torch): a backward that needs x's old values then raises (ops/inplace.py)."""
    if not inplace:
        return ReLUFn.apply(x)
    if not isinstance(x, Tensor):
        raise TypeError(f"relu: inplace=True needs a Tensor to write into, got "
                        f"{type(x).__name__}")
    return inplace_op(x, "relu_", lambda t: ReLUFn.apply(t, inplace=True))


def leaky_relu(x, negative_slope=0.01):
    return LeakyReLUFn.apply(require_float(x, "leaky_relu"), negative_slope)


def sigmoid(x):
    return SigmoidFn.apply(as_float(x))


def tanh(x):
    return TanhFn.apply(as_float(x))


def _dim(x, dim, op):
    if dim is None:
        raise TypeError(f"{op}: pass dim explicitly (e.g. dim=1 for (N, classes) logits)")
    require_float(x, op)
    return dim_index(dim, x.ndim, op)


def softmax(x, dim):
    return SoftmaxFn.apply(x, dim=_dim(x, dim, "softmax"))


def log_softmax(x, dim):
    return LogSoftmaxFn.apply(x, dim=_dim(x, dim, "log_softmax"))
