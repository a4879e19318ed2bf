"""Per-op overhead of the framework against raw numpy (and torch, when installed).

Two cases, each forward + backward:
  * a small element-wise op: c = a * b on 16x16 float32, then c.backward(ones)
    (numpy's own work: one multiply forward, two multiplies backward);
  * a 256x256 float32 matmul: C = A @ B, then C.backward(ones)
    (numpy's own work: three matrix multiplies).
For the small op the difference "ours - numpy" is the bookkeeping cost of autograd per op.

    python benchmarks/bench_overhead.py
"""
import operator
import timeit

import numpy as np

import minitorch_cnn as mt

try:
    import torch
    torch.set_num_threads(2)
except ImportError:  # torch is an optional oracle
    torch = None


def best(fn, number):
    return min(timeit.repeat(fn, number=number, repeat=7)) / number


def bench_case(name, shape_a, shape_b, op, number):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(shape_a).astype(np.float32)
    b = rng.standard_normal(shape_b).astype(np.float32)
    g = np.ones(op(a, b).shape, np.float32)

    def numpy_work():
        op(a, b)
        if op is operator.mul:
            g * b, g * a
        else:
            g @ b.T, a.T @ g

    ta, tb = mt.tensor(a, requires_grad=True), mt.tensor(b, requires_grad=True)

    def ours():
        ta.grad = tb.grad = None
        op(ta, tb).backward(g)

    rows = {"numpy": best(numpy_work, number), "minitorch_cnn": best(ours, number)}
    if torch is not None:
        xa = torch.tensor(a, requires_grad=True)
        xb = torch.tensor(b, requires_grad=True)
        xg = torch.tensor(g)

        def theirs():
            xa.grad = xb.grad = None
            op(xa, xb).backward(xg)
        rows["torch"] = best(theirs, number)
    base = rows["numpy"]
    print(f"\n{name}")
    for k, t in rows.items():
        print(f"  {k:14s} {t * 1e6:9.2f} us   {t / base:6.2f}x numpy")
    over = (rows["minitorch_cnn"] - base) * 1e6
    print(f"  autograd overhead over numpy: {over:.2f} us per op (forward + backward)")
    if torch is not None:
        print(f"  minitorch_cnn / torch: {rows['minitorch_cnn'] / rows['torch']:.2f}x")
    return rows


if __name__ == "__main__":
    mt.keep_freed_memory()
    bench_case("elementwise a * b, 16x16, forward + backward", (16, 16), (16, 16),
               operator.mul, 20000)
    bench_case("matmul A @ B, 256x256, forward + backward", (256, 256), (256, 256),
               operator.matmul, 200)
