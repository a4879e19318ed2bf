"""mt.onnx.export: the exported graph gives minitorch_cnn's outputs in onnxruntime (within 1e-5),
for Inception-lite, its fc_to_conv detector on two picture sizes and a small VGG-like net;
unsupported ops are errors naming the op and the module.  Skipped without onnx/onnxruntime."""
import subprocess
import sys

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import nn
from minitorch_cnn.io.onnx import OnnxExportError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def randomise_bn(model, rng, shape=(1, 28, 28)):
    """Realistic running statistics (those of one random batch: momentum 1) and non-trivial
    affine parameters, so that BatchNorm's export is tested on O(1) activations."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in bns:
        m.momentum = 1.0
        m.weight.data[...] = rng.normal(1, 0.2, m.weight.shape)
        m.bias.data[...] = rng.normal(0, 0.2, m.bias.shape)
    model.train()
    with mt.no_grad():
        model(mt.tensor(rng.normal(size=(8,) + shape).astype(np.float32)))
    for m in bns:
        m.momentum = 0.1


def run_both(model, path, x):
    model.eval()
    with mt.no_grad():
        ref = model(mt.tensor(x)).data
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return ref, sess.run(None, {"input": x})[0]


def test_inception_lite_matches_onnxruntime(tmp_path, rng):
    model = mt.models.InceptionLite()
    randomise_bn(model, rng)
    path = tmp_path / "inception.onnx"
    proto = mt.onnx.export(model, path, (1, 1, 28, 28))
    x = rng.normal(size=(3, 1, 28, 28)).astype(np.float32)       # another batch size: N symbolic
    ref, got = run_both(model, path, x)
    assert got.shape == ref.shape == (3, 10)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)
    assert 0.1 < np.abs(ref).max() < 100                         # O(1) logits, not tiny
    # initializers keep the state_dict names: every weight and BN statistic, nothing unnamed
    names = {i.name for i in proto.graph.initializer}
    state = set(model.state_dict())
    assert {n for n in state if not n.endswith("num_batches_tracked")} - names == set()
    assert {n for n in names if n not in state} <= {"shape_0"}   # flatten's target shape
    ops = {n.op_type for n in proto.graph.node}
    assert {"Conv", "BatchNormalization", "Relu", "MaxPool", "Concat", "Reshape", "Gemm"} <= ops
    assert "Dropout" not in ops                                  # eval: identity
    assert onnx.load(str(path)) == proto                         # what was written
    # opset 17 needs IR version 8; onnx's own default (its newest) shuts out older runtimes
    assert proto.ir_version == 8 and proto.opset_import[0].version == 17


def test_fc_to_conv_detector_any_picture_size(tmp_path, rng):
    model = mt.models.InceptionLite(num_classes=11)
    randomise_bn(model, rng)
    det = mt.fc_to_conv(model, (1, 28, 28))
    path = tmp_path / "detector.onnx"
    proto = mt.onnx.export(det, path, (1, 28, 28), dynamic_hw=True)
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["N", 1, "H", "W"]
    for shape, out_hw in (((1, 1, 28, 28), (1, 1)), ((2, 1, 60, 44), (9, 5))):
        x = rng.normal(size=shape).astype(np.float32)
        ref, got = run_both(det, path, x)
        assert got.shape == ref.shape == (shape[0], 11) + out_hw
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)


class SmallVGG(nn.Module):
    """conv-bn-act blocks with average pooling, a strided/dilated/grouped conv, a global pool,
    dropout and arithmetic in the forward."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.LeakyReLU(0.1),
            nn.Conv2d(8, 8, 3, stride=2, padding=2, dilation=2, groups=2), nn.Tanh(),
            nn.AvgPool2d(2), nn.Dropout(0.5),
            nn.Conv2d(8, 16, 1), nn.Sigmoid(), nn.AdaptiveAvgPool2d(1))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(16, 10),
                                  nn.Softmax(dim=1))

    def forward(self, x):
        return self.head(self.features(x) * 2.0 - 1.0)


@pytest.mark.parametrize("dynamic_hw", [False, True])
def test_small_vgg_with_avgpool_and_dropout(tmp_path, rng, dynamic_hw):
    model = SmallVGG()
    model.train()                                    # export switches to eval, then restores
    path = tmp_path / "vgg.onnx"
    proto = mt.onnx.export(model, path, (1, 3, 32, 32), dynamic_hw=dynamic_hw)
    assert all(m.training for m in model.modules())
    ops = [n.op_type for n in proto.graph.node]
    assert ops == ["Conv", "BatchNormalization", "LeakyRelu", "Conv", "Tanh", "AveragePool",
                   "Conv", "Sigmoid", "GlobalAveragePool", "Mul", "Sub", "Reshape", "Gemm",
                   "Softmax"]
    sizes = [(4, 3, 32, 32)] + ([(2, 3, 40, 36)] if dynamic_hw else [])
    for shape in sizes:
        x = rng.normal(size=shape).astype(np.float32)
        ref, got = run_both(model, path, x)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)


class Clamp(nn.Module):                    # a custom layer with an op export does not know
    def forward(self, x):
        return x.clip(0.0, 1.0)


def test_unsupported_op_names_op_and_module(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 4, 3), Clamp(), nn.Conv2d(4, 2, 1))
    path = tmp_path / "m.onnx"
    with pytest.raises(OnnxExportError) as e:
        mt.onnx.export(model, path, (1, 1, 8, 8))
    msg = str(e.value)
    assert "Clip" in msg and "minitorch_cnn.ops.math.Clip" in msg
    assert "after module '0' (Conv2d)" in msg and "before module '2' (Conv2d)" in msg
    assert "'1' (Clamp)" in msg                                  # the custom leaf module
    assert not path.exists()                                     # nothing written


def test_size_dependent_adaptive_pool_is_an_error(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.AdaptiveAvgPool2d(2))
    mt.onnx.export(model, tmp_path / "fixed.onnx", (1, 1, 8, 8))         # fixed size: fine
    with pytest.raises(OnnxExportError, match="adaptive average pool to"):
        mt.onnx.export(model, tmp_path / "dyn.onnx", (1, 1, 8, 8), dynamic_hw=True)


def test_bad_arguments(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2, 3))
    with pytest.raises(ValueError, match="input_shape"):
        mt.onnx.export(model, tmp_path / "m.onnx", (1, 28))
    with pytest.raises(RuntimeError, match="no_grad"):
        with mt.no_grad():
            mt.onnx.export(model, tmp_path / "m.onnx", (1, 1, 8, 8))
    with pytest.raises(OnnxExportError, match="does not run on an input of shape"):
        mt.onnx.export(mt.models.InceptionLite(), tmp_path / "m.onnx", (1, 28, 28),
                       dynamic_hw=True)                          # the FC head needs 28x28


def test_missing_onnx_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)                # "import onnx" now fails
    with pytest.raises(ImportError, match=r"minitorch_cnn\[onnx\]"):
        mt.onnx.export(nn.Sequential(nn.ReLU()), tmp_path / "m.onnx", (1, 1, 2, 2))


def test_package_import_does_not_import_optional_extras():
    code = ("import sys, minitorch_cnn; bad = [m for m in ('onnx', 'onnxruntime', 'safetensors')"
            " if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_export_command_onnx_and_fcn(tmp_path, rng):
    from minitorch_cnn.cli import export as export_cli
    from minitorch_cnn.cli.train import ARCH
    model = mt.models.InceptionLite()
    randomise_bn(model, rng)
    ckpt = tmp_path / "model.npz"
    mt.save({"arch": ARCH, "num_classes": 10, "model": model.state_dict()}, ckpt)
    assert export_cli.main([str(ckpt), str(tmp_path / "m.onnx")]) == 0
    x = rng.normal(size=(2, 1, 28, 28)).astype(np.float32)
    ref, got = run_both(model, tmp_path / "m.onnx", x)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)
    assert export_cli.main([str(ckpt), str(tmp_path / "d.onnx"), "--fcn"]) == 0
    sess = ort.InferenceSession(str(tmp_path / "d.onnx"), providers=["CPUExecutionProvider"])
    assert sess.run(None, {"input": np.zeros((1, 1, 56, 40), np.float32)})[0].shape == \
        (1, 10, 8, 4)
    with pytest.raises(SystemExit, match="must end in .onnx or .safetensors"):
        export_cli.main([str(ckpt), str(tmp_path / "m.txt")])
    with pytest.raises(SystemExit, match="does not exist"):
        export_cli.main([str(tmp_path / "nope.npz"), str(tmp_path / "m.onnx")])


def test_export_command_safetensors_and_draw(tmp_path):
    from minitorch_cnn.cli import export as export_cli
    from minitorch_cnn.cli.train import ARCH
    model = mt.models.InceptionLite()
    ckpt = tmp_path / "model.npz"
    mt.save({"arch": ARCH, "num_classes": 10, "model": model.state_dict()}, ckpt)
    if pytest.importorskip("safetensors"):
        assert export_cli.main([str(ckpt), str(tmp_path / "w.safetensors")]) == 0
        back = mt.load_safetensors(tmp_path / "w.safetensors")
        np.testing.assert_array_equal(back["head.4.weight"], model.head[4].weight.data)
    with pytest.raises(SystemExit, match="weights only"):
        export_cli.main([str(ckpt), str(tmp_path / "w.safetensors"), "--fcn"])
    pytest.importorskip("graphviz")
    import shutil
    if shutil.which("dot") is None:
        pytest.skip("Debian's graphviz (dot) is not installed")
    svg = tmp_path / "g.svg"
    assert export_cli.main([str(ckpt), str(tmp_path / "m.onnx"), "--draw", str(svg)]) == 0
    text = svg.read_text()
    assert text.count("Concat") == 2 and "features.0.0.weight" in text and "Gemm" in text
