"""Shape ops: reshape, permute, transpose, flatten, squeeze, unsqueeze, expand, cat, stack, pad,
and indexing.  None of them does arithmetic; their backward only moves gradients back to where
each element came from."""
import numpy as np

from ..autograd import Function
from ..kernels.shape import concatenate
from .dtypes import dim_index, is_int


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
        if len(dims) != x.ndim or sorted(dims) != list(range(x.ndim)):
            raise ValueError(f"permute: dims {dims} are not a permutation of the {x.ndim} axes "
                             f"of a tensor of shape {x.shape}")
        ctx.dims = dims
        return np.transpose(x, dims)

    @staticmethod
    def backward(ctx, g):
        return np.transpose(g, np.argsort(ctx.dims))     # the inverse permutation


class Expand(Function):
    @staticmethod
    def forward(ctx, x, shape):
        lead = len(shape) - x.ndim
        if lead < 0:
            raise ValueError(f"expand: target {shape} has fewer dims than the tensor {x.shape}")
        if -1 in shape[:lead]:
            raise ValueError(f"expand: -1 (keep the size) is not allowed for the new leading "
                             f"dims of {shape}; the tensor has shape {x.shape}")
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
        return concatenate(xs, dim)

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
    """``x[idx]`` with numpy's rules; ``getitem`` below reorders the index to torch's rules."""

    @staticmethod
    def forward(ctx, x, idx, basic):
        ctx.shape, ctx.dtype, ctx.idx, ctx.basic = x.shape, x.dtype, idx, basic
        try:
            return x[idx]
        except IndexError as e:
            raise IndexError(f"indexing a tensor of shape {x.shape}: {e}") from None

    @staticmethod
    def backward(ctx, g):
        gx = np.zeros(ctx.shape, ctx.dtype)
        if ctx.basic:                     # ints and slices pick each element at most once
            gx[ctx.idx] = g
        else:
            # add.at, not ``gx[idx] += g``: an element picked twice must receive both gradients
            np.add.at(gx, ctx.idx, g)
        return gx


# --------------------------------------------------------------------- functions
def reshape(x, *shape):
    return Reshape.apply(x, shape=_shape_args(shape))


view = reshape


def permute(x, *dims):
    dims = tuple(dim_index(d, x.ndim, "permute") for d in _shape_args(dims))
    return Permute.apply(x, dims=dims)


def transpose(x, dim0, dim1):
    d0, d1 = dim_index(dim0, x.ndim, "transpose"), dim_index(dim1, x.ndim, "transpose")
    dims = list(range(x.ndim))
    if x.ndim:                                         # (a 0-d tensor is its own transpose)
        dims[d0], dims[d1] = dims[d1], dims[d0]
    return Permute.apply(x, dims=tuple(dims))


def flatten(x, start_dim=0, end_dim=-1):
    """Merge dims ``start_dim..end_dim`` into one (C, H, W order is kept: row-major)."""
    s, e = dim_index(start_dim, x.ndim, "flatten"), dim_index(end_dim, x.ndim, "flatten")
    if x.ndim == 0:
        return reshape(x, 1)
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    # the merged size spelt out, not -1: numpy cannot infer -1 when another dim is 0 (N = 0)
    merged = int(np.prod(x.shape[s:e + 1]))
    return reshape(x, *x.shape[:s], merged, *x.shape[e + 1:])


def squeeze(x, dim=None):
    """Remove size-1 dims (all of them, or those in ``dim``; a non-1 dim is left, like torch)."""
    if dim is None:
        dims = [i for i, n in enumerate(x.shape) if n == 1]
    else:
        dims = [dim_index(d, x.ndim, "squeeze")
                for d in ((dim,) if isinstance(dim, (int, np.integer)) else dim)]
        dims = [d for d in dims if x.ndim and x.shape[d] == 1]
    return reshape(x, *[n for i, n in enumerate(x.shape) if i not in dims])


def unsqueeze(x, dim):
    d = dim_index(dim, x.ndim, "unsqueeze", new=True)
    return reshape(x, *x.shape[:d], 1, *x.shape[d:])


def expand(x, *shape):
    return Expand.apply(x, shape=_shape_args(shape))


def cat(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    shapes = [np.shape(t.data if hasattr(t, "data") else t) for t in tensors]
    ndim = len(shapes[0])
    if ndim == 0:
        raise ValueError("cat: 0-d tensors cannot be concatenated (stack them instead)")
    d = dim_index(dim, ndim, "cat")
    for s in shapes:
        if len(s) != ndim or s[:d] + s[d + 1:] != shapes[0][:d] + shapes[0][d + 1:]:
            raise ValueError(f"cat: all shapes must match except in dim {dim}, got {shapes}")
    return Cat.apply(*tensors, dim=d)


def stack(tensors, dim=0):
    tensors = list(tensors)
    shapes = [np.shape(t.data if hasattr(t, "data") else t) for t in tensors]
    if not tensors or any(s != shapes[0] for s in shapes):
        raise ValueError(f"stack: expected a non-empty list of equal shapes, got {shapes}")
    return Stack.apply(*tensors, dim=dim_index(dim, len(shapes[0]), "stack", new=True))


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


def _index(idx, top=True):
    """Tensors inside an index become arrays; lists become integer/boolean arrays; a 0-d integer
    array becomes an int (torch reads it as one)."""
    from ..tensor import Tensor
    if isinstance(idx, tuple) and top:
        return tuple(_index(i, False) for i in idx)
    if isinstance(idx, Tensor):
        idx = idx.data
    if isinstance(idx, (list, tuple)):
        idx = np.asarray(idx)
    if isinstance(idx, np.ndarray) and idx.ndim == 0 and idx.dtype.kind in "iu":
        return int(idx)
    return idx


def _torch_order(idx):
    """Split an index that mixes integers with advanced (array) indices into two steps.

    numpy counts an integer as an advanced index too, so in ``x[0, :, [0, 2]]`` the two are
    "separated by a slice" and numpy puts the advanced result dim first: (2, 4, 6) for a
    (3, 4, 5, 6) input.  torch applies integers first, like basic indexing, and then only the
    arrays are advanced: (4, 2, 6).  We do the same: step 1 takes the integers (and slices,
    None, ...), step 2 the arrays on what is left.  Returns None when one numpy step agrees.
    """
    if not isinstance(idx, tuple):
        return None
    if not any(is_int(i) for i in idx) or not any(isinstance(i, np.ndarray) for i in idx):
        return None
    first, second = [], []
    for i in idx:
        if isinstance(i, np.ndarray):             # an array: keep its dims whole for step 2
            first.extend([slice(None)] * (i.ndim if i.dtype == bool else 1))
            second.append(i)
        elif is_int(i):                          # an integer: removes its dim in step 1
            first.append(i)
        else:                                     # slice, None or Ellipsis
            first.append(i)
            second.append(Ellipsis if i is Ellipsis else slice(None))
    return tuple(first), tuple(second)


def _basic(idx):
    parts = idx if isinstance(idx, tuple) else (idx,)
    return not any(isinstance(i, (np.ndarray, bool, np.bool_)) for i in parts)


def _drop_empty_ellipsis(idx, ndim):
    """Remove an Ellipsis that stands for no dims: numpy counts it as separating the advanced
    indices around it (``x[[0, 1], ..., [0, 1]]`` of a 2-D x), torch does not."""
    if not isinstance(idx, tuple) or not any(i is Ellipsis for i in idx):
        return idx
    used = sum(i.ndim if isinstance(i, np.ndarray) and i.dtype == bool else 1
               for i in idx if i is not None and i is not Ellipsis)
    return tuple(i for i in idx if i is not Ellipsis) if used == ndim else idx


def getitem(x, idx):
    """``x[idx]`` with torch's rules (see ``_torch_order``); differentiable."""
    idx = _drop_empty_ellipsis(_index(idx), x.ndim)
    steps = _torch_order(idx)
    if steps is None:
        return GetItem.apply(x, idx=idx, basic=_basic(idx))
    first, second = steps
    y = GetItem.apply(x, idx=first, basic=True)
    return GetItem.apply(y, idx=_drop_empty_ellipsis(second, y.ndim), basic=False)
