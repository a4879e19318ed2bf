"""Classify a user's picture of a digit with a trained checkpoint.

    python examples/predict.py my_digit.png [--checkpoint runs/inception_mnist/checkpoint.npz]
    minitorch-predict my_digit.png                  # the same, as a console script

MNIST digits are white on black, size-normalised to fit a 20x20 box and centred by their centre
of mass in a 28x28 image.  ``prepare_image`` does the same to any picture: grayscale, invert if
the background is light, crop to the ink, scale the longer side to 20 px, paste so the centre of
mass sits at the centre, then normalise with MNIST's mean and std.
"""
import argparse
import sys

import numpy as np
from PIL import Image

from ..autograd import no_grad
from ..data.mnist import MEAN as MNIST_MEAN, STD as MNIST_STD
from ..tensor import Tensor
from .checks import HelpFormatter
from .images import load_gray  # noqa: F401  (part of this module's API: predict.load_gray)
from .train import load_model_checkpoint


def prepare_image(gray):
    """(H, W) in [0, 1], any polarity -> (1, 1, 28, 28) float32 normalised like MNIST."""
    bad = int(gray.size - np.isfinite(gray).sum())
    if bad:                              # a float TIFF can hold NaN: it would silently win max()
        raise SystemExit(f"error: the image has {bad} NaN/infinite pixel(s) of {gray.size}")
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    ink = 1.0 - gray if border.mean() > 0.5 else gray.copy()     # make it white on black
    ink = np.clip(ink - np.median(np.concatenate([ink[0], ink[-1]])), 0, None)
    if ink.max() <= 0:
        raise SystemExit("error: the image is blank: no digit found")
    ink /= ink.max()
    rows, cols = np.nonzero(ink > 0.2)
    crop = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = np.asarray(Image.fromarray((crop * 255).astype(np.uint8)).resize(
        (nw, nh), Image.LANCZOS), dtype=np.float32) / 255.0
    canvas = np.zeros((28, 28), np.float32)
    total = small.sum()
    cy = (small.sum(1) @ np.arange(nh)) / total if total else nh / 2   # centre of mass
    cx = (small.sum(0) @ np.arange(nw)) / total if total else nw / 2
    top = int(np.clip(round(14 - cy), 0, 28 - nh))
    left = int(np.clip(round(14 - cx), 0, 28 - nw))
    canvas[top:top + nh, left:left + nw] = small
    return ((canvas - MNIST_MEAN) / MNIST_STD)[None, None].astype(np.float32)


@no_grad()
def predict(model, x):
    """Class probabilities for a prepared (N, 1, 28, 28) batch."""
    model.eval()
    return model(Tensor(x)).softmax(1).data


def build_parser():
    p = argparse.ArgumentParser(description="Classify a picture of a handwritten digit",
                                formatter_class=HelpFormatter)
    p.add_argument("image", help="a picture of one digit (PNG, JPEG, ...; any polarity)")
    p.add_argument("--checkpoint", default="runs/inception_mnist/checkpoint.npz",
                   help="a checkpoint.npz of minitorch-train, or its --export file")
    return p


def main(argv=None):
    """The command: prints the prediction and every class's probability; returns 0."""
    run(build_parser().parse_args(argv))
    return 0


def run(args):
    """(label, probabilities) for ``args.image``."""
    x = prepare_image(load_gray(args.image))
    model, _ = load_model_checkpoint(args.checkpoint)
    probs = predict(model, x)[0]
    label = int(probs.argmax())
    print(f"prediction: {label}  (p = {probs[label]:.4f})")
    for k in np.argsort(-probs):
        print(f"  {k}: {probs[k]:.4f}")
    return label, probs


if __name__ == "__main__":
    sys.exit(main())
