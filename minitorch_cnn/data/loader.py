"""Datasets and the ``DataLoader``: from whole arrays to shuffled mini-batches of Tensors.

Notation: N samples, B batch size, images (N, C, H, W) for MNIST (N, 1, 28, 28).

A training loop wants, every epoch, the N samples in a fresh random order, cut into batches of B.
The textbook way -- ask the dataset for sample i, then i+1, ..., and stack them -- costs a Python
call per sample. When the dataset already holds its data as two whole arrays (``images``,
``labels``), one fancy-indexing call ``images[order[k*B:(k+1)*B]]`` builds the whole batch in C.
That is the fast path here; any other object with ``__len__``/``__getitem__`` still works through
the per-sample fallback.

Randomness all comes from one ``np.random.Generator`` per loader, seeded by ``seed``. Each epoch
draws, from it, a permutation (if ``shuffle``) and a seed for that epoch's augmentation; batch k
of the epoch gets its own generator ``default_rng([epoch_seed, k])``. So an epoch is a pure
function of the generator state at its start, and ``state_dict()`` -- that state, the epoch count
and the number of batches already served -- is enough to resume exactly, even mid-epoch.
"""
import numpy as np

from ..tensor import Tensor

__all__ = ["ArrayDataset", "DataLoader"]


def _check_index(i, n, who):
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
        raise TypeError(f"{who}: index must be an integer, got {type(i).__name__}")
    if not -n <= i < n:
        raise IndexError(f"{who}: index {i} out of range for a dataset of {n} samples")
    return int(i) % n


class ArrayDataset:
    """A dataset held as two whole arrays: ``images`` (N, ...) and ``labels`` (N, ...).

    ``dataset[i]`` returns ``(images[i], labels[i])`` with an integer label as a Python int.
    ``transform`` is a *batch* transform ``(x_batch, rng) -> x_batch`` (e.g. ``RandomTranslate``);
    the DataLoader applies it to whole batches, ``dataset[i]`` to a batch of one using
    ``self.rng`` (seed it for reproducible single samples).
    """

    def __init__(self, images, labels, transform=None):
        images, labels = np.asarray(images), np.asarray(labels)
        if images.ndim < 1 or labels.ndim < 1 or len(images) != len(labels):
            raise ValueError(f"{type(self).__name__}: images and labels must have the same "
                             f"length along dim 0, got images {images.shape} and labels "
                             f"{labels.shape}")
        if transform is not None and not callable(transform):
            raise TypeError(f"{type(self).__name__}: transform must be callable "
                            f"(x_batch, rng) -> x_batch, got {type(transform).__name__}")
        self.images, self.labels, self.transform = images, labels, transform
        self.rng = np.random.default_rng()

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        i = _check_index(i, len(self), type(self).__name__)
        x, y = self.images[i], self.labels[i]
        if self.transform is not None:
            x = self.transform(x[None], self.rng)[0]      # a batch of one
        return x, (y.item() if y.ndim == 0 else y)

    def subset(self, indices):
        """A new ``ArrayDataset`` of the samples at ``indices`` (copies; e.g. a validation split)."""
        idx = np.asarray(indices)
        return ArrayDataset(self.images[idx], self.labels[idx], transform=self.transform)

    def __repr__(self):
        return (f"{type(self).__name__}(n={len(self)}, images={self.images.shape} "
                f"{self.images.dtype}, labels={self.labels.shape} {self.labels.dtype})")


def _whole_arrays(dataset):
    """``(images, labels)`` if the dataset exposes them as whole ndarrays, else ``None``."""
    x, y = getattr(dataset, "images", None), getattr(dataset, "labels", None)
    if isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and len(x) == len(y) == len(dataset):
        return x, y
    return None


def _raw(v):
    return v.data if isinstance(v, Tensor) else np.asarray(v)


class DataLoader:
    """Iterate over ``dataset`` in batches ``(x, y)`` of Tensors; ``len`` = number of batches.

    Args:
        dataset: an ``ArrayDataset``/``MNIST`` (fast path: one fancy index per batch) or any
            object with ``__len__`` and ``__getitem__`` returning ``(x, y)`` (stacked per sample).
        batch_size: B. The last batch has N mod B samples unless ``drop_last``.
        shuffle: a new random permutation every epoch (every ``iter(loader)``).
        seed: seeds the loader's generator; the same seed gives the same sequence of epochs.
        transform: batch transform ``(x_batch, rng) -> x_batch`` applied after the dataset's own.

    Shape (MNIST): x (B, 1, 28, 28) float32, y (B,) int64 (integer labels are cast to int64).
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None,
                 transform=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size!r}")
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"DataLoader: dataset must have __len__ and __getitem__, got "
                            f"{type(dataset).__name__}")
        if transform is not None and not callable(transform):
            raise TypeError(f"DataLoader: transform must be callable (x_batch, rng) -> x_batch, "
                            f"got {type(transform).__name__}")
        self.dataset, self.batch_size = dataset, int(batch_size)
        self.shuffle, self.drop_last, self.transform = bool(shuffle), bool(drop_last), transform
        self.generator = np.random.default_rng(seed)
        self.epoch = 0                # epochs started so far
        self._start_state = None      # generator state at the start of the running epoch
        self._served = 0              # batches of the running epoch handed out
        self._skip = 0                # batches to skip in the next epoch (set by load_state_dict)

    def __len__(self):
        n, b = len(self.dataset), self.batch_size
        return n // b if self.drop_last else -(-n // b)          # ceil(n / b)

    def __iter__(self):
        # Draw everything the epoch needs now, so the epoch depends only on this state.
        self._start_state = self.generator.bit_generator.state
        n = len(self.dataset)
        order = self.generator.permutation(n) if self.shuffle else np.arange(n)
        epoch_seed = int(self.generator.integers(2**63))
        self.epoch += 1
        skip, self._skip = self._skip, 0
        self._served = skip
        return self._batches(order, epoch_seed, skip)

    def _batches(self, order, epoch_seed, skip):
        arrays, b = _whole_arrays(self.dataset), self.batch_size
        ds_transform = getattr(self.dataset, "transform", None) if arrays is not None else None
        for k in range(skip, len(self)):
            idx = order[k * b:(k + 1) * b]
            rng = np.random.default_rng([epoch_seed, k])
            if arrays is not None:
                x, y = arrays[0][idx], arrays[1][idx]          # fancy indexing: one copy
                if ds_transform is not None:
                    x = ds_transform(x, rng)
            else:                                               # generic dataset: per sample
                items = [self.dataset[int(i)] for i in idx]
                x = np.stack([_raw(item[0]) for item in items])
                y = np.stack([_raw(item[1]) for item in items])
            if self.transform is not None:
                x = self.transform(x, rng)
            if y.dtype.kind in "iub" and y.dtype != np.int64:
                y = y.astype(np.int64)                          # labels for cross_entropy
            self._served = k + 1
            yield Tensor(x), Tensor(y)
        self._start_state = None                                # epoch finished

    # ------------------------------------------------------------------ checkpointing
    def state_dict(self):
        """Where the loader is: generator state, epochs started, batches to skip next epoch.

        Taken mid-epoch, it describes that epoch (its starting state and the batches already
        served), so ``load_state_dict`` + ``iter`` continue with the next batch. Plain Python
        ints/dicts/strings: JSON-serialisable.
        """
        if self._start_state is not None and self._served < len(self):
            return {"epoch": self.epoch - 1, "batch": self._served,
                    "generator": self._start_state, "num_samples": len(self.dataset)}
        return {"epoch": self.epoch, "batch": self._skip,
                "generator": self.generator.bit_generator.state,
                "num_samples": len(self.dataset)}

    def load_state_dict(self, state):
        missing = {"epoch", "batch", "generator"} - set(state)
        if missing:
            raise ValueError(f"DataLoader.load_state_dict: missing keys {sorted(missing)}")
        n = state.get("num_samples", len(self.dataset))
        if n != len(self.dataset):
            raise ValueError(f"DataLoader.load_state_dict: the state is for a dataset of {n} "
                             f"samples, this loader's dataset has {len(self.dataset)}")
        if not 0 <= state["batch"] <= len(self):
            raise ValueError(f"DataLoader.load_state_dict: batch {state['batch']} out of range "
                             f"for {len(self)} batches per epoch")
        self.generator.bit_generator.state = state["generator"]
        self.epoch, self._skip = int(state["epoch"]), int(state["batch"])
        self._start_state, self._served = None, 0

    def __repr__(self):
        extra = "".join(f", {k}={v!r}" for k, v in (("shuffle", self.shuffle),
                        ("drop_last", self.drop_last), ("transform", self.transform)) if v)
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, "
                f"batch_size={self.batch_size}{extra})")
