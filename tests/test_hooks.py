"""Module forward hooks (torch's signatures) and the tools that use them instead of patching."""
import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import nn


def _net():
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))


def _x():
    return mt.tensor(np.random.default_rng(0).standard_normal((2, 1, 6, 6)).astype(np.float32))


def test_hooks_run_in_order_and_see_args_and_output():
    lin = nn.Linear(3, 2)
    calls = []
    h1 = lin.register_forward_pre_hook(lambda m, args: calls.append(("pre1", m, args[0].shape)))
    h2 = lin.register_forward_pre_hook(lambda m, args: calls.append(("pre2", m, args[0].shape)))
    h3 = lin.register_forward_hook(lambda m, args, out: calls.append(("post", m, out.shape)))
    lin(mt.ones(4, 3))
    assert [c[0] for c in calls] == ["pre1", "pre2", "post"]
    assert all(c[1] is lin for c in calls)
    assert calls[0][2] == (4, 3) and calls[2][2] == (4, 2)
    for h in (h1, h2, h3):
        h.remove()
    h1.remove()                               # twice is harmless
    calls.clear()
    lin(mt.ones(4, 3))
    assert calls == []


def test_hooks_replace_args_and_output():
    lin = nn.Linear(3, 2, bias=False)
    x = mt.ones(1, 3)
    with lin.register_forward_pre_hook(lambda m, args: args[0] * 2):   # not a tuple: wrapped
        doubled = lin(x).data
    np.testing.assert_allclose(doubled, 2 * lin(x).data, rtol=1e-6)
    h = lin.register_forward_hook(lambda m, args, out: out + 1)
    np.testing.assert_allclose(lin(x).data, lin.forward(x).data + 1, rtol=1e-6)
    h.remove()
    np.testing.assert_allclose(lin(x).data, lin.forward(x).data)


def test_hooks_on_children_run_inside_the_parent():
    net = _net()
    names = []
    handles = [m.register_forward_hook(lambda m, a, o, n=n: names.append(n))
               for n, m in net.named_modules()]
    net(_x())
    assert names == ["0", "1", "2", "3", ""]  # children finish before their parent
    for h in handles:
        h.remove()


def test_a_hook_that_raises_leaves_the_model_as_it_was():
    net = _net()
    x = _x()
    before = net(x).data.copy()

    def boom(m, args):
        raise RuntimeError("boom")
    h = net[1].register_forward_pre_hook(boom)
    with pytest.raises(RuntimeError, match="boom"):
        net(x)
    h.remove()
    np.testing.assert_array_equal(net(x).data, before)
    assert all(not m._forward_pre_hooks and not m._forward_hooks for m in net.modules())


def test_hook_must_be_callable():
    with pytest.raises(TypeError, match="callable"):
        nn.ReLU().register_forward_hook(3)


def test_summary_and_fc_to_conv_patch_nothing():
    net = _net()
    mt.summary(net, (1, 6, 6))
    conv = mt.fc_to_conv(net, (1, 6, 6))
    for m in list(net.modules()) + list(conv.modules()):
        assert "forward" not in m.__dict__           # no instance attribute shadows the method
        assert not m._forward_pre_hooks and not m._forward_hooks


def test_summary_removes_its_hooks_when_the_model_fails():
    net = nn.Sequential(nn.Linear(3, 2), nn.Linear(5, 1))    # shapes do not chain
    with pytest.raises(Exception):
        mt.summary(net, (1, 3))
    assert all(not m._forward_hooks for m in net.modules())
    net[1] = nn.Linear(2, 1)
    assert net(mt.ones(1, 3)).shape == (1, 1)


def test_summary_keeps_user_hooks():
    net = _net()
    seen = []
    net[0].register_forward_hook(lambda m, a, o: seen.append(o.shape))
    mt.summary(net, (1, 6, 6))
    assert seen == [(1, 2, 4, 4)]
    assert len(net[0]._forward_hooks) == 1
