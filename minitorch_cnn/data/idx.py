"""Reading IDX files, the simple array format MNIST is distributed in.

An IDX file is a tiny header followed by the raw array, all big-endian::

    byte 0, 1      0x00 0x00          (the "magic number" starts with two zero bytes)
    byte 2         dtype code         0x08 uint8   0x09 int8    0x0B int16
                                      0x0C int32   0x0D float32 0x0E float64
    byte 3         ndim               number of dimensions D (0..255)
    D x 4 bytes    the dimensions     each an unsigned 32-bit big-endian integer
    the payload    prod(dims) * itemsize bytes, C order, big-endian

MNIST's ``train-images-idx3-ubyte`` is code 0x08 (uint8), D = 3, dims 60000 x 28 x 28.

The files are usually gzipped. We recognise gzip by its two magic bytes ``1f 8b`` rather than by
the file name, so a renamed file still loads. Since the header says exactly how many bytes must
follow, every mismatch (too few *or* too many bytes) is an error: a truncated download must never
turn into a silently shorter array.
"""
import gzip
import io
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["read_idx", "IDX_DTYPES"]

# dtype code -> numpy dtype as stored in the file (">" = big-endian).
IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


# A gzipped IDX file may inflate to MAX_RATIO times its compressed size, or to MIN_LIMIT bytes,
# whichever is larger (MNIST's largest file: 47,040,016 bytes from 9.9 MB, 4.8x).  deflate reaches
# 1032x on zeros, so a decompression bomb is refused from its header, before it is inflated.
MAX_RATIO = 100
MIN_LIMIT = 256 * 2 ** 20


def maybe_gunzip(raw, name="<bytes>"):
    """``(content, was_gzip)``: ``raw`` decompressed if it starts with the gzip magic 1f 8b.

    A damaged gzip stream (truncated, bad CRC) raises ``ValueError`` naming ``name``; so does a
    stream that would inflate past what its IDX header promises (see ``gunzip_idx``).
    """
    if raw[:2] != _GZIP_MAGIC:
        return raw, False
    return gunzip_idx(io.BytesIO(raw), len(raw), name), True


def gunzip_idx(fileobj, compressed_size, name="<bytes>"):
    """Inflate a gzipped IDX stream in bounded memory: the header is inflated first, its dims
    give the exact size of the content, which must fit the limit above; inflation stops there.

    Returns the content (a bytearray); parse_idx reports a header it cannot use or a short
    payload.  Bytes beyond the promised size are an error (the stream is not read further).
    """
    def fail(what):
        raise ValueError(f"{name}: {what}") from None

    try:
        with gzip.GzipFile(fileobj=fileobj, mode="rb") as g:
            head = g.read(4)
            if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in IDX_DTYPES:
                return bytearray(head)               # parse_idx says what is wrong with it
            head += g.read(4 * head[3])
            if len(head) < 4 + 4 * head[3]:
                return bytearray(head)
            dims = struct.unpack(f">{head[3]}I", head[4:])
            size = len(head) + math.prod(dims) * IDX_DTYPES[head[2]].itemsize
            limit = max(MAX_RATIO * compressed_size, MIN_LIMIT)
            if size > limit:
                fail(f"the IDX header promises {' x '.join(map(str, dims))} = {size} bytes from "
                     f"{compressed_size} compressed bytes, more than the {limit} allowed (a "
                     f"decompression bomb?); refused before inflating it")
            # grown as bytes arrive, not allocated from the header: a header may promise more
            # than the stream holds
            content = bytearray(head)
            while len(content) < size:
                chunk = g.read(min(size - len(content), 1 << 20))
                if not chunk:
                    return content                   # truncated payload: parse_idx says so
                content += chunk
            if g.read(1):                            # at the end gzip checks CRC and length
                fail(f"the gzip stream holds more than the {size} bytes its IDX header "
                     f"promises (extra trailing bytes); stopped reading there")
    except (EOFError, OSError, zlib.error) as e:     # gzip.BadGzipFile is an OSError
        fail(f"corrupted gzip stream ({compressed_size} bytes): {e}. "
             f"Probably a truncated download; delete it and fetch it again.")
    return content


def read_bytes(path):
    """The file's content, decompressed (in bounded memory) if it is gzip: ``(content,
    was_gzip)``."""
    path = Path(path)
    with open(path, "rb") as f:
        if f.read(2) != _GZIP_MAGIC:
            f.seek(0)
            return f.read(), False
        f.seek(0)
        return gunzip_idx(f, os.fstat(f.fileno()).st_size, f"read_idx: {path}"), True


def parse_idx(content, name="<bytes>"):
    """Decode IDX ``content`` (bytes, already decompressed) into a native-endian ndarray.

    ``name`` is only used in error messages.
    """
    def fail(what):
        raise ValueError(f"read_idx: {name}: {what}")

    if len(content) < 4:
        fail(f"file too short for an IDX header: {len(content)} bytes, need at least 4")
    zero0, zero1, code, ndim = content[0], content[1], content[2], content[3]
    if zero0 != 0 or zero1 != 0:
        fail(f"bad magic number {content[:4].hex(' ')}: an IDX file starts with two zero "
             f"bytes, then the dtype code and the number of dimensions")
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X} {d.name}" for c, d in IDX_DTYPES.items())
        fail(f"unknown dtype code 0x{code:02X} (known: {known})")
    header_len = 4 + 4 * ndim
    if len(content) < header_len:
        fail(f"header declares {ndim} dimensions ({header_len} header bytes) but the file "
             f"has only {len(content)} bytes")
    dims = struct.unpack(f">{ndim}I", content[4:header_len])
    if ndim > 64:                                         # numpy's limit (NPY_MAXDIMS)
        fail(f"{ndim} dimensions; numpy arrays have at most 64")

    dtype = IDX_DTYPES[code]
    if math.prod(d for d in dims if d) * dtype.itemsize >= 2 ** 63:   # numpy's size limit,
        fail(f"dimensions {' x '.join(map(str, dims))} are beyond any array's size")  # even if
    expected = math.prod(dims) * dtype.itemsize          # a zero dim makes it empty; prod(())==1
    got = len(content) - header_len
    if got != expected:
        shape = " x ".join(map(str, dims)) or "scalar"
        kind = "truncated" if got < expected else "has extra trailing bytes"
        fail(f"payload {kind}: the header promises {shape} {dtype.name} = {expected} bytes "
             f"after the {header_len}-byte header, the file has {got}")

    # frombuffer makes a read-only view of the bytes; astype to the native-endian dtype makes
    # the one (writable) copy we return -- also for uint8, where it is a plain copy.
    arr = np.frombuffer(content, dtype=dtype, offset=header_len).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))


def read_idx(path):
    """Read an IDX file (gzipped or raw) into a native-endian ndarray of the stored dtype/shape.

    Raises ``ValueError`` naming the file and the problem for a bad magic number, an unknown
    dtype code, a header that does not fit, a payload shorter or longer than the header
    promises, or a corrupted gzip stream. ``FileNotFoundError`` if the file does not exist.

    >>> read_idx("data/mnist/t10k-labels-idx1-ubyte.gz")[:5]
    array([7, 2, 1, 0, 4], dtype=uint8)
    """
    content, _ = read_bytes(path)
    return parse_idx(content, name=str(path))
