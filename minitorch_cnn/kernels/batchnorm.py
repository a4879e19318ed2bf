"""Batch-norm passes over x viewed as (N, C, L): statistics, normalisation, and the backward.

The maths is in ``nn/functional/basic.py`` (``BatchNormFn``).  Reductions over (N, L) sum over
N first (whole rows at a time), then along L: numpy's fast path for a C-contiguous array.
"""
import numpy as np


def batch_norm_forward(x3, gamma, beta, running_mean, running_var, training, momentum, eps):
    """x3 (N, C, L) -> (y (N, C, L), xc, scale, inv_std); updates the running stats in place.

    ``xc = x - mu`` is kept rather than x_hat: y = xc * (gamma inv_std) + beta costs one pass
    less, and backward folds inv_std into per-channel factors."""
    N, C, L = x3.shape
    M = N * L
    dt = x3.dtype
    if training:
        mean = x3.sum(axis=0).sum(axis=-1) / M                     # mu (C,)
        xc = x3 - mean[:, None]                                     # x - mu: the one copy
        var = np.einsum("ncl,ncl->c", xc, xc) / M                   # biased: normalises
        if running_mean is not None:                                # in-place side effects
            running_mean *= 1 - momentum
            running_mean += momentum * mean
        if running_var is not None:                                 # unbiased: estimates
            running_var *= 1 - momentum                             # the population var
            running_var += momentum * var * (M / (M - 1))
    else:
        var = running_var.astype(dt)
        xc = x3 - running_mean.astype(dt)[:, None]
    inv_std = (1.0 / np.sqrt(var + eps)).astype(dt)                 # (C,)
    scale = inv_std if gamma is None else (gamma * inv_std).astype(dt)
    y = xc * scale[:, None]                                         # gamma * x_hat
    if beta is not None:
        y += beta.astype(dt)[:, None]                               #   + beta
    return y, xc, scale, inv_std


def batch_norm_backward(g3, xc, scale, inv_std, training, need_x, need_gamma):
    """g3 (N, C, L) -> (dx (N, C, L) or None, dgamma (C,) or None, dbeta (C,))."""
    N, C, L = g3.shape
    M = N * L
    dt = g3.dtype
    sum_g = g3.sum(axis=0).sum(axis=-1)                              # dbeta = sum g
    sum_gxh = None
    if need_gamma or (need_x and training):
        sum_gxh = np.einsum("ncl,ncl->c", g3, xc) * inv_std         # dgamma = sum g x_hat
    gx = None
    if need_x:
        gx = g3 * scale[:, None]                                    # eval: dx = g gamma inv_std
        if training:
            # dx = k * (g - sum(g)/M - x_hat sum(g x_hat)/M),  x_hat = xc * inv_std, k = scale
            gx -= xc * (scale * inv_std * sum_gxh / M).astype(dt)[:, None]
            gx -= (scale * sum_g / M).astype(dt)[:, None]
    return gx, (sum_gxh if need_gamma else None), sum_g
