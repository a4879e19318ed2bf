"""The reverse-mode engine: ``Function``, the backward pass and ``no_grad``.

How it works, in four sentences:

1. Every differentiable operation is a ``Function`` subclass with a static ``forward`` and
   ``backward`` working on plain numpy arrays.  ``Function.apply`` runs ``forward`` and, when a
   gradient will be needed, records the op instance (the *node*, also called ``ctx``) on the output
   tensor as ``tensor._ctx``.  The node remembers its input tensors (``ctx.parents``), its keyword
   settings (``ctx.kwargs``: stride, dim, ...; a graph reader such as ``onnx.export`` needs them)
   and whatever arrays ``backward`` will need (``ctx.saved``) -- nothing else.
2. ``Tensor.backward`` walks the graph once to order the nodes topologically (an explicit stack,
   not recursion: a chain of 100,000 ops is fine) and then visits them from the output back to the
   leaves, calling each node's ``backward`` with the gradient of its output.
3. ``backward`` may return a gradient with the *broadcast* shape of the forward computation; the
   engine sums it back to each input's shape in one place, ``unbroadcast``.
4. Once a node has passed its gradient on, its saved arrays and its links to the inputs are
   dropped (unless ``retain_graph=True``), so memory is freed during the backward pass itself.
"""
import functools

import numpy as np

_grad_enabled = True


def is_grad_enabled():
    """True unless we are inside ``no_grad``."""
    return _grad_enabled


class no_grad:
    """Context manager and decorator: nothing computed inside records a graph.

    >>> with no_grad():
    ...     y = x * 2          # y.requires_grad is False
    """

    def __enter__(self):
        global _grad_enabled
        self._prev = _grad_enabled
        _grad_enabled = False
        return self

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._prev        # restore, even if the block raised
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with no_grad():
                return fn(*args, **kwargs)
        return wrapper


class Function:
    """Base class of every differentiable op.

    Subclasses define two static methods on plain ndarrays::

        forward(ctx, *arrays, **params) -> ndarray
        backward(ctx, grad)             -> one gradient per positional input (a tuple if several)

    ``ctx`` is the node itself: ``forward`` stores on it what ``backward`` needs, either with
    ``ctx.save_for_backward(...)`` (read back as ``ctx.saved``) or as plain attributes.
    ``ctx.needs_input_grad[i]`` tells ``backward`` whether input ``i`` wants a gradient, so it can
    skip work (a conv's input gradient, say, when the input is the image).  Return ``None`` for an
    input that gets no gradient.
    """

    def save_for_backward(self, *arrays):
        self.saved = arrays

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **params):
        """Run the op on ``inputs`` (Tensors, arrays or numbers) and record it if needed."""
        ctx = cls()
        needs = [isinstance(t, Tensor) and t._requires_grad for t in inputs]
        track = _grad_enabled and True in needs
        # set before forward; backward reads it to skip unwanted gradients (no forward uses it yet)
        ctx.needs_input_grad = needs if track else [False] * len(needs)
        arrays = [t.data if isinstance(t, Tensor) else t for t in inputs]
        out = Tensor._from_op(cls.forward(ctx, *arrays, **params), track)
        if track:
            ctx.parents = inputs           # the engine follows only those with needs[i] True
            ctx.kwargs = params            # the op's settings (stride, dim, ...), for tools that
            out._ctx = ctx                 # read the graph, like onnx.export
        return out

    def __repr__(self):
        return f"<{type(self).__name__}>"


def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``: the adjoint of numpy broadcasting.

    If ``x`` of shape (3, 1) was broadcast to (2, 3, 4) in the forward pass, each of its elements
    was used 2*4 times, so its gradient is the sum over those copies: sum away the leading axes
    that broadcasting added, then sum (keeping the axis) every axis where ``shape`` has a 1.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    if grad.shape != tuple(shape):
        raise RuntimeError(f"internal error: gradient of shape {grad.shape} cannot be summed "
                           f"to its input's shape {tuple(shape)}")
    return grad


def topological_order(root):
    """Tensors of ``root``'s graph, every tensor after all of its inputs.

    Depth-first search with an explicit stack: a tensor is pushed to be expanded (possibly more
    than once, if two users reach it before it is expanded; the ``seen`` set makes the extra
    pushes no-ops) and, when expanded, once more (``done=True``) to be emitted after its inputs.
    Linear in the graph size, and no recursion, so a chain of any length works.
    """
    order, seen = [], set()
    stack = [(root, False)]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        ctx = t._ctx
        if ctx is not None:
            parents = getattr(ctx, "parents", None)
            if parents is None:
                raise RuntimeError(
                    "backward: trying to backward through the graph a second time (its saved "
                    "arrays were freed by the first backward); pass retain_graph=True to the "
                    "first call if you need to backward twice")
            for p, need in zip(parents, ctx.needs_input_grad):
                if need and id(p) not in seen:
                    stack.append((p, False))
    return order


def run_backward(root, grad, retain_graph=False):
    """Propagate ``grad`` (d out / d root) from ``root`` to every leaf that requires grad."""
    order = topological_order(root)
    grads = {id(root): grad}
    for t in reversed(order):                     # outputs first, leaves last
        g = grads.pop(id(t), None)
        if g is None:
            continue
        ctx = t._ctx
        if ctx is None or t._retains_grad:        # a leaf, or a tensor that asked to keep it
            # copy: g may be a read-only broadcast view, or shared with another input
            t.grad = g.copy() if t.grad is None else t.grad + g
        if ctx is None:
            continue
        in_grads = ctx.backward(ctx, g)     # (a staticmethod: pass the node as ctx)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        for p, need, pg in zip(ctx.parents, ctx.needs_input_grad, in_grads):
            if not need or pg is None:
                continue
            pg = unbroadcast(np.asarray(pg), p.data.shape)
            if pg.dtype != p.data.dtype:
                pg = pg.astype(p.data.dtype)
            key = id(p)
            # never add in place: a backward may hand the same array to two inputs
            grads[key] = pg if key not in grads else grads[key] + pg
        if not retain_graph:
            ctx.__dict__.clear()                  # drop saved arrays and links to inputs


Tensor = None   # set by tensor.py once the class exists (the two modules need each other)
