"""mt.nn against torch.nn (skipped when torch is not installed).

The same module trees are built in both libraries; we check that reprs and state_dict layouts are
identical, move weights across as numpy arrays, and compare outputs, parameter gradients and the
BatchNorm running statistics in float64, in train and eval mode.
"""
from collections import OrderedDict

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import nn

torch = pytest.importorskip("torch")
tnn = torch.nn

pytestmark = pytest.mark.torch


def build(lib, p_drop=0.0):
    """A small CNN with every layer kind; ``lib`` is mt.nn or torch.nn (same names, same args)."""
    return lib.Sequential(OrderedDict([
        ("features", lib.Sequential(
            lib.Sequential(lib.Conv2d(2, 4, 3, padding=1), lib.BatchNorm2d(4)),
            lib.ReLU(),
            lib.MaxPool2d(2),
            lib.Conv2d(4, 6, 1, bias=False),
            lib.BatchNorm2d(6, momentum=None),
            lib.LeakyReLU(0.1),
            lib.Conv2d(6, 6, (3, 2), stride=(1, 2), padding=(1, 0), groups=2),
            lib.AvgPool2d(2, 1, 1),
            lib.AdaptiveAvgPool2d((2, 1)))),
        ("flat", lib.Flatten()),
        ("drop", lib.Dropout(p_drop)),
        ("fc", lib.Linear(12, 5)),
        ("bn", lib.BatchNorm1d(5)),
        ("act", lib.Tanh()),
        ("out", lib.Linear(5, 3, bias=True)),
    ]))


def to_ours(tm, ours):
    ours.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})


def assert_state_equal(ours, tm, rtol=1e-10, atol=1e-12):
    sd_o, sd_t = ours.state_dict(), tm.state_dict()
    assert list(sd_o) == list(sd_t)
    for k in sd_t:
        np.testing.assert_allclose(sd_o[k], sd_t[k].numpy(), rtol=rtol, atol=atol, err_msg=k)


def test_repr_identical():
    assert repr(build(nn, 0.25)) == repr(build(tnn, 0.25))
    extra = [lambda lib: lib.Conv2d(3, 3, 4, padding="same"),
             lambda lib: lib.Conv2d(3, 6, 3, padding="valid", dilation=2, groups=3),
             lambda lib: lib.BatchNorm1d(5, affine=False, track_running_stats=False),
             lambda lib: lib.BatchNorm2d(5, eps=1e-3, momentum=None, bias=False),
             lambda lib: lib.ModuleList([lib.ReLU(), lib.ReLU(), lib.ReLU(),
                                         lib.Linear(2, 2), lib.Sigmoid()]),
             lambda lib: lib.Sequential(lib.Softmax(dim=1), lib.LogSoftmax(dim=0),
                                        lib.Identity(), lib.ReLU(inplace=True),
                                        lib.CrossEntropyLoss(), lib.MSELoss(),
                                        lib.Linear(3, 4, bias=False), lib.MaxPool2d(3, 2, 1),
                                        lib.AdaptiveAvgPool2d(1), lib.Sequential())]
    for make in extra:
        assert repr(make(nn)) == repr(make(tnn))


def make_custom(lib):
    """A user-defined module (not a container) with a parameter, a ModuleList and a child."""
    class Net(lib.Module):
        def __init__(self):
            super().__init__()
            self.stem = lib.Conv2d(1, 3, 3)
            self.gain = lib.Parameter(lib.init.ones_(torch.empty(3)) if lib is tnn
                                      else np.ones(3, np.float32))
            self.heads = lib.ModuleList([lib.Linear(3, 2), lib.Linear(3, 2)])
            self.norm = lib.BatchNorm1d(2)
    return Net()


def test_custom_module_repr_and_state_dict_identical():
    ours, tm = make_custom(nn), make_custom(tnn)
    assert repr(ours) == repr(tm)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in tm.state_dict().items()]


def test_state_dict_layout_identical():
    ours, tm = build(nn), build(tnn)
    sd_o, sd_t = ours.state_dict(), tm.state_dict()
    assert list(sd_o) == list(sd_t)
    for k in sd_t:
        assert sd_o[k].shape == tuple(sd_t[k].shape), k
        assert sd_o[k].dtype == sd_t[k].numpy().dtype, k
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in tm.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in tm.named_modules()]
    # and the weights move both ways
    to_ours(tm, ours)
    assert_state_equal(ours, tm, rtol=0, atol=0)
    np.random.seed(5)
    ours2 = build(nn)
    tm.load_state_dict({k: torch.from_numpy(v) for k, v in ours2.state_dict().items()})
    assert_state_equal(ours2, tm, rtol=0, atol=0)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_outputs_grads_and_running_stats_match_float64(mode):
    torch.manual_seed(0)
    tm = build(tnn).double()
    ours = build(nn).double()
    with torch.no_grad():              # non-trivial BN affine params and running stats
        for m in tm.modules():
            if isinstance(m, tnn.modules.batchnorm._BatchNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    to_ours(tm, ours)
    getattr(tm, mode)()
    getattr(ours, mode)()

    x = np.random.randn(6, 2, 8, 9)
    target = np.array([0, 2, 1, 1, 0, 2])
    xo = mt.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    out_o, out_t = ours(xo), tm(xt)
    np.testing.assert_allclose(out_o.data, out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    nn.CrossEntropyLoss()(out_o, target).backward()
    tnn.CrossEntropyLoss()(out_t, torch.tensor(target)).backward()
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), rtol=1e-8, atol=1e-12)
    for (n, po), (_, pt) in zip(ours.named_parameters(), tm.named_parameters()):
        np.testing.assert_allclose(po.grad, pt.grad.numpy(), rtol=1e-8, atol=1e-12, err_msg=n)
    # running stats (and num_batches_tracked) after the forward: updated in train, not in eval
    assert_state_equal(ours, tm)

    # a second step (the momentum=None layer now averages over two batches)
    x2 = np.random.randn(6, 2, 8, 9)
    with mt.no_grad():
        out_o = ours(mt.tensor(x2))
    with torch.no_grad():
        out_t = tm(torch.tensor(x2))
    np.testing.assert_allclose(out_o.data, out_t.numpy(), rtol=1e-10, atol=1e-12)
    assert_state_equal(ours, tm)


def test_dropout_train_is_random_but_unbiased_and_identity_in_eval():
    ours = build(nn, p_drop=0.5)
    x = mt.randn(4, 2, 8, 9)
    a, b = ours(x).data, ours(x).data
    assert not np.allclose(a, b)                      # training: different masks
    ours.eval()
    np.testing.assert_array_equal(ours(x).data, ours(x).data)


@pytest.mark.parametrize("p", [0.25, 0.5, 0.8])
def test_dropout_scales_the_kept_units_by_one_over_one_minus_p(p):
    drop = nn.Dropout(p)
    x = mt.tensor(np.random.default_rng(0).uniform(1, 2, (200, 100)))
    y = drop(x).data
    kept = y != 0
    np.testing.assert_allclose(y[kept], x.data[kept] / (1 - p), rtol=1e-6)
    assert kept.mean() == pytest.approx(1 - p, abs=0.01)          # 20,000 draws: sd 0.0035
    tout = tnn.Dropout(p)(torch.tensor(x.data)).numpy()
    np.testing.assert_allclose(tout[tout != 0], x.data[tout != 0] / (1 - p), rtol=1e-6)


@pytest.mark.parametrize("make, shape", [
    (lambda lib: lib.Conv2d(3, 4, 4, padding="same", dilation=1), (2, 3, 7, 6)),
    (lambda lib: lib.Conv2d(3, 4, (2, 3), padding="same", dilation=(2, 1)), (2, 3, 7, 6)),
    (lambda lib: lib.Conv2d(4, 6, 3, stride=2, padding=(0, 1), groups=2), (2, 4, 9, 8)),
    (lambda lib: lib.Conv2d(3, 2, 3), (3, 7, 6)),                          # unbatched
    (lambda lib: lib.MaxPool2d((3, 2), stride=(2, 1), padding=1), (2, 3, 7, 6)),
    (lambda lib: lib.AvgPool2d(3, stride=2, padding=1), (2, 3, 7, 6)),
    (lambda lib: lib.AdaptiveAvgPool2d((3, 4)), (2, 3, 7, 6)),
    (lambda lib: lib.AdaptiveAvgPool2d((None, 2)), (3, 7, 6)),             # unbatched
    (lambda lib: lib.BatchNorm1d(3, affine=False, track_running_stats=False), (5, 3, 4)),
    (lambda lib: lib.BatchNorm2d(3, bias=False), (4, 3, 2, 2)),
    (lambda lib: lib.Flatten(0, 1), (2, 3, 4)),
    (lambda lib: lib.Softmax(dim=0), (3, 4)),
    (lambda lib: lib.LogSoftmax(dim=-1), (3, 4)),
    (lambda lib: lib.Linear(4, 3), (2, 5, 4)),
])
@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_single_layers_match_torch(make, shape):
    tm = make(tnn).double()
    ours = make(nn).double()
    to_ours(tm, ours)
    x = np.random.randn(*shape)
    xo, xt = mt.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, yt = ours(xo), tm(xt)
    np.testing.assert_allclose(yo.data, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = np.random.randn(*yo.shape)
    yo.backward(g)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), rtol=1e-8, atol=1e-12)
    for (n, po), (_, pt) in zip(ours.named_parameters(), tm.named_parameters()):
        np.testing.assert_allclose(po.grad, pt.grad.numpy(), rtol=1e-8, atol=1e-12, err_msg=n)
    assert_state_equal(ours, tm)


@pytest.mark.parametrize("make", [lambda lib: lib.Linear(200, 150),
                                  lambda lib: lib.Conv2d(12, 66, 5, groups=3)])
def test_default_init_distribution_matches_torch(make):
    """Different generators, same distribution: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both
    (kaiming_uniform with a = sqrt(5) for the weight, the same bound for the bias), checked
    against that bound: the max |w| lies just under it, the std is bound / sqrt(3)."""
    torch.manual_seed(0)
    for name in ("weight", "bias"):
        ours, theirs = make(nn), make(tnn)
        a = getattr(ours, name).data
        b = getattr(theirs, name).detach().numpy()
        assert a.dtype == b.dtype == np.float32
        fan_in = ours.weight.data[0].size
        bound = 1 / np.sqrt(fan_in)
        for w in (a, b):
            # n uniform draws: the max falls short of the bound by about bound / n; the sample
            # std has a relative sd of about 1 / sqrt(1.25 n), so 4 sd: 3.6 / sqrt(n)
            assert bound * (1 - 10 / w.size) <= np.abs(w).max() <= bound * (1 + 1e-6)
            assert w.std() == pytest.approx(bound / np.sqrt(3), rel=3.6 / np.sqrt(w.size))


def test_load_state_dict_error_kinds_match_torch():
    ours, tm = build(nn), build(tnn)
    sd = {k: v.numpy() for k, v in tm.state_dict().items()}
    del sd["fc.bias"]
    sd["fc.weight"] = sd["fc.weight"][:, :4]
    sd["bogus"] = np.zeros(1)
    with pytest.raises(RuntimeError) as eo:
        ours.load_state_dict(sd)
    with pytest.raises(RuntimeError) as et:
        tm.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
    for line in str(et.value).split("\n")[1:]:        # the same problems, in torch's words
        assert line.strip().replace("torch.Size(", "").replace("])", ")").replace("[", "(") \
            in str(eo.value).replace(" \n", "\n"), line
    sd["fc.weight"] = tm.state_dict()["fc.weight"].numpy()
    res_o = ours.load_state_dict(sd, strict=False)
    res_t = tm.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=False)
    assert res_o.missing_keys == res_t.missing_keys
    assert res_o.unexpected_keys == res_t.unexpected_keys
