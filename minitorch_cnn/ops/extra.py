"""More of torch's tensor ops: clone, std, prod, logsumexp, norm, gather, repeat, split, chunk,
and ``**`` with a tensor exponent.

Notation: ``x`` the input array, ``g`` the upstream gradient (d loss / d output), ``axes`` the
reduced axes as a sorted tuple (``reduce._axes``).  Reductions re-insert the reduced axes into
``g`` with ``reduce._keep`` before broadcasting it back over ``x``.
"""
import numpy as np

from ..autograd import Function
from .arithmetic import _broadcast_error
from .math import sqrt
from .reduce import _axes, _keep, var


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        return np.array(x, copy=True)                 # new memory: in-place ops on it are safe

    @staticmethod
    def backward(ctx, g):
        return g                                      # d clone(x) / dx = 1


class Prod(Function):
    """Product over ``axes``.  d prod / d x_i is the product of all the *other* elements -- not
    prod / x_i, which is 0/0 where x_i = 0.  It is computed exactly, zeros included, as
    (product of the elements before i) * (product of those after i): two exclusive cumprods."""

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.save_for_backward(x)
        ctx.axes, ctx.keepdim = axes, keepdim
        return np.prod(x, axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        axes = ctx.axes
        rest = [a for a in range(x.ndim) if a not in axes]
        # bring the reduced axes to the end and flatten them into one: (rest..., K)
        xt = np.transpose(x, rest + list(axes))
        flat = xt.reshape(xt.shape[:len(rest)] + (-1,))
        ones = np.ones(flat.shape[:-1] + (1,), x.dtype)
        before = np.cumprod(np.concatenate([ones, flat[..., :-1]], -1), -1)  # x_0 ... x_{i-1}
        after = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], -1), -1)[..., ::-1]
        others = (before * after).reshape(xt.shape)   # prod_{j != i} x_j
        others = np.transpose(others, np.argsort(rest + list(axes)))
        return _keep(g, axes, ctx.keepdim) * others


class LogSumExp(Function):
    """log sum_i exp(x_i), shifted by the maximum m so no exp overflows:
    m + log sum_i exp(x_i - m).  The gradient is the softmax exp(x_i - out)."""

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        m = np.max(x, axis=axes, keepdims=True) if x.size else np.zeros((1,) * x.ndim, x.dtype)
        m = np.where(np.isfinite(m), m, 0)            # all -inf (or an inf): shift by 0 instead
        with np.errstate(divide="ignore"):            # log 0 = -inf: an all -inf row
            out = m + np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True))
        ctx.save_for_backward(x, out)
        ctx.axes, ctx.keepdim = axes, keepdim
        return out if keepdim else np.squeeze(out, axis=axes)

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved
        return _keep(g, ctx.axes, ctx.keepdim) * np.exp(x - out)   # d lse / dx_i = softmax_i


class Norm(Function):
    """Vector p-norm over ``axes``: (sum |x|^p)^(1/p); p = inf is max |x|, -inf min |x|, 0 the
    number of non-zeros.  At a zero norm (or x_i = 0 for p < 1) the gradient is 0, as torch's."""

    @staticmethod
    def forward(ctx, x, p, axes, keepdim):
        a = np.abs(x)
        if p == np.inf:
            out = np.max(a, axis=axes, keepdims=True)
        elif p == -np.inf:
            out = np.min(a, axis=axes, keepdims=True)
        elif p == 0:
            out = np.sum(a != 0, axis=axes, keepdims=True).astype(x.dtype)
        elif p == 1:
            out = np.sum(a, axis=axes, keepdims=True)
        elif p == 2:
            out = np.sqrt(np.sum(a * a, axis=axes, keepdims=True))
        else:
            out = np.sum(a ** p, axis=axes, keepdims=True) ** (1.0 / p)
        ctx.save_for_backward(x, out)
        ctx.p, ctx.axes, ctx.keepdim = p, axes, keepdim
        return out if keepdim else np.squeeze(out, axis=axes)

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved
        p, g = ctx.p, _keep(g, ctx.axes, ctx.keepdim)
        zero = np.zeros((), x.dtype)
        if p == 0:
            return np.zeros_like(x)                   # a count: piecewise constant
        if p == 1:
            return g * np.sign(x)                     # d|x| = sign(x)
        if p in (np.inf, -np.inf):                    # the extreme |x_i| (ties share g evenly)
            hit = np.abs(x) == out
            return np.sign(x) * hit * (g / np.sum(hit, axis=ctx.axes, keepdims=True))
        with np.errstate(divide="ignore", invalid="ignore"):
            if p == 2:
                return x * np.where(out == 0, zero, g / out)        # d|x|_2 = x / |x|_2
            # d |x|_p / dx_i = sign(x_i) |x_i|^(p-1) / |x|_p^(p-1)
            d = np.sign(x) * np.abs(x) ** (p - 1) * (g / out ** (p - 1))
            return np.where((x == 0) | (out == 0), zero, d)


class Gather(Function):
    """``out[i][j] = x[index[i][j]][j]`` (dim 0; likewise for any dim), torch's gather: index
    has x's number of dims and, outside ``dim``, sizes no larger than x's."""

    @staticmethod
    def forward(ctx, x, index, dim):
        # torch allows a smaller index outside dim: crop x to it (take_along_axis would broadcast)
        crop = tuple(slice(None) if d == dim else slice(0, n) for d, n in enumerate(index.shape))
        full = list(np.indices(index.shape, sparse=True))
        full[dim] = index
        ctx.shape, ctx.where = x.shape, tuple(full)
        return np.take_along_axis(x[crop], index, axis=dim)

    @staticmethod
    def backward(ctx, g):
        gx = np.zeros(ctx.shape, g.dtype)
        np.add.at(gx, ctx.where, g)                   # an index picked twice gets both gradients
        return gx, None


class Repeat(Function):
    """torch's ``repeat`` (numpy's ``tile``): the tensor is copied ``reps[d]`` times along d."""

    @staticmethod
    def forward(ctx, x, reps):
        ctx.in_shape, ctx.reps = x.shape, reps
        x = x.reshape((1,) * (len(reps) - x.ndim) + x.shape)   # extra leading dims, as torch
        ctx.shape = x.shape
        return np.tile(x, reps)

    @staticmethod
    def backward(ctx, g):
        # view g as (r0, s0, r1, s1, ...): copy k along dim d is g[..., k, :, ...]; sum them
        split = [n for r, s in zip(ctx.reps, ctx.shape) for n in (r, s)]
        gx = g.reshape(split).sum(axis=tuple(range(0, len(split), 2)))
        return gx.reshape(ctx.in_shape)


class PowTensor(Function):
    """``a ** b`` where the exponent is an array (both differentiable):
    d/da = b a^(b-1)  and  d/db = a^b log a (0 where a = 0 and b >= 0, as torch)."""

    @staticmethod
    def forward(ctx, a, b):
        try:
            out = np.power(a, b)
        except ValueError:
            raise _broadcast_error("pow", a, b) from None
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        zero = np.zeros((), out.dtype)
        ga = gb = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if need_a:
                ga = np.where(b == 0, zero, g * b * np.power(a, b - 1))   # d a^b / da
            if need_b:
                gb = np.where((a == 0) & (b >= 0), zero, g * out * np.log(a))  # d a^b / db
        return ga, gb


# --------------------------------------------------------------------- functions
def clone(x):
    """A copy with its own memory; gradients flow through it unchanged."""
    return Clone.apply(x)


def std(x, *args, **kwargs):
    """Standard deviation: ``sqrt(var(x, ...))`` with var's arguments (so the same divisor)."""
    return sqrt(var(x, *args, **kwargs))


def prod(x, dim=None, keepdim=False):
    return Prod.apply(x, axes=_axes(dim, x.ndim, "prod"), keepdim=keepdim)


def logsumexp(x, dim, keepdim=False):
    """log(sum(exp(x), dim)) without overflow (``dim`` is required, as in torch)."""
    return LogSumExp.apply(x, axes=_axes(dim, x.ndim, "logsumexp"), keepdim=keepdim)


def norm(x, p="fro", dim=None, keepdim=False):
    """Vector p-norm over ``dim`` (all elements by default); ``"fro"`` is p = 2."""
    if p == "fro":
        p = 2
    if isinstance(p, str) or isinstance(p, bool) or not isinstance(p, (int, float, np.number)):
        raise ValueError(f"norm: p must be a number, inf, -inf or 'fro', got {p!r} "
                         f"(matrix norms such as 'nuc' are not supported)")
    if p != p:
        raise ValueError("norm: p is NaN")
    return Norm.apply(x, p=float(p), axes=_axes(dim, x.ndim, "norm"), keepdim=keepdim)


def gather(x, dim, index):
    """torch.gather: pick along ``dim`` the elements ``index`` names (an int64 tensor)."""
    from ..tensor import Tensor
    idx = index.data if isinstance(index, Tensor) else np.asarray(index)
    (d,) = _axes(dim, x.ndim, "gather")
    if idx.dtype.kind not in "iu":
        raise TypeError(f"gather: index must be an integer tensor, got dtype {idx.dtype}")
    if idx.ndim != x.ndim or any(i > n for k, (i, n) in enumerate(zip(idx.shape, x.shape))
                                 if k != d):
        raise ValueError(f"gather: index of shape {idx.shape} must have the {x.ndim} dims of "
                         f"the input {x.shape} and no larger sizes outside dim {dim}")
    if idx.size and (idx.min() < -x.shape[d] or idx.max() >= x.shape[d]):
        raise IndexError(f"gather: index values must lie in [0, {x.shape[d] - 1}] for dim {dim} "
                         f"of a tensor of shape {x.shape}, got min {idx.min()} max {idx.max()}")
    return Gather.apply(x, index=idx, dim=d)


def repeat(x, *sizes):
    reps = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
    if len(reps) < x.ndim:
        raise ValueError(f"repeat: number of repeat dims {len(reps)} can not be smaller than "
                         f"the number of tensor dims {x.ndim} (shape {x.shape})")
    if any(not isinstance(r, (int, np.integer)) or r < 0 for r in reps):
        raise ValueError(f"repeat: repeats must be non-negative integers, got {reps}")
    return Repeat.apply(x, reps=tuple(int(r) for r in reps))


def split(x, split_size_or_sections, dim=0):
    """Pieces of ``x`` along ``dim``: of size ``split_size`` (the last one may be smaller), or of
    the sizes in a list.  Each piece is an indexing op, so gradients flow back to ``x``."""
    (d,) = _axes(dim, x.ndim, "split")
    n = x.shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size <= 0 and n:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [min(size, n - s) for s in range(0, n, size)] if n else [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise ValueError(f"split: sizes {sizes} must be non-negative and sum to the size "
                             f"{n} of dim {dim} (shape {x.shape})")
    pieces, start = [], 0
    for s in sizes:
        idx = (slice(None),) * d + (slice(start, start + s),)
        pieces.append(x[idx])
        start += s
    return tuple(pieces)


def chunk(x, chunks, dim=0):
    """``chunks`` pieces of size ceil(n / chunks) (fewer if they run out), as torch."""
    if not isinstance(chunks, (int, np.integer)) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive integer, got {chunks!r}")
    (d,) = _axes(dim, x.ndim, "chunk")
    n = x.shape[d]
    return split(x, max(-(-n // int(chunks)), 1), dim)


def pow_tensor(a, b):
    """``a ** b`` with a tensor (or array) exponent; ``a`` may be a number."""
    return PowTensor.apply(a, b)
