"""Pooling: max_pool2d, avg_pool2d, adaptive_avg_pool2d on NCHW tensors.

Notation: the block in ``nn/functional/__init__.py``, shared with conv (here dh = dw = 1):
OH = floor((H + 2*ph - KH) / sh) + 1, OW likewise.

The idea: a pooling window at output (oh, ow) covers padded-input rows oh*sh + i and columns
ow*sw + j for the kernel offsets 0 <= i < KH, 0 <= j < KW.  So instead of looping over windows we
loop over the KH*KW *offsets*: for a fixed (i, j) the elements ``xp[:, :, i + sh*oh, j + sw*ow]``
of all windows at once form one strided slice of shape (N, C, OH, OW)::

    xp[:, :, i : i + sh*(OH-1) + 1 : sh,  j : j + sw*(OW-1) + 1 : sw]

An average-pool is then a running sum over KH*KW such slices; a max-pool goes one better, since
max is separable: a running max over KW column offsets of every row, then over KH row offsets
(KH + KW passes instead of KH*KW; see ``MaxPool2dFn``).  The backward pass adds the output gradient
back through the same slices.  Windows may overlap (sh < KH, e.g. Inception's 3x3 stride-1
max-pool): an input can belong to several windows, so its gradient is a *sum* over them -- which
is why the backward adds (``+=``) rather than assigns.

Max-pool saves only *which* offset won (small int8 arrays), never the windows.  Ties go to the
first maximum in row-major window order (strict ``>`` while scanning), as in PyTorch, so each
window sends its gradient to exactly one input; a NaN wins over everything, as in PyTorch.
Max-pool pads with -inf, so padding never wins over a real number (only in a window holding
nothing but -inf, which then sends its gradient into the padding, where torch gives it to the
window's first real element); avg-pool pads with zeros that count in the average (torch's
``count_include_pad=True``).

Speed notes.  Masked numpy writes (``np.copyto(..., where=mask)``) are slow on random masks, so
the arg-max update is branch-free: offsets are scanned in increasing order, so "replace by offset
k where better" is ``arg = max(arg, better * k)``.  When windows do not overlap (stride >=
kernel, e.g. ``max_pool2d(x, 2)``) the backward writes each strided slice once instead of adding.
Average pooling over windows that tile the input (kernel == stride, no padding -- also the
global and adaptive cases) is a reshape to (N, C, OH, KH, OW, KW) and one mean, whatever KH*KW.

Built up step by step -- the loops, then a running maximum over offsets with autograd's backward,
then this kernel -- in reference.py and docs/convolution.md.
"""
import numpy as np

from ...autograd import Function
from ...kernels.pooling import (avg_pool_backward, avg_pool_forward, bin_loop, bin_matrix,
                                max_pool_backward, max_pool_forward)
from .._args import as_tensor, pair_arg


# ------------------------------------------------------------------------------ helpers
def _pool_geometry(op, x, kernel_size, stride, padding):
    """Validate the arguments; return ((KH, KW), (sh, sw), (ph, pw), (OH, OW))."""
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D (N, C, H, W) input, got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got dtype {x.dtype}")
    k = pair_arg(op, "kernel_size", kernel_size, None)
    s = k if stride is None else pair_arg(op, "stride", stride, None)
    p = pair_arg(op, "padding", padding, None)
    if min(k) <= 0:
        raise ValueError(f"{op}: kernel_size must be positive, got {k}")
    if min(s) <= 0:
        raise ValueError(f"{op}: stride must be positive, got {s}")
    if min(p) < 0 or p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"{op}: padding must lie in [0, kernel_size // 2] (a window that is "
                         f"mostly padding makes no sense), got padding {p} for kernel {k}")
    H, W = x.shape[2:]
    if H + 2 * p[0] < k[0] or W + 2 * p[1] < k[1]:
        raise ValueError(f"{op}: kernel {k} is larger than the padded input "
                         f"({H + 2 * p[0]}, {W + 2 * p[1]}) (input shape {x.shape}, padding {p})")
    o = ((H + 2 * p[0] - k[0]) // s[0] + 1, (W + 2 * p[1] - k[1]) // s[1] + 1)
    return k, s, p, o


class MaxPool2dFn(Function):
    """y[n, c, a, b] = max over offsets (i, j) of xp[n, c, a*sh + i, b*sw + j]   (xp: -inf border)
    dx = g sent to the one input that won each window (its first maximum in row-major order),
    summed where windows overlap.  Saved: which offset won (int8), never the windows.
    """

    @staticmethod
    def forward(ctx, x, k, s, p, o):
        out, ctx.saved_args = max_pool_forward(x, k, s, p, o)
        ctx.geometry, ctx.xshape = (k, s, p), x.shape
        return out

    @staticmethod
    def backward(ctx, g):
        return max_pool_backward(g, ctx.saved_args, ctx.xshape, *ctx.geometry)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Maximum over each KH x KW window (padding is -inf, so it never wins over a number).

    Shape:
        x (N, C, H, W) -> (N, C, OH, OW), OH = floor((H + 2 ph - KH) / sh) + 1 (same for W).
        ``stride`` defaults to ``kernel_size``.  The gradient of each window goes to one input,
        its first maximum in row-major window order (as in PyTorch).
    """
    x = as_tensor("max_pool2d", x)
    k, s, p, o = _pool_geometry("max_pool2d", x, kernel_size, stride, padding)
    return MaxPool2dFn.apply(x, k=k, s=s, p=p, o=o)


# ------------------------------------------------------------------------------ average pool
class AvgPool2dFn(Function):
    """y[n, c, a, b] = 1/(KH KW) * sum over offsets (i, j) of xp[n, c, a*sh + i, b*sw + j]
    (xp: zero border, counted in the mean);  dx[window] += g / (KH KW)."""

    @staticmethod
    def forward(ctx, x, k, s, p, o):
        ctx.geometry, ctx.xshape = (k, s, p, o), x.shape
        return avg_pool_forward(x, k, s, p, o)

    @staticmethod
    def backward(ctx, g):
        return avg_pool_backward(g, ctx.xshape, *ctx.geometry)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean over each KH x KW window; zero padding counts in the mean (count_include_pad=True).

    Shape:
        x (N, C, H, W) -> (N, C, OH, OW), OH = floor((H + 2 ph - KH) / sh) + 1 (same for W).
    """
    x = as_tensor("avg_pool2d", x)
    k, s, p, o = _pool_geometry("avg_pool2d", x, kernel_size, stride, padding)
    return AvgPool2dFn.apply(x, k=k, s=s, p=p, o=o)


# ------------------------------------------------------------------------------ adaptive pool
class AdaptiveAvgPool2dFn(Function):
    """Adaptive average pooling is linear and separable: y[n, c] = A_h @ x[n, c] @ A_w.T.

    Exact only for finite numbers: the zeros of A times an inf give NaN in bins that do not
    contain it.  So a non-finite input (or gradient) takes ``_bin_loop``, one slice per bin.
    """

    @staticmethod
    def forward(ctx, x, out_hw):
        H, W = x.shape[2:]
        ctx.A = (bin_matrix(H, out_hw[0], x.dtype), bin_matrix(W, out_hw[1], x.dtype))
        ctx.shape = x.shape
        Ah, Aw = ctx.A
        if not np.isfinite(x).all():
            return bin_loop(x, out_hw)
        return Ah @ x @ Aw.T                                # (OH,H) @ (N,C,H,W) @ (W,OW)

    @staticmethod
    def backward(ctx, g):
        Ah, Aw = ctx.A
        if not np.isfinite(g).all():
            return bin_loop(g, g.shape[2:], ctx.shape)
        return Ah.T @ g @ Aw                                # dx = A_h^T g A_w


def adaptive_output_size(output_size, H, W, op="adaptive_avg_pool2d"):
    """``output_size`` (an int, a pair, None entries = keep that dimension) -> (OH, OW) for an
    H x W input; errors name ``op``."""
    size = output_size if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(size) != 2:
        raise TypeError(f"{op}: output_size must be an int or a pair, got {output_size!r}")
    oh, ow = (H if size[0] is None else size[0]), (W if size[1] is None else size[1])
    (oh, ow) = pair_arg(op, "output_size", (oh, ow), None)
    if oh <= 0 or ow <= 0:
        raise ValueError(f"{op}: output_size must be positive, got {(oh, ow)}")
    return oh, ow


def adaptive_avg_pool2d(x, output_size):
    """Average-pool to a fixed output size, whatever the input size.

    ``output_size`` is an int or a pair; a ``None`` entry keeps that input dimension.  Output
    row i averages input rows floor(i*H/OH) .. ceil((i+1)*H/OH) - 1 (PyTorch's bins).  When OH
    divides H (and OW divides W) this is ``avg_pool2d`` with kernel = stride = (H/OH, W/OW).

    Shape:
        x (N, C, H, W) -> (N, C, OH, OW)
    """
    op = "adaptive_avg_pool2d"
    x = as_tensor(op, x)
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D (N, C, H, W) input, got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got dtype {x.dtype}")
    H, W = x.shape[2:]
    oh, ow = adaptive_output_size(output_size, H, W)
    if H == 0 or W == 0:
        raise ValueError(f"{op}: input of shape {x.shape} has an empty spatial dimension")
    if H % oh == 0 and W % ow == 0:                         # equal bins: a plain average pool
        k = (H // oh, W // ow)
        return AvgPool2dFn.apply(x, k=k, s=k, p=(0, 0), o=(oh, ow))
    return AdaptiveAvgPool2dFn.apply(x, out_hw=(oh, ow))
