"""Training curves drawn with Pillow: no plotting library needed."""
from PIL import Image, ImageDraw

from ..fileio import atomic_open

COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)]


def _panel(draw, box, title, series, y_range=None):
    """Draw one line chart in ``box`` = (x0, y0, x1, y1); series = [(label, [values])]."""
    x0, y0, x1, y1 = box
    left, bottom, top, right = x0 + 60, y1 - 40, y0 + 30, x1 - 20
    draw.text((x0 + 60, y0 + 8), title, fill="black")
    draw.rectangle((left, top, right, bottom), outline="black")
    values = [v for _, vs in series for v in vs]
    if not values:
        return
    lo, hi = y_range if y_range else (min(values), max(values))
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    n = max(len(vs) for _, vs in series)
    sx = lambda i: left + (right - left) * (i / max(n - 1, 1))           # noqa: E731
    sy = lambda v: bottom - (bottom - top) * ((v - lo) / (hi - lo))      # noqa: E731
    for k in range(5):                                                   # y ticks
        v = lo + (hi - lo) * k / 4
        draw.line((left - 4, sy(v), left, sy(v)), fill="black")
        draw.text((x0 + 2, sy(v) - 6), f"{v:.4g}", fill="black")
    for i in range(n):                                                   # x ticks: epochs
        draw.text((sx(i) - 3, bottom + 6), str(i + 1), fill="black")
    draw.text(((left + right) // 2 - 15, bottom + 22), "epoch", fill="black")
    for k, (label, vs) in enumerate(series):
        colour = COLOURS[k % len(COLOURS)]
        pts = [(sx(i), sy(v)) for i, v in enumerate(vs)]
        if len(pts) > 1:
            draw.line(pts, fill=colour, width=2)
        for px, py in pts:
            draw.ellipse((px - 3, py - 3, px + 3, py + 3), fill=colour)
        draw.text((right - 150, top + 8 + 14 * k), label, fill=colour)


def draw_curves(metrics, path):
    """Save loss and accuracy per epoch (a list of metrics.json records) as a PNG."""
    img = Image.new("RGB", (900, 360), "white")
    draw = ImageDraw.Draw(img)
    _panel(draw, (0, 0, 450, 360), "training loss",
           [("train loss", [m["train_loss"] for m in metrics])])
    _panel(draw, (450, 0, 900, 360), "accuracy",
           [("train", [m["train_accuracy"] for m in metrics]),
            ("test", [m["test_accuracy"] for m in metrics])])
    with atomic_open(path) as f:
        img.save(f, format="PNG")
    return img
