"""Containers: ``Sequential`` (calls its children in order) and ``ModuleList`` (a list of
modules whose parameters are registered, with no forward of its own).

Both name their children "0", "1", ..., which is where state_dict keys such as
"features.0.weight" come from.
"""
from collections import OrderedDict

from ..ops.dtypes import is_int
from .module import Module


def _check_module(owner, m):
    if not isinstance(m, Module):
        raise TypeError(f"{owner}: expected Module instances, got {type(m).__name__}")
    return m


class _Container(Module):
    """What Sequential and ModuleList share: children named "0", "1", ... that can be indexed
    (negative indices too), iterated, counted, appended, replaced and deleted."""

    def _index(self, idx):
        n = len(self._modules)
        if not is_int(idx):
            raise TypeError(f"{type(self).__name__} indices must be integers or slices, "
                            f"not {type(idx).__name__}")
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for {type(self).__name__} of "
                             f"length {n}")
        return int(idx) % n

    def _renumber(self, modules):
        self._modules.clear()
        for i, m in enumerate(modules):          # keys stay "0", "1", ... like torch
            self._modules[str(i)] = m

    def __getitem__(self, idx):
        return list(self._modules.values())[self._index(idx)]

    def __setitem__(self, idx, module):
        key = list(self._modules)[self._index(idx)]
        self.add_module(key, _check_module(type(self).__name__, module))

    def __delitem__(self, idx):
        mods = list(self._modules.values())
        del mods[idx if isinstance(idx, slice) else self._index(idx)]
        self._renumber(mods)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), _check_module(type(self).__name__, module))
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        mods = list(self._modules.values())
        if not is_int(index):
            raise TypeError(f"insert: index must be an int, got {type(index).__name__}")
        mods.insert(int(index), _check_module(type(self).__name__, module))
        self._renumber(mods)
        return self


class Sequential(_Container):
    """Calls its children one after the other: ``Sequential(Conv2d(1, 8, 3), ReLU())(x)``.

    Children are named "0", "1", ... (or by the keys of an OrderedDict passed instead), which is
    where state_dict names like "features.0.weight" come from.  Indexing (negative too) returns a
    child; a slice returns a new Sequential sharing the children and keeping their names, as
    torch does (so ``model[2:]`` has keys "2.weight", ...).

    Shape:
        whatever the first child accepts -> whatever the last child returns
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, m in args[0].items():
                self.add_module(name, _check_module("Sequential", m))
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), _check_module("Sequential", m))

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return type(self)(OrderedDict(list(self._modules.items())[idx]))
        return super().__getitem__(idx)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x


class ModuleList(_Container):
    """A list of modules whose parameters are registered (a plain Python list would hide them).

    No ``forward``: the owner decides how to call them.  Slicing gives a new ModuleList
    numbered from 0.  Runs of identical children are shown once in the repr, as torch does:
    ``(0-2): 3 x ReLU()``."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        return super().__getitem__(idx)

    def __iadd__(self, modules):
        return self.extend(modules)

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward(); iterate over it and call the "
                                  "modules yourself")

    def _child_repr_items(self):
        items = list(self._modules.items())
        out, i = [], 0
        while i < len(items):
            j = i
            r = repr(items[i][1])
            while j + 1 < len(items) and repr(items[j + 1][1]) == r:
                j += 1
            if j > i:                              # a run of identical reprs
                out.append((f"{items[i][0]}-{items[j][0]}", _Text(f"{j - i + 1} x {r}")))
            else:
                out.append(items[i])
            i = j + 1
        return out


class _Text:
    """A string that reprs as itself (for the compressed ModuleList repr)."""

    def __init__(self, s):
        self.s = s

    def __repr__(self):
        return self.s
