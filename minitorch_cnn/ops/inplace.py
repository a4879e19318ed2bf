"""In-place operations: ``x.add_(y)``, ``x[idx] = v``, ``w -= lr * g`` ... with autograd's checks.

An in-place op overwrites ``x.data`` in its own memory (so views, ``detach()`` and ``numpy()``
of x see the new values) and bumps x's version counter.  ``inplace`` below is the one mechanism
all of them share:

* **not recorded** (inside ``no_grad``, or nothing involved requires grad): compute the new value,
  check its shape and dtype fit x, write it into x's memory, bump the version.  This is the
  optimiser's and the initialiser's path (``with no_grad(): w -= lr * w.grad``).
* **a leaf that requires grad, outside no_grad**: an error (as torch): its ``.grad`` would be the
  gradient of a value that no longer exists.
* **recorded** (x is in a graph, or the value requires grad): x's old history moves to a new
  tensor ``old`` (same memory, same version counter: it *is* the old value), the out-of-place op
  computes ``new = f(old, ...)`` as a normal node, its values are written into x's memory and x
  becomes that node's output (``x.grad_fn`` is now, say, ``Add``).  So ``y = x * 2; y[0] = 0``
  followed by ``y.sum().backward()`` gives x.grad = 2 except 0 where y was overwritten.
  If ``f`` needs old's values in its backward (``mul_``), it gets a private copy of them first.
  In-place on a *view* (the output of reshape or basic indexing) is refused while recording: its
  base tensor's history would have to change too, which this engine does not do.

Everything a backward will read is protected by versions: see ``autograd.check_versions``.
"""
import numpy as np

from .. import autograd
from ..autograd import Function, no_grad


class SetItem(Function):
    """``out = x`` with ``out[idx] = v``: the overwritten elements pass no gradient to x, and v
    receives the gradient of the elements it wrote (with numpy's broadcasting)."""

    @staticmethod
    def forward(ctx, x, v, idx):
        out = np.array(x, copy=True)
        try:
            out[idx] = v
        except (ValueError, IndexError) as e:
            raise type(e)(f"setitem on a tensor of shape {x.shape} with a value of shape "
                          f"{np.shape(v)}: {e}") from None
        ctx.idx, ctx.v_shape = idx, np.shape(v)
        return out

    @staticmethod
    def backward(ctx, g):
        need_x, need_v = ctx.needs_input_grad
        gx = gv = None
        if need_x:
            gx = np.array(g, copy=True)
            gx[ctx.idx] = 0                                  # overwritten: no path back to x
        if need_v:
            picked = g[ctx.idx]
            # with repeated (advanced) indices only the last write survives, as in the forward
            winner = np.full(g.shape, -1, np.int64)
            ids = np.arange(picked.size).reshape(picked.shape)
            winner[ctx.idx] = ids
            gv = picked * (winner[ctx.idx] == ids)
            lead = len(ctx.v_shape) - gv.ndim                # v may carry extra leading 1s
            if lead > 0:
                gv = gv.reshape((1,) * lead + gv.shape)
        return gx, gv


class Fill(Function):
    """Every element set to ``value`` (``zero_``, ``fill_``): no gradient to the old values."""

    @staticmethod
    def forward(ctx, x, value):
        return np.full_like(x, value)

    @staticmethod
    def backward(ctx, g):
        return np.zeros_like(g), None


class Copy(Function):
    """``x.copy_(src)``: the values of ``src`` (broadcast to x's shape); x's old values get no
    gradient, ``src`` gets the upstream gradient."""

    @staticmethod
    def forward(ctx, x, src):
        try:
            return np.array(np.broadcast_to(src, x.shape), dtype=x.dtype)
        except ValueError:
            raise ValueError(f"copy_: source of shape {np.shape(src)} cannot be broadcast to "
                             f"the tensor's shape {x.shape}") from None

    @staticmethod
    def backward(ctx, g):
        return np.zeros_like(g), g                           # the engine unbroadcasts src's


def _requires_grad(v):
    return isinstance(v, autograd.Tensor) and v.requires_grad


def inplace(x, op, fn, *args):
    """Make ``x`` hold ``fn(x, *args)``, in its own memory; ``op`` names it in errors."""
    Tensor = autograd.Tensor
    record = autograd.is_grad_enabled() and (x.requires_grad or any(map(_requires_grad, args)))
    if record and x.is_leaf and x.requires_grad:
        raise RuntimeError(
            f"{op}: a leaf tensor that requires grad (shape {x.shape}) is being used in an "
            f"in-place operation; do it inside `with mt.no_grad():` (as optimisers update "
            f"weights), or on a clone()")
    if not record:
        with no_grad():
            new = fn(x, *args)
        _write(x, new.data, op)
        return x
    if x._base is not None:
        raise RuntimeError(
            f"{op}: in-place operation on a view (shape {x.shape}) of another tensor (shape "
            f"{x._base.shape}) while recording a graph is not supported; its base would need a "
            f"new history too. Use x = x.clone() first, or an out-of-place op.")
    old = Tensor._from_op(x.data, x.requires_grad)           # the old value, and its history
    old._ctx, old._version = x._ctx, x._version
    new = fn(old, *args)
    if autograd.saves_memory_of(new._ctx, x.data):           # f's backward reads old values:
        old.data = x.data.copy()                             # give it its own copy of them
        new = fn(old, *args)
        old.data = x.data
    before = x._version.value
    _write(x, new.data, op)
    node = new._ctx
    if node is None:                                         # fn recorded nothing after all
        return x
    node.rebased_at, node.out_version = before, x._version.value
    x._ctx, x._requires_grad = node, True
    return x


def _write(x, values, op):
    """Copy ``values`` into x's memory after checking that they fit, then bump the version."""
    values = np.asarray(values)
    if values.shape != x.shape:
        raise RuntimeError(f"{op}: the result has shape {values.shape}, which does not match the "
                           f"tensor's shape {x.shape} (an in-place op cannot broadcast its "
                           f"output)")
    if not np.can_cast(values.dtype, x.dtype, casting="same_kind"):
        raise RuntimeError(f"{op}: result type {values.dtype} can't be cast to the tensor's "
                           f"dtype {x.dtype}")
    if not x.data.flags.writeable:
        raise RuntimeError(f"{op}: the tensor's memory is read-only (a broadcast view made by "
                           f"expand?); clone() it first")
    if values is not x.data:                                 # (an op may write in place itself)
        np.copyto(x.data, values, casting="same_kind")
    x._version.bump(op)


def setitem(x, idx, value):
    """``x[idx] = value``."""
    from .shape import _index
    idx = _index(idx)
    if not (autograd.is_grad_enabled() and (x.requires_grad or _requires_grad(value))):
        v = value.data if isinstance(value, autograd.Tensor) else value
        if not x.data.flags.writeable:
            raise RuntimeError("setitem: the tensor's memory is read-only (a broadcast view "
                               "made by expand?); clone() it first")
        try:
            x.data[idx] = v
        except (ValueError, IndexError) as e:
            raise type(e)(f"setitem on a tensor of shape {x.shape}: {e}") from None
        x._version.bump("setitem")
        return x
    return inplace(x, "setitem", lambda t, v: SetItem.apply(t, v, idx=idx), value)
