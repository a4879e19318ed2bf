"""Argument and input checks shared by the layers: errors name the layer as its repr shows it."""
from ...tensor import Tensor
from .._args import int_arg, pair_arg  # noqa: F401  (the one parser, re-used by the layers)


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
