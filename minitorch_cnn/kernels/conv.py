"""Convolution kernels on NCHW arrays: padding, im2col and its adjoint col2im, the NCHW
transposes around the matrix multiplies, and the 1x1 path's per-pixel channel products.

Notation: ``nn/functional/__init__.py``.  The maths that uses them is in ``nn/functional/conv.py``;
what each trick buys, and the command that measures it: docs/performance.md.
"""
import numpy as np

# The 1x1 path multiplies images of at least this many pixels one by one (the products land in
# NCHW, no copy); smaller ones are put side by side (one copy) so that the batch is one product:
# N products with fewer columns ran below BLAS's speed here by more than the copy costs.
PER_IMAGE_MIN_PIXELS = 400


def pad(x, ph, pw, value):
    """x (N, C, H, W) -> contiguous (N, C, H + top + bottom, W + left + right), borders ``value``.

    ``ph``/``pw``: an int (both sides) or a (before, after) pair.  Writing the borders and the
    interior once each is cheaper than ``np.pad``."""
    (pt, pb), (pl, pr) = [(v, v) if isinstance(v, int) else v for v in (ph, pw)]
    if pt == pb == pl == pr == 0:
        return np.ascontiguousarray(x)
    N, C, H, W = x.shape
    xp = np.empty((N, C, H + pt + pb, W + pl + pr), x.dtype)
    xp[:, :, :pt], xp[:, :, pt + H:] = value, value
    xp[:, :, :, :pl], xp[:, :, :, pl + W:] = value, value
    xp[:, :, pt:pt + H, pl:pl + W] = x
    return xp


def channels_first(a):
    """a (N, C, ...) -> contiguous (C, N, ...): each channel's batch side by side (one copy)."""
    out = np.empty((a.shape[1], a.shape[0]) + a.shape[2:], a.dtype)
    np.copyto(out, a.swapaxes(0, 1))
    return out


def batch_first(a, bias=None):
    """a (C, N, ...) -> contiguous (N, C, ...), i.e. back to NCHW, adding ``bias[c]`` (if given)
    in the same pass: the transpose is a copy anyway, so the bias costs no pass of its own."""
    out = np.empty((a.shape[1], a.shape[0]) + a.shape[2:], a.dtype)
    if bias is None:
        np.copyto(out, a.swapaxes(0, 1))
    else:
        for c in range(a.shape[0]):    # one scalar per channel: a broadcast bias ran ~2x slower
            np.add(a[c], bias[c], out=out[:, c])
    return out


def channel_sums(g):
    """g (N, O, H, W) -> (O,): the sum of each channel over n, i, j (the bias gradient).

    As a matrix-vector product with ones, which BLAS runs on its threads: ~2x numpy's
    ``g.sum(axis=(0, 2, 3))`` here on the large gradients."""
    if not g.flags.c_contiguous:            # e.g. the broadcast gradient of a .sum(): a reshape
        return g.sum(axis=(0, 2, 3))        # would copy it, numpy's sum reads it as it is
    N, O, H, W = g.shape
    rows = g.reshape(N, O, H * W)
    return np.matmul(rows, np.ones(rows.shape[2], g.dtype)).sum(axis=0)


def per_image(P):
    """Whether the 1x1 products of a batch of images with P output pixels each run one per
    image (``PER_IMAGE_MIN_PIXELS``), or with the images side by side, as one product."""
    return P >= PER_IMAGE_MIN_PIXELS


def batch_matrices(a, groups, one_each):
    """a (N, R, H, W), R = groups * Rg rows per pixel (channels, or a gradient's channels) ->
    the matrices the products multiply: (N, groups, Rg, H*W), one per image and group (a view
    of a contiguous a), or ``one_each=False`` (groups, Rg, N*H*W), the batch side by side (one
    copy: ``channels_first``)."""
    N, R, H, W = a.shape
    if one_each:
        return np.ascontiguousarray(a).reshape(N, groups, R // groups, H * W)
    return channels_first(a).reshape(groups, R // groups, N * H * W)


def from_batch_matrices(y, N, OH, OW, bias=None):
    """The product ``y`` of ``batch_matrices`` -> NCHW (N, R, OH, OW), adding ``bias`` if given.

    One per image, (N, groups, Rg, P), y already is NCHW; side by side, (groups, Rg, N*P), it
    takes one transposing copy (``batch_first``, with the bias on the way)."""
    if y.ndim == 4:
        out = y.reshape(N, y.shape[1] * y.shape[2], OH, OW)
        if bias is not None:
            out += bias.reshape(-1, 1, 1)      # in place, broadcast: faster than per channel
        return out
    return batch_first(y.reshape(y.shape[0] * y.shape[1], N, OH, OW), bias)


def sum_over_images(y):
    """A product of ``batch_matrices`` summed over the images: one per image (N, groups, a, b)
    -> (groups, a, b); side by side, the sum over n already happened inside the product."""
    return y.sum(axis=0) if y.ndim == 4 else y


def im2col(xp, KH, KW, stride, dilation, OH, OW):
    """Padded input xp (N, C, Hp, Wp) -> contiguous col (C, KH, KW, N, OH, OW).

    col[c, i, j, n, a, b] = xp[n, c, a*sh + i*dh, b*sw + j*dw].  As a (C*KH*KW, N*OH*OW) matrix
    each column is one window and the windows of the whole batch sit side by side, so the
    convolution is ONE matrix multiply: one big GEMM beats N small ones on this BLAS (also for
    the 28x28 stem, where N per-image products would land in NCHW without a copy).
    The windows are a read-only overlapping view of xp (its elements alias: never written);
    the copy into ``col`` is the only one.
    """
    (sh, sw), (dh, dw) = stride, dilation
    N, C = xp.shape[:2]
    sn, sc, sy, sx = xp.strides
    win = np.lib.stride_tricks.as_strided(                       # (N, C, KH, KW, OH, OW) view
        xp, (N, C, KH, KW, OH, OW), (sn, sc, dh * sy, dw * sx, sh * sy, sw * sx),
        writeable=False).transpose(1, 2, 3, 0, 4, 5)
    return win.copy()                                             # C order: (C, KH, KW, N, OH, OW)


def col2im(dcol, padded_shape, stride, dilation):
    """Adjoint of ``im2col``: dcol (C, KH, KW, N, OH, OW) -> dxp (N, C, Hp, Wp).

    Windows overlap, so a pixel collects several contributions: one strided slice per kernel
    offset (i, j) adds them all at once (a loop over KH*KW offsets, never over pixels).  The sum
    is kept in NCHW order (through a transposed view), so no transposing copy follows.
    """
    (sh, sw), (dh, dw) = stride, dilation
    C, KH, KW, N, OH, OW = dcol.shape
    Hp, Wp = padded_shape[2:]
    out = np.zeros((N, C, Hp, Wp), dcol.dtype)
    dxp = out.transpose(1, 0, 2, 3)                               # (C, N, Hp, Wp) view
    for i in range(KH):
        for j in range(KW):
            dxp[:, :, i * dh:i * dh + (OH - 1) * sh + 1:sh,
                j * dw:j * dw + (OW - 1) * sw + 1:sw] += dcol[:, i, j]
    return out


def col2im_flat(wm, g, padding, x_shape, KH, KW, dilation):
    """``col2im(W^T @ g)`` for stride 1, as flat runs, unpadded: wm (G, Og, K), g (N, O, OH, OW)
    -> dx (C, N, H, W) (a view).

    Lay the padded images out flat, image n from n*S on, rows Wq apart, and spread g into zeros
    so that window (a, b) of image n sits at n*S + a*Wq + b: its tap (i, j) reads the pixel at
    that position shifted by s = i*dh*Wq + j*dw.  So kernel offset (i, j) adds
    W[:, :, i, j]^T @ gw as ONE flat run shifted by s: KH*KW long contiguous adds, where
    ``col2im`` adds rows OW long (3-5x slower here).  Neighbouring rows (and images) overlap by
    as many padding columns (rows) as both borders and the windows allow, Wq = Wp - min(pl, pr,
    dw*(KW-1)): padding sums are thrown away, so they may share places, and the products shrink.
    They are made one kernel row i at a time and added while still in cache, so dcol is never
    stored whole (KH products, not KH*KW: on a busy machine each BLAS call may wait for its
    second thread).  gw's zeros, which wrap into the next row or image, add exactly 0 -- if W
    is finite.
    """
    dh, dw = dilation
    G, Og, K = wm.shape
    N, O, OH, OW = g.shape
    C, H, W = x_shape[1:]
    (pt, pb), (pl, pr) = padding
    Hp, Wp = H + pt + pb, W + pl + pr
    Wq = Wp - min(pl, pr, dw * (KW - 1))                    # row pitch: shared padding columns
    S = (Hp - min(pt, pb, dh * (KH - 1))) * Wq              # image pitch: shared padding rows
    Cg, total = K // (KH * KW), (N - 1) * S + (Hp - 1) * Wq + Wp if N else 0
    gw = np.zeros((O, total), g.dtype)
    it = gw.itemsize
    np.lib.stride_tricks.as_strided(gw, (O, N, OH, OW), (total * it, S * it, Wq * it, it))[
        ...] = g.swapaxes(0, 1)                             # window (n, a, b) at n*S + a*Wq + b
    gw = gw.reshape(G, Og, total)
    w = wm.reshape(G, Og, Cg, KH, KW)
    dxp = np.zeros((C, total), g.dtype)
    for i in range(KH):
        wi = np.ascontiguousarray(w[:, :, :, i].transpose(0, 2, 3, 1))      # W[., ., i, :]^T
        dcol_i = np.matmul(wi.reshape(G, Cg * KW, Og), gw).reshape(G, Cg, KW, total)
        for j in range(KW):
            s = i * dh * Wq + j * dw
            dxp[:, s:] += dcol_i[:, :, j, :total - s].reshape(C, total - s)
    real = dxp[:, pt * Wq + pl:]                            # pixel (n, y, x) at n*S + y*Wq + x
    return np.lib.stride_tricks.as_strided(real, (C, N, H, W), (total * it, S * it, Wq * it, it),
                                           writeable=False)


def col2im_matmul(wm, g, gm, x_shape, padding, KH, KW, stride, dilation):
    """dx = col2im(W^T @ g), unpadded: the input gradient of the im2col convolution.

    wm (G, Og, K) the weights, g (N, O, OH, OW) the output gradient and gm the same as the
    (G, Og, N*OH*OW) matrix  ->  dx (N, C, H, W).
    For stride 1 and finite weights: ``col2im_flat``, whose products cost up to Hp*Wp/(OH*OW)
    times more (g spread to the padded size) but whose adds are long flat runs; that pays when
    dcol's K rows outnumber g's O rows (what the flat runs save grows with K, what spreading g
    costs with O).  (With an inf weight, 0 * inf = NaN would reach pixels the weight never multiplies:
    those keep ``col2im``.)
    """
    G, Og, K = wm.shape
    N, O, OH, OW = g.shape
    C, H, W = x_shape[1:]
    (pt, pb), (pl, pr) = padding
    Hp, Wp = H + pt + pb, W + pl + pr
    wt = wm.transpose(0, 2, 1)                                        # W^T per group
    if stride == (1, 1) and G * K > O and np.isfinite(wm).all():
        return batch_first(col2im_flat(wm, g, padding, x_shape, KH, KW, dilation))  # NCHW copy
    dcol = np.matmul(wt, gm).reshape(C, KH, KW, N, OH, OW)
    dxp = col2im(dcol, (N, C, Hp, Wp), stride, dilation)              # (N, C, Hp, Wp)
    if pt == pb == pl == pr == 0:
        return dxp
    return np.ascontiguousarray(dxp[:, :, pt:pt + H, pl:pl + W])     # unpad
