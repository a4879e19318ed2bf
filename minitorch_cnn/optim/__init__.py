"""Optimizers and learning-rate schedulers, with PyTorch's names, defaults and update rules.

    opt = mt.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    sched = mt.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=1000)
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()            # p.grad = None
        loss.backward()            # fills p.grad
        opt.step()                 # updates p.data in place
        sched.step()

optimizer.py holds what all optimizers share (parameter groups, state, state_dict); sgd.py and
adam.py hold one update rule each; lr_scheduler.py the schedules.
"""
from . import lr_scheduler
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "lr_scheduler"]
