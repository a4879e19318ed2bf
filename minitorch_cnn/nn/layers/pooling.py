"""Pooling layers: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d (no parameters).

Pooling summarises each KH x KW window of every channel by its maximum or its mean, shrinking
H and W (by the stride) while keeping N and C.  The ops are in ``nn.functional.pooling``.
"""
from .. import functional as F
from ..module import Module
from ._util import batched, check_tensor, int_arg, pair_arg


def _check_4d(layer, x):
    check_tensor(layer, x)
    if x.ndim not in (3, 4):
        raise ValueError(f"{layer!r}: expected input (N, C, H, W) or (C, H, W), got shape "
                         f"{tuple(x.shape)}")


class _Pool2d(Module):
    """What MaxPool2d and AvgPool2d share: the (kernel_size, stride, padding) arguments, checked
    at construction and stored as given (an int stays an int, as torch's repr shows), and a
    forward that calls ``_pool`` (the functional op) on batched or unbatched input."""

    _pool = None

    def __init__(self, kernel_size, stride, padding):
        super().__init__()
        name = type(self).__name__
        pair_arg(name, "kernel_size", kernel_size)
        if stride is not None:
            pair_arg(name, "stride", stride)
        pair_arg(name, "padding", padding, 0)
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding

    def forward(self, x):
        _check_4d(self, x)
        pool = type(self)._pool
        return batched(lambda x4: pool(x4, self.kernel_size, self.stride, self.padding), x)


class MaxPool2d(_Pool2d):
    """Maximum over each KH x KW window; padding is -inf so it never wins.

    Args:
        kernel_size: int or (KH, KW).
        stride: int or pair; default ``kernel_size`` (non-overlapping windows).
        padding: int or pair, at most half the kernel (default 0).
        dilation, ceil_mode, return_indices: accepted for torch compatibility only at their
            defaults (1, False, False); anything else raises ValueError.

    Shape:
        - Input: (N, C, H, W) or (C, H, W)
        - Output: (N, C, OH, OW), OH = floor((H + 2*ph - KH) / sh) + 1, likewise OW.
    """

    _pool = staticmethod(F.max_pool2d)

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__(kernel_size, stride, padding)
        if dilation not in (1, (1, 1)) or return_indices or ceil_mode:
            raise ValueError(f"MaxPool2d: dilation != 1, return_indices=True and ceil_mode=True "
                             f"are not supported (got dilation={dilation!r}, return_indices="
                             f"{return_indices!r}, ceil_mode={ceil_mode!r})")
        self.dilation = dilation
        self.ceil_mode = ceil_mode

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(_Pool2d):
    """Mean over each KH x KW window; zero padding counts in the mean (torch's default,
    count_include_pad=True).

    Args:
        kernel_size: int or (KH, KW).
        stride: int or pair; default ``kernel_size``.
        padding: int or pair, at most half the kernel (default 0).

    Shape:
        - Input: (N, C, H, W) or (C, H, W)
        - Output: (N, C, OH, OW), OH = floor((H + 2*ph - KH) / sh) + 1, likewise OW.
    """

    _pool = staticmethod(F.avg_pool2d)

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__(kernel_size, stride, padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average-pool to a fixed (OH, OW) whatever the input's H and W (row i averages input rows
    floor(i*H/OH) .. ceil((i+1)*H/OH) - 1).  ``AdaptiveAvgPool2d(1)`` is global average pooling.

    Args:
        output_size: int or (OH, OW); a None entry keeps that input dimension.

    Shape:
        - Input: (N, C, H, W) or (C, H, W)
        - Output: (N, C, OH, OW) or (C, OH, OW)
    """

    def __init__(self, output_size):
        super().__init__()
        sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,)
        if isinstance(output_size, (tuple, list)) and len(output_size) != 2:
            raise ValueError(f"AdaptiveAvgPool2d: output_size must be an int or a pair, got "
                             f"{output_size!r}")
        for s in sizes:
            if s is not None:
                int_arg("AdaptiveAvgPool2d", "output_size", s)
        self.output_size = tuple(output_size) if isinstance(output_size, list) else output_size

    def forward(self, x):
        _check_4d(self, x)
        return batched(lambda x4: F.adaptive_avg_pool2d(x4, self.output_size), x)

    def extra_repr(self):
        return f"output_size={self.output_size}"
