"""Any digit size: the network's fixed 28-px window run over a pyramid of rescaled copies, as
OverFeat does, and the detections of all scales merged by one non-maximum suppression."""
import numpy as np

from .windows import WINDOW, detections_from_maps, intersection, iou, tiled_class_maps


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
        inside = intersection(boxes[best], boxes[order])[0] / np.maximum(area[order], 1e-9)
        gone = (o > nms_iou) | (inside > contain)
        same = order[gone & (o > nms_iou)]
        same = np.concatenate([[best], same[[dets[k]["label"] == dets[best]["label"]
                                             for k in same]]]).astype(np.int64)
        wts = scores[same] / scores[same].sum()
        d = dict(dets[best], box=[round(float(v), 2) for v in wts @ boxes[same]])
        out.append(d)
        order = order[~gone]
    return out
