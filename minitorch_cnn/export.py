"""Turn a training checkpoint into a file other tools read: ONNX (the whole graph) or safetensors
(the weights only).

    python -m minitorch_cnn.export runs/inception_mnist/checkpoint.npz inception.onnx
    python -m minitorch_cnn.export runs/inception_mnist/checkpoint.npz detector.onnx --fcn
    python -m minitorch_cnn.export runs/inception_mnist/checkpoint.npz inception.safetensors
    minitorch-export ...                                 # the same, as a console script

The checkpoint is a ``checkpoint.npz`` of the training command, or its ``--export`` file.
``--fcn`` first converts the classifier's fully connected head to convolutions (``fc_to_conv``)
and exports height and width as symbolic dimensions, so the ONNX detector runs on a picture of
any size (output (N, classes, OH, OW): one prediction per 28x28 window, stride 4).
The output's suffix picks the format: ``.onnx`` or ``.safetensors``.
"""
import argparse
import sys
from pathlib import Path

from .cli.checks import output_file
from .cli.train import load_model_checkpoint
from .convert import fc_to_conv
from .onnx import export as export_onnx
from .safetensors_io import save_safetensors

INPUT = (1, 1, 28, 28)                 # what InceptionLite was trained on: (N, C, H, W)


def build_parser():
    p = argparse.ArgumentParser(prog="python -m minitorch_cnn.export",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help="checkpoint.npz of a training run (or its --export file)")
    p.add_argument("out", help="the file to write: NAME.onnx or NAME.safetensors")
    p.add_argument("--fcn", action="store_true",
                   help="convert the FC head to convolutions (fc_to_conv) and export any "
                        "picture size (ONNX only)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset")
    return p


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

    def dims(v):
        return "x".join(d.dim_param or str(d.dim_value) for d in v.type.tensor_type.shape.dim)
    print(f"wrote {out}: {len(proto.graph.node)} nodes, {len(proto.graph.initializer)} "
          f"initializers; input 'input' {dims(proto.graph.input[0])}, output 'output' "
          f"{dims(proto.graph.output[0])}. Look at it in Netron: netron {out}  (or open it at "
          f"https://netron.app)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
