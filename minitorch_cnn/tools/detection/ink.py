"""Any picture -> MNIST-like ink, and back: what the network was trained to see.

MNIST draws white digits (ink 1) on black (0) and normalises pixels by its mean and std;
``to_ink``/``from_ink`` convert between the two.  ``picture_to_ink`` turns a user's picture (a
photo, a scan, either polarity, uneven light) into such ink.
"""
import numpy as np

from ...data.mnist import MEAN, STD

MAX_PIXELS = 50_000_000              # pictures above 50 megapixels are refused, not tiled forever


def to_ink(x):
    """MNIST-normalised pixels -> ink in [0, 1] (0 = black background)."""
    return x * np.float32(STD) + np.float32(MEAN)


def from_ink(ink):
    """Ink in [0, 1] -> MNIST-normalised float32 pixels."""
    return ((ink - np.float32(MEAN)) / np.float32(STD)).astype(np.float32)



def _block_grid(a, block, reduce):
    """``reduce`` (e.g. np.median) of every ``block`` x ``block`` cell of ``a`` (H, W); the last
    row and column of cells take what is left.  Returns (ceil(H / block), ceil(W / block))."""
    H, W = a.shape
    rows = [a[y:y + block] for y in range(0, H, block)]
    return np.array([[reduce(r[:, x:x + block]) for x in range(0, W, block)] for r in rows],
                    np.float32)


def _upsample(grid, shape):
    """A coarse grid -> (H, W) by bilinear interpolation (cell values sit at cell centres)."""
    from PIL import Image
    H, W = shape
    return np.asarray(Image.fromarray(grid.astype(np.float32), mode="F").resize(
        (W, H), Image.BILINEAR), dtype=np.float32)


def _grey_open(grid):
    """3x3 minimum then 3x3 maximum of a small grid: removes bright blobs up to 2 cells wide
    (ink filling whole cells) and keeps slow changes (a gradient, a shadow)."""
    def filt(g, f):
        p = np.pad(g, 1, mode="edge")
        H, W = g.shape
        return f(np.stack([p[i:i + H, j:j + W] for i in range(3) for j in range(3)]), axis=0)
    return filt(filt(grid, np.min), np.max)


def picture_to_ink(gray):
    """A grayscale picture (H, W) in [0, 1], any polarity -> ink (H, W) in [0, 1] as MNIST draws
    it: white digits (1) on a black background (0).  ``ValueError`` for an empty picture, a
    non-finite pixel or more than ``MAX_PIXELS`` pixels.

    1. background: medians of cells of 1/12 of the shorter side, opened (``_grey_open``) so that
       cells filled by ink do not count, interpolated back -- a local level, so a brightness
       gradient or a shadow across a page is subtracted too;
    2. noise: sigma from the median absolute deviation of what is left (robust: ink is few pixels);
    3. polarity: the ink is the side (darker or lighter than the background) that holds more
       mass beyond 3 sigma -- paper noise is symmetric and cancels, ink is one-sided;
    4. ink scale: the 90th percentile of the pixels beyond max(4 sigma, 0.02) (the stroke cores),
       a statistic of the ink alone, so it does not vanish when ink is sparse or the picture huge.
       Then ``(r - 3 sigma) / (scale - 3 sigma)`` clipped to [0, 1]: the noise floor becomes 0.
    A picture without any pixel beyond the noise is blank: all zeros.
    """
    gray = np.asarray(gray, dtype=np.float32)
    if gray.ndim != 2 or gray.size == 0:
        raise ValueError(f"picture_to_ink: expected a non-empty (H, W) picture, got shape "
                         f"{gray.shape}")
    if gray.size > MAX_PIXELS:
        raise ValueError(f"picture_to_ink: {gray.shape[1]}x{gray.shape[0]} is "
                         f"{gray.size / 1e6:.1f} megapixels, more than the {MAX_PIXELS / 1e6:.0f} "
                         f"allowed; shrink the picture first")
    bad = int(np.size(gray) - np.count_nonzero(np.isfinite(gray)))
    if bad:
        raise ValueError(f"picture_to_ink: {bad} non-finite pixel(s) (NaN or inf) in the "
                         f"picture; every pixel must be a number")
    block = max(4, min(gray.shape) // 12)
    # polarity first, on a background that ignores ink of either sign (plain medians)
    r0 = gray - _upsample(_block_grid(gray, block, np.median), gray.shape)
    s0 = r0[::max(1, gray.shape[0] // 1000), ::max(1, gray.shape[1] // 1000)]
    sigma0 = 1.4826 * float(np.median(np.abs(s0 - np.median(s0))))
    t0 = max(3 * sigma0, 0.02)
    dark = float(np.clip(-r0 - t0, 0, None).sum()) > float(np.clip(r0 - t0, 0, None).sum())
    ink = 1.0 - gray if dark else gray
    background = _upsample(_grey_open(_block_grid(ink, block, np.median)), ink.shape)
    r = ink - background
    s = r[::max(1, ink.shape[0] // 1000), ::max(1, ink.shape[1] // 1000)]
    sigma = 1.4826 * float(np.median(np.abs(s - np.median(s))))
    strong = r[r > max(4 * sigma, 0.02)]
    if strong.size == 0:
        return np.zeros_like(ink)
    top = float(np.percentile(strong, 90))
    floor = min(3 * sigma, 0.5 * top)
    return np.clip((r - floor) / (top - floor), 0, 1).astype(np.float32)

