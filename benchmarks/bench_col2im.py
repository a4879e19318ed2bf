"""The input gradient of the k x k convs, dx = col2im(W^T @ g), by its two kernels, side by side.

    python benchmarks/bench_col2im.py [--repeats 9]

  strided  dcol = W^T @ g stored whole, then ``col2im``'s KH*KW strided adds of OW-long rows
  flat     ``col2im_flat``: g spread to the padded size, per kernel offset one product added as
           one flat run (what ``conv2d`` uses for stride 1 when K > O and the weights are finite)

Both include the unpadding copy to NCHW; float32, Inception-lite's shapes, batch 128.  Medians,
the two interleaved in blocks.  See docs/performance.md.
"""
import argparse

import numpy as np

import minitorch_cnn as mt
from minitorch_cnn.kernels import conv as kc

from bench_conv import interleaved_medians     # this script's folder is on sys.path

SHAPES = [(128, 1, 32, 3, 28, 1), (128, 16, 24, 3, 14, 1), (128, 24, 48, 3, 14, 1),
          (128, 8, 16, 5, 14, 2), (128, 8, 8, 5, 14, 2)]     # (N, C, O, k, H=W, padding)


def strided(wm, g, gm, x_shape, p, k):
    N, C, H, W = x_shape
    dcol = np.matmul(wm.transpose(0, 2, 1), gm).reshape(C, k, k, N, H, W)
    dxp = kc.col2im(dcol, (N, C, H + 2 * p, W + 2 * p), (1, 1), (1, 1))
    return np.ascontiguousarray(dxp[:, :, p:p + H, p:p + W])


def flat(wm, g, gm, x_shape, p, k):
    N, C, H, W = x_shape
    return kc.batch_first(kc.col2im_flat(wm, g, ((p, p), (p, p)), x_shape, k, k, (1, 1)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'N, C, O, k, H, pad':<26}{'strided ms':>11}{'flat ms':>9}{'flat/strided':>14}")
    for N, C, O, k, S, p in SHAPES:
        wm = rng.standard_normal((1, O, C * k * k), dtype=np.float32)
        g = rng.standard_normal((N, O, S, S), dtype=np.float32)
        gm = kc.channels_first(g).reshape(1, O, N * S * S)
        fns = {"strided": strided, "flat": flat}
        np.testing.assert_allclose(flat(wm, g, gm, (N, C, S, S), p, k),
                                   strided(wm, g, gm, (N, C, S, S), p, k), rtol=1e-4, atol=1e-3)
        med = interleaved_medians({n: (lambda f=f: f(wm, g, gm, (N, C, S, S), p, k))
                                   for n, f in fns.items()}, args.repeats)
        a, b = (med[n] * 1e3 for n in ("strided", "flat"))
        print(f"{str((N, C, O, k, S, p)):<26}{a:11.2f}{b:9.2f}{b / a:14.2f}", flush=True)


if __name__ == "__main__":
    mt.keep_freed_memory()     # as the training CLI does (docs/performance.md)
    main()
