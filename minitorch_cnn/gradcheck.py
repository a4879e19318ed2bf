"""Gradient checking: compare the analytic backward with central finite differences.

For an output y = fn(x1, x2, ...) we pick a random upstream gradient v (so a non-scalar output is
checked in every direction at once) and compare, for each input x_i that requires grad,

    analytic:  x_i.grad after (y * v).sum().backward()
    numeric:   d/dx_i[k] sum(v * fn(...))  ~  (f(x + eps e_k) - f(x - eps e_k)) / (2 eps)

Central differences have error O(eps^2), but only in float64: in float32 the rounding error of
f itself (~1e-7 * |f| / eps) swamps the result, so float32 inputs are refused.

``fast=True`` checks one random direction u instead of every element:  v^T J u  computed from the
analytic gradient (grad . u) against (f(x + eps u) - f(x - eps u)) / (2 eps) -- two evaluations
of fn for the whole input, so even a conv layer with thousands of weights stays cheap.

``gradcheck(module, x)`` checks a layer: its input *and* every parameter, on a float64 copy of
the module (the original is untouched), and names what fails -- ``conv.weight[3, 0, 1, 2]``.
"""
import copy

import numpy as np

from .autograd import no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """The analytic and numeric gradients disagree."""


def _scalar(fn, inputs, v):
    with no_grad():
        out = fn(*inputs)
    return float(np.sum(out.data * v))


def _module_check(module, inputs):
    """(fn, inputs, names) that check ``module``'s float inputs and all its parameters.

    The module is deep-copied and cast to float64, float inputs are copied to float64 leaves
    that require grad; the parameters ride along as extra inputs that ``fn`` ignores -- the copy
    uses them itself, and gradcheck perturbs their arrays in place."""
    twin = copy.deepcopy(module).double()
    xs = []
    for t in inputs:
        if isinstance(t, (Tensor, np.ndarray)) and t.dtype.kind == "f":
            t = Tensor(np.array(t.data if isinstance(t, Tensor) else t, np.float64),
                       requires_grad=True)
        xs.append(t)
    params = [(n, p) for n, p in twin.named_parameters() if p.requires_grad]
    n_in = len(xs)
    names = [f"input {i}" for i in range(n_in)] + [n for n, _ in params]

    def fn(*args):
        return twin(*args[:n_in])
    return fn, tuple(xs) + tuple(p for _, p in params), names


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, fast=False, seed=0):
    """Return True if ``fn``'s backward matches finite differences, else raise GradcheckError.

    ``fn`` is a function of tensors: ``inputs`` is a tensor or a sequence of tensors (others are
    passed through unchanged); every float tensor with ``requires_grad`` is checked, and those
    must be float64.

    ``fn`` may also be a ``Module``: ``gradcheck(layer, x)`` checks the gradient with respect to
    every float input and every parameter, on a float64 copy of the layer (so float32 inputs and
    layers are fine), and a failure names the parameter element, e.g. ``conv.weight[3, 0, 1, 2]``.
    Put a layer with Dropout in ``eval()`` first: a random mask differs between evaluations.
    """
    if isinstance(inputs, (Tensor, np.ndarray)):
        inputs = (inputs,)
    inputs = tuple(inputs)
    names = None
    from .nn.module import Module             # imported here: gradcheck sits below nn
    if isinstance(fn, Module):
        fn, inputs, names = _module_check(fn, inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad, nothing to check")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(
                f"gradcheck: input {i} is {inputs[i].dtype}; finite differences need float64 "
                f"(in float32 the rounding error of fn, about 1e-7*|f|/eps, is larger than the "
                f"derivative's own precision). Pass tensors made from float64 arrays.")
    rng = np.random.default_rng(seed)

    # analytic: one backward with a random upstream gradient v
    out = fn(*inputs)
    if not isinstance(out, Tensor) or not out.requires_grad:
        raise ValueError("gradcheck: fn's output does not require grad (is it connected to the "
                         "inputs?)")
    v = rng.standard_normal(out.shape) if out.ndim else np.array(1.0)
    for i in checked:
        inputs[i].grad = None
    out.backward(v.astype(out.dtype))
    analytic = {i: (inputs[i].grad if inputs[i].grad is not None
                    else np.zeros(inputs[i].shape)) for i in checked}

    def what(i):
        return names[i] if names else f"input {i}"

    for i in checked:
        x = inputs[i].data                      # perturbed in place, restored afterwards
        if fast:
            u = rng.standard_normal(x.shape)
            x0 = x.copy()
            x += eps * u
            f_plus = _scalar(fn, inputs, v)
            x[...] = x0 - eps * u
            f_minus = _scalar(fn, inputs, v)
            x[...] = x0
            num = (f_plus - f_minus) / (2 * eps)
            ana = float(np.sum(analytic[i] * u))
            if not abs(ana - num) <= atol + rtol * abs(num):
                raise GradcheckError(
                    f"gradcheck (fast): {what(i)} of shape {x.shape}: directional derivative "
                    f"along a random direction is {ana:.8g} analytically but {num:.8g} "
                    f"numerically (difference {abs(ana - num):.3g})")
            continue
        numeric = np.zeros(x.shape)
        for k in np.ndindex(*x.shape):          # any memory layout, even non-contiguous
            orig = x[k]
            x[k] = orig + eps
            f_plus = _scalar(fn, inputs, v)
            x[k] = orig - eps
            f_minus = _scalar(fn, inputs, v)
            x[k] = orig
            numeric[k] = (f_plus - f_minus) / (2 * eps)
        ana = analytic[i]
        bad = ~(np.abs(ana - numeric) <= atol + rtol * np.abs(numeric))
        if bad.any():
            err = np.abs(ana - numeric).reshape(-1)
            worst = np.argsort(-err)[:5]
            first = tuple(int(j) for j in np.argwhere(bad)[0])
            if names:                           # "conv.weight[3, 0, 1, 2]"
                where = lambda k: f"{names[i]}[{', '.join(map(str, k))}]"    # noqa: E731
            else:
                where = lambda k: f"input {i} (shape {x.shape}) element {k}"  # noqa: E731
            lines = "\n".join(
                f"    {where(tuple(int(a) for a in np.unravel_index(j, x.shape)))}: analytic "
                f"{ana.reshape(-1)[j]:.8g}  numeric {numeric.reshape(-1)[j]:.8g}" for j in worst)
            raise GradcheckError(
                f"gradcheck: {where(first)}: analytic "
                f"{ana[first]:.8g} vs numeric {numeric[first]:.8g}; {int(bad.sum())} of "
                f"{x.size} entries outside atol={atol}, rtol={rtol}. Worst:\n{lines}")
    return True
