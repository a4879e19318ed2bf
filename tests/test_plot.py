"""curves.png: round ticks, per-batch loss, and pictures of runs that diverge (NaN, inf, 1e30)."""
import math

import pytest
from PIL import Image

from minitorch_cnn.cli.plot import draw_curves, font, nice_ticks, smooth


def record(epoch, loss, batches=None, acc=0.5):
    m = {"epoch": epoch, "train_loss": loss, "train_accuracy": acc, "test_accuracy": acc}
    if batches is not None:
        m["batch_losses"] = batches
    return m


@pytest.mark.parametrize("lo, hi, want", [
    (0.09237, 0.31, [0.0, 0.1, 0.2, 0.3, 0.4]),
    (0, 3, [0, 1, 2, 3]),
    (0.9, 0.99, [0.9, 0.925, 0.95, 0.975, 1.0]),
    (-1, 1, [-1, -0.5, 0, 0.5, 1]),
])
def test_ticks_are_round_and_cover_the_range(lo, hi, want):
    ticks = nice_ticks(lo, hi)
    assert ticks == want                       # exactly: the labels print as typed
    assert ticks[0] <= lo and ticks[-1] >= hi


def test_ticks_refuse_an_empty_range():
    with pytest.raises(ValueError, match="finite lo < hi"):
        nice_ticks(1.0, 1.0)


def test_smooth_skips_non_finite_values_and_is_debiased():
    out = smooth([1.0, float("nan"), 1.0, 3.0], alpha=0.5)
    assert out[0] == 1.0 and math.isnan(out[1]) and out[2] == 1.0      # no pull towards 0
    assert out[3] == pytest.approx((0.125 * 1 + 0.25 * 1 + 0.5 * 3) / 0.875)   # 1/8, 1/4, 1/2
    assert smooth([5.0] * 1000) == pytest.approx([5.0] * 1000)


def test_per_batch_and_per_epoch_curves(tmp_path):
    metrics = [record(e, 2.0 / e, [2.0 / e + 0.01 * (i % 7) for i in range(100)], 0.5 + 0.1 * e)
               for e in (1, 2, 3)]
    img = draw_curves(metrics, tmp_path / "curves.png")
    with Image.open(tmp_path / "curves.png") as saved:
        assert saved.format == "PNG" and saved.size == img.size == (1200, 460)


@pytest.mark.parametrize("losses", [
    [float("nan"), 2.0, 1.0],
    [float("inf"), 1.0, 0.5],
    [1e17, 1e16, 1e30],                     # today: ZeroDivisionError / Pillow ValueError
    [1e300, -1e300, 0.0],
    [float("nan")] * 3,
    [1e308, float("-inf"), 5e-324],
])
def test_diverging_runs_still_get_a_picture(tmp_path, losses):
    metrics = [record(e + 1, v, [v, 0.5 * v if math.isfinite(v) else v], float("nan"))
               for e, v in enumerate(losses)]
    draw_curves(metrics, tmp_path / "curves.png")
    with Image.open(tmp_path / "curves.png") as saved:
        assert saved.size == (1200, 460)


def test_old_metrics_without_batch_losses_and_a_single_epoch(tmp_path):
    draw_curves([record(1, 0.3)], tmp_path / "curves.png")
    draw_curves([], tmp_path / "empty.png")
    assert (tmp_path / "empty.png").exists()


def test_font_is_scalable():
    assert font(30).getbbox("Ag")[3] > font(12).getbbox("Ag")[3]
