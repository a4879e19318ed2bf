"""Training curves drawn with Pillow: no plotting library needed.

``draw_curves(metrics, path)`` draws the loss (every batch, smoothed, and the mean per epoch) and
the accuracies per epoch.  A run that diverges still gets its picture: NaN and infinite losses
are left out of the lines and counted in the title, and a loss that spans several decades
(1e+20 down to 0.05) is drawn on a log axis.  Tick values are round (0.1, 0.25, 1e+04 ...).
"""
import math

from PIL import Image, ImageDraw, ImageFont

from ..io.fileio import atomic_open

COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)]
LIGHT = [(150, 185, 225), (255, 187, 120), (152, 223, 138), (255, 152, 150)]
_FONTS = {False: ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                  "LiberationSans-Regular.ttf", "Arial.ttf"),
          True: ("DejaVuSans-Bold.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
                 "LiberationSans-Bold.ttf",
                 "/usr/share/fonts/truetype/liberation2/LiberationSans-Bold.ttf")}


def font(size=14, bold=False):
    """A scalable font of ``size`` pixels: DejaVu Sans (Debian's fonts-dejavu-core) or another
    common TrueType font, else Pillow's own scalable default (Pillow >= 10.1); only a Pillow
    older than that falls back to its small fixed bitmap font."""
    for name in _FONTS[bool(bold)]:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except TypeError:                                       # Pillow < 10.1
        return ImageFont.load_default()


def nice_ticks(lo, hi, count=5):
    """Round tick values covering [lo, hi]: steps of 1, 2, 2.5 or 5 times a power of ten."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        raise ValueError(f"nice_ticks: need finite lo < hi, got {lo}, {hi}")
    raw = (hi - lo) / max(count - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(lo / step + 1e-9) * step
    ticks, k = [], 0
    while True:
        v = first + k * step
        ticks.append(0.0 if abs(v) < step * 1e-9 else float(f"{v:.12g}"))  # no 0.30000000000000004
        if v >= hi - step * 1e-9:
            return ticks
        k += 1


def _label(v):
    return f"{v:.6g}" if abs(v) < 1e5 else f"{v:.3g}"


def smooth(values, alpha=None):
    """Exponential moving average over the finite values, debiased (divided by 1 - (1-alpha)^t,
    as TensorBoard does, so the first points are not pulled towards 0).  NaN/inf stay out of the
    average and come back as NaN, so they break the line instead of bending it.  ``alpha=None``
    picks about a 20th of the run (at most 0.3, at least 0.01)."""
    if alpha is None:
        alpha = min(0.3, max(0.01, 20 / max(len(values), 1)))
    out, avg, weight = [], 0.0, 0.0
    for v in values:
        if not math.isfinite(v):
            out.append(float("nan"))
            continue
        v = max(-1e300, min(1e300, v))
        avg = (1 - alpha) * avg + alpha * v
        weight = (1 - alpha) * weight + alpha
        out.append(avg / weight)
    return out


def _panel(draw, box, title, series, x_label, x_max, fonts, log=None):
    """One line chart in ``box`` = (x0, y0, x1, y1).

    ``series`` = [(label, [(x, y), ...], colour, width)]; x in [0, x_max]; points whose y is not
    finite are skipped (and counted in the title).  ``log=None`` picks a log axis when every
    value is positive and they span more than three decades."""
    small, big = fonts
    x0, y0, x1, y1 = box
    left, bottom, top, right = x0 + 80, y1 - 55, y0 + 40, x1 - 20
    points = [(x, y) for _, pts, _, _ in series for x, y in pts]
    finite = [y for _, y in points if math.isfinite(y)]
    bad = max(sum(not math.isfinite(y) for _, y in pts) for _, pts, _, _ in series)
    if bad:
        title += f"  ({bad} NaN/inf values not drawn)"
    draw.text((left, y0 + 8), title, fill="black", font=big)
    draw.rectangle((left, top, right, bottom), outline="black")
    if not finite:
        draw.text((left + 10, (top + bottom) // 2), "no finite values", fill="gray", font=big)
        return
    finite = [max(-1e300, min(1e300, y)) for y in finite]    # hi - lo must stay finite
    if log is None:
        log = min(finite) > 0 and max(finite) / min(finite) > 1e3
    f = (lambda y: math.log10(y)) if log else (lambda y: y)  # noqa: E731
    lo, hi = f(min(finite)), f(max(finite))
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):                 # one value: a band around it
        pad = max(abs(hi) * 0.05, 0.5)
        lo, hi = lo - pad, hi + pad
    if log:
        ticks = list(range(math.floor(lo), math.ceil(hi) + 1))
        step = max(1, math.ceil(len(ticks) / 6))
        ticks = [t for t in ticks if t % step == 0] or ticks[:1]
        labels = [f"1e{t:+03d}" if abs(t) > 3 else _label(10.0 ** t) for t in ticks]
    else:
        ticks = nice_ticks(lo, hi)
        labels = [_label(t) for t in ticks]
    lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])
    sx = lambda x: left + (right - left) * (x / x_max if x_max > 0 else 0.5)   # noqa: E731
    sy = lambda v: bottom - (bottom - top) * ((f(v) - lo) / (hi - lo))     # noqa: E731
    for t, text in zip(ticks, labels):                                     # y ticks
        y = bottom - (bottom - top) * ((t - lo) / (hi - lo))
        draw.line((left - 5, y, left, y), fill="black")
        draw.line((left + 1, y, right - 1, y), fill=(235, 235, 235))
        w = draw.textlength(text, font=small)
        draw.text((left - 8 - w, y - 8), text, fill="black", font=small)
    for t in nice_ticks(0, x_max) if x_max > 0 else [0]:                   # x ticks
        if t > x_max + 1e-9:
            continue
        x = sx(t)
        draw.line((x, bottom, x, bottom + 5), fill="black")
        text = _label(t)
        draw.text((x - draw.textlength(text, font=small) / 2, bottom + 8), text, fill="black",
                  font=small)
    draw.text(((left + right) / 2 - draw.textlength(x_label, font=small) / 2, bottom + 30),
              x_label, fill="black", font=small)
    draw.rectangle((left, top, right, bottom), outline="black")      # over the grid lines
    for k, (label, pts, colour, width) in enumerate(series):
        runs, run = [], []                       # a NaN breaks the line into runs
        for x, y in pts:
            if math.isfinite(y):
                run.append((sx(x), sy(max(-1e300, min(1e300, y)))))
            elif run:
                runs.append(run)
                run = []
        runs.append(run)
        for r in runs:
            if len(r) > 1:
                draw.line(r, fill=colour, width=width)
            if len(pts) <= 50:
                for px, py in r:
                    draw.ellipse((px - 3, py - 3, px + 3, py + 3), fill=colour)
        tw = draw.textlength(label, font=small)
        draw.text((right - 10 - tw, top + 8 + 20 * k), label, fill=colour, font=small)


def draw_curves(metrics, path):
    """Save loss (per batch, smoothed, and per epoch) and accuracy per epoch as a PNG.

    ``metrics``: the metrics.json records; a record may carry ``batch_losses`` (one loss per
    batch of that epoch), which the loss panel spreads evenly over the epoch."""
    img = Image.new("RGB", (1200, 460), "white")
    draw = ImageDraw.Draw(img)
    fonts = (font(14), font(17))
    epochs = [(m["epoch"] - 0.5, float(m["train_loss"])) for m in metrics]   # an epoch's mean
    batch = []
    for m in metrics:
        losses = [float(v) for v in m.get("batch_losses") or ()]
        batch += [(m["epoch"] - 1 + (i + 1) / len(losses), v) for i, v in enumerate(losses)]
    x_max = max([m["epoch"] for m in metrics] + [0])
    series = []
    if batch:
        series += [("loss per batch", batch, LIGHT[0], 1),
                   ("smoothed", list(zip([x for x, _ in batch],
                                         smooth([v for _, v in batch]))), COLOURS[0], 2)]
    series.append(("mean per epoch", epochs, COLOURS[1], 2))
    _panel(draw, (0, 0, 620, 460), "training loss", series, "epoch", x_max, fonts)
    acc = [("train", [(m["epoch"], float(m["train_accuracy"])) for m in metrics], COLOURS[0], 2),
           ("test", [(m["epoch"], float(m["test_accuracy"])) for m in metrics], COLOURS[2], 2)]
    _panel(draw, (620, 0, 1200, 460), "accuracy", acc, "epoch", x_max, fonts, log=False)
    with atomic_open(path) as f:
        img.save(f, format="PNG")
    return img
