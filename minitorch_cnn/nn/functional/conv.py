"""2-D convolution: ``conv2d`` by im2col + one matrix multiply, and a 1x1 fast path.

Notation: the block in ``nn/functional/__init__.py``, shared with pooling.

Shape
-----
    input  x   (N, C, H, W)          weight  (O, Cg, KH, KW)          bias  (O,)
    output     (N, O, OH, OW)  with
        OH = floor((H + 2*ph - dh*(KH-1) - 1) / sh) + 1
        OW = floor((W + 2*pw - dw*(KW-1) - 1) / sw) + 1
    padding='same' (stride 1 only) pads dh*(KH-1) rows in total, half on top and the odd one
    at the bottom (likewise left/right), so OH = H, OW = W, as torch does.

The idea
--------
Output pixel (n, o, i, j) is the dot product of filter o (Cg*KH*KW numbers) with the input
window under it, plus bias[o].  Written as loops that is seven nested loops (n, o, i, j over the
output, c, u, v over the window: ``reference.conv2d_loops``); numpy only goes fast
when the inner work is one big array operation.  **im2col** gathers every window into a column
of a matrix ``col`` (K, N*P) -- the windows of the whole batch side by side; then the whole
convolution is ONE matrix multiply (one per group)

    out(O, N*P) = W(O, K) @ col(K, N*P)   (+ b)    -> transposed once to NCHW (N, O, OH, OW).

(Why not N products out[n] = W @ col[n], which land in NCHW directly?  One big product beats
N small ones by more than the one transposing copy costs, even for the 28x28 stem:
docs/performance.md.)

The price is memory: every input pixel is copied into up to KH*KW windows.  The kernels
(``kernels/conv.py``: ``pad``, ``im2col``, ``col2im``) hold how that copy is made.

Backward reuses the same matrices:  dW = g(O, N*P) @ col^T (computed as (col @ g^T)^T, which
BLAS runs faster here),  dcol = W^T @ g, and **col2im** adds each column back to the pixels it
was copied from -- a Python loop over the KH*KW kernel offsets only, each step adding one
strided slice (never a loop over pixels; ``kernels.conv.col2im_matmul`` says how, for stride 1,
the slices become flat runs).

**The 1x1 lesson.**  With a 1x1 kernel a window is a single pixel's C channels, so the
convolution is a per-pixel linear map over channels:  out[n, :, i, j] = W @ x[n, :, i, j] + b.
im2col would only copy x into itself; ``Conv2d1x1Fn`` skips it: viewing x as (N, C, H*W), the
whole layer is ``W(O, C) @ x(N, C, HW)`` -> (N, O, HW), already NCHW (here x *is* the col
matrix of each image; small images are put side by side with one copy, as im2col would).
``conv2d`` picks that path automatically; ``conv2d_general`` always uses im2col (tests and
benchmarks).
"""
import numpy as np

from ...autograd import Function
from ...kernels.conv import (batch_matrices, channel_sums, col2im_matmul, from_batch_matrices,
                              im2col, pad, per_image, sum_over_images)
from ...ops.dtypes import is_int
from .._args import as_tensor, pair_arg, same_dtype


class Conv2dIm2colFn(Function):
    """The general path: any kernel, stride, padding, dilation, groups.

    Matrices (per group g; P = OH*OW output pixels per image, M = N*P for the whole batch):
        col[g] (K, M)    W[g] (Og, K)    out[g] = W[g] @ col[g]  (Og, M)
    """

    @staticmethod
    def forward(ctx, x, w, b, *, stride, padding, dilation, groups):
        N, C, H, W = x.shape
        O, Cg, KH, KW = w.shape
        G, K = groups, Cg * KH * KW
        (pt, pb), (pl, pr) = padding
        Hp, Wp = H + pt + pb, W + pl + pr
        OH = (Hp - dilation[0] * (KH - 1) - 1) // stride[0] + 1
        OW = (Wp - dilation[1] * (KW - 1) - 1) // stride[1] + 1
        xp = pad(x, (pt, pb), (pl, pr), 0)                        # x with its zero border
        col = im2col(xp, KH, KW, stride, dilation, OH, OW).reshape(G, K, N * OH * OW)
        wm = w.reshape(G, O // G, K)
        out = from_batch_matrices(np.matmul(wm, col), N, OH, OW, b)   # out = W @ col + b, NCHW
        ctx.save_for_backward(col, wm)
        ctx.shapes = (x.shape, w.shape)
        ctx.params = (stride, padding, dilation)
        return out

    @staticmethod
    def backward(ctx, g):
        col, wm = ctx.saved
        x_shape, w_shape = ctx.shapes
        stride, padding, dilation = ctx.params
        need_x, need_w, need_b = ctx.needs_input_grad
        G = wm.shape[0]
        KH, KW = w_shape[2:]
        gx = gw = gb = None
        if need_b:
            gb = channel_sums(g)                                       # db = sum of g over n, i, j
        if not (need_w or need_x):
            return gx, gw, gb
        gm = batch_matrices(g, G, one_each=False)                      # g as (G, Og, N*P)
        if need_w:
            # dW[g] = g[g] @ col[g]^T, computed as (col[g] @ g[g]^T)^T: the long pixel axis is
            # then the inner one of both operands, the orientation BLAS runs fastest
            gw = np.matmul(col, gm.swapaxes(-1, -2)).swapaxes(-1, -2)     # (G, Og, K)
            gw = np.ascontiguousarray(gw).reshape(w_shape)
        if need_x:                                                     # dx = col2im(W^T @ g)
            gx = col2im_matmul(wm, g, gm, x_shape, padding, KH, KW, stride, dilation)
        return gx, gw, gb


class Conv2d1x1Fn(Function):
    """The 1x1 path (padding 0, groups 1): out[n, :, i, j] = W @ x[n, :, i, j] + b.

    A 1x1 window is one pixel, so there is nothing to gather: x viewed as (N, C, HW) is already
    the col matrix of each image, and out[n] = W (O, C) @ x[n] (C, HW) lands in NCHW.  (Small
    images are put side by side first -- one copy -- to make the N products one:
    ``kernels.conv.batch_matrices``.)  A stride s keeps every s-th pixel: subsample, multiply.
    """

    @staticmethod
    def forward(ctx, x, w, b, *, stride):
        sh, sw = stride
        x_used = x[:, :, ::sh, ::sw] if sh > 1 or sw > 1 else x    # the pixels the kernel reads
        N, C, OH, OW = x_used.shape
        xm = batch_matrices(x_used, 1, per_image(OH * OW))         # x as the col matrix
        wm = w.reshape(w.shape[0], C)
        out = from_batch_matrices(np.matmul(wm, xm), N, OH, OW, b)  # out[n] = W @ x[n] + b
        ctx.save_for_backward(xm, wm)
        ctx.shapes = (x.shape, w.shape, stride)
        return out

    @staticmethod
    def backward(ctx, g):
        xm, wm = ctx.saved
        x_shape, w_shape, (sh, sw) = ctx.shapes
        need_x, need_w, need_b = ctx.needs_input_grad
        N, O, OH, OW = g.shape
        gx = gw = gb = None
        if need_b:
            gb = channel_sums(g)                                       # db = sum of g over n, i, j
        if not (need_w or need_x):
            return gx, gw, gb
        gm = batch_matrices(g, 1, one_each=xm.ndim == 4)               # g in x's layout
        if need_w:
            # dW = sum over n of g[n] @ x[n]^T, computed transposed, x[n] @ g[n]^T: the long
            # pixel axis inner in both operands, the orientation BLAS runs fastest
            gw = sum_over_images(np.matmul(xm, gm.swapaxes(-1, -2)))[0].T.reshape(w_shape)
        if need_x:
            gx = from_batch_matrices(np.matmul(wm.T, gm), N, OH, OW)   # dx[n] = W^T @ g[n]
            if sh > 1 or sw > 1:                     # skipped pixels did not affect the output
                full = np.zeros(x_shape, dtype=gx.dtype)
                full[:, :, ::sh, ::sw] = gx
                gx = full
        return gx, gw, gb


# ----------------------------------------------------------------------------- the user API
def _check(x, w, b, stride, padding, dilation, groups):
    """Validate at the boundary; return (stride, ((pt, pb), (pl, pr)), dilation)."""
    def fail(rule):
        raise ValueError(f"conv2d: {rule} (input shape {tuple(x.shape)}, weight shape "
                         f"{tuple(w.shape)})")
    if x.ndim != 4 or w.ndim != 4:
        fail("expected a 4-D input (N, C, H, W) and a 4-D weight (O, C/groups, KH, KW)")
    for name, t in (("input", x), ("weight", w)):
        if t.dtype.kind != "f":
            raise TypeError(f"conv2d: {name} must be a float tensor, got dtype {t.dtype} "
                            f"(input shape {x.shape}, weight shape {w.shape})")
    N, C, H, W = x.shape
    O, Cg, KH, KW = w.shape
    if not is_int(groups) or groups < 1:
        fail(f"groups must be a positive int, got {groups!r}")
    if C % groups or O % groups:
        fail(f"groups={groups} must divide both the input channels C={C} and the output "
             f"channels O={O}")
    if Cg * groups != C:
        fail(f"input has C={C} channels but the weight expects C/groups * groups = "
             f"{Cg} * {groups} = {Cg * groups}")
    if min(O, Cg, KH, KW) < 1:
        fail("the weight has an empty dimension")
    if b is not None and tuple(b.shape) != (O,):
        fail(f"bias must have shape ({O},) (one per filter), got bias shape {tuple(b.shape)}")
    shapes = f" (input shape {tuple(x.shape)}, weight shape {tuple(w.shape)})"
    stride = pair_arg("conv2d", "stride", stride, None, context=shapes)
    dilation = pair_arg("conv2d", "dilation", dilation, None, context=shapes)
    if min(stride) < 1 or min(dilation) < 1:
        fail(f"stride and dilation must be >= 1, got stride={stride}, dilation={dilation}")
    if isinstance(padding, str):
        if padding == "valid":
            pad = ((0, 0), (0, 0))
        elif padding == "same":
            if stride != (1, 1):
                fail(f"padding='same' needs stride 1, got stride={stride}")
            tot = (dilation[0] * (KH - 1), dilation[1] * (KW - 1))
            pad = tuple((t // 2, t - t // 2) for t in tot)   # extra pixel bottom/right, as torch
        else:
            fail(f"padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
    else:
        ph, pw = pair_arg("conv2d", "padding", padding, None, context=shapes)
        if ph < 0 or pw < 0:
            fail(f"padding must be >= 0, got padding={(ph, pw)}")
        pad = ((ph, ph), (pw, pw))
    Hp, Wp = H + sum(pad[0]), W + sum(pad[1])
    eh, ew = dilation[0] * (KH - 1) + 1, dilation[1] * (KW - 1) + 1
    if eh > Hp or ew > Wp:
        fail(f"the (dilated) kernel {eh}x{ew} is larger than the padded input {Hp}x{Wp}")
    same_dtype("conv2d", x, weight=w, bias=b)
    return stride, pad, dilation


def _tensors(x, weight, bias):
    return (as_tensor("conv2d", x), as_tensor("conv2d", weight, "weight"),
            as_tensor("conv2d", bias, "bias"))


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation over NCHW tensors, like ``torch.nn.functional.conv2d``.

    Shape: x (N, C, H, W), weight (O, C/groups, KH, KW), bias (O,) or None  ->  (N, O, OH, OW)
    with OH = floor((H + 2*ph - dh*(KH-1) - 1)/sh) + 1 (OW likewise).  ``stride``, ``padding``,
    ``dilation`` are ints or (h, w) pairs; ``padding`` may also be 'valid' (0) or 'same'.
    A 1x1 kernel with padding 0 and groups 1 takes the ``Conv2d1x1Fn`` path (a matrix multiply
    over channels); everything else goes through im2col (``Conv2dIm2colFn``).
    """
    x, weight, bias = _tensors(x, weight, bias)
    stride, pad, dilation = _check(x, weight, bias, stride, padding, dilation, groups)
    if weight.shape[2:] == (1, 1) and pad == ((0, 0), (0, 0)) and groups == 1:
        return Conv2d1x1Fn.apply(x, weight, bias, stride=stride)     # dilation: no gaps in 1x1
    return Conv2dIm2colFn.apply(x, weight, bias, stride=stride, padding=pad, dilation=dilation,
                              groups=int(groups))


def conv2d_general(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """``conv2d`` forced through im2col, even for 1x1 kernels (tests and benchmarks)."""
    x, weight, bias = _tensors(x, weight, bias)
    stride, pad, dilation = _check(x, weight, bias, stride, padding, dilation, groups)
    return Conv2dIm2colFn.apply(x, weight, bias, stride=stride, padding=pad, dilation=dilation,
                              groups=int(groups))
