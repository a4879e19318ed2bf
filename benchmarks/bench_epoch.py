"""One epoch of the training command against the same loop in PyTorch (CPU), side by side.

minitorch_cnn runs the training command's own pieces: its DataLoader (shuffled, random
translations of up to 2 px), Adam with the cosine schedule stepped per batch,
``cli.train.train_one_epoch`` (tqdm bar, loss and accuracy bookkeeping) and ``cli.train.evaluate``
on the 10,000 test images.  PyTorch runs the identical model (``models.torch_twin``) on the *same*
batches from the same loader (numpy arrays handed over with ``torch.from_numpy``), with
``torch.optim.Adam`` and ``CosineAnnealingLR``, then evaluates the test set in batches of 1000.
The data pipeline is the same code for both, so the ratio measures the framework.

    python benchmarks/bench_epoch.py                   # a whole epoch each (469 batches + test)
    python benchmarks/bench_epoch.py --limit 12800     # a tenth of the training set: quicker

Prints seconds per epoch (training part, test part, total) for each and their ratios.
"""
import argparse
import time

import numpy as np

import minitorch_cnn as mt
from minitorch_cnn.cli.train import evaluate, train_one_epoch
from minitorch_cnn.data import MNIST, DataLoader, RandomTranslate
from minitorch_cnn.models import InceptionLite


def data(limit):
    train, test = MNIST(train=True), MNIST(train=False)
    if limit:
        train = train.subset(np.arange(min(limit, len(train))))
    return train, test


def loader_of(train, batch_size, seed=0):
    return DataLoader(train, batch_size=batch_size, shuffle=True, seed=seed,
                      transform=RandomTranslate(2))


def epoch_ours(train, test, batch_size):
    np.random.seed(0)
    model = InceptionLite()
    loader = loader_of(train, batch_size)
    opt = mt.optim.Adam(model.parameters(), lr=1e-3)
    sched = mt.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=3 * len(loader))
    t0 = time.perf_counter()
    train_one_epoch(model, loader, opt, sched, "minitorch_cnn")
    t1 = time.perf_counter()
    acc, _ = evaluate(model, test)
    return t1 - t0, time.perf_counter() - t1, acc


def epoch_torch(train, test, batch_size):
    import torch
    from tqdm import tqdm
    from minitorch_cnn.models.torch_twin import torch_inception_lite
    torch.manual_seed(0)
    model = torch_inception_lite()
    loader = loader_of(train, batch_size)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=3 * len(loader))
    F = torch.nn.functional
    t0 = time.perf_counter()
    model.train()
    total, correct, seen = 0.0, 0, 0
    bar = tqdm(loader, desc="torch", leave=False, dynamic_ncols=True)
    for x, y in bar:                                   # the same bookkeeping as train_one_epoch
        xb, yb = torch.from_numpy(x.data), torch.from_numpy(y.data)
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        total += loss.item() * len(yb)
        correct += int((logits.detach().argmax(1) == yb).sum())
        seen += len(yb)
        bar.set_postfix(loss=f"{total / seen:.4f}", acc=f"{correct / seen:.4f}")
    t1 = time.perf_counter()
    model.eval()
    preds = []
    with torch.no_grad():
        for x, _ in tqdm(DataLoader(test, batch_size=1000), desc="torch test", leave=False):
            preds.append(model(torch.from_numpy(x.data)).argmax(1).numpy())
    acc = float((np.concatenate(preds) == test.labels).mean())
    return t1 - t0, time.perf_counter() - t1, acc


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--limit", type=int, default=None, help="training images (default: all 60,000)")
    p.add_argument("--batch-size", type=int, default=128)
    args = p.parse_args(argv)
    mt.keep_freed_memory()                      # as the training command does
    train, test = data(args.limit)
    print(f"one epoch: {len(train)} training images, batch {args.batch_size}, then "
          f"{len(test)} test images; threads: minitorch_cnn {mt.get_num_threads()}, "
          f"torch {torch_threads()}")
    ours = epoch_ours(train, test, args.batch_size)
    theirs = epoch_torch(train, test, args.batch_size)
    print(f"{'':16}{'train s':>9}{'test s':>9}{'total s':>9}{'test acc':>10}")
    for name, (tr, te, acc) in (("minitorch_cnn", ours), ("PyTorch CPU", theirs)):
        print(f"{name:16}{tr:9.1f}{te:9.1f}{tr + te:9.1f}{acc:10.4f}")
    print(f"{'ratio':16}{ours[0] / theirs[0]:8.2f}x{ours[1] / theirs[1]:8.2f}x"
          f"{(ours[0] + ours[1]) / (theirs[0] + theirs[1]):8.2f}x")


def torch_threads():
    import torch
    return torch.get_num_threads()


if __name__ == "__main__":
    main()
