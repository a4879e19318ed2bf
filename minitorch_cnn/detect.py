"""Detecting digits on a canvas: a background class, one convolutional pass, then boxes.

Notation: B batch, K = 11 classes (digits 0-9 and BACKGROUND = 10), canvas (H, W), class maps
(K, OH, OW) with OH = (H - 28) // 4 + 1, boxes [x0, y0, x1, y1] in pixels (x1, y1 exclusive).

The idea
--------
A digit classifier answers "which digit is this?" for *every* 28x28 window, even for a window of
blank canvas or one cut through the middle of two digits: softmax has no "none of these".  So we
teach it one more answer.  ``BackgroundMix`` turns a batch of training digits into a mix of

* digit windows -- the digit within ``DIGIT_SHIFT`` = 3 px of the centre (the grid of windows has
  stride 4, so some window is always that close to any digit), often with neighbouring digits
  intruding at the edges as on a crowded canvas; label 0-9;
* background windows -- blank canvas, or digits at least ``MIN_BG_SHIFT`` = 8 px off-centre (cut
  by the window's edge), alone or several at once; label 10.

Shifts of 4-7 px are never shown: the model may answer either way there, and non-maximum
suppression removes the weaker of two overlapping answers anyway.

Then ``fc_to_conv`` turns the classifier into a fully convolutional net; one forward pass over
the whole canvas gives class scores for every window at stride 4, window (i, j) covering pixels
[4j, 4i, 4j + 28, 4i + 28].  ``detections_from_maps`` keeps windows whose best class is a digit
with probability >= ``threshold`` and runs greedy non-maximum suppression: keep the best
remaining box, drop every box that overlaps it with IoU > ``nms_iou``, repeat.  Each survivor's
label is the digit that the 3x3 windows around it give the most probability to, and its position
the mean of those window positions weighted by that label's probability.
"""
import io

import numpy as np

from .autograd import no_grad
from .data.mnist import MEAN, STD
from .data.transforms import translate
from .nn import evaluating
from .tensor import Tensor

__all__ = ["BACKGROUND", "NUM_CLASSES", "BackgroundMix", "MixedLoader", "iou", "nms",
           "detections_from_maps", "class_maps", "tiled_class_maps", "make_canvas", "match",
           "to_ink", "from_ink", "picture_to_ink", "pyramid_sizes", "detect_pyramid", "merge_scales", "make_page",
           "WINDOW", "STRIDE", "REACH", "MAX_PIXELS"]

BACKGROUND, NUM_CLASSES = 10, 11
WINDOW, STRIDE = 28, 4               # the classifier's input size; the converted net's stride
DIGIT_SHIFT = 3                      # |dy|, |dx| <= 3: the window shows this digit
MIN_BG_SHIFT = 8                     # max(|dy|, |dx|) >= 8: the digit is cut, background
MAX_BG_SHIFT = 24                    # beyond this hardly any ink of a 28x28 digit box is left
GAP = (28, 36)                       # a neighbour sits this far from the centre digit (one axis)
# How far beyond its 28x28 window an output cell of the converted Inception-lite can look: its
# 'same'-padded convolutions widen the receptive field by 9 px on each side (stem 3x3: 1 px, the
# two Inception blocks' 5x5 branches at half resolution: 2 x 2 x 2 px).  Rounded up to a
# multiple of the stride so that every tile starts on the network's pooling grid.
REACH = 12
MAX_PIXELS = 50_000_000              # pictures above 50 megapixels are refused, not tiled forever


def to_ink(x):
    """MNIST-normalised pixels -> ink in [0, 1] (0 = black background)."""
    return x * np.float32(STD) + np.float32(MEAN)


def from_ink(ink):
    """Ink in [0, 1] -> MNIST-normalised float32 pixels."""
    return ((ink - np.float32(MEAN)) / np.float32(STD)).astype(np.float32)


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


# ------------------------------------------------------------------------------ boxes
def iou(a, b):
    """Intersection over union of every box in ``a`` (N, 4) with every box in ``b`` (M, 4).

    Boxes are [x0, y0, x1, y1] with x1, y1 exclusive (area (x1 - x0) * (y1 - y0)); returns (N, M).
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    # the intersection is the box [max x0, max y0, min x1, min y1], empty if that is inverted
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(w, 0, None) * np.clip(h, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def nms(boxes, scores, iou_threshold=0.2):
    """Greedy non-maximum suppression: indices of the kept boxes, best score first.

    Take the best remaining box, drop every remaining box that overlaps it with IoU >
    ``iou_threshold``, repeat.  One loop step per *kept* box, each step vectorised.
    """
    boxes, scores = np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(scores)
    if len(boxes) != len(scores):
        raise ValueError(f"nms: {len(boxes)} boxes but {len(scores)} scores")
    order = np.argsort(-scores, kind="stable")
    keep = []
    while len(order):
        best, order = order[0], order[1:]
        keep.append(int(best))
        order = order[iou(boxes[best], boxes[order])[0] <= iou_threshold]
    return np.array(keep, dtype=np.int64)


# ------------------------------------------------------------------------------ class maps
@no_grad()
def class_maps(conv_model, ink, batch_size=8):
    """Softmax class maps of a fully convolutional model over canvases of ink.

    ``ink``: (H, W) or (N, H, W) in [0, 1], white digits on black, H, W >= 28.
    Returns (K, OH, OW) or (N, K, OH, OW) float32 probabilities (softmax over the K classes at
    every window position).
    """
    ink = np.asarray(ink, dtype=np.float32)
    single = ink.ndim == 2
    batch = ink[None] if single else ink
    if batch.ndim != 3 or len(batch) == 0 or min(batch.shape[1:]) < WINDOW:
        raise ValueError(f"class_maps: expected (H, W) or (N, H, W) with N >= 1 and H, W >= "
                         f"{WINDOW}, got shape {ink.shape}")
    out = []
    # batch norm: running statistics, dropout: off; the caller's model keeps its own mode
    with evaluating(conv_model):
        for k in range(0, len(batch), batch_size):
            logits = conv_model(Tensor(from_ink(batch[k:k + batch_size, None]))).data
            z = logits - logits.max(1, keepdims=True)             # softmax over dim 1, stable
            e = np.exp(z)
            out.append(e / e.sum(1, keepdims=True))
    maps = np.concatenate(out)
    return maps[0] if single else maps


def detections_from_maps(maps, threshold=0.5, nms_iou=0.2, refine=True, vote=True):
    """Class maps (K, OH, OW) -> detections [{"label", "score", "box"}], best first.

    A window is a candidate when its most probable class is a digit with probability >=
    ``threshold``; boxes [4j, 4i, 4j + 28, 4i + 28]; class-agnostic NMS (digits on a canvas do
    not overlap, so two overlapping boxes are one digit whatever their labels).  ``vote``: label
    each kept box with the digit that the 3x3 windows around it give the most probability to
    (its score: that digit's best probability there), unless that score would fall below
    ``threshold`` -- then the peak's own label and score stay.  ``refine``: move each kept box
    to the probability-weighted mean position of the 3x3 windows around it, using that label's
    map (sub-stride accuracy).  Sorted by score, best first.
    """
    maps = np.asarray(maps)
    if maps.ndim != 3 or maps.shape[0] != NUM_CLASSES:
        raise ValueError(f"detections_from_maps: expected ({NUM_CLASSES}, OH, OW) class maps, "
                         f"got shape {maps.shape}")
    label = maps.argmax(0)                                         # (OH, OW)
    score = maps.max(0)
    ii, jj = np.nonzero((label != BACKGROUND) & (score >= threshold))
    boxes = np.stack([STRIDE * jj, STRIDE * ii, STRIDE * jj + WINDOW, STRIDE * ii + WINDOW], 1)
    keep = nms(boxes, score[ii, jj], nms_iou)
    OH, OW = label.shape
    dets = []
    for k in keep:
        i, j, c = ii[k], jj[k], int(label[ii[k], jj[k]])
        y, x, p = float(STRIDE * i), float(STRIDE * j), float(score[i, j])
        i0, i1, j0, j1 = max(i - 1, 0), min(i + 2, OH), max(j - 1, 0), min(j + 2, OW)
        if vote:          # the label the 3x3 windows around the peak give most probability to
            cv = int(maps[:BACKGROUND, i0:i1, j0:j1].sum((1, 2)).argmax())
            pv = float(maps[cv, i0:i1, j0:j1].max())
            if pv >= threshold:
                c, p = cv, pv
        if refine:
            w = maps[c, i0:i1, j0:j1].astype(np.float64)
            y = float(STRIDE * (w.sum(1) @ np.arange(i0, i1)) / w.sum())
            x = float(STRIDE * (w.sum(0) @ np.arange(j0, j1)) / w.sum())
        dets.append({"label": c, "score": p,
                     "box": [round(x, 2), round(y, 2), round(x + WINDOW, 2),
                             round(y + WINDOW, 2)]})
    return sorted(dets, key=lambda d: -d["score"])           # (a stable sort: ties keep order)


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


def match(detections, truth, iou_threshold=0.5):
    """Number of true positives: detections (best score first) matched greedily to a ground
    truth of the same label with IoU >= ``iou_threshold``, each ground truth at most once."""
    used, tp = set(), 0
    for d in sorted(detections, key=lambda d: -d["score"]):
        best, best_iou = None, iou_threshold
        for g, t in enumerate(truth):
            if g in used or t["label"] != d["label"]:
                continue
            v = float(iou(d["box"], t["box"])[0, 0])
            if v >= best_iou:
                best, best_iou = g, v
        if best is not None:
            used.add(best)
            tp += 1
    return tp


# ------------------------------------------------------------------------------ real pictures
def _block_grid(a, block, reduce):
    """``reduce`` (e.g. np.median) of every ``block`` x ``block`` cell of ``a`` (H, W); the last
    row and column of cells take what is left.  Returns (ceil(H / block), ceil(W / block))."""
    H, W = a.shape
    rows = [a[y:y + block] for y in range(0, H, block)]
    return np.array([[reduce(r[:, x:x + block]) for x in range(0, W, block)] for r in rows],
                    np.float32)


def _upsample(grid, shape):
    """A coarse grid -> (H, W) by bilinear interpolation (cell values sit at cell centres)."""
    from PIL import Image
    H, W = shape
    return np.asarray(Image.fromarray(grid.astype(np.float32), mode="F").resize(
        (W, H), Image.BILINEAR), dtype=np.float32)


def _grey_open(grid):
    """3x3 minimum then 3x3 maximum of a small grid: removes bright blobs up to 2 cells wide
    (ink filling whole cells) and keeps slow changes (a gradient, a shadow)."""
    def filt(g, f):
        p = np.pad(g, 1, mode="edge")
        H, W = g.shape
        return f(np.stack([p[i:i + H, j:j + W] for i in range(3) for j in range(3)]), axis=0)
    return filt(filt(grid, np.min), np.max)


def picture_to_ink(gray):
    """A grayscale picture (H, W) in [0, 1], any polarity -> ink (H, W) in [0, 1] as MNIST draws
    it: white digits (1) on a black background (0).  ``ValueError`` for an empty picture, a
    non-finite pixel or more than ``MAX_PIXELS`` pixels.

    1. background: medians of cells of 1/12 of the shorter side, opened (``_grey_open``) so that
       cells filled by ink do not count, interpolated back -- a local level, so a brightness
       gradient or a shadow across a page is subtracted too;
    2. noise: sigma from the median absolute deviation of what is left (robust: ink is few pixels);
    3. polarity: the ink is the side (darker or lighter than the background) that holds more
       mass beyond 3 sigma -- paper noise is symmetric and cancels, ink is one-sided;
    4. ink scale: the 90th percentile of the pixels beyond max(4 sigma, 0.02) (the stroke cores),
       a statistic of the ink alone, so it does not vanish when ink is sparse or the picture huge.
       Then ``(r - 3 sigma) / (scale - 3 sigma)`` clipped to [0, 1]: the noise floor becomes 0.
    A picture without any pixel beyond the noise is blank: all zeros.
    """
    gray = np.asarray(gray, dtype=np.float32)
    if gray.ndim != 2 or gray.size == 0:
        raise ValueError(f"picture_to_ink: expected a non-empty (H, W) picture, got shape "
                         f"{gray.shape}")
    if gray.size > MAX_PIXELS:
        raise ValueError(f"picture_to_ink: {gray.shape[1]}x{gray.shape[0]} is "
                         f"{gray.size / 1e6:.1f} megapixels, more than the {MAX_PIXELS / 1e6:.0f} "
                         f"allowed; shrink the picture first")
    bad = int(np.size(gray) - np.count_nonzero(np.isfinite(gray)))
    if bad:
        raise ValueError(f"picture_to_ink: {bad} non-finite pixel(s) (NaN or inf) in the "
                         f"picture; every pixel must be a number")
    block = max(4, min(gray.shape) // 12)
    # polarity first, on a background that ignores ink of either sign (plain medians)
    r0 = gray - _upsample(_block_grid(gray, block, np.median), gray.shape)
    s0 = r0[::max(1, gray.shape[0] // 1000), ::max(1, gray.shape[1] // 1000)]
    sigma0 = 1.4826 * float(np.median(np.abs(s0 - np.median(s0))))
    t0 = max(3 * sigma0, 0.02)
    dark = float(np.clip(-r0 - t0, 0, None).sum()) > float(np.clip(r0 - t0, 0, None).sum())
    ink = 1.0 - gray if dark else gray
    background = _upsample(_grey_open(_block_grid(ink, block, np.median)), ink.shape)
    r = ink - background
    s = r[::max(1, ink.shape[0] // 1000), ::max(1, ink.shape[1] // 1000)]
    sigma = 1.4826 * float(np.median(np.abs(s - np.median(s))))
    strong = r[r > max(4 * sigma, 0.02)]
    if strong.size == 0:
        return np.zeros_like(ink)
    top = float(np.percentile(strong, 90))
    floor = min(3 * sigma, 0.5 * top)
    return np.clip((r - floor) / (top - floor), 0, 1).astype(np.float32)


@no_grad()
def tiled_class_maps(conv_model, ink, tile=512, reach=REACH, progress=None):
    """``class_maps`` of one ink picture (H, W), computed in overlapping tiles.

    Each tile computes the output cells of a ``tile`` x ``tile`` block of windows and reads
    ``reach`` extra pixels on every side (clipped at the picture's edges): an output cell depends
    only on pixels within ``reach`` of its window, so the tile sees everything it depends on and
    the maps equal the untiled ones (within float32 rounding).  Tiles start on multiples of the
    stride, so the network's pooling grid is the same as in one pass.  Peak memory is that of
    one tile, whatever the picture's size.  ``progress(n)`` is called after every tile.
    """
    ink = np.asarray(ink, dtype=np.float32)
    if ink.ndim != 2 or min(ink.shape) < WINDOW:
        raise ValueError(f"tiled_class_maps: expected (H, W) with H, W >= {WINDOW}, got "
                         f"{ink.shape}")
    if tile % STRIDE or tile < STRIDE or reach % STRIDE or reach < 0:
        raise ValueError(f"tiled_class_maps: tile and reach must be multiples of {STRIDE} "
                         f"(tile > 0, reach >= 0), got tile={tile}, reach={reach}")
    H, W = ink.shape
    OH, OW = (H - WINDOW) // STRIDE + 1, (W - WINDOW) // STRIDE + 1
    t = tile // STRIDE                                   # output cells per tile side
    out = None
    for a in range(0, OH, t):
        for b in range(0, OW, t):
            a1, b1 = min(a + t, OH), min(b + t, OW)
            # input rows the cells a..a1-1 depend on: [4a - reach, 4(a1-1) + 28 + reach)
            y0, x0 = max(0, STRIDE * a - reach), max(0, STRIDE * b - reach)
            y1 = min(H, STRIDE * (a1 - 1) + WINDOW + reach)
            x1 = min(W, STRIDE * (b1 - 1) + WINDOW + reach)
            m = class_maps(conv_model, ink[y0:y1, x0:x1])
            if out is None:
                out = np.empty((m.shape[0], OH, OW), np.float32)
            da, db = (STRIDE * a - y0) // STRIDE, (STRIDE * b - x0) // STRIDE
            out[:, a:a1, b:b1] = m[:, da:da + a1 - a, db:db + b1 - b]
            if progress is not None:
                progress(1)
    return out


def tile_count(shape, tile=512):
    """How many tiles ``tiled_class_maps`` uses on a picture of ``shape`` (for a progress bar)."""
    OH, OW = ((n - WINDOW) // STRIDE + 1 for n in shape)
    t = tile // STRIDE
    return -(-OH // t) * -(-OW // t)


def pyramid_sizes(shape, min_size=None, max_size=None, step=2 ** (1 / 3), budget=8e6):
    """Digit sizes (input pixels) a pyramid over a picture of ``shape`` (H, W) looks for.

    A digit of size D (the side of its square, as MNIST's 28-px frame) is seen by the network's
    28-px window when the picture is scaled by 28 / D.  Sizes go from ``min_size`` up by factors
    of ``step`` until ``max_size``.  Defaults: ``max_size`` the picture's shorter side (a digit
    filling it); ``min_size`` 16 px, or more on a large picture -- the smallest size for which
    the pyramid's total area stays within ``budget`` pixels (~5 s per megapixel on one core),
    e.g. ~55 px on a 12-megapixel phone photo.
    """
    H, W = shape
    short = min(H, W)
    if max_size is None:
        max_size = max(short, WINDOW)
    if min_size is None:
        # the pyramid from size D has area H W (28 / D)^2 (1 + step^-2 + step^-4 + ...)
        min_size = WINDOW * np.sqrt(H * W / (budget * (1 - step ** -2)))
        min_size = min(max(16.0, float(min_size)), max_size)
    if not 0 < min_size <= max_size:
        raise ValueError(f"pyramid_sizes: need 0 < min_size <= max_size, got {min_size}, "
                         f"{max_size}")
    sizes, D = [], float(min_size)
    while D < max_size * step ** 0.5 and WINDOW / D * short >= WINDOW:
        sizes.append(D)
        D *= step
    return sizes or [float(min(min_size, short))]


def _resize(ink, scale):
    """(ink resized by ``scale`` (antialiased when shrinking), (sx, sy) actual factors)."""
    from PIL import Image
    H, W = ink.shape
    w, h = max(1, round(W * scale)), max(1, round(H * scale))
    if (w, h) == (W, H):
        return ink, (1.0, 1.0)
    out = np.asarray(Image.fromarray(ink, mode="F").resize((w, h), Image.BILINEAR),
                     dtype=np.float32)
    return out, (w / W, h / H)


def detect_pyramid(conv_model, ink, sizes=None, scales=None, threshold=0.5, nms_iou=0.2,
                   tile=512, progress=None, keep_maps=False):
    """Detections on an ink picture at every scale of a pyramid, merged by one NMS.

    ``scales`` (factors to resize by) or ``sizes`` (digit sizes in input pixels, scale 28 / D).
    At each scale: tiled class maps, ``detections_from_maps``, boxes mapped back to input
    pixels; then one class-agnostic NMS over the detections of all scales, in input pixels.
    Each detection gains ``"scale"``.  Returns (detections best first, [(scale, (sx, sy),
    maps)] if ``keep_maps`` else []).
    """
    ink = np.asarray(ink, dtype=np.float32)
    if scales is None:
        scales = [WINDOW / D for D in (sizes if sizes is not None else pyramid_sizes(ink.shape))]
    dets, kept = [], []
    for s in scales:
        small, (sx, sy) = _resize(ink, s)
        h, w = small.shape                     # pad tiny pictures up to one window (black)
        small = np.pad(small, ((0, max(0, WINDOW - h)), (0, max(0, WINDOW - w))))
        maps = tiled_class_maps(conv_model, small, tile, progress=progress)
        for d in detections_from_maps(maps, threshold, nms_iou):
            x0, y0, x1, y1 = d["box"]
            d["box"] = [round(x0 / sx, 2), round(y0 / sy, 2), round(x1 / sx, 2),
                        round(y1 / sy, 2)]
            d["scale"] = round(float(s), 4)
            dets.append(d)
        if keep_maps:
            kept.append((float(s), (sx, sy), maps))
        del small, maps
    return merge_scales(dets, nms_iou), kept


def merge_scales(dets, nms_iou=0.2, contain=0.6):
    """One class-agnostic NMS over detections of several scales (boxes in input pixels).

    Besides IoU > ``nms_iou``, a box is suppressed when more than ``contain`` of its area lies
    inside a better box: at a finer scale a stroke of a big digit can look like a small digit
    (the loop of an 8 like a 0), and its small box has a low IoU with the big one.  Digits on
    a page do not overlap, so a box mostly inside another is never a second digit.  Each kept
    box then becomes the score-weighted mean of the boxes of its own label that it suppressed
    (and itself): neighbouring scales all see a digit, and their mean size is nearer its true
    size than any one pyramid step.
    """
    if not dets:
        return []
    boxes = np.array([d["box"] for d in dets], np.float64)
    scores = np.array([d["score"] for d in dets])
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    order = np.argsort(-scores, kind="stable")
    out = []
    while len(order):
        best, order = order[0], order[1:]
        o = iou(boxes[best], boxes[order])[0]
        w = np.clip(np.minimum(boxes[best, 2], boxes[order, 2])
                    - np.maximum(boxes[best, 0], boxes[order, 0]), 0, None)
        h = np.clip(np.minimum(boxes[best, 3], boxes[order, 3])
                    - np.maximum(boxes[best, 1], boxes[order, 1]), 0, None)
        inside = w * h / np.maximum(area[order], 1e-9)
        gone = (o > nms_iou) | (inside > contain)
        same = order[gone & (o > nms_iou)]
        same = np.concatenate([[best], same[[dets[k]["label"] == dets[best]["label"]
                                             for k in same]]]).astype(np.int64)
        wts = scores[same] / scores[same].sum()
        d = dict(dets[best], box=[round(float(v), 2) for v in wts @ boxes[same]])
        out.append(d)
        order = order[~gone]
    return out


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
    exercise book). Faint as they are, on a page with no digits the normalisation stretches them
    to full ink, so the background class must know them; ``bench_detect.py`` measures it."""
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

