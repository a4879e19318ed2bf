"""Data the project generates for itself: background windows to train the detector on, and
canvases and "scanned pages" to measure it on (held-out test digits only).

Notation: B batch; windows (B, 1, 28, 28) MNIST-normalised; shifts (dy, dx) in pixels from the
window's centre.
"""
import io

import numpy as np

from ...data.transforms import translate
from ...tensor import Tensor
from .ink import from_ink, to_ink
from .windows import BACKGROUND, WINDOW, iou

DIGIT_SHIFT = 3                      # |dy|, |dx| <= 3: the window shows this digit
MIN_BG_SHIFT = 8                     # max(|dy|, |dx|) >= 8: the digit is cut, background
MAX_BG_SHIFT = 24                    # beyond this hardly any ink of a 28x28 digit box is left
GAP = (28, 36)                       # a neighbour sits this far from the centre digit (one axis)


def _offsets_at_least(r, rng):
    """(2, B) integer offsets whose larger |component| is exactly r[b] (a square ring)."""
    B = len(r)
    axis, sign = rng.integers(0, 2, size=B), rng.choice(np.array([-1, 1]), size=B)
    other = rng.integers(-r, r + 1)                               # uniform along the ring side
    out = np.empty((2, B), dtype=np.int64)
    out[axis, np.arange(B)] = sign * r
    out[1 - axis, np.arange(B)] = other
    return out


def zoom_about_centre(ink, zoom):
    """Each image of ``ink`` (B, 1, 28, 28) magnified by ``zoom[b]`` about the window's centre
    (bilinear; outside the source is 0).  Output pixel (i, j) reads source pixel
    (c + (i - c) / zoom, c + (j - c) / zoom) with c = 13.5."""
    B = len(ink)
    c = (WINDOW - 1) / 2
    r = (np.arange(WINDOW) - c)[None, :] / np.asarray(zoom, np.float64)[:, None] + c   # (B, 28)
    r0 = np.floor(r).astype(np.int64)
    f = (r - r0).astype(np.float32)
    src = np.pad(ink[:, 0], ((0, 0), (1, 2), (1, 2)))        # a zero frame: out of range = 0
    i0 = np.clip(r0 + 1, 0, WINDOW + 2)
    i1 = np.clip(r0 + 2, 0, WINDOW + 2)
    b = np.arange(B)[:, None, None]

    def at(ri, ci):
        return src[b, ri[:, :, None], ci[:, None, :]]
    fy, fx = f[:, :, None], f[:, None, :]
    out = ((1 - fy) * (1 - fx) * at(i0, i0) + (1 - fy) * fx * at(i0, i1)
           + fy * (1 - fx) * at(i1, i0) + fy * fx * at(i1, i1))
    return out[:, None].astype(np.float32)


def clutter(B, rng, p=0.5):
    """(B, 1, 28, 28) ink of what a page adds to a window besides digits, in a fraction ``p`` of
    the windows: sensor and JPEG noise (clipped Gaussian, sigma up to 0.12) and, in a third of
    those, a ruled line (1-3 px, mostly horizontal) of ink 0.15-0.7."""
    on = rng.random(B) < p
    sigma = rng.uniform(0, 0.12, size=B) * on
    out = np.clip(rng.standard_normal((B, 1, WINDOW, WINDOW)).astype(np.float32)
                  * sigma[:, None, None, None].astype(np.float32), 0, 1)
    line = on & (rng.random(B) < 1 / 3)
    pos = rng.integers(0, WINDOW, size=B)
    width = rng.integers(1, 4, size=B)
    level = rng.uniform(0.15, 0.7, size=B).astype(np.float32)
    vertical = rng.random(B) < 0.2
    idx = np.arange(WINDOW)
    rows = (idx[None, :] >= pos[:, None]) & (idx[None, :] < (pos + width)[:, None])   # (B, 28)
    mask = np.where(vertical[:, None, None], rows[:, None, :], rows[:, :, None])     # (B,28,28)
    np.maximum(out[:, 0], (mask & line[:, None, None]) * level[:, None, None], out=out[:, 0])
    return out


class BackgroundMix:
    """Turn a batch of MNIST digits into digit windows and background windows (label 10).

    Called as ``mix(x, y, rng) -> (x, y)`` on ndarrays: x (B, 1, 28, 28) MNIST-normalised, y (B,)
    int.  Every random choice comes from ``rng``; only digits of the batch itself are used (the
    neighbours are other digits of the same batch), so a training batch stays training data.

    Args:
        p_background: fraction of windows turned into background.
        p_blank: fraction of those whose own digit is removed (blank canvas, or neighbours only).
        p_neighbour: chance of each of the ``neighbours`` extra digits being present.
    """

    def __init__(self, p_background=0.5, p_blank=0.3, p_neighbour=0.5, neighbours=2,
                 scale=(0.85, 1.18), p_wrong_scale=0.35, p_clutter=0.5):
        for name, p in (("p_background", p_background), ("p_blank", p_blank),
                        ("p_neighbour", p_neighbour), ("p_wrong_scale", p_wrong_scale),
                        ("p_clutter", p_clutter)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"BackgroundMix: {name} must be in [0, 1], got {p!r}")
        if not 0 < scale[0] <= scale[1]:
            raise ValueError(f"BackgroundMix: scale must be (low, high) with 0 < low <= high, "
                             f"got {scale!r}")
        self.p_background, self.p_blank = p_background, p_blank
        self.p_neighbour, self.neighbours = p_neighbour, int(neighbours)
        self.scale, self.p_wrong_scale = (float(scale[0]), float(scale[1])), p_wrong_scale
        self.p_clutter = p_clutter

    def __call__(self, x, y, rng):
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim != 4 or x.shape[1:] != (1, WINDOW, WINDOW) or y.shape != x.shape[:1]:
            raise ValueError(f"BackgroundMix: expected x (B, 1, 28, 28) and y (B,), got x "
                             f"{x.shape} and y {y.shape}")
        B = len(y)
        ink = np.clip(to_ink(x), 0, 1)
        bg = rng.random(B) < self.p_background
        blank = bg & (rng.random(B) < self.p_blank)
        # a pyramid step leaves a digit up to ~12 % off the size the model was trained on:
        # digit windows are zoomed by a factor in ``scale``
        zoom = rng.uniform(*self.scale, size=B)
        # a digit seen at the wrong pyramid level is background: zoomed in (only strokes of it
        # fill the window) or zoomed out (a small digit in a big window), near the centre
        wrong = bg & ~blank & (rng.random(B) < self.p_wrong_scale)
        wrong_zoom = np.where(rng.random(B) < 0.5, rng.uniform(1.35, 3.5, size=B),
                              rng.uniform(0.3, 0.6, size=B))
        zoom = np.where(wrong, wrong_zoom, zoom)
        own = zoom_about_centre(ink, zoom) if self.scale != (1.0, 1.0) or wrong.any() else ink
        # the window's own digit: near the centre (digit) or on a ring >= 8 px out (background)
        near = rng.integers(-DIGIT_SHIFT, DIGIT_SHIFT + 1, size=(2, B))
        far = _offsets_at_least(rng.integers(MIN_BG_SHIFT, MAX_BG_SHIFT + 1, size=B), rng)
        anywhere = rng.integers(-MIN_BG_SHIFT, MIN_BG_SHIFT + 1, size=(2, B))
        centre = np.where(bg, np.where(wrong, anywhere, far), near)        # (2, B)
        out = translate(own * ~blank[:, None, None, None], *np.clip(centre, -28, 28), fill=0)
        # neighbours: other digits of the batch whose 28x28 boxes do not overlap the centre
        # digit's box (as on a canvas of non-overlapping digits), offset by 28..36 px on one axis
        for _ in range(self.neighbours):
            src = rng.permutation(B)
            rel = _offsets_at_least(rng.integers(GAP[0], GAP[1] + 1, size=B), rng)
            pos = centre + rel
            present = rng.random(B) < self.p_neighbour
            # in a background window no digit may come within 7 px of the centre
            present &= ~bg | (np.abs(pos).max(0) >= MIN_BG_SHIFT)
            moved = translate(ink[src] * present[:, None, None, None],
                              *np.clip(pos, -28, 28), fill=0)
            np.maximum(out, moved, out=out)                               # ink over ink
        if self.p_clutter > 0:
            np.maximum(out, clutter(B, rng, self.p_clutter), out=out)
        labels = np.where(bg, BACKGROUND, y).astype(np.int64)
        return from_ink(out), labels

    def __repr__(self):
        return (f"BackgroundMix(p_background={self.p_background}, p_blank={self.p_blank}, "
                f"p_neighbour={self.p_neighbour}, neighbours={self.neighbours}, "
                f"scale={self.scale}, p_wrong_scale={self.p_wrong_scale}, "
                f"p_clutter={self.p_clutter})")


class MixedLoader:
    """A DataLoader whose batches pass through ``mix(x, y, rng)`` (e.g. ``BackgroundMix``).

    Batch k of epoch e gets ``rng = default_rng([seed, e, k])``: a pure function of the seed and
    of the position the wrapped loader reports, so ``state_dict``/``load_state_dict`` (delegated
    to the loader) still resume exactly, even mid-epoch.
    """

    def __init__(self, loader, mix, seed=0):
        self.loader, self.mix, self.seed = loader, mix, int(seed)

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        batches = iter(self.loader)                 # starts the epoch: epoch and skip are known
        epoch, k = self.loader.epoch, self.loader.state_dict()["batch"]
        for x, y in batches:
            rng = np.random.default_rng([self.seed, epoch, k])
            xm, ym = self.mix(x.data, y.data, rng)
            k += 1
            yield Tensor(xm), Tensor(ym)

    def state_dict(self):
        return self.loader.state_dict()

    def load_state_dict(self, state):
        self.loader.load_state_dict(state)


# ------------------------------------------------------------------------------ canvases
def make_canvas(images, labels, rng, size=140, count=(2, 5)):
    """Paste ``count`` (inclusive range) random digits at random non-overlapping positions.

    ``images``: (N, 1, 28, 28) MNIST-normalised (e.g. the test set), ``labels`` (N,).
    Returns (ink canvas (size, size) float32 in [0, 1], ground truth [{"label", "box"}]), each
    box the digit's 28x28 paste box [x0, y0, x0 + 28, y0 + 28].
    """
    if size < WINDOW or not 0 <= count[0] <= count[1]:
        raise ValueError(f"make_canvas: need size >= {WINDOW} and 0 <= count[0] <= count[1], got "
                         f"size={size}, count={count}")
    canvas = np.zeros((size, size), np.float32)
    n = int(rng.integers(count[0], count[1] + 1))
    truth, boxes = [], np.zeros((0, 4))
    misses = 0
    while len(truth) < n:                  # rejection sampling of positions (a few tries each)
        x0, y0 = rng.integers(0, size - WINDOW + 1, size=2)
        box = np.array([x0, y0, x0 + WINDOW, y0 + WINDOW], dtype=np.float64)
        if len(boxes) and iou(box, boxes).max() > 0:
            misses += 1                    # a crowded (or too small) canvas: give up, loudly
            if misses > 10_000:
                raise ValueError(f"make_canvas: found no free place for digit {len(truth) + 1} "
                                 f"of {n} on a {size}x{size} canvas in 10,000 tries; use a "
                                 f"bigger canvas or fewer digits")
            continue
        k = int(rng.integers(len(labels)))
        region = canvas[y0:y0 + WINDOW, x0:x0 + WINDOW]
        np.maximum(region, np.clip(to_ink(images[k, 0]), 0, 1), out=region)
        boxes = np.vstack([boxes, box])
        truth.append({"label": int(labels[k]), "box": [int(v) for v in box]})
    return canvas, truth


def make_page(images, labels, rng, shape=(300, 400), count=(5, 10), sizes=(24, 110),
              quality=(60, 90)):
    """A synthetic "scanned page": light paper with a brightness gradient and sensor noise,
    ``count`` digits of ``images`` in dark ink at sizes ``sizes`` (px, inclusive; the side of the
    digit's square, MNIST's 28-px frame scaled), not overlapping, saved and re-read as JPEG.

    Returns (gray (H, W) float32 in [0, 1], truth [{"label", "box"}], box = the pasted square).
    """
    from PIL import Image
    H, W = shape
    if not 0 <= count[0] <= count[1] or not WINDOW // 2 <= sizes[0] <= sizes[1] <= min(H, W):
        raise ValueError(f"make_page: need 0 <= count[0] <= count[1] and 14 <= sizes[0] <= "
                         f"sizes[1] <= the page's shorter side, got {count}, {sizes}, {shape}")
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx / W + np.sin(angle) * yy / H)            # about -1.4 .. 1.4
    paper = rng.uniform(0.75, 0.92) + rng.uniform(0.03, 0.08) * ramp
    ink = np.zeros((H, W), np.float32)
    truth, boxes = [], np.zeros((0, 4))
    n, misses = int(rng.integers(count[0], count[1] + 1)), 0
    while len(truth) < n:
        D = int(rng.integers(sizes[0], sizes[1] + 1))
        x0, y0 = int(rng.integers(0, W - D + 1)), int(rng.integers(0, H - D + 1))
        box = np.array([x0, y0, x0 + D, y0 + D], np.float64)
        if len(boxes) and iou(box, boxes).max() > 0:
            misses += 1
            if misses > 10_000:
                raise ValueError(f"make_page: found no free place for digit {len(truth) + 1} "
                                 f"of {n} on a {W}x{H} page in 10,000 tries")
            continue
        k = int(rng.integers(len(labels)))
        digit = Image.fromarray(np.clip(to_ink(images[k, 0]), 0, 1), mode="F")
        digit = np.asarray(digit.resize((D, D), Image.BILINEAR), np.float32)
        region = ink[y0:y0 + D, x0:x0 + D]
        np.maximum(region, np.clip(digit, 0, 1), out=region)
        boxes = np.vstack([boxes, box])
        truth.append({"label": int(labels[k]), "box": [int(v) for v in box]})
    darkness = rng.uniform(0.6, 0.9)                                  # pen on paper
    gray = paper * (1 - darkness * ink) + rng.normal(0, rng.uniform(0.01, 0.04), (H, W))
    buf = io.BytesIO()
    Image.fromarray((np.clip(gray, 0, 1) * 255).round().astype(np.uint8)).save(
        buf, format="JPEG", quality=int(rng.integers(quality[0], quality[1] + 1)))
    buf.seek(0)
    with Image.open(buf) as img:
        gray = np.asarray(img.convert("L"), np.float32) / 255
    return gray, truth


def rule_page(gray, rng):
    """``gray`` (H, W) in [0, 1] with ruled lines drawn in: horizontal lines every 22-39 px and,
    on half the pages, a vertical margin line, each 1-2 px of 15-35 % darkness (a school
    exercise book). Faint as they are, on a page with no digits they are the only ink, and
    ``picture_to_ink`` would stretch them to full ink if it did not take long lines out first
    (``line_pixels``); ``bench_detect.py`` measures what is left."""
    H, W = gray.shape
    gap, thick = int(rng.integers(22, 40)), int(rng.integers(1, 3))
    keep = np.float32(1 - rng.uniform(0.15, 0.35))
    out = gray.copy()
    for y in range(int(rng.integers(5, gap)), H, gap):
        out[y:y + thick] *= keep
    if rng.random() < 0.5:
        x = int(rng.integers(20, min(60, W - thick) + 1))
        out[:, x:x + thick] *= keep
    return out
