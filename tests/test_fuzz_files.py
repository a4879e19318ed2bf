"""Property tests: mutated checkpoints and IDX files either load correctly or raise the module's
own error naming the file -- never another exception, never unbounded memory.

The default run tries a few hundred mutations (a few seconds); ``pytest -m slow`` runs the same
properties on many more."""
import gzip
import io
import json
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minitorch_cnn as mt
from minitorch_cnn.data import idx

# duplicate zip members are one of the mutations: zipfile warns when writing them
pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")
from minitorch_cnn.io.serialization import CheckpointError

MEMORY_BOUND = 16 * 2 ** 20           # far above the files here (a few KB), far below a bomb
FAST, SLOW = 150, 3000
COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                    HealthCheck.too_slow])

ORIGINAL = {"model": {"w": np.arange(12, dtype=np.float32).reshape(3, 4),
                      "b": np.zeros(3, np.float64), "i": np.array([1, -2], np.int64)},
            "epoch": 2, "metrics": [{"loss": 0.5}], "rng": ("MT19937", 2 ** 70, (1, 2.5)),
            "flag": np.float32(1.5), "empty": np.zeros((0, 2), np.uint8)}


def _base_bytes():
    """What ``mt.save(ORIGINAL, path)`` writes, built in memory."""
    from minitorch_cnn.io.serialization import FORMAT, STRUCTURE, VERSION, _Encoder
    buf = io.BytesIO()
    enc = _Encoder()
    root = enc.encode(ORIGINAL)
    members = dict(enc.arrays)
    text = json.dumps({"format": FORMAT, "version": VERSION, "root": root})
    members[STRUCTURE] = np.frombuffer(text.encode(), np.uint8)
    np.savez(buf, **members)
    return buf.getvalue()


BASE = _base_bytes()


def same(a, b):
    if isinstance(a, np.ndarray):
        return type(b) is np.ndarray and a.dtype == b.dtype and a.shape == b.shape \
            and np.array_equal(a, b)
    if isinstance(a, dict):
        return type(b) is dict and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    return type(a) is type(b) and a == b


def outcome(fn, path):
    """Run ``fn(path)`` under tracemalloc: (result or exception, peak bytes)."""
    tracemalloc.start()
    try:
        try:
            result = fn(path)
        except Exception as e:                            # noqa: BLE001 -- judged below
            result = e
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def own_error_or_load(fn, path, error):
    """``fn(path)`` within the memory bound: the result, or else an exception that is exactly
    the module's ``error`` and names the file (asserted)."""
    result, peak = outcome(fn, path)
    assert peak < MEMORY_BOUND, f"{peak} bytes"
    if isinstance(result, Exception):
        assert type(result) is error, repr(result)
        assert str(path) in str(result), str(result)
    return result


def check_checkpoint(tmp_path, data, exact):
    """``exact``: the mutation leaves the content intact if it loads at all (byte damage);
    otherwise (a rebuilt zip) any value may come back."""
    path = tmp_path / "fuzzed.npz"
    path.write_bytes(data)
    result = own_error_or_load(mt.load, path, CheckpointError)
    if exact and not isinstance(result, Exception):
        assert same(ORIGINAL, result), result


# ------------------------------------------------------------------ checkpoint mutations
def rezip(members, compression=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, payload in members:
            zf.writestr(name, payload)
    return buf.getvalue()


def members_of(data):
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(n, zf.read(n)) for n in zf.namelist()]


byte_damage = st.one_of(
    st.integers(0, len(BASE) - 1).map(lambda n: ("truncate", n)),
    st.tuples(st.integers(0, len(BASE) - 1), st.integers(0, 7)).map(lambda t: ("flip", *t)),
    st.tuples(st.integers(0, len(BASE) - 4), st.binary(min_size=1, max_size=8)).map(
        lambda t: ("overwrite", *t)),
)


def damage(kind, *a):
    data = bytearray(BASE)
    if kind == "truncate":
        return bytes(data[:a[0]])
    if kind == "flip":
        data[a[0]] ^= 1 << a[1]
    else:
        data[a[0]:a[0] + len(a[1])] = a[1]
    return bytes(data)


def declared_size_change(data, which, value):
    """Rewrite the 32-bit uncompressed size of one central-directory entry (CRCs stay valid)."""
    data = bytearray(data)
    starts = [i for i in range(len(data) - 4) if data[i:i + 4] == b"PK\x01\x02"]
    pos = starts[which % len(starts)] + 24
    data[pos:pos + 4] = value.to_bytes(4, "little")
    return bytes(data)


def header_change(which, shape, descr):
    """A member whose .npy header says another shape/dtype (a valid zip, good CRCs)."""
    members = members_of(BASE)
    name, payload = members[which % len(members)]
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    body = payload[payload.index(b"\n") + 1:]
    members[which % len(members)] = (name, buf.getvalue() + body)
    return rezip(members)


def member_change(kind, which):
    """An extra member, a duplicate of one (a broken copy, written last), or every member
    deflated (as another zip tool might)."""
    members = members_of(BASE)
    if kind == "deflate":
        return rezip(members, zipfile.ZIP_DEFLATED)
    name = "arr_99.npy" if kind == "extra" else members[which % len(members)][0]
    return rezip(members + [(name, b"\x93NUMPY")])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.sampled_from(
        ["list", "tuple", "dict", "odict", "array", "scalar", "x"]), kids, max_size=2),
    max_leaves=25)


def structure_change(root):
    members = [(n, p) for n, p in members_of(BASE) if n != "__minitorch__.npy"]
    text = json.dumps({"format": "minitorch_cnn.checkpoint", "version": 1, "root": root})
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.frombuffer(text.encode(), np.uint8))
    return rezip(members + [("__minitorch__.npy", buf.getvalue())])


rebuilt = st.one_of(
    st.tuples(st.integers(0, 20), st.integers(0, 2 ** 32 - 1)).map(
        lambda t: declared_size_change(BASE, *t)),
    st.tuples(st.integers(0, 20),
              st.lists(st.one_of(st.integers(0, 5), st.integers(2 ** 20, 2 ** 62)),
                       max_size=4).map(tuple),
              st.sampled_from(["<f4", "<f8", "|u1", "<i8", "|b1", "|O", "<U3", "|V0"])).map(
        lambda t: header_change(*t)),
    st.tuples(st.sampled_from(["extra", "duplicate", "deflate"]), st.integers(0, 20)).map(
        lambda t: member_change(*t)),
    json_values.map(structure_change),
)


def _ckpt_damage(tmp_path, mutation):
    check_checkpoint(tmp_path, damage(*mutation), exact=True)


def _ckpt_rebuilt(tmp_path, data):
    check_checkpoint(tmp_path, data, exact=False)


@settings(max_examples=FAST, **COMMON)
@given(mutation=byte_damage)
def test_damaged_checkpoints(tmp_path, mutation):
    _ckpt_damage(tmp_path, mutation)


@settings(max_examples=FAST, **COMMON)
@given(data=rebuilt)
def test_rebuilt_checkpoints(tmp_path, data):
    _ckpt_rebuilt(tmp_path, data)


@pytest.mark.slow
@settings(max_examples=SLOW, **COMMON)
@given(mutation=byte_damage)
def test_damaged_checkpoints_long(tmp_path, mutation):
    _ckpt_damage(tmp_path, mutation)


@pytest.mark.slow
@settings(max_examples=SLOW, **COMMON)
@given(data=rebuilt)
def test_rebuilt_checkpoints_long(tmp_path, data):
    _ckpt_rebuilt(tmp_path, data)


# ------------------------------------------------------------------ IDX mutations
IDX_BASE = b"\x00\x00\x08\x03" + np.array([3, 4, 5], ">u4").tobytes() + bytes(range(60))

idx_mutation = st.one_of(
    st.integers(0, len(IDX_BASE)).map(lambda n: IDX_BASE[:n]),
    st.tuples(st.integers(0, len(IDX_BASE) - 1), st.integers(0, 7)).map(
        lambda t: IDX_BASE[:t[0]] + bytes([IDX_BASE[t[0]] ^ (1 << t[1])]) + IDX_BASE[t[0] + 1:]),
    st.tuples(st.sampled_from([8, 9, 11, 12, 13, 14, 7, 255]),
              st.lists(st.one_of(st.integers(0, 6), st.integers(2 ** 20, 2 ** 32 - 1)),
                       max_size=5)).map(
        lambda t: b"\x00\x00" + bytes([t[0], len(t[1])]) + np.array(t[1], ">u4").tobytes()
        + bytes(range(60))),
    st.binary(max_size=40).map(lambda extra: IDX_BASE + extra),
)


def _idx_case(tmp_path, content, gz, cut):
    data = gzip.compress(content) if gz else content
    if cut is not None:
        data = data[:cut % (len(data) + 1)]
    path = tmp_path / "fuzzed-idx-ubyte"
    path.write_bytes(data)
    result = own_error_or_load(idx.read_idx, path, ValueError)
    if not isinstance(result, Exception):   # a correct load: what the (intact) header promises
        content = content if gz else data        # a cut raw file is what was read
        ndim = content[3]
        dims = tuple(np.frombuffer(content[4:4 + 4 * ndim], ">u4"))
        assert result.shape == dims
        assert 4 + 4 * ndim + result.nbytes == len(content)
        np.testing.assert_array_equal(
            result, np.frombuffer(content, idx.IDX_DTYPES[content[2]], offset=4 + 4 * ndim)
            .reshape(dims))


@settings(max_examples=FAST, **COMMON)
@given(content=idx_mutation, gz=st.booleans(), cut=st.none() | st.integers(0, 200))
def test_mutated_idx_files(tmp_path, content, gz, cut):
    _idx_case(tmp_path, content, gz, cut)


@pytest.mark.slow
@settings(max_examples=SLOW, **COMMON)
@given(content=idx_mutation, gz=st.booleans(), cut=st.none() | st.integers(0, 200))
def test_mutated_idx_files_long(tmp_path, content, gz, cut):
    _idx_case(tmp_path, content, gz, cut)


def test_an_empty_idx_whose_other_dims_overflow_numpy_names_the_file(tmp_path):
    """Found by the long fuzz run: dims (0, 0, 6, 1e9, 1.5e9) promise 0 bytes, but numpy
    cannot even shape an empty array like that ("array is too big", naming nothing)."""
    content = b"\x00\x00\x08\x05" + np.array([0, 0, 6, 1_018_356_183, 1_509_519_654],
                                             ">u4").tobytes()
    path = tmp_path / "empty-but-huge-idx-ubyte"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="beyond any array's size") as e:
        idx.read_idx(path)
    assert str(path) in str(e.value)
