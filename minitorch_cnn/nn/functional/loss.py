"""Losses: cross_entropy (from a stable log-softmax), nll_loss, mse_loss."""
import numpy as np

from ...autograd import Function
from ...ops.activation import log_softmax
from ...tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(op, reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _targets(op, logp, target):
    """Validate integer class targets against (N, C, ...) log-probabilities."""
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices, got dtype {t.dtype}")
    if logp.ndim < 2 or t.shape != (logp.shape[0],) + logp.shape[2:]:
        raise ValueError(f"{op}: input of shape {logp.shape} (N, C, ...) needs target of shape "
                         f"{(logp.shape[0],) + logp.shape[2:]}, got {t.shape}")
    if t.size and (t.min() < 0 or t.max() >= logp.shape[1]):
        raise ValueError(f"{op}: target values must lie in [0, {logp.shape[1] - 1}], got "
                         f"min {t.min()} and max {t.max()}")
    return t


class NLLLoss(Function):
    """Picks -logp[n, target[n]] (and, for (N, C, H, W) inputs, at every pixel)."""

    @staticmethod
    def forward(ctx, logp, target, reduction):
        idx = np.expand_dims(target, 1)                      # (N, 1, ...) to gather along C
        picked = -np.take_along_axis(logp, idx, axis=1)[:, 0]
        ctx.shape, ctx.idx, ctx.reduction = logp.shape, idx, reduction
        if reduction == "mean":
            return picked.mean()
        return picked.sum() if reduction == "sum" else picked

    @staticmethod
    def backward(ctx, g):
        gin = np.zeros(ctx.shape, dtype=g.dtype)
        n = ctx.idx.size
        per = g / n if ctx.reduction == "mean" else g
        per = np.broadcast_to(per, ctx.idx.shape[:1] + ctx.idx.shape[2:])
        # d loss / d logp[n, c] = -1 (scaled) at the target class, 0 elsewhere
        np.put_along_axis(gin, ctx.idx, -np.expand_dims(per, 1), axis=1)
        return gin, None


def nll_loss(input, target, reduction="mean"):
    """Negative log-likelihood of integer ``target`` under log-probabilities ``input`` (N, C, ...)."""
    _check_reduction("nll_loss", reduction)
    t = _targets("nll_loss", input, target)
    return NLLLoss.apply(input, t, reduction=reduction)


def cross_entropy(input, target, reduction="mean"):
    """Softmax cross-entropy of logits (N, C, ...) with integer class targets (N, ...).

    Computed as nll_loss(log_softmax(input)): the log-softmax subtracts the row maximum, so huge
    logits never overflow; the gradient w.r.t. the logits is softmax - one_hot (divided by N for
    the mean).
    """
    _check_reduction("cross_entropy", reduction)
    if input.ndim < 2:
        raise ValueError(f"cross_entropy: input must be (N, C, ...) logits, got shape {input.shape}")
    return nll_loss(log_softmax(input, dim=1), target, reduction)


class MSELoss(Function):
    @staticmethod
    def forward(ctx, x, y, reduction):
        diff = x - y
        ctx.save_for_backward(diff)
        ctx.reduction = reduction
        sq = diff * diff
        if reduction == "mean":                              # (of nothing: NaN, as torch)
            return sq.mean() if sq.size else np.array(np.nan, sq.dtype)
        return sq.sum() if reduction == "sum" else sq

    @staticmethod
    def backward(ctx, g):
        (diff,) = ctx.saved
        scale = 2 / max(diff.size, 1) if ctx.reduction == "mean" else 2
        gx = g * scale * diff                                # d (x-y)^2 = 2 (x-y)
        return gx, -gx


def mse_loss(input, target, reduction="mean"):
    _check_reduction("mse_loss", reduction)
    if np.shape(input.data) != np.shape(target.data if isinstance(target, Tensor) else target):
        raise ValueError(f"mse_loss: input shape {input.shape} and target shape "
                         f"{np.shape(target.data if isinstance(target, Tensor) else target)} differ")
    return MSELoss.apply(input, target, reduction=reduction)
