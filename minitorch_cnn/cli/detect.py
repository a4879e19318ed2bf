"""Find every digit in a picture with one pass of the convolutionalized classifier.

    python examples/sliding_window.py --image canvas.png --json dets.json --png boxes.png
    python examples/sliding_window.py --demo --canvases 200 --seed 0 --png demo.png

The picture is read as grayscale and turned into MNIST-like ink by ``detection.picture_to_ink``
(polarity, a local background level, noise floor and ink scale from the picture itself; long
straight lines -- ruled paper, a margin, a table's grid -- taken out before the ink scale).  The
11-class model (``--background`` in minitorch_cnn/cli/train.py) is converted by
``mt.fc_to_conv(model, (1, 28, 28))`` and run over a pyramid of rescaled copies (digit sizes
``--min-size`` .. ``--max-size`` in input pixels; ``--scale`` for one explicit scale), each in
overlapping tiles of bounded memory; one NMS merges all scales.  ``--demo`` measures precision
and recall (a hit: right label, IoU >= 0.5 with the digit's pasted square, each digit matched
once) on 140x140 canvases of 2-5 held-out TEST digits (``--demo canvases``, one pass, no pyramid)
or on generated scanned pages (``--demo pages``: paper, gradient, noise, JPEG, 5-10 test digits
of 24-110 px).
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

from ..tools.convert import fc_to_conv
from ..data import MNIST
from ..tools.detection import NUM_CLASSES, STRIDE, WINDOW, BACKGROUND, MAX_PIXELS, class_maps, \
    detect_pyramid, detections_from_maps, make_canvas, make_page, match, picture_to_ink, \
    pyramid_sizes, tile_count
from ..io.fileio import atomic_open, atomic_write_text
from .images import load_gray  # noqa: F401  (part of this module's API: detect.load_gray)
from .checks import (HelpFormatter, existing_file, open_dataset, output_file, positive_float,
                     positive_int, probe_write, seed)
from .plot import font as plot_font
from .train import load_model_checkpoint

DEFAULT_CHECKPOINT = (Path(__file__).resolve().parents[2] / "checkpoints"
                      / "inception_lite_background.npz")
COLOURS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
           (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)]




def to_mnist_ink(gray, max_size=None):
    """(H, W) in [0, 1], any polarity -> ink (H, W) in [0, 1]: white digits on a black 0.

    See ``detection.picture_to_ink`` (``max_size``: the largest digit looked for, which bounds
    how short a ruled line may be); here its ``ValueError`` becomes one ``error:`` line."""
    try:
        return picture_to_ink(gray, max_size=max_size)
    except ValueError as e:
        raise SystemExit(f"error: {e}")


def load_detector(checkpoint):
    """The checkpoint's model, convolutionalized; SystemExit unless it has the background class."""
    model, state = load_model_checkpoint(checkpoint)
    classes = int(state.get("num_classes", 10))
    if classes != NUM_CLASSES:
        raise SystemExit(f"error: {checkpoint} has {classes} classes; detection needs a model "
                         f"trained with --background ({NUM_CLASSES} classes)")
    model.eval()
    return fc_to_conv(model, (1, WINDOW, WINDOW))


def detect_image(conv, gray, scale=None, threshold=0.5, nms_iou=0.2, min_size=None,
                 max_size=None, tile=512, progress=True):
    """(detections in input pixels, the ink analysed, [(scale, (sx, sy), class maps)]).

    ``scale``: one explicit scale; otherwise the pyramid of ``detection.pyramid_sizes``."""
    ink = to_mnist_ink(gray, WINDOW / float(scale) if scale is not None else max_size)
    if scale is not None:
        scales = [float(scale)]
    else:
        try:
            sizes = pyramid_sizes(ink.shape, min_size, max_size)
        except ValueError as e:
            raise SystemExit(f"error: {e}")
        scales = [WINDOW / D for D in sizes]
    total = sum(tile_count(_scaled_shape(ink.shape, s), tile) for s in scales)
    with tqdm(total=total, desc=f"{len(scales)} scales, tiles", leave=False,
              dynamic_ncols=True, disable=not progress) as bar:
        dets, maps = detect_pyramid(conv, ink, scales=scales, threshold=threshold,
                                    nms_iou=nms_iou, tile=tile, progress=bar.update,
                                    keep_maps=True)
    return dets, ink, maps


def _scaled_shape(shape, s):
    return tuple(max(WINDOW, round(n * s)) for n in shape)


# ------------------------------------------------------------------------------ pictures
def font(size):
    """The labels' font: bold, scalable, ``size`` px (``cli.plot.font``)."""
    return plot_font(size, bold=True)


def heat_colours(v):
    """Values in [0, 1] -> RGB uint8, black -> red -> yellow -> white."""
    v = np.clip(v, 0, 1)[..., None]
    rgb = np.clip(np.concatenate([3 * v, 3 * v - 1, 3 * v - 2], -1), 0, 1)
    return (rgb * 255).astype(np.uint8)


def best_over_scales(maps, shape):
    """(best digit probability, its digit) per input pixel, over all scales: window (i, j) of
    scale (sx, sy) paints its 4 x 4 centre cell, (4j + 12) / sx ... (4j + 16) / sx."""
    H, W = shape
    best, label = np.zeros((H, W), np.float32), np.zeros((H, W), np.int64)
    for _, (sx, sy), m in maps:
        digits = np.delete(m, BACKGROUND, 0)
        p, c = digits.max(0), digits.argmax(0)
        OH, OW = p.shape
        w, h = max(1, round(STRIDE * OW / sx)), max(1, round(STRIDE * OH / sy))
        x0, y0 = round((WINDOW // 2 - STRIDE // 2) / sx), round((WINDOW // 2 - STRIDE // 2) / sy)
        pb = np.asarray(Image.fromarray(p).resize((w, h), Image.NEAREST))
        cb = np.asarray(Image.fromarray(c.astype(np.int32)).resize((w, h), Image.NEAREST))
        pb, cb = pb[:max(0, H - y0), :max(0, W - x0)], cb[:max(0, H - y0), :max(0, W - x0)]
        region = best[y0:y0 + pb.shape[0], x0:x0 + pb.shape[1]]
        better = pb > region
        region[better] = pb[better]
        label[y0:y0 + pb.shape[0], x0:x0 + pb.shape[1]][better] = cb[better]
    return best, label


def _zoom_for(shape, least=420):
    return max(1, -(-least // min(shape)))          # small pictures are enlarged to be seen


def _legend_bar(width, pen_font, text_h):
    """A strip under the heatmap: the colour ramp with its scale labelled."""
    bar = Image.new("RGB", (width, 4 * text_h), (40, 40, 40))
    ramp = heat_colours(np.linspace(0, 1, max(2, width - 2 * text_h)))[None]
    ramp = Image.fromarray(np.repeat(ramp, text_h, 0))
    bar.paste(ramp, (text_h, int(0.3 * text_h)))
    pen = ImageDraw.Draw(bar)
    y = int(1.4 * text_h)
    for v in (0, 0.5, 1):
        x = text_h + int(v * (ramp.size[0] - 1))
        pen.text((x, y), f"{v:g}", fill=(230, 230, 230), font=pen_font,
                 anchor="mt" if 0 < v < 1 else ("lt" if v == 0 else "rt"))
    pen.text((width // 2, 4 * text_h - 2), "best digit probability (any scale)",
             fill=(230, 230, 230), font=pen_font, anchor="mb")
    return bar


def draw(picture, maps, dets, truth=None, zoom=None):
    """The picture with its boxes and labels, and the probability heatmap with its legend beside
    it (an RGB PIL image) at the picture's own size (small pictures enlarged)."""
    H, W = picture.shape
    zoom = zoom or _zoom_for(picture.shape)
    size = (W * zoom, H * zoom)
    left = Image.fromarray((np.clip(picture, 0, 1) * 255).astype(np.uint8)).convert("RGB")
    left = left.resize(size, Image.NEAREST)
    best, _ = best_over_scales(maps, picture.shape)
    right = Image.fromarray(heat_colours(best)).resize(size, Image.NEAREST)
    text_h = max(12, round(min(size) / 30))
    pen, f = ImageDraw.Draw(left), font(text_h)
    line = max(2, round(min(size) / 250))
    for t in truth or []:
        pen.rectangle([v * zoom for v in t["box"]], outline=(90, 90, 90), width=max(1, line // 2))
    for d in dets:
        x0, y0, x1, y1 = (v * zoom for v in d["box"])
        colour = COLOURS[d["label"]]
        pen.rectangle([x0, y0, x1 - 1, y1 - 1], outline=colour, width=line)
        text = f"{d['label']} {d['score']:.2f}"
        ty = y0 - text_h - 2 * line if y0 - text_h - 2 * line >= 0 else y1 + line
        tx0, ty0, tx1, ty1 = pen.textbbox((x0, ty), text, font=f)
        pen.rectangle([tx0 - 2, ty0 - 2, tx1 + 2, ty1 + 2], fill=colour)   # a readable tag
        pen.text((x0, ty), text, fill=(0, 0, 0), font=f)
    bar = _legend_bar(size[0], f, text_h)
    out = Image.new("RGB", (2 * size[0] + 8, size[1] + bar.size[1]), (40, 40, 40))
    out.paste(left, (0, 0))
    out.paste(right, (size[0] + 8, 0))
    out.paste(bar, (size[0] + 8, size[1]))
    return out


def label_heatmap(maps, shape, zoom=None):
    """Each place's most probable digit (over all scales) as a colour, as bright as its
    probability, with a legend of the ten colours."""
    zoom = zoom or _zoom_for(shape)
    best, label = best_over_scales(maps, shape)
    rgb = np.asarray(COLOURS, np.float32)[label] * best[..., None]
    size = (shape[1] * zoom, shape[0] * zoom)
    img = Image.fromarray(rgb.astype(np.uint8)).resize(size, Image.NEAREST)
    text_h = max(12, round(min(size) / 30))
    f = font(text_h)
    legend = Image.new("RGB", (size[0], 2 * text_h + 8), (40, 40, 40))
    pen = ImageDraw.Draw(legend)
    step = size[0] / 10
    for c, colour in enumerate(COLOURS):
        pen.text((int(c * step) + 4, 2), str(c), fill=colour, font=f)
    pen.text((4, text_h + 4), "colour: digit, brightness: its probability", fill=(230,) * 3,
             font=f)
    out = Image.new("RGB", (size[0], size[1] + legend.size[1]), (40, 40, 40))
    out.paste(img, (0, 0))
    out.paste(legend, (0, size[1]))
    return out


def save_png(image, path):
    with atomic_open(path, "wb") as f:
        image.save(f, format="PNG")


def writable(flag, path):
    """SystemExit unless a file can be created at ``path`` (tried: a temp file there, removed),
    checked before any work; None passes."""
    if path is None:
        return
    output_file(flag, path)
    folder = Path(path).resolve().parent
    while not folder.exists() and folder != folder.parent:      # atomic_open creates folders
        folder = folder.parent
    try:
        probe_write(folder)
    except OSError as e:
        raise SystemExit(f"error: --{flag} {path} cannot be written: {e.strerror or e}")


# ------------------------------------------------------------------------------ demo
def _test_set(data_dir):
    return open_dataset(MNIST, data_dir, train=False)


def _scores(tp, n_det, n_true):
    return {"digits": n_true, "detections": n_det, "true_positives": tp,
            "precision": tp / n_det if n_det else 1.0, "recall": tp / n_true if n_true else 1.0}


def demo(conv, canvases=200, seed=0, threshold=0.5, nms_iou=0.2, size=140, data_dir=None):
    """Precision and recall on canvases of held-out test digits (one pass at scale 1, as the
    canvases hold MNIST-size digits); also the first canvas."""
    test = _test_set(data_dir)
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
                first = (ink, [(1.0, (1.0, 1.0), m)], dets, truth)
    return dict(canvases=canvases, **_scores(tp, n_det, n_true), threshold=threshold,
                nms_iou=nms_iou, seed=seed), first


def demo_pages(conv, pages=100, seed=0, threshold=0.5, nms_iou=0.2, min_size=None,
               max_size=None, data_dir=None, tile=512):
    """Precision and recall on generated scanned pages (``detection.make_page``) of held-out test
    digits, through the whole pipeline (normalisation, pyramid, tiles); also the first page."""
    test = _test_set(data_dir)
    rng = np.random.default_rng(seed)
    tp = n_det = n_true = 0
    first = None
    for _ in tqdm(range(pages), desc="pages", leave=False, dynamic_ncols=True):
        gray, truth = make_page(test.images, test.labels, rng)
        dets, _, maps = detect_image(conv, gray, None, threshold, nms_iou, min_size, max_size,
                                     tile, progress=False)
        tp, n_det, n_true = tp + match(dets, truth), n_det + len(dets), n_true + len(truth)
        if first is None:
            first = (gray, maps, dets, truth)
    return dict(pages=pages, **_scores(tp, n_det, n_true), threshold=threshold,
                nms_iou=nms_iou, seed=seed, min_size=min_size, max_size=max_size), first


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--image", help="picture to search for digits")
    p.add_argument("--demo", nargs="?", const="canvases", choices=["canvases", "pages"],
                   default=None, help="measure precision and recall on generated canvases "
                   "(the bare flag) or scanned pages of held-out test digits instead of --image")
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT),
                   help="11-class model (trained with --background)")
    p.add_argument("--json", help="write the detections (or the demo's scores) here")
    p.add_argument("--png", help="write the picture with boxes and a heatmap here")
    p.add_argument("--heatmap", help="write the per-place winning digit (colour) and its "
                   "probability (brightness) here")
    p.add_argument("--threshold", type=float, default=0.5, help="min. digit probability")
    p.add_argument("--nms-iou", type=float, default=0.2, help="NMS overlap limit")
    p.add_argument("--scale", type=positive_float, default=None,
                   help="one explicit scale instead of the pyramid: resize the picture by this "
                   "factor (MNIST digits sit in a 28-px square) (default: the pyramid)")
    p.add_argument("--min-size", type=positive_float, default=None,
                   help="smallest digit size (side of its square, input px) the pyramid looks "
                   "for (default: 16, or more on a large picture: the smallest size whose "
                   "pyramid stays within 8 megapixels, ~55 px on 4000x3000)")
    p.add_argument("--max-size", type=positive_float, default=None,
                   help="largest digit size (input px); straight lines longer than 3 times "
                   "it, or than 40%% of the picture's side, are taken out as ruled lines "
                   "(default: the picture's shorter side)")
    p.add_argument("--tile", type=positive_int, default=512,
                   help="tile side in pixels of the rescaled picture (bounds the memory)")
    p.add_argument("--canvases", type=positive_int, default=200,
                   help="how many canvases --demo canvases generates")
    p.add_argument("--pages", type=positive_int, default=100,
                   help="how many pages --demo pages generates")
    p.add_argument("--seed", type=seed, default=0,
                   help="seed of the demo's canvases or pages, in [0, 2**32 - 1]")
    p.add_argument("--data-dir", default=None, help="folder with the MNIST files (--demo)")
    return p


def check_image_size(path):
    """SystemExit if the picture is empty or over ``MAX_PIXELS``: read from its header, before
    its pixels are decoded."""
    path = existing_file("image", path)
    try:
        with Image.open(path) as img:
            w, h = img.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return                                   # load_gray reports the unreadable file
    if w * h == 0:
        raise SystemExit(f"error: image {path} is empty ({w}x{h} pixels)")
    if w * h > MAX_PIXELS:
        raise SystemExit(f"error: image {path} is {w}x{h} = {w * h / 1e6:.1f} megapixels, more "
                         f"than the {MAX_PIXELS / 1e6:.0f} allowed; shrink it first")


def main(argv=None):
    """The command (``minitorch-detect``): prints and writes what ``run`` finds; returns 0."""
    run(argv)
    return 0


def run(argv=None):
    """Parse ``argv``, detect, write the outputs asked for; returns the result dictionary."""
    args = build_parser().parse_args(argv)
    if args.image is None and not args.demo:
        raise SystemExit("error: give --image IMG or --demo")
    if not 0.0 <= args.threshold <= 1.0 or not 0.0 <= args.nms_iou <= 1.0:
        raise SystemExit("error: --threshold and --nms-iou must lie in [0, 1]")
    if args.tile % STRIDE:
        raise SystemExit(f"error: --tile must be a multiple of {STRIDE}, got {args.tile}")
    if args.min_size and args.max_size and args.min_size > args.max_size:
        raise SystemExit(f"error: --min-size {args.min_size:g} is larger than --max-size "
                         f"{args.max_size:g}")
    for flag in ("json", "png", "heatmap"):
        writable(flag, getattr(args, flag))
    gray = None
    if args.image is not None and not args.demo:
        check_image_size(args.image)
        gray = load_gray(args.image)
    conv = load_detector(args.checkpoint)
    if args.demo == "canvases":
        result, (picture, maps, dets, truth) = demo(conv, args.canvases, args.seed,
                                                    args.threshold, args.nms_iou,
                                                    data_dir=args.data_dir)
    elif args.demo == "pages":
        result, (picture, maps, dets, truth) = demo_pages(
            conv, args.pages, args.seed, args.threshold, args.nms_iou, args.min_size,
            args.max_size, args.data_dir, args.tile)
    if args.demo:
        n = result.get("canvases", result.get("pages"))
        print(f"{n} {args.demo}, {result['digits']} digits, {result['detections']} detections: "
              f"precision {result['precision']:.4f}  recall {result['recall']:.4f}  (threshold "
              f"{args.threshold}, NMS IoU {args.nms_iou}, seed {args.seed})")
    else:
        dets, _, maps = detect_image(conv, gray, args.scale, args.threshold, args.nms_iou,
                                     args.min_size, args.max_size, args.tile)
        picture, truth, result = gray, None, {"detections": dets}
        for d in dets:
            print(f"{d['label']}  p={d['score']:.3f}  box={d['box']}  scale={d['scale']}")
        print(f"{len(dets)} detections")
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=2))
    if args.png:
        save_png(draw(picture, maps, dets, truth=truth), args.png)
        print(f"wrote {args.png}")
    if args.heatmap:
        save_png(label_heatmap(maps, picture.shape), args.heatmap)
        print(f"wrote {args.heatmap}")
    return result


if __name__ == "__main__":
    sys.exit(main())
