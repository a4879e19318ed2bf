"""Loss modules: CrossEntropyLoss, NLLLoss, MSELoss (wrappers of the functional losses).

Called as ``criterion(input, target)``.  ``reduction`` is keyword-only: torch's first positional
argument is a class-weight tensor, which we do not support, so ``CrossEntropyLoss('sum')`` fails
loudly instead of meaning something else.  Like torch, their repr shows no arguments.
"""
from .. import functional as F
from ..module import Module

_REDUCTIONS = ("mean", "sum", "none")


class _Loss(Module):
    def __init__(self, *, reduction="mean"):
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {_REDUCTIONS}, "
                             f"got {reduction!r}")
        self.reduction = reduction


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits against integer class labels.

    Shape:
        - Input: (N, C) logits, or (N, C, d1, ...)
        - Target: (N,) or (N, d1, ...) integers in [0, C)
        - Output: scalar, or the shape of the target with reduction='none'
    """

    def forward(self, input, target):
        return F.cross_entropy(input, target, reduction=self.reduction)


class NLLLoss(_Loss):
    """Negative log-likelihood of integer labels under log-probabilities (e.g. LogSoftmax).

    Shape:
        - Input: (N, C) or (N, C, d1, ...);  Target: (N,) or (N, d1, ...)
        - Output: scalar, or the shape of the target with reduction='none'
    """

    def forward(self, input, target):
        return F.nll_loss(input, target, reduction=self.reduction)


class MSELoss(_Loss):
    """Mean (or sum) of squared differences.

    Shape:
        - Input: any;  Target: same shape
        - Output: scalar, or the input's shape with reduction='none'
    """

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)
