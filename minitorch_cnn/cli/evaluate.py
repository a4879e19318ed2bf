"""Evaluate a checkpoint on the test set it was trained for (MNIST, or its --dataset): accuracy
and the confusion matrix.

    python examples/evaluate.py runs/inception_mnist/checkpoint.npz   # or: minitorch-evaluate
"""
import argparse
import sys

import numpy as np

from ..data import MNIST
from .checks import HelpFormatter, open_dataset, positive_int
from .train import DATASETS, evaluate, load_model_checkpoint


def confusion_matrix(labels, preds, num_classes=10):
    """counts[i, j] = number of images of class i predicted as j."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (labels, preds), 1)
    return counts


def format_confusion(counts):
    k = counts.shape[0]
    width = max(5, len(str(counts.max())) + 1)
    lines = ["true\\pred" + "".join(f"{j:>{width}}" for j in range(k))]
    for i in range(k):
        lines.append(f"{i:>9}" + "".join(f"{c:>{width}}" for c in counts[i]))
    return "\n".join(lines)


def build_parser():
    p = argparse.ArgumentParser(description="Test accuracy and confusion matrix of a checkpoint",
                                formatter_class=HelpFormatter)
    p.add_argument("checkpoint", help="a checkpoint.npz of minitorch-train, or its --export file")
    p.add_argument("--data-dir", default=None,
                   help="folder with the MNIST files (default: $MINITORCH_CNN_DATA, "
                        "data/mnist, then ~/.cache/minitorch_cnn/mnist)")
    p.add_argument("--limit", type=positive_int, default=None,
                   help="first N test images only (default: all 10,000)")
    return p


def main(argv=None):
    """The command: prints the accuracy and the confusion matrix; returns 0 (the exit status)."""
    run(build_parser().parse_args(argv))
    return 0


def run(args):
    """(accuracy, confusion counts) of ``args.checkpoint`` on the test set."""
    model, state = load_model_checkpoint(args.checkpoint)
    run_args = state.get("args") if isinstance(state.get("args"), dict) else {}
    dataset = DATASETS.get(run_args.get("dataset", "mnist"), MNIST)   # the one it was trained on
    test_set = open_dataset(dataset, args.data_dir, train=False)
    if args.limit is not None:
        test_set = test_set.subset(np.arange(min(args.limit, len(test_set))))
    acc, preds = evaluate(model, test_set)
    counts = confusion_matrix(test_set.labels, preds, model_classes(model))
    print(f"test accuracy: {acc:.4f} ({int((preds == test_set.labels).sum())}/{len(test_set)})")
    print(format_confusion(counts))
    return acc, counts


def model_classes(model):
    return model.head[-1].weight.shape[0]


if __name__ == "__main__":
    sys.exit(main())
