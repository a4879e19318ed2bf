"""Loss modules: CrossEntropyLoss, NLLLoss, MSELoss (wrappers of the functional losses).

Called as ``criterion(input, target)``.  As in torch, the first positional argument of
CrossEntropyLoss and NLLLoss is the class-weight tensor (kept as the buffer ``weight``), so
``CrossEntropyLoss('sum')`` fails loudly instead of meaning something else; the other arguments
are keyword-only.  Like torch, their repr shows no arguments.
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

    def __init__(self, weight=None, *, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(reduction=reduction)
        self.register_buffer("weight", weight)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log-likelihood of integer labels under log-probabilities (e.g. LogSoftmax).

    Shape:
        - Input: (N, C) or (N, C, d1, ...);  Target: (N,) or (N, d1, ...)
        - Output: scalar, or the shape of the target with reduction='none'
    """

    def __init__(self, weight=None, *, ignore_index=-100, reduction="mean"):
        super().__init__(reduction=reduction)
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class MSELoss(_Loss):
    """Mean (or sum) of squared differences.

    Shape:
        - Input: any;  Target: same shape
        - Output: scalar, or the input's shape with reduction='none'
    """

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)
