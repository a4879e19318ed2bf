"""The argument parsers of ``nn``: one int parser, one int-or-pair parser, one tensor coercion.

Functional ops and layers both use these, so "kernel_size=3" and "kernel_size=(3, 3)" mean the
same everywhere and every error names the op or layer (``where``) that received the argument.
"""
import numpy as np

from ..ops.dtypes import is_int
from ..tensor import Tensor


def int_arg(where, name, v, minimum=1):
    """An int >= ``minimum`` (None: any int), else an error naming ``where``."""
    if not is_int(v):
        raise TypeError(f"{where}: {name} must be an int, got {v!r}")
    if minimum is not None and v < minimum:
        raise ValueError(f"{where}: {name} must be >= {minimum}, got {v}")
    return int(v)


def pair_arg(where, name, v, minimum=1, context=""):
    """An int or a pair of ints -> a pair of ints (torch's ``_pair``), each >= ``minimum``
    (None: any int; functional ops pass None and check ranges with their own messages).

    ``context`` is appended to the message (e.g. the input and weight shapes)."""
    if is_int(v):
        pair = (int(v), int(v))
    elif isinstance(v, (tuple, list)) and len(v) == 2 and all(is_int(a) for a in v):
        pair = (int(v[0]), int(v[1]))
    elif isinstance(v, (tuple, list)) and len(v) != 2:
        raise ValueError(f"{where}: {name} must be an int or a pair, got {v!r}{context}")
    else:
        raise TypeError(f"{where}: {name} must be an int or a pair of ints, got {v!r}{context}")
    if minimum is not None and min(pair) < minimum:
        raise ValueError(f"{where}: {name} must be >= {minimum}, got {v!r}{context}")
    return pair


def as_tensor(where, x, name="input"):
    """A Tensor as it is; a numpy array wrapped (no copy); anything else a TypeError."""
    if x is None or isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return Tensor(x)
    raise TypeError(f"{where}: {name} must be a Tensor, got {type(x).__name__}")


def same_dtype(where, x, **tensors):
    """Each of ``tensors`` (name=tensor or None) has ``x``'s dtype, else a TypeError naming
    ``where``: torch refuses a mix too, rather than silently upcasting."""
    for name, t in tensors.items():
        if t is not None and t.dtype != x.dtype:
            raise TypeError(f"{where}: input dtype {x.dtype} differs from the {name}'s dtype "
                            f"{t.dtype}; convert one (x.float() / x.double())")
