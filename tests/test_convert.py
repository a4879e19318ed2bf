"""Tests for mt.fc_to_conv: a Flatten -> Linear head rewritten as convolutions.

What is checked, and against what (never against values the converter itself produced):
  * on ``input_shape`` the converted network gives the original's outputs (float64 and float32);
  * on a larger input, output (i, j) is the ORIGINAL model run on the window at (i*s, j*s) --
    exhaustively, for feature extractors without zero padding (the only case where it is exact);
  * for a padded extractor (Inception-lite), what does hold exactly: the conv head over the big
    feature map equals the FC head over each 7x7 window of that map, and the window's features
    agree with the big map's away from the window border; and the border does differ;
  * weights are a pure reshape (checked element by element against the flatten index formula);
    BatchNorm1d -> BatchNorm2d keeps its statistics; the original is untouched; errors name the
    layer; the VGG-16 fc6/fc7 counts.
"""
import copy

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import nn
from minitorch_cnn.models import InceptionLite


def run(model, x):
    """model(x) in eval mode without autograd, as a numpy array."""
    model.eval()
    with mt.no_grad():
        return model(mt.Tensor(x)).data


def trained_like(model, rng):
    """Give every BatchNorm non-trivial statistics and affine parameters (a fresh one is the
    identity in eval mode, which would hide a lost or misplaced statistic)."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            C = m.num_features
            dt = m.weight.data.dtype
            m.running_mean[...] = rng.normal(0, 0.5, C).astype(dt)
            m.running_var[...] = rng.uniform(0.5, 2.0, C).astype(dt)
            m.num_batches_tracked[...] = 7
            m.weight.data[...] = rng.uniform(0.5, 1.5, C).astype(dt)
            m.bias.data[...] = rng.normal(0, 0.3, C).astype(dt)
    return model


# ----------------------------------------------------------------------------- small models
def mlp_head_model():
    """Valid convs + pooling on 3 x 17 x 15 inputs; flatten of a non-square 3 x 5 x 4 map; a
    head with BatchNorm1d, Dropout, LeakyReLU and three Linears."""
    return nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.ReLU(),                 # 17x15 -> 15x13
        nn.MaxPool2d(2),                               # -> 7x6
        nn.Conv2d(4, 3, (3, 3)), nn.Tanh(),            # -> 5x4
        nn.Flatten(),                                  # 3*5*4 = 60, (C, H, W) order
        nn.Linear(60, 12), nn.BatchNorm1d(12), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(12, 8, bias=False), nn.LeakyReLU(0.1),
        nn.Linear(8, 5), nn.LogSoftmax(dim=1))


class Features(nn.Module):
    """A custom (non-Sequential) root with named children, like InceptionLite."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(2, 3, 3, stride=2), nn.ReLU(),
                                      nn.AvgPool2d(2), nn.Conv2d(3, 6, 1))
        self.head = nn.Sequential(nn.Flatten(), nn.Sequential(nn.Linear(6 * 3 * 2, 7),
                                                              nn.Sigmoid()),
                                  nn.Linear(7, 4), nn.Softmax(dim=-1))

    def forward(self, x):
        return self.head(self.features(x))


# model, input_shape, total stride of the feature extractor (product of its strides)
PADDING_FREE = [(mlp_head_model, (3, 17, 15), 2),
                (Features, (2, 15, 11), 4)]        # 15x11 -s2-> 7x5 -pool2-> 3x2


@pytest.mark.parametrize("make, shape, s", PADDING_FREE)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_same_output_on_input_shape(make, shape, s, dtype, rng):
    model = trained_like(make().to(dtype), rng).eval()
    conv = mt.fc_to_conv(model, shape)
    x = rng.standard_normal((4,) + shape).astype(dtype)
    want = run(model, x)
    got = run(conv, x)
    assert got.dtype == dtype and got.shape == want.shape + (1, 1)
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[:, :, 0, 0], want, **tol)


@pytest.mark.parametrize("make, shape, s", PADDING_FREE)
def test_big_input_is_every_window_exhaustively(make, shape, s, rng):
    """Padding-free extractor: out[:, :, i, j] == original(x[:, :, i*s : i*s+H, j*s : j*s+W])."""
    model = trained_like(make().double(), rng).eval()
    conv = mt.fc_to_conv(model, shape)
    C, H, W = shape
    big = rng.standard_normal((2, C, H + 3 * s, W + 4 * s))
    out = run(conv, big)
    assert out.shape[2:] == (4, 5)
    windows = np.stack([big[:, :, i * s:i * s + H, j * s:j * s + W]
                        for i in range(4) for j in range(5)], axis=1)     # (2, 20, C, H, W)
    ref = run(model, windows.reshape((-1,) + shape)).reshape(2, 4, 5, -1)
    np.testing.assert_allclose(out.transpose(0, 2, 3, 1), ref, rtol=1e-10, atol=1e-12)


def test_inception_lite_same_output_float64_and_float32(rng):
    model = trained_like(InceptionLite(), rng).eval()
    x = rng.standard_normal((3, 1, 28, 28)).astype(np.float32)
    conv = mt.fc_to_conv(model, (1, 28, 28))
    np.testing.assert_allclose(run(conv, x)[:, :, 0, 0], run(model, x), rtol=1e-5, atol=1e-5)
    m64 = copy.deepcopy(model).double()
    c64 = mt.fc_to_conv(m64, (1, 28, 28))
    np.testing.assert_allclose(run(c64, x.astype(np.float64))[:, :, 0, 0],
                               run(m64, x.astype(np.float64)), rtol=1e-10, atol=1e-10)


def test_inception_lite_tree_and_weights_are_a_reshape(rng):
    model = InceptionLite()
    conv = mt.fc_to_conv(model, (1, 28, 28))
    assert type(conv) is InceptionLite and type(conv.head) is nn.Sequential
    assert repr(conv.features) == repr(model.features)
    kinds = [type(m).__name__ for m in conv.head]
    assert kinds == ["Identity", "Conv2d", "ReLU", "Dropout", "Conv2d"]
    assert conv.head[1].kernel_size == (7, 7) and conv.head[4].kernel_size == (1, 1)
    assert list(conv.state_dict()) == list(model.state_dict())    # same keys, same order
    W, K = model.head[1].weight.data, conv.head[1].weight.data
    assert K.shape == (128, 112, 7, 7)
    # the flatten index of (c, h, w) is c*49 + h*7 + w: check it on random entries
    for o, c, h, w in zip(*(rng.integers(0, n, 50) for n in (128, 112, 7, 7))):
        assert K[o, c, h, w] == W[o, c * 49 + h * 7 + w]
    np.testing.assert_array_equal(conv.head[4].weight.data[:, :, 0, 0], model.head[4].weight.data)


def test_original_is_untouched_and_shares_nothing(rng):
    model = trained_like(mlp_head_model().double(), rng).train()
    before = model.state_dict()
    rng_state = np.random.get_state()
    conv = mt.fc_to_conv(model, (3, 17, 15))
    assert np.random.get_state()[1].tolist() == rng_state[1].tolist()   # global RNG untouched
    after = model.state_dict()
    assert list(before) == list(after)
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])
    assert all(m.training for m in model.modules()) and all(m.training for m in conv.modules())
    old = [a for a in list(p.data for p in model.parameters()) + list(model.buffers())]
    new = [a for a in list(p.data for p in conv.parameters()) + list(conv.buffers())]
    assert not any(np.shares_memory(a, b) for a in old for b in new)
    assert isinstance(model[5], nn.Flatten) and isinstance(model[6], nn.Linear)
    assert run(model, rng.standard_normal((2, 3, 17, 15))).shape == (2, 5)


def test_batchnorm1d_becomes_batchnorm2d_with_the_same_statistics(rng):
    model = trained_like(mlp_head_model(), rng)
    model[7].momentum, model[7].eps = 0.25, 1e-3
    conv = mt.fc_to_conv(model, (3, 17, 15))
    bn1, bn2 = model[7], conv[7]
    assert type(bn2) is nn.BatchNorm2d and bn2.num_features == 12
    assert (bn2.eps, bn2.momentum, bn2.affine, bn2.track_running_stats) == (1e-3, 0.25, True, True)
    for name in ("weight", "bias"):
        np.testing.assert_array_equal(getattr(bn2, name).data, getattr(bn1, name).data)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_array_equal(getattr(bn2, name), getattr(bn1, name))
    assert bn2.num_batches_tracked.dtype == np.int64 and int(bn2.num_batches_tracked) == 7


# ----------------------------------------------------------------------------- errors
class Scale(nn.Module):
    def forward(self, x):
        return x * 2.0


@pytest.mark.parametrize("model, match", [
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 3), Scale()),
     r"'3' \(Scale\(\)\)"),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 3), nn.Conv2d(3, 3, 1)),
     r"'3' \(Conv2d"),
    (nn.Sequential(nn.Linear(4, 4), nn.Flatten(), nn.Linear(16, 3)),
     r"'0' \(Linear.*not among the layers known to run after '1'"),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Linear(2, 3)), r"'2' \(Linear.*not preceded"),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(2), nn.Linear(4, 3)), r"'1' \(Flatten"),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.BatchNorm1d(8), nn.Linear(8, 3)),
     r"'2' \(BatchNorm1d"),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 3), nn.Softmax(dim=0)),
     r"'3' \(Softmax"),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(9, 3)), r"'2' \(Linear.*C\*H\*W"),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten()), r"'1' \(Flatten.*no Linear"),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 3), nn.Flatten()),
     r"'3' \(Flatten.*second"),
    (nn.Sequential(nn.Conv2d(1, 2, 3)), r"nothing to convert"),
    (nn.Linear(16, 3), r"the model itself \(Linear.*not preceded"),
    (nn.Sequential(nn.Conv2d(1, 2, 2), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(8, 3)),
     r"'1' \(AdaptiveAvgPool2d.*unequal"),               # 3x3 map into 2x2 bins
])
def test_unconvertible_layers_are_named(model, match):
    with pytest.raises(ValueError, match=match):
        mt.fc_to_conv(model, (1, 4, 4))


def test_custom_forward_that_does_more_is_caught():
    class Doubles(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 3))

        def forward(self, x):
            return self.body(x).reshape(-1)[:3]      # not a pass-through of the head's output
    with pytest.raises(ValueError, match="does not reproduce"):
        mt.fc_to_conv(Doubles(), (1, 4, 4))


@pytest.mark.parametrize("shape", [(28, 28), (1, 28, 0), [1, 28, 28.0], "1x28x28", (1, 1, 28, 28)])
def test_bad_input_shape(shape):
    with pytest.raises(ValueError, match="input_shape"):
        mt.fc_to_conv(InceptionLite(), shape)


def test_not_a_module():
    with pytest.raises(TypeError, match="Module"):
        mt.fc_to_conv(lambda x: x, (1, 28, 28))


# ---------------------------------------------------------------- padding (Inception-lite)
def inception_pair(rng):
    model = trained_like(InceptionLite(), rng).double().eval()
    return model, mt.fc_to_conv(model, (1, 28, 28))


def test_inception_lite_head_slides_exactly_over_the_feature_map(rng):
    """Whatever the padding, the shared part is exact: on a big canvas, conv-head output (i, j)
    is the ORIGINAL FC head applied to the 7x7 window of the big feature map at (i, j)."""
    model, conv = inception_pair(rng)
    canvas = rng.standard_normal((1, 1, 44, 48))
    out = run(conv, canvas)                                   # (1, 10, 5, 6): 5*6 windows
    feats = run(model.features, canvas)                       # (1, 112, 11, 12)
    assert out.shape == (1, 10, 5, 6) and feats.shape == (1, 112, 11, 12)
    windows = np.stack([feats[0, :, i:i + 7, j:j + 7] for i in range(5) for j in range(6)])
    ref = run(model.head, windows).reshape(5, 6, 10)          # Flatten + Linear head, 30 windows
    np.testing.assert_allclose(out[0].transpose(1, 2, 0), ref, rtol=1e-10, atol=1e-10)


def test_inception_lite_window_features_agree_only_where_padding_is_out_of_reach(rng):
    """Why the image-space sliding window is NOT exact with 'same' padding.

    Receptive field of feature cell p (of 7; it covers input pixels 4p..4p+3): stem 3x3 -> +-1
    pixel; pool /2; two Inception blocks, each +-2 at 14x14 (5x5 branch) -> 14x14 cells
    2p-4 .. 2p+5 -> input pixels 4p-9 .. 4p+12.  Inside a 28-pixel window (0..27) only p = 3
    fits, so only the centre cell (3, 3) of a window's 7x7 features never sees padding; the 48
    others see zeros when the window is run alone but real pixels inside a big canvas."""
    model, _ = inception_pair(rng)
    canvas = rng.standard_normal((1, 1, 52, 52))
    big = run(model.features, canvas)                         # (1, 112, 13, 13)
    i, j = 2, 3                                               # window at pixels (8, 12)
    alone = run(model.features, canvas[:, :, 4 * i:4 * i + 28, 4 * j:4 * j + 28])[0]
    crop = big[0, :, i:i + 7, j:j + 7]
    diff = np.abs(alone - crop).max(axis=0)                   # (7, 7) per feature cell
    assert diff[3, 3] < 1e-12                                 # the centre: exact
    off_centre = np.delete(diff.ravel(), 3 * 7 + 3)
    assert off_centre.min() > 1e-6                            # every other cell differs


def test_inception_lite_image_space_windows_differ_a_little(rng):
    """Consequence for the logits: converted(canvas)[i, j] != model(window) with padding, even
    for a window surrounded by the padding value (zeros): deeper layers pad with zero
    activations while the canvas gives them relu(BN(conv(0))) != 0, and the first layers just
    outside the window see the window's own pixels.  The docs and the benchmark measure how much
    on real digits with the trained model; here we pin that the difference exists, for a zero
    surround and for a random one, while the same canvas with a padding-free model is exact
    (test_big_input_is_every_window_exhaustively)."""
    model, conv = inception_pair(rng)
    digit = rng.standard_normal((1, 1, 28, 28))
    zeros = np.zeros((1, 1, 60, 60))
    zeros[:, :, 16:44, 16:44] = digit                         # window (4, 4) of the canvas
    noisy = rng.standard_normal((1, 1, 60, 60))
    noisy[:, :, 16:44, 16:44] = digit
    alone = run(model, digit)[0]
    d_zero = np.abs(run(conv, zeros)[0, :, 4, 4] - alone).max()
    d_noisy = np.abs(run(conv, noisy)[0, :, 4, 4] - alone).max()
    assert d_zero > 1e-6 and d_noisy > 1e-6


# ----------------------------------------------------------------------------- VGG-16 head
# fc6 reads the 512 x 7 x 7 map of VGG-16's last pool: Linear(25088, 4096) == Conv2d(512, 4096, 7)
VGG_FC6 = 512 * 7 * 7 * 4096 + 4096           # weights + biases
VGG_FC7 = 4096 * 4096 + 4096
VGG_FC8 = 4096 * 1000 + 1000


def vgg_head_params(C, F, classes):
    """fc6 (C*7*7 -> F), fc7 (F -> F), fc8 (F -> classes): weights + biases."""
    return (C * 49 * F + F) + (F * F + F) + (F * classes + classes)


def test_vgg_head_counts_by_formula():
    # the formula against the project's own count, on a narrow head and its conv version
    head = vgg_like_head(8, 16, 10)
    conv = mt.fc_to_conv(head, (8, 7, 7))
    for m in (head, conv):
        assert sum(p.data.size for p in m.parameters()) == vgg_head_params(8, 16, 10)
    assert mt.summary(conv, (8, 7, 7)).total_params == vgg_head_params(8, 16, 10)
    # ... then at VGG-16's widths
    assert vgg_head_params(512, 4096, 1000) == VGG_FC6 + VGG_FC7 + VGG_FC8
    assert VGG_FC6 == 102_764_544 and 512 * 7 * 7 == 25_088
    assert VGG_FC7 == 16_781_312 and VGG_FC8 == 4_097_000
    assert VGG_FC6 * 4 == 411_058_176                          # bytes in float32: ~411 MB


def vgg_like_head(C, F, classes):
    """VGG-16's classifier on a C x 7 x 7 map, widths reduced (C=512, F=4096 in the paper)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(C * 7 * 7, F), nn.ReLU(), nn.Dropout(),
                         nn.Linear(F, F), nn.ReLU(), nn.Dropout(), nn.Linear(F, classes))


def test_vgg_like_head_reduced_widths(rng):
    C, F, K = 8, 16, 5
    fc = vgg_like_head(C, F, K).double().eval()
    conv = mt.fc_to_conv(fc, (C, 7, 7))
    assert (conv[1].in_channels, conv[1].out_channels, conv[1].kernel_size) == (C, F, (7, 7))
    assert conv[4].kernel_size == (1, 1) and conv[7].kernel_size == (1, 1)
    n_params = lambda m: sum(p.data.size for p in m.parameters())        # noqa: E731
    assert n_params(conv[1]) == n_params(fc[1]) == C * 7 * 7 * F + F
    x = rng.standard_normal((2, C, 7, 7))
    out = run(conv, x)
    assert out.shape == (2, K, 1, 1)                                      # 7x7 in -> 1x1 out
    np.testing.assert_allclose(out[:, :, 0, 0], run(fc, x), rtol=1e-10, atol=1e-12)
    # on a 9 x 10 map, 3 x 4 windows
    assert run(conv, rng.standard_normal((1, C, 9, 10))).shape == (1, K, 3, 4)


@pytest.mark.slow
def test_vgg16_full_size_fc6_fc7():
    """The real layers once: 102,764,544 + 16,781,312 parameters (~0.5 GB float32; ~2 GB peak
    with the deep copy, the replaced initial weights and the check)."""
    fc = nn.Sequential(nn.Flatten(), nn.Linear(25088, 4096), nn.ReLU(), nn.Linear(4096, 4096))
    conv = mt.fc_to_conv(fc, (512, 7, 7))
    assert repr(conv[1]) == "Conv2d(512, 4096, kernel_size=(7, 7), stride=(1, 1))"
    assert repr(conv[3]) == "Conv2d(4096, 4096, kernel_size=(1, 1), stride=(1, 1))"
    assert sum(p.data.size for p in conv[1].parameters()) == VGG_FC6
    assert sum(p.data.size for p in fc[1].parameters()) == VGG_FC6
    assert sum(p.data.size for p in conv[3].parameters()) == VGG_FC7
    x = mt.randn(1, 512, 7, 7)
    with mt.no_grad():
        assert conv(x).shape == (1, 4096, 1, 1)


def test_head_spread_over_nested_sequentials(rng):
    """Flatten inside an inner Sequential, more head layers after it in the outer one."""
    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 3, 6)),
        nn.Sequential(nn.BatchNorm1d(6), nn.Sigmoid()), nn.Linear(6, 4)).double()
    trained_like(model, rng).eval()
    conv = mt.fc_to_conv(model, (2, 6, 5))
    assert [type(m).__name__ for m in conv[0]] == ["Conv2d", "ReLU", "Identity", "Conv2d"]
    assert type(conv[1][0]) is nn.BatchNorm2d and conv[2].kernel_size == (1, 1)
    big = rng.standard_normal((1, 2, 8, 9))
    out = run(conv, big)                                       # stride 1: 3 x 5 windows
    ref = np.stack([run(model, big[:, :, i:i + 6, j:j + 5])[0]
                    for i in range(3) for j in range(5)]).reshape(3, 5, 4)
    np.testing.assert_allclose(out[0].transpose(1, 2, 0), ref, rtol=1e-10, atol=1e-12)


def test_custom_forward_that_breaks_on_4d_is_caught():
    class FlatOnly(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 3))
            self.extra = nn.Linear(3, 2)

        def forward(self, x):
            return self.extra(self.body(x))       # a Linear outside any Sequential chain
    with pytest.raises(ValueError, match=r"'extra' \(Linear.*not among the layers known"):
        mt.fc_to_conv(FlatOnly(), (1, 4, 4))

    class Projects(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 3))

        def forward(self, x):
            return self.body(x) @ mt.ones(3, 2)    # (N, 3) @ (3, 2): breaks on (N, 3, 1, 1)
    with pytest.raises(ValueError, match="fc_to_conv: the converted Projects"):
        mt.fc_to_conv(Projects(), (1, 4, 4))


# ----------------------------------------------------------------------------- adaptive pooling
# An AdaptiveAvgPool2d squeezes any input to the training size: left alone it would make the
# converted network answer once per picture instead of once per window.  Where its bins are equal
# it becomes the AvgPool2d it equals on input_shape, which slides.
@pytest.mark.parametrize("out_size, features, s", [(2, 3 * 2 * 2, 4), (1, 3, 8),
                                                   ((2, None), 3 * 2 * 8, (4, 1))])
def test_adaptive_pool_before_the_head_becomes_a_sliding_avg_pool(out_size, features, s, rng):
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(),           # 10x10 -> 8x8
                          nn.AdaptiveAvgPool2d(out_size), nn.Flatten(),
                          nn.Linear(features, 4)).double().eval()
    conv = mt.fc_to_conv(model, (2, 10, 10))
    assert type(conv[2]) is nn.AvgPool2d and type(model[2]) is nn.AdaptiveAvgPool2d
    x = rng.standard_normal((3, 2, 10, 10))
    np.testing.assert_allclose(run(conv, x)[:, :, 0, 0], run(model, x), rtol=1e-12, atol=1e-12)
    sh, sw = (s, s) if isinstance(s, int) else s                   # total stride of the features
    big = rng.standard_normal((1, 2, 10 + 2 * sh, 10 + 3 * sw))
    out = run(conv, big)
    assert out.shape[2:] == (3, 4)
    for i in range(3):
        for j in range(4):
            win = big[:, :, i * sh:i * sh + 10, j * sw:j * sw + 10]
            np.testing.assert_allclose(out[:, :, i, j], run(model, win), rtol=1e-10, atol=1e-12)


def test_batchnorm1d_without_running_stats_converts(rng):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 5),
                          nn.BatchNorm1d(5, track_running_stats=False), nn.Linear(5, 3)).double()
    conv = mt.fc_to_conv(model, (1, 4, 4))
    x = rng.standard_normal((6, 1, 4, 4))
    np.testing.assert_allclose(run(conv, x)[:, :, 0, 0], run(model, x), rtol=1e-10, atol=1e-12)
