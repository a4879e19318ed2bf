"""Atomic file writes: write a temporary file in the same folder, then rename it over the target.

``os.replace`` is atomic on POSIX and Windows when both paths are on the same file system (hence
"same folder"), so a reader -- or the next run after a crash -- sees either the old file or the
complete new one, never a half-written file.
"""
import contextlib
import glob
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_open(path, mode="wb"):
    """``with atomic_open(path) as f: f.write(...)`` -- the file appears only if the block ends
    without an exception; otherwise the previous file (if any) is untouched."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp")
    try:
        # mkstemp makes an owner-only (0600) file; give the result the permissions a plain
        # open() would (or keep those of the file it replaces)
        os.chmod(tmp, _mode_for(path))
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_stale_temps(path):
    """Remove the temporary files that ``atomic_open(path)`` leaves behind when its process is
    killed (kill -9 skips the cleanup): ``.NAME.<random>.tmp`` next to ``path``.  Call it before
    writing ``path`` again; a run that is still writing ``path`` would lose its temp file, so
    two processes must not write the same file at once (they would overwrite each other anyway)."""
    path = Path(path)
    removed = 0
    for tmp in path.parent.glob("." + glob.escape(path.name) + ".*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
            removed += 1
    return removed


def _mode_for(path):
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)                  # reading the umask means setting it: put it back
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write_bytes(path, data):
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))
