"""Issue #13: hostile files in bounded memory, runs that diverge, outputs checked before work,
values checked before they are trusted."""
import gzip
import io
import json
import os
import sys
import re
import tracemalloc
import zipfile

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn.io import serialization
from minitorch_cnn.cli import detect as detect_cli
from minitorch_cnn.cli import evaluate as evaluate_cli
from minitorch_cnn.cli import predict as predict_cli
from minitorch_cnn.cli import train
from minitorch_cnn.data import idx
from minitorch_cnn.data.mnist import REPO_DIR
from minitorch_cnn.io.serialization import CheckpointError

MB = 2 ** 20


def peak_bytes(fn, *args):
    """(outcome, peak bytes allocated during ``fn(*args)``): numpy reports its buffers to
    tracemalloc, so an inflated member or array shows up here."""
    tracemalloc.start()
    try:
        try:
            out = fn(*args)
        except (Exception, SystemExit) as e:   # noqa: BLE001 -- the caller inspects it
            out = e
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def npy(arr):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr)
    return buf.getvalue()


def structure(root):
    text = json.dumps({"format": "minitorch_cnn.checkpoint", "version": 1, "root": root})
    return npy(np.frombuffer(text.encode(), np.uint8))


def bomb(path, nbytes, referenced, lie=False):
    """A checkpoint with an ``nbytes`` member of zeros, deflated (about nbytes / 1000 on disk)."""
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        head, {"descr": "|u1", "fortran_order": False, "shape": (4 if lie else nbytes,)})
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("__minitorch__.npy",
                    structure({"array": "arr_1" if referenced else "arr_0"}))
        zf.writestr("arr_0.npy", npy(np.arange(3)))
        with zf.open("arr_1.npy", "w", force_zip64=True) as f:
            f.write(head.getvalue())
            for _ in range(nbytes // MB):
                f.write(bytes(MB))
    return path


# ------------------------------------------------------------------ 1. decompression bombs
@pytest.mark.parametrize("kind", ["unreferenced", "referenced", "lying header"])
def test_a_zip_bomb_is_refused_before_it_is_inflated(kind, tmp_path, monkeypatch):
    if kind == "unreferenced":      # at full scale: over the 256 MB any file may inflate to
        size = 300 * MB
    else:                           # smaller (and quicker to build) under a smaller limit
        size = 40 * MB
        monkeypatch.setattr(serialization, "MIN_LIMIT", 4 * MB)
    path = bomb(tmp_path / "bomb.npz", size, referenced=kind != "unreferenced",
                lie=kind == "lying header")
    assert path.stat().st_size < size / 500
    err, peak = peak_bytes(mt.load, path)
    assert isinstance(err, CheckpointError) and str(path) in str(err), err
    assert "bomb" in str(err) or "accounts for" in str(err)
    assert peak < 20 * MB, f"{peak / MB:.0f} MB allocated to refuse a bomb"


def test_members_the_structure_does_not_name_are_not_read(tmp_path):
    path = tmp_path / "extra.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("__minitorch__.npy", structure({"array": "arr_0"}))
        zf.writestr("arr_0.npy", npy(np.arange(3.0)))
        zf.writestr("unused.npy", npy(np.arange(1000.0)))
    raw = bytearray(path.read_bytes())
    j = raw.index(npy(np.arange(1000.0))[200:240])      # damage the unused member's data
    raw[j] ^= 0xFF
    path.write_bytes(bytes(raw))
    np.testing.assert_array_equal(mt.load(path), np.arange(3.0))   # its CRC is never checked


def test_peak_memory_stays_near_the_arrays_returned(tmp_path):
    # a compressed member (another tool's zip) used to be inflated whole, then copied: 2x
    arr = np.tile(np.arange(1024, dtype=np.float64), 4096)          # 32 MB, compressible
    path = tmp_path / "compressed.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("__minitorch__.npy", structure({"array": "arr_0"}))
        zf.writestr("arr_0.npy", npy(arr))
    out, peak = peak_bytes(mt.load, path)
    np.testing.assert_array_equal(out, arr)
    assert peak < 1.25 * arr.nbytes, f"peak {peak / arr.nbytes:.2f}x the array"
    mt.save({"w": arr}, tmp_path / "stored.npz")                    # what save writes
    out, peak = peak_bytes(mt.load, tmp_path / "stored.npz")
    np.testing.assert_array_equal(out["w"], arr)
    assert peak < 1.25 * arr.nbytes, f"peak {peak / arr.nbytes:.2f}x the array"


def idx_gz(path, dims, payload_bytes):
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(b"\x00\x00\x08" + bytes([len(dims)]) + np.array(dims, ">u4").tobytes())
        for _ in range(payload_bytes // MB):
            f.write(bytes(MB))
        f.write(bytes(payload_bytes % MB))
    return path


def test_a_gz_idx_bomb_is_refused_from_its_header(tmp_path):
    path = idx_gz(tmp_path / "bomb-idx3-ubyte.gz", (400000, 28, 28), 300 * MB)   # 313 MB
    err, peak = peak_bytes(idx.read_idx, path)
    assert isinstance(err, ValueError) and str(path) in str(err) and "bomb" in str(err), err
    assert peak < 5 * MB


def test_a_gz_idx_file_stops_inflating_at_the_size_its_header_promises(tmp_path):
    # the header promises 10 x 28 x 28 bytes; 100 MB of zeros follow
    path = idx_gz(tmp_path / "long-idx3-ubyte.gz", (10, 28, 28), 100 * MB)
    err, peak = peak_bytes(idx.read_idx, path)
    assert isinstance(err, ValueError) and "more than the 7856 bytes" in str(err), err
    assert peak < 5 * MB


def test_the_mnist_reader_refuses_a_bomb_in_bounded_memory(tmp_path):
    for name in ("train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / name).write_bytes((REPO_DIR / name).read_bytes())
    path = idx_gz(tmp_path / "train-images-idx3-ubyte.gz", (60000, 28, 28), 100 * MB)
    err, peak = peak_bytes(mt.data.MNIST, tmp_path, True, False)
    assert isinstance(err, ValueError) and str(path) in str(err), err
    assert peak < 60 * MB                  # the promised 47 MB, never the 100 MB that follow


def test_resume_refuses_a_bomb_before_reading_the_data(tmp_path, monkeypatch):
    monkeypatch.setattr(serialization, "MIN_LIMIT", 4 * MB)
    path = bomb(tmp_path / "bomb.npz", 40 * MB, referenced=False)
    monkeypatch.setattr(train, "MNIST", lambda *a, **k: pytest.fail("data read first"))
    with pytest.raises(SystemExit, match="cannot read checkpoint.*bomb"):
        train.main(["--resume", str(path), "--out", str(tmp_path / "o")])


# ------------------------------------------------------------------ 2. runs that diverge
def tiny(tmp_path, name, *extra):
    out = tmp_path / name
    train.main(["--limit", "96", "--test-limit", "50", "--batch-size", "32", "--epochs", "1",
                "--out", str(out), *extra])
    return out


def test_a_nan_loss_stops_the_run_with_one_line(tmp_path):
    with pytest.raises(SystemExit) as e:
        tiny(tmp_path, "div", "--optimizer", "sgd", "--lr", "1e30")
    msg = str(e.value)
    assert msg.startswith("error: training diverged at epoch 1, batch ") and "\n" not in msg
    assert "of 3" in msg and "smaller --lr" in msg and "1e+30" in msg
    assert not (tmp_path / "div" / "checkpoint.npz").exists()


def test_the_last_finite_checkpoint_is_kept(tmp_path, monkeypatch):
    real, calls = train.F.cross_entropy, []

    def nan_in_epoch_two(*a, **k):             # batch 2 of epoch 2 (3 batches per epoch)
        calls.append(1)
        loss = real(*a, **k)
        return loss * float("nan") if len(calls) == 5 else loss
    monkeypatch.setattr(train.F, "cross_entropy", nan_in_epoch_two)
    with pytest.raises(SystemExit, match=r"epoch 2, batch 2 of 3: the loss is nan.*"
                                         r"checkpoint.npz \(epoch 1\), is kept"):
        tiny(tmp_path, "run", "--epochs", "2")
    state = mt.load(tmp_path / "run" / "checkpoint.npz")
    assert state["epoch"] == 1
    assert all(np.isfinite(w).all() for w in state["model"].values())


def poisoned(tmp_path, value=np.nan, **extra):
    model = mt.models.InceptionLite()
    weights = model.state_dict()
    weights["features.0.0.weight"].flat[3] = value
    path = tmp_path / "poisoned.npz"
    mt.save({"arch": "InceptionLite", "num_classes": 10, "model": weights, **extra}, path)
    return path


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_a_checkpoint_with_non_finite_weights_is_refused_everywhere(value, tmp_path):
    path = poisoned(tmp_path, value)
    with pytest.raises(SystemExit, match=r"non-finite weights \(features.0.0.weight has 1 "):
        train.load_model_checkpoint(path)
    with pytest.raises(SystemExit, match="non-finite weights"):
        evaluate_cli.main([str(path), "--limit", "10"])
    img = tmp_path / "digit.png"
    from PIL import Image
    Image.fromarray(np.pad(np.full((10, 4), 255, np.uint8), 9)).save(img)
    with pytest.raises(SystemExit, match="non-finite weights"):
        predict_cli.main([str(img), "--checkpoint", str(path)])
    with pytest.raises(SystemExit, match="non-finite weights"):
        detect_cli.load_detector(path)


# ------------------------------------------------------------------ 3. outputs checked first
def test_unwritable_outputs_are_found_before_the_first_batch(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setattr(train, "train_one_epoch", lambda *a: pytest.fail("trained first"))
    with pytest.raises(SystemExit, match="--export folder .*file/sub"):
        tiny(tmp_path, "o", "--export", str(tmp_path / "file" / "sub" / "model.npz"))
    with pytest.raises(SystemExit, match="cannot write to --out"):
        train.main(["--out", str(tmp_path / "file" / "sub")])


def test_a_folder_that_takes_no_file_is_found_before_training(tmp_path, monkeypatch):
    # a read-only --out exists and mkdir(exist_ok=True) passes; only a test file shows it
    monkeypatch.setattr(train, "train_one_epoch", lambda *a: pytest.fail("trained first"))
    real = train.writable_folder.__globals__["tempfile"].mkstemp

    def read_only(*a, dir=None, **k):
        if os.path.samefile(dir, tmp_path / "ro"):
            raise PermissionError(13, "Permission denied")
        return real(*a, dir=dir, **k)
    (tmp_path / "ro").mkdir()
    monkeypatch.setattr(train.writable_folder.__globals__["tempfile"], "mkstemp", read_only)
    with pytest.raises(SystemExit, match="cannot write to --out .*ro: Permission denied"):
        train.main(["--out", str(tmp_path / "ro")])
    with pytest.raises(SystemExit, match="cannot write to --export folder .*ro"):
        train.main(["--out", str(tmp_path / "o"), "--export", str(tmp_path / "ro" / "m.npz")])


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_out_folder_is_found_before_training(tmp_path, monkeypatch):
    monkeypatch.setattr(train, "train_one_epoch", lambda *a: pytest.fail("trained first"))
    (tmp_path / "ro").mkdir()
    os.chmod(tmp_path / "ro", 0o555)
    with pytest.raises(SystemExit, match="cannot write to --out"):
        train.main(["--out", str(tmp_path / "ro")])


def test_export_may_not_replace_the_runs_own_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(train, "train_one_epoch", lambda *a: pytest.fail("trained first"))
    out = tmp_path / "run"
    for export in (out / "checkpoint.npz", tmp_path / "old" / "checkpoint.npz"):
        with pytest.raises(SystemExit, match="would replace the run's own checkpoint"):
            train.main(["--out", str(out), "--export", str(export),
                        "--resume", str(tmp_path / "old" / "checkpoint.npz")])


def test_stale_temp_files_of_a_killed_run_are_removed(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    stale = [out / ".checkpoint.npz.k2j3h4.tmp", out / ".curves.png.x_9.tmp",
             out / ".metrics.json.abc.tmp", tmp_path / ".model.npz.q1.tmp"]
    for p in stale:
        p.write_bytes(b"x" * 1000)
    keep = out / ".other.tmp"
    keep.write_text("not ours")
    tiny(tmp_path, "run", "--export", str(tmp_path / "model.npz"))
    assert [p.exists() for p in stale] == [False] * 4 and keep.exists()


def test_resuming_a_finished_run_into_a_new_folder_writes_what_it_says(tmp_path, capsys):
    first = tiny(tmp_path, "first")
    capsys.readouterr()
    second = tiny(tmp_path, "second", "--resume", str(first / "checkpoint.npz"))
    out = capsys.readouterr().out
    assert "finished run (1 of 1 epochs): nothing to train" in out
    for name in ("checkpoint.npz", "metrics.json", "curves.png"):
        assert (second / name).is_file(), name
    a, b = mt.load(first / "checkpoint.npz"), mt.load(second / "checkpoint.npz")
    for k in a["model"]:
        np.testing.assert_array_equal(a["model"][k], b["model"][k])
    assert a["metrics"] == b["metrics"] and a["loader"] == b["loader"]


# ------------------------------------------------------------------ 4. values trusted too early
@pytest.mark.parametrize("classes", [5_000_000, 10 ** 8, 11])
def test_num_classes_is_checked_against_the_weights_before_building(classes, tmp_path):
    path = tmp_path / "lying.npz"
    mt.save({"arch": "InceptionLite", "num_classes": classes,
             "model": mt.models.InceptionLite().state_dict()}, path)
    err, peak = peak_bytes(train.load_model_checkpoint, path)
    assert isinstance(err, SystemExit), err
    assert f"says num_classes {classes}, but its head.4.weight has shape (10, 128)" in str(err)
    assert peak < 30 * MB                      # the stored weights (3 MB), never a huge model


def test_a_model_entry_that_is_not_a_dict_is_named(tmp_path):
    path = tmp_path / "list.npz"
    mt.save({"arch": "InceptionLite", "model": [1, 2]}, path)
    with pytest.raises(SystemExit, match="its 'model' entry is list, expected a dict"):
        train.load_model_checkpoint(path)


@pytest.mark.parametrize("value", ["-1", str(2 ** 32), "1.5"])
def test_seed_out_of_numpys_range_is_refused_by_the_parser(value, capsys):
    with pytest.raises(SystemExit) as e:
        train.build_parser().parse_args(["--seed", value])
    assert e.value.code == 2 and "--seed" in capsys.readouterr().err
    assert train.build_parser().parse_args(["--seed", str(2 ** 32 - 1)]).seed == 2 ** 32 - 1


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 1-epoch run's training checkpoint (state) and its flags."""
    tmp = tmp_path_factory.mktemp("finished")
    flags = ["--limit", "64", "--test-limit", "20", "--batch-size", "32", "--epochs", "1"]
    train.main([*flags, "--out", str(tmp / "run")])
    return mt.load(tmp / "run" / "checkpoint.npz"), flags


TAMPERED = [
    ("epoch", "x"), ("epoch", -1), ("epoch", 7), ("epoch", True), ("metrics", 5),
    ("metrics", [1]), ("numpy_rng", ("MT19937", np.zeros(3, np.uint32), 0, 0, 0.0)),
    ("numpy_rng", "x"), ("optimizer", {"state": {}}), ("loader", {"epoch": "x"}),
    ("scheduler", {"T_max": 1}),
]


@pytest.mark.parametrize("field, value", TAMPERED)
def test_tampered_training_state_is_a_checkpoint_error_naming_the_field(field, value, finished):
    state, flags = finished
    args = train.build_parser().parse_args(flags)
    model = mt.models.InceptionLite()
    opt = train.make_optimizer(args, model.parameters())
    loader = mt.data.DataLoader(mt.data.ArrayDataset(np.zeros((64, 1)), np.zeros(64)),
                                batch_size=32, shuffle=True)
    with pytest.raises(CheckpointError, match=f"tampered.npz: invalid training state in field "
                                              f"{field!r}"):
        train.restore_training_state("tampered.npz", dict(state, **{field: value}), model, opt,
                                     train.make_scheduler(args, opt, 2), loader, 1)


@pytest.mark.parametrize("field, value", [TAMPERED[0], TAMPERED[4], TAMPERED[7]])
def test_resume_of_tampered_state_is_one_line_naming_file_and_field(field, value, finished,
                                                                   tmp_path):
    state, flags = finished
    path = tmp_path / "tampered.npz"
    mt.save(dict(state, **{field: value}), path)
    with pytest.raises(SystemExit) as e:
        train.main([*flags, "--out", str(tmp_path / "o"), "--resume", str(path)])
    msg = str(e.value)
    assert str(path) in msg and f"field {field!r}" in msg and "\n" not in msg, msg


def test_an_integer_of_5000_digits_is_a_checkpoint_error_naming_the_file(tmp_path):
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)                  # json needs it to write such an integer
    try:
        mt.save({"epoch": 10 ** 5000}, tmp_path / "big.npz")
    finally:
        sys.set_int_max_str_digits(old)
    with pytest.raises(CheckpointError, match="big.npz.*not valid UTF-8 JSON"):
        mt.load(tmp_path / "big.npz")


def test_the_data_dir_error_names_the_option(tmp_path):
    with pytest.raises(SystemExit) as e:
        train.main(["--data-dir", str(tmp_path), "--out", str(tmp_path / "o")])
    assert "--data-dir FOLDER" in str(e.value) and "root=FOLDER" not in str(e.value)
    with pytest.raises(SystemExit, match="--data-dir FOLDER"):
        evaluate_cli.main([str(poisoned(tmp_path, 0.0)), "--data-dir", str(tmp_path)])


# ------------------------------------------------------------------ 7. help a person can use
@pytest.mark.parametrize("cli", [train, evaluate_cli, predict_cli, detect_cli])
def test_every_option_has_one_help_line_with_its_default_once(cli):
    p = cli.build_parser()
    text = p.format_help()
    for action in p._actions:                                  # noqa: SLF001
        if action.dest == "help":
            continue
        assert action.help, f"{action.option_strings or action.dest} has no help"
        shown = action.help % {"default": action.default} if "%(" in action.help else action.help
        if action.option_strings and action.default not in (None, False):
            assert "default" in p._get_formatter()._get_help_string(action), action.dest
        assert shown.count("default") <= 1, action.dest
    assert text.count("(default: None)") == 0
    assert not re.search(r"\(default[^)]*\)\s*\(default", text), text     # a default shown twice


def test_console_scripts_name_functions_that_exist_and_return_an_exit_status():
    import configparser
    import importlib
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(os.path.dirname(__file__), "..", "setup.cfg"))
    lines = [ln.strip() for ln in cfg["options.entry_points"]["console_scripts"].splitlines()
             if ln.strip()]
    scripts = dict(ln.split(" = ") for ln in lines)
    assert set(scripts) >= {"minitorch-train", "minitorch-evaluate", "minitorch-predict",
                            "minitorch-detect"}
    for name, target in scripts.items():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), name
