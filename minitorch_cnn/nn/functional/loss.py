"""Losses: cross_entropy (from a stable log-softmax), nll_loss, mse_loss."""
import numpy as np

from ...autograd import Function
from ...ops.activation import log_softmax
from ...ops.math import where
from ...tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(op, reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _targets(op, logp, target, ignore_index=None):
    """Validate integer class targets against (N, C, ...) log-probabilities."""
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices, got dtype {t.dtype} "
                        f"(class-probability targets are not supported)")
    if logp.ndim < 2 or t.shape != (logp.shape[0],) + logp.shape[2:]:
        raise ValueError(f"{op}: input of shape {logp.shape} (N, C, ...) needs target of shape "
                         f"{(logp.shape[0],) + logp.shape[2:]}, got {t.shape}")
    valid = t if ignore_index is None else t[t != ignore_index]
    if valid.size and (valid.min() < 0 or valid.max() >= logp.shape[1]):
        raise ValueError(f"{op}: target values must lie in [0, {logp.shape[1] - 1}] (or equal "
                         f"ignore_index={ignore_index}), got min {valid.min()} and max "
                         f"{valid.max()}")
    return t


def _class_weight(op, weight, C):
    """The per-class weight as an ndarray of shape (C,), or None."""
    if weight is None:
        return None
    w = weight.data if isinstance(weight, Tensor) else np.asarray(weight)
    if w.shape != (C,) or w.dtype.kind not in "fiu":
        raise ValueError(f"{op}: weight must be a 1-D float tensor of C={C} class weights, got "
                         f"shape {w.shape} dtype {w.dtype}")
    return w


class NLLLossFn(Function):
    """Picks -w[t] logp[n, t] with t = target[n] (and, for (N, C, H, W) inputs, at every
    pixel); targets equal to ``ignore_index`` contribute 0.  The mean divides by the total
    weight sum_n w[target[n]] of the targets kept (their count when there is no weight), so
    it is a weighted average -- torch's definition; all targets ignored gives 0/0 = NaN."""

    @staticmethod
    def forward(ctx, logp, target, weight, ignore_index, reduction):
        keep = target != ignore_index
        safe = np.where(keep, target, 0)                     # any valid class for ignored ones
        idx = np.expand_dims(safe, 1)                        # (N, 1, ...) to gather along C
        w = keep.astype(logp.dtype) if weight is None else \
            np.where(keep, weight.astype(logp.dtype)[safe], 0)        # w[t], 0 where ignored
        picked = -np.take_along_axis(logp, idx, axis=1)[:, 0] * w
        ctx.shape, ctx.idx, ctx.w, ctx.reduction = logp.shape, idx, w, reduction
        ctx.keep = keep
        if reduction == "mean":
            ctx.total = w.sum()
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.asarray(picked.sum() / ctx.total)
        return picked.sum() if reduction == "sum" else picked

    @staticmethod
    def backward(ctx, g):
        gin = np.zeros(ctx.shape, dtype=g.dtype)
        with np.errstate(invalid="ignore", divide="ignore"):      # all ignored: 0/0, as torch
            per = g / ctx.total if ctx.reduction == "mean" else g
            # ignored targets get exactly 0, even when all are (g / 0 = inf would give NaN)
            per = np.where(ctx.keep, np.broadcast_to(per, ctx.w.shape) * ctx.w, 0)
        # d loss / d logp[n, c] = -w[t] (scaled) at the target class t, 0 elsewhere
        np.put_along_axis(gin, ctx.idx, -np.expand_dims(per, 1).astype(g.dtype), axis=1)
        return gin, None, None


def nll_loss(input, target, weight=None, *, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of integer ``target`` under log-probabilities ``input`` (N, C, ...).

    ``weight`` (C,) rescales each class; targets equal to ``ignore_index`` are skipped (torch's
    arguments and definitions, see ``NLLLoss``)."""
    _check_reduction("nll_loss", reduction)
    t = _targets("nll_loss", input, target, ignore_index)
    w = _class_weight("nll_loss", weight, input.shape[1])
    return NLLLossFn.apply(input, t, w, ignore_index=ignore_index, reduction=reduction)


def cross_entropy(input, target, weight=None, *, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Softmax cross-entropy of logits (N, C, ...) with integer class targets (N, ...).

    Computed as nll_loss(log_softmax(input)): the log-softmax subtracts the row maximum, so huge
    logits never overflow; the gradient w.r.t. the logits is softmax - one_hot (divided by N for
    the mean).  ``weight``, ``ignore_index`` and ``label_smoothing`` follow torch exactly:

        loss = (1 - eps) * nll + eps / C * smooth,   smooth[n] = -sum_c w[c] logp[n, c]

    i.e. the target is mixed with a uniform distribution over the C classes.  ``smooth`` is 0
    for ignored targets, and with ``reduction="mean"`` its sum is divided by the same total
    weight sum_n w[target[n]] as the nll term (torch's choice, even though smooth weighs every
    class).
    """
    _check_reduction("cross_entropy", reduction)
    if input.ndim < 2:
        raise ValueError(f"cross_entropy: input must be (N, C, ...) logits, got shape {input.shape}")
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
            or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be a number in [0, 1], got "
                         f"{label_smoothing!r}")
    logp = log_softmax(input, dim=1)
    nll = nll_loss(logp, target, weight, ignore_index=ignore_index, reduction=reduction)
    if label_smoothing == 0:
        return nll
    C = input.shape[1]
    t = _targets("cross_entropy", input, target, ignore_index)
    w = _class_weight("cross_entropy", weight, C)
    keep = t != ignore_index
    shape = (1, C) + (1,) * (input.ndim - 2)                  # w broadcast along dim 1
    weighted = logp if w is None else logp * w.astype(logp.dtype).reshape(shape)
    # (N, ...), 0 where ignored: where, not * keep, so an all-ignored mean's inf never reaches x
    smooth = where(keep, -weighted.sum(1), 0.0)
    keep = keep.astype(logp.dtype)
    if reduction == "mean":
        safe = np.where(t != ignore_index, t, 0)
        total = keep.sum() if w is None else (w.astype(logp.dtype)[safe] * keep).sum()
        with np.errstate(invalid="ignore", divide="ignore"):      # all ignored: NaN, as torch
            smooth = smooth.sum() * (1.0 / total)
    elif reduction == "sum":
        smooth = smooth.sum()
    return nll * (1.0 - label_smoothing) + smooth * (label_smoothing / C)


class MSELossFn(Function):
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
    return MSELossFn.apply(input, target, reduction=reduction)
