"""Conv2d: a bank of learned KH x KW filters slid over an NCHW image.

Notation (``nn/functional/__init__.py``): N batch, C = in_channels, O = out_channels, (KH, KW)
kernel, (sh, sw) stride, (ph, pw) padding, (dh, dw) dilation, G groups.  The weight is
(O, C/G, KH, KW), PyTorch's layout; the arithmetic (im2col, and the 1x1 path that is a plain
matrix multiply over channels) and the input checks live in ``nn.functional.conv2d``; this
module owns the parameters, their initialisation and its own arguments.
"""
import numpy as np

from .. import functional as F
from .. import init
from ..module import Module, Parameter
from ._util import batched, check_tensor, int_arg, pair_arg


class Conv2d(Module):
    """2-D convolution (cross-correlation, as in every deep learning library).

    Args:
        in_channels (C), out_channels (O): channels of the input / output.
        kernel_size: int or (KH, KW).
        stride: int or pair (default 1).
        padding: int, pair, 'valid' (= 0) or 'same' (output size = input size; stride 1 only;
            an odd total padding puts the extra row/column at the bottom/right, as torch).
        dilation: int or pair, spacing between kernel taps (default 1).
        groups: split channels into G independent convolutions; C and O divisible by G.
        bias: learn a per-output-channel bias (default True).

    Attributes:
        weight: (O, C/G, KH, KW), U(-b, b) with b = 1/sqrt(fan_in), fan_in = C/G * KH * KW
            (torch's kaiming_uniform_(a=sqrt(5))).
        bias: (O,), U(-b, b) with the same b.

    Shape:
        - Input: (N, C, H, W) or unbatched (C, H, W)
        - Output: (N, O, OH, OW) or (O, OH, OW), where
          OH = floor((H + 2*ph - dh*(KH - 1) - 1) / sh) + 1, and likewise OW.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True):
        super().__init__()
        name = "Conv2d"
        self.in_channels = int_arg(name, "in_channels", in_channels)
        self.out_channels = int_arg(name, "out_channels", out_channels)
        self.kernel_size = pair_arg(name, "kernel_size", kernel_size)
        self.stride = pair_arg(name, "stride", stride)
        self.dilation = pair_arg(name, "dilation", dilation)
        self.groups = int_arg(name, "groups", groups)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be an int, a pair, 'same' or 'valid', "
                                 f"got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"{name}: padding='same' is not supported for strided "
                                 f"convolutions (stride={self.stride})")
            self.padding = padding
        else:
            self.padding = pair_arg(name, "padding", padding, 0)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"{name}: in_channels={self.in_channels} and out_channels="
                             f"{self.out_channels} must both be divisible by groups={self.groups}")
        shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        self.weight = Parameter(np.empty(shape, np.float32))
        if bias:
            self.bias = Parameter(np.empty(self.out_channels, np.float32))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.default_weight_and_bias_(self.weight, self.bias)

    def forward(self, x):
        check_tensor(self, x)                     # dtypes: checked by the functional op
        if x.ndim not in (3, 4) or x.shape[-3] != self.in_channels:
            raise ValueError(f"{self!r}: expected input (N, {self.in_channels}, H, W) or "
                             f"({self.in_channels}, H, W), got shape {tuple(x.shape)}")
        return batched(lambda x4: F.conv2d(x4, self.weight, self.bias, self.stride,
                                           self.padding, self.dilation, self.groups), x)

    def extra_repr(self):
        # torch's format: the non-default arguments only (kernel_size and stride always shown)
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
