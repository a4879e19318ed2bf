"""Batch transforms for data augmentation: ``(x_batch, rng) -> x_batch`` on numpy arrays.

Notation: x (B, C, H, W) -- any number of middle axes works, the last two are the image plane.

Augmentation here works on a whole batch at once, so it costs a few numpy calls per batch, never
a Python loop per image. Every random choice is drawn from the ``rng`` argument (the DataLoader
passes one per batch), so a run is reproducible from its seed.

``RandomTranslate`` moves every image by its own integer offset (dy, dx), filling the uncovered
border with the background. The trick that vectorises it: pad the batch once by the largest shift
m, then read output pixel (i, j) of image b from padded pixel (i + m - dy_b, j + m - dx_b) -- one
fancy-indexing gather with per-image row and column index arrays.
"""
import numpy as np

__all__ = ["translate", "RandomTranslate", "Compose"]


def translate(x, dy, dx, fill=None):
    """Shift each image of ``x`` (B, ..., H, W) down by ``dy[b]`` and right by ``dx[b]`` pixels.

    ``out[b, ..., i, j] = x[b, ..., i - dy[b], j - dx[b]]`` where that lies inside the image,
    else ``fill``. ``dy``, ``dx``: integers or integer arrays of shape (B,); negative = up/left.
    ``fill=None`` uses each image's own minimum per channel (the background of MNIST-like
    images, also after normalisation).
    """
    x = np.asarray(x)
    if x.ndim < 3:
        raise ValueError(f"translate: expected a batch (B, ..., H, W) with at least 3 dims, "
                         f"got shape {x.shape}")
    B, H, W = x.shape[0], x.shape[-2], x.shape[-1]
    dy = np.broadcast_to(np.asarray(dy), (B,))
    dx = np.broadcast_to(np.asarray(dx), (B,))
    if dy.dtype.kind not in "iu" or dx.dtype.kind not in "iu":
        raise TypeError(f"translate: shifts must be integers, got {dy.dtype} and {dx.dtype}")
    if B == 0 or x.size == 0:
        return x.copy()
    xs = x.reshape(B, -1, H, W)                                   # (B, K, H, W)
    K = xs.shape[1]
    m = int(max(np.abs(dy).max(), np.abs(dx).max()))
    if m == 0:
        return x.copy()
    if fill is None:
        fill = xs.min(axis=(2, 3), keepdims=True)                 # (B, K, 1, 1)
    padded = np.empty((B, K, H + 2 * m, W + 2 * m), dtype=x.dtype)
    padded[...] = fill
    padded[:, :, m:m + H, m:m + W] = xs
    # out[b, k, i, j] = padded[b, k, i + m - dy[b], j + m - dx[b]]
    rows = np.arange(H) + (m - dy)[:, None]                       # (B, H)
    cols = np.arange(W) + (m - dx)[:, None]                       # (B, W)
    out = padded[np.arange(B)[:, None, None, None], np.arange(K)[None, :, None, None],
                 rows[:, None, :, None], cols[:, None, None, :]]  # (B, K, H, W)
    return out.reshape(x.shape)


class RandomTranslate:
    """Shift each image by its own random integer (dy, dx), each uniform in [-max_shift, max_shift].

    ``fill``: value for the uncovered border; ``None`` = each image's minimum (background).
    Called as ``t(x_batch, rng)``; returns a new array, ``x_batch`` is not modified.
    """

    def __init__(self, max_shift=2, fill=None):
        if isinstance(max_shift, bool) or not isinstance(max_shift, (int, np.integer)) \
                or max_shift < 0:
            raise ValueError(f"RandomTranslate: max_shift must be a non-negative integer, "
                             f"got {max_shift!r}")
        self.max_shift, self.fill = int(max_shift), fill

    def __call__(self, x, rng=None):
        rng = np.random.default_rng() if rng is None else rng
        x = np.asarray(x)
        if x.ndim < 3:
            raise ValueError(f"RandomTranslate: expected a batch (B, ..., H, W), got shape "
                             f"{x.shape}")
        m = self.max_shift
        dy, dx = rng.integers(-m, m + 1, size=(2, x.shape[0]))   # (B,) each, ends included
        return translate(x, dy, dx, self.fill)

    def __repr__(self):
        fill = "" if self.fill is None else f", fill={self.fill!r}"
        return f"RandomTranslate(max_shift={self.max_shift}{fill})"


class Compose:
    """Apply batch transforms in order, all with the same ``rng``."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x, rng=None):
        rng = np.random.default_rng() if rng is None else rng
        for t in self.transforms:
            x = t(x, rng)
        return x

    def __repr__(self):
        return f"Compose({self.transforms!r})"
