"""ReLU passes: element-wise, so a contiguous array runs as flat chunks on the pool
(``work.parallel``); each chunk's passes (the max, the mask; the product, the NaN check) are done
while it is in cache.  The maths is in ``ops/activation.py`` (``ReLUFn``)."""
import numpy as np

from .work import parallel


def relu_forward(x, inplace=False):
    """x -> (y = max(x, 0), mask = ~(x <= 0), bool); with ``inplace`` y is written over x."""
    y = x if inplace else np.empty_like(x)
    mask = np.empty(x.shape, bool)

    def run(i, c):
        np.less_equal(xf[c], 0, out=mf[c])
        np.logical_not(mf[c], out=mf[c])                    # (True at NaN: torch passes g)
        np.maximum(xf[c], 0, out=yf[c])                     # (not x * mask: -inf * 0 is NaN)

    if x.flags.c_contiguous:                 # then y and mask are too: flat chunks, pool
        xf, yf, mf = x.reshape(-1), y.reshape(-1), mask.reshape(-1)
        parallel(run, xf.size, x.itemsize)
    else:                                    # strided: one whole-array pass
        xf, yf, mf = x, y, mask
        run(0, Ellipsis)
    return y, mask


def relu_backward(g, mask):
    """g -> g * mask.  g * mask is much faster than np.where, but inf * 0 is NaN where torch
    gives 0: a chunk where a NaN came out (max propagates it: one cheap pass) redoes it with
    np.where (rare)."""
    out = np.empty(np.broadcast_shapes(g.shape, mask.shape), np.result_type(g.dtype, bool))

    def run(i, c):
        np.multiply(gf[c], mf[c], out=of[c])
        if of[c].size and np.isnan(of[c].max()):
            of[c] = np.where(mf[c], gf[c], 0)

    if g.flags.c_contiguous and g.shape == mask.shape:   # out and mask are fresh, contiguous
        gf, mf, of = g.reshape(-1), mask.reshape(-1), out.reshape(-1)
        parallel(run, gf.size, g.itemsize)
    else:                                    # broadcast or strided: one whole-array pass
        gf, mf, of = g, mask, out
        run(0, Ellipsis)
    return out
