"""Find every digit in a picture with one pass of the convolutionalized classifier.

    python examples/sliding_window.py --image canvas.png --json dets.json --png boxes.png
    python examples/sliding_window.py --demo --canvases 200 --seed 0 --png demo.png

The picture is read as grayscale (colour is converted), turned white-on-black if its border is
light, its background level (the border's median) subtracted and its ink scaled to [0, 1] like
MNIST (``--scale`` resizes it first, for digits much larger or smaller than MNIST's ~20 px; boxes
are mapped back to the input's pixels).  The 11-class model (see ``--background`` in
minitorch_cnn/cli/train.py) is converted by ``mt.fc_to_conv(model, (1, 28, 28))`` and run once;
``detect.detections_from_maps`` turns its class maps into boxes.  ``--demo`` pastes 2-5 held-out
TEST digits at random non-overlapping places on 140x140 canvases and reports precision and recall
(a hit: right label, IoU >= 0.5 with the digit's 28x28 paste box, each digit matched once).
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm

from ..convert import fc_to_conv
from ..data import MNIST
from ..detect import NUM_CLASSES, STRIDE, WINDOW, BACKGROUND, class_maps, \
    detections_from_maps, make_canvas, match
from ..fileio import atomic_open, atomic_write_text
from .images import load_gray  # noqa: F401  (part of this module's API: detect.load_gray)
from .checks import output_file, positive_float, positive_int
from .train import load_model_checkpoint

DEFAULT_CHECKPOINT = (Path(__file__).resolve().parents[2] / "checkpoints"
                      / "inception_lite_background.npz")
COLOURS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
           (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)]


def to_mnist_ink(gray):
    """(H, W) in [0, 1], any polarity -> ink (H, W) in [0, 1]: white digits on a black 0.

    The border decides the polarity (a light border = dark digits on paper, inverted); its median
    is the background level, subtracted; the 99.9th percentile of what is left becomes 1.
    """
    gray = np.asarray(gray, dtype=np.float32)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    ink = 1.0 - gray if np.median(border) > 0.5 else gray
    ink = ink - np.median(np.concatenate([ink[0], ink[-1], ink[:, 0], ink[:, -1]]))
    top = np.percentile(ink, 99.9)
    return np.clip(ink / top, 0, 1).astype(np.float32) if top > 0 else np.zeros_like(ink)


def load_detector(checkpoint):
    """The checkpoint's model, convolutionalized; SystemExit unless it has the background class."""
    model, state = load_model_checkpoint(checkpoint)
    classes = int(state.get("num_classes", 10))
    if classes != NUM_CLASSES:
        raise SystemExit(f"error: {checkpoint} has {classes} classes; detection needs a model "
                         f"trained with --background ({NUM_CLASSES} classes)")
    model.eval()
    return fc_to_conv(model, (1, WINDOW, WINDOW))


def detect_image(conv, gray, scale=1.0, threshold=0.5, nms_iou=0.2):
    """(detections in input pixels, ink actually analysed, class maps)."""
    ink = to_mnist_ink(gray)
    if scale != 1.0:
        h, w = ink.shape
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        ink = np.asarray(Image.fromarray(ink).resize(size, Image.BILINEAR), dtype=np.float32)
    H, W = ink.shape                       # pad tiny pictures up to one window (black)
    ink = np.pad(ink, ((0, max(0, WINDOW - H)), (0, max(0, WINDOW - W))))
    maps = class_maps(conv, ink)
    dets = detections_from_maps(maps, threshold, nms_iou)
    for d in dets:                         # back to the input's pixels
        d["box"] = [round(v / scale, 2) for v in d["box"]]
    return dets, ink, maps


# ------------------------------------------------------------------------------ pictures
def heat_colours(v):
    """Values in [0, 1] -> RGB uint8, black -> red -> yellow -> white."""
    v = np.clip(v, 0, 1)[..., None]
    rgb = np.clip(np.concatenate([3 * v, 3 * v - 1, 3 * v - 2], -1), 0, 1)
    return (rgb * 255).astype(np.uint8)


def _at_window_centres(values, shape):
    """(OH, OW) values per window -> an array of ``shape`` with each value around its window's
    centre (window (i, j) is centred on pixel (4i + 14, 4j + 14)); zero elsewhere."""
    OH, OW = values.shape[:2]
    big = values.repeat(STRIDE, 0).repeat(STRIDE, 1)              # one 4x4 cell per window
    out = np.zeros(tuple(shape) + values.shape[2:], values.dtype)
    off = WINDOW // 2 - STRIDE // 2
    h, w = min(big.shape[0], shape[0] - off), min(big.shape[1], shape[1] - off)
    out[off:off + h, off:off + w] = big[:h, :w]
    return out


def heatmap(maps, shape):
    """Max digit probability per window (black -> red -> yellow -> white), RGB of ``shape``."""
    return heat_colours(_at_window_centres(np.delete(maps, BACKGROUND, 0).max(0), shape))


def label_heatmap(maps, shape, zoom=3):
    """Each window's most probable digit as a colour, as bright as its probability."""
    digits = np.delete(maps, BACKGROUND, 0)
    rgb = np.asarray(COLOURS, np.float32)[digits.argmax(0)] * digits.max(0)[..., None]
    img = Image.fromarray(_at_window_centres(rgb, shape).astype(np.uint8))
    img = img.resize((shape[1] * zoom, shape[0] * zoom), Image.NEAREST)
    pen, font = ImageDraw.Draw(img), ImageFont.load_default()
    for c, colour in enumerate(COLOURS):                            # legend
        pen.text((4 + 14 * c, 4), str(c), fill=colour, font=font)
    return img


def draw(ink, maps, dets, zoom=3, truth=None):
    """The picture with its boxes and labels, and the heatmap beside it (an RGB PIL image)."""
    H, W = ink.shape
    left = Image.fromarray((np.clip(ink, 0, 1) * 255).astype(np.uint8)).convert("RGB")
    right = Image.fromarray(heatmap(maps, ink.shape))
    size = (W * zoom, H * zoom)
    left, right = left.resize(size, Image.NEAREST), right.resize(size, Image.NEAREST)
    pen, font = ImageDraw.Draw(left), ImageFont.load_default()
    for t in truth or []:
        pen.rectangle([v * zoom for v in t["box"]], outline=(90, 90, 90))
    for d in dets:
        x0, y0, x1, y1 = (v * zoom for v in d["box"])
        colour = COLOURS[d["label"]]
        pen.rectangle([x0, y0, x1 - 1, y1 - 1], outline=colour, width=2)
        text = f"{d['label']} {d['score']:.2f}"
        tx0, ty0, tx1, ty1 = pen.textbbox((x0 + 3, y0 + 2), text, font=font)
        pen.rectangle([tx0 - 2, ty0 - 1, tx1 + 1, ty1 + 1], fill=colour)   # a readable tag
        pen.text((x0 + 3, y0 + 2), text, fill=(0, 0, 0), font=font)
    out = Image.new("RGB", (2 * size[0] + 8, size[1]), (40, 40, 40))
    out.paste(left, (0, 0))
    out.paste(right, (size[0] + 8, 0))
    return out


def save_png(image, path):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as f:
        image.save(f, format="PNG")


# ------------------------------------------------------------------------------ demo
def demo(conv, canvases=200, seed=0, threshold=0.5, nms_iou=0.2, size=140, data_dir=None):
    """Precision and recall on canvases of held-out test digits; also the first canvas."""
    try:
        test = MNIST(root=data_dir, train=False)
    except (OSError, RuntimeError, ValueError) as e:
        raise SystemExit(f"error: {e}")
    rng = np.random.default_rng(seed)
    made = [make_canvas(test.images, test.labels, rng, size) for _ in range(canvases)]
    inks = np.stack([ink for ink, _ in made])
    tp = n_det = n_true = 0
    first = None
    for k in tqdm(range(0, canvases, 8), desc="canvases", leave=False, dynamic_ncols=True):
        maps = class_maps(conv, inks[k:k + 8])
        for m, (ink, truth) in zip(maps, made[k:k + 8]):
            dets = detections_from_maps(m, threshold, nms_iou)
            tp, n_det, n_true = tp + match(dets, truth), n_det + len(dets), n_true + len(truth)
            if first is None:
                first = (ink, m, dets, truth)
    precision = tp / n_det if n_det else 1.0
    recall = tp / n_true if n_true else 1.0
    return {"canvases": canvases, "digits": n_true, "detections": n_det, "true_positives": tp,
            "precision": precision, "recall": recall, "threshold": threshold,
            "nms_iou": nms_iou, "seed": seed}, first


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--image", help="picture to search for digits")
    p.add_argument("--demo", action="store_true", help="measure on canvases of test digits")
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    p.add_argument("--json", help="write the detections (or the demo's scores) here")
    p.add_argument("--png", help="write the picture with boxes and a heatmap here")
    p.add_argument("--heatmap", help="write the per-window winning digit (colour) and its "
                   "probability (brightness) here")
    p.add_argument("--threshold", type=float, default=0.5, help="min. digit probability")
    p.add_argument("--nms-iou", type=float, default=0.2, help="NMS overlap limit")
    p.add_argument("--scale", type=positive_float, default=1.0,
                   help="resize the picture by this factor first (MNIST digits are ~20 px)")
    p.add_argument("--canvases", type=positive_int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None, help="folder with the MNIST files (--demo)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.image is None and not args.demo:
        raise SystemExit("error: give --image IMG or --demo")
    if not 0.0 <= args.threshold <= 1.0 or not 0.0 <= args.nms_iou <= 1.0:
        raise SystemExit("error: --threshold and --nms-iou must lie in [0, 1]")
    for flag in ("json", "png", "heatmap"):
        output_file(flag, getattr(args, flag))
    gray = load_gray(args.image) if args.image is not None else None
    conv = load_detector(args.checkpoint)
    if args.demo:
        result, (ink, maps, dets, truth) = demo(conv, args.canvases, args.seed, args.threshold,
                                                args.nms_iou, data_dir=args.data_dir)
        print(f"{result['canvases']} canvases, {result['digits']} digits, "
              f"{result['detections']} detections: precision {result['precision']:.4f}  "
              f"recall {result['recall']:.4f}  (threshold {args.threshold}, NMS IoU "
              f"{args.nms_iou}, seed {args.seed})")
    else:
        dets, ink, maps = detect_image(conv, gray, args.scale, args.threshold, args.nms_iou)
        truth, result = None, {"detections": dets}
        for d in dets:
            print(f"{d['label']}  p={d['score']:.3f}  box={d['box']}")
        print(f"{len(dets)} detections")
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=2))
    if args.png:
        if args.image is not None and not args.demo and args.scale != 1.0:
            dets = [dict(d, box=[v * args.scale for v in d["box"]]) for d in dets]
        save_png(draw(ink, maps, dets, truth=truth), args.png)
        print(f"wrote {args.png}")
    if args.heatmap:
        save_png(label_heatmap(maps, ink.shape), args.heatmap)
        print(f"wrote {args.heatmap}")
    return result


if __name__ == "__main__":
    main()
    sys.exit(0)
