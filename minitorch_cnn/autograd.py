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

In-place operations (``x.add_(1)``, ``x[0] = 5``, ``w -= lr * w.grad``) are guarded by a *version
counter* per tensor (``Version``, shared by tensors that share memory: views and ``detach()``).
Each node records the versions of its inputs and output when it is created; if one has changed by
the time ``backward`` reaches the node and the node saved that memory, ``backward`` raises
instead of computing a wrong gradient (``check_versions``).  docs/autograd.md section 7.
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


class Version:
    """How many times a tensor's memory was modified in place (torch's ``t._version``).

    One object is shared by every tensor that views the same memory, so writing through any of
    them is seen by all; ``last_op`` names the most recent in-place op, for error messages.
    """
    __slots__ = ("value", "last_op")

    def __init__(self, value=0):
        self.value = value
        self.last_op = None

    def bump(self, op):
        self.value += 1
        self.last_op = op


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
        # set before forward: a forward may skip saving what no backward will read (Mul, Div,
        # Clip), and backward skips the gradients nobody wants
        ctx.needs_input_grad = needs if track else [False] * len(needs)
        arrays = [t.data if isinstance(t, Tensor) else t for t in inputs]
        out = Tensor._from_op(cls.forward(ctx, *arrays, **params), track)
        base = out.data.base
        if base is not None:               # the output views an input's memory (reshape, [a:b])
            for t in inputs:
                if isinstance(t, Tensor) and (t.data is base or t.data.base is base):
                    out._version, out._base = t._version, t     # share the counter, like torch
                    break
        if track:
            ctx.parents = inputs           # the engine follows only those with needs[i] True
            ctx.kwargs = params            # the op's settings (stride, dim, ...), for tools that
                                           # read the graph, like onnx.export
            # versions now, compared by check_versions when backward reaches this node
            ctx.versions = [t._version.value if isinstance(t, Tensor) else None
                            for t in inputs]
            ctx.out_version = out._version.value
            out._ctx = ctx
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


class GraphFreedError(RuntimeError):
    """The graph's links were dropped by an earlier backward (without ``retain_graph``)."""


def topological_order(root, every_input=False):
    """Tensors of ``root``'s graph, every tensor after all of its inputs.

    Depth-first search with an explicit stack: a tensor is pushed to be expanded (possibly more
    than once, if two users reach it before it is expanded; the ``seen`` set makes the extra
    pushes no-ops) and, when expanded, once more (``done=True``) to be emitted after its inputs.
    Linear in the graph size, and no recursion, so a chain of any length works.  Backward
    follows only the inputs that need a gradient; ``every_input=True`` follows every tensor
    input, first input expanded first (a picture of the graph shows the images and labels too).
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
                raise GraphFreedError(
                    "backward: trying to backward through the graph a second time (its saved "
                    "arrays were freed by the first backward); pass retain_graph=True to the "
                    "first call if you need to backward twice")
            if every_input:
                nxt = [p for p in reversed(parents) if isinstance(p, Tensor)]
            else:
                nxt = [p for p, need in zip(parents, ctx.needs_input_grad) if need]
            for p in nxt:
                if id(p) not in seen:
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
            # copy: g may be a read-only broadcast view, or shared with another input;
            # np.add(..., out=) keeps a 0-d gradient an ndarray (a + b would give a numpy scalar)
            t.grad = g.copy() if t.grad is None else np.add(t.grad, g, out=np.empty_like(t.grad))
        if ctx is None:
            continue
        if t._version.value != ctx.out_version or True in [
                v is not None and p._version.value != v
                for p, v in zip(ctx.parents, ctx.versions)]:
            check_versions(ctx, t)                # something was modified in place: is it ok?
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
            grads[key] = pg if key not in grads else np.add(grads[key], pg,
                                                            out=np.empty_like(pg))
        if not retain_graph:
            ctx.__dict__.clear()                  # drop saved arrays and links to inputs


def _arrays(obj):
    """Every ndarray a node keeps (its saved tuple and plain attributes), for the alias test."""
    for v in obj:
        if isinstance(v, np.ndarray):
            yield v
        elif isinstance(v, (tuple, list)):
            yield from _arrays(v)


def saves_memory_of(ctx, array):
    """True if ``ctx`` keeps an array that may share memory with ``array``."""
    return any(np.may_share_memory(a, array) for a in _arrays(vars(ctx).values()))


def check_versions(ctx, out):
    """Called by ``run_backward`` when a tensor around ``ctx`` changed version since the node was
    made.  Two cases make the gradient wrong, and raise:

    1. the node *saved* that tensor's memory (Mul saves both factors, Exp its output): its
       backward would read the new values -- torch's "modified by an inplace operation";
    2. an input was modified by a *recorded* in-place op after this node used it: the tensor now
       stands for its new value (its ``grad_fn`` is the in-place op), so the gradient this node
       sends to it would flow through the wrong history.

    Otherwise (say Add, which saves nothing, or a change made under ``no_grad`` to a tensor
    routed unchanged) the gradient is still right and nothing is raised.
    """
    op = type(ctx).__name__
    named = [(out, ctx.out_version, f"the output of {op}")]
    named += [(p, v, f"input {i} of {op}") for i, (p, v) in enumerate(zip(ctx.parents,
                                                                            ctx.versions))
              if v is not None]
    for t, then, role in named:
        now = t._version.value
        if now == then:
            continue
        by = t._version.last_op or "an in-place operation"
        if saves_memory_of(ctx, t.data):
            raise RuntimeError(
                f"backward: one of the arrays needed for gradient computation has been modified "
                f"by an in-place operation ({by}): the tensor of shape {t.shape}, {role}, is at "
                f"version {now}; expected version {then} instead. Modify a clone() instead, or "
                f"do the in-place op before the tensor is used.")
        rebased_at = getattr(t._ctx, "rebased_at", None)
        if t is not out and rebased_at is not None and rebased_at >= then:
            raise RuntimeError(
                f"backward: the tensor of shape {t.shape}, {role}, was modified by a recorded "
                f"in-place operation ({by}, version {then} -> {now}) after {op} used it; "
                f"its gradient would flow through the new value's history. Not supported "
                f"here: use y = y.clone() before the in-place op, or an out-of-place op.")


Tensor = None   # set by tensor.py once the class exists (the two modules need each other)
