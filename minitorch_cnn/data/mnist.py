"""MNIST: 70 000 grey-scale 28x28 handwritten digits, as whole normalised arrays.

Shapes: ``images`` (N, 1, 28, 28) float32, ``labels`` (N,) int64 in 0..9; N = 60000 (train) or
10000 (test).

Where the four IDX files are looked for, first folder that has all four wins:

1. the ``root`` argument, if given (then only there);
2. ``$MINITORCH_CNN_DATA``;
3. the repository's ``data/mnist/`` (shipped with the source, the package is installed editable);
4. ``~/.cache/minitorch_cnn/mnist``.

Each file may be gzipped (``train-images-idx3-ubyte.gz``) or not (``train-images-idx3-ubyte``).
If none has them and ``download=True``, they are fetched into ``root`` (or the cache folder),
trying the mirrors in turn. A file is accepted by the MD5 of its *decompressed* bytes -- the
gzip wrapping may differ between mirrors -- and written atomically (temp file + ``os.replace``),
so an interrupted download never leaves a half file that would pass for a whole one.

Loading verifies the same MD5s (about 0.1 s for the training set; gzip's CRC only proves the file
was not damaged, the MD5 proves it is MNIST) and converts uint8 pixels p to
``(p / 255 - 0.1307) / 0.3081``, the usual MNIST normalisation (mean and std of the train pixels).
"""
import hashlib
import http.client
import os
import urllib.request
import zlib
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..fileio import atomic_write_bytes
from .idx import maybe_gunzip, parse_idx, read_bytes
from .loader import ArrayDataset

__all__ = ["MNIST", "MNISTNotFoundError", "find_mnist", "download_mnist"]

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
# file name (without .gz) -> MD5 of the decompressed content
MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
# train flag -> (images file, labels file, number of samples)
SPLITS = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60000),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10000),
}
MEAN, STD = 0.1307, 0.3081
ENV_VAR = "MINITORCH_CNN_DATA"
REPO_DIR = Path(__file__).resolve().parents[2] / "data" / "mnist"


def cache_dir():
    return Path.home() / ".cache" / "minitorch_cnn" / "mnist"


def _urlopen(url, timeout):
    """The one place that touches the network (tests replace it)."""
    return urllib.request.urlopen(url, timeout=timeout)


class MNISTNotFoundError(FileNotFoundError, RuntimeError):
    """MNIST is not on disk (and could not be downloaded)."""


# ----------------------------------------------------------------------------- finding
def _find_file(folder, name):
    for candidate in (folder / (name + ".gz"), folder / name):
        if candidate.is_file():
            return candidate
    return None


def _search_dirs(root):
    """[(folder, why it is searched)] in lookup order."""
    if root is not None:
        return [(Path(root).expanduser(), "root argument")]
    dirs = []
    if os.environ.get(ENV_VAR):
        dirs.append((Path(os.environ[ENV_VAR]).expanduser(), f"${ENV_VAR}"))
    return dirs + [(REPO_DIR, "repository data/mnist"), (cache_dir(), "user cache")]


def _missing_message(searched, extra=""):
    files = "\n".join(f"    {name}.gz" for name in MD5)
    lines = []
    for i, (folder, why) in enumerate(searched, 1):
        if not folder.is_dir():
            state = "does not exist"
        else:
            missing = [n for n in MD5 if _find_file(folder, n) is None]
            state = "missing " + ", ".join(missing)
        lines.append(f"    {i}. {folder}  ({why}: {state})")
    return (f"MNIST not found{extra}.\nPut these four files (gzipped, or uncompressed without "
            f"the .gz) in one folder:\n{files}\nFolders searched, in order:\n" + "\n".join(lines)
            + f"\nPass root=FOLDER, set ${ENV_VAR}=FOLDER, or fetch them from one of:\n"
            + "\n".join(f"    {m}" for m in MIRRORS))


def find_mnist(root=None, download=True):
    """The folder holding the four MNIST files, downloading them if needed and allowed."""
    searched = _search_dirs(root)
    for folder, _ in searched:
        if all(_find_file(folder, n) for n in MD5):
            return folder
    if not download:
        raise MNISTNotFoundError(_missing_message(searched, " (download=False)"))
    target = Path(root).expanduser() if root is not None else cache_dir()
    download_mnist(target, searched=searched)
    return target


# ----------------------------------------------------------------------------- downloading
def _fetch(url, desc, timeout):
    """The bytes at ``url``, with a progress bar; a short transfer is an error."""
    with _urlopen(url, timeout=timeout) as resp:
        headers = getattr(resp, "headers", None)
        total = headers.get("Content-Length") if headers is not None else None
        total = int(total) if total is not None else None
        chunks = []
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc,
                  leave=False) as bar:
            while chunk := resp.read(1 << 16):
                chunks.append(chunk)
                bar.update(len(chunk))
    data = b"".join(chunks)
    if total is not None and len(data) != total:
        raise ValueError(f"broken transfer: got {len(data)} of {total} bytes")
    return data


def download_mnist(folder, timeout=30, searched=None):
    """Download the MNIST files missing from ``folder``, each from the first mirror that works.

    A mirror "works" if the transfer completes and the decompressed content has the right MD5;
    otherwise the next mirror is tried. Raises ``MNISTNotFoundError`` if all mirrors fail.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise MNISTNotFoundError(f"cannot download MNIST into {folder}: it is a file, not a "
                                 f"folder")
    for name in MD5:
        if _find_file(folder, name) is not None:
            continue
        errors = []
        for mirror in MIRRORS:
            url = mirror + name + ".gz"
            try:
                data = _fetch(url, name, timeout)
                content, gzipped = maybe_gunzip(data, url)    # any gzip wrapping is fine
                digest = hashlib.md5(content).hexdigest()
                if digest != MD5[name]:
                    raise ValueError(f"MD5 of the decompressed content is {digest}, "
                                     f"expected {MD5[name]}")
            except (OSError, ValueError, EOFError, zlib.error, http.client.HTTPException) as e:
                errors.append(f"    {url}: {type(e).__name__}: {e}")
                continue
            atomic_write_bytes(folder / (name + ".gz" if gzipped else name), data)
            break
        else:
            raise MNISTNotFoundError(
                f"could not download {name}.gz from any mirror:\n" + "\n".join(errors) + "\n"
                + _missing_message(searched or [(folder, "download folder")],
                                   " and the download failed"))


# ----------------------------------------------------------------------------- loading
def _load_verified(folder, name):
    """Read one MNIST file, check its MD5, decode it as IDX."""
    path = _find_file(folder, name)
    content, _ = read_bytes(path)
    digest = hashlib.md5(content).hexdigest()
    if digest != MD5[name]:
        raise ValueError(f"MNIST: {path}: MD5 of the decompressed content is {digest}, expected "
                         f"{MD5[name]}; the file is not the original MNIST {name} (corrupted or "
                         f"a different data set). Delete it to download it again.")
    return parse_idx(content, name=str(path)), path


class MNIST(ArrayDataset):
    """The MNIST digits as whole arrays, normalised; ``dataset[i]`` -> (image (1, 28, 28), label).

    Args:
        root: folder with the four files; ``None`` searches ``$MINITORCH_CNN_DATA``, the
            repository's ``data/mnist`` and ``~/.cache/minitorch_cnn/mnist``.
        train: the 60000 training digits (``True``) or the 10000 test digits.
        download: fetch missing files (into ``root`` or the cache folder).
        transform: batch transform ``(x_batch, rng) -> x_batch``, e.g. ``RandomTranslate(2)``.

    Attributes: ``images`` (N, 1, 28, 28) float32, ``labels`` (N,) int64, ``root`` (the folder
    used), ``background`` (the normalised value of a black pixel, the minimum).
    """

    mean, std = MEAN, STD
    background = np.float32((0.0 - MEAN) / STD)
    classes = tuple(str(d) for d in range(10))

    def __init__(self, root=None, train=True, download=True, transform=None):
        self.train = bool(train)
        self.root = find_mnist(root, download)
        images_name, labels_name, n = SPLITS[self.train]
        raw, ipath = _load_verified(self.root, images_name)
        labels, lpath = _load_verified(self.root, labels_name)
        if raw.dtype != np.uint8 or raw.shape != (n, 28, 28):
            raise ValueError(f"MNIST: {ipath}: expected {n} x 28 x 28 uint8 images, got "
                             f"{' x '.join(map(str, raw.shape))} {raw.dtype}")
        if labels.dtype != np.uint8 or labels.shape != (n,) or (n and labels.max() > 9):
            raise ValueError(f"MNIST: {lpath}: expected {n} uint8 labels in 0..9, got shape "
                             f"{labels.shape} {labels.dtype}, max {labels.max(initial=0)}")
        # (p / 255 - mean) / std  ==  p * (1 / (255 std)) - mean / std, in place on one float32
        # copy (4x faster than a lookup table; about 0.04 s for the training set)
        images = raw.astype(np.float32).reshape(n, 1, 28, 28)
        images *= np.float32(1.0 / (255.0 * STD))
        images -= np.float32(MEAN / STD)
        super().__init__(images, labels.astype(np.int64), transform)

    def __repr__(self):
        split = "train" if self.train else "test"
        t = "" if self.transform is None else f", transform={self.transform!r}"
        return f"MNIST(split={split!r}, n={len(self)}, root='{self.root}'{t})"
