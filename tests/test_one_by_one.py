"""Checks for examples/one_by_one_conv.py, which holds the code of docs/one_by_one_conv.md (the
page calls its functions): every claim, against counts and references computed here by hand
(formulas, numpy), not against the example's own output, and at other sizes than the page's."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import minitorch_cnn as mt

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "checkpoints" / "inception_lite_background.npz"


def _load_example():
    spec = importlib.util.spec_from_file_location("one_by_one_conv",
                                                  ROOT / "examples" / "one_by_one_conv.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


obo = _load_example()


def conv_params(cin, cout, k, bias=True):
    return cin * cout * k * k + (cout if bias else 0)


def cbr(cin, cout, k):
    """ConvBNReLU: conv without bias + BatchNorm's gamma and beta."""
    return conv_params(cin, cout, k, bias=False) + 2 * cout


# ------------------------------------------------------------------- 1. reduction and growth
def test_channel_reduction_full_size_counts():
    r = obo.channel_reduction(run=False)                  # 500 x 500 x 100, counted on zeros
    assert r["input_shape"] == (1, 100, 500, 500)
    assert r["reduced_shape"] == (1, 20, 500, 500)        # H x W unchanged, 20 channels
    assert r["reduce_params"] == 100 * 20 + 20 == 2020
    assert r["reduce_macs"] == 500 * 500 * 100 * 20      # one 100-long dot product per output
    assert r["grown_shape"] == (1, 64, 500, 500)
    assert r["grow_params"] == 20 * 64 + 64
    assert r["input_megabytes"] == pytest.approx(100.0)


def test_channel_reduction_runs_on_a_real_image():
    r = obo.channel_reduction(h=13, w=9, cin=100, cout=20, grow=64)
    assert r["ran_shapes"] == ((1, 20, 13, 9), (1, 64, 13, 9))
    assert r["reduce_params"] == 2020                     # independent of the image size


def test_channel_reduction_returns_its_layers():
    reduce, grow = obo.channel_reduction(h=6, w=5, cin=12, cout=3, grow=7)["layers"]
    assert reduce.weight.shape == (3, 12, 1, 1) and grow.weight.shape == (7, 3, 1, 1)
    x = np.random.default_rng(1).standard_normal((1, 12, 6, 5)).astype(np.float32)
    with mt.no_grad():
        y = grow(reduce(mt.tensor(x))).data
    W1, b1 = reduce.weight.data[:, :, 0, 0], reduce.bias.data
    W2, b2 = grow.weight.data[:, :, 0, 0], grow.bias.data
    by_hand = np.einsum("oc,nchw->nohw", W2, np.einsum("oc,nchw->nohw", W1, x)
                        + b1[None, :, None, None]) + b2[None, :, None, None]
    np.testing.assert_allclose(y, by_hand, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------- 2. mixing
def test_cross_channel_mixing_equals_linear_and_einsum():
    m = obo.cross_channel_mixing(seed=3)
    assert m["conv_vs_linear"] < 1e-12
    assert m["conv_vs_einsum"] < 1e-12
    assert m["one_channel_vs_scale"] < 1e-12
    # one pixel by hand: W @ x[n, :, i, j] + b
    x, conv, out = m["x"], m["conv"], m["output"]
    W, b = conv.weight.data[:, :, 0, 0], conv.bias.data
    for n, i, j in [(0, 0, 0), (1, 4, 6), (1, 2, 3)]:
        np.testing.assert_allclose(out[n, :, i, j], W @ x[n, :, i, j] + b, rtol=1e-12, atol=1e-12)
    assert m["shapes"] == ((2, 6, 5, 7), (2, 4, 5, 7))
    np.testing.assert_array_equal(m["linear"].weight.data, W)     # Linear (out, in) = W


# ------------------------------------------------------------------- 3. non-linearity
def test_abs_diff_is_exactly_two_relu_units():
    """|a - b| = relu(a - b) + relu(b - a): the two-layer 1x1 stack can represent the target."""
    net = mt.nn.Sequential(mt.nn.Conv2d(2, 2, 1), mt.nn.ReLU(), mt.nn.Conv2d(2, 1, 1)).double()
    net[0].weight.data[...] = np.array([1.0, -1.0, -1.0, 1.0]).reshape(2, 2, 1, 1)
    net[0].bias.data[...] = 0
    net[2].weight.data[...] = 1.0
    net[2].bias.data[...] = 0
    x, y = obo.abs_diff_data(3, 5, np.random.default_rng(0))
    with mt.no_grad():
        np.testing.assert_allclose(net(mt.tensor(x.astype(np.float64))).data, y, atol=1e-7)


def test_two_layer_learns_what_one_layer_cannot():
    r = obo.nonlinearity()
    # no linear map can beat the least-squares fit; gradient descent should reach it
    assert r["linear"] >= r["best_linear"] - 1e-6
    assert r["linear"] <= r["best_linear"] + 2e-3
    assert 0.045 < r["best_linear"] < 0.065            # theory for uniform a, b: 1/18 = 0.0556
    assert r["linear_test"] > 0.04
    assert r["two_layer"] < 1e-3 and r["two_layer_test"] < 1e-3
    assert r["two_layer"] < r["linear"] / 50


def test_nonlinearity_is_deterministic():
    a, b = obo.nonlinearity(steps=50), obo.nonlinearity(steps=50)
    assert (a["linear"], a["two_layer"]) == (b["linear"], b["two_layer"])


# ------------------------------------------------------------------- 4. bottleneck
def test_bottleneck_counts():
    b = obo.bottleneck()
    assert b["direct_params"] == conv_params(64, 64, 3) == 36928
    assert b["bottleneck_params"] == conv_params(64, 28, 1) + conv_params(28, 64, 3) == 18012
    assert b["direct_macs"] == 28 * 28 * 64 * 64 * 9
    assert b["one_by_one_macs"] == 28 * 28 * 64 * 28
    assert b["three_by_three_macs"] == 28 * 28 * 28 * 64 * 9
    assert b["bottleneck_macs"] == b["one_by_one_macs"] + b["three_by_three_macs"]
    assert b["output_shape"] == b["bottleneck_output_shape"] == (1, 64, 28, 28)
    assert b["direct_macs"] > 2 * b["bottleneck_macs"]
    direct, bott = b["summaries"]
    assert [r["params"] for r in bott.rows] == [conv_params(64, 28, 1), 0,
                                               conv_params(28, 64, 3)]
    assert direct.total_params == b["direct_params"]


# ------------------------------------------------------------------- 5. Inception
def inception_by_hand(cin, b1, b2r, b2, b3r, b3, b4, hw=14 * 14):
    """(params, naive params, MACs, naive MACs) of Inception vs NaiveInception, from formulas."""
    params = cbr(cin, b1, 1) + cbr(cin, b2r, 1) + cbr(b2r, b2, 3) + cbr(cin, b3r, 1) \
        + cbr(b3r, b3, 5) + cbr(cin, b4, 1)
    naive = cbr(cin, b1, 1) + cbr(cin, b2, 3) + cbr(cin, b3, 5) + cbr(cin, b4, 1)
    macs = hw * (cin * b1 + cin * b2r + b2r * b2 * 9 + cin * b3r + b3r * b3 * 25 + cin * b4)
    naive_macs = hw * (cin * b1 + cin * b2 * 9 + cin * b3 * 25 + cin * b4)
    return params, naive, macs, naive_macs


@pytest.mark.parametrize("k", [0, 1])
def test_inception_counts_by_hand(k):
    row = obo.inception_comparison()[k]
    cin, (b1, b2r, b2, b3r, b3, b4) = obo.INCEPTION_BLOCKS[k]
    assert (row["params"], row["naive_params"], row["macs"], row["naive_macs"]) == \
        inception_by_hand(cin, b1, b2r, b2, b3r, b3, b4)
    assert row["cin"] == cin
    assert row["output_shape"] == row["naive_output_shape"] == (1, b1 + b2 + b3 + b4, 14, 14)
    assert row["param_ratio"] > 2 and row["mac_ratio"] > 2


def test_inception_any_blocks_and_sizes():
    """The C_in sweep of the page, at another map size: counts by hand, the ratio's trend."""
    branches = (32, 24, 48, 8, 16, 16)
    rows = obo.inception_comparison(size=7, blocks=[(cin, branches) for cin in obo.CIN_SWEEP])
    assert [r["cin"] for r in rows] == list(obo.CIN_SWEEP)
    for r in rows:
        params, naive, macs, naive_macs = inception_by_hand(r["cin"], *branches, hw=7 * 7)
        assert (r["params"], r["naive_params"], r["macs"], r["naive_macs"]) == \
            (params, naive, macs, naive_macs)
        assert r["mac_ratio"] == naive_macs / macs
    ratios = [r["mac_ratio"] for r in rows]
    assert ratios == sorted(ratios) and ratios[0] < 1 < ratios[1]
    b3 = next(x for x in rows[0]["summary"].rows if x["name"] == "b3")
    assert b3["params"] == cbr(16, 8, 1) + cbr(8, 16, 5)      # per-branch rows are returned


def test_inception_table_values():
    """The numbers quoted in docs/one_by_one_conv.md and README.md."""
    rows = obo.inception_comparison()
    assert [(r["naive_params"], r["params"], r["naive_macs"], r["macs"]) for r in rows] == \
        [(14192, 6752, 2759680, 1292032), (49504, 18336, 9658880, 3537408)]


# ------------------------------------------------------------------- 6. depth
def test_depth_stack_keeps_resolution():
    d = obo.depth_stack(layers=5, channels=16, size=28)
    assert len(d["shapes"]) == 1 + 10                      # input, then 5 x (conv, relu)
    assert all(s == (1, 16, 28, 28) for s in d["shapes"])
    assert d["params"] == 5 * conv_params(16, 16, 1)
    convs = [m for m in d["stack"] if isinstance(m, mt.nn.Conv2d)]
    assert len(d["stack"]) == 10 and [c.weight.shape for c in convs] == [(16, 16, 1, 1)] * 5


# ------------------------------------------------------------------- the pictures
def _check_one_by_one(stem, one_by_one, digit):
    """after == ReLU(BN(W @ before)) per pixel, computed here from the layer's own arrays."""
    before, after, W = obo.feature_maps(stem, one_by_one, digit)
    conv, bn = one_by_one[0], one_by_one[1]
    assert W.shape == conv.weight.shape[:2]
    z = np.einsum("oc,chw->ohw", W.astype(np.float64), before.astype(np.float64))
    z = (z - bn.running_mean[:, None, None]) / np.sqrt(bn.running_var[:, None, None] + bn.eps)
    z = np.maximum(z * bn.weight.data[:, None, None] + bn.bias.data[:, None, None], 0)
    np.testing.assert_allclose(after, z, rtol=1e-4, atol=1e-4)
    assert before.shape[1:] == after.shape[1:]             # the 1x1 keeps H x W
    return before, after


@pytest.mark.skipif(not SHIPPED.is_file(), reason="shipped checkpoint missing")
def test_trained_inception_feature_maps(tmp_path):
    stem, one_by_one, source = obo.load_trained(SHIPPED)
    assert "features.2.b1" in source
    digit = mt.data.MNIST(train=False).images[0]
    before, after = _check_one_by_one(stem, one_by_one, digit)
    assert before.shape == (32, 14, 14) and after.shape == (16, 14, 14)
    info = obo.feature_map_figure(tmp_path / "maps.png", SHIPPED)
    with Image.open(tmp_path / "maps.png") as img:
        assert img.format == "PNG" and img.width > 200 and img.height > 300
    assert info["before"] == (32, 14, 14) and info["after"] == (16, 14, 14)


def test_fallback_trains_a_tiny_net():
    stem, mix, source = obo.load_trained(tiny_steps=40, search=False)
    assert source.startswith("TinyNet")
    loss = float(source.split("loss ")[1].split(")")[0])
    assert loss < 1.5                                      # chance level is ln 10 = 2.30
    digit = mt.data.MNIST(train=False).images[1]
    before, after = _check_one_by_one(stem, mix, digit)
    assert before.shape == (16, 14, 14) and after.shape == (8, 14, 14)


def test_bad_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="does not exist"):
        obo.load_trained(tmp_path / "nope.npz")
