"""The network's windows: class maps over a picture (in one pass or in tiles) and the boxes they give.

Notation: K = 11 classes (digits 0-9 and BACKGROUND = 10), picture (H, W), class maps (K, OH, OW)
with OH = (H - 28) // 4 + 1; window (i, j) covers pixels [4j, 4i, 4j + 28, 4i + 28]; boxes
[x0, y0, x1, y1] in pixels (x1, y1 exclusive).
"""
import numpy as np

from ...autograd import no_grad
from ...nn import evaluating
from ...tensor import Tensor
from .ink import from_ink

BACKGROUND, NUM_CLASSES = 10, 11
WINDOW, STRIDE = 28, 4               # the classifier's input size; the converted net's stride
# How far beyond its 28x28 window an output cell of the converted Inception-lite can look: its
# 'same'-padded convolutions widen the receptive field by 9 px on each side (stem 3x3: 1 px, the
# two Inception blocks' 5x5 branches at half resolution: 2 x 2 x 2 px).  Rounded up to a
# multiple of the stride so that every tile starts on the network's pooling grid.
REACH = 12


# ------------------------------------------------------------------------------ boxes
def intersection(a, b):
    """Area of the intersection of every box in ``a`` (N, 4) with every box in ``b`` (M, 4):
    the box [max x0, max y0, min x1, min y1], empty if that is inverted.  Returns (N, M)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.clip(w, 0, None) * np.clip(h, 0, None)


def iou(a, b):
    """Intersection over union of every box in ``a`` (N, 4) with every box in ``b`` (M, 4).

    Boxes are [x0, y0, x1, y1] with x1, y1 exclusive (area (x1 - x0) * (y1 - y0)); returns (N, M).
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    inter = intersection(a, b)
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
