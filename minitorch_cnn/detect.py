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
import numpy as np

from .autograd import no_grad
from .data.mnist import MEAN, STD
from .data.transforms import translate
from .nn import evaluating
from .tensor import Tensor

__all__ = ["BACKGROUND", "NUM_CLASSES", "BackgroundMix", "MixedLoader", "iou", "nms",
           "detections_from_maps", "class_maps", "make_canvas", "match", "to_ink",
           "from_ink", "WINDOW", "STRIDE"]

BACKGROUND, NUM_CLASSES = 10, 11
WINDOW, STRIDE = 28, 4               # the classifier's input size; the converted net's stride
DIGIT_SHIFT = 3                      # |dy|, |dx| <= 3: the window shows this digit
MIN_BG_SHIFT = 8                     # max(|dy|, |dx|) >= 8: the digit is cut, background
MAX_BG_SHIFT = 24                    # beyond this hardly any ink of a 28x28 digit box is left
GAP = (28, 36)                       # a neighbour sits this far from the centre digit (one axis)


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

    def __init__(self, p_background=0.5, p_blank=0.3, p_neighbour=0.5, neighbours=2):
        for name, p in (("p_background", p_background), ("p_blank", p_blank),
                        ("p_neighbour", p_neighbour)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"BackgroundMix: {name} must be in [0, 1], got {p!r}")
        self.p_background, self.p_blank = p_background, p_blank
        self.p_neighbour, self.neighbours = p_neighbour, int(neighbours)

    def __call__(self, x, y, rng):
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim != 4 or x.shape[1:] != (1, WINDOW, WINDOW) or y.shape != x.shape[:1]:
            raise ValueError(f"BackgroundMix: expected x (B, 1, 28, 28) and y (B,), got x "
                             f"{x.shape} and y {y.shape}")
        B = len(y)
        ink = to_ink(x)
        bg = rng.random(B) < self.p_background
        blank = bg & (rng.random(B) < self.p_blank)
        # the window's own digit: near the centre (digit) or on a ring >= 8 px out (background)
        near = rng.integers(-DIGIT_SHIFT, DIGIT_SHIFT + 1, size=(2, B))
        far = _offsets_at_least(rng.integers(MIN_BG_SHIFT, MAX_BG_SHIFT + 1, size=B), rng)
        centre = np.where(bg, far, near)                                  # (2, B)
        out = translate(ink * ~blank[:, None, None, None], *np.clip(centre, -28, 28), fill=0)
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
        labels = np.where(bg, BACKGROUND, y).astype(np.int64)
        return from_ink(out), labels

    def __repr__(self):
        return (f"BackgroundMix(p_background={self.p_background}, p_blank={self.p_blank}, "
                f"p_neighbour={self.p_neighbour}, neighbours={self.neighbours})")


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
