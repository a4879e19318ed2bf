"""``keep_freed_memory()``: tune glibc ``malloc`` to keep freed memory for reuse.

A training step allocates and frees the same large arrays (1-30 MB) every batch; by default glibc
returns such blocks to the kernel, and every next write faults the pages back in, zeroed.  Two
``mallopt`` settings keep them in the heap instead: the allocator reuses what the last step freed.

It changes the allocator of the *whole process*, so the library never applies it by itself:
``import minitorch_cnn`` leaves malloc alone.  Programs that own their process call it -- the
training CLI (``minitorch-train``) and the benchmarks do -- and so may you::

    import minitorch_cnn as mt
    mt.keep_freed_memory()        # True on Linux/glibc; a no-op returning False elsewhere

Lifetime: from the call to the end of the process (there is no undo).  What it buys, measured,
and the command that measures it: docs/performance.md.  ``MINITORCH_CNN_KEEP_FREED_MEMORY=0`` (or
``false``/``no``/``off``) makes the call a no-op.
"""
import ctypes
import ctypes.util
import os
import platform

_M_TRIM_THRESHOLD = -1          # glibc's <malloc.h> constants
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024       # the largest glibc accepts on 64-bit (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 1024 * 1024 * 1024

_OFF = ("0", "false", "no", "off")


def keep_freed_memory():
    """Tune glibc ``malloc`` to keep freed memory for reuse.  Returns True if it was applied.

    Calling it again applies the same two settings again (idempotent); they last until the
    process ends.  A no-op returning False on other C libraries, or when the environment
    variable ``MINITORCH_CNN_KEEP_FREED_MEMORY`` is ``0``, ``false``, ``no`` or ``off``.  True
    means glibc accepted both settings (``mallopt`` returns 1 for each).  Nothing is recorded in
    the module: the state is the allocator's own.
    """
    if opted_out():
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # mallopt returns 1 on success; a threshold it refuses leaves that setting as it was
    accepted = [mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD), mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)]
    return all(r == 1 for r in accepted)


def opted_out():
    """True when the environment asks to leave malloc alone."""
    return os.environ.get("MINITORCH_CNN_KEEP_FREED_MEMORY", "1").strip().lower() in _OFF
