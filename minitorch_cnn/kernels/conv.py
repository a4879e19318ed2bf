"""Convolution kernels: zero padding, im2col and its adjoint col2im, on NCHW arrays.

Notation: ``nn/functional/__init__.py``.  The maths that uses them is in ``nn/functional/conv.py``.
"""
import numpy as np

from .work import batch_pieces


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


def im2col(xp, KH, KW, stride, dilation, OH, OW):
    """Padded input xp (N, C, Hp, Wp) -> contiguous col (C, KH, KW, N, OH, OW).

    col[c, i, j, n, a, b] = xp[n, c, a*sh + i*dh, b*sw + j*dw].  As a (C*KH*KW, N*OH*OW) matrix
    each column is one window and the windows of the whole batch sit side by side, so the
    convolution is ONE matrix multiply: one big GEMM beats N small ones on this BLAS.
    The windows are a read-only overlapping view of xp (its elements alias: never written);
    the copy into ``col`` is the only one.
    """
    (sh, sw), (dh, dw) = stride, dilation
    N, C = xp.shape[:2]
    sn, sc, sy, sx = xp.strides
    win = np.lib.stride_tricks.as_strided(                       # (N, C, KH, KW, OH, OW) view
        xp, (N, C, KH, KW, OH, OW), (sn, sc, dh * sy, dw * sx, sh * sy, sw * sx),
        writeable=False).transpose(1, 2, 3, 0, 4, 5)
    col = np.empty(win.shape, xp.dtype)
    for n in batch_pieces(N):
        col[:, :, :, n] = win[:, :, :, n]
    return col


def col2im(dcol, padded_shape, stride, dilation):
    """Adjoint of ``im2col``: dcol (C, KH, KW, N, OH, OW) -> dxp (C, N, Hp, Wp).

    Windows overlap, so a pixel collects several contributions: one strided slice per kernel
    offset (i, j) adds them all at once (a loop over KH*KW offsets, never over pixels).
    """
    (sh, sw), (dh, dw) = stride, dilation
    C, KH, KW, N, OH, OW = dcol.shape
    Hp, Wp = padded_shape[2:]
    dxp = np.zeros((C, N, Hp, Wp), dcol.dtype)
    for n in batch_pieces(N):
        for i in range(KH):
            for j in range(KW):
                dxp[:, n, i * dh:i * dh + (OH - 1) * sh + 1:sh,
                    j * dw:j * dw + (OW - 1) * sw + 1:sw] += dcol[:, i, j, n]
    return dxp
