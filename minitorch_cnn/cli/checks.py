"""Argument checks shared by the programs: each failure is one ``error:`` line, no traceback."""
import argparse
import math
from pathlib import Path


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
