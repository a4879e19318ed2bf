"""Reductions: sum, mean, var, max, min (values) and argmax, argmin (integer indices).

``dim`` is None (all axes), an int or a tuple; ``keepdim`` keeps reduced axes as size 1.  The
backward of every reduction first puts the reduced axes back (size 1) and then broadcasts.
"""
import numpy as np

from ..autograd import Function


def _axes(dim, ndim, op):
    """Normalise ``dim`` to a sorted tuple of non-negative axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out, n = [], ndim or 1              # (this module's max/min/sum shadow the builtins)
    for d in dims:
        if not -n <= d < n:
            raise IndexError(f"{op}: dim {d} is out of range for a tensor with {ndim} dims")
        out.append(d % n)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: dim {dim} repeats an axis")
    return tuple(sorted(out)) if ndim else ()


def _keep(g, axes, keepdim):
    """Re-insert the reduced axes into ``g`` (no-op if they were kept)."""
    return g if keepdim or not axes else np.expand_dims(g, axes)


class Sum(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        return np.sum(x, axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        # every input element contributed once: copy g back over the reduced axes
        return np.broadcast_to(_keep(g, ctx.axes, ctx.keepdim), ctx.shape)


class Mean(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim = x.shape, axes, keepdim
        ctx.n = int(np.prod([x.shape[a] for a in axes])) if axes else 1
        return np.mean(x, axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        return np.broadcast_to(_keep(g, ctx.axes, ctx.keepdim) / ctx.n, ctx.shape)  # 1/n each


class Var(Function):
    """Variance; ``unbiased`` divides by n-1 (torch's default), else by n."""

    @staticmethod
    def forward(ctx, x, axes, keepdim, unbiased):
        n = int(np.prod([x.shape[a] for a in axes])) if axes else 1
        centred = x - x.mean(axis=axes, keepdims=True)
        ctx.save_for_backward(centred)
        ctx.axes, ctx.keepdim, ctx.denom = axes, keepdim, n - int(unbiased)
        return np.sum(centred * centred, axis=axes, keepdims=keepdim) / ctx.denom

    @staticmethod
    def backward(ctx, g):
        (centred,) = ctx.saved
        # d var / dx_i = 2 (x_i - mean) / denom   (the mean's own dependence on x_i sums to 0)
        scale = 2 / ctx.denom if ctx.denom > 0 else np.nan     # nan like torch when n <= 1
        return _keep(g, ctx.axes, ctx.keepdim) * scale * centred


class _Extreme(Function):
    """max / min over axes.  The gradient goes to the elements equal to the result; when several
    tie, it is split evenly among them (so it still sums to the upstream gradient)."""
    reduce = None

    @classmethod
    def forward(cls, ctx, x, axes, keepdim):
        if x.size == 0:
            raise ValueError(f"{cls.__name__.lower()}: cannot reduce an empty tensor")
        out = cls.reduce(x, axis=axes, keepdims=True)
        winners = (x == out)
        ctx.save_for_backward(winners / winners.sum(axis=axes, keepdims=True))
        ctx.axes, ctx.keepdim = axes, keepdim
        return out if keepdim else np.squeeze(out, axis=axes)

    @staticmethod
    def backward(ctx, g):
        (share,) = ctx.saved
        return _keep(g, ctx.axes, ctx.keepdim) * share


class Max(_Extreme):
    reduce = staticmethod(np.max)


class Min(_Extreme):
    reduce = staticmethod(np.min)


def sum(x, dim=None, keepdim=False):
    return Sum.apply(x, axes=_axes(dim, x.ndim, "sum"), keepdim=keepdim)


def mean(x, dim=None, keepdim=False):
    return Mean.apply(x, axes=_axes(dim, x.ndim, "mean"), keepdim=keepdim)


def var(x, dim=None, keepdim=False, unbiased=True):
    return Var.apply(x, axes=_axes(dim, x.ndim, "var"), keepdim=keepdim, unbiased=unbiased)


def max(x, dim=None, keepdim=False):
    """Largest value over ``dim`` (values only, like ``torch.amax``); see ``argmax`` for indices."""
    return Max.apply(x, axes=_axes(dim, x.ndim, "max"), keepdim=keepdim)


def min(x, dim=None, keepdim=False):
    return Min.apply(x, axes=_axes(dim, x.ndim, "min"), keepdim=keepdim)


def _arg(fn, x, dim, keepdim, op):
    from ..tensor import Tensor
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    if dim is None:                       # index into the flattened tensor, like torch
        out = fn(data.reshape(-1))
        return Tensor(np.asarray(out, dtype=np.int64).reshape((1,) * data.ndim if keepdim else ()))
    (axis,) = _axes(dim, data.ndim, op)
    return Tensor(fn(data, axis=axis, keepdims=keepdim).astype(np.int64))


def argmax(x, dim=None, keepdim=False):
    """Index of the largest value (an int64 tensor, not differentiable)."""
    return _arg(np.argmax, x, dim, keepdim, "argmax")


def argmin(x, dim=None, keepdim=False):
    return _arg(np.argmin, x, dim, keepdim, "argmin")
