"""``Module``: the container that turns functions with weights into layers and models.

The idea in three sentences: a module is an object whose attributes are of three kinds --
*parameters* (``Parameter`` tensors the optimiser trains), *buffers* (numpy arrays that are state
but are not trained, like BatchNorm's running mean) and *children* (other modules).  Assigning an
attribute sorts it into one of three ordered dicts (``__setattr__`` below), so a model built as

    self.conv = Conv2d(1, 8, 3)         # -> _modules["conv"]
    self.fc = Linear(8, 10)             # -> _modules["fc"]

can list its parameters recursively, in a stable order, with dotted names ("conv.weight",
"fc.bias") -- exactly PyTorch's names, so ``state_dict()`` can move weights between the two as
plain numpy arrays.  ``forward`` holds the computation; ``model(x)`` calls it.

Also here: ``Parameter`` (a Tensor that requires grad by default) and ``evaluating`` (eval mode
for a block of code).  The containers ``Sequential`` and ``ModuleList`` are in container.py.
"""
import contextlib
from collections import OrderedDict, namedtuple

import numpy as np

from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that is a module's weight: ``requires_grad=True`` by default, and assigning one to
    a module attribute registers it (``self.weight = Parameter(...)``)."""

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class RemovableHandle:
    """What ``register_forward_hook`` returns: ``handle.remove()`` unregisters the hook (twice
    is harmless); also a context manager that removes it on exit."""

    def __init__(self, hooks):
        self.hooks_dict = hooks               # the handle itself is the hook's key in it

    def remove(self):
        self.hooks_dict.pop(self, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _addindent(s, n):
    """Indent every line of ``s`` but the first by ``n`` spaces (nested reprs)."""
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * n + line for line in lines[1:])


class Module:
    """Base class of every layer and model.  Subclasses call ``super().__init__()`` first, assign
    parameters, buffers and submodules as attributes, and define ``forward``."""

    def __init__(self):
        # object.__setattr__: our own __setattr__ needs these dicts to exist already
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}: subclasses of Module must define "
                                  f"forward()")

    def __call__(self, *args, **kwargs):
        """``forward`` between the hooks, as torch: each pre-hook ``hook(module, args)`` may
        return replacement args; each forward hook ``hook(module, args, output)`` a replacement
        output.  Hooks run in registration order."""
        pre = self.__dict__.get("_forward_pre_hooks")
        post = self.__dict__.get("_forward_hooks")
        if not pre and not post:              # the common case costs two dict lookups
            return self.forward(*args, **kwargs)
        for hook in list(pre.values()) if pre else ():
            new = hook(self, args)
            if new is not None:
                args = new if isinstance(new, tuple) else (new,)
        out = self.forward(*args, **kwargs)
        for hook in list(post.values()) if post else ():
            new = hook(self, args, out)
            if new is not None:
                out = new
        return out

    def register_forward_pre_hook(self, hook):
        """Call ``hook(module, args)`` before every ``forward``; returns a handle whose
        ``remove()`` unregisters it.  A non-None return value replaces ``args``."""
        return self._add_hook("_forward_pre_hooks", hook)

    def register_forward_hook(self, hook):
        """Call ``hook(module, args, output)`` after every ``forward``; returns a handle whose
        ``remove()`` unregisters it.  A non-None return value replaces ``output``."""
        return self._add_hook("_forward_hooks", hook)

    def _add_hook(self, kind, hook):
        if not callable(hook):
            raise TypeError(f"{type(self).__name__}: a hook must be callable, got "
                            f"{type(hook).__name__}")
        hooks = self.__dict__.get(kind)
        if hooks is None:                     # an instance built before hooks existed
            hooks = OrderedDict()
            object.__setattr__(self, kind, hooks)
        handle = RemovableHandle(hooks)
        hooks[handle] = hook
        return handle

    # ------------------------------------------------------------ registration
    def _check_init(self, what):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {what} before Module.__init__() call "
                                 f"(call super().__init__() first in {type(self).__name__})")

    @staticmethod
    def _check_name(kind, name):
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"{kind} name must be a non-empty string without '.', got {name!r}")

    def register_parameter(self, name, param):
        """Add ``param`` (a Parameter, or None for an absent optional weight) as ``name``."""
        self._check_init("parameters")
        self._check_name("parameter", name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' as parameter '{name}' "
                            f"(Parameter or None expected)")
        self._forget(name, keep=self._parameters)
        self._parameters[name] = param

    def register_buffer(self, name, array, persistent=True):
        """Add a non-trained state array (numpy; a Tensor gives its data) as ``name``.

        Persistent buffers appear in ``state_dict()``; ``None`` registers an absent buffer."""
        self._check_init("buffers")
        self._check_name("buffer", name)
        self._forget(name, keep=self._buffers)
        self._buffers[name] = self._as_buffer(name, array)
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name, module):
        """Add a child module (or None) as ``name``."""
        self._check_init("submodules")
        self._check_name("module", name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"cannot assign '{type(module).__name__}' as child module '{name}' "
                            f"(Module or None expected)")
        self._forget(name, keep=self._modules)
        self._modules[name] = module

    register_module = add_module

    @staticmethod
    def _as_buffer(name, value):
        if value is None or isinstance(value, np.ndarray):
            return value
        if isinstance(value, Tensor):
            return value.data
        raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                        f"(numpy array, Tensor or None expected)")

    def _forget(self, name, keep):
        """Remove ``name`` from every other place, so one name lives in one place only
        (``keep``, the dict it goes into, is left alone: re-assigning keeps the order)."""
        for d in (self.__dict__, self._parameters, self._buffers, self._modules):
            if d is not keep:
                d.pop(name, None)
        self._non_persistent.discard(name)

    def __setattr__(self, name, value):
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            self.register_parameter(name, value)
        elif params is not None and name in params:
            self.register_parameter(name, value)      # None is fine; anything else: TypeError
        elif isinstance(value, Module):
            self.add_module(name, value)
        elif params is not None and name in self._modules:
            self.add_module(name, value)
        elif params is not None and name in self._buffers:
            self._buffers[name] = self._as_buffer(name, value)
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # only called when normal lookup fails, i.e. for registered names
        d = self.__dict__
        for kind in ("_parameters", "_buffers", "_modules"):
            if kind in d and name in d[kind]:
                return d[kind][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for kind in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__.get(kind, ()):
                del self.__dict__[kind][name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))

    # ------------------------------------------------------------ traversal
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(dotted name, module) for this module and every descendant, depth first."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                sub = prefix + ("." if prefix else "") + name
                yield from m.named_modules(memo, sub, remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, kind, prefix, recurse, remove_duplicate=True):
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        seen = set()
        for mod_prefix, m in mods:
            for name, v in getattr(m, kind).items():
                if v is None or (remove_duplicate and id(v) in seen):
                    continue
                seen.add(id(v))           # a weight shared by two layers is listed once
                yield mod_prefix + ("." if mod_prefix else "") + name, v

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(dotted name, Parameter), in registration order, each shared weight once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        """Call ``fn(m)`` on every child (recursively), then on self; e.g. custom init."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------ modes and gradients
    def train(self, mode=True):
        """Training mode (Dropout drops, BatchNorm uses batch statistics) for self and children."""
        if not isinstance(mode, bool):
            raise ValueError(f"train(): mode is expected to be a bool, got {mode!r}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Forget accumulated gradients: ``p.grad = None`` (torch's default), or fill with 0."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad[...] = 0

    # ------------------------------------------------------------ dtype
    def to(self, dtype):
        """Cast floating-point parameters (with their grads) and buffers to ``dtype``, in place.

        Parameters keep their identity (an optimiser holding them still works); integer buffers
        such as ``num_batches_tracked`` stay int64, as in torch.  ``to("cpu")`` is a no-op."""
        if isinstance(dtype, str) and dtype == "cpu":
            return self
        dt = np.dtype(dtype)
        if dt.kind != "f":
            raise TypeError(f"Module.to: expected a floating-point dtype, got {dt}")
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None and p.data.dtype.kind == "f":
                    p.data = p.data.astype(dt, copy=False)
                    if p.grad is not None:
                        p.grad = p.grad.astype(dt, copy=False)
            for name, b in m._buffers.items():
                if b is not None and b.dtype.kind == "f":
                    m._buffers[name] = b.astype(dt, copy=False)
        return self

    def double(self):
        return self.to(np.float64)

    def float(self):
        return self.to(np.float32)

    # ------------------------------------------------------------ state dict
    def state_dict(self, prefix=""):
        """OrderedDict name -> numpy array (a copy) of every parameter and persistent buffer.

        Order and names are torch's: a module's own parameters, then its buffers, then each child
        with "child." prepended (e.g. "features.0.weight", "bn.num_batches_tracked")."""
        out = OrderedDict()
        for mod_prefix, m in self.named_modules(prefix=prefix, remove_duplicate=False):
            dot = mod_prefix + ("." if mod_prefix else "")
            for name, p in m._parameters.items():
                if p is not None:
                    out[dot + name] = p.data.copy()
            for name, b in m._buffers.items():
                if b is not None and name not in m._non_persistent:
                    out[dot + name] = b.copy()
        return out

    # buffers a checkpoint may lack without being "missing" (torch: BatchNorm's counter, absent
    # from old checkpoints); they keep their current value
    _optional_state = ()

    def _state_targets(self):
        """name -> (array behind the state_dict entry, may it be missing?)."""
        targets = OrderedDict()
        for mod_prefix, m in self.named_modules(remove_duplicate=False):
            dot = mod_prefix + ("." if mod_prefix else "")
            for name, p in m._parameters.items():
                if p is not None:
                    targets[dot + name] = (p.data, False)
            for name, b in m._buffers.items():
                if b is not None and name not in m._non_persistent:
                    targets[dot + name] = (b, name in m._optional_state)
        return targets

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays from ``state_dict`` into the parameters and buffers, in place.

        Values may be numpy arrays, Tensors (ours or torch's CPU tensors) or nested lists; each is
        cast to the target's dtype.  Every problem is collected first, then one RuntimeError lists
        them all: missing keys, unexpected keys (both only when ``strict``) and shape mismatches
        (always).  Returns ``IncompatibleKeys(missing_keys, unexpected_keys)``.  Nothing is
        modified when an error is raised."""
        if not hasattr(state_dict, "items"):
            raise TypeError(f"load_state_dict: expected a mapping name -> array, got "
                            f"{type(state_dict).__name__}")
        targets = self._state_targets()
        missing = [k for k, (_, optional) in targets.items()
                   if k not in state_dict and not optional]
        unexpected = [k for k in state_dict if k not in targets]
        errors, copies = [], []
        for key, (dst, _) in targets.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            try:
                src = np.asarray(value.data if isinstance(value, Tensor) else value)
            except Exception as exc:            # e.g. a torch tensor that requires grad
                try:
                    src = np.asarray(value.detach())
                except Exception:
                    errors.append(f"cannot convert value for {key} ({type(value).__name__}) "
                                  f"to a numpy array: {exc}")
                    continue
            if src.shape != dst.shape:
                errors.append(f"size mismatch for {key}: copying a param with shape "
                              f"{src.shape} from checkpoint, the shape in current model is "
                              f"{dst.shape}.")
            elif src.dtype.kind not in "biuf":
                errors.append(f"value for {key} has non-numeric dtype {src.dtype}")
            else:
                copies.append((dst, src))
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in unexpected) + ".")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in missing) + ".")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        for dst, src in copies:
            np.copyto(dst, src, casting="unsafe")     # in place: optimisers keep their refs
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------ repr
    def extra_repr(self):
        """The arguments shown inside ``Name(...)``; layers override it (non-defaults only)."""
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + _addindent(repr(m), 2)
                       for name, m in self._child_repr_items()]
        lines = extra_lines + child_lines
        body = ""
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                body = extra_lines[0]
            else:
                body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{self._get_name()}({body})"

    def _child_repr_items(self):
        return list(self._modules.items())


@contextlib.contextmanager
def evaluating(module):
    """``with evaluating(model): ...`` -- eval mode inside the block; afterwards every module gets
    back its *own* mode flag (a model may be in train mode with one frozen, eval-mode part, so a
    single ``train(was_training)`` would not restore it)."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
