"""mt.save / mt.load: exact round trips without pickle, atomic writes, clear errors on bad files."""
import io
import json
import math
import os
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn.io import serialization
from minitorch_cnn.io.serialization import CheckpointError


def assert_same(a, b, where="obj"):
    """Equal values *and* equal types, recursively (``==`` alone would let 1 == 1.0 == True)."""
    if isinstance(a, mt.Tensor):
        a = a.data                               # Tensors are stored as their array
    assert type(a) is type(b), f"{where}: {type(a)} became {type(b)}"
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, f"{where}: {a.dtype}{a.shape} vs " \
                                                          f"{b.dtype}{b.shape}"
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype and (a == b or (a != a and b != b)), where
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} vs {list(b)}"   # order too
        for k in a:
            assert [type(k) for k in a] == [type(k) for k in b], f"{where}: key types"
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    elif isinstance(a, float):
        assert a == b and math.copysign(1, a) == math.copysign(1, b), f"{where}: {a} vs {b}"
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


def roundtrip(obj, tmp_path, name="x.npz"):
    mt.save(obj, tmp_path / name)
    return mt.load(tmp_path / name)


r = np.random.default_rng(5)
OBJECTS = {
    "scalars": [None, True, False, 0, -7, 2 ** 200, -2 ** 100, 0.1, -0.0, 1e-310, 1e308,
                float("inf"), float("-inf"), float("nan"), "", "héllo ✓\n\"quoted\""],
    "int_vs_str_keys": {1: "int one", "1": "str one", 2.5: "float", None: "none",
                        (1, "a"): "tuple key", True: "bool"},
    "tuples_vs_lists": ((1, 2), [1, 2], [(1, [2, (3,)])], (), [], {}),
    "nested": {"a": {"b": {"c": [1, {"d": (np.arange(3),)}]}}},
    "arrays": [r.standard_normal((2, 3)), r.standard_normal(4).astype(np.float32),
               np.arange(5, dtype=np.int64), np.array([True, False]),
               np.array(3.5), np.array(7, dtype=np.int32), np.zeros((0, 3), np.float32),
               np.zeros(0, np.int64), np.arange(12, dtype=np.uint8).reshape(3, 4),
               np.array([1 + 2j]), np.array(["ab", "c"]), np.float16([1.5])],
    "non_contiguous": [np.arange(24.0).reshape(4, 6)[::2, 1::3],
                       np.asfortranarray(np.arange(6.0).reshape(2, 3)),
                       np.arange(6.0).reshape(2, 3).T],
    "numpy_scalars": [np.float32(1.5), np.float64(0.1), np.int64(-3), np.uint8(255),
                      np.bool_(True), np.float16(2.0), np.int32(7)],
    "ordered_dict": OrderedDict([("z", np.ones(2)), ("a", 1)]),
    "tensors": {"w": mt.tensor([1.0, 2.0]), "p": mt.nn.Parameter(np.ones((2, 2)))},
    "top_level_array": np.arange(3.0),
    "top_level_int": 3,
    "optimizer_like": {"state": {0: {"step": 3, "exp_avg": np.ones(2)}},
                       "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0]}]},
}


@pytest.mark.parametrize("name", list(OBJECTS))
def test_round_trip_keeps_values_and_types(name, tmp_path):
    obj = OBJECTS[name]
    assert_same(obj, roundtrip(obj, tmp_path))


def test_assert_same_is_strict():
    # the helper above must itself catch the type changes a naive round trip would make
    for a, b in [(1, 1.0), (1, True), ((1,), [1]), ({1: 0}, {"1": 0}), (np.float32(1), 1.0),
                 (np.ones(2), np.ones(2, np.float32)), (0.0, -0.0),
                 (OrderedDict(a=1), {"a": 1})]:
        with pytest.raises(AssertionError):
            assert_same(a, b)


def test_rng_states_round_trip_exactly(tmp_path):
    g = np.random.default_rng(123)
    g.standard_normal(3)                                   # has_uint32 etc. in a used state
    np.random.seed(9)
    np.random.standard_normal()                            # leaves a cached gaussian
    saved = {"gen": g.bit_generator.state, "legacy": np.random.get_state(),
             "pcg": np.random.PCG64(7).state}
    back = roundtrip(saved, tmp_path)
    assert_same(saved, back)
    assert back["gen"]["state"]["state"] > 2 ** 64             # really a big int
    g2 = np.random.default_rng()
    g2.bit_generator.state = back["gen"]
    np.testing.assert_array_equal(g.standard_normal(5), g2.standard_normal(5))
    want = np.random.standard_normal(5)
    np.random.set_state(back["legacy"])
    np.testing.assert_array_equal(np.random.standard_normal(5), want)


def test_path_is_used_exactly_and_file_is_a_real_npz(tmp_path):
    mt.save({"w": np.arange(3)}, tmp_path / "model.ckpt")
    mt.save([1], str(tmp_path / "sub" / "dir" / "x"))     # folders are created, str paths work
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.ckpt", "sub"]
    assert mt.load(str(tmp_path / "sub" / "dir" / "x")) == [1]
    with np.load(tmp_path / "model.ckpt", allow_pickle=False) as z:   # plain numpy can read it
        assert "arr_0" in z.files and "__minitorch__" in z.files
        np.testing.assert_array_equal(z["arr_0"], np.arange(3))


def test_overwrite_replaces_the_file(tmp_path):
    mt.save({"v": 1}, tmp_path / "c.npz")
    mt.save({"v": 2}, tmp_path / "c.npz")
    assert mt.load(tmp_path / "c.npz") == {"v": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]


# ------------------------------------------------------------------ refused on save
@pytest.mark.parametrize("obj, match", [
    ({"a": [np.array([{"x": 1}], dtype=object)]}, r"object array .* at obj\['a'\]\[0\]"),
    (np.array([1, "a"], dtype=object), r"object array"),
    ({"s": {1, 2}}, r"cannot store builtins.set at obj\['s'\]"),
    ([b"bytes"], r"cannot store builtins.bytes at obj\[0\]"),
    ({"c": 1j}, r"cannot store builtins.complex"),
    ({np.int64(1): 0}, r"dict key of type int64"),
    ({"d": {frozenset(): 1}}, r"dict key of type frozenset .* in obj\['d'\]"),
    ({"f": lambda x: x}, r"cannot store builtins.function"),
])
def test_unsupported_objects_are_refused_before_any_write(obj, match, tmp_path):
    with pytest.raises(TypeError, match=match):
        mt.save(obj, tmp_path / "x.npz")
    assert list(tmp_path.iterdir()) == []


def test_circular_reference_is_refused(tmp_path):
    a = [1]
    a.append(a)
    with pytest.raises(ValueError, match="contains itself"):
        mt.save({"a": a}, tmp_path / "x.npz")
    shared = [1, 2]                                        # shared but not circular: fine
    assert roundtrip({"x": shared, "y": shared}, tmp_path) == {"x": [1, 2], "y": [1, 2]}


# ------------------------------------------------------------------ atomic writes
@pytest.fixture
def previous(tmp_path):
    path = tmp_path / "ckpt.npz"
    mt.save({"epoch": 1, "w": np.arange(1000.0)}, path)
    return path, path.read_bytes()


def _assert_intact(path, old_bytes):
    assert path.read_bytes() == old_bytes
    assert mt.load(path)["epoch"] == 1
    assert [p.name for p in path.parent.iterdir()] == [path.name]     # no temp files left


def test_crash_while_writing_keeps_the_previous_file(previous, monkeypatch):
    path, old = previous

    def half_then_crash(f, members):
        f.write(b"PK\x03\x04" + b"\0" * 5000)              # a partial new file ...
        raise RuntimeError("disk on fire")                  # ... then the writer dies
    monkeypatch.setattr(serialization, "_write_npz", half_then_crash)
    with pytest.raises(RuntimeError, match="disk on fire"):
        mt.save({"epoch": 2, "w": np.zeros(1000)}, path)
    _assert_intact(path, old)


def test_interrupt_while_writing_keeps_the_previous_file(previous, monkeypatch):
    path, old = previous
    real = np.lib.format.write_array
    calls = []

    def write_then_interrupt(*a, **k):                       # second array: Ctrl-C
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)
    monkeypatch.setattr(np.lib.format, "write_array", write_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        mt.save({"epoch": 2, "w": np.zeros(1000), "v": np.ones(3)}, path)
    _assert_intact(path, old)


def test_failing_rename_keeps_the_previous_file(previous, monkeypatch):
    path, old = previous

    def no_replace(src, dst):
        raise OSError("rename failed")
    monkeypatch.setattr(os, "replace", no_replace)
    with pytest.raises(OSError, match="rename failed"):
        mt.save({"epoch": 2}, path)
    monkeypatch.undo()
    _assert_intact(path, old)


def test_data_is_fsynced_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("replace"),
                                                     real_replace(a, b))[1])
    mt.save({"a": 1}, tmp_path / "x.npz")
    assert events == ["fsync", "replace"]


# ------------------------------------------------------------------ bad files on load
def _expect_bad(path, match):
    with pytest.raises(ValueError, match=match) as info:
        mt.load(path)
    assert isinstance(info.value, CheckpointError)
    assert str(path) in str(info.value)                      # the message names the file


@pytest.mark.parametrize("keep", [0, 3, 10, 0.5, 0.9, -1])
def test_truncated_file(keep, tmp_path):
    good = tmp_path / "good.npz"
    mt.save({"w": np.arange(500.0), "epoch": 3}, good)
    data = good.read_bytes()
    n = keep if isinstance(keep, int) and keep >= 0 else \
        (len(data) - 1 if keep == -1 else int(len(data) * keep))
    bad = tmp_path / "bad.npz"
    bad.write_bytes(data[:n])
    _expect_bad(bad, "not a valid minitorch_cnn checkpoint")


def test_foreign_files(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(np.random.default_rng(0).bytes(300))
    _expect_bad(junk, "not an npz")
    zipjunk = tmp_path / "zipjunk.npz"
    zipjunk.write_bytes(b"PK\x03\x04" + np.random.default_rng(1).bytes(300))
    _expect_bad(zipjunk, "truncated, corrupt")
    plain = tmp_path / "plain.npz"
    np.savez(plain, w=np.ones(3))
    _expect_bad(plain, "no '__minitorch__' member")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as z:
        z.writestr("readme.txt", "hello")
    _expect_bad(tmp_path / "other.zip", "truncated, corrupt|no '__minitorch__'")
    with pytest.raises(FileNotFoundError):
        mt.load(tmp_path / "missing.npz")


def _npz_with(path, structure, **arrays):
    """A hand-made file with the given structure member (a dict -> JSON, or a raw array)."""
    if isinstance(structure, dict):
        structure = np.frombuffer(json.dumps(structure).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, __minitorch__=structure, **arrays)
    path.write_bytes(buf.getvalue())
    return path


UNPICKLED = []


def _record_unpickling(tag):
    UNPICKLED.append(tag)
    return tag


class _Booby:
    def __reduce__(self):                  # unpickling this would call _record_unpickling
        return (_record_unpickling, ("unpickled!",))


def test_pickled_member_is_refused_and_never_unpickled(tmp_path):
    meta = {"format": "minitorch_cnn.checkpoint", "version": 1, "root": {"array": "arr_0"}}
    obj_arr = np.empty(1, dtype=object)
    obj_arr[0] = _Booby()
    path = _npz_with(tmp_path / "evil.npz", meta, arr_0=obj_arr)
    # sanity: the file really holds a pickle that would run our function if loaded with pickle
    with np.load(path, allow_pickle=True) as z:
        z["arr_0"]
    assert UNPICKLED == ["unpickled!"]
    UNPICKLED.clear()
    _expect_bad(path, "pickle")
    assert UNPICKLED == []


@pytest.mark.parametrize("structure, arrays, match", [
    (np.frombuffer(b"{not json", np.uint8), {}, "not valid UTF-8 JSON"),
    (np.frombuffer(b"\xff\xfe", np.uint8), {}, "not valid UTF-8 JSON"),
    (np.ones(3), {}, "structure member has dtype float64"),
    ({"format": "something else", "version": 1, "root": 1}, {}, "does not describe"),
    ({"format": "minitorch_cnn.checkpoint", "version": 99, "root": 1}, {}, "version 99"),
    ({"format": "minitorch_cnn.checkpoint", "version": 1, "root": {"array": "arr_7"}}, {},
     "missing member"),
    ({"format": "minitorch_cnn.checkpoint", "version": 1, "root": {"set": [1]}}, {},
     "unknown tag"),
    ({"format": "minitorch_cnn.checkpoint", "version": 1, "root": {"dict": [[{"list": []}, 1]]}},
     {}, "bad dict key"),
    ({"format": "minitorch_cnn.checkpoint", "version": 1, "root": {"scalar": "arr_0"}},
     {"arr_0": np.ones(2)}, "scalar member arr_0 has shape"),
])
def test_corrupt_structure(structure, arrays, match, tmp_path):
    _expect_bad(_npz_with(tmp_path / "c.npz", structure, **arrays), match)


# ------------------------------------------------------------------ damaged files (review)
def test_a_flipped_bit_anywhere_is_a_checkpoint_error(tmp_path):
    # np.load reads only as many bytes as a (damaged) header asks for and never checks the zip
    # CRC: "(1000,)" -> "(0000,)" used to load as an empty array without a word
    path = tmp_path / "ok.npz"
    mt.save({"w": np.arange(1000, dtype=np.float32)}, path)
    raw = path.read_bytes()
    j = raw.index(b"(1000,)")
    cd = raw.index(b"PK\x01\x02")                    # the central directory's first entry
    for k, (pos, bit) in enumerate([(j + 1, 0x01), (j + 6, 0x01), (cd + 8, 0x01),
                                    (cd + 10, 0x01)]):
        bad = bytearray(raw)
        bad[pos] ^= bit
        p = tmp_path / f"bad{k}.npz"
        p.write_bytes(bytes(bad))
        _expect_bad(p, "not a valid minitorch_cnn checkpoint")


def test_a_header_that_does_not_cover_its_member_is_refused(tmp_path):
    # a consistent zip (good CRCs) whose npy header describes fewer bytes than the member holds
    import io
    import zipfile
    head = io.BytesIO()
    np.lib.format.write_array(head, np.zeros(0, np.float32))
    structure = io.BytesIO()
    np.lib.format.write_array(structure, np.frombuffer(
        b'{"format": "minitorch_cnn.checkpoint", "version": 1, "root": {"array": "arr_0"}}',
        np.uint8))
    p = tmp_path / "short_header.npz"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("arr_0.npy", head.getvalue() + b"\x00" * 4000)
        z.writestr("__minitorch__.npy", structure.getvalue())
    _expect_bad(p, "header accounts for")


def test_non_npy_members_and_deep_structures_are_checkpoint_errors(tmp_path):
    import zipfile
    p = tmp_path / "text.npz"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("__minitorch__.npy", "just text")
    _expect_bad(p, "magic string")
    deep = ('{"format": "minitorch_cnn.checkpoint", "version": 1, "root": '
            + '{"list": [' * 3000 + ']}' * 3000 + '}')
    p = tmp_path / "deep.npz"
    np.savez(p, __minitorch__=np.frombuffer(deep.encode(), np.uint8))
    _expect_bad(p, "RecursionError|nested too deeply")


def test_masked_arrays_are_refused_not_unmasked(tmp_path):
    with pytest.raises(TypeError, match=r"save: cannot store a masked array at obj\['x'\]"):
        mt.save({"x": np.ma.masked_array([1.0, 2.0], mask=[False, True])}, tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


def test_saved_files_get_normal_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        mt.save({"a": 1}, tmp_path / "new.npz")
        assert (os.stat(tmp_path / "new.npz").st_mode & 0o777) == 0o644
        os.chmod(tmp_path / "new.npz", 0o640)          # a replaced file keeps its permissions
        mt.save({"a": 2}, tmp_path / "new.npz")
        assert (os.stat(tmp_path / "new.npz").st_mode & 0o777) == 0o640
    finally:
        os.umask(old)
