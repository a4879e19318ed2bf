"""Convolution and max-pooling built up in steps: the definitions as loops, then with numpy.

Nothing here is fast; it is what the fast kernels in conv.py and pooling.py are checked against
(tests/test_conv.py, tests/test_pooling.py) and what docs/convolution.md times beside them.

    conv2d_loops        the definition: seven nested loops (n, o, i, j and c, u, v), on arrays
    conv2d_im2col       im2col by ``sliding_window_view`` + ONE matmul, from differentiable ops:
                        autograd derives the backward, nobody writes it
    pool2d_loops        max/avg pooling forward AND backward by loops over n, c, oh, ow, window
    max_pool2d_offsets  max over the KH*KW kernel offsets, one strided slice each, from
                        differentiable ops (autograd again supplies the backward)
    adaptive_avg_pool2d_loops   torch's adaptive bins, by loops over output cells

Notation as in conv.py: x (N, C, H, W), weight (O, Cg, KH, KW), output (N, O, OH, OW).
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ...ops import maximum, pad


def _pair(v):
    return (v, v) if isinstance(v, (int, np.integer)) else tuple(v)


# ------------------------------------------------------------------------------ convolution
def conv2d_loops(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """out[n, o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v] * x[n, g*Cg + c, i*sh + u*dh - pt,
    j*sw + v*dw - pl], with out-of-range input pixels read as 0 (the padding).

    ndarrays in, ndarray (float64) out.  The slowest, most literal reading of the definition:
    it shares no code and no trick (padding, im2col, matmul) with the implementation it checks.
    """
    N, C, H, W = x.shape
    O, Cg, KH, KW = w.shape
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
    if padding == "valid":
        pt = pb = pl = pr = 0
    elif padding == "same":
        pt, pl = dh * (KH - 1) // 2, dw * (KW - 1) // 2
        pb, pr = dh * (KH - 1) - pt, dw * (KW - 1) - pl
    else:
        (pt, pl) = _pair(padding)
        pb, pr = pt, pl
    OH = (H + pt + pb - dh * (KH - 1) - 1) // sh + 1
    OW = (W + pl + pr - dw * (KW - 1) - 1) // sw + 1
    Og = O // groups
    out = np.zeros((N, O, OH, OW))
    for n in range(N):                               # image
        for o in range(O):                           # filter = output channel
            grp = o // Og
            for i in range(OH):                      # output row
                for j in range(OW):                  # output column
                    acc = 0.0 if b is None else b[o]
                    for c in range(Cg):              # the window: channel,
                        for u in range(KH):          # kernel row,
                            for v in range(KW):      # kernel column
                                r, s = i * sh + u * dh - pt, j * sw + v * dw - pl
                                if 0 <= r < H and 0 <= s < W:
                                    acc += w[o, c, u, v] * x[n, grp * Cg + c, r, s]
                    out[n, o, i, j] = acc
    return out


def conv2d_im2col(x, weight, bias=None, stride=1, padding=0):
    """conv2d (groups 1, dilation 1) as im2col + one matmul, built from differentiable ops.

    ``sliding_window_view`` of the *pixel numbers* 0..Hp*Wp-1 says which padded pixel each
    window element reads: idx (OH, OW, KH, KW).  Indexing the flattened input with it gathers
    every window at once (a differentiable ``GetItem``, whose backward scatter-adds: that IS
    col2im), and the layer is W (O, K) @ col (N, K, P).  Tensors in, Tensor out; ``backward``
    works with no hand-written gradient.
    """
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    O, C, KH, KW = weight.shape
    xp = pad(x, (pw, pw, ph, ph)) if ph or pw else x           # (N, C, Hp, Wp)
    N, _, Hp, Wp = xp.shape
    pixel = np.arange(Hp * Wp).reshape(Hp, Wp)
    idx = sliding_window_view(pixel, (KH, KW))[::sh, ::sw]     # (OH, OW, KH, KW)
    OH, OW = idx.shape[:2]
    col = xp.reshape(N, C, Hp * Wp)[:, :, idx]                 # (N, C, OH, OW, KH, KW)
    col = col.permute(0, 1, 4, 5, 2, 3).reshape(N, C * KH * KW, OH * OW)   # (N, K, P)
    out = weight.reshape(O, C * KH * KW) @ col                 # (N, O, P): one matmul
    if bias is not None:
        out = out + bias.reshape(1, O, 1)
    return out.reshape(N, O, OH, OW)


# ------------------------------------------------------------------------------ pooling
def pool2d_loops(x, g, kernel, stride=None, padding=0, mode="max"):
    """Forward y and input gradient dx (for upstream gradient g) of max or avg pooling, by
    explicit loops over n, c, oh, ow and the window.  ndarrays in and out.

    Max: the first maximum in row-major window order wins and takes the window's whole gradient
    (padding reads -inf, so it never wins).  Avg: zeros of the padding count in the average
    (torch's ``count_include_pad=True``), every element of a window gets g / (KH*KW).
    """
    kh, kw = _pair(kernel)
    sh, sw = _pair(kernel if stride is None else stride)
    ph, pw = _pair(padding)
    N, C, H, W = x.shape
    OH, OW = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    y = np.zeros((N, C, OH, OW))
    dx = np.zeros((N, C, H, W))
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    best, best_pos, total = -np.inf, None, 0.0
                    for i in range(kh):              # row-major window order
                        for j in range(kw):
                            r, q = oh * sh + i - ph, ow * sw + j - pw
                            inside = 0 <= r < H and 0 <= q < W
                            v = x[n, c, r, q] if inside else (-np.inf if mode == "max" else 0.0)
                            total += v
                            if v > best:             # strict: the first maximum wins
                                best, best_pos = v, (r, q)
                            if mode == "avg" and inside:
                                dx[n, c, r, q] += g[n, c, oh, ow] / (kh * kw)
                    if mode == "max":
                        y[n, c, oh, ow] = best
                        dx[n, c, best_pos[0], best_pos[1]] += g[n, c, oh, ow]
                    else:
                        y[n, c, oh, ow] = total / (kh * kw)
    return y, dx


def max_pool2d_offsets(x, kernel, stride=None):
    """max-pool (no padding) as a max over the KH*KW kernel offsets, from differentiable ops.

    For a fixed offset (i, j) the elements x[:, :, i + SH*oh, j + SW*ow] of ALL windows form
    one strided slice (N, C, OH, OW); a running elementwise ``maximum`` over the KH*KW slices
    is the pool -- KH*KW whole-array steps, never a loop over windows.  Autograd supplies the
    backward through ``maximum`` and the slices.  Tensor in, Tensor out.
    """
    kh, kw = _pair(kernel)
    sh, sw = _pair(kernel if stride is None else stride)
    H, W = x.shape[2:]
    OH, OW = (H - kh) // sh + 1, (W - kw) // sw + 1
    out = None
    for i in range(kh):
        for j in range(kw):
            s = x[:, :, i:i + sh * (OH - 1) + 1:sh, j:j + sw * (OW - 1) + 1:sw]   # (N, C, OH, OW)
            out = s if out is None else maximum(out, s)
    return out


def adaptive_avg_pool2d_loops(x, g, OH, OW):
    """Forward and input gradient of adaptive average pooling: output cell (oh, ow) averages
    rows floor(oh*H/OH) .. ceil((oh+1)*H/OH) - 1 (likewise columns), as torch does."""
    N, C, H, W = x.shape
    y = np.zeros((N, C, OH, OW))
    dx = np.zeros_like(x, dtype=np.float64)
    for oh in range(OH):
        h0, h1 = (oh * H) // OH, -(-((oh + 1) * H) // OH)
        for ow in range(OW):
            w0, w1 = (ow * W) // OW, -(-((ow + 1) * W) // OW)
            y[:, :, oh, ow] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
            dx[:, :, h0:h1, w0:w1] += g[:, :, oh, ow][:, :, None, None] / ((h1 - h0) * (w1 - w0))
    return y, dx

