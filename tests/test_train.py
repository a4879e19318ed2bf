"""The main job on tiny data: the loss falls, files are written, --resume is exact."""
import json

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn.cli import train


def run(tmp_path, name, *extra):
    out = tmp_path / name
    args = ["--limit", "512", "--test-limit", "200", "--batch-size", "32", "--out", str(out),
            "--seed", "3", *extra]
    train.main(args)
    return out


def run_killed_in_second_epoch(tmp_path, monkeypatch, *args):
    """The run ``args`` describes, killed during its second epoch (into ``crashed/``): its
    epoch-1 checkpoint is what survives a crash."""
    real_epoch, calls = train.train_one_epoch, []

    def crash_in_second_epoch(*a, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_epoch(*a, **kw)
    monkeypatch.setattr(train, "train_one_epoch", crash_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, "crashed", *args)
    monkeypatch.setattr(train, "train_one_epoch", real_epoch)


def test_tiny_run_learns_and_writes_its_files(tmp_path):
    out = run(tmp_path, "a", "--epochs", "2", "--no-augment")
    metrics = json.loads((out / "metrics.json").read_text())
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert set(metrics[0]) == {"epoch", "train_loss", "train_accuracy", "test_accuracy",
                               "seconds", "batch_losses"}
    assert metrics[1]["train_loss"] < metrics[0]["train_loss"]
    assert metrics[1]["test_accuracy"] > 0.5            # chance is 0.1
    assert (out / "curves.png").stat().st_size > 1000
    state = mt.load(out / "checkpoint.npz")
    assert state["epoch"] == 2 and state["arch"] == "InceptionLite"


def test_resume_reaches_the_same_weights(tmp_path, monkeypatch):
    full = run(tmp_path, "full", "--epochs", "2")
    # the same 2-epoch run, killed during its second epoch: its epoch-1 checkpoint survives
    run_killed_in_second_epoch(tmp_path, monkeypatch, "--epochs", "2")
    assert mt.load(tmp_path / "crashed" / "checkpoint.npz")["epoch"] == 1
    resumed = run(tmp_path, "resumed", "--epochs", "2", "--resume",
                  str(tmp_path / "crashed" / "checkpoint.npz"))
    a = mt.load(full / "checkpoint.npz")["model"]
    b = mt.load(resumed / "checkpoint.npz")["model"]
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    ma = json.loads((full / "metrics.json").read_text())
    mb = json.loads((resumed / "metrics.json").read_text())
    assert [m["train_loss"] for m in ma] == [m["train_loss"] for m in mb]


def test_same_seed_same_result(tmp_path):
    a = run(tmp_path, "s1", "--epochs", "1", "--limit", "96")
    b = run(tmp_path, "s2", "--epochs", "1", "--limit", "96")
    wa, wb = mt.load(a / "checkpoint.npz")["model"], mt.load(b / "checkpoint.npz")["model"]
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k])


def test_bad_checkpoint_is_one_clear_line(tmp_path):
    with pytest.raises(SystemExit, match="does not exist"):
        train.load_model_checkpoint(tmp_path / "nope.npz")
    foreign = tmp_path / "foreign.npz"
    mt.save({"arch": "ResNet", "model": {}}, foreign)
    with pytest.raises(SystemExit, match="not an InceptionLite checkpoint"):
        train.load_model_checkpoint(foreign)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(SystemExit, match="cannot read"):
        train.load_model_checkpoint(junk)


def test_background_run_has_11_classes_and_exports_the_model_alone(tmp_path):
    export = tmp_path / "ship" / "model.npz"
    out = run(tmp_path, "bg", "--epochs", "1", "--limit", "256", "--background",
              "--export", str(export))
    state = mt.load(out / "checkpoint.npz")
    assert state["num_classes"] == 11 and state["model"]["head.4.weight"].shape == (11, 128)
    shipped = mt.load(export)
    assert set(shipped) == {"arch", "num_classes", "args", "metrics", "model"}  # no optimizer
    model, _ = train.load_model_checkpoint(export)
    with mt.no_grad():
        assert model.eval()(mt.zeros(2, 1, 28, 28)).shape == (2, 11)
    assert export.stat().st_size < (out / "checkpoint.npz").stat().st_size / 2
    with pytest.raises(SystemExit, match="has 11 classes, this run trains 10"):
        run(tmp_path, "bad", "--epochs", "2", "--resume", str(out / "checkpoint.npz"))


def test_background_resume_reaches_the_same_weights(tmp_path, monkeypatch):
    extra = ("--epochs", "2", "--limit", "128", "--background")
    full = run(tmp_path, "full", *extra)
    run_killed_in_second_epoch(tmp_path, monkeypatch, *extra)
    resumed = run(tmp_path, "resumed", *extra, "--resume",
                  str(tmp_path / "crashed" / "checkpoint.npz"))
    a = mt.load(full / "checkpoint.npz")["model"]
    b = mt.load(resumed / "checkpoint.npz")["model"]
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_resume_refuses_what_it_cannot_continue_exactly(tmp_path, capsys):
    export = tmp_path / "model.npz"
    out = run(tmp_path, "one", "--epochs", "1", "--limit", "64", "--export", str(export))
    ckpt = str(out / "checkpoint.npz")
    # a model-only export has no optimizer or loader state to continue from
    with pytest.raises(SystemExit, match="holds a model only"):
        run(tmp_path, "r1", "--epochs", "1", "--limit", "64", "--resume", str(export))
    # a different --epochs would keep the old cosine schedule; another optimizer has other state
    with pytest.raises(SystemExit, match=r"--epochs 1 -> 2"):
        run(tmp_path, "r2", "--epochs", "2", "--limit", "64", "--resume", ckpt)
    with pytest.raises(SystemExit, match=r"--optimizer 'adam' -> 'sgd'.*--limit 64 -> 65"):
        run(tmp_path, "r3", "--epochs", "1", "--limit", "65", "--optimizer", "sgd",
            "--resume", ckpt)
    # the same flags: fine (nothing left to train; the saved run is reported)
    run(tmp_path, "r4", "--epochs", "1", "--limit", "64", "--resume", ckpt)
    assert "resumed from" in capsys.readouterr().out


@pytest.mark.parametrize("flag, value", [("--limit", "0"), ("--limit", "-5"), ("--epochs", "0"),
                                         ("--lr", "-1"), ("--lr", "nan"), ("--test-limit", "0"),
                                         ("--batch-size", "x")])
def test_bad_numbers_are_refused_by_the_parser(flag, value, capsys):
    with pytest.raises(SystemExit) as e:
        train.build_parser().parse_args([flag, value])
    assert e.value.code == 2 and flag in capsys.readouterr().err


def test_unwritable_outputs_fail_before_training(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit, match="--out .* is a file"):
        train.main(["--out", str(tmp_path / "file"), "--limit", "32"])
    with pytest.raises(SystemExit, match="--export .* is a folder"):
        train.main(["--out", str(tmp_path / "o"), "--limit", "32", "--export", str(tmp_path)])
    assert not (tmp_path / "o" / "checkpoint.npz").exists()


def test_dataset_flag_trains_on_fashion_mnist_and_exports_safetensors(tmp_path, monkeypatch):
    """--dataset fashion-mnist reads that data set (a tiny fake here, its MD5 table patched),
    and --export NAME.safetensors writes the weights alone, loadable by load_safetensors."""
    pytest.importorskip("safetensors")
    import gzip
    import hashlib
    import struct
    FM = mt.data.FashionMNIST
    rng = np.random.default_rng(0)
    folder = tmp_path / "fm"
    folder.mkdir()
    table, sizes = {}, {"train": 64, "t10k": 32}
    for name in FM.md5:
        split, kind = name.split("-")[:2]
        n = sizes[split]
        arr = (rng.integers(0, 256, (n, 28, 28)) if kind == "images"
               else rng.integers(0, 10, n)).astype(np.uint8)
        content = struct.pack(">BBBB", 0, 0, 8, arr.ndim) + struct.pack(
            f">{arr.ndim}I", *arr.shape) + arr.tobytes()
        (folder / (name + ".gz")).write_bytes(gzip.compress(content))
        table[name] = hashlib.md5(content).hexdigest()
    monkeypatch.setattr(FM, "md5", table)
    monkeypatch.setattr(FM, "splits", {True: ("train-images-idx3-ubyte",
                                              "train-labels-idx1-ubyte", 64),
                                       False: ("t10k-images-idx3-ubyte",
                                               "t10k-labels-idx1-ubyte", 32)})
    export = tmp_path / "w.safetensors"
    out = tmp_path / "run"
    train.main(["--dataset", "fashion-mnist", "--data-dir", str(folder), "--epochs", "1",
                "--batch-size", "32", "--out", str(out), "--export", str(export)])
    assert mt.load(out / "checkpoint.npz")["args"]["dataset"] == "fashion-mnist"
    from minitorch_cnn.cli import evaluate                        # evaluates on its data set
    acc, counts = evaluate.run(evaluate.build_parser().parse_args(
        [str(out / "checkpoint.npz"), "--data-dir", str(folder)]))
    assert counts.sum() == 32 and 0 <= acc <= 1
    model = mt.models.InceptionLite()
    model.load_state_dict(mt.load_safetensors(export))
    with pytest.raises(SystemExit, match="MNIST digits"):
        train.main(["--dataset", "kmnist", "--background", "--out", str(tmp_path / "x")])
    with pytest.raises(SystemExit):                              # argparse: invalid choice
        train.main(["--dataset", "cifar10", "--out", str(tmp_path / "x")])
