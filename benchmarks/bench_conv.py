"""Benchmark conv2d forward+backward (float32) on the Inception-lite shapes.

    python benchmarks/bench_conv.py [--repeats 7]

For every shape it prints the median time of one forward + backward (gradients for x, W and b)
and three ratios:

  /limit   against the limit of the im2col design: three plain numpy float32 matrix multiplies of
           the im2col sizes  M = N*OH*OW, K = C/groups*KH*KW, O = C_out, on contiguous arrays:
           forward (M,K)@(K,O), dW (K,M)@(M,O), dX (M,O)@(O,K).  Everything we do on top of them
           (padding, the im2col copy, col2im, per-image multiplies) shows up here.
  /torch   against torch.nn.functional.conv2d on the same shapes (if torch is importable).
  gen/1x1  for 1x1 kernels: the forced im2col path divided by the 1x1 fast path.

Both sides are measured in the same process, interleaved, so machine load hits both alike.
"""
import argparse
import time

import numpy as np

import minitorch_cnn as mt
from minitorch_cnn.nn import functional as F
from minitorch_cnn.nn.functional.conv import conv2d_general

# (name, N, C_in, C_out, kernel, H=W, padding)  -- padding keeps the spatial size
SHAPES = [
    ("1->32 3x3 @28", 128, 1, 32, 3, 28, 1),
    ("16->24 3x3 @14", 128, 16, 24, 3, 14, 1),
    ("24->48 3x3 @14", 128, 24, 48, 3, 14, 1),
    ("8->16 5x5 @14", 128, 8, 16, 5, 14, 2),
    ("56->32 1x1 @14", 128, 56, 32, 1, 14, 0),
    ("256->64 1x1 @28", 64, 256, 64, 1, 28, 0),
]


def median_time(fn, repeats):
    fn()                                             # warmup (allocations, BLAS threads)
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def ours(conv, x, w, b, g, padding):
    def run():
        X, W, B = (mt.tensor(a, requires_grad=True) for a in (x, w, b))
        conv(X, W, B, padding=padding).backward(g)
    return run


def gemm_limit(N, C, O, k, S, rng):
    M, K = N * S * S, C * k * k
    A = rng.standard_normal((M, K), dtype=np.float32)
    At = rng.standard_normal((K, M), dtype=np.float32)
    B = rng.standard_normal((K, O), dtype=np.float32)
    G = rng.standard_normal((M, O), dtype=np.float32)
    Bt = rng.standard_normal((O, K), dtype=np.float32)

    def run():
        A @ B                                        # forward
        At @ G                                       # dW
        G @ Bt                                       # dX columns
    return run


def torch_run(torch, x, w, b, g, padding):
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    tg = torch.tensor(g)

    def run():
        for t in (tx, tw, tb):
            t.grad = None
        torch.nn.functional.conv2d(tx, tw, tb, padding=padding).backward(tg)
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    print(f"{'shape':<17}{'ours ms':>9}{'limit ms':>10}{'/limit':>8}{'torch ms':>10}{'/torch':>8}"
          f"{'gen ms':>9}{'gen/1x1':>9}")
    for name, N, C, O, k, S, p in SHAPES:
        x = rng.standard_normal((N, C, S, S), dtype=np.float32)
        w = rng.standard_normal((O, C, k, k), dtype=np.float32) * 0.1
        b = rng.standard_normal(O, dtype=np.float32)
        g = rng.standard_normal((N, O, S, S), dtype=np.float32)
        t_ours = median_time(ours(F.conv2d, x, w, b, g, p), args.repeats)
        t_lim = median_time(gemm_limit(N, C, O, k, S, rng), args.repeats)
        row = f"{name:<17}{t_ours * 1e3:9.2f}{t_lim * 1e3:10.2f}{t_ours / t_lim:8.2f}"
        if torch is not None:
            t_torch = median_time(torch_run(torch, x, w, b, g, p), args.repeats)
            row += f"{t_torch * 1e3:10.2f}{t_ours / t_torch:8.2f}"
        else:
            row += f"{'-':>10}{'-':>8}"
        if k == 1:
            t_gen = median_time(ours(conv2d_general, x, w, b, g, p), args.repeats)
            row += f"{t_gen * 1e3:9.2f}{t_gen / t_ours:9.2f}"
        print(row, flush=True)
    print("targets: 1x1 /limit <= 1.25, kxk /limit <= 2.5, gen/1x1 >= 3")


if __name__ == "__main__":
    mt.keep_freed_memory()     # as the training CLI does (docs/performance.md)
    main()
