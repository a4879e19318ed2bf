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
crash leaves the previous file intact.  ``load`` checks everything and raises CheckpointError (a
ValueError) naming the file for anything it did not write (random bytes, truncation, a plain npz,
pickled members), in bounded memory: see ``load``.
"""
import json
import math
import os
import zipfile
import zlib
from collections import OrderedDict

import numpy as np

from .fileio import atomic_open
from ..tensor import Tensor

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
# ``save`` stores its members uncompressed, so an array takes as many bytes in memory as on disk.
# A member compressed by another tool may inflate to MAX_RATIO times the file's size (or to
# MIN_LIMIT bytes in all, whichever is larger); deflate reaches 1032x on zeros, so a zip bomb is
# refused from its declared sizes, before a byte is inflated.
MAX_RATIO = 100
MIN_LIMIT = 256 * 2 ** 20
STRUCTURE_LIMIT = 64 * 2 ** 20           # the JSON structure member: metrics, args, RNG states


class _Decoder:
    """JSON structure -> objects; each array member is read (once) when the structure first
    names it, so members it never names are never inflated."""

    def __init__(self, read_member, fail):
        self.read_member, self.fail = read_member, fail
        self.arrays = {}

    def member(self, name):
        if name not in self.arrays:
            self.arrays[name] = self.read_member(name)
        return self.arrays[name]

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
        if tag in ("array", "scalar") and type(body) is str:
            arr = self.member(body)
            if tag == "array":
                return arr
            if arr.ndim != 0:
                self.fail(f"scalar member {body} has shape {arr.shape}")
            return arr[()]                              # 0-d array -> numpy scalar
        self.fail(f"unknown tag in {str(x)[:80]!r}")

    def decode_key(self, k):
        if k is None or type(k) in (bool, int, float, str):
            return k
        if type(k) is dict and list(k) == ["tuple"] and type(k["tuple"]) is list:
            return tuple(self.decode_key(v) for v in k["tuple"])
        self.fail(f"bad dict key {str(k)[:80]!r} in the structure")


def load(path):
    """Read a file written by ``save``.  Never unpickles anything; any file that is not a
    complete minitorch checkpoint raises CheckpointError naming the file and the problem.

    Memory stays near the size of the arrays returned: members the structure does not name are
    never read; a member's size is known before it is inflated (its ``.npy`` header's shape and
    dtype must match the zip entry's declared size, and all of them together must fit the
    limit above); inflation stops at that size; each array is read straight into its own buffer.
    """
    path = os.fspath(path)

    def fail(problem):
        raise CheckpointError(f"load: {path!r} is not a valid minitorch_cnn checkpoint: {problem}")

    with open(path, "rb") as f:                      # FileNotFoundError etc. pass through
        if f.read(4) != b"PK\x03\x04":
            fail("it is not an npz (zip) file")
        f.seek(0)
        budget = [max(MAX_RATIO * os.fstat(f.fileno()).st_size, MIN_LIMIT)]
        try:
            with zipfile.ZipFile(f) as zf:
                return _load_zip(zf, budget, fail)
        except CheckpointError:
            raise
        except RecursionError:
            fail("the structure is nested too deeply")
        except MemoryError:
            raise
        except Exception as e:                       # noqa: BLE001 -- see _read_member
            fail(f"{type(e).__name__}: {e} (truncated, corrupt, or an array stored with pickle?)")


def _load_zip(zf, budget, fail):
    names = set(zf.namelist())
    if STRUCTURE + ".npy" not in names:
        fail(f"it has no '{STRUCTURE}' member (a plain npz file, not written by "
             f"minitorch_cnn.save?); members: {sorted(names)[:10]}")
    for name in names:
        if not name.endswith(".npy"):
            fail(f"unexpected member {name!r} (not an .npy array)")
    declared = sum(info.file_size for info in zf.infolist())
    if declared > budget[0]:                         # a bomb, even in members never read
        fail(f"its members declare {declared} bytes in all, more than the {budget[0]} allowed "
             f"for a file of this size (a zip bomb?); nothing was inflated")
    raw = _read_member(zf, STRUCTURE + ".npy", [min(budget[0], STRUCTURE_LIMIT)], fail)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        fail(f"the structure member has dtype {raw.dtype} and shape {raw.shape}, "
             f"expected 1-d uint8")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        # ValueError also covers an integer of more digits than Python converts (4300)
        fail(f"the structure member is not valid UTF-8 JSON ({type(e).__name__}: {e})")
    if type(meta) is not dict or meta.get("format") != FORMAT or "root" not in meta:
        fail("the structure member does not describe a minitorch_cnn checkpoint")
    if meta.get("version") != VERSION:
        fail(f"format version {meta.get('version')!r}; this minitorch_cnn reads version "
             f"{VERSION}")

    def read_array(name):
        if name + ".npy" not in names or name == STRUCTURE:
            fail(f"the structure names a missing member {name!r}")
        return _read_member(zf, name + ".npy", budget, fail)
    return _Decoder(read_array, fail).decode(meta["root"])


def _read_member(zf, name, budget, fail):
    """One ``.npy`` member, read in bounded memory and checked completely.

    Why not ``np.load``?  It reads an array's bytes lazily and only as many as the (possibly
    damaged) header asks for, so the zip CRC of a member is never checked: a flipped bit in a
    shape ``(1000,)`` -> ``(0000,)`` would load as an empty array without a word.  Here the
    header's size must equal the zip entry's declared size, every byte is read (``zipfile``
    then checks the CRC at the end), and reading stops there.  ``budget[0]`` is the number of
    bytes still allowed.  Anything a damaged file can make the zip or npy readers raise
    (BadZipFile, EOFError, tokenizer errors, ...) is turned into a CheckpointError by ``load``.
    """
    info = zf.getinfo(name)
    with zf.open(info) as fp:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            fail(f"member {name!r}: unsupported .npy format version {version}")
        if dtype.hasobject:
            fail(f"member {name!r} holds Python objects (dtype {dtype}): they can only be read "
                 f"with pickle, which load never does")
        header = fp.tell()
        nbytes = math.prod(shape) * dtype.itemsize
        if header + nbytes != info.file_size:
            fail(f"member {name!r}: its header accounts for {header + nbytes} of its "
                 f"{info.file_size} bytes (a damaged header?)")
        if nbytes > budget[0]:
            fail(f"member {name!r} would inflate to {nbytes} bytes, over the {budget[0]} "
                 f"still allowed for this file (a zip bomb?)")
        budget[0] -= nbytes
        stored = info.compress_type == zipfile.ZIP_STORED
        if stored:                                   # its bytes must be in the file
            start = _stored_start(zf.fp, info, name, fail)
            if start + info.file_size > os.fstat(zf.fp.fileno()).st_size:
                fail(f"member {name!r} runs past the end of the file (a truncated file?)")
        arr = np.empty(shape[::-1] if fortran else shape, dtype=dtype)
        view = memoryview(arr.reshape(-1).view(np.uint8)) if nbytes else memoryview(b"")
        if stored:
            fp.seek(0)
            _read_stored(zf.fp, start, info, fp.read(header), view, name, fail)
        else:
            done = 0
            while done < nbytes:
                chunk = fp.read(min(nbytes - done, 1 << 20))
                if not chunk:
                    fail(f"member {name!r} ends after {done} of its {nbytes} array bytes")
                view[done:done + len(chunk)] = chunk
                done += len(chunk)
            if fp.read(1):                           # also where zipfile checks the CRC
                fail(f"member {name!r} is longer than its declared size")
    return arr.T if fortran else arr


def _stored_start(f, info, name, fail):
    """Where an uncompressed member's bytes start in the file (after its local header)."""
    f.seek(info.header_offset)
    local = f.read(30)                               # the local file header
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        fail(f"member {name!r}: bad local file header")
    return info.header_offset + 30 + int.from_bytes(local[26:28], "little") \
        + int.from_bytes(local[28:30], "little")


def _read_stored(f, start, info, header, view, name, fail):
    """An uncompressed member's array bytes, read by the kernel straight into ``view`` (4x
    faster than copying chunks: the new pages are filled in the kernel), and its CRC checked."""
    f.seek(start + len(header))
    done = 0
    while done < len(view):
        n = f.readinto(view[done:])
        if not n:
            fail(f"member {name!r} ends after {done} of its {len(view)} array bytes "
                 f"(a truncated file?)")
        done += n
    if zlib.crc32(view, zlib.crc32(header)) != info.CRC:
        fail(f"member {name!r}: bad CRC-32 (the file is damaged)")
