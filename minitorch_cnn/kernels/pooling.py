"""Pooling passes: max, average and adaptive-average pooling over NCHW arrays.

Every pass visits the KH*KW kernel *offsets*, not the windows: for a fixed offset (i, j) the
elements of all windows form one strided slice (N, C, OH, OW) of the padded input.  Notation:
``nn/functional/__init__.py``.  The maths each pass implements is in ``nn/functional/pooling.py``.
"""
import numpy as np

from .conv import pad
from .work import parallel


def window(a, i, j, oh, ow, sh, sw):
    """The (N, C, OH, OW) strided slice of ``a`` holding offset (i, j) of every window."""
    return a[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]


def is_tiling(k, s, p):
    """Windows tile the input without overlap or padding: the reshape fast path applies."""
    return k == s and p == (0, 0)


def all_finite(a):
    """No inf or NaN in ``a``: two reductions (min, max) instead of an isfinite array."""
    return a.size == 0 or bool(np.isfinite(a.min()) and np.isfinite(a.max()))


def strided_view(flat, offset, shape, strides):
    """A strided view into the 1-D array ``flat``, starting at ``offset``; strides in elements.

    ``as_strided`` does no bounds check: the callers size every view to stay inside ``flat``
    (the ``n_w`` and ``n_h`` counts in ``max_pool_forward``).  Each view reaches an element at
    most once, so writing through one is safe.
    """
    item = flat.itemsize
    return np.lib.stride_tricks.as_strided(flat[offset:], shape, tuple(s * item for s in strides))


def running_max(flat, k, shift, shape, strides):
    """Max over the k views ``strided_view(flat, t * shift, shape, strides)``, t = 0..k-1, and
    which t won (int8: 0..k-1).

    Strict ``>`` keeps the first of tied maxima.  "arg = t where better" is written as
    ``arg = max(arg, better * t)`` (t grows, so it exceeds every stored offset): masked writes
    are slow in numpy on random masks, a maximum is not.

    NaN: ``np.maximum`` propagates it, so the max is NaN as in torch, but ``>`` is False for it
    and the arg-max would point elsewhere.  Torch sends the gradient to the NaN (the last one
    in scan order); the rare outputs that are NaN are redone that way, so the common case pays
    one ``isnan`` check only.
    """
    best = strided_view(flat, 0, shape, strides).copy()
    arg = np.zeros(shape, np.int8 if k < 128 else np.int32)
    better = np.empty(shape, bool)
    for t in range(1, k):
        win = strided_view(flat, t * shift, shape, strides)
        np.greater(win, best, out=better)
        np.maximum(arg, better.view(np.int8) * arg.dtype.type(t), out=arg)
        np.maximum(best, win, out=best)
    if best.size and np.isnan(best.min()):   # (min propagates NaN: the cheapest check)
        nan = np.isnan(best)
        for t in range(k):                   # the last NaN of each window wins
            np.copyto(arg, arg.dtype.type(t),
                      where=nan & np.isnan(strided_view(flat, t * shift, shape, strides)))
    return best, arg


def scatter_back(g, arg, k, shift, strides, size, overlap):
    """Adjoint of ``running_max``: a zero flat array of ``size`` numbers where each g is sent
    to the element of view t = arg that won; views overlap when stride < kernel (one input may
    win for several outputs), and then the contributions are added.

    ``g * (arg == t)`` is the fast way to keep only the winners' gradient, but an inf in g times
    a 0 is NaN where torch has 0; such a g (rare: the cheap min/max check) takes ``np.where``.
    """
    out = np.zeros(size, g.dtype)
    finite = all_finite(g)
    for t in range(k):
        dst = strided_view(out, t * shift, g.shape, strides)
        if not finite:
            dst += np.where(arg == t, g, 0)
        elif overlap:
            dst += g * (arg == t)                           # accumulate, never assign
        else:
            np.multiply(g, arg == t, out=dst)               # disjoint views: write in place
    return out


def max_pool_forward(x, k, s, p, o):
    """x (N, C, H, W) -> (out (N, C, OH, OW), saved): the max of every window, and what
    ``max_pool_backward`` needs (which offset won, int8) -- never the windows themselves.

    The N*C planes are independent: they run in chunks on the pool (``work.parallel``), each a
    few hundred KB, so a chunk's passes stay in cache.  A 2x2 stride-2 pool without padding
    takes ``tile2_forward``, every other pool ``wide_max_forward``.
    """
    N, C, H, W = x.shape
    out = np.empty((N * C, 1) + tuple(o), x.dtype)
    if N * C == 0:                                      # an empty batch: nothing to scan
        return out.reshape(N, C, *o), []
    planes = x.reshape(N * C, 1, H, W)
    tile = tuple(k) == (2, 2) and is_tiling(tuple(k), tuple(s), tuple(p))

    def run(i, c):
        if tile:
            arg = tile2_forward(planes[c], out[c])
            if arg is not None:                         # None: a NaN, the wide path decides
                return "tile", arg
        out[c], arg = wide_max_forward(planes[c], k, s, p, o)
        return "wide", arg

    saved = parallel(run, N * C, H * W * x.itemsize)      # one (path, arg) per chunk
    return out.reshape(N, C, *o), saved


def max_pool_backward(g, saved, x_shape, k, s, p):
    """g (N, C, OH, OW) -> dx (N, C, H, W): each window's gradient to the input that won."""
    N, C, H, W = x_shape
    gx = np.empty((N * C, 1, H, W), g.dtype)
    g_planes = g.reshape((N * C, 1) + g.shape[2:])

    def run(i, c):
        path, arg = saved[i]
        if path == "tile":
            tile2_backward(g_planes[c], arg, gx[c])
        else:
            gx[c] = wide_max_backward(g_planes[c], arg, gx[c].shape, k, s, p)

    parallel(run, N * C, H * W * np.dtype(g.dtype).itemsize)
    return gx.reshape(x_shape)


def tile2_forward(x, out):
    """2x2 stride-2 max without padding: x (N, C, H, W) -> out (N, C, H//2, W//2), written in
    place; returns the arg-max (int8 0..3 in row-major window order), or None if a NaN came out
    (the wide path redoes it: torch sends its gradient to the NaN).  The windows tile x, so three
    pairwise maxima of its four strided offsets give the max (the wide path: 4 + arg-max)."""
    oh, ow = out.shape[2:]
    a, b = x[:, :, 0:2 * oh:2, 0:2 * ow:2], x[:, :, 0:2 * oh:2, 1:2 * ow:2]
    c, d = x[:, :, 1:2 * oh:2, 0:2 * ow:2], x[:, :, 1:2 * oh:2, 1:2 * ow:2]
    top, bottom = np.maximum(a, b), np.maximum(c, d)
    np.maximum(top, bottom, out=out)
    if out.size and np.isnan(out.min()):                # (min propagates NaN: the cheapest check)
        return None
    right = np.greater(b, a).view(np.int8)              # strict >: the first maximum wins ties
    low_right = np.greater(d, c).view(np.int8)
    low = np.greater(bottom, top).view(np.int8)
    arg = low_right - right                             # arg = low ? 2 + low_right : right,
    arg += 2                                            # branch-free: masked writes are slow
    arg *= low
    arg += right
    return arg


def tile2_backward(g, arg, gx):
    """Adjoint of ``tile2_forward``: write into gx (N, C, H, W) g at the offset that won, 0
    at the other three (and in an odd last row or column, which no window covers).  An inf in
    g times a 0 is NaN where torch has 0: such a g (rare: the cheap min/max check) takes
    ``np.where``."""
    oh, ow = g.shape[2:]
    H, W = gx.shape[2:]
    if (H, W) != (2 * oh, 2 * ow):
        gx[:, :, 2 * oh:], gx[:, :, :, 2 * ow:] = 0, 0
    finite = all_finite(g)
    for i in range(2):
        for j in range(2):
            dst = gx[:, :, i:2 * oh:2, j:2 * ow:2]
            if finite:
                np.multiply(g, arg == 2 * i + j, out=dst)    # disjoint offsets: assign
            else:
                dst[...] = np.where(arg == 2 * i + j, g, 0)


def wide_max_forward(x, k, s, p, o):
    """x (N, C, H, W) -> (out (N, C, OH, OW) view, saved): the max of every window, and what
    ``wide_max_backward`` needs (the winning offsets, int8) -- never the windows themselves.

    Max is separable: the max of a KH x KW window is the max over its KH rows of each row's
    max over KW columns.  So the forward pass is two running maxima -- first along W, then along H
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
    (and get a zero gradient): a few wasted comparisons buy long runs, which numpy streams fast.
    """
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = k, s, p, o
    N, C, H, W = x.shape
    Hq = -(-(H + 2 * ph) // sh) * sh                    # padded size, rounded up to strides
    Wq = -(-(W + 2 * pw) // sw) * sw
    xp = pad(x, (ph, Hq - H - ph), (pw, Wq - W - pw), -np.inf).reshape(-1)  # never wins
    R, Wr = N * C * Hq, Wq // sw                        # padded rows; row maxima per row
    n_w = (xp.size - kw) // sw + 1                      # W-stage outputs inside the array
    rows = np.zeros(R * Wr, x.dtype)                    # rows[n_w:]: past the last full
                                                        # window, never in a real output
    rows[:n_w], arg_w = running_max(xp, kw, 1, (n_w,), (sw,))      # rows[m] = max_j
    n_h = (R - kh) // sh + 1                            # H-stage output rows inside rows
    wide, arg_h = running_max(rows, kh, Wr, (n_h, Wr), (sh * Wr, 1))
    out = np.empty((N * C * Hq // sh, Wr), x.dtype)
    out[:n_h] = wide
    out = out.reshape(N, C, Hq // sh, Wr)[:, :, :oh, :ow]          # the real outputs
    return out, (arg_h, arg_w, (Hq, Wq))                # only the winning offsets


def wide_max_backward(g, saved, x_shape, k, s, p):
    """g (N, C, OH, OW) -> dx (N, C, H, W) view: each window's gradient to the input that won."""
    arg_h, arg_w, (Hq, Wq) = saved
    (kh, kw), (sh, sw), (ph, pw) = k, s, p
    N, C, H, W = x_shape
    oh, ow = g.shape[2:]
    Wr, n_h, n_w = Wq // sw, arg_h.shape[0], arg_w.shape[0]
    g_wide = np.zeros((N, C, Hq // sh, Wr), g.dtype)    # thrown-away outputs: gradient 0
    g_wide[:, :, :oh, :ow] = g
    g_wide = g_wide.reshape(-1, Wr)[:n_h]
    g_rows = scatter_back(g_wide, arg_h, kh, Wr, (sh * Wr, 1), N * C * Hq * Wr,
                           overlap=sh < kh)             # d out / d rows
    gxp = scatter_back(g_rows[:n_w], arg_w, kw, 1, (sw,), N * C * Hq * Wq,
                        overlap=sw < kw)                # d rows / d xp
    return gxp.reshape(N, C, Hq, Wq)[:, :, ph:ph + H, pw:pw + W]   # padding: no gradient


def avg_pool_forward(x, k, s, p, o):
    """x (N, C, H, W) -> (N, C, OH, OW): the mean of every window, zero padding included.
    Planes in chunks on the pool, like the max-pool."""
    N, C, H, W = x.shape
    out = np.empty((N * C, 1) + tuple(o), x.dtype)
    planes = x.reshape(N * C, 1, H, W)

    def run(i, c):
        out[c] = avg_forward_chunk(planes[c], k, s, p, o)

    parallel(run, N * C, H * W * x.itemsize)
    return out.reshape(N, C, *o)


def avg_pool_backward(g, x_shape, k, s, p, o):
    """g (N, C, OH, OW) -> dx (N, C, H, W): g / (KH*KW) to every element of its window."""
    N, C, H, W = x_shape
    gx = np.empty((N * C, 1, H, W), g.dtype)
    g_planes = g.reshape((N * C, 1) + g.shape[2:])

    def run(i, c):
        gx[c] = avg_backward_chunk(g_planes[c], gx[c].shape, k, s, p, o)

    parallel(run, N * C, H * W * np.dtype(g.dtype).itemsize)
    return gx.reshape(x_shape)


def avg_forward_chunk(x, k, s, p, o):
    """``avg_pool_forward`` on a chunk of planes."""
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = k, s, p, o
    N, C = x.shape[:2]
    if is_tiling(k, s, p):                             # one reduction over a reshape
        x6 = x[:, :, :oh * kh, :ow * kw].reshape(N, C, oh, kh, ow, kw)
        return x6.mean(axis=(3, 5), dtype=x.dtype)
    xp = pad(x, ph, pw, 0)                             # zeros, counted in the mean
    out = window(xp, 0, 0, oh, ow, sh, sw).copy()
    for i in range(kh):
        for j in range(kw):
            if i or j:
                out += window(xp, i, j, oh, ow, sh, sw)    # y = sum_ij xp[win_ij] / (KH KW)
    out *= 1 / (kh * kw)
    return out


def avg_backward_chunk(g, x_shape, k, s, p, o):
    """``avg_pool_backward`` on a chunk of planes."""
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = k, s, p, o
    N, C, H, W = x_shape
    gs = g * (1 / (kh * kw))                            # each input of a window gets g/(KH KW)
    if is_tiling((kh, kw), (sh, sw), (ph, pw)):
        g6 = np.broadcast_to(gs[:, :, :, None, :, None], (N, C, oh, kh, ow, kw))
        if (oh * kh, ow * kw) == (H, W):
            return g6.reshape(N, C, H, W)               # the reshape makes the copy
        gx = np.zeros((N, C, H, W), g.dtype)
        gx[:, :, :oh * kh, :ow * kw] = g6.reshape(N, C, oh * kh, ow * kw)
        return gx
    gxp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), g.dtype)
    for i in range(kh):
        for j in range(kw):
            window(gxp, i, j, oh, ow, sh, sw)[...] += gs   # dxp[win_ij] += g / (KH KW)
    return gxp[:, :, ph:ph + H, pw:pw + W]


def bin_matrix(size, out, dtype):
    """(out, size) matrix whose row i averages input bin [floor(i*size/out), ceil((i+1)*size/out)).

    Bins may overlap or differ in size by one when ``out`` does not divide ``size``.
    """
    A = np.zeros((out, size), dtype)
    for i, (lo, hi) in enumerate(bins(size, out)):        # a loop over output rows only
        A[i, lo:hi] = 1 / (hi - lo)
    return A


def bins(size, out):
    """PyTorch's adaptive bins: [floor(i*size/out), ceil((i+1)*size/out)) for i < out."""
    return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]


def bin_loop(a, out_hw, x_shape=None):
    """Adaptive pooling bin by bin (a loop over output pixels: only for non-finite data).
    Forward (x_shape None): the mean of each bin.  Backward: each g spread evenly over its bin."""
    oh, ow = out_hw
    H, W = (a.shape if x_shape is None else x_shape)[2:]
    out = (np.empty(a.shape[:2] + (oh, ow), a.dtype) if x_shape is None
           else np.zeros(x_shape, a.dtype))
    for i, (h0, h1) in enumerate(bins(H, oh)):
        for j, (w0, w1) in enumerate(bins(W, ow)):
            if x_shape is None:
                out[:, :, i, j] = a[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
            else:
                out[:, :, h0:h1, w0:w1] += a[:, :, i:i + 1, j:j + 1] / ((h1 - h0) * (w1 - w0))
    return out
