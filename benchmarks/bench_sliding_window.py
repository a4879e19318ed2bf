"""Sliding-window classification: one convolutional pass vs every window run separately.

    python benchmarks/bench_sliding_window.py [--sizes 112 224] [--repeats 3] [--checkpoint P]

A canvas (black, MNIST's normalised background) gets real MNIST test digits pasted on it.  Two
ways to classify every 28 x 28 window at stride s = 4 (the total stride of Inception-lite's
feature extractor, two 2x2 max-pools):

  windows   crop all (S-28)/4 + 1 squared windows and run the ORIGINAL model on them in batches
  conv      run ``mt.fc_to_conv(model, (1, 28, 28))`` once on the whole canvas

Printed per canvas size: time of each (best of --repeats, both measured in this process one after
the other, so machine load hits both; still expect 10-20 % noise), split into feature extractor
and head; the MAC counts from ``mt.summary`` split the same way, the arithmetic ratio; and how far
apart the two outputs are (max |logit difference|, share of windows whose argmax agrees, and the
same on the windows that hold exactly one pasted digit).

The arithmetic, per 28 x 28 window (Inception-lite): features 5.06 M MACs, head 0.70 M MACs
(Linear 5488 -> 128 is 0.70 M of it).  The conv pass computes the features of the canvas once
-- (S/28)^2 times the features of one digit, however many windows there are -- but its 7 x 7
head conv still does the full 0.70 M MACs at every window: overlapping windows share pixels,
not the head's dot products (each window has its own 7 x 7 x 112 input to the 128 filters).
So the features-only ratio is ~30x on 112 x 112, the whole-network ratio only ~6.6x.

Wall-clock does better than 6.6x because MACs are not time: the head is one big GEMM
(128 x 5488 @ 5488 x windows) that BLAS runs near peak in both methods, while the feature
extractor's time is dominated by work MACs do not count (BatchNorm, ReLU, pooling, concatenation,
im2col copies, per-layer Python overhead), and all of that is shared by the conv pass.

Machine load: if another process keeps both cores busy, OpenBLAS's two threads stall (we measured
a ~0.1 s floor on every large matrix multiply) and the numbers mean little; then run with
``OPENBLAS_NUM_THREADS=1``.

The outputs are NOT equal within 1e-4: Inception-lite pads ('same' convs), so a window run on its
own sees zeros beyond its border where the canvas shows its real neighbours.  Only a padding-free
feature extractor makes the two methods agree exactly (tests/test_convert.py checks both).
"""
import argparse
import os
import time
from pathlib import Path

import numpy as np

import minitorch_cnn as mt
from minitorch_cnn.models import InceptionLite

ROOT = Path(__file__).resolve().parents[1]
# the default training run's checkpoint if there is one, else the shipped background-aware model
CHECKPOINTS = (ROOT / "runs/inception_mnist/checkpoint.npz",
               ROOT / "checkpoints/inception_lite_background.npz")
WIN, STRIDE = 28, 4


def load_model(path):
    """The trained model if a checkpoint exists, else a random one (said so)."""
    from minitorch_cnn.cli.train import load_model_checkpoint
    candidates = [path] if path else CHECKPOINTS
    for p in candidates:
        if Path(p).is_file():
            model, _ = load_model_checkpoint(p)
            return model.eval(), f"trained checkpoint {p}"
    np.random.seed(0)
    return InceptionLite().eval(), "RANDOM weights (no checkpoint found)"


def make_canvas(size, digits, labels, background, rng):
    """A (1, 1, size, size) black canvas with one digit per 56 x 56 cell, at a random offset
    that is a multiple of the stride (so one window holds exactly that digit).

    Returns the canvas and [(window row, window col, label)] of the digit-aligned windows."""
    canvas = np.full((1, 1, size, size), background, np.float32)
    cells = size // 56
    placed = []
    for a in range(cells):
        for b in range(cells):
            k = len(placed) % len(digits)
            y = a * 56 + STRIDE * int(rng.integers(0, 28 // STRIDE + 1))
            x = b * 56 + STRIDE * int(rng.integers(0, 28 // STRIDE + 1))
            canvas[0, 0, y:y + WIN, x:x + WIN] = digits[k]
            placed.append((y // STRIDE, x // STRIDE, int(labels[k])))
    return canvas, placed


def run(model, x):
    with mt.no_grad():
        return model(mt.Tensor(x)).data


def windows_pass(model, canvas, batch):
    """Every window cropped (a strided view, then one copy per batch) and run through the model:
    (1, 10, OH, OW) like the conv pass."""
    view = np.lib.stride_tricks.sliding_window_view(canvas[0, 0], (WIN, WIN))[::STRIDE, ::STRIDE]
    OH, OW = view.shape[:2]
    flat = view.reshape(OH * OW, 1, WIN, WIN)              # copies: the view overlaps itself
    outs = [run(model, flat[i:i + batch]) for i in range(0, len(flat), batch)]
    return np.concatenate(outs).reshape(OH, OW, -1).transpose(2, 0, 1)[None]


def split_time(model, x, batch, repeats):
    """Seconds spent in model.features and in model.head on ``x`` (in batches), each the best
    of ``repeats``."""
    best_f = best_h = float("inf")
    for _ in range(repeats):
        tf = th = 0.0
        for i in range(0, len(x), batch):
            t0 = time.perf_counter()
            f = run(model.features, x[i:i + batch])
            t1 = time.perf_counter()
            run(model.head, f)
            tf, th = tf + t1 - t0, th + time.perf_counter() - t1
        best_f, best_h = min(best_f, tf), min(best_h, th)
    return best_f, best_h


def best_time(fn, repeats):
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def macs_split(model, shape):
    """(features MACs, head MACs) for one input of ``shape`` from mt.summary."""
    rows = {r["name"]: r["macs"] for r in mt.summary(model, shape).rows}
    return rows["features"], rows["head"]


def digits_alone_vs_pasted(model, conv, test, n, fill, batch):
    """n test digits run alone vs pasted in the middle of a 60 x 60 canvas filled with ``fill``
    (the window at output (4, 4) is exactly the digit): the padding caveat on real digits."""
    x, y = test.images[:n], test.labels[:n]
    canvas = np.full((n, 1, 60, 60), fill, np.float32)
    canvas[:, :, 16:44, 16:44] = x
    alone = np.concatenate([run(model, x[i:i + batch]) for i in range(0, n, batch)])
    pasted = np.concatenate([run(conv, canvas[i:i + batch])[:, :, 4, 4]
                             for i in range(0, n, batch)])
    d = np.abs(alone - pasted).max(axis=1)
    return (d.max(), np.median(d), (alone.argmax(1) == pasted.argmax(1)).mean(),
            (alone.argmax(1) == y).mean(), (pasted.argmax(1) == y).mean())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[112, 224])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=256, help="windows per batch (windows method)")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--digits", type=int, default=1000,
                    help="test digits for the alone-vs-pasted comparison (0: skip)")
    args = ap.parse_args(argv)
    for s in args.sizes:
        if s < WIN or (s - WIN) % STRIDE:
            ap.error(f"canvas size {s}: need >= {WIN} and (size - {WIN}) divisible by {STRIDE}")

    model, source = load_model(args.checkpoint)
    conv = mt.fc_to_conv(model, (1, WIN, WIN))
    rng = np.random.default_rng(args.seed)
    from minitorch_cnn.data import MNIST
    test = MNIST(train=False)
    pick = rng.permutation(len(test.images))[:64]
    digits, labels = test.images[pick, 0], test.labels[pick]
    threads = {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
               if k in os.environ}
    print(f"model: {source}; windows {WIN}x{WIN} at stride {STRIDE}; BLAS threads: "
          f"{threads or 'default'}")

    f1, h1 = macs_split(model, (1, WIN, WIN))
    print(f"per window: features {f1 / 1e6:.2f} M MACs, head {h1 / 1e6:.2f} M MACs "
          f"(the head's first layer alone: {model.head[1].in_features * 128 / 1e6:.2f} M)\n")
    for size in args.sizes:
        canvas, placed = make_canvas(size, digits, labels, test.background, rng)
        n = ((size - WIN) // STRIDE + 1) ** 2
        run(conv, canvas)                                    # warm-up (scratch buffers)
        t_conv, out_conv = best_time(lambda: run(conv, canvas), args.repeats)
        t_win, out_win = best_time(lambda: windows_pass(model, canvas, args.batch), args.repeats)
        assert out_conv.shape == out_win.shape, (out_conv.shape, out_win.shape)

        fc, hc = macs_split(conv, (1, size, size))
        macs_win, macs_conv = n * (f1 + h1), fc + hc
        diff = np.abs(out_conv - out_win)
        agree = (out_conv.argmax(1) == out_win.argmax(1)).mean()
        rows, cols, truth = (np.array(v) for v in zip(*placed))
        on_c, on_w = out_conv[0, :, rows, cols], out_win[0, :, rows, cols]     # (digits, 10)
        print(f"== canvas {size}x{size}: {len(placed)} digits, {n} windows "
              f"({int(np.sqrt(n))}x{int(np.sqrt(n))} outputs)")
        print(f"  time      windows {t_win * 1e3:8.1f} ms   conv {t_conv * 1e3:8.1f} ms   "
              f"speed-up {t_win / t_conv:5.1f}x")
        crops = np.lib.stride_tricks.sliding_window_view(canvas[0, 0], (WIN, WIN))
        crops = crops[::STRIDE, ::STRIDE].reshape(-1, 1, WIN, WIN)
        wf, wh = split_time(model, crops, args.batch, args.repeats)
        cf, ch = split_time(conv, canvas, 1, args.repeats)
        print(f"    features: windows {wf * 1e3:8.1f} ms   conv {cf * 1e3:8.1f} ms   "
              f"-> {wf / cf:5.1f}x")
        print(f"    head    : windows {wh * 1e3:8.1f} ms   conv {ch * 1e3:8.1f} ms   "
              f"-> {wh / ch:5.1f}x")
        print(f"  MACs      windows {macs_win / 1e6:8.1f} M   conv {macs_conv / 1e6:8.1f} M   "
              f"ratio    {macs_win / macs_conv:5.1f}x")
        print(f"    features: windows {n * f1 / 1e6:8.1f} M vs conv {fc / 1e6:6.1f} M -> "
              f"{n * f1 / fc:5.1f}x (shared by overlapping windows)")
        print(f"    head    : windows {n * h1 / 1e6:8.1f} M vs conv {hc / 1e6:6.1f} M -> "
              f"{n * h1 / hc:5.2f}x (not shareable: each window's own 7x7x112 dot products)")
        print(f"  outputs   max |logit diff| {diff.max():.3g}  (median {np.median(diff):.3g}, "
              f"logits up to {np.abs(out_win).max():.3g}); argmax agrees on {agree:.1%} of "
              f"windows")
        print(f"    on the {len(placed)} windows holding exactly one digit: max |logit diff| "
              f"{np.abs(on_c - on_w).max():.3g}, argmax agrees "
              f"{(on_c.argmax(1) == on_w.argmax(1)).mean():.0%}, correct: conv "
              f"{(on_c.argmax(1) == truth).mean():.0%}, windows "
              f"{(on_w.argmax(1) == truth).mean():.0%}")
        print(f"    (not within 1e-4: the model pads, a lone window sees zeros where the canvas "
              f"has real pixels)\n")

    for name, fill in (("black background", test.background), ("the padding value 0", 0.0)):
        if args.digits:
            dmax, dmed, agree, acc_a, acc_p = digits_alone_vs_pasted(
                model, conv, test, args.digits, fill, args.batch)
            print(f"{args.digits} test digits alone vs pasted on a 60x60 canvas of {name}: "
                  f"max |logit diff| {dmax:.3g}, median {dmed:.3g}; argmax agrees "
                  f"{agree:.1%}; accuracy alone {acc_a:.1%}, pasted {acc_p:.1%}")


if __name__ == "__main__":
    mt.keep_freed_memory()     # as the training CLI does (docs/performance.md)
    main()
