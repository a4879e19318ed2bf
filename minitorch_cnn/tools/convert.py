"""``fc_to_conv``: turn a CNN with a fully connected head into a fully convolutional network.

The lesson
----------
Notation: the classifier's head reads a feature map F of shape (C', H', W') -- for Inception-lite
(112, 7, 7) -- through ``Flatten`` (C, H, W order) and a ``Linear(C'*H'*W', O)``:

    y[o] = b[o] + sum_k  W[o, k] * flat(F)[k],          k = c*H'*W' + h*W' + w.

A ``Conv2d(C', O, kernel_size=(H', W'))`` with weight K (O, C', H', W') computes at output
position (i, j)

    z[o, i, j] = b[o] + sum_{c,h,w} K[o, c, h, w] * F[c, i + h, j + w].

On an input of exactly H' x W' there is one position, (0, 0), and the two sums are the same sum
term by term as soon as K[o, c, h, w] = W[o, c*H'*W' + h*W' + w] -- that is K = W.reshape(O, C',
H', W'), a pure reshape, because PyTorch's layouts (Linear (out, in), conv (out, in, KH, KW),
Flatten in C-order) were chosen to agree.  **A fully connected layer is a convolution whose
kernel is as large as its input.**  Every later ``Linear(I, O)`` then reads a 1 x 1 "image" of I
channels, i.e. it is a 1x1 convolution (a matrix multiply over the channel axis, at every pixel).

Why bother?  A convolution does not care how big its input is.  Feed the converted network an
image larger than the training size and the feature extractor produces a larger map; the 7x7
"FC" kernel slides over it and gives one prediction per 7x7 patch of features, i.e. one per
window of the image, at a stride s equal to the product of the feature extractor's strides
(4 for Inception-lite: two 2x2 max-pools).  Overlapping windows share the feature extractor's
work; this is how OverFeat and FCN run a classifier over a whole picture in one pass.

What is converted
-----------------
The model is deep-copied (the original is untouched and shares no array with the result).  The
single ``Flatten(start_dim=1)`` is found in the module tree; the layers that run after it are
those that follow it in its ``Sequential`` and in each enclosing ``Sequential``:

    Flatten                      -> Identity     (kept in place: state_dict keys do not move)
    first Linear                 -> Conv2d(C', O, kernel_size=(H', W')), weight reshaped
    later Linear                 -> Conv2d(I, O, 1)
    BatchNorm1d (after a Linear) -> BatchNorm2d, same weight, bias, running stats, counter
    Softmax / LogSoftmax (dim 1 or -1 of the (N, O) output) -> the same over dim=1
    ReLU, LeakyReLU, Sigmoid, Tanh, Dropout, Identity -> kept (they act element by element)

and, before the Flatten, an ``AdaptiveAvgPool2d`` (which would squeeze any input to the training
size, so that nothing slides) becomes the ``AvgPool2d(kernel = stride = H/OH, W/OW)`` it equals
on ``input_shape``; if its bins there are unequal, that is an error naming it.

Anything else after the Flatten, a ``Linear`` that no Flatten precedes, a second Flatten or a
Flatten with ``start_dim != 1`` raises a ValueError that names the layer.  The output becomes
(N, O, OH, OW) instead of (N, O); on ``input_shape`` OH = OW = 1 and the values are those of the
original.  A non-Sequential module above the head (e.g. ``InceptionLite``, whose forward is
``self.head(self.features(x))``) is trusted to pass the head's result through unchanged; this is
checked numerically on a random batch of ``input_shape`` (``check=True``).

Caveat: the sliding-window reading is exact only for a feature extractor without zero padding.
With padding, a window evaluated alone sees zeros beyond its border while inside a big image it
sees the neighbouring pixels (see docs/fc_as_conv.md for measured numbers).
"""
import copy

import numpy as np

from ..autograd import no_grad
from ..nn import (AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten,
                 Identity, LeakyReLU, Linear, LogSoftmax, Module, Parameter, ReLU, Sequential,
                 Sigmoid, Softmax, Tanh, evaluating)
from ..nn.functional.pooling import adaptive_output_size
from ..tensor import Tensor

__all__ = ["fc_to_conv"]

# layers that act on each number separately: correct on (N, C) and on (N, C, H, W) alike
ELEMENTWISE = (ReLU, LeakyReLU, Sigmoid, Tanh, Dropout, Identity)


def _fail(path, module, why):
    where = f"layer '{path}'" if path else "the model itself"
    raise ValueError(f"fc_to_conv: cannot convert {where} ({module!r}): {why}")


def _check_input_shape(input_shape):
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
    if (shape is None or len(shape) != 3
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0
                       for v in shape)):
        raise ValueError(f"fc_to_conv: input_shape must be (C, H, W), three positive ints, got "
                         f"{input_shape!r}")
    return tuple(int(v) for v in shape)


def _model_dtype(model):
    for p in model.parameters():
        if p.data.dtype.kind == "f":
            return p.data.dtype
    return np.dtype(np.float32)


def _run_eval(model, x):
    """``model(x)`` in eval mode without autograd; every module's own mode flag is restored."""
    with evaluating(model), no_grad():
        return model(x)


class _Reached(Exception):
    """Raised by the recorder once the Flatten saw its input: the head need not run."""


def _flatten_input_shape(model, flatten, input_shape, watch=()):
    """Run ``model`` on zeros(1, *input_shape) up to ``flatten``; the shape that reached it, and
    {id(m): input shape} for the modules in ``watch`` that ran before it."""
    seen, watched = [], {}

    def recorder(module, args):
        seen.append(tuple(args[0].shape))
        raise _Reached

    def watcher(module, args):
        watched[id(module)] = tuple(args[0].shape)
    handles = [flatten.register_forward_pre_hook(recorder)]
    handles += [m.register_forward_pre_hook(watcher) for m in watch]
    try:
        _run_eval(model, Tensor(np.zeros((1,) + input_shape, _model_dtype(model))))
    except _Reached:
        pass
    except (ValueError, TypeError) as e:
        raise ValueError(f"fc_to_conv: {type(model).__name__} does not run on an input of "
                         f"shape {(1,) + input_shape}: {e}") from e
    finally:
        for h in handles:
            h.remove()
    return seen, watched


def _find_flatten(model):
    """(dotted path, module) of the one Flatten, with every Linear found before it -> errors."""
    flattens = [(p, m) for p, m in model.named_modules() if isinstance(m, Flatten)]
    if len(flattens) > 1:
        path, m = flattens[1]
        _fail(path, m, f"a second Flatten (the first is '{flattens[0][0]}'); only one "
                       f"Flatten -> Linear head can be converted")
    if not flattens:
        for path, m in model.named_modules():
            if isinstance(m, Linear):
                _fail(path, m, "this Linear is not preceded by a Flatten, so its input layout "
                               "is unknown")
        raise ValueError(f"fc_to_conv: {type(model).__name__} has no Flatten and no Linear: "
                         f"nothing to convert (it is already fully convolutional)")
    path, flatten = flattens[0]
    if flatten.start_dim != 1 or flatten.end_dim not in (-1, 3):
        _fail(path, flatten, "only Flatten(start_dim=1, end_dim=-1) of an (N, C, H, W) map "
                             "turns into a convolution")
    return path, flatten


def _ancestors(model, path):
    """[(parent module, child key, parent's dotted path)] from the Flatten up to the root."""
    keys = path.split(".")
    chain, module, prefix = [], model, ""
    for key in keys:
        chain.append((module, key, prefix))
        module = module._modules[key]
        prefix = prefix + ("." if prefix else "") + key
    return chain[::-1]


class _HeadState:
    """What flows through the head: (channels, kh, kw) still flat (before the first Linear), or
    ``channels`` on a 1x1 grid after it."""

    def __init__(self, c, h, w):
        self.flat, self.c, self.h, self.w = True, c, h, w


def _no_init(cls, *args, **kwargs):
    """Build a layer whose random initial weights are about to be overwritten, leaving numpy's
    global RNG where it was (converting a model must not change the user's random stream)."""
    state = np.random.get_state()
    try:
        return cls(*args, **kwargs)
    finally:
        np.random.set_state(state)


def _linear_to_conv(path, lin, st):
    """Linear -> Conv2d with the same numbers: weight (O, C*KH*KW) -> (O, C, KH, KW)."""
    I, O = lin.in_features, lin.out_features
    if st.flat:
        C, KH, KW = st.c, st.h, st.w
        if I != C * KH * KW:
            _fail(path, lin, f"in_features={I}, but the Flatten yields C*H*W = {C}*{KH}*{KW} = "
                             f"{C * KH * KW} features")
    else:
        C, KH, KW = st.c, 1, 1
        if I != C:
            _fail(path, lin, f"in_features={I}, but the previous layer gives {C} channels")
    conv = _no_init(Conv2d, C, O, (KH, KW), bias=lin.bias is not None)
    # a pure reshape: PyTorch's Linear (out, in) and Conv2d (out, in, KH, KW) layouts agree with
    # Flatten's C-order, so w_conv[o, c, h, w] = w_lin[o, c*KH*KW + h*KW + w]
    conv.weight = Parameter(lin.weight.data.reshape(O, C, KH, KW),
                            requires_grad=lin.weight.requires_grad)
    if lin.bias is not None:
        conv.bias = Parameter(lin.bias.data, requires_grad=lin.bias.requires_grad)
    st.flat, st.c = False, O
    return conv


def _bn1d_to_bn2d(path, bn, st):
    """BatchNorm1d over (N, C) -> BatchNorm2d over (N, C, H, W): the same per-channel maths."""
    if st.flat:
        _fail(path, bn, f"it normalises each of the {st.c}*{st.h}*{st.w} flattened features "
                        f"separately, which no per-channel BatchNorm2d can do; put it after a "
                        f"Linear")
    if bn.num_features != st.c:
        _fail(path, bn, f"num_features={bn.num_features}, but the input has {st.c} channels")
    new = BatchNorm2d(bn.num_features, eps=bn.eps, momentum=bn.momentum, affine=bn.affine,
                      track_running_stats=bn.track_running_stats, bias=bn.bias is not None)
    for name in ("weight", "bias"):          # the (deep-copied) Parameters move over as they are
        if name in new._parameters:
            new._parameters[name] = bn._parameters[name]
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        new._buffers[name] = bn._buffers[name]
    return new


def _convert_layer(path, m, st):
    # exact types: a subclass may have overridden forward() with something else
    kind = type(m)
    if kind in ELEMENTWISE:
        return m
    if kind is Linear:
        return _linear_to_conv(path, m, st)
    if kind is BatchNorm1d:
        return _bn1d_to_bn2d(path, m, st)
    if kind in (Softmax, LogSoftmax):
        if st.flat or m.dim not in (1, -1):
            _fail(path, m, "only a softmax over the classes of the (N, O) output (dim=1 or -1, "
                           "after a Linear) has a convolutional equivalent (dim=1)")
        return kind(dim=1)
    if kind is Sequential:                   # a nested Sequential: convert its layers in order
        _convert_tail(m, list(m._modules), path + ".", st)
        return m
    _fail(path, m, "after the Flatten only Linear, BatchNorm1d, Softmax/LogSoftmax, nested "
                   "Sequentials and element-wise layers (ReLU, LeakyReLU, Sigmoid, Tanh, "
                   "Dropout, Identity) can be converted")


def _convert_tail(container, keys, prefix, st):
    for key in keys:
        old = container._modules[key]
        if old is None:
            continue
        new = _convert_layer(prefix + key, old, st)
        object.__setattr__(new, "training", old.training)
        container.add_module(key, new)       # same key: the module tree keeps its names


def _adaptive_to_fixed(path, pool, in_shape):
    """AdaptiveAvgPool2d before the head -> the AvgPool2d it equals on ``input_shape``.

    An adaptive pool always returns the same output size, whatever its input: left as it is, it
    would squeeze a big picture into one training-sized map, and the converted network would
    not slide at all.  When its bins are equal (OH divides H, OW divides W) it *is* an
    ``AvgPool2d(kernel = stride = (H/OH, W/OW))`` on ``input_shape``, and that one slides."""
    _, _, H, W = in_shape
    oh, ow = adaptive_output_size(pool.output_size, H, W)
    if H % oh or W % ow:
        _fail(path, pool, f"on input {in_shape[1:]} its {oh}x{ow} output bins have unequal "
                          f"sizes ({H}/{oh}, {W}/{ow}), so no fixed AvgPool2d equals it and the "
                          f"converted network could not slide; choose an output size that "
                          f"divides the feature map, or use AvgPool2d")
    k = (H // oh, W // ow)
    return AvgPool2d(k, stride=k)


def _replace(model, path, new):
    """Put ``new`` where the module at dotted ``path`` is (same key: state_dict keys stay)."""
    *parents, key = path.split(".")
    parent = model
    for k in parents:
        parent = parent._modules[k]
    object.__setattr__(new, "training", parent._modules[key].training)
    parent.add_module(key, new)


def fc_to_conv(model, input_shape, check=True):
    """A fully convolutional copy of ``model``, equal to it on inputs of ``input_shape``.

    Args:
        model: a Module whose classifier is ``Flatten`` followed by Linear / BatchNorm1d /
            element-wise layers, inside ``Sequential``s (e.g. ``InceptionLite``, or a flat
            ``Sequential(conv..., Flatten(), Linear(...), ...)``).
        input_shape: (C, H, W) of the inputs the model was built for, e.g. (1, 28, 28).
        check: run both models once on a random batch of ``input_shape`` and raise if they
            disagree (catches a custom forward that does more than chain its children).

    Returns:
        A new module (the original is unchanged and shares no arrays with it), in the same
        train/eval mode, whose output is (N, O, OH, OW) instead of (N, O): one prediction per
        window of ``input_shape`` at the stride of the feature extractor.  OH = OW = 1 on
        ``input_shape`` itself.

    Raises:
        ValueError naming the layer that cannot be converted.
    """
    if not isinstance(model, Module):
        raise TypeError(f"fc_to_conv: expected a Module, got {type(model).__name__}")
    input_shape = _check_input_shape(input_shape)
    new = copy.deepcopy(model)
    path, flatten = _find_flatten(new)
    chain = _ancestors(new, path)
    # the head = what follows the Flatten in its Sequential, then in each enclosing Sequential
    head = []
    for parent, key, prefix in chain:
        if type(parent) is not Sequential:
            break
        keys = list(parent._modules)
        head.append((parent, keys[keys.index(key) + 1:], prefix + ("." if prefix else "")))
    head_ids = {id(m) for parent, keys, _ in head for k in keys
                if parent._modules[k] is not None for m in parent._modules[k].modules()}
    for p, m in new.named_modules():
        if isinstance(m, Linear) and id(m) not in head_ids:
            _fail(p, m, f"this Linear is not among the layers known to run after '{path}' "
                        f"(those after it in its Sequential and in each enclosing plain "
                        f"Sequential; a custom module or Sequential subclass may run its "
                        f"children in any order, so it cannot be relied on)")
    if not any(isinstance(m, Linear) for parent, keys, _ in head for k in keys
               if parent._modules[k] is not None for m in parent._modules[k].modules()):
        _fail(path, flatten, "no Linear follows this Flatten: nothing to convert")

    pools = [(p, m) for p, m in new.named_modules()
             if type(m) is AdaptiveAvgPool2d and id(m) not in head_ids]
    seen, pool_inputs = _flatten_input_shape(new, flatten, input_shape, [m for _, m in pools])
    if len(seen) != 1 or len(seen[0]) != 4:
        _fail(path, flatten, f"expected it to run once on an (N, C, H, W) feature map for input "
                             f"{input_shape}; it saw {seen or 'nothing'}")
    for p, m in pools:                       # (those that ran: only they shape the input)
        if id(m) in pool_inputs:
            _replace(new, p, _adaptive_to_fixed(p, m, pool_inputs[id(m)]))
    _, C, H, W = seen[0]
    st = _HeadState(C, H, W)
    for parent, keys, prefix in head:
        _convert_tail(parent, keys, prefix, st)
    identity = Identity()
    object.__setattr__(identity, "training", flatten.training)
    parent, key, _ = chain[0]
    parent.add_module(key, identity)

    if check:
        _check_equal(model, new, input_shape)
    return new


def _check_equal(model, new, input_shape):
    """Both models on one random batch: the converted output must be the original's, (N, O) ->
    (N, O, 1, 1)."""
    dtype = _model_dtype(model)
    # two images: a batch norm without running statistics needs more than one value per channel
    x = Tensor(np.random.default_rng(0).standard_normal((2,) + input_shape).astype(dtype))
    try:
        a = _run_eval(model, x).data
    except (ValueError, TypeError) as e:
        raise ValueError(f"fc_to_conv: the original {type(model).__name__} fails on a batch of "
                         f"input {input_shape}: {e}") from e
    try:
        b = _run_eval(new, x).data
    except (ValueError, TypeError) as e:
        raise ValueError(f"fc_to_conv: the converted {type(model).__name__} fails on input "
                         f"{input_shape}; its forward() probably does more than call its "
                         f"children in order: {e}") from e
    tol = 1e-9 if dtype == np.float64 else 1e-4
    if (b.shape != a.shape + (1, 1)
            or not np.allclose(b.reshape(a.shape), a, rtol=tol,
                               atol=tol * max(1.0, float(np.abs(a).max())))):
        raise ValueError(f"fc_to_conv: the converted {type(model).__name__} does not reproduce "
                         f"the original on input {input_shape} (original output {a.shape}, "
                         f"converted {b.shape}); its forward() probably does more than call its "
                         f"children in order (e.g. a reshape or an operation between them)")
