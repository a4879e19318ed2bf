"""Activation layers: thin modules over the element-wise ops (relu, leaky_relu, sigmoid, tanh)
and the row-wise ones (softmax, log_softmax).  They have no parameters; they exist so that a
nonlinearity can sit inside a ``Sequential``.  Shape: any input -> the same shape.
"""
import numbers

from .. import functional as F
from ..module import Module
from ._util import check_tensor, int_arg


class ReLU(Module):
    """relu(x) = max(x, 0).  ``inplace=True`` writes the result into the input and returns it,
    as torch does (``F.relu(x, inplace=True)``): it saves a full-size array where nothing else
    needs x's old values -- the usual Conv -> BatchNorm -> ReLU -- and raises at backward where
    something does.

    Shape:
        - Input: any;  Output: same shape
    """

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        check_tensor(self, x)
        return F.relu(x, inplace=self.inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """x for x > 0, negative_slope * x otherwise.

    Shape:
        - Input: any;  Output: same shape
    """

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real):
            raise TypeError(f"LeakyReLU: negative_slope must be a number, got "
                            f"{negative_slope!r}")
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, x):
        check_tensor(self, x)
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace
                                                           else "")


class Sigmoid(Module):
    """1 / (1 + exp(-x)), computed without overflow.

    Shape:
        - Input: any;  Output: same shape
    """

    def forward(self, x):
        check_tensor(self, x)
        return F.sigmoid(x)


class Tanh(Module):
    """tanh(x).

    Shape:
        - Input: any;  Output: same shape
    """

    def forward(self, x):
        check_tensor(self, x)
        return F.tanh(x)


class Softmax(Module):
    """exp(x) / sum(exp(x)) along ``dim`` (required: unlike old torch there is no guessed
    default dim).

    Shape:
        - Input: any;  Output: same shape, entries along ``dim`` summing to 1
    """

    def __init__(self, dim):
        super().__init__()
        self.dim = int_arg("Softmax", "dim", dim, None)

    def forward(self, x):
        check_tensor(self, x)
        return F.softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along ``dim``, computed stably (x - max - log sum exp(x - max)).

    Shape:
        - Input: any;  Output: same shape
    """

    def __init__(self, dim):
        super().__init__()
        self.dim = int_arg("LogSoftmax", "dim", dim, None)

    def forward(self, x):
        check_tensor(self, x)
        return F.log_softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"
