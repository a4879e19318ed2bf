"""Arithmetic: + - * / ** unary minus and matrix multiply.

Every op here may broadcast its inputs; ``backward`` returns gradients in the broadcast shape and
the engine (``autograd.unbroadcast``) sums them back to each input's own shape.
"""
import numpy as np

from ..autograd import Function


def _broadcast_error(op, a, b):
    sa, sb = np.shape(a), np.shape(b)
    return ValueError(f"{op}: shapes {sa} and {sb} cannot be broadcast together "
                      f"(trailing dimensions must be equal or 1)")


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        try:
            return np.add(a, b)
        except ValueError:
            raise _broadcast_error("add", a, b) from None

    @staticmethod
    def backward(ctx, g):
        return g, g                                  # d(a+b)/da = d(a+b)/db = 1


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        try:
            return np.subtract(a, b)
        except ValueError:
            raise _broadcast_error("sub", a, b) from None

    @staticmethod
    def backward(ctx, g):
        return g, -g


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        need_a, need_b = ctx.needs_input_grad
        # keep only what a backward reads (an in-place write to the other is then harmless)
        ctx.save_for_backward(a if need_b else None, b if need_a else None)
        try:
            return np.multiply(a, b)
        except ValueError:
            raise _broadcast_error("mul", a, b) from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        return (g * b if need_a else None,           # d(ab)/da = b
                g * a if need_b else None)           # d(ab)/db = a


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b)   # a only for db
        try:
            return np.divide(a, b)
        except ValueError:
            raise _broadcast_error("div", a, b) from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        return (g / b if need_a else None,            # d(a/b)/da = 1/b
                -g * a / (b * b) if need_b else None) # d(a/b)/db = -a/b^2


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return np.negative(a)

    @staticmethod
    def backward(ctx, g):
        return -g


class Pow(Function):
    """``a ** p`` for a tensor ``a`` and a Python number ``p``."""

    @staticmethod
    def forward(ctx, a, p):
        ctx.save_for_backward(a)
        ctx.p = p
        return np.power(a, p)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved
        p = ctx.p
        return g * p * np.power(a, p - 1), None       # d(a^p)/da = p a^(p-1)


class MatMul(Function):
    """``a @ b`` with numpy's rules: 1-D operands are promoted and the added axis removed again,
    leading (batch) axes broadcast."""

    @staticmethod
    def forward(ctx, a, b):
        a, b = np.asarray(a), np.asarray(b)
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: both operands need at least one dimension, got shapes "
                             f"{a.shape} and {b.shape}")
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not line up: "
                             f"a's last dim {a.shape[-1]} != b's "
                             f"{'second-to-last' if b.ndim > 1 else 'only'} dim "
                             f"{b.shape[-2 if b.ndim > 1 else 0]}")
        ctx.save_for_backward(a, b)
        try:
            return a @ b
        except ValueError:
            raise ValueError(f"matmul: batch dimensions of {a.shape} and {b.shape} cannot be "
                             f"broadcast together") from None

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        # Promote 1-D operands to matrices, as the forward did, so one formula covers all cases;
        # batch axes that were broadcast are summed away by the engine's unbroadcast.
        a2 = a[None, :] if a.ndim == 1 else a           # (n,) -> (1, n)
        b2 = b[:, None] if b.ndim == 1 else b           # (n,) -> (n, 1)
        if a.ndim == 1 and b.ndim == 1:
            g = np.reshape(g, (1, 1))                  # dot product: a scalar output
        elif a.ndim == 1:
            g = np.expand_dims(g, -2)
        elif b.ndim == 1:
            g = np.expand_dims(g, -1)
        need_a, need_b = ctx.needs_input_grad
        ga = gb = None
        if need_a:
            ga = g @ np.swapaxes(b2, -1, -2)            # dA = G @ B^T
            ga = ga[..., 0, :] if a.ndim == 1 else ga
        if need_b:
            gb = np.swapaxes(a2, -1, -2) @ g            # dB = A^T @ G
            gb = gb[..., 0] if b.ndim == 1 else gb
        return ga, gb


def add(a, b):
    return Add.apply(a, b)


def sub(a, b):
    return Sub.apply(a, b)


def mul(a, b):
    return Mul.apply(a, b)


def div(a, b):
    return Div.apply(a, b)


def neg(a):
    return Neg.apply(a)


def pow(a, p):
    """``a ** p``; a tensor exponent (or a number base) goes to ``extra.PowTensor``."""
    from ..tensor import Tensor
    if isinstance(p, (Tensor, np.ndarray)) or not isinstance(a, Tensor):
        from .extra import pow_tensor            # tensor exponent: both sides differentiable
        return pow_tensor(a, p)
    return Pow.apply(a, p)


def matmul(a, b):
    return MatMul.apply(a, b)
