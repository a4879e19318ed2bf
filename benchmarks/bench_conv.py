"""Benchmark conv2d forward+backward (float32) on the Inception-lite shapes.

    python benchmarks/bench_conv.py [--repeats 7] [--old /path/to/old/checkout]

For every shape it prints the median time of one forward + backward (gradients for x, W and b)
and these ratios:

  /limit   against the limit of the im2col design: three plain numpy float32 matrix multiplies of
           the im2col sizes  M = N*OH*OW, K = C/groups*KH*KW, O = C_out, on contiguous arrays:
           forward (O,K)@(K,M), dW (O,M)@(M,K), dX (K,O)@(O,M).  Each is timed in both
           orientations (the product or its transpose, e.g. (M,K)@(K,O) for the forward) and the
           faster one counts, so no layout of ours can beat the limit by BLAS's taste alone.
           Everything we do on top of them (padding, im2col, col2im, the NCHW transposes, the
           bias) shows up here.
  /torch   against torch.nn.functional.conv2d on the same shapes (if torch is importable).
  gen/1x1  for 1x1 kernels: the forced im2col path divided by the 1x1 path (information only:
           for a 1x1 kernel the general path is the same GEMMs plus one copy).
  old      with --old: the same forward + backward by the package of another checkout (copied
           under the name ``mtold``), its ms and its ratios to the same limit and torch runs.

All runners of a shape are timed interleaved -- a few calls of each in turn, the order rotating,
in three rounds -- so machine load hits them alike; the limit's and torch's medians are shared
by new and old.
"""
import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

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
TARGETS = "targets: 1x1 /limit <= 1.6 and /torch <= 1.0; kxk /limit <= 2.2 (gen/1x1: information)"


def interleaved_medians(runners, repeats, rounds=3):
    """{name: median seconds} of each runner: ``rounds`` rounds, the order rotating, in which each
    runner makes one untimed call and then ceil(repeats / rounds) timed ones.  (Blocks, not
    single calls: BLAS's and torch's threads keep spinning a while after a call, and would slow
    whichever runner came right after the other library.)"""
    names = list(runners)
    per_round = -(-repeats // rounds)
    times = {n: [] for n in names}
    for r in range(rounds):
        for n in names[r % len(names):] + names[:r % len(names)]:
            runners[n]()                             # warmup: allocations, threads, caches
            for _ in range(per_round):
                t0 = time.perf_counter()
                runners[n]()
                times[n].append(time.perf_counter() - t0)
    return {n: float(np.median(t)) for n, t in times.items()}


def ours(mt_, conv, x, w, b, g, padding):
    def run():
        X, W, B = (mt_.tensor(a, requires_grad=True) for a in (x, w, b))
        conv(X, W, B, padding=padding).backward(g)
    return run


def gemm_products(N, C, O, k, S, rng):
    """Both orientations of the three im2col products, as {name: runner}."""
    M, K = N * S * S, C * k * k
    r = lambda *s: rng.standard_normal(s, dtype=np.float32)             # noqa: E731
    a = dict(OK=r(O, K), KM=r(K, M), MK=r(M, K), KO=r(K, O), OM=r(O, M), MO=r(M, O))
    pairs = {"fwd": (("OK", "KM"), ("MK", "KO")),      # out (O,M) or its transpose (M,O)
             "dW": (("OM", "MK"), ("KM", "MO")),       # dW (O,K) or (K,O)
             "dX": (("KO", "OM"), ("MO", "OK"))}       # dcol (K,M) or (M,K)
    return {f"{p}{i}": (lambda u=a[l], v=a[rr]: u @ v)
            for p, orients in pairs.items() for i, (l, rr) in enumerate(orients)}


def torch_run(torch, x, w, b, g, padding):
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    tg = torch.tensor(g)

    def run():
        for t in (tx, tw, tb):
            t.grad = None
        torch.nn.functional.conv2d(tx, tw, tb, padding=padding).backward(tg)
    return run


def import_old(path):
    """The package of the checkout at ``path``, imported under the name ``mtold``."""
    tmp = tempfile.mkdtemp()
    shutil.copytree(Path(path) / "minitorch_cnn", Path(tmp) / "mtold",
                    ignore=shutil.ignore_patterns("__pycache__"))
    sys.path.insert(0, tmp)
    import mtold
    return mtold, tmp


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--old", metavar="CHECKOUT", help="also time this checkout's package")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        torch = None
    old, tmp = import_old(args.old) if args.old else (None, None)
    rng = np.random.default_rng(0)
    head = (f"{'shape':<17}{'ours ms':>9}{'limit ms':>10}{'/limit':>8}{'torch ms':>10}"
            f"{'/torch':>8}{'gen ms':>9}{'gen/1x1':>9}")
    if old is not None:
        head += f"{'old ms':>9}{'old/lim':>9}{'old/tch':>9}"
    print(head)
    for name, N, C, O, k, S, p in SHAPES:
        x = rng.standard_normal((N, C, S, S), dtype=np.float32)
        w = rng.standard_normal((O, C, k, k), dtype=np.float32) * 0.1
        b = rng.standard_normal(O, dtype=np.float32)
        g = rng.standard_normal((N, O, S, S), dtype=np.float32)
        runners = {"ours": ours(mt, F.conv2d, x, w, b, g, p)}
        runners.update(gemm_products(N, C, O, k, S, rng))
        if torch is not None:
            runners["torch"] = torch_run(torch, x, w, b, g, p)
        if k == 1:
            runners["gen"] = ours(mt, conv2d_general, x, w, b, g, p)
        if old is not None:
            runners["old"] = ours(old, old.nn.functional.conv2d, x, w, b, g, p)
        t = interleaved_medians(runners, args.repeats)
        t_lim = sum(min(t[f"{p_}0"], t[f"{p_}1"]) for p_ in ("fwd", "dW", "dX"))
        row = f"{name:<17}{t['ours'] * 1e3:9.2f}{t_lim * 1e3:10.2f}{t['ours'] / t_lim:8.2f}"
        row += (f"{t['torch'] * 1e3:10.2f}{t['ours'] / t['torch']:8.2f}" if torch is not None
                else f"{'-':>10}{'-':>8}")
        row += (f"{t['gen'] * 1e3:9.2f}{t['gen'] / t['ours']:9.2f}" if k == 1
                else f"{'':>9}{'':>9}")
        if old is not None:
            row += f"{t['old'] * 1e3:9.2f}{t['old'] / t_lim:9.2f}"
            row += f"{t['old'] / t['torch']:9.2f}" if torch is not None else f"{'-':>9}"
        print(row.rstrip() if old is None else row, flush=True)
    print(TARGETS)
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    mt.keep_freed_memory()     # as the training CLI does (docs/performance.md)
    main()
