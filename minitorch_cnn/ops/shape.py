"""Shape ops: reshape, permute, transpose, flatten, squeeze, unsqueeze, expand, cat, stack, pad,
and indexing.  None of them does arithmetic; their backward only moves gradients back to where
each element came from."""
import numpy as np

from ..autograd import Function


def _shape_args(shape):
    """Accept ``f(2, 3)`` and ``f((2, 3))`` alike."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} "
                             f"({x.size} elements) into {shape}") from None

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape)


class Permute(Function):
    @staticmethod
    def forward(ctx, x, dims):
        if sorted(d % max(x.ndim, 1) for d in dims) != list(range(x.ndim)):
            raise ValueError(f"permute: dims {dims} are not a permutation of the {x.ndim} axes "
                             f"of a tensor of shape {x.shape}")
        ctx.dims = dims
        return np.transpose(x, dims)

    @staticmethod
    def backward(ctx, g):
        return np.transpose(g, np.argsort([d % g.ndim for d in ctx.dims]))  # inverse permutation


class Expand(Function):
    @staticmethod
    def forward(ctx, x, shape):
        lead = len(shape) - x.ndim
        if lead < 0:
            raise ValueError(f"expand: target {shape} has fewer dims than the tensor {x.shape}")
        full = tuple(x.shape[i - lead] if n == -1 else n for i, n in enumerate(shape))
        try:
            return np.broadcast_to(x, full)
        except ValueError:
            raise ValueError(f"expand: cannot expand shape {x.shape} to {shape} (only size-1 "
                             f"dims can grow)") from None

    @staticmethod
    def backward(ctx, g):
        return g                                       # the engine's unbroadcast sums the copies


class Cat(Function):
    @staticmethod
    def forward(ctx, *xs, dim):
        ctx.splits = np.cumsum([x.shape[dim] for x in xs])[:-1]
        ctx.dim = dim
        return np.concatenate(xs, axis=dim)

    @staticmethod
    def backward(ctx, g):
        return tuple(np.split(g, ctx.splits, axis=ctx.dim))


class Stack(Function):
    @staticmethod
    def forward(ctx, *xs, dim):
        ctx.dim = dim
        return np.stack(xs, axis=dim)

    @staticmethod
    def backward(ctx, g):
        return tuple(np.moveaxis(g, ctx.dim, 0))


class Pad(Function):
    @staticmethod
    def forward(ctx, x, widths, value):
        ctx.crop = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, x.shape))
        return np.pad(x, widths, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, g):
        return g[ctx.crop]                             # the padding gets no gradient


class GetItem(Function):
    @staticmethod
    def forward(ctx, x, idx):
        ctx.shape, ctx.dtype, ctx.idx = x.shape, x.dtype, idx
        try:
            return x[idx]
        except IndexError as e:
            raise IndexError(f"indexing a tensor of shape {x.shape}: {e}") from None

    @staticmethod
    def backward(ctx, g):
        gx = np.zeros(ctx.shape, ctx.dtype)
        # add.at, not ``gx[idx] += g``: an element picked twice must receive both gradients
        np.add.at(gx, ctx.idx, g)
        return gx


# --------------------------------------------------------------------- functions
def reshape(x, *shape):
    return Reshape.apply(x, shape=_shape_args(shape))


view = reshape


def permute(x, *dims):
    return Permute.apply(x, dims=_shape_args(dims))


def transpose(x, dim0, dim1):
    dims = list(range(x.ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return Permute.apply(x, dims=tuple(dims))


def flatten(x, start_dim=0, end_dim=-1):
    """Merge dims ``start_dim..end_dim`` into one (C, H, W order is kept: row-major)."""
    if x.ndim == 0:
        return reshape(x, 1)
    s, e = start_dim % x.ndim, end_dim % x.ndim
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    return reshape(x, *x.shape[:s], -1, *x.shape[e + 1:])


def squeeze(x, dim=None):
    """Remove size-1 dims (all of them, or those in ``dim``; a non-1 dim is left, like torch)."""
    if dim is None:
        dims = [i for i, n in enumerate(x.shape) if n == 1]
    else:
        dims = [d % x.ndim for d in ((dim,) if isinstance(dim, int) else dim)
                if x.shape[d] == 1]
    return reshape(x, *[n for i, n in enumerate(x.shape) if i not in dims])


def unsqueeze(x, dim):
    d = dim % (x.ndim + 1)
    return reshape(x, *x.shape[:d], 1, *x.shape[d:])


def expand(x, *shape):
    return Expand.apply(x, shape=_shape_args(shape))


def cat(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    shapes = [np.shape(t.data if hasattr(t, "data") else t) for t in tensors]
    ndim = len(shapes[0])
    d = dim % ndim
    for s in shapes:
        if len(s) != ndim or s[:d] + s[d + 1:] != shapes[0][:d] + shapes[0][d + 1:]:
            raise ValueError(f"cat: all shapes must match except in dim {dim}, got {shapes}")
    return Cat.apply(*tensors, dim=d)


def stack(tensors, dim=0):
    tensors = list(tensors)
    shapes = [np.shape(t.data if hasattr(t, "data") else t) for t in tensors]
    if not tensors or any(s != shapes[0] for s in shapes):
        raise ValueError(f"stack: expected a non-empty list of equal shapes, got {shapes}")
    return Stack.apply(*tensors, dim=dim % (len(shapes[0]) + 1))


def pad(x, pad, mode="constant", value=0.0):
    """Constant padding with torch's ``pad`` convention: pairs from the *last* dim backwards,
    e.g. ``(left, right, top, bottom)`` pads W then H of an NCHW tensor."""
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is supported, got {mode!r}")
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: expected an even number of at most {2 * x.ndim} widths for a "
                         f"{x.ndim}-D tensor, got {tuple(pad)}")
    if any(p < 0 for p in pad):
        raise ValueError(f"pad: negative widths are not supported, got {tuple(pad)}")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return Pad.apply(x, widths=tuple(widths), value=value)


def _index(idx):
    """Tensors inside an index become arrays; lists become integer/boolean arrays."""
    from ..tensor import Tensor
    if isinstance(idx, tuple):
        return tuple(_index(i) for i in idx)
    if isinstance(idx, Tensor):
        return idx.data
    if isinstance(idx, list):
        return np.asarray(idx)
    return idx


def getitem(x, idx):
    return GetItem.apply(x, idx=_index(idx))
