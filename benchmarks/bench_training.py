"""Training speed of Inception-lite: minitorch_cnn against the identical PyTorch model (CPU).

Both train the same architecture (minitorch_cnn.models.torch_twin), batch 128, Adam, on the same
real MNIST batches, in the same process, one after the other.  Reports seconds per batch, the
extrapolated epoch time (469 batches), their ratio, and minitorch_cnn's peak resident memory.

    python benchmarks/bench_training.py              # 30 timed batches each (after 3 warm-up)
    python benchmarks/bench_training.py --batches 469  # a whole epoch each
"""
import argparse
import resource
import time

import numpy as np

import minitorch_cnn as mt
from minitorch_cnn.data import MNIST
from minitorch_cnn.models import InceptionLite
from minitorch_cnn.nn import functional as F


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024     # Linux: kilobytes


def batches(n, batch_size, seed=0):
    data = MNIST(train=True)
    order = np.random.default_rng(seed).permutation(len(data))
    for k in range(n):
        idx = order[(k * batch_size) % len(data):][:batch_size]
        yield data.images[idx], data.labels[idx]


def median_step_time(step, data, warmup):
    """Median seconds of ``step(x, y) -> loss`` over ``data``, after ``warmup`` batches."""
    times = []
    for k, (x, y) in enumerate(data):
        t = time.perf_counter()
        loss = step(x, y)
        if k >= warmup:
            times.append(time.perf_counter() - t)
    return np.median(times), float(loss)


def time_ours(data, warmup):
    np.random.seed(0)
    model = InceptionLite()
    opt = mt.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def step(x, y):
        loss = F.cross_entropy(model(mt.tensor(x)), mt.tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    return median_step_time(step, data, warmup)


def time_torch(data, warmup):
    import torch
    from minitorch_cnn.models.torch_twin import torch_inception_lite
    torch.manual_seed(0)
    model = torch_inception_lite()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def step(x, y):
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)),
                                                 torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    return median_step_time(step, data, warmup)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batches", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--warmup", type=int, default=3)
    args = p.parse_args()
    data = list(batches(args.batches + args.warmup, args.batch_size))
    per_epoch = -(-60000 // args.batch_size)
    ours, loss = time_ours(data, args.warmup)
    rss = peak_rss_mb()
    print(f"minitorch_cnn: {ours * 1000:7.1f} ms/batch  -> {ours * per_epoch:6.1f} s/epoch "
          f"(last loss {loss:.3f}); peak RSS {rss:.0f} MB")
    try:
        import torch  # noqa: F401
    except ImportError:
        print("torch not installed: no comparison")
        return
    theirs, tloss = time_torch(data, args.warmup)
    print(f"torch (CPU):   {theirs * 1000:7.1f} ms/batch  -> {theirs * per_epoch:6.1f} s/epoch "
          f"(last loss {tloss:.3f})")
    print(f"ratio minitorch_cnn / torch: {ours / theirs:.2f}x  (target <= 2x)")


if __name__ == "__main__":
    mt.keep_freed_memory()     # as the training CLI does (docs/performance.md)
    main()
