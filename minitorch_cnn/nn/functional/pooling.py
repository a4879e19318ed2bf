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
from .._args import as_tensor, pair_arg


# ------------------------------------------------------------------------------ helpers
def _pool_geometry(op, x, kernel_size, stride, padding):
    """Validate the arguments; return ((KH, KW), (sh, sw), (ph, pw), (OH, OW))."""
    if x.ndim != 4:
        raise ValueError(f"{op}: expected a 4-D (N, C, H, W) input, got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got dtype {x.dtype}")
    k = pair_arg(op, "kernel_size", kernel_size)
    s = k if stride is None else pair_arg(op, "stride", stride)
    p = pair_arg(op, "padding", padding)
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


def _pad(x, ph, pw, value):
    """x (N, C, H, W) -> contiguous (N, C, H + top + bottom, W + left + right), borders ``value``
    (np.pad is slower).  ``ph``/``pw``: an int (both sides) or a (before, after) pair."""
    (pt, pb), (pl, pr) = [(v, v) if isinstance(v, int) else v for v in (ph, pw)]
    if pt == pb == pl == pr == 0:
        return np.ascontiguousarray(x)
    N, C, H, W = x.shape
    xp = np.empty((N, C, H + pt + pb, W + pl + pr), x.dtype)
    xp[:, :, :pt], xp[:, :, pt + H:] = value, value
    xp[:, :, :, :pl], xp[:, :, :, pl + W:] = value, value
    xp[:, :, pt:pt + H, pl:pl + W] = x
    return xp


def _window(a, i, j, oh, ow, sh, sw):
    """The (N, C, OH, OW) strided slice of ``a`` holding offset (i, j) of every window."""
    return a[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]


def _is_tiling(k, s, p):
    """Windows tile the input without overlap or padding: the reshape fast path applies."""
    return k == s and p == (0, 0)


# ------------------------------------------------------------------------------ max pool
def _view(flat, offset, shape, strides):
    """A strided view into the 1-D array ``flat``, starting at ``offset``; strides in elements.

    ``as_strided`` does no bounds check: the callers size every view to stay inside ``flat``
    (the ``n_w`` and ``n_h`` counts in ``MaxPool2d.forward``).  Each view reaches an element at
    most once, so writing through one is safe.
    """
    item = flat.itemsize
    return np.lib.stride_tricks.as_strided(flat[offset:], shape, tuple(s * item for s in strides))


def _running_max(flat, k, shift, shape, strides):
    """Max over the k views ``_view(flat, t * shift, shape, strides)``, t = 0..k-1, and which t
    won (int8: 0..k-1).

    Strict ``>`` keeps the first of tied maxima.  "arg = t where better" is written as
    ``arg = max(arg, better * t)`` (t grows, so it exceeds every stored offset): masked writes
    are slow in numpy on random masks, a maximum is not.

    NaN: ``np.maximum`` propagates it, so the max is NaN as in torch, but ``>`` is False for it
    and the arg-max would point elsewhere.  Torch sends the gradient to the NaN (the last one
    in scan order); the rare outputs that are NaN are redone that way, so the common case pays
    one ``isnan`` check only.
    """
    best = _view(flat, 0, shape, strides).copy()
    arg = np.zeros(shape, np.int8 if k < 128 else np.int32)
    better = np.empty(shape, bool)
    for t in range(1, k):
        win = _view(flat, t * shift, shape, strides)
        np.greater(win, best, out=better)
        np.maximum(arg, better.view(np.int8) * arg.dtype.type(t), out=arg)
        np.maximum(best, win, out=best)
    if best.size and np.isnan(best.min()):   # (min propagates NaN: the cheapest check)
        nan = np.isnan(best)
        for t in range(k):                   # the last NaN of each window wins
            np.copyto(arg, arg.dtype.type(t),
                      where=nan & np.isnan(_view(flat, t * shift, shape, strides)))
    return best, arg


def _scatter_back(g, arg, k, shift, strides, size, overlap):
    """Adjoint of ``_running_max``: a zero flat array of ``size`` numbers where each g is sent
    to the element of view t = arg that won; views overlap when stride < kernel (one input may
    win for several outputs), and then the contributions are added.

    ``g * (arg == t)`` is the fast way to keep only the winners' gradient, but an inf in g times
    a 0 is NaN where torch has 0; such a g (rare: the cheap min/max check) takes ``np.where``.
    """
    out = np.zeros(size, g.dtype)
    finite = g.size == 0 or (np.isfinite(g.min()) and np.isfinite(g.max()))
    for t in range(k):
        dst = _view(out, t * shift, g.shape, strides)
        if not finite:
            dst += np.where(arg == t, g, 0)
        elif overlap:
            dst += g * (arg == t)                           # accumulate, never assign
        else:
            np.multiply(g, arg == t, out=dst)               # disjoint views: write in place
    return out


class MaxPool2dFn(Function):
    """Max is separable: the max of a KH x KW window is the max over its KH rows of each row's
    max over KW columns.  So the forward is two running maxima -- first along W, then along H
    -- costing KH + KW passes instead of KH * KW, and it saves two small int8 arrays: which
    column won in each row, which row won in each window.  Taking the first maximum at both
    stages gives the first maximum in row-major window order (the first row holding the
    window's max, then the first column in that row), as PyTorch does.

    Speed: "wide" flat passes.  numpy is slow on many short rows (OW ~ 14 numbers), so both
    stages run on the padded input flattened to one long array, as if each row went on into
    the next: padded to Hq x Wq (multiples of the strides, extra rows/columns of -inf), the
    W-stage output m = (row r, column b) reads ``xp[m*sw + j]``, j < KW -- one strided 1-D view
    per j -- and the H-stage output (oh, b) of a plane reads the row-maxima ``rows[(oh*sh + i)
    * Wr + b]``, Wr = Wq/sw -- long runs of Wr numbers (one run, when sh = 1).  Outputs with
    b >= OW or oh >= OH mix neighbouring rows or planes: they are computed, then thrown away
    (and get a zero gradient).  The 3x3 stride-1 pools of Inception run ~1.4x faster this way.
    (conv.py's im2col does not do this: there the extra columns would enter the matmul.)
    """

    @staticmethod
    def forward(ctx, x, k, s, p, o):
        (kh, kw), (sh, sw), (ph, pw), (oh, ow) = k, s, p, o
        N, C, H, W = x.shape
        ctx.geometry, ctx.xshape = None, x.shape
        if N * C == 0:                                      # an empty batch: nothing to scan
            return np.empty((N, C, oh, ow), x.dtype)
        Hq = -(-(H + 2 * ph) // sh) * sh                    # padded size, rounded up to strides
        Wq = -(-(W + 2 * pw) // sw) * sw
        xp = _pad(x, (ph, Hq - H - ph), (pw, Wq - W - pw), -np.inf).reshape(-1)  # never wins
        R, Wr = N * C * Hq, Wq // sw                        # padded rows; row maxima per row
        n_w = (xp.size - kw) // sw + 1                      # W-stage outputs inside the array
        rows = np.zeros(R * Wr, x.dtype)                    # rows[n_w:]: past the last full
                                                            # window, never in a real output
        rows[:n_w], arg_w = _running_max(xp, kw, 1, (n_w,), (sw,))      # rows[m] = max_j
        n_h = (R - kh) // sh + 1                            # H-stage output rows inside rows
        wide, arg_h = _running_max(rows, kh, Wr, (n_h, Wr), (sh * Wr, 1))
        out = np.empty((N * C * Hq // sh, Wr), x.dtype)
        out[:n_h] = wide
        out = out.reshape(N, C, Hq // sh, Wr)[:, :, :oh, :ow].copy()   # the real outputs
        ctx.save_for_backward(arg_h, arg_w)                 # only the winning offsets
        ctx.geometry, ctx.xshape = (k, s, p, (Hq, Wq)), x.shape
        return out

    @staticmethod
    def backward(ctx, g):
        if ctx.geometry is None:                            # the empty batch
            return np.zeros(ctx.xshape, g.dtype)
        arg_h, arg_w = ctx.saved
        (kh, kw), (sh, sw), (ph, pw), (Hq, Wq) = ctx.geometry
        N, C, H, W = ctx.xshape
        oh, ow = g.shape[2:]
        Wr, n_h, n_w = Wq // sw, arg_h.shape[0], arg_w.shape[0]
        g_wide = np.zeros((N, C, Hq // sh, Wr), g.dtype)    # thrown-away outputs: gradient 0
        g_wide[:, :, :oh, :ow] = g
        g_wide = g_wide.reshape(-1, Wr)[:n_h]
        g_rows = _scatter_back(g_wide, arg_h, kh, Wr, (sh * Wr, 1), N * C * Hq * Wr,
                               overlap=sh < kh)             # d out / d rows
        gxp = _scatter_back(g_rows[:n_w], arg_w, kw, 1, (sw,), N * C * Hq * Wq,
                            overlap=sw < kw)                # d rows / d xp
        return gxp.reshape(N, C, Hq, Wq)[:, :, ph:ph + H, pw:pw + W]   # padding: no gradient


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
    @staticmethod
    def forward(ctx, x, k, s, p, o):
        (kh, kw), (sh, sw), (ph, pw), (oh, ow) = k, s, p, o
        ctx.geometry, ctx.xshape = (k, s, p, o), x.shape
        N, C = x.shape[:2]
        if _is_tiling(k, s, p):                             # one reduction over a reshape
            x6 = x[:, :, :oh * kh, :ow * kw].reshape(N, C, oh, kh, ow, kw)
            return x6.mean(axis=(3, 5), dtype=x.dtype)
        xp = _pad(x, ph, pw, 0)                             # zeros, counted in the mean
        out = _window(xp, 0, 0, oh, ow, sh, sw).copy()
        for i in range(kh):
            for j in range(kw):
                if i or j:
                    out += _window(xp, i, j, oh, ow, sh, sw)    # y = sum_ij xp[win_ij] / (KH KW)
        out *= 1 / (kh * kw)
        return out

    @staticmethod
    def backward(ctx, g):
        (kh, kw), (sh, sw), (ph, pw), (oh, ow) = ctx.geometry
        N, C, H, W = ctx.xshape
        gs = g * (1 / (kh * kw))                            # each input of a window gets g/(KH KW)
        if _is_tiling((kh, kw), (sh, sw), (ph, pw)):
            g6 = np.broadcast_to(gs[:, :, :, None, :, None], (N, C, oh, kh, ow, kw))
            if (oh * kh, ow * kw) == (H, W):
                return g6.reshape(N, C, H, W)               # the reshape makes the copy
            gx = np.zeros((N, C, H, W), g.dtype)
            gx[:, :, :oh * kh, :ow * kw] = g6.reshape(N, C, oh * kh, ow * kw)
            return gx
        gxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), g.dtype)
        for i in range(kh):
            for j in range(kw):
                _window(gxp, i, j, oh, ow, sh, sw)[...] += gs   # dxp[win_ij] += g / (KH KW)
        return gxp[:, :, ph:ph + H, pw:pw + W]


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean over each KH x KW window; zero padding counts in the mean (count_include_pad=True).

    Shape:
        x (N, C, H, W) -> (N, C, OH, OW), OH = floor((H + 2 ph - KH) / sh) + 1 (same for W).
    """
    x = as_tensor("avg_pool2d", x)
    k, s, p, o = _pool_geometry("avg_pool2d", x, kernel_size, stride, padding)
    return AvgPool2dFn.apply(x, k=k, s=s, p=p, o=o)


# ------------------------------------------------------------------------------ adaptive pool
def _bin_matrix(size, out, dtype):
    """(out, size) matrix whose row i averages input bin [floor(i*size/out), ceil((i+1)*size/out)).

    Bins may overlap or differ in size by one when ``out`` does not divide ``size``.
    """
    A = np.zeros((out, size), dtype)
    for i, (lo, hi) in enumerate(_bins(size, out)):        # a loop over output rows only
        A[i, lo:hi] = 1 / (hi - lo)
    return A


def _bins(size, out):
    """PyTorch's adaptive bins: [floor(i*size/out), ceil((i+1)*size/out)) for i < out."""
    return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]


class AdaptiveAvgPool2dFn(Function):
    """Adaptive average pooling is linear and separable: y[n, c] = A_h @ x[n, c] @ A_w.T.

    Exact only for finite numbers: the zeros of A times an inf give NaN in bins that do not
    contain it.  So a non-finite input (or gradient) takes ``_bin_loop``, one slice per bin.
    """

    @staticmethod
    def forward(ctx, x, out_hw):
        H, W = x.shape[2:]
        ctx.A = (_bin_matrix(H, out_hw[0], x.dtype), _bin_matrix(W, out_hw[1], x.dtype))
        ctx.shape = x.shape
        Ah, Aw = ctx.A
        if not np.isfinite(x).all():
            return _bin_loop(x, out_hw)
        return Ah @ x @ Aw.T                                # (OH,H) @ (N,C,H,W) @ (W,OW)

    @staticmethod
    def backward(ctx, g):
        Ah, Aw = ctx.A
        if not np.isfinite(g).all():
            return _bin_loop(g, g.shape[2:], ctx.shape)
        return Ah.T @ g @ Aw                                # dx = A_h^T g A_w


def _bin_loop(a, out_hw, x_shape=None):
    """Adaptive pooling bin by bin (a loop over output pixels: only for non-finite data).
    Forward (x_shape None): the mean of each bin.  Backward: each g spread evenly over its bin."""
    oh, ow = out_hw
    H, W = (a.shape if x_shape is None else x_shape)[2:]
    out = (np.empty(a.shape[:2] + (oh, ow), a.dtype) if x_shape is None
           else np.zeros(x_shape, a.dtype))
    for i, (h0, h1) in enumerate(_bins(H, oh)):
        for j, (w0, w1) in enumerate(_bins(W, ow)):
            if x_shape is None:
                out[:, :, i, j] = a[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
            else:
                out[:, :, h0:h1, w0:w1] += a[:, :, i:i + 1, j:j + 1] / ((h1 - h0) * (w1 - w0))
    return out


def adaptive_output_size(output_size, H, W, op="adaptive_avg_pool2d"):
    """``output_size`` (an int, a pair, None entries = keep that dimension) -> (OH, OW) for an
    H x W input; errors name ``op``."""
    size = output_size if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(size) != 2:
        raise TypeError(f"{op}: output_size must be an int or a pair, got {output_size!r}")
    oh, ow = (H if size[0] is None else size[0]), (W if size[1] is None else size[1])
    (oh, ow) = pair_arg(op, "output_size", (oh, ow))
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
