"""``save(obj, path)`` / ``load(path)``: checkpoints in one ``.npz`` file, without pickle.

Why not pickle?  Unpickling runs code chosen by whoever wrote the file, so a downloaded
checkpoint could do anything.  Instead a checkpoint is a zip of ``.npy`` members (numpy's
documented array format, read with ``allow_pickle=False``):

* ``arr_0.npy``, ``arr_1.npy``, ... -- every array found in ``obj``;
* ``__minitorch__.npy``             -- the *structure*: UTF-8 JSON stored as a uint8 array.

The JSON mirrors ``obj`` with each container and array replaced by a one-key tagged object, so
that every type comes back exactly as it went in:

    None, bool, int, float, str   -> themselves (JSON ints are exact at any size, so the 128-bit
                                     integers of a PCG64 state survive; nan/inf are written as
                                     NaN/Infinity, which Python's json reads back)
    list / tuple                  -> {"list": [...]} / {"tuple": [...]}
    dict / OrderedDict            -> {"dict": [[key, value], ...]} / {"odict": [...]}
                                     (keys are encoded like values: int keys stay ints)
    ndarray, Tensor               -> {"array": "arr_3"}       (a Tensor comes back as its array)
    numpy scalar (np.float32(1.5))-> {"scalar": "arr_4"}      (comes back as the same numpy
                                     scalar type, e.g. np.float32, not a Python float)

Object arrays are refused (they can only be stored by pickling their items), as is any other type
(a clear TypeError giving where in ``obj`` it sits).  Writes are atomic (fileio.atomic_open): a
crash leaves the previous file intact.  ``load`` checks everything and raises ValueError naming
the file for anything it did not write (random bytes, truncation, a plain npz, pickled members).
"""
import io
import json
import os
import zipfile
from collections import OrderedDict

import numpy as np

from .fileio import atomic_open
from .tensor import Tensor

__all__ = ["save", "load", "CheckpointError"]

STRUCTURE = "__minitorch__"              # the structure member's name (".npy" is added by numpy)
FORMAT, VERSION = "minitorch_cnn.checkpoint", 1


class CheckpointError(ValueError):
    """``load`` found a file it cannot read as a checkpoint (a ValueError subclass)."""


# ---------------------------------------------------------------------------------- encoding
class _Encoder:
    """Walk ``obj`` once: build the JSON-able structure and collect the arrays."""

    def __init__(self):
        self.arrays = {}
        self._active = set()                 # ids of the containers being walked (cycles)

    def _add_array(self, arr, where):
        if arr.dtype.hasobject:
            raise TypeError(f"save: cannot store an object array (dtype {arr.dtype}) at {where}:"
                            f" its items could only be saved with pickle; convert it to a "
                            f"numeric, bool or string array, or to a list")
        name = f"arr_{len(self.arrays)}"
        self.arrays[name] = arr
        return name

    def encode(self, x, where="obj"):
        t = type(x)
        if x is None or t in (bool, int, str):
            return x
        if t is float:
            return x
        if isinstance(x, Tensor):
            return {"array": self._add_array(x.data, where)}
        if isinstance(x, np.ma.MaskedArray):
            raise TypeError(f"save: cannot store a masked array at {where}: its mask would be "
                            f"lost; store .data and .mask (or .filled(value)) instead")
        if isinstance(x, np.ndarray):                       # subclasses come back as ndarray
            return {"array": self._add_array(np.asarray(x), where)}
        if isinstance(x, np.generic):
            return {"scalar": self._add_array(np.asarray(x), where)}
        if t in (list, tuple, dict, OrderedDict):
            if id(x) in self._active:
                raise ValueError(f"save: {where} contains itself (a circular reference)")
            self._active.add(id(x))
            try:
                if t in (list, tuple):
                    items = [self.encode(v, f"{where}[{i}]") for i, v in enumerate(x)]
                    return {t.__name__: items}
                pairs = [[self._key(k, where), self.encode(v, f"{where}[{k!r}]")]
                         for k, v in x.items()]
                return {"odict" if t is OrderedDict else "dict": pairs}
            finally:
                self._active.discard(id(x))
        raise TypeError(f"save: cannot store {t.__module__}.{t.__qualname__} at {where}; "
                        f"supported: dict, OrderedDict, list, tuple, ndarray, Tensor, numpy "
                        f"scalars, int, float, bool, str, None")

    def _key(self, k, where):
        """Dict keys: hashable scalars or tuples of them (they are rebuilt as keys on load)."""
        t = type(k)
        if k is None or t in (bool, int, float, str):
            return k
        if t is tuple:
            return {"tuple": [self._key(v, where) for v in k]}
        raise TypeError(f"save: cannot store a dict key of type {t.__name__} ({k!r}) in {where}"
                        f"; keys must be str, int, float, bool, None or tuples of these")


def save(obj, path):
    """Write ``obj`` (nested dict/list/tuple of arrays, Tensors, numbers, strings, None) to
    ``path`` -- exactly that path: no ".npz" is appended.  Atomic: the file is replaced only once
    the new one is complete and flushed to disk."""
    enc = _Encoder()
    root = enc.encode(obj)                           # all type errors happen before any I/O
    text = json.dumps({"format": FORMAT, "version": VERSION, "root": root})
    members = dict(enc.arrays)
    members[STRUCTURE] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    with atomic_open(path, "wb") as f:
        _write_npz(f, members)


def _write_npz(f, members):
    # A file object, not a path: np.savez would append ".npz" to a path without it.
    np.savez(f, allow_pickle=False, **members)


# ---------------------------------------------------------------------------------- decoding
class _Decoder:
    def __init__(self, arrays, fail):
        self.arrays, self.fail = arrays, fail

    def decode(self, x):
        if x is None or type(x) in (bool, int, float, str):
            return x
        if type(x) is not dict or len(x) != 1:
            self.fail(f"unexpected entry {str(x)[:80]!r} in the structure")
        (tag, body), = x.items()
        if tag in ("list", "tuple") and type(body) is list:
            items = [self.decode(v) for v in body]
            return items if tag == "list" else tuple(items)
        if tag in ("dict", "odict") and type(body) is list:
            out = {} if tag == "dict" else OrderedDict()
            for pair in body:
                if type(pair) is not list or len(pair) != 2:
                    self.fail(f"bad dict entry {str(pair)[:80]!r} in the structure")
                out[self.decode_key(pair[0])] = self.decode(pair[1])
            return out
        if tag in ("array", "scalar") and type(body) is str and body in self.arrays:
            arr = self.arrays[body]
            if tag == "array":
                return arr
            if arr.ndim != 0:
                self.fail(f"scalar member {body} has shape {arr.shape}")
            return arr[()]                              # 0-d array -> numpy scalar
        self.fail(f"unknown tag or missing member in {str(x)[:80]!r}")

    def decode_key(self, k):
        if k is None or type(k) in (bool, int, float, str):
            return k
        if type(k) is dict and list(k) == ["tuple"] and type(k["tuple"]) is list:
            return tuple(self.decode_key(v) for v in k["tuple"])
        self.fail(f"bad dict key {str(k)[:80]!r} in the structure")


def load(path):
    """Read a file written by ``save``.  Never unpickles anything; any file that is not a
    complete minitorch checkpoint raises ValueError naming the file and the problem."""
    path = os.fspath(path)

    def fail(problem):
        raise CheckpointError(f"load: {path!r} is not a valid minitorch_cnn checkpoint: {problem}")

    with open(path, "rb") as f:                      # FileNotFoundError etc. pass through
        if f.read(4) != b"PK\x03\x04":
            fail("it is not an npz (zip) file")
        f.seek(0)
        try:
            arrays = _read_members(f, fail)
        except CheckpointError:
            raise
        except Exception as e:                       # noqa: BLE001 -- see _read_members
            fail(f"{type(e).__name__}: {e} (truncated, corrupt, or an array stored with pickle?)")
    raw = arrays.pop(STRUCTURE)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        fail(f"the structure member has dtype {raw.dtype} and shape {raw.shape}, "
             f"expected 1-d uint8")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        fail(f"the structure member is not valid UTF-8 JSON ({type(e).__name__}: {e})")
    if type(meta) is not dict or meta.get("format") != FORMAT or "root" not in meta:
        fail("the structure member does not describe a minitorch_cnn checkpoint")
    if meta.get("version") != VERSION:
        fail(f"format version {meta.get('version')!r}; this minitorch_cnn reads version "
             f"{VERSION}")
    try:
        return _Decoder(arrays, fail).decode(meta["root"])
    except RecursionError:
        fail("the structure is nested too deeply")


def _read_members(f, fail):
    """{name: array} for every ``.npy`` member, each read *completely* through ``zipfile``.

    Why not ``np.load``?  It reads an array's bytes lazily and only as many as the (possibly
    damaged) header asks for, so the zip CRC of a member is never checked: a flipped bit in a
    shape ``(1000,)`` -> ``(0000,)`` would load as an empty array without a word.  Reading each
    member whole makes ``zipfile`` verify its CRC, and a header that does not account for every
    byte is refused.  Anything a damaged file can make the zip or npy readers raise (BadZipFile,
    RuntimeError, NotImplementedError, tokenizer errors, ...) is turned into a CheckpointError
    by the caller: in this function every failure means "not a valid checkpoint".
    """
    arrays = {}
    with zipfile.ZipFile(f) as zf:
        names = zf.namelist()
        if STRUCTURE + ".npy" not in names:
            fail(f"it has no '{STRUCTURE}' member (a plain npz file, not written by "
                 f"minitorch_cnn.save?); members: {sorted(names)[:10]}")
        for name in names:
            if not name.endswith(".npy"):
                fail(f"unexpected member {name!r} (not an .npy array)")
            data = zf.read(name)                     # checks the member's CRC
            buf = io.BytesIO(data)
            arr = np.lib.format.read_array(buf, allow_pickle=False)
            if buf.tell() != len(data):
                fail(f"member {name!r}: its header accounts for {buf.tell()} of its "
                     f"{len(data)} bytes (a damaged header?)")
            arrays[name[:-len(".npy")]] = arr
    return arrays
    return _Decoder(arrays, fail).decode(meta["root"])
