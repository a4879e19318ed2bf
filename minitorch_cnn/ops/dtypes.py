"""Type promotion and dim checks: the two rules every op applies to its arguments, kept in one
place so that every op applies them the same way (and the same way as PyTorch).

Type promotion (``result_type``), PyTorch's rule
-----------------------------------------------
Dtypes fall into three *categories*, bool < integer < floating.  Operands fall into three
*priorities*: tensors with dimensions > 0-d tensors > Python numbers (numpy scalars count as
Python numbers).  A lower-priority operand changes the result only if its category is higher:

    float32 (3,) * 2.5                  -> float32   (a number never widens a tensor)
    float32 (3,) * float64 0-d tensor   -> float32   (nor does a 0-d tensor)
    float32 (3,) * int64 (3,)           -> float32   (float beats int, the float's width wins)
    int64 (3,)   * 0.5                  -> float32   (float number: torch's default float dtype)
    float32 0-d  * float64 0-d          -> float64   (same priority: the wider one)

Within one priority the dtypes combine as ``promote`` below: the higher category wins outright
(int64 + float16 -> float16, unlike numpy's float64), and within a category the wider one.
numpy's own rules differ in exactly these cases, which is why the ops cast their operands to
``result_type`` before calling numpy.

Dims (``dim_index``)
--------------------
A dim ``d`` of an n-D tensor must lie in [-n, n-1] (a 0-d tensor accepts 0 and -1, like torch);
negative dims count from the end.  Anything else is an ``IndexError`` naming the op and the rank,
never numpy's silent wrap-around.
"""
import numpy as np

from .. import autograd

DEFAULT_FLOAT = np.dtype(np.float32)       # torch's default dtype
_INT64, _BOOL = np.dtype(np.int64), np.dtype(np.bool_)
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2}


def category(dtype):
    """0 bool, 1 integer, 2 floating."""
    try:
        return _CATEGORY[dtype.kind]
    except KeyError:
        raise TypeError(f"unsupported dtype {dtype} (minitorch_cnn handles bool, integer and "
                        f"real floating-point data)") from None


def promote(a, b):
    """The common dtype of two dtypes of the same priority (see the module docstring)."""
    if a is None or a == b:
        return b
    if b is None:
        return a
    ca, cb = category(a), category(b)
    if ca != cb:
        return a if ca > cb else b
    return np.promote_types(a, b)


def _combine(higher, lower):
    """Add a lower-priority dtype: it counts only if its category is higher (torch's rule)."""
    if higher is None:
        return lower
    if lower is None or category(lower) <= category(higher):
        return higher
    return promote(higher, lower)


def _number_dtype(x):
    """The dtype a Python (or numpy) scalar stands for: bool, int64 or the default float."""
    if isinstance(x, (bool, np.bool_)):
        return _BOOL
    if isinstance(x, (int, np.integer)):
        return _INT64
    if isinstance(x, (float, np.floating)):
        return DEFAULT_FLOAT
    raise TypeError(f"expected a Tensor, an ndarray or a real number, got {type(x).__name__}")


def result_type(*operands):
    """The dtype of an element-wise op on ``operands`` (Tensors, ndarrays or numbers)."""
    dims = zero = number = None
    Tensor = autograd.Tensor
    for x in operands:
        arr = x.data if isinstance(x, Tensor) else x
        if isinstance(arr, np.ndarray):
            if arr.ndim:
                dims = promote(dims, arr.dtype)
            else:
                zero = promote(zero, arr.dtype)
        else:
            number = promote(number, _number_dtype(x))
    return _combine(dims, _combine(zero, number))


def floating(dtype):
    """``dtype`` if it is floating, else the default float (true division, exp, sigmoid ...)."""
    return dtype if dtype.kind == "f" else DEFAULT_FLOAT


def is_int(v):
    """An int or a numpy integer, but not a bool: True is not a size, a dim or an index."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def dim_index(dim, ndim, op, new=False):
    """``dim`` as a non-negative axis of an ``ndim``-D tensor, or an IndexError naming ``op``.
    ``new``: the dim of an axis being inserted (unsqueeze, stack), so ``ndim`` itself is valid."""
    n = ndim + 1 if new else (ndim if ndim else 1)   # 0-d accepts dim 0 and -1, like torch
    if not is_int(dim):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    if not -n <= dim < n:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dims "
                         f"(expected a dim in [{-n}, {n - 1}])")
    return int(dim) % n


def require_float(x, op):
    """``x`` itself, or a TypeError: ops without an integer kernel refuse integers, as torch."""
    dt = getattr(x, "dtype", None)
    if dt is None or dt.kind != "f":
        raise TypeError(f"{op}: expected a floating-point tensor, got dtype {dt} (torch "
                        f"refuses it too; convert with .float())")
    return x
