"""Tests for minitorch_cnn.data: IDX reader, MNIST (lookup, download, checks), DataLoader,
RandomTranslate. The network is never used: ``mnist._urlopen`` is replaced in every test."""
import gzip
import hashlib
import io
import json
import struct
import urllib.error
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn.data import (ArrayDataset, DataLoader, MNIST, MNISTNotFoundError,
                                RandomTranslate, read_idx, translate)
from minitorch_cnn.data import mnist as mnist_mod

NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    def refuse(url, timeout=None):
        raise AssertionError(f"a test tried to use the network: {url}")
    monkeypatch.setattr(mnist_mod, "_urlopen", refuse)


# =============================================================================== IDX
# An encoder written independently of the reader: struct for the header, explicit big-endian.
CODES = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}


def encode_idx(arr, code=None, dims=None, payload=None):
    arr = np.asarray(arr)
    code = CODES[arr.dtype.str[1:]] if code is None else code
    dims = arr.shape if dims is None else dims
    header = struct.pack(">BBBB", 0, 0, code, len(dims)) + struct.pack(f">{len(dims)}I", *dims)
    if payload is None:
        payload = arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    return header + payload


def write(path, data, gz):
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 4), (1, 2, 1, 3)])
def test_idx_roundtrip_dtypes_ranks(tmp_path, dtype, shape, gz):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal(shape) * 100).astype(dtype)
    out = read_idx(write(tmp_path / "a.idx", encode_idx(a), gz))
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative and out.shape == shape
    np.testing.assert_array_equal(out, a)
    assert out.flags.writeable


def test_idx_big_endian_by_hand(tmp_path):
    # int16 0x0102 = 258 and -2 (0xFFFE); float32 1.0 = 3F 80 00 00
    data = bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 0x01, 0x02, 0xFF, 0xFE])
    np.testing.assert_array_equal(read_idx(write(tmp_path / "a", data, False)), [258, -2])
    data = bytes([0, 0, 0x0D, 2, 0, 0, 0, 1, 0, 0, 0, 1, 0x3F, 0x80, 0, 0])
    np.testing.assert_array_equal(read_idx(write(tmp_path / "b", data, False)), [[1.0]])


def test_idx_gzip_detected_by_magic_not_extension(tmp_path):
    a = np.arange(6, dtype=np.uint8).reshape(2, 3)
    raw_named_gz = write(tmp_path / "raw.gz", encode_idx(a), gz=False)
    gz_named_raw = write(tmp_path / "packed.idx", encode_idx(a), gz=True)
    np.testing.assert_array_equal(read_idx(raw_named_gz), a)
    np.testing.assert_array_equal(read_idx(gz_named_raw), a)


GOOD = encode_idx(np.arange(9, dtype=np.uint8).reshape(3, 3))
BROKEN = {
    "bad magic": (b"\x01\x00" + GOOD[2:], "magic"),
    "bad dtype code": (GOOD[:2] + b"\x0a" + GOOD[3:], "dtype code 0x0A"),
    "truncated payload": (GOOD[:-1], "truncated"),
    "trailing bytes": (GOOD + b"\x00", "extra trailing"),
    "wrong dims": (encode_idx(np.zeros((2, 2), np.uint8), dims=(3, 3)), "3 x 3"),
    "header cut": (GOOD[:9], "header"),
    "too short": (b"\x00\x00", "too short"),
    "65 dims": (b"\x00\x00\x08\x41" + b"\x00\x00\x00\x01" * 65 + b"\x07", "at most 64"),
}


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("case", list(BROKEN))
def test_idx_broken_files_raise(tmp_path, case, gz):
    data, words = BROKEN[case]
    path = write(tmp_path / f"broken-{case.replace(' ', '_')}", data, gz)
    with pytest.raises(ValueError) as e:
        read_idx(path)
    assert path.name in str(e.value) and words in str(e.value)


def test_idx_truncated_gzip(tmp_path):
    packed = gzip.compress(encode_idx(np.arange(1000, dtype=np.int32)))
    for cut in (len(packed) - 4, len(packed) // 2, 12):
        path = tmp_path / f"cut{cut}.gz"
        path.write_bytes(packed[:cut])
        with pytest.raises(ValueError, match="corrupted gzip"):
            read_idx(path)


def test_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope.idx")


# =============================================================================== MNIST (fake)
def make_split(rng, n):
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    images[:, :2] = 0                                   # some black background, like MNIST
    return images, rng.integers(0, 10, n, dtype=np.uint8)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A tiny MNIST (20 train, 8 test) with the MD5/count tables patched to match it, and every
    default lookup folder pointed into tmp_path."""
    rng = np.random.default_rng(0)
    (tri, trl), (tei, tel) = make_split(rng, 20), make_split(rng, 8)
    contents = {NAMES[0]: encode_idx(tri), NAMES[1]: encode_idx(trl),
                NAMES[2]: encode_idx(tei), NAMES[3]: encode_idx(tel)}
    monkeypatch.setattr(MNIST, "md5", {k: hashlib.md5(v).hexdigest()
                                       for k, v in contents.items()})
    monkeypatch.setattr(MNIST, "splits", {True: (NAMES[0], NAMES[1], 20),
                                          False: (NAMES[2], NAMES[3], 8)})
    monkeypatch.setattr(MNIST, "repo_dir", tmp_path / "repo")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MINITORCH_CNN_DATA", raising=False)

    def populate(folder, gz=True, names=NAMES):
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            write(folder / (name + ".gz" if gz else name), contents[name], gz)
        return folder

    return SimpleNamespace(train=(tri, trl), test=(tei, tel), contents=contents,
                           populate=populate, tmp=tmp_path,
                           cache=tmp_path / "home" / ".cache" / "minitorch_cnn" / "mnist")


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_arrays_normalised(fake, gz):
    root = fake.populate(fake.tmp / "d", gz=gz)
    for train, (raw, lab) in ((True, fake.train), (False, fake.test)):
        ds = MNIST(root, train=train, download=False)
        assert ds.images.dtype == np.float32 and ds.images.shape == (len(raw), 1, 28, 28)
        assert ds.labels.dtype == np.int64 and len(ds) == len(raw)
        want = (raw.astype(np.float64) / 255 - 0.1307) / 0.3081
        np.testing.assert_allclose(ds.images[:, 0], want, rtol=0, atol=1e-6)
        np.testing.assert_array_equal(ds.labels, lab)
        x, y = ds[3]
        assert x.shape == (1, 28, 28) and x.dtype == np.float32 and type(y) is int
        assert y == lab[3] and np.array_equal(ds[-1][0], ds.images[-1])
    assert ds.images.min() == pytest.approx(float(MNIST.background)) == -0.1307 / 0.3081
    with pytest.raises(IndexError):
        ds[len(ds)]
    with pytest.raises(TypeError):
        ds[1.0]


def test_mnist_lookup_order(fake, monkeypatch):
    def used():
        return MNIST(download=False).root

    cache = fake.populate(fake.cache)
    assert used() == cache
    repo = fake.populate(fake.tmp / "repo")
    assert used() == repo                                             # repo before cache
    envdir = fake.populate(fake.tmp / "env")
    monkeypatch.setenv("MINITORCH_CNN_DATA", str(envdir))
    assert used() == envdir                                           # env before repo
    rootdir = fake.populate(fake.tmp / "root", gz=False)
    ds = MNIST(str(rootdir), download=False)
    assert ds.root == rootdir and len(ds) == 20                       # root beats all
    monkeypatch.setenv("MINITORCH_CNN_DATA", str(fake.tmp / "empty"))
    assert used() == repo                                             # empty env: next one


def test_mnist_needs_all_four_files(fake):
    fake.populate(fake.tmp / "repo", names=NAMES[:3])                # one file missing
    with pytest.raises(MNISTNotFoundError) as e:
        MNIST(download=False)
    msg = str(e.value)
    assert all(name + ".gz" in msg for name in NAMES)
    # the folders, in search order, and what is missing in the one that exists
    repo, cache = str(fake.tmp / "repo"), str(fake.cache)
    assert msg.index(repo) < msg.index(cache) and "missing t10k-labels-idx1-ubyte" in msg
    assert isinstance(e.value, RuntimeError) and isinstance(e.value, FileNotFoundError)


def test_mnist_wrong_root_message(fake, monkeypatch):
    monkeypatch.setenv("MINITORCH_CNN_DATA", str(fake.tmp / "env"))
    with pytest.raises(MNISTNotFoundError) as e:
        MNIST(fake.tmp / "wrong", download=False)
    msg = str(e.value)
    assert str(fake.tmp / "wrong") in msg and "does not exist" in msg
    assert all(name + ".gz" in msg for name in NAMES)
    assert str(fake.tmp / "env") not in msg                         # root: searched alone


def test_mnist_rejects_bad_files(fake, monkeypatch):
    root = fake.populate(fake.tmp / "d")
    write(root / (NAMES[0] + ".gz"), fake.contents[NAMES[0]][:-1] + b"\x07", True)
    with pytest.raises(ValueError, match="MD5"):
        MNIST(root, download=False)
    # right MD5 table, wrong count / label range
    monkeypatch.setattr(MNIST, "splits", {True: (NAMES[2], NAMES[3], 9)})
    with pytest.raises(ValueError, match="expected 9 x 28 x 28"):
        MNIST(root, download=False)
    bad = encode_idx(np.full(8, 10, np.uint8))
    write(root / (NAMES[3] + ".gz"), bad, True)
    MNIST.splits[True] = (NAMES[2], NAMES[3], 8)
    MNIST.md5[NAMES[3]] = hashlib.md5(bad).hexdigest()
    with pytest.raises(ValueError, match="labels in 0..9"):
        MNIST(root, download=False)


# =============================================================================== download
class FakeWeb:
    """Replaces ``_urlopen``: url -> bytes (served) or exception (raised); records the calls."""

    def __init__(self, routes):
        self.routes, self.calls = routes, []

    def __call__(self, url, timeout=None):
        self.calls.append(url)
        v = self.routes(url)
        if isinstance(v, BaseException):
            raise v
        if isinstance(v, tuple):                      # (bytes, claimed Content-Length)
            resp = io.BytesIO(v[0])
            resp.headers = {"Content-Length": str(v[1])}
            return resp
        return io.BytesIO(v)


def mirror_of(url):
    return next(i for i, m in enumerate(mnist_mod.MIRRORS) if url.startswith(m))


def name_of(url):
    return url.rsplit("/", 1)[1][:-3]


def test_mirror_list_and_order():
    assert mnist_mod.MIRRORS == ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                                 "https://storage.googleapis.com/cvdf-datasets/mnist/",
                                 "http://yann.lecun.com/exdb/mnist/")
    assert mnist_mod.MD5["train-images-idx3-ubyte"] == "6bbc9ace898e44ae57da46a324031adb"


def check_downloaded(fake, folder):
    assert sorted(p.name for p in folder.iterdir()) == sorted(n + ".gz" for n in NAMES)
    ds = MNIST(folder, download=False)
    np.testing.assert_array_equal(ds.labels, fake.train[1])


def test_download_first_mirror(fake, monkeypatch):
    web = FakeWeb(lambda url: gzip.compress(fake.contents[name_of(url)], mtime=0))
    monkeypatch.setattr(mnist_mod, "_urlopen", web)
    ds = MNIST(fake.tmp / "new")                               # root: download there
    assert ds.root == fake.tmp / "new" and len(ds) == 20
    assert [mirror_of(u) for u in web.calls] == [0, 0, 0, 0]
    assert sorted(map(name_of, web.calls)) == sorted(NAMES)
    check_downloaded(fake, fake.tmp / "new")


@pytest.mark.parametrize("failure", ["wrong content", "exception", "truncated gzip",
                                     "short transfer", "not gzip, wrong"])
def test_download_falls_through_to_next_mirror(fake, monkeypatch, failure):
    def routes(url):
        good = gzip.compress(fake.contents[name_of(url)])
        if mirror_of(url) == 1:
            return good
        return {"wrong content": gzip.compress(fake.contents[name_of(url)] + b"\x00"),
                "exception": urllib.error.URLError("no route to host"),
                "truncated gzip": good[:-10],
                "short transfer": (good[:-10], len(good)),
                "not gzip, wrong": b"\x00\x00\x08\x01\x00\x00\x00\x00"}[failure]
    web = FakeWeb(routes)
    monkeypatch.setattr(mnist_mod, "_urlopen", web)
    ds = MNIST()                                                # no root: into the cache
    assert ds.root == fake.cache
    assert [mirror_of(u) for u in web.calls] == [0, 1] * 4
    check_downloaded(fake, fake.cache)


def test_download_accepts_any_gzip_and_raw(fake, monkeypatch):
    # other compression level/mtime than the reference; and one mirror serving raw bytes
    web = FakeWeb(lambda url: (gzip.compress(fake.contents[name_of(url)], 1, mtime=123)
                               if name_of(url) != NAMES[1] else fake.contents[NAMES[1]]))
    monkeypatch.setattr(mnist_mod, "_urlopen", web)
    ds = MNIST(fake.tmp / "d")
    np.testing.assert_array_equal(ds.labels, fake.train[1])
    assert (fake.tmp / "d" / NAMES[1]).is_file()               # raw stored under its raw name


def test_download_all_mirrors_fail(fake, monkeypatch):
    web = FakeWeb(lambda url: ConnectionRefusedError("offline"))
    monkeypatch.setattr(mnist_mod, "_urlopen", web)
    with pytest.raises(RuntimeError) as e:
        MNIST()
    msg = str(e.value)
    assert isinstance(e.value, MNISTNotFoundError)
    assert all(name + ".gz" in msg for name in NAMES)
    assert str(fake.cache) in msg and "offline" in msg
    assert len(web.calls) == 3 and [mirror_of(u) for u in web.calls] == [0, 1, 2]
    # nothing half-written (and no empty folder created for a download that never happened)
    assert not fake.cache.exists() or list(fake.cache.iterdir()) == []


def test_download_into_a_file_is_a_clear_error(fake, tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_mod, "_urlopen", FakeWeb(lambda url: b""))
    (tmp_path / "not_a_dir").write_text("x")
    with pytest.raises(MNISTNotFoundError, match="it is a file, not a folder"):
        MNIST(tmp_path / "not_a_dir")


def test_download_only_missing_files(fake, monkeypatch):
    root = fake.populate(fake.tmp / "d", names=NAMES[:3])
    web = FakeWeb(lambda url: gzip.compress(fake.contents[name_of(url)]))
    monkeypatch.setattr(mnist_mod, "_urlopen", web)
    MNIST(root, train=False)
    assert list(map(name_of, web.calls)) == [NAMES[3]]


def test_download_write_is_atomic(fake, monkeypatch):
    web = FakeWeb(lambda url: gzip.compress(fake.contents[name_of(url)]))
    monkeypatch.setattr(mnist_mod, "_urlopen", web)

    def crash(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(mnist_mod.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        MNIST(fake.tmp / "d")
    assert list((fake.tmp / "d").iterdir()) == []              # no temp file, no partial file


# =============================================================================== DataLoader
def coded_dataset(n, transform=None):
    """images[i] is filled with the value i, so a batch tells which samples it holds."""
    images = np.repeat(np.arange(n, dtype=np.float32), 4).reshape(n, 1, 2, 2)
    return ArrayDataset(images, np.arange(n, dtype=np.uint8) % 10, transform=transform)


def ids(x):
    return x.data[:, 0, 0, 0].astype(int).tolist()


def epoch_ids(loader):
    return [i for x, _ in loader for i in ids(x)]


@pytest.mark.parametrize("n,b,drop,nb,last", [(10, 3, False, 4, 1), (10, 3, True, 3, 3),
                                              (9, 3, False, 3, 3), (2, 5, True, 0, None),
                                              (2, 5, False, 1, 2), (0, 4, False, 0, None)])
def test_loader_len_and_batches(n, b, drop, nb, last):
    ds = coded_dataset(n)
    loader = DataLoader(ds, batch_size=b, drop_last=drop)
    batches = list(loader)
    assert len(loader) == len(batches) == nb
    if nb:
        assert batches[-1][0].shape == (last, 1, 2, 2)
        x, y = batches[0]
        assert isinstance(x, mt.Tensor) and x.dtype == np.float32 and y.dtype == np.int64
        assert ids(x) == list(range(min(b, n)))
        np.testing.assert_array_equal(y.data, ds.labels[:min(b, n)])
    assert epoch_ids(loader) == list(range(nb * b if drop else n))


def test_loader_shuffle_reproducible_and_fresh_each_epoch():
    ds = coded_dataset(50)
    a, b, c = (DataLoader(ds, batch_size=7, shuffle=True, seed=s) for s in (0, 0, 1))
    ea = [epoch_ids(a) for _ in range(3)]
    assert [epoch_ids(b) for _ in range(3)] == ea                     # same seed, same epochs
    assert [epoch_ids(c) for _ in range(3)] != ea                     # other seed
    for e in ea:
        assert sorted(e) == list(range(50))                          # each sample exactly once
    assert ea[0] != ea[1] and ea[1] != ea[2] and ea[0] != ea[2]        # fresh permutations
    assert ea[0] != list(range(50))
    assert a.epoch == 3


@pytest.mark.parametrize("transform", [None, RandomTranslate(1)])
def test_loader_state_dict_resume(transform):
    rng = np.random.default_rng(0)
    ds = ArrayDataset(rng.standard_normal((23, 1, 5, 5)).astype(np.float32),
                      rng.integers(0, 10, 23))
    mk = lambda seed: DataLoader(ds, batch_size=4, shuffle=True, seed=seed, transform=transform)  # noqa: E731
    a = mk(0)
    list(a)                                                          # epoch 1
    sd = json.loads(json.dumps(a.state_dict()))                      # JSON-serialisable
    it = iter(a)
    head = [next(it) for _ in range(2)]                              # epoch 2, 2 batches ...
    mid = a.state_dict()
    tail = list(it)                                                  # ... and the rest
    for state, want in ((sd, head + tail), (mid, tail)):
        b = mk(99)
        b.load_state_dict(state)
        got = list(b)
        assert len(got) == len(want) and b.epoch == 2
        for (x1, y1), (x2, y2) in zip(got, want):
            np.testing.assert_array_equal(x1.data, x2.data)
            np.testing.assert_array_equal(y1.data, y2.data)
    after = [x.data for x, _ in a]                                   # epoch 3 continues too
    resumed = [x.data for x, _ in b]
    assert len(after) == len(resumed) == 6                           # ceil(23 / 4) batches
    for u, v in zip(after, resumed):
        np.testing.assert_array_equal(u, v)
    with pytest.raises(ValueError, match="23"):
        DataLoader(coded_dataset(5)).load_state_dict(sd)


def test_loader_augmentation_fresh_each_epoch_and_seeded():
    x = np.zeros((8, 1, 9, 9), np.float32)
    x[:, 0, 4, 4] = 1.0
    ds = ArrayDataset(x, np.zeros(8, np.int64))
    mk = lambda seed: DataLoader(ds, batch_size=4, seed=seed, transform=RandomTranslate(2))  # noqa: E731
    a, b, c = mk(0), mk(0), mk(1)
    ea = [np.concatenate([x.data for x, _ in a]) for _ in range(2)]
    eb = [np.concatenate([x.data for x, _ in b]) for _ in range(2)]
    ec = np.concatenate([x.data for x, _ in c])
    assert all(np.array_equal(u, v) for u, v in zip(ea, eb))          # same seed, same shifts
    assert not np.array_equal(ea[0], ea[1])                           # new shifts each epoch
    assert not np.array_equal(ea[0], ec)                              # other seed
    assert not np.array_equal(ea[0][:4], ea[0][4:])                   # batches differ too


class ListDataset:
    """A generic dataset: no whole arrays, only __len__/__getitem__ (items may be Tensors)."""

    def __init__(self, base, tensors=False):
        self.base, self.tensors = base, tensors

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        x, y = self.base[i]
        return (mt.tensor(x), y) if self.tensors else (x, y)


@pytest.mark.parametrize("tensors", [False, True])
def test_loader_generic_dataset_matches_fast_path(tensors):
    ds = coded_dataset(11)
    fast = list(DataLoader(ds, batch_size=4, shuffle=True, seed=3))
    slow = list(DataLoader(ListDataset(ds, tensors), batch_size=4, shuffle=True, seed=3))
    for (x1, y1), (x2, y2) in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(x1.data, x2.data)
        np.testing.assert_array_equal(y1.data, y2.data)
        assert y2.dtype == np.int64


def test_loader_fast_path_copies_and_skips_getitem():
    class NoItems(ArrayDataset):
        def __getitem__(self, i):
            raise AssertionError("fast path must not index per sample")
    ds = coded_dataset(6)
    ds = NoItems(ds.images, ds.labels)
    x, _ = next(iter(DataLoader(ds, batch_size=6)))
    x.data[...] = -1
    assert ds.images.min() == 0                                      # batch is a copy


def test_loader_applies_dataset_and_loader_transforms():
    calls = []

    def add(v):
        def t(x, rng):
            calls.append(v)
            assert isinstance(rng, np.random.Generator)
            return x + v
        return t
    ds = coded_dataset(4, transform=add(100))
    x, _ = next(iter(DataLoader(ds, batch_size=4, transform=add(1000))))
    assert ids(x) == [1100, 1101, 1102, 1103] and calls == [100, 1000]
    assert ds[2][0][0, 0, 0] == 102                                  # per-item path too


def test_loader_and_dataset_validation():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(coded_dataset(3), batch_size=0)
    with pytest.raises(TypeError, match="__getitem__"):
        DataLoader(42)
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(4,\)"):
        ArrayDataset(np.zeros((3, 2)), np.zeros(4))
    sub = coded_dataset(10).subset([7, 2])
    assert sub.images[:, 0, 0, 0].tolist() == [7, 2] and len(sub) == 2


# =============================================================================== RandomTranslate
def naive_shift(img, dy, dx, fill):
    """Reference: loop over output pixels of one (H, W) image."""
    H, W = img.shape
    out = np.full_like(img, fill)
    for i in range(H):
        for j in range(W):
            if 0 <= i - dy < H and 0 <= j - dx < W:
                out[i, j] = img[i - dy, j - dx]
    return out


def test_translate_matches_naive_reference():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((9, 2, 5, 6)).astype(np.float32)
    dy, dx = rng.integers(-3, 4, 9), rng.integers(-3, 4, 9)
    out = translate(x, dy, dx, fill=7.0)
    assert out.dtype == np.float32 and out.shape == x.shape
    for b in range(9):
        for c in range(2):
            np.testing.assert_array_equal(out[b, c], naive_shift(x[b, c], dy[b], dx[b], 7.0))


def test_translate_single_pixel_known_shifts():
    shifts = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)]
    x = np.zeros((25, 1, 28, 28), np.float32)
    x[:, 0, 10, 12] = 1.0
    dy, dx = np.array(shifts).T
    out = translate(x, dy, dx)
    for b, (sy, sx) in enumerate(shifts):
        assert out[b, 0, 10 + sy, 12 + sx] == 1.0 and out[b].sum() == 1.0
    edge = np.zeros((1, 1, 4, 4), np.float32)
    edge[0, 0, 0, 0] = 1.0
    assert translate(edge, -1, 0).sum() == 0                        # pushed out of the image


def bright_pixel_shifts(out, y0, x0):
    flat = out.reshape(len(out), -1).argmax(1)
    return flat // out.shape[-1] - y0, flat % out.shape[-1] - x0


def test_random_translate_range_fill_reproducible():
    bg = MNIST.background
    x = np.full((2000, 1, 28, 28), bg, np.float32)
    x[:, 0, 14, 14] = 2.8
    keep = x.copy()
    t = RandomTranslate(2)
    out = t(x, np.random.default_rng(5))
    np.testing.assert_array_equal(x, keep)                           # input untouched
    np.testing.assert_array_equal(out, t(x, np.random.default_rng(5)))
    assert not np.array_equal(out, t(x, np.random.default_rng(6)))
    sy, sx = bright_pixel_shifts(out, 14, 14)
    assert sy.min() == sx.min() == -2 and sy.max() == sx.max() == 2  # range, ends included
    assert len(set(zip(sy.tolist(), sx.tolist()))) == 25             # all 25 shifts occur
    assert (out == 2.8).sum() == 2000                                # pixel kept, once each
    # the border is filled with the background (default: the image minimum) or with `fill`
    edge = np.full((50, 1, 6, 6), bg, np.float32)
    edge[:, :, :, :] = 1.0                                           # no background inside
    edge[:, :, 0, 0] = bg
    shifted = RandomTranslate(2)(edge, np.random.default_rng(0))
    assert set(np.unique(shifted)) <= {np.float32(bg), np.float32(1.0)}
    filled = RandomTranslate(2, fill=-5.0)(edge, np.random.default_rng(0))
    moved = (filled == -5.0).any(axis=(1, 2, 3))
    assert moved.sum() > 40 and set(np.unique(filled)) <= {np.float32(bg), 1.0, -5.0}


def test_random_translate_channels_share_shift_and_identity():
    x = np.zeros((300, 3, 9, 9), np.float32)
    x[:, :, 4, 4] = [1.0, 2.0, 3.0]
    out = RandomTranslate(2)(x, np.random.default_rng(0))
    for c in range(3):
        assert np.array_equal(bright_pixel_shifts(out[:, c:c + 1], 4, 4),
                              bright_pixel_shifts(out[:, :1], 4, 4))
    np.testing.assert_array_equal(RandomTranslate(0)(x, np.random.default_rng(0)), x)
    with pytest.raises(ValueError, match="max_shift"):
        RandomTranslate(-1)
    with pytest.raises(ValueError, match=r"\(28, 28\)"):
        RandomTranslate(2)(np.zeros((28, 28)))


# =============================================================================== real MNIST
def test_shipped_mnist_files():
    folder = mnist_mod.REPO_DIR
    want = {"train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
            "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
            "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
            "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637"}
    for name, md5 in want.items():
        content = gzip.decompress((folder / (name + ".gz")).read_bytes())
        assert hashlib.md5(content).hexdigest() == md5
    for train, n in ((True, 60000), (False, 10000)):
        ds = MNIST(folder, train=train, download=False)
        assert ds.images.shape == (n, 1, 28, 28) and ds.images.dtype == np.float32
        assert ds.labels.shape == (n,) and set(np.unique(ds.labels)) == set(range(10))
        if train:                                                    # normalised with its stats
            assert abs(float(ds.images.mean())) < 1e-3 and abs(float(ds.images.std()) - 1) < 1e-3
    assert ds.labels[:5].tolist() == [7, 2, 1, 0, 4]                 # the famous first digits
    assert Path(folder).parts[-2:] == ("data", "mnist")


# =============================================================================== Fashion-MNIST, KMNIST
@pytest.fixture
def tiny_idx():
    """The four files of a tiny MNIST-format data set (12 train, 5 test), as bytes."""
    rng = np.random.default_rng(7)
    (tri, trl), (tei, tel) = make_split(rng, 12), make_split(rng, 5)
    return {NAMES[0]: encode_idx(tri), NAMES[1]: encode_idx(trl),
            NAMES[2]: encode_idx(tei), NAMES[3]: encode_idx(tel)}, (tri, trl)


def use_tiny(monkeypatch, cls, contents, tmp_path, gz_md5=False):
    """Point ``cls`` at ``contents``: its MD5 table, sizes, repo and system folders, the cache."""
    if gz_md5:                          # KMNIST: the MD5 of the (deterministic) .gz files
        table = {k: hashlib.md5(gzip.compress(v, mtime=0)).hexdigest() for k, v in contents.items()}
    else:
        table = {k: hashlib.md5(v).hexdigest() for k, v in contents.items()}
    monkeypatch.setattr(cls, "md5", table)
    monkeypatch.setattr(cls, "splits", {True: (NAMES[0], NAMES[1], 12),
                                        False: (NAMES[2], NAMES[3], 5)})
    monkeypatch.setattr(cls, "repo_dir", tmp_path / "repo" / cls.folder)
    monkeypatch.setattr(cls, "system_dirs", (str(tmp_path / "system" / cls.folder),))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MINITORCH_CNN_DATA", raising=False)


def put(folder, contents, names=NAMES):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / (name + ".gz")).write_bytes(gzip.compress(contents[name], mtime=0))
    return folder


def test_fashion_mnist_reads_and_normalises_with_its_own_statistics(tiny_idx, tmp_path,
                                                                     monkeypatch):
    contents, (raw, labels) = tiny_idx
    use_tiny(monkeypatch, mt.data.FashionMNIST, contents, tmp_path)
    ds = mt.data.FashionMNIST(put(tmp_path / "d", contents), download=False)
    want = (raw.astype(np.float64) / 255 - 0.2860) / 0.3530
    np.testing.assert_allclose(ds.images[:, 0], want, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(ds.labels, labels)
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"
    assert ds.background == pytest.approx(-0.2860 / 0.3530)
    assert repr(ds).startswith("FashionMNIST(split='train', n=12")
    assert mt.data.KMNIST.classes[:3] == ("o", "ki", "su")
    with pytest.raises(TypeError, match="abstract"):
        mt.data.MNISTFormat(download=False)


def test_fashion_mnist_lookup_order(tiny_idx, tmp_path, monkeypatch):
    contents, _ = tiny_idx
    FM = mt.data.FashionMNIST
    use_tiny(monkeypatch, FM, contents, tmp_path)
    cache = put(tmp_path / "home" / ".cache" / "minitorch_cnn" / "fashion-mnist", contents)
    assert FM(download=False).root == cache
    system = put(tmp_path / "system" / "fashion-mnist", contents)     # Debian's package folder
    assert FM(download=False).root == system
    repo = put(tmp_path / "repo" / "fashion-mnist", contents)
    assert FM(download=False).root == repo
    env = tmp_path / "env"
    put(env, contents)                       # files in $MINITORCH_CNN_DATA itself: MNIST's place
    monkeypatch.setenv("MINITORCH_CNN_DATA", str(env))
    assert FM(download=False).root == repo
    put(env / "fashion-mnist", contents)
    assert FM(download=False).root == env / "fashion-mnist"


def test_mnist_files_do_not_pass_for_fashion_mnist(tiny_idx, tmp_path, monkeypatch):
    contents, _ = tiny_idx
    use_tiny(monkeypatch, mt.data.FashionMNIST, contents, tmp_path)
    other = {k: v[:-1] + bytes([v[-1] ^ 1]) for k, v in contents.items()}   # other pixels
    with pytest.raises(ValueError, match="not the original Fashion-MNIST"):
        mt.data.FashionMNIST(put(tmp_path / "d", other), download=False)


def test_fashion_mnist_not_found_message(tiny_idx, tmp_path, monkeypatch):
    contents, _ = tiny_idx
    use_tiny(monkeypatch, mt.data.FashionMNIST, contents, tmp_path)
    web = FakeWeb(lambda url: urllib.error.URLError("no network"))
    monkeypatch.setattr(mnist_mod, "_urlopen", web)
    with pytest.raises(MNISTNotFoundError) as e:
        mt.data.FashionMNIST()
    msg = str(e.value)
    assert msg.count("Fashion-MNIST") >= 2 and "no network" in msg
    assert "fashion-mnist.s3-website.eu-central-1.amazonaws.com" in msg
    assert "apt-get download dataset-fashion-mnist" in msg
    assert "PARENT/fashion-mnist" in msg
    assert all(u.startswith(mt.data.FashionMNIST.mirrors) for u in web.calls)
    assert len(web.calls) == len(mt.data.FashionMNIST.mirrors)     # first file: every mirror


def test_kmnist_downloads_from_codh_and_checks_the_gz_md5(tiny_idx, tmp_path, monkeypatch):
    contents, (_, labels) = tiny_idx
    KM = mt.data.KMNIST
    use_tiny(monkeypatch, KM, contents, tmp_path, gz_md5=True)

    def routes(url):                        # mirror 0 re-compresses (other bytes), mirror 1 not
        body = contents[name_of(url)]
        if url.startswith(KM.mirrors[0]):
            return gzip.compress(body, compresslevel=1, mtime=5)
        return gzip.compress(body, mtime=0)
    web = FakeWeb(routes)
    monkeypatch.setattr(mnist_mod, "_urlopen", web)
    ds = KM()
    assert ds.root == tmp_path / "home" / ".cache" / "minitorch_cnn" / "kmnist"
    np.testing.assert_array_equal(ds.labels, labels)
    assert all("codh.rois.ac.jp/kmnist/dataset/kmnist/" in u for u in web.calls)
    assert len(web.calls) == 8                                 # each file: mirror 0, then 1
    # a re-compressed copy of the right content is not CODH's file
    put(tmp_path / "k", {k: v for k, v in contents.items()})
    (tmp_path / "k" / (NAMES[0] + ".gz")).write_bytes(gzip.compress(contents[NAMES[0]], mtime=9))
    with pytest.raises(ValueError, match="MD5 of the gzip"):
        KM(tmp_path / "k", download=False)


def test_published_checksums():
    FM, KM = mt.data.FashionMNIST, mt.data.KMNIST
    assert FM.md5["train-images-idx3-ubyte"] == "f4a8712d7a061bf5bd6d2ca38dc4d50a"
    assert FM.md5["t10k-labels-idx1-ubyte"] == "15d484375f8d13e6eb1aabb0c3f46965"
    assert KM.md5["train-images-idx3-ubyte"] == "bdb82020997e1d708af4cf47b453dcf7"
    assert KM.md5_of == "gzip" and FM.md5_of == MNIST.md5_of == "decompressed content"
    assert set(FM.md5) == set(KM.md5) == set(MNIST.md5) == set(NAMES)


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="Debian's dataset-fashion-mnist package is not installed")
def test_debian_fashion_mnist_files():
    ds = mt.data.FashionMNIST("/usr/share/datasets/fashion-mnist", train=False, download=False)
    assert ds.images.shape == (10000, 1, 28, 28) and set(np.unique(ds.labels)) == set(range(10))
