"""``mt.summary(model, input_shape)``: a torchinfo-like table of a model.

For every module: its output shape, its parameters and its multiply-accumulates (MACs) for ONE
input sample.  MACs are counted for the layers that do the arithmetic -- a convolution does
``C_in/groups * KH * KW`` multiply-adds per output element, a linear layer ``in_features`` -- and
BatchNorm, pooling and activations (a few operations per element) are reported as 0, as torchinfo
does for its "Mult-Adds".

The shapes come from actually running the model once on a zero input under ``no_grad``, with
a forward hook on each module (removed afterwards) recording what it returned.
"""
import numpy as np

from ..autograd import no_grad
from ..nn.module import evaluating
from ..tensor import Tensor


def _own_macs(module, out_shape):
    """MACs of one module for a batch of 1, from its output shape."""
    name = type(module).__name__
    out_elems = int(np.prod(out_shape[1:])) if out_shape else 0
    if name == "Conv2d":
        kh, kw = module.weight.shape[2:]
        return out_elems * module.weight.shape[1] * kh * kw      # weight: (out, in/groups, kh, kw)
    if name == "Linear":
        return out_elems * module.weight.shape[1]
    return 0


class Summary:
    """The table (``str(summary)``) and its totals as numbers.

    Attributes: ``rows`` (list of dicts: name, type, depth, output_shape, params, macs),
    ``total_params``, ``trainable_params``, ``total_macs``, ``input_shape``, ``output_shape``.
    """

    def __init__(self, rows, total_params, trainable_params, total_macs, input_shape,
                 output_shape):
        self.rows = rows
        self.total_params = total_params
        self.trainable_params = trainable_params
        self.total_macs = total_macs
        self.input_shape = input_shape
        self.output_shape = output_shape

    def __str__(self):
        head = ("Layer (type)", "Output shape", "Params", "MACs")
        lines = [(("  " * r["depth"]) + f"{r['name']} ({r['type']})",
                  str(list(r["output_shape"])) if r["output_shape"] else "--",
                  f"{r['params']:,}", f"{r['macs']:,}") for r in self.rows]
        widths = [max(len(x) for x in col) for col in zip(head, *lines)] if lines else \
            [len(h) for h in head]
        fmt = lambda c: f"{c[0]:<{widths[0]}}  {c[1]:<{widths[1]}}  {c[2]:>{widths[2]}}  " \
                        f"{c[3]:>{widths[3]}}"                                  # noqa: E731
        rule = "-" * len(fmt(head))
        out = [rule, fmt(head), rule] + [fmt(c) for c in lines] + [rule]
        out += [f"Input shape: {list(self.input_shape)}   Output shape: {list(self.output_shape)}",
                f"Total params: {self.total_params:,}",
                f"Trainable params: {self.trainable_params:,}",
                f"Total MACs (per sample): {self.total_macs:,}", rule]
        return "\n".join(out)

    __repr__ = __str__


def summary(model, input_shape, dtype=np.float32):
    """Run ``model`` once on zeros of ``input_shape`` ((C, H, W), or with a batch dim first) and
    return a ``Summary``.  ``print(mt.summary(model, (1, 28, 28)))`` shows the table."""
    shape = tuple(input_shape)
    if len(shape) == 3:
        shape = (1,) + shape
    records = {}
    named = list(model.named_modules())

    def recorder(name):
        def hook(module, args, out):
            records[name] = tuple(out.shape) if isinstance(out, Tensor) else None
        return hook
    handles = [m.register_forward_hook(recorder(name)) for name, m in named]
    try:
        with evaluating(model), no_grad():        # no running-stat updates, no dropout
            out = model(Tensor(np.zeros(shape, dtype=dtype)))
    finally:                                      # the model leaves as it came, even on error
        for h in handles:
            h.remove()

    # own MACs per module, then subtree sums (named_modules lists parents before children)
    own = {name: _own_macs(m, records.get(name)) for name, m in named}
    rows = []
    for name, module in named[1:]:
        prefix = name + "."
        macs = sum(v for k, v in own.items() if k == name or k.startswith(prefix))
        rows.append({"name": name, "type": type(module).__name__, "depth": name.count("."),
                     "output_shape": records.get(name), "macs": macs,
                     "params": sum(p.data.size for p in module.parameters())})
    params = list(model.parameters())
    return Summary(rows,
                   total_params=sum(p.data.size for p in params),
                   trainable_params=sum(p.data.size for p in params if p.requires_grad),
                   total_macs=sum(own.values()),
                   input_shape=shape, output_shape=tuple(out.shape))
