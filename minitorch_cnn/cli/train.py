"""Train Inception-lite on MNIST: the project's main job.

    python examples/train_inception_mnist.py            # or the console script: minitorch-train
    python examples/train_inception_mnist.py --limit 2000 --epochs 1     # a quick look

Each epoch: one pass over the (shuffled, optionally augmented) training set with a tqdm bar
showing the running loss and accuracy, then an evaluation on the 10,000 test images.  After each
epoch ``--out`` receives, each written atomically:

* ``checkpoint.npz`` -- model, optimizer, scheduler, epoch, metrics and every RNG state, so that
  ``--resume`` continues to exactly the weights an uninterrupted run reaches;
* ``metrics.json``   -- one record per epoch: epoch, train_loss, train_accuracy, test_accuracy,
  seconds, batch_losses (the loss of every batch);
* ``curves.png``     -- loss per batch (smoothed) and per epoch, accuracy per epoch.

``--background`` trains an 11-class model for detection on canvases (examples/sliding_window.py):
half of every batch becomes "background" windows (label 10: blank canvas, digits cut by the
window's edge) built on the fly from the batch's own training digits by
``detection.BackgroundMix``; its digit windows carry their own shifts of up to 3 px, so
``--augment`` does not apply.  ``--export FILE`` writes, at the end, the model alone (weights,
arch, num_classes, metrics; no optimizer state): a small file for ``load_model_checkpoint``;
a ``FILE.safetensors`` gets the weights alone, for PyTorch (``safetensors.torch.load_file``).
``--dataset fashion-mnist`` or ``kmnist`` trains on those MNIST-format data sets instead.
"""
import argparse
import json
import math
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
from ..tools.detection import BackgroundMix, MixedLoader
from ..io.fileio import atomic_write_text, remove_stale_temps
from ..kernels.memory import keep_freed_memory
from ..models import InceptionLite
from ..nn import functional as F
from ..io.safetensors import _require_safetensors, save_safetensors
from ..io.serialization import CheckpointError, load, save
from .checks import (HelpFormatter, existing_file, open_dataset, output_file, positive_float,
                     positive_int, seed, writable_folder)
from .plot import draw_curves

ARCH = "InceptionLite"
HEAD_WEIGHT = "head.4.weight"          # the classifier's last Linear: (num_classes, 128)
# the flags that define a run: --resume continues the same run, so they must not change
RUN_FLAGS = ("epochs", "batch_size", "lr", "optimizer", "schedule", "augment", "seed", "limit",
             "background", "dataset")
DATASETS = {"mnist": MNIST, "fashion-mnist": FashionMNIST, "kmnist": KMNIST}


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=HelpFormatter)
    p.add_argument("--epochs", type=positive_int, default=3, help="passes over the training set")
    p.add_argument("--batch-size", type=positive_int, default=128, help="images per batch")
    p.add_argument("--lr", type=positive_float, default=None,
                   help="learning rate (default: 1e-3 for adam, 0.05 for sgd)")
    p.add_argument("--optimizer", choices=["adam", "sgd"], default="adam",
                   help="sgd: momentum 0.9, nesterov, weight decay 5e-4")
    p.add_argument("--schedule", choices=["cosine", "step", "none"], default="cosine",
                   help="learning-rate schedule, stepped once per batch")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                   help="random translations of up to 2 pixels")
    p.add_argument("--dataset", choices=list(DATASETS), default="mnist",
                   help="which MNIST-format data set to train on")
    p.add_argument("--data-dir", default=None,
                   help="folder with the data set's four IDX files (default: "
                        "$MINITORCH_CNN_DATA, data/mnist for MNIST, then ~/.cache/minitorch_cnn/<set>)")
    p.add_argument("--out", default="runs/inception_mnist", help="output folder")
    p.add_argument("--seed", type=seed, default=0,
                   help="seeds weight init, shuffling, augmentation and dropout (0 .. 2**32-1)")
    p.add_argument("--limit", type=positive_int, default=None,
                   help="train on the first N images only (default: all 60,000)")
    p.add_argument("--test-limit", type=positive_int, default=None,
                   help="evaluate on the first N test images only (default: all 10,000)")
    p.add_argument("--resume", default=None,
                   help="checkpoint.npz of an interrupted run to continue, with its own flags")
    p.add_argument("--background", action="store_true",
                   help="add an 11th class (10 = background) for detection on canvases")
    p.add_argument("--export", default=None,
                   help="at the end, also write the model alone (no optimizer) to this file; "
                        "NAME.safetensors: the weights only, for PyTorch (default: none)")
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


class Diverged(ArithmeticError):
    """The loss of batch ``batch`` (1-based, of ``batches``) was ``loss``: nan or inf."""

    def __init__(self, batch, batches, loss):
        super().__init__(f"the loss is {loss} at batch {batch} of {batches}")
        self.batch, self.batches, self.loss = batch, batches, loss


def train_one_epoch(model, loader, opt, sched, desc, batch_losses=None):
    """One pass over ``loader``; returns (mean loss, accuracy), the loss weighted by batch size.
    Each batch's loss is appended to ``batch_losses`` if given (curves.png draws them).
    Raises ``Diverged`` (before the optimizer step) on a non-finite loss."""
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    bar = tqdm(loader, desc=desc, leave=False, dynamic_ncols=True)
    for batch, (x, y) in enumerate(bar, 1):
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        value = loss.item()
        if not math.isfinite(value):                # one more step would only spread the NaN
            bar.close()
            raise Diverged(batch, len(loader), value)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        n = len(y)
        total_loss += value * n
        if batch_losses is not None:
            batch_losses.append(value)
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
    if not isinstance(state, dict) or state.get("arch") != ARCH:
        raise SystemExit(f"error: {path} is not an {ARCH} checkpoint (arch: "
                         f"{state.get('arch') if isinstance(state, dict) else type(state).__name__})")
    weights = state.get("model")
    if not isinstance(weights, dict) or not all(isinstance(v, np.ndarray)
                                                for v in weights.values()):
        raise SystemExit(f"error: {path} is not a valid {ARCH} checkpoint: its 'model' entry is "
                         f"{type(weights).__name__}, expected a dict of weight arrays")
    classes = state.get("num_classes", num_classes)
    if type(classes) is not int or classes < 1:
        raise SystemExit(f"error: {path} has an invalid num_classes: {classes!r}")
    head = weights.get(HEAD_WEIGHT)                 # checked before a model of that size is built
    if head is None or head.ndim != 2 or head.shape[0] != classes:
        raise SystemExit(f"error: {path} says num_classes {classes}, but its {HEAD_WEIGHT} has "
                         f"shape {None if head is None else head.shape}, expected ({classes}, ...)")
    for key, w in weights.items():
        if w.dtype.kind in "fc" and not np.isfinite(w).all():
            raise SystemExit(f"error: {path} holds non-finite weights ({key} has "
                             f"{int((~np.isfinite(w)).sum())} nan/inf of {w.size}): the run "
                             f"that wrote it diverged; use an earlier checkpoint or retrain "
                             f"with a smaller --lr")
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


def restore_training_state(path, state, model, opt, sched, loader, epochs):
    """Put a (checked) training checkpoint's state into the run's objects; returns
    (metrics, epoch).  Anything a tampered file holds -- a zip CRC only proves the bytes are the
    ones that were zipped -- is a CheckpointError naming the file and the field."""
    def bad(field, why):
        raise CheckpointError(f"{path}: invalid training state in field {field!r}: {why}")

    epoch, metrics = state["epoch"], state["metrics"]
    if type(epoch) is not int or not 0 <= epoch <= epochs:
        bad("epoch", f"{str(epoch)[:60]!r}, expected an integer in 0 .. {epochs}")
    if (type(metrics) is not list or len(metrics) != epoch
            or not all(isinstance(m, dict) for m in metrics)):
        bad("metrics", f"{str(metrics)[:60]!r}, expected a list of {epoch} per-epoch records")
    steps = [("optimizer", opt.load_state_dict, state["optimizer"]),
             ("loader", loader.load_state_dict, state["loader"]),
             ("numpy_rng", lambda s: np.random.set_state(tuple(s)), state["numpy_rng"])]
    if sched is not None and state.get("scheduler") is not None:
        steps.insert(1, ("scheduler", sched.load_state_dict, state["scheduler"]))
    for field, restore, value in steps:
        try:
            restore(value)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as e:
            bad(field, f"{type(e).__name__}: {str(e)[:200]}")
    return list(metrics), epoch


OUTPUTS = ("checkpoint.npz", "metrics.json", "curves.png")


def check_outputs(args):
    """Fail now, not after an hour of training, on an output path that cannot be written:
    each output folder must take a file; --export must not overwrite a resumable checkpoint.
    Temp files a killed run left in --out are removed."""
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise SystemExit(f"error: --out {out} is a file; it must be a folder")
    writable_folder("--out", out)
    for name in OUTPUTS:
        remove_stale_temps(out / name)
    if args.export:
        output_file("export", args.export)
        export = Path(args.export).resolve()
        ours = [out.resolve() / name for name in OUTPUTS] + (
            [Path(args.resume).resolve()] if args.resume else [])
        if export in ours:
            raise SystemExit(f"error: --export {args.export} would replace the run's own "
                             f"{'checkpoint' if export.suffix == '.npz' else 'output'} with a "
                             f"model-only file; export to another file name")
        writable_folder("--export folder", export.parent)
        remove_stale_temps(export)


def write_outputs(out, model, opt, sched, loader, epoch, metrics, args):
    """checkpoint.npz, metrics.json and curves.png of the run so far, each written atomically."""
    save(checkpoint_state(model, opt, sched, loader, epoch, metrics, args), out / "checkpoint.npz")
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2))
    draw_curves(metrics, out / "curves.png")


def all_finite(model):
    return all(np.isfinite(p.data).all() for p in model.parameters())


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
    if args.resume:                            # a bad checkpoint fails before the data is read
        resumed = load_model_checkpoint(args.resume)
    dataset = DATASETS[args.dataset]
    train_set = open_dataset(dataset, args.data_dir, train=True)
    test_set = open_dataset(dataset, args.data_dir, train=False)
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
    metrics, start, last_saved = [], 0, None

    if args.resume:
        model, state = resumed
        if state.get("num_classes", 10) != num_classes:
            raise SystemExit(f"error: {args.resume} has {state.get('num_classes', 10)} classes, "
                             f"this run trains {num_classes} (--background: 11)")
        check_resumable(args.resume, state, args)
        opt = make_optimizer(args, model.parameters())
        sched = make_scheduler(args, opt, len(loader))
        try:
            metrics, start = restore_training_state(args.resume, state, model, opt, sched,
                                                    loader, args.epochs)
        except CheckpointError as e:
            raise SystemExit(f"error: {e}")
        print(f"resumed from {args.resume} after epoch {start}")
        last_saved = (args.resume, start)

    print(f"training {ARCH} on {len(train_set)} images, testing on {len(test_set)}; "
          f"{len(loader)} batches of {args.batch_size} per epoch")
    for epoch in range(start + 1, args.epochs + 1):
        t0 = time.perf_counter()
        batch_losses = []
        try:
            # a diverging run is reported by the loss check below, not numpy's warnings
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                loss, acc = train_one_epoch(model, loader, opt, sched,
                                            f"epoch {epoch}/{args.epochs}", batch_losses)
            if not all_finite(model):           # a finite loss, but the last step overflowed
                raise Diverged(len(loader), len(loader), "finite, but the weights are not")
        except Diverged as e:
            kept = ("no checkpoint was written" if last_saved is None else
                    f"the last one with finite weights, {last_saved[0]} (epoch "
                    f"{last_saved[1]}), is kept")
            raise SystemExit(f"error: training diverged at epoch {epoch}, batch {e.batch} of "
                             f"{e.batches}: the loss is {e.loss}; try a smaller --lr (this run: "
                             f"{opt.defaults['lr']:g}); {kept}")
        test_acc, _ = evaluate(model, test_set)
        seconds = time.perf_counter() - t0
        metrics.append({"epoch": epoch, "train_loss": loss, "train_accuracy": acc,
                        "test_accuracy": test_acc, "seconds": seconds,
                        "batch_losses": batch_losses})
        print(f"epoch {epoch}: train loss {loss:.4f}  train acc {acc:.4f}  "
              f"test acc {test_acc:.4f}  ({seconds:.0f} s)")
        write_outputs(out, model, opt, sched, loader, epoch, metrics, args)
        last_saved = (out / "checkpoint.npz", epoch)
    if start >= args.epochs:                   # a finished run: nothing to train, copy its state
        print(f"{args.resume} is a finished run ({start} of {args.epochs} epochs): nothing to "
              f"train")
        write_outputs(out, model, opt, sched, loader, start, metrics, args)
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
    keep_freed_memory()                # this process is ours: let malloc keep freed pages
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
