"""Tests that catch a broken training loop or CLI (issue #13 section 6): each one checks a value
computed by hand, not the code against itself."""
import math

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import nn
from minitorch_cnn.cli import predict as predict_cli
from minitorch_cnn.cli import train
from minitorch_cnn.data import ArrayDataset, DataLoader
from minitorch_cnn.data.mnist import MEAN, STD


# ------------------------------------------------------------------ the loop's bookkeeping
class FixedLogits(nn.Module):
    """logits = x @ W with a fixed W: the loss of every sample is known in advance."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(mt.tensor(w))

    def forward(self, x):
        return x @ self.w


class NoOp(mt.optim.Optimizer):
    """Takes no step, so the logits stay those computed by hand; counts its calls."""

    def __init__(self, params):
        super().__init__(params, {"lr": 0.0})
        self.steps = 0

    def _check(self, group):
        pass

    def step(self):
        self.steps += 1


def test_train_one_epoch_weights_the_loss_and_accuracy_by_batch_size():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((10, 3)).astype(np.float32)
    y = np.array([0, 1, 2, 3, 0, 1, 2, 3, 0, 1])
    w = rng.standard_normal((3, 4)).astype(np.float32)
    z = x.astype(np.float64) @ w
    per_sample = np.log(np.exp(z).sum(1)) - z[np.arange(10), y]   # logsumexp(z) - z_y
    loader = DataLoader(ArrayDataset(x, y), batch_size=4)           # batches of 4, 4, 2
    model = FixedLogits(w)
    opt = NoOp(model.parameters())
    loss, acc = train.train_one_epoch(model, loader, opt, None, "oracle")
    assert opt.steps == 3
    # the mean over samples, not over batches (the last batch is half size) nor a batch's sum
    assert loss == pytest.approx(per_sample.mean(), rel=1e-6)
    batch_means = [per_sample[:4].mean(), per_sample[4:8].mean(), per_sample[8:].mean()]
    assert abs(np.mean(batch_means) - per_sample.mean()) > 1e-3      # the oracle can tell
    assert acc == pytest.approx((z.argmax(1) == y).mean())


def small_net():
    """Dropout and BatchNorm: what eval mode changes."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.BatchNorm1d(16), nn.ReLU(),
                         nn.Dropout(0.5), nn.Linear(16, 10))


def manual_eval_forward(net, x):
    """The eval-mode forward by hand: BatchNorm with its running statistics, no dropout."""
    lin1, bn, lin2 = net[1], net[2], net[5]
    h = x.reshape(len(x), -1).astype(np.float64) @ lin1.weight.data.T + lin1.bias.data
    h = (h - bn.running_mean) / np.sqrt(bn.running_var + bn.eps) * bn.weight.data + bn.bias.data
    return np.maximum(h, 0) @ lin2.weight.data.T + lin2.bias.data


@pytest.fixture
def trained_net():
    rng = np.random.default_rng(1)
    np.random.seed(1)
    net = small_net()
    net.train()
    with mt.no_grad():
        for _ in range(3):                     # running statistics away from their init
            net(mt.tensor(rng.standard_normal((8, 1, 28, 28)).astype(np.float32) + 2))
    x = rng.standard_normal((20, 1, 28, 28)).astype(np.float32)
    return net, x, rng.integers(0, 10, 20)


def test_evaluate_and_predict_run_the_model_in_eval_mode(trained_net):
    net, x, labels = trained_net
    net.train()                                # as a training loop leaves it
    stats = [net[2].running_mean.copy(), net[2].running_var.copy()]
    logits = manual_eval_forward(net, x)
    acc, preds = train.evaluate(net, ArrayDataset(x, labels), batch_size=7)
    np.testing.assert_array_equal(preds, logits.argmax(1))
    assert acc == pytest.approx((logits.argmax(1) == labels).mean())
    net.train()
    probs = predict_cli.predict(net, x)
    e = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(probs, e / e.sum(1, keepdims=True), rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(net[2].running_mean, stats[0])     # untouched
    np.testing.assert_array_equal(net[2].running_var, stats[1])


# ------------------------------------------------------------------ schedules and optimizers
def short_run(tmp_path, name, *extra):
    """2 epochs of 2 batches: 4 optimizer steps."""
    out = tmp_path / name
    train.main(["--limit", "64", "--test-limit", "20", "--batch-size", "32", "--epochs", "2",
                "--no-augment", "--out", str(out), *extra])
    return mt.load(out / "checkpoint.npz")


def test_cosine_schedule_steps_once_per_batch_and_ends_at_eta_min(tmp_path):
    state = short_run(tmp_path, "cos")
    assert state["scheduler"]["last_epoch"] == 2 * 2                 # epochs x batches
    assert state["scheduler"]["T_max"] == 4
    assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(
        state["scheduler"]["eta_min"], abs=1e-12)
    assert state["scheduler"]["base_lrs"] == [1e-3]


def test_sgd_runs_with_momentum_nesterov_and_weight_decay_and_step_schedule(tmp_path):
    state = short_run(tmp_path, "sgd", "--optimizer", "sgd", "--schedule", "step")
    group = state["optimizer"]["param_groups"][0]
    assert (group["momentum"], group["nesterov"], group["weight_decay"]) == (0.9, True, 5e-4)
    buffers = [s["momentum_buffer"] for s in state["optimizer"]["state"].values()]
    assert len(buffers) == len(state["model"]) - sum(k.endswith(("running_mean", "running_var",
                                                                 "num_batches_tracked"))
                                                      for k in state["model"])
    assert all(np.abs(b).sum() > 0 for b in buffers[-4:])           # the head moved
    # StepLR, step_size max(4 // 3, 1) = 1, gamma 0.1: four steps divide 0.05 by 1e4
    assert state["scheduler"]["last_epoch"] == 4
    assert group["lr"] == pytest.approx(0.05 * 0.1 ** 4)


def test_no_schedule_keeps_the_learning_rate(tmp_path):
    state = short_run(tmp_path, "none", "--schedule", "none")
    assert state["scheduler"] is None
    assert state["optimizer"]["param_groups"][0]["lr"] == 1e-3
    assert len(state["metrics"]) == 2


# ------------------------------------------------------------------ --resume refuses every run flag
CHANGED = {"epochs": "5", "batch_size": "64", "lr": "0.01", "optimizer": "sgd",
           "schedule": "step", "augment": None, "seed": "1", "limit": "100", "background": None,
           "dataset": "fashion-mnist"}


def test_the_run_flags_are_the_ones_that_define_a_run():
    assert set(train.RUN_FLAGS) == set(CHANGED)


@pytest.mark.parametrize("flag", sorted(CHANGED))
def test_resume_refuses_each_changed_run_flag(flag, tmp_path):
    parser = train.build_parser()
    saved = parser.parse_args([])
    state = {"args": vars(saved), "optimizer": {}, "loader": {}, "numpy_rng": (), "metrics": [],
             "epoch": 1}
    train.check_resumable("ckpt.npz", state, saved)                 # same flags: fine
    option = "--" + flag.replace("_", "-")
    argv = {"augment": ["--no-augment"], "background": ["--background"]}.get(
        flag, [option, CHANGED[flag]])
    with pytest.raises(SystemExit, match=f"{option} .* -> "):
        train.check_resumable("ckpt.npz", state, parser.parse_args(argv))


# ------------------------------------------------------------------ prepare_image
def centre_of_mass(img):
    total = img.sum()
    rows, cols = np.indices(img.shape)
    return (rows * img).sum() / total, (cols * img).sum() / total


@pytest.mark.parametrize("shape", ["L", "triangle", "dot"])
def test_prepare_image_centres_the_digit_by_its_centre_of_mass(shape):
    gray = np.ones((120, 90), np.float32)                 # black ink on white paper
    if shape == "L":                                       # mass far from the box's centre
        gray[10:100, 10:22] = 0
        gray[88:100, 10:80] = 0
    elif shape == "triangle":
        for r in range(20, 110):
            gray[r, 15:15 + (r - 20) * 60 // 90 + 1] = 0
    else:
        gray[50:56, 30:36] = 0
    x = predict_cli.prepare_image(gray)
    assert x.shape == (1, 1, 28, 28) and x.dtype == np.float32
    ink = x[0, 0] * STD + MEAN                             # back to [0, 1]
    cy, cx = centre_of_mass(np.clip(ink, 0, None))
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5, (cy, cx)
    rows, cols = np.nonzero(ink > 0.05)
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 in (19, 20, 21)


def test_a_blank_image_is_one_line():
    for gray in (np.ones((30, 30), np.float32), np.zeros((30, 30), np.float32)):
        with pytest.raises(SystemExit) as e:
            predict_cli.prepare_image(gray)
        assert str(e.value) == "error: the image is blank: no digit found"


def test_cosine_oracle_formula():
    # the expected value of the schedule after k of T steps, by hand (torch's closed form)
    opt = NoOp([nn.Parameter(mt.zeros(1))])
    opt.param_groups[0]["lr"] = 0.1
    sched = mt.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=8)
    for k in range(1, 9):
        sched.step()
        assert opt.param_groups[0]["lr"] == pytest.approx(0.05 * (1 + math.cos(math.pi * k / 8)),
                                                          abs=1e-12)


def test_prediction_refuses_a_picture_with_a_nan_pixel():
    """A float TIFF can carry NaN; prediction used to go on and print a digit for it."""
    from minitorch_cnn.cli.predict import prepare_image
    gray = np.zeros((28, 28), np.float32)
    gray[10:18, 12:15] = 1.0
    prepare_image(gray)                                   # a fine picture passes
    gray[0, 0] = np.nan
    with pytest.raises(SystemExit, match="1 NaN/infinite pixel"):
        prepare_image(gray)
