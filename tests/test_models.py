"""Inception-lite structure, parameter counts and ``mt.summary`` totals against hand counts."""
import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn.models import ConvBNReLU, Inception, InceptionLite, NaiveInception


def conv_bn(cin, cout, k):
    """Hand count: conv weights (no bias) + BN gamma and beta."""
    return cin * cout * k * k + 2 * cout


def conv_macs(cin, cout, k, hw):
    """Hand count: every output element (cout * hw of them) costs cin * k * k multiply-adds."""
    return hw * cout * cin * k * k


def inception_params(cin, b1, b2r, b2, b3r, b3, b4):
    return (conv_bn(cin, b1, 1) + conv_bn(cin, b2r, 1) + conv_bn(b2r, b2, 3)
            + conv_bn(cin, b3r, 1) + conv_bn(b3r, b3, 5) + conv_bn(cin, b4, 1))


def inception_macs(cin, b1, b2r, b2, b3r, b3, b4, hw):
    return (conv_macs(cin, b1, 1, hw) + conv_macs(cin, b2r, 1, hw) + conv_macs(b2r, b2, 3, hw)
            + conv_macs(cin, b3r, 1, hw) + conv_macs(b3r, b3, 5, hw) + conv_macs(cin, b4, 1, hw))


def test_inception_lite_has_729322_parameters_by_hand_count():
    hand = (conv_bn(1, 32, 3) + inception_params(32, 16, 16, 24, 8, 8, 8)
            + inception_params(56, 32, 24, 48, 8, 16, 16) + (5488 * 128 + 128) + (128 * 10 + 10))
    assert hand == 729_322
    model = InceptionLite()
    assert sum(p.data.size for p in model.parameters()) == hand


def test_summary_totals_match_hand_counts():
    s = mt.summary(InceptionLite(), (1, 28, 28))
    assert s.total_params == s.trainable_params == 729_322
    hand_macs = (conv_macs(1, 32, 3, 28 * 28) + inception_macs(32, 16, 16, 24, 8, 8, 8, 196)
                 + inception_macs(56, 32, 24, 48, 8, 16, 16, 196) + 5488 * 128 + 128 * 10)
    assert s.total_macs == hand_macs
    assert s.output_shape == (1, 10)
    table = str(s)
    assert "Total params: 729,322" in table and f"{hand_macs:,}" in table
    shapes = {r["name"]: r["output_shape"] for r in s.rows}
    assert shapes["features.0"] == (1, 32, 28, 28)
    assert shapes["features.1"] == (1, 32, 14, 14)
    assert shapes["features.2"] == (1, 56, 14, 14)
    assert shapes["features.3"] == (1, 112, 14, 14)
    assert shapes["features.4"] == (1, 112, 7, 7)
    assert shapes["head.0"] == (1, 5488)


def test_naive_vs_bottleneck_inception_saving():
    cfg = dict(cin=56, b1=32, b2=48, b3=16, b4=16)
    naive = mt.summary(NaiveInception(**cfg), (56, 14, 14))
    bottleneck = mt.summary(Inception(56, 32, 24, 48, 8, 16, 16), (56, 14, 14))
    assert naive.output_shape == bottleneck.output_shape == (1, 112, 14, 14)
    assert naive.total_params == (conv_bn(56, 32, 1) + conv_bn(56, 48, 3) + conv_bn(56, 16, 5)
                                  + conv_bn(56, 16, 1))
    assert bottleneck.total_params == inception_params(56, 32, 24, 48, 8, 16, 16)
    assert naive.total_macs == (conv_macs(56, 32, 1, 196) + conv_macs(56, 48, 3, 196)
                                + conv_macs(56, 16, 5, 196) + conv_macs(56, 16, 1, 196))
    assert naive.total_macs > 2 * bottleneck.total_macs


def test_state_dict_keys_follow_the_module_tree():
    sd = InceptionLite().state_dict()
    for key in ("features.0.0.weight", "features.0.1.running_mean", "features.0.1.num_batches_tracked",
                "features.2.b1.0.weight", "features.2.b2.1.0.weight", "features.3.b4.1.1.bias",
                "head.1.weight", "head.4.bias"):
        assert key in sd, key
    assert sd["head.1.weight"].shape == (128, 5488)
    assert "features.0.0.bias" not in sd          # conv before BN has no bias


def test_forward_shapes_and_gradients_flow():
    model = InceptionLite()
    x = mt.randn(2, 1, 28, 28)
    out = model(x)
    assert out.shape == (2, 10)
    mt.nn.functional.cross_entropy(out, mt.tensor([3, 7])).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name
        assert np.isfinite(p.grad).all(), name
    # values, not only shapes: d mean-CE / d (last bias) = mean over the batch of softmax - onehot
    z = out.data.astype(np.float64)
    soft = np.exp(z - z.max(1, keepdims=True))
    soft /= soft.sum(1, keepdims=True)
    soft[[0, 1], [3, 7]] -= 1
    np.testing.assert_allclose(model.head[-1].bias.grad, soft.mean(0), rtol=1e-4, atol=1e-6)
    assert np.abs(model.features[0][0].weight.grad).sum() > 0        # reaches the stem


def test_conv_bn_relu_is_a_sequential():
    block = ConvBNReLU(3, 4, 5)
    assert isinstance(block, mt.nn.Sequential) and len(block) == 3
    assert block[0].padding in (2, (2, 2))


def test_weights_move_both_ways_with_the_pytorch_twin():
    torch = pytest.importorskip("torch")
    from minitorch_cnn.models.torch_twin import torch_inception_lite
    ours, twin = InceptionLite(), torch_inception_lite()
    theirs = twin.state_dict()
    assert list(ours.state_dict()) == list(theirs)
    for k, v in ours.state_dict().items():
        assert tuple(v.shape) == tuple(theirs[k].shape), k
    # torch -> ours, then compare eval-mode outputs on the same input
    ours.load_state_dict({k: v.numpy() for k, v in theirs.items()})
    ours.eval()
    twin.eval()
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)
    with torch.no_grad():
        expected = twin(torch.tensor(x)).numpy()
    np.testing.assert_allclose(ours(mt.tensor(x)).data, expected, rtol=1e-4, atol=1e-5)
    # ours -> torch
    fresh = torch_inception_lite()
    fresh.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    for k, v in fresh.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), ours.state_dict()[k])
