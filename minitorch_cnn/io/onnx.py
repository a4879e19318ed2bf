"""``mt.onnx.export``: write a model as an ONNX graph, for onnxruntime, Netron or PyTorch users.

    import minitorch_cnn as mt
    model = mt.models.InceptionLite()
    mt.onnx.export(model, "inception.onnx", input_shape=(1, 1, 28, 28))

How it works: record, then translate
------------------------------------
The forward pass already records everything an ONNX graph needs.  Every op is a ``Function``
node (autograd.py): the output tensor's ``_ctx`` is the node, ``ctx.parents`` are its inputs
(tensors, parameters, numbers) and ``ctx.kwargs`` its settings (stride, padding, dim, ...).  So
``export`` runs the model once in eval mode on an input that requires grad -- every op is then
recorded -- and walks that graph from the output back to the input, turning each node into one
ONNX node (``_Exporter.convert_*``).  Nothing is patched and the model's code is not read: any
``forward`` that uses the supported ops exports, whatever Python it runs (``cat`` of branches,
``flatten``, arithmetic).  A parameter or buffer that enters the graph becomes an initializer
under its ``state_dict`` name (``features.0.0.weight``), so the ONNX file and a checkpoint name
every weight alike; any other constant (a number in ``x * 0.5``) gets a generated name.

Which sizes may vary: a second recording
----------------------------------------
One recording sees one input size.  Some settings depend on it: ``flatten`` reshapes to
(N, C*H*W), and an adaptive average pool to 1 x 1 on a 7 x 7 map is an ``avg_pool2d`` whose
kernel is 7 x 7.  Written as constants, these would tie the graph to that size.  ``export``
therefore records the model a second time, with one more sample in the batch (and, with
``dynamic_hw=True``, twice the height and width), and compares the two graphs node by node:

* a setting that is the same in both is a constant;
* a reshape's target dims that follow the input become ``0`` (copy that dim) or ``-1``;
* an average pool whose kernel is the whole input (changing or not) is a ``GlobalAveragePool``;
* anything else that changes (an adaptive pool with other bins, a constant of the input's shape)
  is an error saying so.

The batch dim is always symbolic (``N``); with ``dynamic_hw=True`` so are height and width
(``H``, ``W``), so the convolutionalised detector (``fc_to_conv``) runs on any picture size.

What exports (ONNX op, opset 17): Conv (stride, padding, dilation, groups; both conv paths),
Gemm / MatMul (``linear``, ``@``), BatchNormalization (eval), Relu, LeakyRelu, Sigmoid, Tanh,
Softmax, LogSoftmax, MaxPool, AveragePool, GlobalAveragePool, Concat, Reshape (``flatten``,
``reshape``), Transpose (``permute``), Add, Sub, Mul, Div, Neg, Exp, Log, Sqrt, Abs, Pow.
Dropout is the identity in eval mode: ``dropout`` then records no op, and none is written.

An op outside that list is an error naming the op and where it ran.  Without forward hooks the
graph does not say which module created a node, so the message names the modules that hold the
weights nearest to the op (upstream "after", downstream "before" -- for an op inside a module,
those bracket it) and every leaf module whose class minitorch_cnn does not define (the usual
home of a custom op).

The ``onnx`` package is imported only inside ``export`` (it is an optional extra:
``pip install minitorch_cnn[onnx]``); the graph is built with its helpers (``onnx.helper``,
``onnx.numpy_helper``), checked with ``onnx.checker.check_model`` and written atomically.
"""
import numpy as np

from ..autograd import is_grad_enabled, topological_order
from .fileio import atomic_write_bytes
from ..nn.functional import basic, conv, pooling
from ..nn.module import evaluating
from ..ops import activation, arithmetic, math as mmath, shape as mshape
from ..tensor import Tensor

__all__ = ["export", "OnnxExportError"]


class OnnxExportError(ValueError):
    """The model uses something ONNX export cannot write (the message says what and where)."""


def _require_onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError("mt.onnx.export needs the 'onnx' package, an optional extra: "
                          "pip install 'minitorch_cnn[onnx]'  (or: pip install onnx "
                          "onnxruntime)") from None
    return onnx


def export(model, path, input_shape, dynamic_hw=False, opset=17):
    """Record one forward pass of ``model`` (eval mode) and write it to ``path`` as ONNX.

    Args:
        model: a ``Module``; its mode flags are restored afterwards.
        path: the .onnx file to write (atomically: temp file + rename).
        input_shape: (N, C, H, W) -- or (C, H, W), N = 1 -- of the example input (random
            values are used; only the shape matters).
        dynamic_hw: make height and width symbolic (``H``, ``W``) as well as the batch (``N``).
        opset: the ONNX opset (>= 13: Softmax over one axis, Reshape with 0/-1).

    Returns the ``onnx.ModelProto`` that was written.  Raises ``OnnxExportError`` for an op or a
    size-dependent setting that cannot be exported, ``ImportError`` without the ``onnx`` package.
    """
    onnx = _require_onnx()
    if not isinstance(opset, int) or opset < 13:
        raise ValueError(f"onnx.export: opset must be an int >= 13, got {opset!r}")
    shape = tuple(input_shape)
    if len(shape) == 3:                                 # (C, H, W), as fc_to_conv takes it
        shape = (1,) + shape
    if len(shape) != 4 or not all(type(d) is int and d > 0 for d in shape):
        raise ValueError(f"onnx.export: input_shape must be (N, C, H, W) or (C, H, W), positive "
                         f"ints, got {input_shape!r}")
    if not is_grad_enabled():
        raise RuntimeError("onnx.export records the graph autograd builds, so it cannot run "
                           "inside no_grad(); call it outside")
    N, C, H, W = shape
    shape2 = (N + 1, C, 2 * H, 2 * W) if dynamic_hw else (N + 1, C, H, W)
    ex = _Exporter(model, onnx)
    first = ex.trace(shape)
    second = ex.trace(shape2, second="the batch size, height and width" if dynamic_hw
                      else "the batch size")
    proto = ex.build(first, second, opset, type(model).__name__)
    onnx.checker.check_model(proto)
    atomic_write_bytes(path, proto.SerializeToString())
    return proto


def _dtype_of(model):
    for p in model.parameters():
        return p.data.dtype
    return np.dtype(np.float32)


class _Trace:
    """One recorded forward pass: the input, the output and the op outputs in order."""

    def __init__(self, x, out):
        # the op outputs (leaves dropped), each after its inputs
        self.x, self.out = x, out
        self.order = [t for t in topological_order(out, every_input=True) if t._ctx is not None]


class _Exporter:
    """Turns two recordings of the same model into one ONNX graph (see the module docstring)."""

    def __init__(self, model, onnx):
        self.model, self.onnx = model, onnx
        self.dtype = _dtype_of(model)
        self.weights = {id(p): n for n, p in model.named_parameters()}
        self.weights.update({id(b): n for n, b in model.named_buffers()})
        self.nodes, self.inits, self.init_names = [], [], set()
        self.names = {}                      # id(op output of trace 1) -> its ONNX name
        self.counts = {}

    # ------------------------------------------------------------------ recording
    def trace(self, shape, second=None):
        x = Tensor(np.random.default_rng(0).standard_normal(shape).astype(self.dtype),
                   requires_grad=True)
        try:
            with evaluating(self.model):
                out = self.model(x)
        except (ValueError, TypeError, RuntimeError) as e:
            if not second:
                raise
            raise OnnxExportError(f"onnx.export: the model does not run on an input of shape "
                                  f"{shape} ({e}); it must, since the exported graph keeps "
                                  f"{second} symbolic") from None
        if not isinstance(out, Tensor):
            raise OnnxExportError(f"onnx.export: the model must return one Tensor, it returned "
                                  f"{type(out).__name__}")
        return _Trace(x, out)

    # ------------------------------------------------------------------ building
    def fresh(self, base):
        k = self.counts[base] = self.counts.get(base, -1) + 1
        return f"{base}_{k}"

    def const(self, value, base="const"):
        name = self.fresh(base)
        arr = np.asarray(value, order="C")
        self.inits.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def node(self, op, inputs, **attrs):
        out = self.fresh(op)
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def weight_name(self, p):
        """The state_dict name of a parameter or buffer (the Tensor or its array), else None."""
        return self.weights.get(id(p), self.weights.get(id(p.data if isinstance(p, Tensor) else p)))

    def input(self, p, p2, dtype=None):
        """The ONNX name of one input of the current node (p: trace 1, p2: trace 2)."""
        if p is None:                                  # an absent optional input (no bias)
            return ""
        if isinstance(p, Tensor) and p._ctx is not None:
            return self.names[id(p)]
        if p is self.t1.x:
            return "input"
        arr = p.data if isinstance(p, Tensor) else p
        name = self.weight_name(p)
        if name is not None:
            if name not in self.init_names:
                self.init_names.add(name)
                self.inits.append(self.onnx.numpy_helper.from_array(
                    np.asarray(arr, order="C"), name))
            return name
        arr2 = p2.data if isinstance(p2, Tensor) else p2
        if np.shape(arr) != np.shape(arr2):
            self.fail(f"a constant of shape {np.shape(arr)} that changes with the input size "
                      f"(shape {np.shape(arr2)} on the second recording): the forward builds "
                      f"an array from the input's shape or data outside the graph")
        arr = np.asarray(arr)
        if arr.dtype.kind in "fiub" and arr.dtype != dtype:    # a number takes the op's dtype
            arr = arr.astype(dtype or self.dtype)
        return self.const(arr)

    def build(self, t1, t2, opset, graph_name):
        helper = self.onnx.helper
        self.t1, self.t2 = t1, t2
        if len(t1.order) != len(t2.order) or any(
                type(a._ctx) is not type(b._ctx) for a, b in zip(t1.order, t2.order)):
            raise OnnxExportError("onnx.export: the model runs different ops on a different "
                                  "input size, so no single graph describes it")
        if not t1.order:
            raise OnnxExportError("onnx.export: the model's output records no op (does the "
                                  "forward return its input, or compute outside the graph?)")
        for k, (o1, o2) in enumerate(zip(t1.order, t2.order)):
            self.k, self.o1, self.o2 = k, o1, o2
            ctx = o1._ctx
            name = type(ctx).__name__
            convert = (self.elementwise if name in _ELEMENTWISE
                       else getattr(self, "convert_" + name, None))
            if convert is None or type(ctx).__module__ not in _OP_MODULES:
                self.fail("no ONNX translation")
            self.names[id(o1)] = convert(ctx, o2._ctx)
        if not any(p is t1.x for o in t1.order for p in o._ctx.parents):
            raise OnnxExportError("onnx.export: the output does not depend on the input (the "
                                  "forward computes outside the graph, e.g. through .data)")
        # the last node's output is the graph's output
        last = self.nodes[-1]
        final = self.names[id(t1.out)]
        if last.output[0] == final:
            last.output[0] = "output"
        else:
            self.nodes.append(helper.make_node("Identity", [final], ["output"]))
        elem = helper.np_dtype_to_tensor_dtype(np.dtype(self.dtype))
        in_dims = ["N", t1.x.shape[1]] + (["H", "W"] if t1.x.shape[2] != t2.x.shape[2]
                                          else list(t1.x.shape[2:]))
        symbols = ["N", "out_1", "OH", "OW"] if t1.out.ndim == 4 else ["N"]
        out_dims = [(symbols[i] if i < len(symbols) else f"out_{i}") if a != b else a
                    for i, (a, b) in enumerate(zip(t1.out.shape, t2.out.shape))]
        graph = helper.make_graph(
            self.nodes, graph_name,
            [helper.make_tensor_value_info("input", elem, in_dims)],
            [helper.make_tensor_value_info("output", helper.np_dtype_to_tensor_dtype(
                t1.out.dtype), out_dims)],
            initializer=self.inits)
        opsets = [helper.make_opsetid("", opset)]
        # the oldest IR version that carries the opset: the onnx package's default is its own
        # newest, which older runtimes refuse ("Unsupported model IR version")
        return helper.make_model(graph, producer_name="minitorch_cnn", opset_imports=opsets,
                                 ir_version=helper.find_min_ir_version_for(opsets))

    # ------------------------------------------------------------------ errors
    def fail(self, why):
        ctx = self.o1._ctx
        op = f"{type(ctx).__name__} ({type(ctx).__module__}.{type(ctx).__qualname__})"
        raise OnnxExportError(f"onnx.export: cannot export op {op}: {why}. It ran "
                              f"{self._where()}")

    def _where(self):
        """Which modules bracket the current node: the weights nearest upstream / downstream."""
        order, k = self.t1.order, self.k

        def owner(o):
            for p in o._ctx.parents:
                name = self.weight_name(p)
                if name is not None:
                    return name.rpartition(".")[0] or "<model>"
            for v in getattr(o._ctx, "kwargs", {}).values():
                name = self.weights.get(id(v))
                if name is not None:
                    return name.rpartition(".")[0] or "<model>"
            return None

        here = owner(order[k])
        parts = []
        if here is not None:
            parts.append(f"in module '{here}' ({self._type(here)})")
        else:
            before = next((m for m in map(owner, reversed(order[:k])) if m), None)
            after = next((m for m in map(owner, order[k + 1:]) if m), None)
            parts.append(f"after module '{before}' ({self._type(before)})" if before
                         else "before any module with weights")
            if after:
                parts.append(f"before module '{after}' ({self._type(after)})")
        custom = [f"'{n}' ({type(m).__name__})" for n, m in self.model.named_modules()
                  if n and not m._modules and not type(m).__module__.startswith("minitorch_cnn.")]
        text = ", ".join(parts) + f" in the forward of {type(self.model).__name__}"
        if custom:
            text += "; leaf modules not defined by minitorch_cnn: " + ", ".join(custom)
        return text

    def _type(self, path):
        mods = dict(self.model.named_modules())
        m = mods.get("" if path == "<model>" else path)
        return type(m).__name__ if m is not None else "?"

    # ------------------------------------------------------------------ helpers
    def same(self, c1, c2, *keys):
        """The settings ``keys`` of the node, checked to be equal in both recordings."""
        vals = []
        for key in keys:
            a, b = c1.kwargs[key], c2.kwargs[key]
            if a != b:
                self.fail(f"its setting {key} depends on the input size ({a} on {self.t1.x.shape},"
                          f" {b} on {self.t2.x.shape})")
            vals.append(a)
        return vals

    def ins(self, c1, c2, dtype=None):
        dtype = dtype or self.o1.dtype
        return [self.input(p, q, dtype) for p, q in zip(c1.parents, c2.parents)]

    # ------------------------------------------------------------------ the ops
    def convert_Conv2dIm2colFn(self, c1, c2):
        stride, ((pt, pb), (pl, pr)), dilation, groups = self.same(
            c1, c2, "stride", "padding", "dilation", "groups")
        x, w, b = c1.parents
        names = self.ins(c1, c2)[:2 if b is None else 3]
        return self.node("Conv", names, kernel_shape=list(w.shape[2:]), strides=list(stride),
                         pads=[pt, pl, pb, pr], dilations=list(dilation), group=groups)

    def convert_Conv2d1x1Fn(self, c1, c2):
        (stride,) = self.same(c1, c2, "stride")
        names = self.ins(c1, c2)[:2 if c1.parents[2] is None else 3]
        return self.node("Conv", names, kernel_shape=[1, 1], strides=list(stride))

    def convert_LinearFn(self, c1, c2):
        x, w, b = c1.parents
        names = self.ins(c1, c2)[:2 if b is None else 3]
        if x.ndim == 2:                          # y = x W^T + b in one Gemm, W kept (out, in)
            return self.node("Gemm", names, transB=1)
        y = self.node("MatMul", [names[0], self.node("Transpose", [names[1]], perm=[1, 0])])
        return y if b is None else self.node("Add", [y, names[2]])

    def convert_BatchNormFn(self, c1, c2):
        if c1.kwargs["training"]:
            self.fail("batch statistics (training mode); export runs the model in eval mode, "
                      "so this module calls batch_norm with training=True itself")
        (eps,) = self.same(c1, c2, "eps")
        x, gamma, beta = c1.parents
        C = x.shape[1]
        names = self.ins(c1, c2)
        stats = [self.input(c1.kwargs[k], c2.kwargs[k]) for k in ("running_mean", "running_var")]
        scale = names[1] if gamma is not None else self.const(np.ones(C, x.dtype), "ones")
        shift = names[2] if beta is not None else self.const(np.zeros(C, x.dtype), "zeros")
        return self.node("BatchNormalization", [names[0], scale, shift] + stats, epsilon=eps)

    def convert_LeakyReLUFn(self, c1, c2):
        slope = c1.parents[1]
        return self.node("LeakyRelu", [self.input(c1.parents[0], c2.parents[0])],
                         alpha=float(slope))

    def convert_SoftmaxFn(self, c1, c2):
        (dim,) = self.same(c1, c2, "dim")
        return self.node("Softmax", self.ins(c1, c2), axis=dim)

    def convert_LogSoftmaxFn(self, c1, c2):
        (dim,) = self.same(c1, c2, "dim")
        return self.node("LogSoftmax", self.ins(c1, c2), axis=dim)

    def elementwise(self, c1, c2):
        """One input -> one output, or two broadcast inputs: the ONNX op of the same name."""
        return self.node(_ELEMENTWISE[type(c1).__name__], self.ins(c1, c2))

    def convert_MaxPool2dFn(self, c1, c2):
        k, s, p = self.same(c1, c2, "k", "s", "p")
        return self.node("MaxPool", self.ins(c1, c2), kernel_shape=list(k), strides=list(s),
                         pads=[p[0], p[1], p[0], p[1]])

    def convert_AvgPool2dFn(self, c1, c2):
        k1, k2 = c1.kwargs["k"], c2.kwargs["k"]
        x1, x2 = c1.parents[0], c2.parents[0]
        if k1 != k2:
            # adaptive_avg_pool2d to 1 x 1 runs as avg_pool2d(kernel = the whole input)
            if (k1, k2) == (x1.shape[2:], x2.shape[2:]) and c1.kwargs["o"] == (1, 1):
                return self.node("GlobalAveragePool", self.ins(c1, c2))
            self.fail(f"an adaptive average pool to {c1.kwargs['o']} (kernel {k1} on "
                      f"{x1.shape}, {k2} on {x2.shape}); ONNX has no adaptive pool, only the "
                      f"global one (output size 1) exports with a variable input size")
        s, p = self.same(c1, c2, "s", "p")
        if k1 == x1.shape[2:] == x2.shape[2:] and p == (0, 0):    # fixed size, whole input
            return self.node("GlobalAveragePool", self.ins(c1, c2))
        return self.node("AveragePool", self.ins(c1, c2), kernel_shape=list(k1), strides=list(s),
                         pads=[p[0], p[1], p[0], p[1]], count_include_pad=1)

    def convert_AdaptiveAvgPool2dFn(self, c1, c2):
        if c1.kwargs["out_hw"] == (1, 1):
            return self.node("GlobalAveragePool", self.ins(c1, c2))
        self.fail(f"adaptive average pooling of {c1.parents[0].shape[2:]} to "
                  f"{c1.kwargs['out_hw']} has unequal bins, and ONNX has no adaptive pool")

    def convert_Cat(self, c1, c2):
        (dim,) = self.same(c1, c2, "dim")
        return self.node("Concat", self.ins(c1, c2), axis=dim)

    def convert_Permute(self, c1, c2):
        (dims,) = self.same(c1, c2, "dims")
        return self.node("Transpose", self.ins(c1, c2), perm=list(dims))

    def convert_Reshape(self, c1, c2):
        """Target dims that are equal in both recordings are constants; one that follows the
        input becomes 0 (copy the input's dim), and one more may be -1 (whatever is left)."""
        in1, in2 = c1.parents[0].shape, c2.parents[0].shape
        out1, out2 = self.o1.shape, self.o2.shape
        target = []
        for i, (a, b) in enumerate(zip(out1, out2)):
            if a == b:
                target.append(a)
            elif i < len(in1) and (a, b) == (in1[i], in2[i]):
                target.append(0)
            else:
                target.append(-1)
        if target.count(-1) > 1:
            self.fail(f"a reshape of {in1} to {out1} whose dims change with the input size in "
                      f"a way Reshape's 0 / -1 cannot say")
        if 0 in out1:
            self.fail("a reshape to an empty shape")
        shape = self.const(np.array(target, np.int64), "shape")
        return self.node("Reshape", [self.ins(c1, c2)[0], shape])


# our op -> the ONNX op that takes the same inputs (numbers become constants) and no settings
_ELEMENTWISE = {"ReLUFn": "Relu", "SigmoidFn": "Sigmoid", "TanhFn": "Tanh", "Neg": "Neg",
                "Exp": "Exp", "Log": "Log", "Sqrt": "Sqrt", "Abs": "Abs", "Add": "Add", "Sub": "Sub",
                "Mul": "Mul", "Div": "Div", "Pow": "Pow", "MatMul": "MatMul"}
_OP_MODULES = {m.__name__ for m in (basic, conv, pooling, activation, arithmetic, mmath, mshape)}
