"""``Tensor``: a numpy array plus the bookkeeping reverse-mode autograd needs.

A tensor holds

* ``data``  -- the ndarray (float32 by default; float64 is kept, which is how gradients are checked);
* ``grad``  -- an ndarray of the same shape, filled in by ``backward`` (``None`` before);
* ``requires_grad`` -- whether gradients flow to it;
* ``_ctx``  -- the op (a ``Function`` node) that created it, ``None`` for a leaf;
* ``_version`` -- an ``autograd.Version`` counting in-place writes (shared with views of it), and
  ``_base`` -- the tensor whose memory it views, or ``None`` (see the in-place block below).

The arithmetic lives in ``minitorch_cnn.ops``; each method below is one line that calls it, so a
reader finds every op's forward and backward in one place.
"""
import numpy as np

from . import autograd

_FLOATS = (np.float16, np.float32, np.float64)


def _as_array(data, dtype=None):
    """Convert user input to an ndarray with minitorch's dtype rules.

    Python floats and float lists become float32 (like torch); a float ndarray or numpy scalar
    keeps its dtype (float64 for gradient checks; float16 is kept too, though nothing here is
    tuned for it); integers and booleans keep an integer/bool dtype (labels, indices); anything
    else numeric becomes float32.
    """
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        if np.iscomplexobj(data):
            raise TypeError(f"tensor(): complex data cannot be converted to {np.dtype(dtype)}; "
                            f"pass the real part (x.real) or the magnitude (abs(x)) explicitly")
        return np.asarray(data, dtype=dtype)
    arr = np.asarray(data)
    if arr.dtype.kind == "f":
        if isinstance(data, np.ndarray) or isinstance(data, np.generic):
            return arr if arr.dtype in _FLOATS else arr.astype(np.float32)
        return arr.astype(np.float32)        # Python floats / lists: float32 like torch
    if arr.dtype.kind in "iub":
        return arr                          # labels, indices, masks
    if arr.dtype == object:
        raise TypeError(f"tensor(): cannot make a tensor from {type(data).__name__} "
                        f"(ragged list or non-numeric data?)")
    if arr.dtype.kind == "c":
        raise TypeError(f"tensor(): complex data ({arr.dtype}) is not supported; pass the real "
                        f"part (x.real) or the magnitude (abs(x)) explicitly")
    return arr.astype(np.float32)


class Tensor:
    """An n-dimensional array that can record the operations applied to it."""

    __slots__ = ("data", "grad", "_requires_grad", "_ctx", "_retains_grad", "_version", "_base",
                 "__weakref__")
    __array_priority__ = 1000          # so ``ndarray * Tensor`` calls Tensor.__rmul__

    def __init__(self, data, requires_grad=False, dtype=None):
        self.data = _as_array(data, dtype)
        self.grad = None
        self._ctx = None
        self._retains_grad = False
        self._requires_grad = False
        self._version, self._base = autograd.Version(), None
        self.requires_grad = requires_grad

    @classmethod
    def _from_op(cls, data, requires_grad):
        """Fast constructor for op outputs (the array is already right)."""
        t = cls.__new__(cls)
        t.data = data if isinstance(data, np.ndarray) else np.asarray(data)
        t.grad = None
        t._ctx = None
        t._retains_grad = False
        t._requires_grad = requires_grad
        t._version, t._base = autograd.Version(), None
        return t

    # ----------------------------------------------------------------- attributes
    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        if flag and self.data.dtype.kind not in "fc":
            raise TypeError(f"requires_grad: only floating-point tensors can require gradients, "
                            f"got dtype {self.data.dtype} (integer tensors hold labels and indices)")
        self._requires_grad = bool(flag)

    @property
    def is_leaf(self):
        return self._ctx is None

    @property
    def grad_fn(self):
        return self._ctx

    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)

    def numel(self):
        return self.data.size

    def __len__(self):
        return len(self.data)

    def numpy(self):
        return self.data

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted to a Python "
                             f"number, this one has shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def detach(self):
        """The same data, cut from the graph (shares memory, like torch)."""
        t = Tensor._from_op(self.data, False)
        t._version = self._version            # same memory, same counter (as torch)
        return t

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad(): the tensor does not require grad")
        self._retains_grad = True
        return self

    def requires_grad_(self, flag=True):
        self.requires_grad = flag
        return self

    def to(self, dtype):
        """This tensor as ``dtype``: itself if it already is (like torch); a cast between float
        dtypes is differentiable, a cast to an integer or bool dtype is not."""
        return ops.cast(self, dtype)

    astype = to
    float = lambda self: ops.cast(self, np.float32)      # noqa: E731
    double = lambda self: ops.cast(self, np.float64)     # noqa: E731
    half = lambda self: ops.cast(self, np.float16)       # noqa: E731
    long = lambda self: ops.cast(self, np.int64)         # noqa: E731

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", precision=4, prefix="tensor(")
        extra = ""
        if self.data.dtype != np.float32:
            extra += f", dtype={self.data.dtype}"
        if self._ctx is not None:
            extra += f", grad_fn={type(self._ctx).__name__}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __hash__(self):
        return id(self)

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor with {self.data.size} elements is "
                             f"ambiguous; use .any() or .all()")
        return bool(self.data)

    # ----------------------------------------------------------------- autograd
    def backward(self, grad=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        ``grad`` is the upstream gradient (d loss / d self); it may be omitted for a scalar.
        """
        if not self.requires_grad:
            raise RuntimeError("backward(): this tensor does not require grad and has no graph "
                               "(did you compute it under no_grad, or forget requires_grad=True?)")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward(): grad can be implicitly created only for scalar "
                                   f"outputs; this output has shape {self.shape}, pass "
                                   f"grad=<array of that shape>")
            grad = np.ones_like(self.data)
        else:
            grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad,
                              dtype=self.data.dtype)
            if grad.shape != self.shape:
                raise ValueError(f"backward(): grad has shape {grad.shape} but the output has "
                                 f"shape {self.shape}")
        autograd.run_backward(self, grad, retain_graph)

    # ----------------------------------------------------------------- arithmetic
    def __add__(self, o): return ops.add(self, o)
    def __radd__(self, o): return ops.add(o, self)
    def __sub__(self, o): return ops.sub(self, o)
    def __rsub__(self, o): return ops.sub(o, self)
    def __mul__(self, o): return ops.mul(self, o)
    def __rmul__(self, o): return ops.mul(o, self)
    def __truediv__(self, o): return ops.div(self, o)
    def __rtruediv__(self, o): return ops.div(o, self)
    def __pow__(self, o): return ops.pow(self, o)
    def __neg__(self): return ops.neg(self)
    def __matmul__(self, o): return ops.matmul(self, o)
    def __rmatmul__(self, o): return ops.matmul(o, self)
    def __getitem__(self, idx): return ops.getitem(self, idx)
    def add(self, o): return ops.add(self, o)
    def sub(self, o): return ops.sub(self, o)
    def mul(self, o): return ops.mul(self, o)
    def div(self, o): return ops.div(self, o)
    def pow(self, p): return ops.pow(self, p)
    def neg(self): return ops.neg(self)
    def matmul(self, o): return ops.matmul(self, o)

    # comparisons give plain (non-differentiable) boolean tensors
    def __lt__(self, o): return Tensor(self.data < _raw(o))
    def __le__(self, o): return Tensor(self.data <= _raw(o))
    def __gt__(self, o): return Tensor(self.data > _raw(o))
    def __ge__(self, o): return Tensor(self.data >= _raw(o))
    def __eq__(self, o): return Tensor(self.data == _raw(o))
    def __ne__(self, o): return Tensor(self.data != _raw(o))

    # ----------------------------------------------------------------- math
    def exp(self): return ops.exp(self)
    def log(self): return ops.log(self)
    def sqrt(self): return ops.sqrt(self)
    def abs(self): return ops.abs(self)
    def clip(self, min=None, max=None): return ops.clip(self, min, max)
    clamp = clip
    def maximum(self, other): return ops.maximum(self, other)
    def minimum(self, other): return ops.minimum(self, other)

    # ----------------------------------------------------------------- reductions
    def sum(self, dim=None, keepdim=False): return ops.sum(self, dim, keepdim)
    def mean(self, dim=None, keepdim=False): return ops.mean(self, dim, keepdim)
    def var(self, dim=None, unbiased=True, keepdim=False):       # torch's argument order
        return ops.var(self, dim, unbiased, keepdim)
    def amax(self, dim=None, keepdim=False): return ops.amax(self, dim, keepdim)
    def amin(self, dim=None, keepdim=False): return ops.amin(self, dim, keepdim)
    # max(): the largest value; max(dim): the pair (values, indices), as in torch
    def max(self, dim=None, keepdim=False): return ops.max(self, dim, keepdim)
    def min(self, dim=None, keepdim=False): return ops.min(self, dim, keepdim)
    def argmax(self, dim=None, keepdim=False): return ops.argmax(self, dim, keepdim)
    def argmin(self, dim=None, keepdim=False): return ops.argmin(self, dim, keepdim)
    def any(self): return bool(self.data.any())
    def all(self): return bool(self.data.all())

    # ----------------------------------------------------------------- shape
    def reshape(self, *shape): return ops.reshape(self, *shape)
    view = reshape
    def permute(self, *dims): return ops.permute(self, *dims)
    def transpose(self, dim0, dim1): return ops.transpose(self, dim0, dim1)
    def flatten(self, start_dim=0, end_dim=-1): return ops.flatten(self, start_dim, end_dim)
    def squeeze(self, dim=None): return ops.squeeze(self, dim)
    def unsqueeze(self, dim): return ops.unsqueeze(self, dim)
    def expand(self, *shape): return ops.expand(self, *shape)

    @property
    def T(self):
        return ops.permute(self, *reversed(range(self.ndim)))

    # ----------------------------------------------------------------- activations
    def relu(self): return ops.relu(self)
    def leaky_relu(self, negative_slope=0.01): return ops.leaky_relu(self, negative_slope)
    def sigmoid(self): return ops.sigmoid(self)
    def tanh(self): return ops.tanh(self)
    def softmax(self, dim): return ops.softmax(self, dim)
    def log_softmax(self, dim): return ops.log_softmax(self, dim)


    # ------------------------------------------------------------------ torch's extras
    # torch's size(), clone() and friends, and the in-place ops (ops/inplace.py explains the
    # mechanism: version counters, leaf checks, re-basing a non-leaf's history).
    def size(self, dim=None):
        """The shape as a tuple (torch.Size is one), or the length of dim ``dim``."""
        if dim is None:
            return self.data.shape
        if self.ndim == 0:                  # dim_index lets a 0-d tensor have dim 0; size not
            raise IndexError(f"size: dim {dim} is out of range for a tensor with 0 dims "
                             f"(shape {self.shape})")
        return self.data.shape[ops.dtypes.dim_index(dim, self.ndim, "size")]

    def clone(self): return ops.clone(self)
    def std(self, *args, **kwargs): return ops.std(self, *args, **kwargs)
    def prod(self, dim=None, keepdim=False): return ops.prod(self, dim, keepdim)
    def logsumexp(self, dim, keepdim=False): return ops.logsumexp(self, dim, keepdim)
    def norm(self, p="fro", dim=None, keepdim=False): return ops.norm(self, p, dim, keepdim)
    def gather(self, dim, index): return ops.gather(self, dim, index)
    def repeat(self, *sizes): return ops.repeat(self, *sizes)
    def split(self, split_size, dim=0): return ops.split(self, split_size, dim)
    def chunk(self, chunks, dim=0): return ops.chunk(self, chunks, dim)
    def __rpow__(self, base): return ops.pow(base, self)

    def __setitem__(self, idx, value): ops.setitem(self, idx, value)

    def add_(self, other, alpha=1):
        return ops.inplace(self, "add_", lambda t, o: ops.add(t, o if alpha == 1 else o * alpha),
                           other)

    def sub_(self, other, alpha=1):
        return ops.inplace(self, "sub_", lambda t, o: ops.sub(t, o if alpha == 1 else o * alpha),
                           other)

    def mul_(self, other): return ops.inplace(self, "mul_", ops.mul, other)
    def div_(self, other): return ops.inplace(self, "div_", ops.div, other)
    def zero_(self): return ops.inplace(self, "zero_", lambda t: ops.Fill.apply(t, value=0))
    def fill_(self, value):
        return ops.inplace(self, "fill_", lambda t: ops.Fill.apply(t, value=value))
    def copy_(self, src): return ops.inplace(self, "copy_", ops.Copy.apply, src)

    def relu_(self): return ops.relu(self, inplace=True)
    def clamp_(self, min=None, max=None):
        return ops.inplace(self, "clamp_", lambda t: ops.clamp(t, min, max))
    clip_ = clamp_

    # augmented assignment updates in place, as in torch (`w -= lr * g` keeps w the same object)
    def __iadd__(self, o): return self.add_(o)
    def __isub__(self, o): return self.sub_(o)
    def __imul__(self, o): return self.mul_(o)
    def __itruediv__(self, o): return self.div_(o)
    # ================================================================= end of part B block


autograd.Tensor = Tensor     # Function.apply builds Tensors; see the end of autograd.py


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


# --------------------------------------------------------------------- factories
def tensor(data, requires_grad=False, dtype=None):
    """Make a tensor from a *copy* of ``data`` (like ``torch.tensor``): Python float data becomes
    float32; a float ndarray keeps its dtype.  ``from_numpy`` shares the array instead."""
    if isinstance(data, Tensor):
        data = data.data
    t = Tensor(data, requires_grad=requires_grad, dtype=dtype)
    if isinstance(data, np.ndarray) and np.may_share_memory(t.data, data):
        t.data = t.data.copy()             # copy only once: a dtype conversion is a copy already
    return t


def from_numpy(array):
    """A tensor that shares ``array``'s memory (like ``torch.from_numpy``): writes through
    either one show in the other, and an optimizer step changes the caller's array."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected an np.ndarray, got {type(array).__name__}")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"from_numpy: unsupported dtype {array.dtype} (bool, integer and real "
                        f"floating-point arrays can be shared)")
    return Tensor(array)


def _shape(shape):
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape


def zeros(*shape, requires_grad=False, dtype=None):
    return Tensor(np.zeros(_shape(shape), dtype=dtype or np.float32), requires_grad)


def ones(*shape, requires_grad=False, dtype=None):
    return Tensor(np.ones(_shape(shape), dtype=dtype or np.float32), requires_grad)


def rand(*shape, requires_grad=False, dtype=None):
    """Uniform [0, 1) samples from numpy's global generator (``np.random.seed`` controls it)."""
    return Tensor(np.random.random_sample(_shape(shape)).astype(dtype or np.float32),
                  requires_grad)


def randn(*shape, requires_grad=False, dtype=None):
    """Standard normal samples from numpy's global generator."""
    return Tensor(np.random.standard_normal(_shape(shape)).astype(dtype or np.float32),
                  requires_grad)


def arange(start, end=None, step=1, requires_grad=False, dtype=None):
    """Like ``torch.arange``: integers give int64, any float argument gives float32."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        floats = any(isinstance(v, float) for v in (start, end, step))
        dtype = np.float32 if floats else np.int64
    return Tensor(np.arange(start, end, step, dtype=dtype), requires_grad)


def zeros_like(t, requires_grad=False, dtype=None):
    return Tensor(np.zeros_like(_raw(t), dtype=dtype), requires_grad)


def ones_like(t, requires_grad=False, dtype=None):
    return Tensor(np.ones_like(_raw(t), dtype=dtype), requires_grad)


from . import ops  # noqa: E402  (ops imports Tensor from this module)
