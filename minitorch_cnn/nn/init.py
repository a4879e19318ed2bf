"""Weight initialisation, in place, with PyTorch's names and formulas.

Why it matters: if every layer multiplies the scale of its input by a factor g, a deep net
multiplies it by g**depth, and the signal (and the gradient) vanishes or explodes.  The fix is to
draw each weight with variance ~ 1/fan_in, where

    fan_in  = in_channels  * KH * KW    (inputs feeding one output; Linear: in_features)
    fan_out = out_channels * KH * KW    (Linear: out_features)

Kaiming (He) init uses std = gain / sqrt(fan), with gain = sqrt(2) for ReLU (it zeroes half the
signal) and sqrt(2 / (1 + a^2)) for leaky ReLU of slope a.  A uniform U(-b, b) has std b/sqrt(3),
so ``kaiming_uniform_`` draws from U(-b, b) with b = sqrt(3) * std.

PyTorch's default for Linear and Conv2d is ``kaiming_uniform_(w, a=sqrt(5))``: gain =
sqrt(2/6) = sqrt(1/3), so b = sqrt(3) * sqrt(1/3) / sqrt(fan_in) = 1/sqrt(fan_in); their bias
is U(-1/sqrt(fan_in), 1/sqrt(fan_in)).  All draws use numpy's global generator, so
``np.random.seed(s)`` makes model construction reproducible.  Values are written into the
existing array, keeping its dtype (float32 by default).
"""
import math
import warnings

import numpy as np

from ..tensor import Tensor


def _array(t, fn):
    arr = t.data if isinstance(t, Tensor) else t
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{fn}: expected a Tensor or ndarray, got {type(t).__name__}")
    return arr


def _fill(t, values):
    _array(t, "init")[...] = values        # cast to the tensor's dtype; never records a graph
    return t


def calculate_gain(nonlinearity, param=None):
    """The factor by which ``nonlinearity`` should scale a unit-variance signal's std."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"calculate_gain: negative_slope {slope!r} is not a number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight (out, in, *kernel): in * prod(kernel), out * prod(kernel)."""
    shape = _array(tensor, "_calculate_fan_in_and_fan_out").shape
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out can not be computed for a tensor with fewer than "
                         f"2 dimensions (shape {shape})")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _calculate_correct_fan(tensor, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a=0.0, b=1.0):
    """Fill with U(a, b)."""
    shape = _array(tensor, "uniform_").shape
    return _fill(tensor, np.random.uniform(a, b, size=shape))


def normal_(tensor, mean=0.0, std=1.0):
    """Fill with N(mean, std^2)."""
    shape = _array(tensor, "normal_").shape
    return _fill(tensor, np.random.normal(mean, std, size=shape))


def constant_(tensor, val):
    return _fill(tensor, val)


def zeros_(tensor):
    return _fill(tensor, 0)


def ones_(tensor):
    return _fill(tensor, 1)


def xavier_uniform_(tensor, gain=1.0):
    """Glorot: U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    """Glorot: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """He: U(-b, b) with b = sqrt(3) * gain / sqrt(fan)   (a uniform's std is b / sqrt(3))."""
    if _array(tensor, "kaiming_uniform_").size == 0:   # e.g. Linear(0, n): fan_in is 0
        warnings.warn("kaiming_uniform_: initializing a zero-element tensor is a no-op")
        return tensor                                    # (torch warns the same way)
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """He: N(0, std^2) with std = gain / sqrt(fan)."""
    if _array(tensor, "kaiming_normal_").size == 0:
        warnings.warn("kaiming_normal_: initializing a zero-element tensor is a no-op")
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan))


def default_weight_and_bias_(weight, bias):
    """PyTorch's default for Linear and Conv2d: weight ~ kaiming_uniform_(a=sqrt(5)), i.e.
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias from the same bound."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = _calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound)
