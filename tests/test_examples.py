"""Every script in examples/ runs in a quick mode, as a user would run it (a subprocess with this
interpreter), and what it prints or writes is checked against values computed here.

The chain: a quick training run writes a checkpoint; evaluate.py and predict.py read it.  A new
example script without a test here fails ``test_every_example_is_exercised``.
"""
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import minitorch_cnn as mt
from minitorch_cnn.cli.predict import prepare_image
from minitorch_cnn.cli.train import load_model_checkpoint

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SHIPPED = ROOT / "checkpoints" / "inception_lite_background.npz"
EXERCISED = {"train_inception_mnist.py", "evaluate.py", "predict.py", "one_by_one_conv.py",
             "sliding_window.py", "draw_figures.py"}


def run(script, *args, cwd, expect_ok=True):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=120)
    if expect_ok and proc.returncode != 0:
        raise AssertionError(f"{script} {' '.join(map(str, args))} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def test_every_example_is_exercised():
    scripts = {p.name for p in EXAMPLES.glob("*.py")}
    assert scripts <= EXERCISED, f"example scripts without a quick-mode test: {scripts - EXERCISED}"


# ----------------------------------------------------------------------- train -> evaluate
@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("quick_run")
    proc = run("train_inception_mnist.py", "--limit", 256, "--test-limit", 200, "--epochs", 1,
               "--out", out, cwd=out)
    return out, proc


def test_quick_training_writes_its_outputs(quick_run):
    out, proc = quick_run
    assert "training InceptionLite on 256 images, testing on 200" in proc.stdout
    assert "epoch 1:" in proc.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert [m["epoch"] for m in metrics] == [1]
    with Image.open(out / "curves.png") as img:
        assert img.format == "PNG"
    model, state = load_model_checkpoint(out / "checkpoint.npz")
    assert state["epoch"] == 1 and state["num_classes"] == 10
    # the accuracy it reports is the accuracy of the weights it saved, on those 200 images
    test = mt.data.MNIST(train=False).subset(np.arange(200))
    acc = (reference_predictions(model, test.images) == test.labels).mean()
    assert metrics[0]["test_accuracy"] == pytest.approx(acc)
    assert f"test acc {acc:.4f}" in proc.stdout


def eval_logits(model, images):
    """The model's logits in eval mode, by hand: not through the evaluate()/predict() under
    test, so a bug there (train mode, a wrong argmax axis) cannot cancel out."""
    model.eval()
    with mt.no_grad():
        return np.concatenate([model(mt.tensor(images[i:i + 100])).data.astype(np.float64)
                               for i in range(0, len(images), 100)])


def reference_predictions(model, images):
    return eval_logits(model, images).argmax(1)


def softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_evaluate_on_the_quick_checkpoint(quick_run):
    out, _ = quick_run
    proc = run("evaluate.py", out / "checkpoint.npz", "--limit", 200, cwd=out)
    m = re.search(r"test accuracy: ([0-9.]+) \((\d+)/200\)", proc.stdout)
    assert m, proc.stdout
    model, _ = load_model_checkpoint(out / "checkpoint.npz")
    test = mt.data.MNIST(train=False).subset(np.arange(200))
    preds = reference_predictions(model, test.images)
    assert int(m.group(2)) == int((preds == test.labels).sum())
    # the confusion matrix: a header and 10 rows whose counts add up to 200
    rows = proc.stdout.split("true\\pred")[1].strip().splitlines()[1:]
    counts = np.array([[int(v) for v in r.split()[1:]] for r in rows])
    assert counts.shape == (10, 10) and counts.sum() == 200
    assert counts.trace() == int(m.group(2))
    np.testing.assert_array_equal(counts.sum(1), np.bincount(test.labels, minlength=10))


def test_evaluate_missing_checkpoint_is_a_clear_error(tmp_path):
    proc = run("evaluate.py", tmp_path / "nope.npz", cwd=tmp_path, expect_ok=False)
    assert proc.returncode != 0 and "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr


# ----------------------------------------------------------------------- predict
def digit_png(path, index, black_on_white=True, scale=3):
    """Test digit ``index`` as a PNG the way a user would draw it (dark ink on white paper)."""
    test = mt.data.MNIST(train=False)
    pixels = test.images[index, 0] * test.std + test.mean            # back to [0, 1]
    gray = np.clip(np.rint(255 * pixels), 0, 255).astype(np.uint8)
    if black_on_white:
        gray = 255 - gray
    Image.fromarray(np.kron(gray, np.ones((scale, scale), np.uint8))).save(path)
    return int(test.labels[index])


def parse_prediction(stdout):
    m = re.search(r"prediction: (\d+)\s+\(p = ([0-9.]+)\)", stdout)
    assert m, stdout
    probs = {int(k): float(p) for k, p in re.findall(r"^\s+(\d+): ([0-9.]+)$", stdout, re.M)}
    return int(m.group(1)), float(m.group(2)), probs


def test_predict_with_the_quick_checkpoint(quick_run, tmp_path):
    out, _ = quick_run
    digit_png(tmp_path / "digit.png", 0)
    proc = run("predict.py", tmp_path / "digit.png", "--checkpoint", out / "checkpoint.npz",
               cwd=tmp_path)
    label, p, probs = parse_prediction(proc.stdout)
    assert sorted(probs) == list(range(10)) and sum(probs.values()) == pytest.approx(1, abs=1e-3)
    # the same picture through the same functions in this process
    model, _ = load_model_checkpoint(out / "checkpoint.npz")
    with Image.open(tmp_path / "digit.png") as img:
        gray = np.asarray(img.convert("L"), np.float32) / 255
    expected = softmax(eval_logits(model, prepare_image(gray)))[0]
    assert label == int(expected.argmax()) and p == pytest.approx(expected.max(), abs=1e-4)


@pytest.mark.skipif(not SHIPPED.is_file(), reason="shipped checkpoint missing")
@pytest.mark.parametrize("black_on_white", [True, False])
def test_predict_with_a_trained_checkpoint_reads_the_digit(tmp_path, black_on_white):
    truth = digit_png(tmp_path / "digit.png", 0, black_on_white)      # a 7
    proc = run("predict.py", tmp_path / "digit.png", "--checkpoint", SHIPPED, cwd=tmp_path)
    label, p, probs = parse_prediction(proc.stdout)
    assert label == truth and p > 0.9
    assert len(probs) == 11                          # the shipped model has a background class


# ----------------------------------------------------------------------- one_by_one_conv
def test_one_by_one_quick(tmp_path):
    proc = run("one_by_one_conv.py", "--quick", "--out", tmp_path, cwd=tmp_path)
    lines = proc.stdout.splitlines()
    for k in range(1, 7):
        assert any(line.startswith(f"{k}. ") for line in lines), proc.stdout
    assert "(1, 100, 50, 50) -> (1, 20, 50, 50), 2,020 parameters" in proc.stdout
    assert "14,192 -> 6,752" in proc.stdout and "49,504 -> 18,336" in proc.stdout
    b1, b2r, b2, b3r, b3, b4 = 32, 24, 48, 8, 16, 16            # the C_in sweep, by hand
    for cin in (16, 32, 56, 112, 224):
        naive = cin * b1 + cin * b2 * 9 + cin * b3 * 25 + cin * b4
        bottleneck = cin * b1 + cin * b2r + b2r * b2 * 9 + cin * b3r + b3r * b3 * 25 + cin * b4
        assert f"{cin}: {naive / bottleneck:.2f}x" in proc.stdout, proc.stdout
    for name in ("one_by_one_feature_maps.png", "one_by_one_nonlinearity.png"):
        with Image.open(tmp_path / name) as img:
            assert img.format == "PNG" and img.width > 100


def test_one_by_one_without_checkpoint_trains_its_own(tmp_path):
    proc = run("one_by_one_conv.py", "--quick", "--tiny", "--out", tmp_path, cwd=tmp_path)
    assert "picture: TinyNet trained 30 steps" in proc.stdout
    assert (tmp_path / "one_by_one_feature_maps.png").is_file()


# ----------------------------------------------------------------------- sliding_window
@pytest.mark.skipif(not (EXAMPLES / "sliding_window.py").is_file() or not SHIPPED.is_file(),
                    reason="sliding_window example or its checkpoint missing")
def test_sliding_window_demo_quick(tmp_path):
    proc = run("sliding_window.py", "--demo", "--canvases", 3, "--json", tmp_path / "demo.json",
               "--png", tmp_path / "demo.png", cwd=tmp_path)
    result = json.loads((tmp_path / "demo.json").read_text())
    assert result["canvases"] == 3 and result["digits"] >= 6           # 2-5 digits per canvas
    assert result["precision"] > 0.8 and result["recall"] > 0.8
    assert f"precision {result['precision']:.4f}" in proc.stdout
    with Image.open(tmp_path / "demo.png") as img:
        assert img.format == "PNG"


# ----------------------------------------------------------------------- draw_figures
def test_draw_figures_writes_every_picture(tmp_path):
    proc = run("draw_figures.py", "--out", tmp_path, cwd=tmp_path)
    names = ["multichannel_conv", "im2col", "one_by_one", "inception", "fc_as_conv"]
    if shutil.which("dot") and importlib.util.find_spec("graphviz"):
        names.append("autograd_graph")
    else:
        assert "skipped autograd_graph.png" in proc.stdout
    for name in names:
        assert f"wrote {tmp_path / (name + '.png')}" in proc.stdout
        with Image.open(tmp_path / f"{name}.png") as img:      # structure, not pixels
            assert img.format == "PNG" and img.width >= 700 and img.height >= 400
    # the tracked pictures are these, at the same sizes (regenerate: see docs/index.md)
    for name in names:
        with Image.open(tmp_path / f"{name}.png") as new, \
                Image.open(ROOT / "docs" / "images" / f"{name}.png") as tracked:
            assert new.size == tracked.size, name


def test_draw_figures_needs_an_output_folder(tmp_path):
    proc = run("draw_figures.py", cwd=tmp_path, expect_ok=False)
    assert proc.returncode == 2 and "--out" in proc.stderr
