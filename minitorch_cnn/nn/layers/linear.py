"""Linear (fully connected) layer, and the two shape helpers around it: Flatten, Identity.

``Linear`` stores its weight as (out_features, in_features), like PyTorch, and computes
y = x @ W.T + b.  Because Conv2d stores (out, in, KH, KW) and Flatten keeps (C, H, W) order, the
weight of a Linear after Flatten reshapes straight into an equivalent conv's weight.
"""
import numpy as np

from .. import functional as F
from .. import init
from ..module import Module, Parameter
from ._util import check_tensor, int_arg


class Linear(Module):
    """y = x @ weight.T + bias.

    Args:
        in_features, out_features: sizes of each input / output sample.
        bias: learn an additive bias (default True).

    Attributes:
        weight: (out_features, in_features), U(-1/sqrt(in), 1/sqrt(in)) -- torch's
            kaiming_uniform_(a=sqrt(5)).
        bias: (out_features,), U(-1/sqrt(in), 1/sqrt(in)).

    Shape:
        - Input: (*, H_in), H_in = in_features, * any number of leading dims
        - Output: (*, H_out), H_out = out_features
    """

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features = int_arg("Linear", "in_features", in_features, 0)
        self.out_features = int_arg("Linear", "out_features", out_features, 0)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), np.float32))
        if bias:
            self.bias = Parameter(np.empty(self.out_features, np.float32))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.default_weight_and_bias_(self.weight, self.bias)

    def forward(self, x):
        check_tensor(self, x)                     # dtypes: checked by the functional op
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"{self!r}: expected input with last dim {self.in_features}, got "
                             f"shape {tuple(x.shape)}")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    """Flatten dims ``start_dim`` .. ``end_dim`` into one, in C-order (so (C, H, W) -> C*H*W).

    Shape:
        - Input: (*, S_start, ..., S_end, *)
        - Output: (*, prod(S_start..S_end), *); default (N, C, H, W) -> (N, C*H*W)
    """

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim = int_arg("Flatten", "start_dim", start_dim, None)
        self.end_dim = int_arg("Flatten", "end_dim", end_dim, None)

    def forward(self, x):
        check_tensor(self, x)
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """Returns its input; arguments are accepted and ignored (a placeholder layer).

    Shape:
        - Input: any;  Output: the same tensor
    """

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x
