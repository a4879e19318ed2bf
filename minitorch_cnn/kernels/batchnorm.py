"""Batch-norm passes over x viewed as (N, C, L): statistics, normalisation, and the backward.

The maths is in ``nn/functional/basic.py`` (``BatchNormFn``).  Each pass runs over chunks of the
batch on the pool (``work.parallel``): a slice x[n0:n1] is contiguous, which numpy streams
fastest.  A per-channel sum is the sum of per-chunk partial sums, added in chunk order; the
chunks depend on the shape only, so the sums are the same at any thread count.  Within a chunk
reductions sum over N first (whole rows at a time), then along L.

Forward (training): pass 1 the sums of x; pass 2 xc = x - mu and the sums of xc^2; pass 3
y = xc * scale + beta.  Backward: pass 1 the sums of g and g*xc; pass 2 dx.
"""
import numpy as np

from .work import parallel


def chunk_sums(n, item_bytes, part):
    """Sum over the chunks of ``range(n)`` of ``part(slice)`` (a (k, C) array per call, one row
    per sum), added in chunk order."""
    parts = parallel(lambda i, c: part(c), n, item_bytes, light=True)
    total = parts[0].copy()
    for p in parts[1:]:
        total += p
    return total


def batch_norm_forward(x3, gamma, beta, running_mean, running_var, training, momentum, eps):
    """x3 (N, C, L) -> (y (N, C, L), xc, scale, inv_std); updates the running stats in place.

    ``xc = x - mu`` is kept rather than x_hat: y = xc * (gamma inv_std) + beta costs one pass
    less, and backward folds inv_std into per-channel factors."""
    N, C, L = x3.shape
    M = N * L
    dt = x3.dtype
    row = C * L * x3.itemsize                                       # bytes of one image
    xc = np.empty_like(x3)
    if training:
        mean = chunk_sums(N, row, lambda c: x3[c].sum(axis=0).sum(axis=-1)[None])[0] / M

        def centre_and_square(c):                                   # xc = x - mu, sum xc^2
            np.subtract(x3[c], mean[:, None], out=xc[c])
            return np.einsum("ncl,ncl->c", xc[c], xc[c])[None]
        var = chunk_sums(N, row, centre_and_square)[0] / M       # biased: normalises
        if running_mean is not None:                                # in-place side effects
            running_mean *= 1 - momentum
            running_mean += momentum * mean
        if running_var is not None:                                 # unbiased: estimates
            running_var *= 1 - momentum                             # the population var
            running_var += momentum * var * (M / (M - 1))
    else:
        var = running_var.astype(dt)
        mean = running_mean.astype(dt)
        parallel(lambda i, c: np.subtract(x3[c], mean[:, None], out=xc[c]), N, row, light=True)
    inv_std = (1.0 / np.sqrt(var + eps)).astype(dt)                 # (C,)
    scale = inv_std if gamma is None else (gamma * inv_std).astype(dt)
    y = np.empty_like(x3)
    shift = None if beta is None else beta.astype(dt)[:, None]

    def normalise(i, c):
        np.multiply(xc[c], scale[:, None], out=y[c])                # gamma * x_hat
        if shift is not None:
            y[c] += shift                                           #   + beta
    parallel(normalise, N, row, light=True)
    return y, xc, scale, inv_std


def batch_norm_backward(g3, xc, scale, inv_std, training, need_x, need_gamma):
    """g3 (N, C, L) -> (dx (N, C, L) or None, dgamma (C,) or None, dbeta (C,))."""
    N, C, L = g3.shape
    M = N * L
    dt = g3.dtype
    row = C * L * g3.itemsize
    want_gxh = need_gamma or (need_x and training)

    def sums(c):                                                    # sum g, sum g xc
        s = g3[c].sum(axis=0).sum(axis=-1)
        return np.stack([s, np.einsum("ncl,ncl->c", g3[c], xc[c])]) if want_gxh else s[None]
    both = chunk_sums(N, row, sums)
    sum_g = both[0]                                                 # dbeta = sum g
    sum_gxh = both[1] * inv_std if want_gxh else None              # dgamma = sum g x_hat
    gx = None
    if need_x:
        gx = np.empty_like(g3)
        # dx = k (g - sum(g)/M - x_hat sum(g x_hat)/M),  x_hat = xc inv_std,  k = scale;
        # eval: dx = k g.  As one pass: dx = k g - a xc - b, per-channel a and b
        k = scale[:, None]
        if training:
            a = (scale * inv_std * sum_gxh / M).astype(dt)[:, None]
            b = (scale * sum_g / M).astype(dt)[:, None]

        def dx(i, c):
            np.multiply(g3[c], k, out=gx[c])
            if training:
                gx[c] -= xc[c] * a
                gx[c] -= b
        parallel(dx, N, row, light=True)
    return gx, (sum_gxh if need_gamma else None), sum_g
