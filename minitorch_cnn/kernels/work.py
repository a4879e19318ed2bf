"""How a kernel's work is split: the one place that decides it.

Memory-bound element-wise passes (pooling, batch norm, ReLU, concatenation) are cut into
*chunks* along an axis of independent work (the N*C planes, the images of a batch, the elements
of a flat array) and the chunks run on a small thread pool: numpy releases the GIL inside large
array operations, so two threads use two cores, as PyTorch's OpenMP does.  A chunk of at most
2 MB also keeps a kernel's several passes over it in cache.

* **Chunk boundaries depend on the shape only, never on the thread count** (``chunks``): every
  thread count runs exactly the same numpy calls on exactly the same slices, so results -- sums
  included -- are bit for bit the same at 1, 2 or 8 threads.
* **Never around a BLAS call.**  The pool runs element-wise passes only; matrix multiplies run
  on the calling thread with BLAS's own threads, so the two never oversubscribe the cores.
* **Owner and lifetime.**  The one ``Workers`` object of this module, ``WORKERS``, owns the pool
  and the thread count.  Nothing is created at import: the count is read from
  ``MINITORCH_CNN_NUM_THREADS`` (default: the CPUs this process may use) on first use, and the
  ``ThreadPoolExecutor`` is created by the first kernel that runs more than one chunk with more
  than one thread.  ``set_num_threads`` shuts the old pool down (a new one comes when needed),
  a forked child makes its own, and ``concurrent.futures`` joins the threads at interpreter exit.

Users call ``mt.set_num_threads(n)`` / ``mt.get_num_threads()`` (exported by the package).
"""
import contextvars
import operator
import os
import threading
from concurrent.futures import ThreadPoolExecutor

ENV_VAR = "MINITORCH_CNN_NUM_THREADS"
CHUNK_BYTES = 1 << 21        # at most ~2 MB per chunk: a kernel's passes over it stay in cache
MIN_CHUNK_BYTES = 1 << 20    # at least ~1 MB: below that the per-chunk Python cost dominates
MIN_CHUNKS = 8               # big arrays in >= 8 chunks, so threads finish close together
POOL_MIN_BYTES = 1 << 22     # smaller work runs its chunks on the caller: a hand-off costs ~60 us
LIGHT_POOL_MIN_BYTES = 1 << 23   # the same for kernels of one cheap pass per hand-off (batch norm)


def default_num_threads():
    """The number of CPUs this process may run on (``os.sched_getaffinity`` where available)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def check_num_threads(n, where):
    """``n`` as a positive int, or a clear error naming ``where`` (the function or variable)."""
    try:
        value = None if isinstance(n, bool) else operator.index(n)    # ints and numpy ints
    except TypeError:
        value = None
    if value is None or value < 1:
        raise ValueError(f"{where}: expected a positive integer number of threads, got {n!r}")
    return value


class Workers:
    """The thread count and the lazily created pool that runs the chunks of a kernel."""

    def __init__(self):
        self._n = None                       # None: not read from the environment yet
        self._pool = None                    # created on first parallel use
        self._pool_size = 0
        self._pool_pid = None                # the process that created it (fork check)
        self._lock = threading.Lock()
        self._local = threading.local()      # .busy: this thread is running a chunk

    def num_threads(self):
        if self._n is None:
            raw = os.environ.get(ENV_VAR, "").strip()
            if not raw:
                self._n = default_num_threads()
            else:
                try:
                    value = int(raw)
                except ValueError:
                    value = 0
                if value < 1:
                    raise ValueError(f"environment variable {ENV_VAR}: expected a positive "
                                     f"integer number of threads, got {raw!r}")
                self._n = value
        return self._n

    def set_num_threads(self, n):
        n = check_num_threads(n, "set_num_threads")
        with self._lock:
            pool, self._pool, self._n = self._pool, None, n
        if pool is not None:
            pool.shutdown(wait=True)

    def _executor(self, n):
        with self._lock:
            if self._pool is not None and self._pool_pid != os.getpid():
                self._pool = None                       # forked: the parent's threads are gone
            if self._pool is None or self._pool_size != n - 1:
                if self._pool is not None:
                    self._pool.shutdown(wait=False)
                self._pool = ThreadPoolExecutor(n - 1, thread_name_prefix="minitorch_cnn")
                self._pool_size, self._pool_pid = n - 1, os.getpid()
            return self._pool

    def run(self, fn, pieces):
        """Call ``fn(piece)`` for every piece, spread over the threads; return when all are done.
        The calling thread works too; a piece that calls ``run`` again runs its pieces itself."""
        pieces = list(pieces)
        n = min(self.num_threads(), len(pieces))
        if n <= 1 or getattr(self._local, "busy", False):
            for p in pieces:
                fn(p)
            return
        todo = iter(pieces)
        take = threading.Lock()

        def work():
            self._local.busy = True
            try:
                while True:
                    with take:
                        p = next(todo, None)
                    if p is None:
                        return
                    fn(p)
            finally:
                self._local.busy = False

        # each thread runs in a copy of the caller's context: np.errstate is a context variable
        futures = [self._executor(n).submit(contextvars.copy_context().run, work)
                   for _ in range(n - 1)]
        try:
            work()
        finally:
            errors = [f.exception() for f in futures]          # wait for every thread
        for e in errors:
            if e is not None:
                raise e


WORKERS = Workers()


def set_num_threads(n):
    """Threads used by the memory-bound kernels (pooling, batch norm, ReLU); BLAS is separate."""
    WORKERS.set_num_threads(n)


def get_num_threads():
    """Threads used by the memory-bound kernels: ``set_num_threads`` or ``MINITORCH_CNN_NUM_THREADS``
    (default: the number of CPUs this process may use)."""
    return WORKERS.num_threads()


def chunks(n, item_bytes):
    """Slices cutting ``range(n)`` (items of ``item_bytes``) into ``MIN_CHUNKS`` pieces, or more
    if that exceeds ``CHUNK_BYTES`` each, fewer if below ``MIN_CHUNK_BYTES``: a function of the
    shape alone, never of the thread count."""
    item_bytes = max(1, item_bytes)
    step = min(max(-(-n // MIN_CHUNKS), MIN_CHUNK_BYTES // item_bytes), CHUNK_BYTES // item_bytes)
    step = max(1, step)
    return [slice(i, min(i + step, n)) for i in range(0, n, step)]


def parallel(fn, n, item_bytes, light=False):
    """Run ``fn(i, slice)`` for the i-th of ``chunks(n, item_bytes)``, on the pool if the work is
    at least ``POOL_MIN_BYTES`` (``light``: ``LIGHT_POOL_MIN_BYTES``); the same chunks either way.
    Returns what the calls returned, in chunk order."""
    pieces = list(enumerate(chunks(n, item_bytes)))
    results = [None] * len(pieces)

    def one(piece):
        i, c = piece
        results[i] = fn(i, c)

    if n * item_bytes < (LIGHT_POOL_MIN_BYTES if light else POOL_MIN_BYTES):
        for piece in pieces:
            one(piece)
    else:
        WORKERS.run(one, pieces)
    return results
