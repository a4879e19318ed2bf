"""Forward + backward time of the pooling and batch-norm layers, against PyTorch when installed.

Shapes are those of the Inception-style MNIST network in training (batch 128, float32):

    max_pool2d(x, 2)          the tiling fast path (reshape, no padding)
    max_pool2d(x, 3, 1, 1)    Inception's overlapping 3x3 stride-1 pool
    avg_pool2d(x, 3, 1, 1)
    batch_norm(training=True) on (N, C, H, W)
    relu(x)

for x of shape 128 x 56 x 14 x 14 and 128 x 32 x 28 x 28.  torch runs with 2 threads, the machine
this project targets; ours with ``mt.get_num_threads()`` threads (``MINITORCH_CNN_NUM_THREADS``).
Ratio = ours / torch (lower is better).

    python benchmarks/bench_layers.py
"""
import timeit

import numpy as np

import minitorch_cnn as mt
from minitorch_cnn.nn import functional as F

try:
    import torch
    torch.set_num_threads(2)
except ImportError:  # torch is an optional oracle
    torch = None


def best(fn, number=3, repeat=5):
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def ours_step(op, a):
    x = mt.from_numpy(a).requires_grad_()      # shares a's memory, as torch.from_numpy below
    y = op(x)
    y.backward(np.ones(y.shape, np.float32))


def torch_step(op, a):
    x = torch.from_numpy(a).requires_grad_(True)
    y = op(x)
    y.backward(torch.ones_like(y))


def main():
    TF = torch.nn.functional if torch is not None else None
    C_bn = {}

    def bn_ours(x):
        C = x.shape[1]
        rm, rv = C_bn.setdefault(("o", C), (np.zeros(C, np.float32), np.ones(C, np.float32)))
        w = mt.ones(C, requires_grad=True)
        b = mt.zeros(C, requires_grad=True)
        return F.batch_norm(x, rm, rv, w, b, training=True)

    def bn_torch(x):
        C = x.shape[1]
        rm, rv = C_bn.setdefault(("t", C), (torch.zeros(C), torch.ones(C)))
        w = torch.ones(C, requires_grad=True)
        b = torch.zeros(C, requires_grad=True)
        return TF.batch_norm(x, rm, rv, w, b, training=True)

    cases = [
        ("max_pool2d(2)", lambda x: F.max_pool2d(x, 2),
         TF and (lambda x: TF.max_pool2d(x, 2))),
        ("max_pool2d(3,1,1)", lambda x: F.max_pool2d(x, 3, 1, 1),
         TF and (lambda x: TF.max_pool2d(x, 3, 1, 1))),
        ("avg_pool2d(3,1,1)", lambda x: F.avg_pool2d(x, 3, 1, 1),
         TF and (lambda x: TF.avg_pool2d(x, 3, 1, 1))),
        ("batch_norm(train)", bn_ours, TF and bn_torch),
        ("relu", F.relu, TF and TF.relu),
    ]
    shapes = [(128, 56, 14, 14), (128, 32, 28, 28)]
    print(f"{'op':20s} {'shape':18s} {'ours ms':>9s} {'torch ms':>9s} {'ratio':>6s}")
    for shape in shapes:
        a = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        for name, ours, theirs in cases:
            t_ours = best(lambda: ours_step(ours, a))
            line = f"{name:20s} {str(shape):18s} {t_ours * 1e3:9.2f}"
            if theirs:
                t_torch = best(lambda: torch_step(theirs, a))
                line += f" {t_torch * 1e3:9.2f} {t_ours / t_torch:6.2f}"
            print(line)


if __name__ == "__main__":
    mt.keep_freed_memory()     # as the training CLI does (docs/performance.md)
    main()
