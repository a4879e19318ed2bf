"""Turn a training checkpoint into a file other tools read: ONNX (the whole graph) or safetensors
(the weights only).

    python -m minitorch_cnn.cli.export runs/inception_mnist/checkpoint.npz inception.onnx
    python -m minitorch_cnn.cli.export runs/inception_mnist/checkpoint.npz detector.onnx --fcn
    python -m minitorch_cnn.cli.export runs/inception_mnist/checkpoint.npz inception.safetensors
    minitorch-export ...                                 # the same, as a console script

The checkpoint is a ``checkpoint.npz`` of the training command, or its ``--export`` file.
``--fcn`` first converts the classifier's fully connected head to convolutions (``fc_to_conv``)
and exports height and width as symbolic dimensions, so the ONNX detector runs on a picture of
any size (output (N, classes, OH, OW): one prediction per 28x28 window, stride 4).
The output's suffix picks the format: ``.onnx`` or ``.safetensors``.  ``--draw GRAPH.svg`` also
draws the ONNX graph (one box per node, as Netron shows it; needs the graphviz extra and ``dot``):

    python -m minitorch_cnn.cli.export checkpoints/inception_lite_background.npz /tmp/m.onnx \
        --draw docs/images/inception_onnx.svg
"""
import argparse
import sys
from pathlib import Path

from .checks import output_file
from .train import load_model_checkpoint
from ..tools.convert import fc_to_conv
from ..io.fileio import atomic_write_bytes
from ..io.onnx import export as export_onnx
from ..io.safetensors import save_safetensors

INPUT = (1, 1, 28, 28)                 # what InceptionLite was trained on: (N, C, H, W)


def build_parser():
    p = argparse.ArgumentParser(prog="python -m minitorch_cnn.cli.export",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help="checkpoint.npz of a training run (or its --export file)")
    p.add_argument("out", help="the file to write: NAME.onnx or NAME.safetensors")
    p.add_argument("--fcn", action="store_true",
                   help="convert the FC head to convolutions (fc_to_conv) and export any "
                        "picture size (ONNX only)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset")
    p.add_argument("--draw", default=None, metavar="GRAPH.svg",
                   help="also draw the ONNX graph (graphviz; .svg, .png or .pdf)")
    return p


def draw_graph(proto, path):
    """The ONNX graph as a picture: a box per node (op type and its kernel/stride settings), an
    arrow per tensor between nodes; weights are named in the box, not drawn."""
    try:
        import graphviz
    except ImportError:
        raise SystemExit("error: --draw needs the 'graphviz' package (pip install graphviz) and "
                         "Debian's graphviz (dot)") from None
    g = graphviz.Digraph(graph_attr={"rankdir": "TB", "fontname": "Helvetica"},
                         node_attr={"shape": "box", "style": "rounded,filled", "fontsize": "11",
                                    "fontname": "Helvetica", "fillcolor": "#eef3fb"})
    weights = {i.name: list(i.dims) for i in proto.graph.initializer}
    producer = {"input": "input"}
    g.node("input", "input\n" + _dims(proto.graph.input[0]), fillcolor="#f6e3c8")
    for k, n in enumerate(proto.graph.node):
        shown = {"kernel_shape", "strides", "dilations", "group", "axis", "alpha"}
        attrs = [f"{a.name}={list(a.ints) if a.ints else (a.i if a.type == 2 else round(a.f, 4))}"
                 for a in n.attribute if a.name in shown]
        ws = [f"{w} {'x'.join(map(str, weights[w]))}" for w in n.input
              if w in weights and "." in w][:1]
        g.node(f"n{k}", "\n".join([n.op_type] + attrs + ws))
        for t in n.input:
            if t in producer:
                g.edge(producer[t], f"n{k}")
        for t in n.output:
            producer[t] = f"n{k}"
    g.node("output_box", "output\n" + _dims(proto.graph.output[0]), fillcolor="#f6e3c8")
    g.edge(producer["output"], "output_box")
    fmt = Path(path).suffix.lstrip(".").lower() or "svg"
    try:
        data = g.pipe(format=fmt)
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError, ValueError) as e:
        raise SystemExit(f"error: --draw {path}: {e}")
    atomic_write_bytes(path, data)


def _dims(value_info):
    return "x".join(d.dim_param or str(d.dim_value) for d in value_info.type.tensor_type.shape.dim)


def main(argv=None):
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    kind = out.suffix.lower()
    if kind not in (".onnx", ".safetensors"):
        raise SystemExit(f"error: the output must end in .onnx or .safetensors, got {out}")
    if kind == ".safetensors" and args.fcn:
        raise SystemExit("error: --fcn changes the graph, and a .safetensors file holds weights "
                         "only; export the converted model to .onnx")
    output_file("out", out)
    output_file("draw", args.draw)
    if args.draw and kind != ".onnx":
        raise SystemExit("error: --draw draws an ONNX graph; the output must be a .onnx file")
    model, state = load_model_checkpoint(args.checkpoint)
    try:
        if kind == ".safetensors":
            save_safetensors(model.state_dict(), out, metadata={"arch": state["arch"]})
            print(f"wrote {out}: {len(model.state_dict())} arrays (weights only, PyTorch's "
                  f"state_dict names)")
            return 0
        if args.fcn:
            model = fc_to_conv(model, INPUT[1:])
        proto = export_onnx(model, out, INPUT, dynamic_hw=args.fcn, opset=args.opset)
    except ImportError as e:
        raise SystemExit(f"error: {e}")
    except (ValueError, OSError) as e:
        raise SystemExit(f"error: cannot export {args.checkpoint}: {e}")

    print(f"wrote {out}: {len(proto.graph.node)} nodes, {len(proto.graph.initializer)} "
          f"initializers; input 'input' {_dims(proto.graph.input[0])}, output 'output' "
          f"{_dims(proto.graph.output[0])}. Look at it in Netron: netron {out}  (or open it at "
          f"https://netron.app)")
    if args.draw:
        draw_graph(proto, args.draw)
        print(f"wrote {args.draw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
