"""MNIST and the data sets in its format: 70 000 grey-scale 28x28 images, as normalised arrays.

* ``MNIST``        -- handwritten digits (shipped in the repository's ``data/mnist/``);
* ``FashionMNIST`` -- Zalando's clothes (T-shirt, trouser, ..., ankle boot);
* ``KMNIST``       -- Kuzushiji-MNIST, ten cursive Japanese characters (one per hiragana row).

All three are the same four IDX files under the same names; only the mirrors, the MD5s and the
normalisation differ, so each is a subclass of ``MNISTFormat`` declaring just those (class
attributes ``name``, ``folder``, ``mirrors``, ``md5``, ``mean``, ``std``, ``classes``).

Shapes: ``images`` (N, 1, 28, 28) float32, ``labels`` (N,) int64 in 0..9; N = 60000 (train) or
10000 (test).

Where the four IDX files are looked for, first folder that has all four wins (``<folder>`` is
``mnist``, ``fashion-mnist`` or ``kmnist``):

1. the ``root`` argument, if given (then only there);
2. ``$MINITORCH_CNN_DATA`` for MNIST; ``$MINITORCH_CNN_DATA/<folder>`` for every data set (the
   same file names would otherwise make one data set's folder pass for another's);
3. the repository's ``data/<folder>/`` (MNIST is shipped there, the package is installed editable);
4. a system folder, if the data set has one: Debian's ``dataset-fashion-mnist`` package installs
   the original Fashion-MNIST files in ``/usr/share/datasets/fashion-mnist``;
5. ``~/.cache/minitorch_cnn/<folder>``.

Each file may be gzipped (``train-images-idx3-ubyte.gz``) or not (``train-images-idx3-ubyte``).
If none has them and ``download=True``, they are fetched into ``root`` (or the cache folder),
trying the mirrors in turn. A file is accepted by the MD5 of its *decompressed* bytes -- the
gzip wrapping may differ between mirrors -- and written atomically (temp file + ``os.replace``),
so an interrupted download never leaves a half file that would pass for a whole one.

Loading verifies the same MD5s (about 0.1 s for the training set; gzip's CRC only proves the file
was not damaged, the MD5 proves it is MNIST) and converts uint8 pixels p to
``(p / 255 - mean) / std``, with the mean and std of the data set's training pixels (MNIST:
0.1307, 0.3081, the usual MNIST normalisation).

KMNIST is the exception to "MD5 of the decompressed content": its authors publish no checksums at
all, and the only ones in circulation (torchvision's) are of the ``.gz`` files as served by
CODH. ``KMNIST.md5_of = "gzip"`` says so: a KMNIST file must be the ``.gz`` file with that MD5.
"""
import hashlib
import http.client
import os
import urllib.request
import zlib
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..io.fileio import atomic_write_bytes
from .idx import maybe_gunzip, parse_idx, read_bytes
from .loader import ArrayDataset

__all__ = ["MNISTFormat", "MNIST", "FashionMNIST", "KMNIST", "MNISTNotFoundError", "find_mnist",
           "download_mnist"]

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
DATA_DIR = Path(__file__).resolve().parents[2] / "data"
REPO_DIR = DATA_DIR / "mnist"


def cache_dir(folder="mnist"):
    return Path.home() / ".cache" / "minitorch_cnn" / folder


def _spec(dataset):
    """The dataset class whose tables a function uses (``None``: MNIST)."""
    return MNIST if dataset is None else dataset


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


def _search_dirs(root, spec):
    """[(folder, why it is searched)] in lookup order."""
    if root is not None:
        return [(Path(root).expanduser(), "root argument")]
    dirs = []
    if os.environ.get(ENV_VAR):
        env = Path(os.environ[ENV_VAR]).expanduser()
        if spec.env_dir_itself:
            dirs.append((env, f"${ENV_VAR}"))
        dirs.append((env / spec.folder, f"${ENV_VAR}/{spec.folder}"))
    dirs.append((spec.repo_dir, f"repository data/{spec.folder}"))
    dirs += [(Path(d), "system folder") for d in spec.system_dirs]
    return dirs + [(cache_dir(spec.folder), "user cache")]


def _missing_message(searched, extra, spec):
    files = "\n".join(f"    {name}.gz" for name in spec.md5)
    env_target = "FOLDER" if spec.env_dir_itself else f"PARENT (with PARENT/{spec.folder})"
    lines = []
    for i, (folder, why) in enumerate(searched, 1):
        if not folder.is_dir():
            state = "does not exist"
        else:
            missing = [n for n in spec.md5 if _find_file(folder, n) is None]
            state = "missing " + ", ".join(missing)
        lines.append(f"    {i}. {folder}  ({why}: {state})")
    return (f"{spec.name} not found{extra}.\nPut these four files (gzipped, or uncompressed "
            f"without the .gz) in one folder:\n{files}\nFolders searched, in order:\n"
            + "\n".join(lines)
            + f"\nPass root=FOLDER, set ${ENV_VAR}={env_target}, or fetch them from one of:\n"
            + "\n".join(f"    {m}" for m in spec.mirrors) + spec.hint)


def find_mnist(root=None, download=True, dataset=None):
    """The folder holding the four files of ``dataset`` (an ``MNISTFormat`` class; default
    ``MNIST``), downloading them if needed and allowed."""
    spec = _spec(dataset)
    searched = _search_dirs(root, spec)
    for folder, _ in searched:
        if all(_find_file(folder, n) for n in spec.md5):
            return folder
    if not download:
        raise MNISTNotFoundError(_missing_message(searched, " (download=False)", spec))
    target = Path(root).expanduser() if root is not None else cache_dir(spec.folder)
    download_mnist(target, searched=searched, dataset=spec)
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


def download_mnist(folder, timeout=30, searched=None, dataset=None):
    """Download the files of ``dataset`` (default ``MNIST``) missing from ``folder``, each from
    the first mirror that works.

    A mirror "works" if the transfer completes and the decompressed content has the right MD5;
    otherwise the next mirror is tried. Raises ``MNISTNotFoundError`` if all mirrors fail.
    """
    spec = _spec(dataset)
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise MNISTNotFoundError(f"cannot download {spec.name} into {folder}: it is a file, "
                                 f"not a folder")
    for name in spec.md5:
        if _find_file(folder, name) is not None:
            continue
        errors = []
        for mirror in spec.mirrors:
            url = mirror + name + ".gz"
            try:
                data = _fetch(url, name, timeout)
                content, gzipped = maybe_gunzip(data, url)    # any gzip wrapping is fine
                digest = hashlib.md5(data if spec.md5_of == "gzip" else content).hexdigest()
                if digest != spec.md5[name]:
                    raise ValueError(f"MD5 of the {spec.md5_of} is {digest}, "
                                     f"expected {spec.md5[name]}")
            except (OSError, ValueError, EOFError, zlib.error, http.client.HTTPException) as e:
                errors.append(f"    {url}: {type(e).__name__}: {e}")
                continue
            atomic_write_bytes(folder / (name + ".gz" if gzipped else name), data)
            break
        else:
            raise MNISTNotFoundError(
                f"could not download {spec.name} {name}.gz from any mirror:\n" + "\n".join(errors) + "\n"
                + _missing_message(searched or [(folder, "download folder")],
                                   " and the download failed", spec))


# ----------------------------------------------------------------------------- loading
def _load_verified(folder, name, spec):
    """Read one file of the data set ``spec``, check its MD5, decode it as IDX."""
    path = _find_file(folder, name)
    content, _ = read_bytes(path)
    # KMNIST's only known checksums are of the .gz files (see the module docstring)
    digest = hashlib.md5(path.read_bytes() if spec.md5_of == "gzip" else content).hexdigest()
    if digest != spec.md5[name]:
        raise ValueError(f"{spec.name}: {path}: MD5 of the {spec.md5_of} is {digest}, expected "
                         f"{spec.md5[name]}; the file is not the original {spec.name} {name} "
                         f"(corrupted or a different data set). Delete it to download it again.")
    return parse_idx(content, name=str(path)), path


class MNISTFormat(ArrayDataset):
    """A data set of four MNIST-format IDX files, as whole normalised arrays;
    ``dataset[i]`` -> (image (1, 28, 28), label).

    Args:
        root: folder with the four files; ``None`` searches the folders listed in the module
            docstring (``$MINITORCH_CNN_DATA``, the repository's ``data/``, the user cache).
        train: the 60000 training images (``True``) or the 10000 test images.
        download: fetch missing files (into ``root`` or the cache folder).
        transform: batch transform ``(x_batch, rng) -> x_batch``, e.g. ``RandomTranslate(2)``.

    Attributes: ``images`` (N, 1, 28, 28) float32, ``labels`` (N,) int64, ``root`` (the folder
    used), ``background`` (the normalised value of a black pixel, the minimum), ``classes``.

    A subclass declares the data set: ``name``, ``folder`` (under ``data/``, the cache and
    ``$MINITORCH_CNN_DATA``), ``mirrors``, ``md5`` (file name -> MD5), ``md5_of`` (what the
    MD5 is of: ``"decompressed content"`` or ``"gzip"``), ``mean``/``std`` and ``classes``.
    """

    name = folder = None
    mirrors = ()
    md5 = {}
    md5_of = "decompressed content"
    splits = SPLITS
    mean, std = 0.0, 1.0
    classes = ()
    system_dirs = ()
    env_dir_itself = False            # MNIST alone also looks in $MINITORCH_CNN_DATA itself
    hint = ""                         # one more line for the "not found" message

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.background = np.float32((0.0 - cls.mean) / cls.std)
        if "repo_dir" not in cls.__dict__ and cls.folder is not None:
            cls.repo_dir = DATA_DIR / cls.folder

    def __init__(self, root=None, train=True, download=True, transform=None):
        cls = type(self)
        if cls.name is None:
            raise TypeError("MNISTFormat is abstract: use MNIST, FashionMNIST or KMNIST")
        self.train = bool(train)
        self.root = find_mnist(root, download, dataset=cls)
        images_name, labels_name, n = cls.splits[self.train]
        raw, ipath = _load_verified(self.root, images_name, cls)
        labels, lpath = _load_verified(self.root, labels_name, cls)
        if raw.dtype != np.uint8 or raw.shape != (n, 28, 28):
            raise ValueError(f"{cls.name}: {ipath}: expected {n} x 28 x 28 uint8 images, got "
                             f"{' x '.join(map(str, raw.shape))} {raw.dtype}")
        if labels.dtype != np.uint8 or labels.shape != (n,) or (n and labels.max() > 9):
            raise ValueError(f"{cls.name}: {lpath}: expected {n} uint8 labels in 0..9, got "
                             f"shape {labels.shape} {labels.dtype}, max {labels.max(initial=0)}")
        # (p / 255 - mean) / std  ==  p * (1 / (255 std)) - mean / std, in place on one float32
        # copy (4x faster than a lookup table; about 0.04 s for the training set)
        images = raw.astype(np.float32).reshape(n, 1, 28, 28)
        images *= np.float32(1.0 / (255.0 * cls.std))
        images -= np.float32(cls.mean / cls.std)
        super().__init__(images, labels.astype(np.int64), transform)

    def __repr__(self):
        split = "train" if self.train else "test"
        t = "" if self.transform is None else f", transform={self.transform!r}"
        return f"{type(self).__name__}(split={split!r}, n={len(self)}, root='{self.root}'{t})"


class MNIST(MNISTFormat):
    """The MNIST digits (LeCun, Cortes, Burges), classes ``"0"`` .. ``"9"``."""

    name, folder = "MNIST", "mnist"
    mirrors, md5 = MIRRORS, MD5                  # repo_dir: DATA_DIR / folder (REPO_DIR)
    mean, std = MEAN, STD
    classes = tuple(str(d) for d in range(10))
    env_dir_itself = True


class FashionMNIST(MNISTFormat):
    """Fashion-MNIST (Xiao, Rasul, Vollgraf 2017, Zalando): 10 kinds of clothing.

    The MD5s are of the decompressed files (computed on Debian's ``dataset-fashion-mnist``
    package, which ships the original files; its .gz wrapping differs from Zalando's, whose
    published checksums are of their .gz files -- hence the decompressed ones)."""

    name, folder = "Fashion-MNIST", "fashion-mnist"
    mirrors = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
               "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/")
    md5 = {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    }
    mean, std = 0.2860, 0.3530          # of the training pixels / 255 (0.28604, 0.35302)
    classes = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot")
    system_dirs = ("/usr/share/datasets/fashion-mnist",)
    hint = ("\nOn Debian: apt-get download dataset-fashion-mnist && dpkg -x dataset-fashion-"
            "mnist*.deb x  (the files are in x/usr/share/datasets/fashion-mnist)")


class KMNIST(MNISTFormat):
    """Kuzushiji-MNIST (Clanuwat et al. 2018, CODH): one cursive character per hiragana row.

    CODH publishes no checksums; these are the MD5s of its .gz files as torchvision records
    them, so here a file must be CODH's .gz file itself (``md5_of = "gzip"``)."""

    name, folder = "Kuzushiji-MNIST", "kmnist"
    mirrors = ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",      # the authors' address
               "https://codh.rois.ac.jp/kmnist/dataset/kmnist/")
    md5 = {
        "train-images-idx3-ubyte": "bdb82020997e1d708af4cf47b453dcf7",
        "train-labels-idx1-ubyte": "e144d726b3acfaa3e44228e80efcd344",
        "t10k-images-idx3-ubyte": "5c965bf0a639b31b8f53240b1b52f4d7",
        "t10k-labels-idx1-ubyte": "7320c461ea6c1c855c0b718fb2a4b134",
    }
    md5_of = "gzip"
    # the values in common use for KMNIST's training pixels / 255; not measured here (no KMNIST
    # files on the machine this was written on): a few 1e-4 off would change nothing
    mean, std = 0.1918, 0.3483
    classes = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")
