"""Dropout: in training, zero each value with probability p and scale the survivors by
1 / (1 - p) (so the expected output is the input); in eval mode, the identity.

Which mode applies is the module's ``training`` flag, switched for a whole model by
``model.train()`` / ``model.eval()``.  The random mask comes from numpy's global generator.
"""
import numbers

from .. import functional as F
from ..module import Module
from ._util import check_tensor


class Dropout(Module):
    """Randomly zero elements during training (inverted dropout).

    Args:
        p: probability of zeroing an element, in [0, 1] (default 0.5).
        inplace: accepted for torch compatibility; the result is always a new tensor (an
            in-place write would corrupt values saved for backward).

    Shape:
        - Input: any;  Output: same shape
    """

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p!r}")
        self.p = p
        self.inplace = inplace

    def forward(self, x):
        check_tensor(self, x)
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"
