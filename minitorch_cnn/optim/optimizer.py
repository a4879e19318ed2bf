"""``Optimizer``: the bookkeeping every optimiser shares -- parameter groups, state, checkpoints.

An optimiser turns gradients into parameter updates.  The update rule is the only thing that
differs between SGD and Adam (sgd.py, adam.py); everything else lives here, with PyTorch's layout:

* ``param_groups`` -- a list of dicts, each ``{"params": [Tensor, ...], "lr": ..., ...}``.  A
  group's hyper-parameters apply to its parameters only, so one optimiser can, say, train the
  head with a larger learning rate than the backbone.  Schedulers change ``group["lr"]``.
* ``state`` -- per-parameter memory (``{param: {"step": 3, "exp_avg": ndarray, ...}}``), created
  lazily on the first ``step`` that sees a gradient for that parameter.
* ``state_dict()`` -- the same information as plain dicts, lists, numbers and ndarrays, with each
  parameter replaced by its position (0, 1, 2, ... across all groups), so it can be written by
  ``mt.save`` and loaded into a *new* optimiser built over the same model.

Parameters are Tensors: ``p.data`` (ndarray) is updated **in place** and ``p.grad`` (ndarray or
``None``) is read; a parameter whose ``grad`` is ``None`` is skipped, as in torch.
"""
import copy
import numbers

import numpy as np

from ..autograd import no_grad
from ..tensor import Tensor

_required = object()          # a default that must be given (SGD's lr), like torch.optim.required


class Optimizer:
    """Base class.  Subclasses pass their defaults and implement ``_check(group)`` (validate
    hyper-parameters) and ``_update(group)`` (apply the rule to the group's parameters)."""

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = {}                       # param -> dict; Tensor hashes by identity
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError(f"{self._name}: params should be an iterable of Tensors or dicts, "
                            f"got a single Tensor (wrap it in a list)")
        if isinstance(params, dict):
            raise TypeError(f"{self._name}: params should be an iterable of Tensors or dicts, "
                            f"got a dict (wrap a parameter group in a list)")
        try:
            params = list(params)
        except TypeError:
            raise TypeError(f"{self._name}: params should be an iterable of Tensors or dicts, "
                            f"got {type(params).__name__}") from None
        if not params:
            raise ValueError(f"{self._name}: got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for group in params:
            self.add_param_group(group)

    @property
    def _name(self):
        return type(self).__name__

    def add_param_group(self, group):
        """Add ``{"params": [...], <hyper-parameter overrides>}``; the rest take the defaults."""
        if not isinstance(group, dict):
            raise TypeError(f"{self._name}: a parameter group must be a dict, "
                            f"got {type(group).__name__} (do not mix Tensors and dicts)")
        if "params" not in group:
            raise ValueError(f"{self._name}: a parameter group needs a 'params' entry")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{self._name}: can only optimize Tensors, got "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{self._name}: can't optimize a non-leaf Tensor "
                                 f"(shape {p.shape}); optimize the leaves it was computed from")
        unknown = set(group) - set(self.defaults) - {"params", "initial_lr"}
        if unknown:
            raise ValueError(f"{self._name}: unknown hyper-parameter(s) {sorted(unknown)} in a "
                             f"parameter group; valid ones are {sorted(self.defaults)}")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids) or seen.intersection(ids):
            raise ValueError(f"{self._name}: some parameters appear more than once "
                             f"(in this group or in another group)")
        new = {**group, "params": params}
        for name, default in self.defaults.items():
            if default is _required and name not in new:
                raise TypeError(f"{self._name}: parameter group didn't specify a value of "
                                f"required optimization parameter {name}")
            new.setdefault(name, default)
        self._check(new)
        self.param_groups.append(new)

    # ------------------------------------------------------------------ the loop
    def zero_grad(self, set_to_none=True):
        """Forget the gradients: ``p.grad = None`` (torch's default) or fill them with 0."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad = np.zeros_like(np.asarray(p.grad, dtype=p.data.dtype))

    def step(self, closure=None):
        """One update of every parameter that has a gradient.  ``closure`` (optional) re-computes
        the loss with gradients and returns it, as in torch."""
        loss = None
        if closure is not None:
            loss = closure()
        with no_grad():
            for group in self.param_groups:
                self._update(group)
                for p in group["params"]:
                    if p.grad is not None:           # p.data was written in place: a graph
                        p._version.bump(f"{self._name}.step")   # that saved it must notice
        return loss

    def _grads(self, group):
        """(param, grad) for every parameter of ``group`` that has a gradient, grad in the
        parameter's dtype (a no-op cast normally: the engine already casts)."""
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            if g.shape != p.data.shape:
                raise ValueError(f"{self._name}.step: gradient shape {g.shape} does not match "
                                 f"parameter shape {p.data.shape}")
            # asarray: a 0-d gradient set by hand may be a numpy scalar, which has no in-place ops
            yield p, np.asarray(g, dtype=p.data.dtype)

    def _check(self, group):
        raise NotImplementedError

    def _update(self, group):
        raise NotImplementedError

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self):
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``, torch's
        layout, made of plain dicts/lists/numbers and ndarray *copies* (a snapshot)."""
        index, groups = {}, []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index[id(p)] = len(index)
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        state = {}
        for p, s in self.state.items():
            state[index[id(p)]] = {k: (v.copy() if isinstance(v, np.ndarray) else v)
                                   for k, v in s.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore from ``state_dict()`` output (maybe after ``mt.save``/``mt.load``).  The groups
        must have the same sizes; arrays are copied and cast to each parameter's dtype.  Nothing
        changes when an error is raised."""
        name = f"{self._name}.load_state_dict"
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError(f"{name}: expected a dict with keys 'state' and 'param_groups', got "
                             f"{describe_keys(state_dict)}")
        saved_groups = state_dict["param_groups"]
        if not isinstance(saved_groups, (list, tuple)) or not all(
                isinstance(g, dict) and "params" in g for g in saved_groups):
            raise ValueError(f"{name}: 'param_groups' must be a list of dicts with a 'params' "
                             f"entry each")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}: loaded state dict has {len(saved_groups)} parameter "
                             f"group(s), this optimizer has {len(self.param_groups)}")
        by_index = {}
        for i, (mine, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(saved["params"]) != len(mine["params"]):
                raise ValueError(f"{name}: parameter group {i} has {len(saved['params'])} "
                                 f"parameters in the state dict but {len(mine['params'])} here")
            by_index.update(zip((int(k) for k in saved["params"]), mine["params"]))
        if not isinstance(state_dict["state"], dict) or not all(
                isinstance(s, dict) for s in state_dict["state"].values()):
            raise ValueError(f"{name}: 'state' must be a dict of per-parameter dicts")
        for i, (mine, saved) in enumerate(zip(self.param_groups, saved_groups)):
            missing = sorted(k for k in mine if k != "params" and k not in saved)
            if missing:
                raise ValueError(f"{name}: parameter group {i} of the state dict lacks "
                                 f"{missing}, settings this {self._name} needs (a state dict "
                                 f"of another optimizer type?)")
        new_state = {}
        for key, s in state_dict["state"].items():
            if int(key) not in by_index:
                raise ValueError(f"{name}: state for parameter {key}, which no group lists")
            p = by_index[int(key)]
            entry = {}
            for k, v in s.items():
                if isinstance(v, (np.ndarray, Tensor)):
                    v = np.asarray(v.data if isinstance(v, Tensor) else v)
                    if v.shape != p.data.shape:
                        raise ValueError(f"{name}: state '{k}' of parameter {key} has shape "
                                         f"{v.shape}, the parameter has shape {p.data.shape}")
                    v = v.astype(p.data.dtype, copy=True)
                entry[k] = v
            new_state[p] = entry
        groups = []
        for mine, saved in zip(self.param_groups, saved_groups):
            group = {**copy.deepcopy({k: v for k, v in saved.items() if k != "params"}),
                     "params": mine["params"]}
            self._check(group)
            groups.append(group)
        self.state, self.param_groups = new_state, groups

    def __repr__(self):
        lines = [f"{self._name} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines + [")"])


# ---------------------------------------------------------------------- validation helpers
def describe_keys(x):
    """For error messages: the keys of a dict, or the type of anything else."""
    return [repr(k) for k in x] if isinstance(x, dict) else type(x).__name__


def check_number(opt, name, value, low=0.0, high=None, high_open=False):
    """Raise ValueError naming the optimizer unless ``low <= value`` (and ``< / <= high``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != value:
        raise ValueError(f"{opt}: invalid {name}: expected a real number, got {value!r}")
    if value < low or (high is not None and (value >= high if high_open else value > high)):
        rng = f">= {low}" if high is None else f"in [{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"{opt}: invalid {name} value: {value} (must be {rng})")
