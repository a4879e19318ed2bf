"""``save_safetensors`` / ``load_safetensors``: weights in the safetensors format, for PyTorch.

    mt.save_safetensors(model.state_dict(), "inception.safetensors")
    # in PyTorch, on the same module tree (minitorch_cnn.models.torch_twin):
    #   model.load_state_dict(safetensors.torch.load_file("inception.safetensors"))

A safetensors file is the simplest possible weights file -- and, like ``mt.save``, holds no code
(no pickle)::

    8 bytes        N, the header length (unsigned little-endian)
    N bytes        UTF-8 JSON: {"name": {"dtype": "F32", "shape": [32, 1, 3, 3],
                                         "data_offsets": [begin, end]}, ...,
                                "__metadata__": {"str": "str", ...}}
    the rest       the arrays' bytes, little-endian, C order, back to back

Only flat {name: array} dicts fit, which is exactly a ``state_dict`` (weights only: no optimizer,
no architecture -- for those, ``mt.save`` or ONNX).  The keys are PyTorch's, so the file loads
into the PyTorch module tree of the same model and back.

Both functions go through the ``safetensors`` package's numpy API (an optional extra:
``pip install 'minitorch_cnn[safetensors]'``), imported only when called.  ``load_safetensors``
first checks the frame itself -- header length against the file size, the JSON, every entry's
dtype, shape and byte range -- so a hostile or truncated file is refused with a ``ValueError``
naming the file, before the library reads a single array (and nothing larger than the file is
ever allocated).  Writes are atomic.
"""
import json
import math
import os

import numpy as np

from .fileio import atomic_write_bytes
from ..tensor import Tensor

__all__ = ["save_safetensors", "load_safetensors", "SafetensorsError"]

# safetensors dtype code -> numpy dtype (the ones numpy has; BF16 and F8 have no numpy type)
DTYPES = {"BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "U16": np.uint16, "I16": np.int16,
          "U32": np.uint32, "I32": np.int32, "U64": np.uint64, "I64": np.int64,
          "F16": np.float16, "F32": np.float32, "F64": np.float64}
MAX_HEADER = 100 * 1024 * 1024        # the safetensors library's own limit on the JSON header


class SafetensorsError(ValueError):
    """``load_safetensors`` found a file that is not a valid safetensors file."""


def _require_safetensors():
    try:
        import safetensors.numpy
    except ImportError:
        raise ImportError("mt.save_safetensors / mt.load_safetensors need the 'safetensors' "
                          "package, an optional extra: pip install 'minitorch_cnn[safetensors]'"
                          "  (or: pip install safetensors)") from None
    return safetensors.numpy


def save_safetensors(state_dict, path, metadata=None):
    """Write ``state_dict`` ({str: Tensor or ndarray}) to ``path`` in the safetensors format.

    ``metadata``: optional {str: str}, stored in the header's ``__metadata__``.
    """
    st = _require_safetensors()
    if not isinstance(state_dict, dict):
        raise TypeError(f"save_safetensors: expected a dict of arrays (a state_dict), got "
                        f"{type(state_dict).__name__}")
    arrays = {}
    for name, value in state_dict.items():
        if not isinstance(name, str):
            raise TypeError(f"save_safetensors: keys must be strings, got {name!r}")
        arr = value.data if isinstance(value, Tensor) else value
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"save_safetensors: {name!r} is a {type(value).__name__}, not an "
                            f"array; safetensors stores arrays only (use mt.save for other "
                            f"values)")
        if arr.dtype.type not in DTYPES.values():
            raise TypeError(f"save_safetensors: {name!r} has dtype {arr.dtype}; safetensors "
                            f"stores {', '.join(np.dtype(d).name for d in DTYPES.values())}")
        arrays[name] = np.asarray(arr, order="C")
    if metadata is not None and not (isinstance(metadata, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
        raise TypeError("save_safetensors: metadata must be a dict of str -> str")
    atomic_write_bytes(path, st.save(arrays, metadata=metadata))


def load_safetensors(path):
    """Read a safetensors file into a {name: ndarray} dict (in the file's order).

    Raises ``SafetensorsError`` (a ValueError) naming the file for anything that is not a
    complete, consistent safetensors file of numpy dtypes.
    """
    st = _require_safetensors()
    path = os.fspath(path)

    def fail(problem):
        raise SafetensorsError(f"load_safetensors: {path!r} is not a valid safetensors file: "
                               f"{problem}")

    size = os.stat(path).st_size                      # FileNotFoundError passes through
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            fail(f"{size} bytes, too short for the 8-byte header length")
        n = int.from_bytes(head, "little")
        if n > min(size - 8, MAX_HEADER):
            fail(f"the header claims {n} bytes, but the file has {size - 8} after the length "
                 f"field (the limit is {MAX_HEADER})")
        raw = f.read(n)
        try:
            header = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            fail(f"the header is not UTF-8 JSON ({type(e).__name__}: {e})")
        if not isinstance(header, dict):
            fail(f"the header is a JSON {type(header).__name__}, not an object")
        _check_entries(header, size - 8 - n, fail)
        f.seek(0)                                     # checked: now the whole file, once
        data = f.read()
    try:
        loaded = st.load(data)
    except Exception as e:                            # noqa: BLE001 -- the library's own error
        fail(f"{type(e).__name__}: {e}")
    order = [k for k in header if k != "__metadata__"]
    return {k: loaded[k] for k in order}


def _check_entries(header, buffer_size, fail):
    """Every entry: a known dtype, a shape of non-negative ints, and a byte range of exactly
    prod(shape) * itemsize inside the data; together the ranges tile the data without gaps."""
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        fail("__metadata__ must map strings to strings")
    spans = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not (isinstance(entry, dict) and {"dtype", "shape", "data_offsets"} <= set(entry)):
            fail(f"entry {name!r} lacks dtype, shape or data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in DTYPES:
            fail(f"entry {name!r} has dtype {dtype!r}; numpy reads {', '.join(DTYPES)}")
        if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
            fail(f"entry {name!r} has shape {shape!r}, not a list of non-negative ints")
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(type(o) is int for o in offsets) and 0 <= offsets[0] <= offsets[1]
                <= buffer_size):
            fail(f"entry {name!r} has data_offsets {offsets!r}, outside the {buffer_size} data "
                 f"bytes")
        want = math.prod(shape) * np.dtype(DTYPES[dtype]).itemsize
        if offsets[1] - offsets[0] != want:
            fail(f"entry {name!r}: shape {shape} {dtype} needs {want} bytes, its range holds "
                 f"{offsets[1] - offsets[0]}")
        spans.append((offsets[0], offsets[1], name))
    end = 0
    for begin, stop, name in sorted(spans):
        if begin != end:
            fail(f"entry {name!r} starts at byte {begin}, expected {end} (overlapping or "
                 f"missing data)")
        end = stop
    if end != buffer_size:
        fail(f"the entries cover {end} of the {buffer_size} data bytes")
