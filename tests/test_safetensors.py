"""mt.save_safetensors / mt.load_safetensors: round trip, PyTorch interop both ways (equal logits,
when torch is installed), hostile files refused with a clear error.  Skipped without safetensors."""
import json
import struct
import sys

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn.io.safetensors import SafetensorsError

st_numpy = pytest.importorskip("safetensors.numpy")


def test_round_trip_keeps_names_dtypes_shapes_order(tmp_path, rng):
    model = mt.models.InceptionLite()
    state = model.state_dict()
    path = tmp_path / "m.safetensors"
    mt.save_safetensors(state, path)
    back = mt.load_safetensors(path)
    assert sorted(back) == sorted(state)
    for k, v in state.items():
        v = v.data if isinstance(v, mt.Tensor) else v
        assert back[k].dtype == v.dtype and back[k].shape == v.shape, k
        np.testing.assert_array_equal(back[k], v)
    assert back["features.0.1.num_batches_tracked"].shape == ()       # 0-d stays 0-d
    fresh = mt.models.InceptionLite()
    fresh.load_state_dict(back)
    x = mt.tensor(rng.normal(size=(2, 1, 28, 28)).astype(np.float32))
    model.eval(), fresh.eval()
    with mt.no_grad():
        np.testing.assert_array_equal(fresh(x).data, model(x).data)
    # float64 and integer arrays, metadata
    mt.save_safetensors({"a": np.arange(6.0).reshape(2, 3), "b": np.array([1, 2], np.int32)},
                        path, metadata={"note": "x"})
    back = mt.load_safetensors(path)
    assert back["a"].dtype == np.float64 and back["b"].dtype == np.int32


def test_save_refuses_what_safetensors_cannot_hold(tmp_path):
    path = tmp_path / "m.safetensors"
    with pytest.raises(TypeError, match="'lr' is a float"):
        mt.save_safetensors({"w": np.zeros(2), "lr": 0.1}, path)
    with pytest.raises(TypeError, match="keys must be strings"):
        mt.save_safetensors({1: np.zeros(2)}, path)
    with pytest.raises(TypeError, match="complex128"):
        mt.save_safetensors({"z": np.zeros(2, complex)}, path)
    assert not path.exists()


def frame(header, data=b""):
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


@pytest.mark.parametrize("content, problem", [
    (b"", "too short"),
    (b"\x00" * 5, "too short"),
    (struct.pack("<Q", 1 << 40) + b"{}", "the header claims"),
    (struct.pack("<Q", 4) + b"\xff\xfe{}", "not UTF-8 JSON"),
    (frame([1, 2]), "not an object"),
    (frame({"w": {"dtype": "F32", "shape": [2]}}), "lacks dtype, shape or data_offsets"),
    (frame({"w": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4),
     "dtype 'BF16'"),
    (frame({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, b"\0" * 8),
     "not a list of non-negative ints"),
    (frame({"w": {"dtype": "F32", "shape": [1 << 40], "data_offsets": [0, 8]}}, b"\0" * 8),
     "needs"),
    (frame({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4),
     "outside the 4 data bytes"),
    (frame({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
            "v": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 8),
     "overlapping or missing"),
    (frame({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 8),
     "cover 4 of the 8"),
    (frame({"__metadata__": {"a": 1}}), "__metadata__"),
])
def test_hostile_files_are_refused(tmp_path, content, problem):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(SafetensorsError, match=problem) as e:
        mt.load_safetensors(path)
    assert str(path) in str(e.value) and isinstance(e.value, ValueError)


def test_truncated_real_file_is_refused(tmp_path):
    path = tmp_path / "m.safetensors"
    mt.save_safetensors(mt.models.InceptionLite().state_dict(), path)
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    with pytest.raises(SafetensorsError, match="data bytes"):
        mt.load_safetensors(path)
    with pytest.raises(FileNotFoundError):
        mt.load_safetensors(tmp_path / "nope.safetensors")


def test_missing_package_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match=r"minitorch_cnn\[safetensors\]"):
        mt.save_safetensors({"w": np.zeros(2)}, tmp_path / "m.safetensors")


@pytest.mark.torch
def test_pytorch_loads_ours_and_we_load_pytorchs(tmp_path, rng):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    from minitorch_cnn.models.torch_twin import torch_inception_lite

    ours = mt.models.InceptionLite()
    with mt.no_grad():                              # realistic running statistics
        ours.train()
        ours(mt.tensor(rng.normal(size=(16, 1, 28, 28)).astype(np.float32)))
    ours.eval()
    x = rng.normal(size=(3, 1, 28, 28)).astype(np.float32)
    with mt.no_grad():
        ref = ours(mt.tensor(x)).data

    # ours -> PyTorch: the same module tree, load_state_dict(load_file(path)), equal logits
    path = tmp_path / "ours.safetensors"
    mt.save_safetensors(ours.state_dict(), path)
    theirs = torch_inception_lite()
    theirs.load_state_dict(st_torch.load_file(str(path)))
    theirs.eval()
    with torch.no_grad():
        got = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)

    # PyTorch -> ours: a freshly initialised torch model, saved by safetensors.torch
    theirs = torch_inception_lite()
    with torch.no_grad():
        theirs.train()
        theirs(torch.from_numpy(rng.normal(size=(16, 1, 28, 28)).astype(np.float32)))
    theirs.eval()
    path = tmp_path / "theirs.safetensors"
    st_torch.save_file(theirs.state_dict(), str(path))
    ours = mt.models.InceptionLite()
    ours.load_state_dict(mt.load_safetensors(path))
    ours.eval()
    with torch.no_grad():
        want = theirs(torch.from_numpy(x)).numpy()
    with mt.no_grad():
        np.testing.assert_allclose(ours(mt.tensor(x)).data, want, rtol=1e-4, atol=1e-5)
