"""Arithmetic: + - * / ** unary minus and matrix multiply.

Every op here may broadcast its inputs; ``backward`` returns gradients in the broadcast shape and
the engine (``autograd.unbroadcast``) sums them back to each input's own shape.
"""
import numpy as np

from .. import autograd
from ..autograd import Function
from .dtypes import floating, result_type


def _broadcast_error(op, a, b):
    sa, sb = np.shape(a), np.shape(b)
    return ValueError(f"{op}: shapes {sa} and {sb} cannot be broadcast together "
                      f"(trailing dimensions must be equal or 1)")


def operands(a, b, true_divide=False):
    """``a`` and ``b`` cast to their common dtype (``dtypes.result_type``: torch's promotion).

    A tensor that needs a gradient is cast by the differentiable ``cast``; anything else becomes
    a plain array or numpy scalar of the common dtype.  ``true_divide``: the result is floating
    even for integer operands (int / int -> float32, as in torch).
    """
    Tensor = autograd.Tensor
    if isinstance(a, Tensor) and isinstance(b, Tensor):    # the hot path: nothing to promote
        dt = a.data.dtype
        if dt is b.data.dtype and (dt.kind == "f" or not true_divide):
            return a, b
    elif isinstance(a, Tensor) and type(b) in (float, int) and a.data.dtype.kind == "f":
        return a, b                            # a Python number never widens a float tensor
    elif isinstance(b, Tensor) and type(a) in (float, int) and b.data.dtype.kind == "f":
        return a, b
    dt = result_type(a, b)
    if true_divide:
        dt = floating(dt)
    return _to(a, dt), _to(b, dt)


def _to(x, dt):
    """One operand as dtype ``dt``: a tensor through ``cast``, anything else as numpy data."""
    if isinstance(x, autograd.Tensor):
        return cast(x, dt)
    if isinstance(x, np.ndarray):
        return x.astype(dt, copy=False)
    return dt.type(x)


class Cast(Function):
    """A change of float dtype (float32 <-> float64 <-> float16) that gradients flow through."""

    @staticmethod
    def forward(ctx, x, dtype):
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g                                     # the engine casts g to the input's dtype


def cast(x, dtype):
    """``x`` as ``dtype`` (``x`` itself if it already is, like torch's ``.to``).  A cast to a
    float dtype is differentiable; a cast to an integer or bool dtype is not (as in torch)."""
    dtype = np.dtype(dtype)
    if x.data.dtype == dtype:
        return x
    if dtype.kind != "f":
        return autograd.Tensor._from_op(x.data.astype(dtype), False)
    return Cast.apply(x, dtype=dtype)


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
                # d(a/b)/db = -a/b^2, computed as -(a/b)/b: b*b would overflow (or underflow to
                # 0) for |b| beyond 1e154 (or below 1e-154) where the quotient itself is fine
                -g * (a / b) / b if need_b else None)


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
        if p == 0:                                    # a^0 = 1 everywhere: gradient 0, even at
            return np.zeros_like(g), None             # a = 0 where p a^(p-1) = 0 * inf = NaN
        return g * p * np.power(a, p - 1), None       # d(a^p)/da = p a^(p-1)


class MatMul(Function):
    """``a @ b`` with numpy's rules: 1-D operands are promoted and the added axis removed again,
    leading (batch) axes broadcast."""

    @staticmethod
    def forward(ctx, a, b):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype != b.dtype:
            raise TypeError(f"matmul: both operands must have the same dtype, got {a.dtype} "
                            f"(shape {a.shape}) and {b.dtype} (shape {b.shape}); convert one "
                            f"with .float() or .double()")
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
    a, b = operands(a, b)
    return Add.apply(a, b)


def sub(a, b):
    for x in (a, b):
        if isinstance(x, (bool, np.bool_)) or getattr(x, "dtype", None) == np.bool_:
            raise TypeError("sub: subtraction with a bool operand is not supported (as in "
                            "torch); use ~mask or logical_xor for masks")
    a, b = operands(a, b)
    return Sub.apply(a, b)


def mul(a, b):
    a, b = operands(a, b)
    return Mul.apply(a, b)


def div(a, b):
    """True division: integer operands give a float result (int / int -> float32, as torch)."""
    a, b = operands(a, b, true_divide=True)
    return Div.apply(a, b)


def neg(a):
    return Neg.apply(a)


def pow(a, p):
    """``a ** p``; a tensor exponent (or a number base) goes to ``extra.PowTensor``."""
    from ..tensor import Tensor
    if isinstance(p, (Tensor, np.ndarray)) or not isinstance(a, Tensor):
        from .extra import pow_tensor            # tensor exponent: both sides differentiable
        return pow_tensor(a, p)
    a = cast(a, result_type(a, p))                  # int ** 0.5 is float32; float32 stays
    p = p.item() if isinstance(p, np.generic) else p  # numpy keeps a's dtype for a Python number
    return Pow.apply(a, p)


def matmul(a, b):
    return MatMul.apply(a, b)
