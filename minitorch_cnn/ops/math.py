"""Element-wise maths: exp, log, sqrt, abs, clip, maximum, minimum, where."""
import numpy as np

from .. import autograd
from ..autograd import Function
from .arithmetic import _broadcast_error, cast, operands
from .dtypes import floating


def as_float(x):
    """An integer or bool tensor as the default float dtype (exp, log, sigmoid ... of integers
    give float32, as in torch); a float tensor or array unchanged."""
    if isinstance(x, autograd.Tensor):
        return x if x.data.dtype.kind == "f" else cast(x, floating(x.data.dtype))
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(floating(x.dtype))


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        out = np.exp(x)
        ctx.save_for_backward(out)                    # exp is its own derivative
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved
        return g * out                                # d e^x = e^x


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g / x                                  # d log x = 1/x


class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        out = np.sqrt(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved
        return g / (2 * out)                          # d sqrt x = 1 / (2 sqrt x)


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        sign = np.sign(x)
        if sign.dtype.kind == "f":
            sign[np.isnan(sign)] = 0                  # torch: no gradient through a NaN input
        ctx.save_for_backward(sign)
        return np.abs(x)

    @staticmethod
    def backward(ctx, g):
        (sign,) = ctx.saved
        return g * sign                               # d|x| = sign(x), 0 at 0 (as torch)


class Clip(Function):
    """clamp(x, lo, hi) = min(max(x, lo), hi); ``lo``/``hi`` are numbers, tensors or None.

    Gradients, as torch defines them (bounds included in the inside, NaN sends nothing):
        dx  = g where lo <= x <= hi
        dlo = g where x < lo and lo < hi       (the lower bound won)
        dhi = g where x > hi or hi < lo        (the upper bound won; it also wins when lo > hi)
    """

    @staticmethod
    def forward(ctx, x, lo, hi):
        out = np.clip(x, lo, hi) if lo is None or hi is None else np.minimum(np.maximum(x, lo), hi)
        inside = np.ones(x.shape, bool)
        if lo is not None:
            inside = inside & (x >= lo)
        if hi is not None:
            inside = inside & (x <= hi)
        need_lo, need_hi = ctx.needs_input_grad[1:]
        lo_wins = hi_wins = None
        if need_lo:
            lo_wins = (x < lo) if hi is None else (x < lo) & (lo < hi)
        if need_hi:
            hi_wins = (x > hi) if lo is None else (x > hi) | (hi < lo)
        ctx.save_for_backward(inside, lo_wins, hi_wins)
        return out

    @staticmethod
    def backward(ctx, g):
        inside, lo_wins, hi_wins = ctx.saved
        return (g * inside,
                None if lo_wins is None else g * lo_wins,
                None if hi_wins is None else g * hi_wins)


class _Select(Function):
    """maximum/minimum of two tensors: the gradient goes to the winner, split 1/2-1/2 on ties."""
    pick = None

    @classmethod
    def forward(cls, ctx, a, b):
        try:
            out = cls.pick(a, b)
        except ValueError:
            raise _broadcast_error(cls.__name__.lower(), a, b) from None
        # torch: a gets g where it won (a > b for maximum), g/2 on a tie, 0 where it lost; and
        # where either is NaN (out is NaN), neither lost, so both get g
        a_wins = np.where(a == b, 0.5, out == a).astype(out.dtype)
        b_wins = np.where(a == b, 0.5, out == b).astype(out.dtype)
        nan = np.isnan(out) if out.dtype.kind == "f" else False
        if np.any(nan):
            a_wins[nan] = b_wins[nan] = 1
        ctx.save_for_backward(a_wins, b_wins)
        return out

    @staticmethod
    def backward(ctx, g):
        a_wins, b_wins = ctx.saved
        return g * a_wins, g * b_wins


class Maximum(_Select):
    pick = staticmethod(np.maximum)


class Minimum(_Select):
    pick = staticmethod(np.minimum)


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        cond = np.asarray(cond, dtype=bool)
        ctx.save_for_backward(cond)
        try:
            return np.where(cond, a, b)
        except ValueError:
            raise ValueError(f"where: shapes {np.shape(cond)}, {np.shape(a)} and {np.shape(b)} "
                             f"cannot be broadcast together") from None

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved
        zero = np.zeros((), g.dtype)
        return None, np.where(cond, g, zero), np.where(cond, zero, g)


def exp(x):
    return Exp.apply(as_float(x))


def log(x):
    return Log.apply(as_float(x))


def sqrt(x):
    return Sqrt.apply(as_float(x))


def abs(x):
    return Abs.apply(x)


def clip(x, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given")
    if isinstance(min, autograd.Tensor) or isinstance(max, autograd.Tensor):
        lo, hi = (0 if min is None else min), (0 if max is None else max)
        x, lo = operands(x, lo)
        x, hi = operands(x, hi)
        min, max = (None if min is None else lo), (None if max is None else hi)
    return Clip.apply(x, min, max)


clamp = clip


def maximum(a, b):
    return Maximum.apply(*operands(a, b))


def minimum(a, b):
    return Minimum.apply(*operands(a, b))


def where(cond, a, b):
    """``a`` where ``cond`` is true, else ``b`` (``cond`` gets no gradient)."""
    from ..tensor import Tensor
    if isinstance(cond, Tensor):
        cond = cond.data
    return Where.apply(cond, *operands(a, b))
