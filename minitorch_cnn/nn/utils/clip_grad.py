"""Gradient clipping by the joint norm, as ``torch.nn.utils.clip_grad_norm_``.

All gradients are seen as one long vector g.  With p = ``norm_type``:

    total = || (||g_1||_p, ||g_2||_p, ...) ||_p   (= ||g||_p; for p = inf the largest |g_i|)
    coef  = min(max_norm / (total + 1e-6), 1)
    g_i  *= coef                                  (in place; direction kept, length <= max_norm)

The 1e-6 keeps the division finite for zero gradients; it is torch's constant, so clipped
gradients match torch's to the last bit of the formula.  A non-finite total (a diverged run)
either raises (``error_if_nonfinite=True``) or, like torch's default, scales by NaN/0.
"""
import math

import numpy as np

from ...tensor import Tensor


def _vector_norm(a, p):
    a = np.abs(a)
    if p == math.inf:
        return a.max() if a.size else a.dtype.type(0)
    if p == -math.inf:
        return a.min() if a.size else a.dtype.type(math.inf)
    if p == 0:
        return a.dtype.type(np.count_nonzero(a))
    return np.sum(a ** p) ** (1.0 / p)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale the ``.grad`` of ``parameters`` (a Tensor or an iterable of them) in place so that
    their joint ``norm_type``-norm is at most ``max_norm``; return that norm (before clipping)
    as a 0-d Tensor.  Parameters without a gradient are skipped."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    params = list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"clip_grad_norm_: expected Tensors, got {type(p).__name__}")
    if isinstance(norm_type, str) and norm_type == "inf":
        norm_type = math.inf
    if isinstance(norm_type, bool) or not isinstance(norm_type, (int, float)) or \
            norm_type != norm_type:
        raise ValueError(f"clip_grad_norm_: norm_type must be a number or inf, got "
                         f"{norm_type!r}")
    if isinstance(max_norm, bool) or not isinstance(max_norm, (int, float)):
        raise TypeError(f"clip_grad_norm_: max_norm must be a number, got {max_norm!r}")
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return Tensor(np.zeros((), np.float32))
    p = float(norm_type)
    norms = np.array([_vector_norm(np.asarray(g), p) for g in grads])
    total = _vector_norm(norms, p).astype(np.result_type(*grads))
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} for gradients from "
            f"`parameters` is non-finite ({float(total)}), so it cannot be clipped. To disable "
            f"this error and scale the gradients by the non-finite norm anyway, set "
            f"`error_if_nonfinite=False`")
    # a NaN norm makes coef NaN (min keeps its first argument): torch multiplies by NaN too
    coef = min(float(max_norm) / (float(total) + 1e-6), 1.0)
    for prm in params:
        if prm.grad is not None:
            prm.grad = np.asarray(prm.grad)
            with np.errstate(invalid="ignore"):         # inf * 0 = NaN: as torch, on purpose
                prm.grad *= prm.grad.dtype.type(coef)
    return Tensor(np.asarray(total))
