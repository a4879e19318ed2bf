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
                               "seconds"}
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
