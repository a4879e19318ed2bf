"""Any picture -> MNIST-like ink, and back: what the network was trained to see.

MNIST draws white digits (ink 1) on black (0) and normalises pixels by its mean and std;
``to_ink``/``from_ink`` convert between the two.  ``picture_to_ink`` turns a user's picture (a
photo, a scan, either polarity, uneven light) into such ink.
"""
import numpy as np

from ...data.mnist import MEAN, STD

MIN_LINE = 56                        # px: shorter runs are never called lines (2 windows)
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


# ------------------------------------------------------------------------------ ruled lines
LINE_FRACTION = 0.9                  # a window along a line: at least 90 % of it ink
                                     # (a column of digits: ~70 %, a stroke is 0.7 of its box)
MAX_TILT = 0.06                      # lines within about 3.4 degrees of the axes
LINE_THICKNESS = 6                   # px: what is thicker across than this is never a line
ALONG = 16                           # px: a line pixel has line pixels on half its row, +-16 px
LEVEL_ALONG = 64                     # px: a line's level is its mean over +-64 px along it


def _line_length(side, max_size=None):
    """The shortest run (px) along a side of ``side`` px that counts as a ruled line: 40 % of the
    side, or 3 times the largest digit size looked for if less, but never under 56 px."""
    length = 0.4 * side if max_size is None else min(0.4 * side, 3 * float(max_size))
    return max(MIN_LINE, int(np.ceil(length)))


def _window_cover(on, length, frac, counted):
    """(H, W) bool -> pixels lying in some 1 x ``length`` window along a row in which ``on`` is
    at least ``frac`` of the ``counted`` pixels, these at least half the window (cumulative
    sums: O(H W) whatever the length)."""
    H, W = on.shape

    def window_sums(a):
        c = np.zeros((H, W + 1), np.int32)
        np.cumsum(a, axis=1, out=c[:, 1:])
        return c[:, length:] - c[:, :-length]                          # (H, W - length + 1)
    n = window_sums(counted)
    good = (window_sums(on & counted) >= frac * n) & (2 * n >= length)
    g = np.zeros((H, good.shape[1] + 1), np.int32)
    np.cumsum(good, axis=1, out=g[:, 1:])
    x = np.arange(W)
    hi = np.minimum(x + 1, good.shape[1])                   # a window starting at x - length + 1
    lo = np.clip(x - length + 1, 0, good.shape[1])          # ... up to x covers pixel x
    return (g[:, hi] - g[:, lo]) > 0


def _box_along(a, w):
    """Sums of ``a`` (H, W) over x - w .. x + w along each row (cut at the edges), float64."""
    W = a.shape[1]
    c = np.zeros((a.shape[0], W + 1))
    np.cumsum(a, axis=1, out=c[:, 1:])
    x = np.arange(W)
    return c[:, np.minimum(x + w + 1, W)] - c[:, np.maximum(x - w, 0)]


def _run_across(on):
    """(H, W) bool -> length of the vertical run of ``on`` through each pixel (0 off it)."""
    H = on.shape[0]
    y = np.arange(H, dtype=np.int32)[:, None]
    above = np.maximum.accumulate(np.where(on, np.int32(-1), y), axis=0)   # last off row <= y
    below = np.minimum.accumulate(np.where(on, np.int32(H), y)[::-1], axis=0)[::-1]
    return np.where(on, below - above - 1, 0)


def _long_runs(cells, length, ignore=None):
    """(H, W) bool -> the places covered by a near-horizontal run of ``cells``: at each of a few
    slopes up to ``MAX_TILT`` (2 cells of drift apart) the grid is sheared so that a line of
    that slope is a row, and a line is a 1 x ``length`` window of which ``LINE_FRACTION`` is
    on, with one cell of slack above and below and gaps of up to 2 cells closed along it.
    Cells in ``ignore`` count neither as on nor as off."""
    H, W = cells.shape
    cover = np.zeros_like(cells)
    if length > W:
        return cover
    slack = cells.copy()
    slack[1:] |= cells[:-1]
    slack[:-1] |= cells[1:]
    counted = np.ones_like(cells) if ignore is None else ~ignore
    x = np.arange(W)
    n = int(np.ceil(MAX_TILT * length / 2))
    for s in np.arange(-n, n + 1) * 2 / length:
        rows = np.arange(H)[:, None] + np.round(s * (x - W / 2)).astype(np.int64)[None, :]
        inside = (rows >= 0) & (rows < H)
        rows = np.clip(rows, 0, H - 1)
        sheared = slack[rows, x] & inside
        # noise breaks a faint line: a cell with 3 of the 5 cells around it on (along) is on
        c = np.zeros((H, W + 4), np.int8)
        c[:, 2:-2] = sheared
        sheared |= (c[:, :-4] + c[:, 1:-3] + c[:, 2:-2] + c[:, 3:-1] + c[:, 4:]) >= 3
        hit = _window_cover(sheared, length, LINE_FRACTION, counted[rows, x] & inside) & inside
        cover[rows[hit], np.broadcast_to(x, hit.shape)[hit]] = True
    return cover


def _on_rows(band, on):
    """The pixels of horizontal lines in their candidate ``band`` (full resolution): ``on``
    pixels whose vertical run of ``on`` is at most ``LINE_THICKNESS`` (a stroke crossing the
    line is longer across it) and with such pixels on half their row within +-``ALONG`` px (a
    thin stroke merely touching the line is not along it)."""
    thin = band & (_run_across(on) <= LINE_THICKNESS)
    rows = np.flatnonzero(thin.any(1))
    inside = _box_along(np.ones((1, on.shape[1]), np.bool_), ALONG)       # cut at the edges
    thin[rows] &= 2 * _box_along(thin[rows], ALONG) > inside
    return thin


def line_pixels(r, threshold, length):
    """(horizontal, vertical, crossings): (H, W) bool masks of the pixels of long straight
    lines in a residual ``r`` (ink minus its background) -- ruled lines, a margin line, a
    table's grid, never a stroke of a digit.

    A line: pixels ``r > threshold`` along a near-horizontal (near-vertical) run of at least
    ``length[0]`` (``length[1]``) px, within ``MAX_TILT`` of the axis, at most
    ``LINE_THICKNESS`` px across.  Found on a grid of ``block`` x ``block`` cells (a cell is on
    when ``block // 2`` of its pixels are; runs are about 200 cells long whatever the picture's
    size), where a handful of shears covers every tilt (``_long_runs``).  A vertical run does
    not count the cells of horizontal lines, neither as on nor as off (ruled lines crossing a
    column of digits do not make it a line, nor do they cut a margin line), and a run across a line longer than 1/15 of its length makes it a stroke (a digit
    as big as the picture).  Back at full resolution, ``_on_rows``; where a horizontal and a
    vertical line cross (both found), the crossing.
    """
    on = r > threshold
    H, W = on.shape
    lh, lv = (int(v) for v in length)
    block = max(1, round(min(lh, lv) / 200))
    Hc, Wc = -(-H // block), -(-W // block)
    grid = np.zeros((Hc * block, Wc * block), np.bool_)
    grid[:H, :W] = on
    cells = grid.reshape(Hc, block, Wc, block).sum((1, 3), dtype=np.int32) >= max(1, block // 2)
    del grid
    Lh, Lv = -(-lh // block), -(-lv // block)
    ch = _long_runs(cells, Lh) & cells
    cv = _long_runs(cells.T, Lv, ignore=ch.T).T & cells
    if not (ch.any() or cv.any()):
        nothing = np.zeros_like(on)
        return nothing, nothing, nothing
    both = ch & cv
    h = ch & (_run_across(cells) <= max(2, Lh / 15)) | both
    v = cv & (_run_across(cells.T).T <= max(2, Lv / 15)) | both
    h[1:] |= h[:-1].copy()                              # the cells next to a line's, across it
    h[:-1] |= h[1:].copy()
    v[:, 1:] |= v[:, :-1].copy()
    v[:, :-1] |= v[:, 1:].copy()

    def full(c):
        return np.repeat(np.repeat(c, block, 0), block, 1)[:H, :W] & on
    bh, bv = full(h), full(v)
    h, v = _on_rows(bh, on), _on_rows(bv.T, on.T).T
    return h, v, bh & bv & h.any(1)[:, None] & v.any(0)[None, :]


def _subtract_level(r, line):
    """``r`` minus the level of the horizontal line it is on, at the pixels of ``line``, in
    place: the mean of ``r`` (capped at twice the lines' median, so a digit's ink over a line
    does not count much) over the line's pixels within +-``LEVEL_ALONG`` px along its row.
    A digit's stroke over the line keeps what it adds to it."""
    rows = np.flatnonzero(line.any(1))
    if rows.size == 0:
        return
    sub, mask = r[rows], line[rows]
    cap = 2 * float(np.median(sub[mask]))
    level = (_box_along(np.where(mask, np.minimum(sub, cap), 0), LEVEL_ALONG)
             / np.maximum(_box_along(mask, LEVEL_ALONG), 1))
    r[rows] = np.where(mask, np.maximum(sub - level, 0), sub)


def _erase_lines(r, threshold, length):
    """Take the long lines of ``r`` (``line_pixels``) out of it, in place: their level is
    subtracted along them (``_subtract_level``; what a digit's stroke adds stays), crossings
    and the faint edges next to a line (one pixel around it, below ``threshold``) become 0."""
    h, v, cross = line_pixels(r, threshold, length)
    lines = h | v | cross
    if not lines.any():
        return
    edges = r <= threshold
    _subtract_level(r, h & ~cross)
    _subtract_level(r.T, (v & ~cross).T)
    r[cross] = 0
    near = lines.copy()
    near[1:] |= lines[:-1]
    near[:-1] |= lines[1:]
    near[:, 1:] |= lines[:, :-1]
    near[:, :-1] |= lines[:, 1:]
    r[near & ~lines & edges] = 0


def _noise_sigma(r):
    """The noise's sigma in a residual ``r`` (H, W): 1.4826 x the median absolute deviation of
    at most ~1000 x 1000 of its pixels (robust: ink is few pixels)."""
    s = r[::max(1, r.shape[0] // 1000), ::max(1, r.shape[1] // 1000)]
    return 1.4826 * float(np.median(np.abs(s - np.median(s))))


def picture_to_ink(gray, max_size=None):
    """A grayscale picture (H, W) in [0, 1], any polarity -> ink (H, W) in [0, 1] as MNIST draws
    it: white digits (1) on a black background (0).  ``ValueError`` for an empty picture, a
    non-finite pixel or more than ``MAX_PIXELS`` pixels.

    1. background: medians of cells of 1/12 of the shorter side, opened (``_grey_open``) so that
       cells filled by ink do not count, interpolated back -- a local level, so a brightness
       gradient or a shadow across a page is subtracted too;
    2. noise: sigma from the median absolute deviation of what is left (robust: ink is few pixels);
    3. polarity: the ink is the side (darker or lighter than the background) that holds more
       mass beyond 3 sigma -- paper noise is symmetric and cancels, ink is one-sided;
    4. ruled lines: the pixels above 2.5 sigma that form straight lines (within ~3 degrees of
       the axes, at most 6 px thick, 90 % ink along) longer than 40 % of the picture's side --
       or 3 ``max_size`` if less, ``max_size`` the largest digit looked for, but 56 px at least
       -- are taken out (``line_pixels``, ``_erase_lines``): an exercise book's lines, a margin,
       a table's grid, a long underline.  A digit's stroke is never that long and thin, nor is
       a column of digits that full; a stroke crossing a line keeps what it adds to it.
       Without this, on a page with nothing else, step 5 would stretch faint lines to full ink
       and a margin line would read as a column of 1s;
    5. ink scale: the 90th percentile of the pixels beyond max(4 sigma, 0.02) (the stroke cores),
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
    sigma0 = _noise_sigma(r0)
    t0 = max(3 * sigma0, 0.02)
    dark = float(np.clip(-r0 - t0, 0, None).sum()) > float(np.clip(r0 - t0, 0, None).sum())
    ink = 1.0 - gray if dark else gray
    background = _upsample(_grey_open(_block_grid(ink, block, np.median)), ink.shape)
    r = ink - background
    sigma = _noise_sigma(r)
    _erase_lines(r, max(2.5 * sigma, 0.02), [_line_length(n, max_size) for n in r.shape[::-1]])
    strong = r[r > max(4 * sigma, 0.02)]
    if strong.size == 0:
        return np.zeros_like(ink)
    top = float(np.percentile(strong, 90))
    floor = min(3 * sigma, 0.5 * top)
    return np.clip((r - floor) / (top - floor), 0, 1).astype(np.float32)

