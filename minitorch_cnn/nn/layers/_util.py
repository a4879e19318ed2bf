"""Argument and input checks shared by the layers: errors name the layer as its repr shows it."""
import numpy as np

from ...tensor import Tensor


def int_arg(layer, name, v, minimum=1):
    """An int >= ``minimum`` (None: any int; bools refused), else an error naming the layer."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{layer}: {name} must be an int, got {v!r}")
    if minimum is not None and v < minimum:
        raise ValueError(f"{layer}: {name} must be >= {minimum}, got {v}")
    return int(v)


def pair_arg(layer, name, v, minimum=1):
    """An int or a pair of ints -> a pair of ints, each >= ``minimum``."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{layer}: {name} must be an int or a pair, got {v!r}")
        return tuple(int_arg(layer, name, a, minimum) for a in v)
    a = int_arg(layer, name, v, minimum)
    return (a, a)


def check_tensor(layer, x, weight=None):
    """``x`` must be a Tensor, with the same float dtype as ``weight`` when one is given (mixing
    float32 and float64 would silently upcast the whole network, and torch refuses it too)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer}: expected a Tensor input, got {type(x).__name__}")
    if weight is not None and x.dtype != weight.dtype:
        raise TypeError(f"{layer}: input dtype {x.dtype} differs from the weights' dtype "
                        f"{weight.dtype}; convert the input (x.float() / x.double()) or the "
                        f"model (.float() / .double())")


def batched(fn, x):
    """Run ``fn`` (which wants (N, C, H, W)) on an unbatched (C, H, W) input too, like torch."""
    if x.ndim == 3:
        return fn(x.unsqueeze(0)).squeeze(0)
    return fn(x)
