"""Old and new code side by side in ONE process: forward + backward of the cases of
bench_conv.py, bench_layers.py and bench_training.py, interleaved ABBA, min and median ratios.

    python benchmarks/ab_old_new.py /path/to/old/checkout [conv|layers|training|all]
    python benchmarks/ab_old_new.py /path/to/old/checkout torch   # bench_layers' cases: old,
                                   # new and PyTorch interleaved, old/torch and new/torch ratios

The old checkout's package is copied to a temporary directory under the name ``mtold`` (its
imports are relative), so both versions load in this process and share its load and allocator.
"""
import shutil
import sys
import time

import numpy as np

from bench_conv import SHAPES, import_old     # this script's folder is on sys.path

mtold, _tmp = import_old(sys.argv[1])
import minitorch_cnn as mtnew                  # noqa: E402
from minitorch_cnn.data import MNIST           # noqa: E402

mtnew.keep_freed_memory()                      # process-wide: both versions run with it

def fb(mt, kind, args):
    F = mt.nn.functional
    def run():
        if kind == "conv":
            x, w, b, pad = args
            X = mt.tensor(x, requires_grad=True); W = mt.tensor(w, requires_grad=True)
            B = mt.tensor(b, requires_grad=True)
            F.conv2d(X, W, B, padding=pad).sum().backward()
        elif kind == "pool":
            x, fn, a = args
            X = mt.tensor(x, requires_grad=True)
            getattr(F, fn)(X, *a).sum().backward()
        elif kind == "relu":
            x, = args
            F.relu(mt.tensor(x, requires_grad=True)).sum().backward()
        else:
            x, = args
            X = mt.tensor(x, requires_grad=True)
            C = x.shape[1]
            g = mt.tensor(np.ones(C, np.float32), requires_grad=True)
            bb = mt.tensor(np.zeros(C, np.float32), requires_grad=True)
            F.batch_norm(X, np.zeros(C, np.float32), np.ones(C, np.float32), g, bb,
                         training=True).sum().backward()
    return run

def ab(name, mk, reps):
    fo, fn = mk(mtold), mk(mtnew)
    fo(); fn()
    to, tn = [], []
    for k in range(reps):                      # ABBA: neither side always runs first
        for f, ts in (((fo, to), (fn, tn)) if k % 2 == 0 else ((fn, tn), (fo, to))):
            t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    o, n = min(to), min(tn)
    mo, mn = np.median(to), np.median(tn)
    print(f"| {name:<36} | {o*1e3:8.1f} | {n*1e3:8.1f} | {n/o:5.2f} | {mn/mo:5.2f} |", flush=True)
    return n / o

rng = np.random.default_rng(0)
r = lambda *s: rng.standard_normal(s).astype(np.float32)
which = sys.argv[2] if len(sys.argv) > 2 else "all"
if which != "torch":
    print("| case | old ms (min) | new ms (min) | new/old (min) | new/old (median) |\n"
          "|---|---:|---:|---:|---:|")
ratios = []
if which in ("all", "conv"):       # bench_conv.py's Inception-lite shapes and batch sizes
    for (name, N, ci, co, k, hw, pad) in SHAPES:
        args = (r(N, ci, hw, hw), r(co, ci, k, k) * 0.1, r(co), pad)
        ratios.append(ab(f"conv {name}", lambda mt, a=args: fb(mt, "conv", a), 7))
if which in ("all", "layers"):     # bench_layers.py's cases
    for shape in [(128, 56, 14, 14), (128, 32, 28, 28)]:
        x = r(*shape)
        for fn, a in [("max_pool2d", (2,)), ("max_pool2d", (3, 1, 1)), ("avg_pool2d", (3, 1, 1))]:
            ratios.append(ab(f"{fn}{a} {shape}", lambda mt, x=x, fn=fn, a=a: fb(mt, "pool", (x, fn, a)), 9))
        ratios.append(ab(f"batch_norm(train) {shape}", lambda mt, x=x: fb(mt, "bn", (x,)), 9))
        ratios.append(ab(f"relu {shape}", lambda mt, x=x: fb(mt, "relu", (x,)), 9))
if which in ("all", "training"):   # bench_training.py's step: InceptionLite, batch 128, Adam
    data = MNIST(train=True)
    xs, ys = data.images[:128], data.labels[:128]
    def trainer(mt):
        np.random.seed(0)
        model = mt.models.InceptionLite(); model.train()
        opt = mt.optim.Adam(model.parameters(), lr=1e-3)
        F = mt.nn.functional
        def step():
            loss = F.cross_entropy(model(mt.tensor(xs)), mt.tensor(ys))
            opt.zero_grad(); loss.backward(); opt.step()
        return step
    ratios.append(ab("training step (InceptionLite, 128)", trainer, 8))
if which == "torch":                # bench_layers.py's cases against PyTorch, in rotation
    import torch
    torch.set_num_threads(2)
    TF = torch.nn.functional

    def layer(mt, name, x):
        F = mt.nn.functional
        C = x.shape[1]
        def run():
            X = mt.from_numpy(x).requires_grad_()           # shares memory, as from_numpy below
            if name == "batch_norm(train)":
                y = F.batch_norm(X, np.zeros(C, np.float32), np.ones(C, np.float32),
                                 mt.ones(C, requires_grad=True), mt.zeros(C, requires_grad=True),
                                 training=True)
            else:
                y = {"max_pool2d(2)": lambda: F.max_pool2d(X, 2), "relu": lambda: F.relu(X),
                     "max_pool2d(3,1,1)": lambda: F.max_pool2d(X, 3, 1, 1),
                     "avg_pool2d(3,1,1)": lambda: F.avg_pool2d(X, 3, 1, 1)}[name]()
            y.backward(np.ones(y.shape, np.float32))
        return run

    def torch_layer(name, x):
        C = x.shape[1]
        def run():
            X = torch.from_numpy(x).requires_grad_(True)
            if name == "batch_norm(train)":
                y = TF.batch_norm(X, torch.zeros(C), torch.ones(C), torch.ones(C, requires_grad=True),
                                  torch.zeros(C, requires_grad=True), training=True)
            else:
                y = {"max_pool2d(2)": lambda: TF.max_pool2d(X, 2), "relu": lambda: TF.relu(X),
                     "max_pool2d(3,1,1)": lambda: TF.max_pool2d(X, 3, 1, 1),
                     "avg_pool2d(3,1,1)": lambda: TF.avg_pool2d(X, 3, 1, 1)}[name]()
            y.backward(torch.ones_like(y))
        return run

    print("| case | old/torch | new/torch | old ms | new ms | torch ms |\n|---|---:|---:|---:|---:|---:|")
    for shape in [(128, 56, 14, 14), (128, 32, 28, 28)]:
        x = r(*shape)
        for name in ["max_pool2d(2)", "max_pool2d(3,1,1)", "avg_pool2d(3,1,1)",
                     "batch_norm(train)", "relu"]:
            fs = [layer(mtold, name, x), layer(mtnew, name, x), torch_layer(name, x)]
            ts = [[], [], []]
            for f in fs:
                f()
            for k in range(12):                         # rotate: no side always runs first
                for j in range(3):
                    i = (j + k) % 3
                    t = time.perf_counter(); fs[i](); ts[i].append(time.perf_counter() - t)
            o, n, t = (min(v) for v in ts)
            print(f"| {name} {shape} | {o/t:.2f} | {n/t:.2f} | {o*1e3:.2f} | {n*1e3:.2f} | "
                  f"{t*1e3:.2f} |", flush=True)
if ratios:
    print(f"geometric mean new/old (min): {np.exp(np.mean(np.log(ratios))):.3f}")
shutil.rmtree(_tmp, ignore_errors=True)
