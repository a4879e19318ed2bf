"""Learning-rate schedules: change ``group["lr"]`` of an optimiser as training goes on.

A scheduler counts *epochs* (``last_epoch``; call ``step()`` once per epoch -- or once per batch,
if the schedule is measured in batches, as our training script does) and sets every parameter
group's learning rate to a function of that count and of the group's starting rate:

    StepLR:             lr(e) = base_lr * gamma ** (e // step_size)
    CosineAnnealingLR:  lr(e) = eta_min + (base_lr - eta_min) * (1 + cos(pi * e / T_max)) / 2

Semantics are torch's: constructing the scheduler records ``group["initial_lr"]`` (the base rate,
kept in the optimiser so it survives a checkpoint), sets ``last_epoch = 0`` and applies lr(0);
each ``step()`` adds one and applies lr(last_epoch).  We use the closed forms above; torch's
default ``step()`` multiplies the previous lr recursively, which gives the same values up to
rounding (tested).  Cosine beyond T_max continues the cosine (it rises again), as in torch.
"""
import math
import numbers

from .optimizer import Optimizer, describe_keys


class LRScheduler:
    """Base class: subclasses implement ``lr_at(base_lr, epoch)``."""

    def __init__(self, optimizer, last_epoch=-1):
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: expected an Optimizer, got {type(optimizer).__name__}")
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, numbers.Integral) \
                or last_epoch < -1:
            raise ValueError(f"{name}: last_epoch must be an integer >= -1, got {last_epoch!r}")
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"{name}: param 'initial_lr' is not specified in "
                               f"param_groups[{i}] when resuming an optimizer")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = int(last_epoch)
        self.step()                           # epoch -1 -> 0: apply lr(0)

    def lr_at(self, base_lr, epoch):
        raise NotImplementedError

    def step(self):
        """Advance one epoch and set each group's lr to the schedule's value."""
        self.last_epoch += 1
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.lr_at(base_lr, self.last_epoch)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self):
        """The learning rates set by the last ``step()`` (one per parameter group)."""
        return list(self._last_lr)

    def state_dict(self):
        """Everything but the optimiser: plain numbers and lists (fit for ``mt.save``)."""
        return {k: (list(v) if isinstance(v, list) else v)
                for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict):
        """Restore ``state_dict()`` output.  The optimiser's lrs come from *its* state dict."""
        mine = self.state_dict()
        if not isinstance(state_dict, dict) or set(state_dict) != set(mine):
            raise ValueError(f"{type(self).__name__}.load_state_dict: expected keys "
                             f"{sorted(mine)}, got {describe_keys(state_dict)}")
        self.__dict__.update({k: (list(v) if isinstance(v, (list, tuple)) else v)
                              for k, v in state_dict.items()})

    def __repr__(self):
        args = ", ".join(f"{k}={v}" for k, v in self.state_dict().items()
                         if not k.startswith("_") and k != "base_lrs")
        return f"{type(self).__name__}({args})"


def _positive_int(who, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{who}: {name} must be a positive integer, got {value!r}")
    return int(value)


def _real(who, name, value, low=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != value \
            or (low is not None and value < low):
        rule = "a real number" if low is None else f"a real number >= {low}"
        raise ValueError(f"{who}: {name} must be {rule}, got {value!r}")
    return float(value)


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs:
    ``lr = base_lr * gamma ** (epoch // step_size)``."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self.step_size = _positive_int("StepLR", "step_size", step_size)
        self.gamma = _real("StepLR", "gamma", gamma, low=0.0)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        return base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from ``base_lr`` (epoch 0) down to ``eta_min`` (epoch ``T_max``):
    ``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2``."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        self.T_max = _positive_int("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = _real("CosineAnnealingLR", "eta_min", eta_min, low=0.0)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr, epoch):
        cos = math.cos(math.pi * epoch / self.T_max)
        return self.eta_min + (base_lr - self.eta_min) * (1.0 + cos) / 2.0
