"""Reductions: sum, mean, var, amax, amin (values), max, min (values and indices, like torch)
and argmax, argmin (integer indices).

``dim`` is None or () (all axes), an int or a tuple; ``keepdim`` keeps reduced axes as size 1.
The backward of every reduction first puts the reduced axes back (size 1) and then broadcasts.
"""
from collections import namedtuple

import numpy as np

from .. import autograd
from ..autograd import Function
from .dtypes import dim_index, is_int, require_float

# what torch.max(x, dim) / torch.min(x, dim) return: a pair with named fields
ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


def _axes(dim, ndim, op):
    """Normalise ``dim`` to a sorted tuple of non-negative axes (None and () mean all, as in
    torch)."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    if not dims:
        return tuple(range(ndim))
    out = [dim_index(d, ndim, op) for d in dims]
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: dim {dim} repeats an axis")
    return tuple(sorted(out)) if ndim else ()


def _reduced_shape(shape, axes, keepdim):
    if keepdim:
        return tuple(1 if i in axes else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


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
        if ctx.n == 0:                                  # the mean of nothing is NaN (torch)
            return np.full(_reduced_shape(x.shape, axes, keepdim), np.nan, x.dtype)
        return np.mean(x, axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        if ctx.n == 0:
            return np.zeros(ctx.shape, g.dtype)         # no element: nothing to send back
        return np.broadcast_to(_keep(g, ctx.axes, ctx.keepdim) / ctx.n, ctx.shape)  # 1/n each


class Var(Function):
    """Variance; ``unbiased`` divides by n-1 (torch's default), else by n."""

    @staticmethod
    def forward(ctx, x, axes, keepdim, unbiased):
        n = int(np.prod([x.shape[a] for a in axes])) if axes else 1
        ctx.axes, ctx.keepdim, ctx.denom = axes, keepdim, n - int(unbiased)
        if ctx.denom <= 0:                 # one value unbiased, or none: NaN (as torch)
            ctx.save_for_backward(np.zeros_like(x))
            return np.full(_reduced_shape(x.shape, axes, keepdim), np.nan, x.dtype)
        centred = x - x.mean(axis=axes, keepdims=True)
        ctx.save_for_backward(centred)
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
        if any(x.shape[a] == 0 for a in axes) or (x.ndim == 0 and x.size == 0):
            raise IndexError(f"{cls.op}: cannot reduce over an empty dim (the tensor has shape "
                             f"{x.shape}); there is no largest or smallest element")
        if x.size == 0:                    # reducing non-empty dims of an empty tensor
            ctx.save_for_backward(np.zeros(x.shape, x.dtype))
            ctx.axes, ctx.keepdim = axes, keepdim
            return np.zeros(_reduced_shape(x.shape, axes, keepdim), x.dtype)
        out = cls.reduce(x, axis=axes, keepdims=True)
        winners = (x == out)
        ctx.save_for_backward(winners / winners.sum(axis=axes, keepdims=True))
        ctx.axes, ctx.keepdim = axes, keepdim
        return out if keepdim else np.squeeze(out, axis=axes)

    @staticmethod
    def backward(ctx, g):
        (share,) = ctx.saved
        return _keep(g, ctx.axes, ctx.keepdim) * share


class Amax(_Extreme):
    reduce, op = staticmethod(np.max), "amax"


class Amin(_Extreme):
    reduce, op = staticmethod(np.min), "amin"


class TakeAlong(Function):
    """The values at ``index`` along ``dim`` (``index`` from argmax/argmin, keepdim form): the
    gradient goes to the one chosen element, as torch's ``max(x, dim)`` sends it."""

    @staticmethod
    def forward(ctx, x, index, dim, keepdim):
        ctx.shape, ctx.index, ctx.dim, ctx.keepdim = x.shape, index, dim, keepdim
        out = np.take_along_axis(x, index, axis=dim)
        return out if keepdim else np.squeeze(out, axis=dim)

    @staticmethod
    def backward(ctx, g):
        gx = np.zeros(ctx.shape, g.dtype)
        g = g if ctx.keepdim else np.expand_dims(g, ctx.dim)
        np.put_along_axis(gx, ctx.index, g, axis=ctx.dim)   # dx = g at the chosen index, else 0
        return gx


def sum(x, dim=None, keepdim=False):
    return Sum.apply(x, axes=_axes(dim, x.ndim, "sum"), keepdim=keepdim)


def mean(x, dim=None, keepdim=False):
    require_float(x, "mean")
    return Mean.apply(x, axes=_axes(dim, x.ndim, "mean"), keepdim=keepdim)


def var(x, dim=None, unbiased=True, keepdim=False):
    """Variance over ``dim``; torch's argument order (dim, unbiased, keepdim): ``unbiased``
    divides by n - 1, else by n."""
    require_float(x, "var")
    return Var.apply(x, axes=_axes(dim, x.ndim, "var"), keepdim=keepdim,
                     unbiased=bool(unbiased))


def amax(x, dim=None, keepdim=False):
    """Largest value over ``dim`` (None or a tuple: several dims); ties share the gradient."""
    return Amax.apply(x, axes=_axes(dim, x.ndim, "amax"), keepdim=keepdim)


def amin(x, dim=None, keepdim=False):
    """Smallest value over ``dim``; ties share the gradient."""
    return Amin.apply(x, axes=_axes(dim, x.ndim, "amin"), keepdim=keepdim)


def _extreme(x, dim, keepdim, op, arg, whole):
    if isinstance(dim, autograd.Tensor):        # torch.max(a, b): the element-wise maximum
        from .math import maximum, minimum
        return (maximum if op == "max" else minimum)(x, dim)
    if dim is None:
        return whole(x)
    if not is_int(dim):
        raise TypeError(f"{op}: dim must be an int (use amax/amin for several dims), got {dim!r}")
    d = dim_index(dim, x.ndim, op)
    if x.ndim == 0:                             # a 0-d tensor is its own extreme, at index 0
        return ValuesIndices(x, autograd.Tensor._from_op(np.zeros((), np.int64), False))
    if x.shape[d] == 0:
        raise IndexError(f"{op}: cannot reduce over dim {dim} of size 0 (shape {x.shape})")
    index = arg(x.data, axis=d, keepdims=True).astype(np.int64)
    values = TakeAlong.apply(x, index, dim=d, keepdim=keepdim)
    return ValuesIndices(values, autograd.Tensor._from_op(
        index if keepdim else np.squeeze(index, axis=d), False))


def max(x, dim=None, keepdim=False):
    """Like ``torch.max``: without ``dim`` the largest value (a 0-d tensor; ties share the
    gradient); with ``dim`` the pair ``(values, indices)`` along it (gradient to the index);
    with a tensor as second argument the element-wise ``maximum``."""
    return _extreme(x, dim, keepdim, "max", np.argmax, amax)


def min(x, dim=None, keepdim=False):
    """Like ``torch.min``: see ``max``."""
    return _extreme(x, dim, keepdim, "min", np.argmin, amin)


def _arg(fn, x, dim, keepdim, op):
    from ..tensor import Tensor
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    if dim is None:                       # index into the flattened tensor, like torch
        out = fn(data.reshape(-1))
        return Tensor(np.asarray(out, dtype=np.int64).reshape((1,) * data.ndim if keepdim else ()))
    axis = dim_index(dim, data.ndim, op)
    if data.ndim == 0:                    # a 0-d tensor: index 0, like torch
        return Tensor(np.zeros((), np.int64))
    if data.shape[axis] == 0:
        raise IndexError(f"{op}: cannot reduce over dim {dim} of size 0 (shape {data.shape})")
    return Tensor(fn(data, axis=axis, keepdims=keepdim).astype(np.int64))


def argmax(x, dim=None, keepdim=False):
    """Index of the largest value (an int64 tensor, not differentiable)."""
    return _arg(np.argmax, x, dim, keepdim, "argmax")


def argmin(x, dim=None, keepdim=False):
    return _arg(np.argmin, x, dim, keepdim, "argmin")
