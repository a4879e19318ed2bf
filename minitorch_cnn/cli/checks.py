"""Argument checks shared by the programs: each failure is one ``error:`` line, no traceback."""
import argparse
import math
import os
import tempfile
from pathlib import Path


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` shows each default once: appended unless the help text already gives it
    (or there is none to give: a default of None means "not set")."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, argparse.SUPPRESS) \
                or isinstance(action, argparse._HelpAction):
            return text
        return super()._get_help_string(action)


def _positive(cast, kind):
    """An argparse type: ``cast(text)`` > 0 and finite (``--limit 0`` would otherwise read as
    "no limit", ``--lr nan`` would train on NaN)."""
    def check(text):
        try:
            v = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {kind}, got {text!r}")
        if not (math.isfinite(v) and v > 0):
            raise argparse.ArgumentTypeError(f"expected a positive {kind}, got {text}")
        return v
    check.__name__ = f"positive_{cast.__name__}"
    return check


positive_int = _positive(int, "integer")
positive_float = _positive(float, "number")


def seed(text):
    """An argparse type: an integer numpy can seed with, 0 <= seed < 2**32."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer in 0 .. 2**32-1, got {text!r}")
    if not 0 <= v < 2 ** 32:
        raise argparse.ArgumentTypeError(f"expected an integer in 0 .. 2**32-1 (numpy's seed "
                                         f"range), got {text}")
    return v


def existing_file(what, path):
    """``path`` as a Path; SystemExit if it is a folder or does not exist."""
    path = Path(path)
    if path.is_dir():
        raise SystemExit(f"error: {what} {path} is a folder, not a file")
    if not path.is_file():
        raise SystemExit(f"error: {what} {path} does not exist")
    return path


def output_file(flag, path):
    """SystemExit if the output ``path`` given with ``--flag`` is a folder (checked before the
    work, not after it); None passes."""
    if path is not None and Path(path).is_dir():
        raise SystemExit(f"error: --{flag} {path} is a folder; give a file name")


def writable_folder(flag, folder):
    """Create ``folder`` if needed and prove that a file can be written in it (create and remove
    a temporary file), so that an unwritable output fails before the work, not after it."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe_write(folder)
    except OSError as e:
        raise SystemExit(f"error: cannot write to {flag} {folder}: {e.strerror or e}")


def probe_write(folder):
    """Create and remove a temporary file in ``folder``: OSError if a file cannot be written."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".write-test.", suffix=".tmp")
    os.close(fd)
    os.unlink(tmp)


def cli_message(error):
    """An error of the data layer, worded for the command line (its --data-dir option)."""
    return str(error).replace("Pass root=FOLDER", "Pass --data-dir FOLDER")


def open_dataset(dataset, root, train):
    """``dataset(root=root, train=train)``, its errors (missing or corrupt files) as one
    ``error:`` line naming --data-dir."""
    try:
        return dataset(root=root, train=train)
    except (OSError, RuntimeError, ValueError) as e:
        raise SystemExit(f"error: {cli_message(e)}")
