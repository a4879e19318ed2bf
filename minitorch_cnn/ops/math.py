"""Element-wise maths: exp, log, sqrt, abs, clip, maximum, minimum, where."""
import numpy as np

from ..autograd import Function
from .arithmetic import _broadcast_error


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
        ctx.save_for_backward(np.sign(x))
        return np.abs(x)

    @staticmethod
    def backward(ctx, g):
        (sign,) = ctx.saved
        return g * sign                               # d|x| = sign(x), 0 at 0 (as torch)


class Clip(Function):
    @staticmethod
    def forward(ctx, x, lo, hi):
        out = np.clip(x, lo, hi)
        # the gradient passes where the input was inside [lo, hi] (bounds included, like torch)
        inside = np.ones(x.shape, bool)
        if lo is not None:
            inside &= x >= lo
        if hi is not None:
            inside &= x <= hi
        ctx.save_for_backward(inside)
        return out

    @staticmethod
    def backward(ctx, g):
        (inside,) = ctx.saved
        return g * inside, None, None


class _Select(Function):
    """maximum/minimum of two tensors: the gradient goes to the winner, split 1/2-1/2 on ties."""
    pick = None

    @classmethod
    def forward(cls, ctx, a, b):
        try:
            out = cls.pick(a, b)
        except ValueError:
            raise _broadcast_error(cls.__name__.lower(), a, b) from None
        a_wins = np.where(a == b, 0.5, (out == a)).astype(out.dtype)
        ctx.save_for_backward(a_wins)
        return out

    @staticmethod
    def backward(ctx, g):
        (a_wins,) = ctx.saved
        return g * a_wins, g * (1 - a_wins)


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
    return Exp.apply(x)


def log(x):
    return Log.apply(x)


def sqrt(x):
    return Sqrt.apply(x)


def abs(x):
    return Abs.apply(x)


def clip(x, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given")
    return Clip.apply(x, min, max)


clamp = clip


def maximum(a, b):
    return Maximum.apply(a, b)


def minimum(a, b):
    return Minimum.apply(a, b)


def where(cond, a, b):
    """``a`` where ``cond`` is true, else ``b`` (``cond`` gets no gradient)."""
    from ..tensor import Tensor
    if isinstance(cond, Tensor):
        cond = cond.data
    return Where.apply(cond, a, b)
