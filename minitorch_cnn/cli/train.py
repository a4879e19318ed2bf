"""Train Inception-lite on MNIST: the project's main job.

    python examples/train_inception_mnist.py            # or the console script: minitorch-train
    python examples/train_inception_mnist.py --limit 2000 --epochs 1     # a quick look

Each epoch: one pass over the (shuffled, optionally augmented) training set with a tqdm bar
showing the running loss and accuracy, then an evaluation on the 10,000 test images.  After each
epoch ``--out`` receives, each written atomically:

* ``checkpoint.npz`` -- model, optimizer, scheduler, epoch, metrics and every RNG state, so that
  ``--resume`` continues to exactly the weights an uninterrupted run reaches;
* ``metrics.json``   -- one record per epoch: epoch, train_loss, train_accuracy, test_accuracy,
  seconds;
* ``curves.png``     -- loss and accuracy per epoch.

``--background`` trains an 11-class model for detection on canvases (examples/sliding_window.py):
half of every batch becomes "background" windows (label 10: blank canvas, digits cut by the
window's edge) built on the fly from the batch's own training digits by
``detect.BackgroundMix``; its digit windows carry their own shifts of up to 3 px, so
``--augment`` does not apply.  ``--export FILE`` writes, at the end, the model alone (weights,
arch, num_classes, metrics; no optimizer state): a small file for ``load_model_checkpoint``;
a ``FILE.safetensors`` gets the weights alone, for PyTorch (``safetensors.torch.load_file``).
``--dataset fashion-mnist`` or ``kmnist`` trains on those MNIST-format data sets instead.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

try:
    import resource                   # Unix only: peak memory report
except ImportError:  # pragma: no cover
    resource = None

from .. import optim
from ..autograd import no_grad
from ..data import KMNIST, MNIST, DataLoader, FashionMNIST, RandomTranslate
from ..detect import BackgroundMix, MixedLoader
from ..fileio import atomic_write_text
from ..models import InceptionLite
from ..nn import functional as F
from ..safetensors_io import _require_safetensors, save_safetensors
from ..serialization import load, save
from .checks import existing_file, output_file, positive_float, positive_int
from .plot import draw_curves

ARCH = "InceptionLite"
# the flags that define a run: --resume continues the same run, so they must not change
RUN_FLAGS = ("epochs", "batch_size", "lr", "optimizer", "schedule", "augment", "seed", "limit",
             "background", "dataset")
DATASETS = {"mnist": MNIST, "fashion-mnist": FashionMNIST, "kmnist": KMNIST}


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--epochs", type=positive_int, default=3)
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--lr", type=positive_float, default=None,
                   help="learning rate (default: 1e-3 for adam, 0.05 for sgd)")
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    p.add_argument("--schedule", choices=["cosine", "step", "none"], default="cosine",
                   help="learning-rate schedule, stepped once per batch")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                   help="random translations of up to 2 pixels")
    p.add_argument("--dataset", choices=list(DATASETS), default="mnist",
                   help="which MNIST-format data set to train on")
    p.add_argument("--data-dir", default=None, help="folder with the data set's four IDX files")
    p.add_argument("--out", default="runs/inception_mnist", help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=positive_int, default=None,
                   help="train on the first N images only")
    p.add_argument("--test-limit", type=positive_int, default=None,
                   help="evaluate on the first N test images only")
    p.add_argument("--resume", default=None, help="checkpoint to continue from")
    p.add_argument("--background", action="store_true",
                   help="add an 11th class (10 = background) for detection on canvases")
    p.add_argument("--export", default=None,
                   help="at the end, also write the model alone (no optimizer) to this file; "
                        "NAME.safetensors: the weights only, for PyTorch")
    return p


def make_optimizer(args, params):
    lr = args.lr if args.lr is not None else (1e-3 if args.optimizer == "adam" else 0.05)
    if args.optimizer == "adam":
        return optim.Adam(params, lr=lr)
    return optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)


def make_scheduler(args, opt, steps_per_epoch):
    total = args.epochs * steps_per_epoch
    if args.schedule == "cosine":
        return optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    if args.schedule == "step":
        return optim.lr_scheduler.StepLR(opt, step_size=max(total // 3, 1), gamma=0.1)
    return None


def train_one_epoch(model, loader, opt, sched, desc):
    """One pass over ``loader``; returns (mean loss, accuracy)."""
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    bar = tqdm(loader, desc=desc, leave=False, dynamic_ncols=True)
    for x, y in bar:
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        n = len(y)
        total_loss += loss.item() * n
        correct += int((logits.data.argmax(1) == y.data).sum())
        seen += n
        bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}")
    return total_loss / seen, correct / seen


@no_grad()
def evaluate(model, dataset, batch_size=1000, desc="test"):
    """Accuracy and predictions of ``model`` on a dataset (eval mode: BN running stats)."""
    model.eval()
    preds = []
    for x, _ in tqdm(DataLoader(dataset, batch_size=batch_size), desc=desc, leave=False,
                     dynamic_ncols=True):
        preds.append(model(x).data.argmax(1))
    preds = np.concatenate(preds)
    return float((preds == dataset.labels).mean()), preds


def num_classes_of(args):
    return 11 if getattr(args, "background", False) else 10


def checkpoint_state(model, opt, sched, loader, epoch, metrics, args):
    return {"arch": ARCH, "num_classes": num_classes_of(args), "epoch": epoch,
            "args": vars(args),
            "model": model.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict() if sched is not None else None,
            "loader": loader.state_dict(), "numpy_rng": np.random.get_state(),
            "metrics": metrics}


def load_model_checkpoint(path, num_classes=10):
    """Load a checkpoint's model; a clear ``SystemExit`` message if it is missing or foreign."""
    path = existing_file("checkpoint", path)
    try:
        state = load(path)
    except (ValueError, OSError) as e:
        raise SystemExit(f"error: cannot read checkpoint {path}: {e}")
    if (not isinstance(state, dict) or state.get("arch") != ARCH
            or not isinstance(state.get("model"), dict)):
        raise SystemExit(f"error: {path} is not an {ARCH} checkpoint (arch: "
                         f"{state.get('arch') if isinstance(state, dict) else type(state).__name__})")
    classes = state.get("num_classes", num_classes)
    if type(classes) is not int or classes < 1:
        raise SystemExit(f"error: {path} has an invalid num_classes: {classes!r}")
    model = InceptionLite(num_classes=classes)
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, ValueError, KeyError, TypeError) as e:
        why = str(e)
        why = why if len(why) <= 300 else why[:300] + " ..."   # one line, not a 2 KB key list
        raise SystemExit(f"error: {path} does not match the {ARCH} architecture: {why}")
    return model, state


def check_resumable(path, state, args):
    """``--resume`` continues the *same* run: the checkpoint must be a full training checkpoint
    and the flags that define the run (RUN_FLAGS) must be those it was started with -- a new
    --epochs, say, would silently keep the old learning-rate schedule."""
    needed = ("optimizer", "loader", "numpy_rng", "metrics", "epoch", "args")
    if any(k not in state for k in needed):
        raise SystemExit(f"error: {path} holds a model only (an --export file?), not a training "
                         f"checkpoint; --resume needs the checkpoint.npz of a training run")
    saved = state["args"] if isinstance(state["args"], dict) else {}
    defaults = build_parser()                # a flag an older checkpoint lacks had its default
    diff = [f"--{k.replace('_', '-')} {saved.get(k, defaults.get_default(k))!r} -> "
            f"{getattr(args, k)!r}"
            for k in RUN_FLAGS if saved.get(k, defaults.get_default(k)) != getattr(args, k)]
    if diff:
        raise SystemExit(f"error: --resume continues the run saved in {path}, but these flags "
                         f"differ from it: {'; '.join(diff)}; use the run's own flags, or start "
                         f"a new run without --resume")


def check_outputs(args):
    """Fail now, not after an hour of training, on an output path that cannot be written."""
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise SystemExit(f"error: --out {out} is a file; it must be a folder")
    output_file("export", args.export)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SystemExit(f"error: cannot create --out {out}: {e}")


def run(args):
    """Train as ``args`` says; returns the list of per-epoch metrics."""
    check_outputs(args)
    if args.export and Path(args.export).suffix.lower() == ".safetensors":
        try:
            _require_safetensors()             # fail now, not after the training
        except ImportError as e:
            raise SystemExit(f"error: --export {args.export}: {e}")
    if args.background and args.dataset != "mnist":
        raise SystemExit(f"error: --background builds its windows from MNIST digits; it does "
                         f"not apply to --dataset {args.dataset}")
    out = Path(args.out)
    np.random.seed(args.seed)                  # weight init and dropout masks
    try:
        dataset = DATASETS[args.dataset]
        train_set = dataset(root=args.data_dir, train=True)
        test_set = dataset(root=args.data_dir, train=False)
    except (OSError, RuntimeError, ValueError) as e:
        raise SystemExit(f"error: {e}")
    if args.limit is not None:
        train_set = train_set.subset(np.arange(min(args.limit, len(train_set))))
    if args.test_limit is not None:
        test_set = test_set.subset(np.arange(min(args.test_limit, len(test_set))))
    augment = RandomTranslate(2) if args.augment and not args.background else None
    loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, seed=args.seed,
                        transform=augment)
    if args.background:               # batch k of epoch e mixed with default_rng([seed, e, k])
        loader = MixedLoader(loader, BackgroundMix(), seed=args.seed)
    num_classes = num_classes_of(args)
    model = InceptionLite(num_classes=num_classes)
    opt = make_optimizer(args, model.parameters())
    sched = make_scheduler(args, opt, len(loader))
    metrics, start = [], 0

    if args.resume:
        model, state = load_model_checkpoint(args.resume)
        if int(state.get("num_classes", 10)) != num_classes:
            raise SystemExit(f"error: {args.resume} has {state.get('num_classes', 10)} classes, "
                             f"this run trains {num_classes} (--background: 11)")
        check_resumable(args.resume, state, args)
        opt = make_optimizer(args, model.parameters())
        sched = make_scheduler(args, opt, len(loader))
        opt.load_state_dict(state["optimizer"])
        if sched is not None and state.get("scheduler") is not None:
            sched.load_state_dict(state["scheduler"])
        loader.load_state_dict(state["loader"])
        np.random.set_state(tuple(state["numpy_rng"]))
        metrics, start = list(state["metrics"]), int(state["epoch"])
        print(f"resumed from {args.resume} after epoch {start}")

    print(f"training {ARCH} on {len(train_set)} images, testing on {len(test_set)}; "
          f"{len(loader)} batches of {args.batch_size} per epoch")
    for epoch in range(start + 1, args.epochs + 1):
        t0 = time.perf_counter()
        loss, acc = train_one_epoch(model, loader, opt, sched, f"epoch {epoch}/{args.epochs}")
        test_acc, _ = evaluate(model, test_set)
        seconds = time.perf_counter() - t0
        metrics.append({"epoch": epoch, "train_loss": loss, "train_accuracy": acc,
                        "test_accuracy": test_acc, "seconds": seconds})
        print(f"epoch {epoch}: train loss {loss:.4f}  train acc {acc:.4f}  "
              f"test acc {test_acc:.4f}  ({seconds:.0f} s)")
        save(checkpoint_state(model, opt, sched, loader, epoch, metrics, args),
             out / "checkpoint.npz")
        atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2))
        draw_curves(metrics, out / "curves.png")
    print(f"wrote {out / 'checkpoint.npz'}, {out / 'metrics.json'}, {out / 'curves.png'}; "
          f"peak memory (RSS) {peak_rss_mb():.0f} MB")
    if args.export:
        export_model(model, metrics, args, args.export)
        print(f"wrote {args.export} (model only)")
    return metrics


def export_model(model, metrics, args, path):
    """The model alone -- weights, arch, num_classes, metrics -- for shipping (a few MB).
    A ``.safetensors`` path gets the weights only, under PyTorch's state_dict names."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if Path(path).suffix.lower() == ".safetensors":
        save_safetensors(model.state_dict(), path, metadata={
            "arch": ARCH, "num_classes": str(num_classes_of(args)), "dataset": getattr(args, "dataset", "mnist")})
        return
    save({"arch": ARCH, "num_classes": num_classes_of(args), "args": vars(args),
          "metrics": metrics, "model": model.state_dict()}, path)


def peak_rss_mb():
    """Largest resident set size of this process so far, in MB (Linux reports kilobytes)."""
    if resource is None:
        return float("nan")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None):
    args = build_parser().parse_args(argv)
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
