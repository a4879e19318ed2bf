"""Tests of the Module system (mt.nn): registration, traversal, modes, state_dict, containers,
repr, initialisation, BatchNorm bookkeeping and a gradcheck through parameters.

The torch comparisons are in test_modules_torch.py; everything here runs without torch, against
values computed by hand or with numpy.
"""
import math
from collections import OrderedDict

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn import nn
from minitorch_cnn.nn import init


class Block(nn.Module):
    """A custom module mixing parameters, a buffer, a plain attribute and children."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(np.ones(3, np.float32))
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.register_buffer("count", np.zeros(1, np.int64))
        self.note = "plain attribute"
        self.heads = nn.ModuleList([nn.Linear(3, 2), nn.Linear(3, 2, bias=False)])
        self.offset = nn.Parameter(np.zeros(3, np.float32))

    def forward(self, x):
        h = self.conv(x) * self.scale.reshape(1, 3, 1, 1) + self.offset.reshape(1, 3, 1, 1)
        return sum(head(h.mean(dim=(2, 3))) for head in self.heads)


def small_cnn():
    return nn.Sequential(OrderedDict([
        ("features", nn.Sequential(
            nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(4, 6, 1))),
        ("pool", nn.AdaptiveAvgPool2d(1)),
        ("flat", nn.Flatten()),
        ("drop", nn.Dropout(0.25)),
        ("fc", nn.Linear(6, 3)),
    ]))


SMALL_CNN_REPR = """\
Sequential(
  (features): Sequential(
    (0): Sequential(
      (0): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
      (1): BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
    )
    (1): ReLU()
    (2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    (3): Conv2d(4, 6, kernel_size=(1, 1), stride=(1, 1))
  )
  (pool): AdaptiveAvgPool2d(output_size=1)
  (flat): Flatten(start_dim=1, end_dim=-1)
  (drop): Dropout(p=0.25, inplace=False)
  (fc): Linear(in_features=6, out_features=3, bias=True)
)"""

SMALL_CNN_STATE = [           # (key, shape, dtype) as torch lists them for the same tree
    ("features.0.0.weight", (4, 1, 3, 3), np.float32),
    ("features.0.1.weight", (4,), np.float32),
    ("features.0.1.bias", (4,), np.float32),
    ("features.0.1.running_mean", (4,), np.float32),
    ("features.0.1.running_var", (4,), np.float32),
    ("features.0.1.num_batches_tracked", (), np.int64),
    ("features.3.weight", (6, 4, 1, 1), np.float32),
    ("features.3.bias", (6,), np.float32),
    ("fc.weight", (3, 6), np.float32),
    ("fc.bias", (3,), np.float32),
]


# ---------------------------------------------------------------------------- registration
def test_registration_order_and_names():
    b = Block()
    assert list(b._parameters) == ["scale", "offset"]
    assert list(b._modules) == ["conv", "heads"]
    assert list(b._buffers) == ["count"]
    assert [n for n, _ in b.named_parameters()] == [
        "scale", "offset", "conv.weight", "conv.bias", "heads.0.weight", "heads.0.bias",
        "heads.1.weight"]
    assert [n for n, _ in b.named_parameters(recurse=False)] == ["scale", "offset"]
    assert [n for n, _ in b.named_modules()] == ["", "conv", "heads", "heads.0", "heads.1"]
    assert [n for n, _ in b.named_children()] == ["conv", "heads"]
    assert list(b.children()) == [b.conv, b.heads]
    assert b.note == "plain attribute" and "note" not in b._parameters
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in b.parameters())


def test_reassignment_keeps_order_and_moves_between_kinds():
    b = Block()
    new = nn.Parameter(np.full(3, 2.0, np.float32))
    b.scale = new                                  # same slot, same position
    assert list(b._parameters) == ["scale", "offset"] and b.scale is new
    b.offset = None                                # an absent optional parameter
    assert [n for n, _ in b.named_parameters(recurse=False)] == ["scale"]
    with pytest.raises(TypeError, match="parameter 'scale'"):
        b.scale = mt.tensor(np.ones(3))            # a plain Tensor is not a Parameter
    with pytest.raises(TypeError, match="child module 'conv'"):
        b.conv = 3
    b.conv = nn.Identity()
    assert list(b._modules) == ["conv", "heads"]
    b.count = mt.tensor(np.arange(3))              # a Tensor assigned to a buffer: its array
    assert isinstance(b.count, np.ndarray) and b.count.tolist() == [0, 1, 2]
    del b.heads
    assert list(b._modules) == ["conv"]
    with pytest.raises(AttributeError, match="Block.*nope"):
        b.nope


def test_assigning_before_init_is_explained():
    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Bad()


def test_shared_parameter_listed_once_but_in_state_dict_twice():
    a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    b.weight = a.weight
    m = nn.Sequential(a, b)
    assert [n for n, _ in m.named_parameters()] == ["0.weight", "0.bias", "1.bias"]
    assert list(m.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]


def test_buffers_are_numpy_and_apart_from_parameters():
    m = small_cnn()
    names = [n for n, _ in m.named_buffers()]
    assert names == ["features.0.1.running_mean", "features.0.1.running_var",
                     "features.0.1.num_batches_tracked"]
    assert all(isinstance(b, np.ndarray) for b in m.buffers())
    assert not any(n in names for n, _ in m.named_parameters())
    nbt = m.features[0][1].num_batches_tracked
    assert nbt.shape == () and nbt.dtype == np.int64 and nbt == 0
    b = Block()
    b.register_buffer("tmp", np.ones(2), persistent=False)
    assert "tmp" in dict(b.named_buffers()) and "tmp" not in b.state_dict()


# ---------------------------------------------------------------------------- modes, grads
def test_train_eval_propagate_and_switch_dropout():
    m = small_cnn()
    assert all(sub.training for sub in m.modules())
    assert m.eval() is m
    assert not any(sub.training for sub in m.modules())
    x = mt.randn(5, 7)
    drop = nn.Dropout(0.5).eval()
    assert np.array_equal(drop(x).data, x.data)
    drop.train()
    y = drop(x).data
    assert ((y == 0) | np.isclose(y, 2 * x.data)).all() and (y == 0).any()
    m.train()
    assert all(sub.training for sub in m.modules())
    with pytest.raises(ValueError, match="bool"):
        m.train("yes")


def test_zero_grad():
    m = small_cnn()
    out = m(mt.randn(2, 1, 6, 6)).sum()
    out.backward()
    assert all(p.grad is not None and p.grad.any() for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_apply_visits_children_first_and_requires_grad_():
    m = small_cnn()
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen[:3] == ["Conv2d", "BatchNorm2d", "Sequential"] and seen[-1] == "Sequential"
    assert len(seen) == len(list(m.modules()))
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())


def test_to_double_and_back_keeps_identity():
    m = small_cnn()
    params = list(m.parameters())
    m(mt.randn(2, 1, 6, 6)).sum().backward()
    assert m.double() is m
    assert [id(p) for p in m.parameters()] == [id(p) for p in params]
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in params)
    bn = m.features[0][1]
    assert bn.running_mean.dtype == np.float64 and bn.num_batches_tracked.dtype == np.int64
    assert m(mt.tensor(np.random.randn(2, 1, 6, 6))).dtype == np.float64
    m.float()
    assert all(p.dtype == np.float32 for p in params) and bn.running_var.dtype == np.float32
    with pytest.raises(TypeError, match="floating"):
        m.to(np.int32)


# ---------------------------------------------------------------------------- containers
def test_sequential_indexing_slicing_iteration():
    layers = [nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3), nn.Tanh()]
    s = nn.Sequential(*layers)
    assert len(s) == 4 and list(s) == layers
    assert s[0] is layers[0] and s[-1] is layers[3] and s[-4] is layers[0]
    with pytest.raises(IndexError):
        s[4]
    with pytest.raises(IndexError):
        s[-5]
    with pytest.raises(TypeError, match="integers or slices"):
        s["0"]
    tail = s[1:]
    assert isinstance(tail, nn.Sequential) and list(tail) == layers[1:]
    assert list(tail._modules) == ["1", "2", "3"]          # torch keeps the names
    x = mt.randn(2, 4)
    np.testing.assert_allclose(s(x).data, tail(layers[0](x)).data)
    s.append(nn.Identity())
    assert len(s) == 5 and list(s._modules)[-1] == "4"
    s[1] = nn.Sigmoid()
    assert isinstance(s[1], nn.Sigmoid)
    del s[0]
    assert list(s._modules) == ["0", "1", "2", "3"] and isinstance(s[0], nn.Sigmoid)
    with pytest.raises(TypeError, match="Module"):
        nn.Sequential(nn.ReLU(), lambda x: x)


def test_modulelist():
    ml = nn.ModuleList([nn.ReLU(), nn.ReLU()])
    ml.append(nn.Linear(2, 2))
    ml += [nn.Tanh()]
    ml.insert(0, nn.Sigmoid())
    assert [type(m).__name__ for m in ml] == ["Sigmoid", "ReLU", "ReLU", "Linear", "Tanh"]
    sub = ml[1:4]
    assert isinstance(sub, nn.ModuleList) and list(sub._modules) == ["0", "1", "2"]
    assert [n for n, _ in ml.named_parameters()] == ["3.weight", "3.bias"]
    assert repr(nn.ModuleList([nn.ReLU(), nn.ReLU(), nn.Linear(2, 2)])) == (
        "ModuleList(\n  (0-1): 2 x ReLU()\n"
        "  (2): Linear(in_features=2, out_features=2, bias=True)\n)")
    with pytest.raises(NotImplementedError):
        ml(mt.randn(2))


# ---------------------------------------------------------------------------- repr
def test_repr_small_cnn():
    assert repr(small_cnn()) == SMALL_CNN_REPR


@pytest.mark.parametrize("layer, text", [
    (nn.Conv2d(1, 32, 3, padding=1, bias=False),
     "Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)"),
    (nn.Conv2d(4, 4, (3, 5), stride=2, dilation=2, groups=2),
     "Conv2d(4, 4, kernel_size=(3, 5), stride=(2, 2), dilation=(2, 2), groups=2)"),
    (nn.Conv2d(3, 3, 4, padding="same"),
     "Conv2d(3, 3, kernel_size=(4, 4), stride=(1, 1), padding=same)"),
    (nn.Linear(3, 4, bias=False), "Linear(in_features=3, out_features=4, bias=False)"),
    (nn.AvgPool2d(3, 1, 1), "AvgPool2d(kernel_size=3, stride=1, padding=1)"),
    (nn.AdaptiveAvgPool2d((2, 3)), "AdaptiveAvgPool2d(output_size=(2, 3))"),
    (nn.BatchNorm1d(5, affine=False, track_running_stats=False),
     "BatchNorm1d(5, eps=1e-05, momentum=0.1, affine=False, bias=False, "
     "track_running_stats=False)"),
    (nn.LeakyReLU(0.2), "LeakyReLU(negative_slope=0.2)"),
    (nn.ReLU(inplace=True), "ReLU(inplace=True)"),
    (nn.Softmax(dim=1), "Softmax(dim=1)"),
    (nn.LogSoftmax(-1), "LogSoftmax(dim=-1)"),
    (nn.CrossEntropyLoss(reduction="sum"), "CrossEntropyLoss()"),
    (nn.Sequential(), "Sequential()"),
])
def test_repr_layers(layer, text):
    assert repr(layer) == text


# ---------------------------------------------------------------------------- state dict
def test_state_dict_keys_shapes_dtypes_and_copies():
    m = small_cnn()
    sd = m.state_dict()
    assert [(k, v.shape, v.dtype) for k, v in sd.items()] == SMALL_CNN_STATE
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    sd["fc.bias"][...] = 123.0                        # a copy: the model is untouched
    assert not (m.fc.bias.data == 123.0).any()


def test_load_state_dict_round_trip_in_place():
    np.random.seed(1)
    src = small_cnn()
    src(mt.randn(4, 1, 6, 6))                          # move BN's running stats
    np.random.seed(2)
    dst = small_cnn().eval()
    weight_obj = dst.fc.weight
    res = dst.load_state_dict(src.state_dict())
    assert res == ([], []) and res.missing_keys == [] and res.unexpected_keys == []
    assert dst.fc.weight is weight_obj                 # copied in place
    for (k, a), (_, b) in zip(src.state_dict().items(), dst.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    assert dst.features[0][1].num_batches_tracked == 1
    x = mt.randn(3, 1, 6, 6)
    np.testing.assert_array_equal(src.eval()(x).data, dst(x).data)


def test_load_state_dict_casts_dtype():
    m = nn.Linear(2, 3)
    sd = {k: v.astype(np.float64) + 1 for k, v in m.state_dict().items()}
    m.load_state_dict(sd)
    assert m.weight.dtype == np.float32
    np.testing.assert_allclose(m.weight.data, sd["weight"], rtol=1e-6)
    bn = nn.BatchNorm2d(2)
    sd = bn.state_dict()
    sd["num_batches_tracked"] = 7.0                   # a float into the int64 counter
    bn.load_state_dict(sd)
    assert bn.num_batches_tracked.dtype == np.int64 and bn.num_batches_tracked == 7


def test_load_state_dict_lists_every_problem_and_changes_nothing():
    m = small_cnn()
    before = m.state_dict()
    sd = m.state_dict()
    del sd["fc.bias"], sd["features.0.1.running_var"]
    sd["fc.weight"] = np.zeros((6, 3), np.float32)
    sd["features.3.weight"] = np.zeros((6, 4), np.float32)
    sd["extra.weight"] = np.zeros(2)
    sd["features.9.bias"] = np.zeros(2)
    with pytest.raises(RuntimeError) as e:
        m.load_state_dict(sd)
    msg = str(e.value)
    for needle in ['Missing key(s) in state_dict: "features.0.1.running_var", "fc.bias".',
                   'Unexpected key(s) in state_dict: "extra.weight", "features.9.bias".',
                   "size mismatch for features.3.weight", "size mismatch for fc.weight",
                   "(6, 4)", "(6, 4, 1, 1)"]:
        assert needle in msg, (needle, msg)
    for k, v in m.state_dict().items():                # the good keys were not copied either
        np.testing.assert_array_equal(v, before[k])

    # strict=False returns the key problems but still refuses wrong shapes
    with pytest.raises(RuntimeError, match="size mismatch for fc.weight") as e:
        m.load_state_dict(sd, strict=False)
    assert "Missing" not in str(e.value)
    del sd["fc.weight"], sd["features.3.weight"]
    res = m.load_state_dict(sd, strict=False)
    assert isinstance(res, nn.IncompatibleKeys)
    assert res.missing_keys == ["features.0.1.running_var", "features.3.weight", "fc.weight",
                                "fc.bias"]
    assert res.unexpected_keys == ["extra.weight", "features.9.bias"]


def test_missing_num_batches_tracked_is_tolerated_like_torch():
    bn = nn.BatchNorm2d(3)
    sd = bn.state_dict()
    del sd["num_batches_tracked"]
    assert bn.load_state_dict(sd) == ([], [])


# ---------------------------------------------------------------------------- init
@pytest.mark.parametrize("make, fan_in", [
    (lambda: nn.Linear(300, 200), 300),
    (lambda: nn.Conv2d(16, 64, 5), 16 * 25),
    (lambda: nn.Conv2d(16, 64, (3, 5), groups=4), 4 * 15),
])
def test_default_init_matches_torch_formula(make, fan_in):
    m = make()
    # torch: kaiming_uniform_(a=sqrt(5)): gain = sqrt(2 / (1 + 5)), std = gain / sqrt(fan_in),
    # bound = sqrt(3) * std, which simplifies to 1 / sqrt(fan_in); bias bound 1 / sqrt(fan_in)
    bound = math.sqrt(3) * math.sqrt(2 / 6) / math.sqrt(fan_in)
    assert bound == pytest.approx(1 / math.sqrt(fan_in))
    w, b = m.weight.data, m.bias.data
    assert w.dtype == np.float32 and b.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.98 * bound
    # a uniform on (-bound, bound) has std bound / sqrt(3); with n >= 12000 samples the
    # relative standard error of the sample std is about 0.9 / sqrt(n) < 1%
    assert w.std() == pytest.approx(bound / math.sqrt(3), rel=0.03)
    assert abs(w.mean()) < 3 * bound / math.sqrt(3 * w.size)
    assert np.abs(b).max() <= 1 / math.sqrt(fan_in)


def test_init_is_reproducible_with_np_random_seed():
    np.random.seed(42)
    a = small_cnn().state_dict()
    np.random.seed(42)
    b = small_cnn().state_dict()
    np.random.seed(43)
    c = small_cnn().state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["fc.weight"], c["fc.weight"])


def test_init_functions():
    assert init._calculate_fan_in_and_fan_out(np.empty((8, 3, 5, 7))) == (105, 280)
    assert init._calculate_fan_in_and_fan_out(np.empty((10, 4))) == (4, 10)
    with pytest.raises(ValueError, match="fewer than 2"):
        init._calculate_fan_in_and_fan_out(np.empty(3))
    w = np.empty((400, 300), np.float32)
    init.kaiming_uniform_(w, nonlinearity="relu")      # bound = sqrt(2) * sqrt(3/300)
    assert np.abs(w).max() <= math.sqrt(6 / 300) and np.abs(w).max() > 0.99 * math.sqrt(6 / 300)
    init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert w.std() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    init.xavier_uniform_(w)
    assert np.abs(w).max() <= math.sqrt(6 / 700)
    t = mt.zeros(3, 2)
    assert init.ones_(t) is t and (t.data == 1).all()
    init.constant_(t, 2.5)
    assert (t.data == 2.5).all() and t.dtype == np.float32
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    with pytest.raises(ValueError, match="unsupported"):
        init.calculate_gain("swish")


# ---------------------------------------------------------------------------- BatchNorm
def test_batchnorm_running_stats_and_eval_against_numpy():
    bn = nn.BatchNorm2d(3, momentum=0.2)
    bn.weight.data[...] = [1.0, 2.0, 0.5]
    bn.bias.data[...] = [0.0, -1.0, 3.0]
    x = np.random.randn(4, 3, 5, 6).astype(np.float32) * 2 + 1
    y = bn(mt.tensor(x)).data
    mean = x.mean(axis=(0, 2, 3))
    var = x.var(axis=(0, 2, 3))
    n = 4 * 5 * 6
    ref = ((x - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5)
           * bn.weight.data[:, None, None] + bn.bias.data[:, None, None])
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bn.running_mean, 0.8 * 0 + 0.2 * mean, rtol=1e-5)
    np.testing.assert_allclose(bn.running_var, 0.8 * 1 + 0.2 * var * n / (n - 1), rtol=1e-5)
    assert bn.num_batches_tracked == 1
    bn(mt.tensor(x))
    assert bn.num_batches_tracked == 2
    bn.eval()
    rm, rv = bn.running_mean.copy(), bn.running_var.copy()
    y = bn(mt.tensor(x)).data
    ref = ((x - rm[:, None, None]) / np.sqrt(rv[:, None, None] + 1e-5)
           * bn.weight.data[:, None, None] + bn.bias.data[:, None, None])
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
    assert bn.num_batches_tracked == 2 and np.array_equal(bn.running_mean, rm)


def test_batchnorm_cumulative_average_and_no_tracking():
    bn = nn.BatchNorm1d(2, momentum=None)
    xs = [np.random.randn(6, 2).astype(np.float32) + i for i in range(3)]
    for x in xs:
        bn(mt.tensor(x))
    # momentum=None: running_mean is the plain average of the batch means
    np.testing.assert_allclose(bn.running_mean, np.mean([x.mean(0) for x in xs], 0), rtol=1e-5)
    bn = nn.BatchNorm1d(2, track_running_stats=False).eval()
    assert bn.running_mean is None and list(bn.state_dict()) == ["weight", "bias"]
    x = xs[0]
    y = bn(mt.tensor(x)).data                         # no running stats: batch stats in eval
    np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-4,
                               atol=1e-5)
    y3 = nn.BatchNorm1d(2)(mt.tensor(np.random.randn(4, 2, 5).astype(np.float32))).data
    np.testing.assert_allclose(y3.mean(axis=(0, 2)), 0, atol=1e-5)


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("layer, x, exc, needle", [
    (nn.Linear(784, 10), np.zeros((2, 100), np.float32), ValueError,
     "Linear(in_features=784, out_features=10, bias=True): expected input with last dim 784, "
     "got shape (2, 100)"),
    (nn.Conv2d(3, 8, 3), np.zeros((2, 1, 8, 8), np.float32), ValueError,
     "expected input (N, 3, H, W) or (3, H, W), got shape (2, 1, 8, 8)"),
    (nn.Conv2d(3, 8, 3), np.zeros((3, 8), np.float32), ValueError, "got shape (3, 8)"),
    (nn.BatchNorm2d(4), np.zeros((2, 3, 5, 5), np.float32), ValueError,
     "expected input (N, 4, H, W), got shape (2, 3, 5, 5)"),
    (nn.BatchNorm1d(4), np.zeros((2, 4, 5, 5), np.float32), ValueError,
     "(N, 4) or (N, 4, L)"),
    (nn.MaxPool2d(2), np.zeros((2, 8), np.float32), ValueError, "MaxPool2d(kernel_size=2"),
    (nn.Linear(4, 2), np.zeros((2, 4)), TypeError, "input dtype float64 differs"),
])
def test_layers_reject_bad_input_by_name(layer, x, exc, needle):
    with pytest.raises(exc) as e:
        layer(mt.tensor(x))
    assert needle in str(e.value)


def test_layer_constructors_validate():
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="'same' or 'valid'"):
        nn.Conv2d(3, 4, 3, padding="full")
    with pytest.raises(TypeError, match="Linear: in_features"):
        nn.Linear(2.5, 3)
    with pytest.raises(ValueError, match="Dropout"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="momentum"):
        nn.BatchNorm2d(3, momentum=2)
    with pytest.raises(ValueError, match="ceil_mode"):
        nn.MaxPool2d(2, ceil_mode=True)
    with pytest.raises(ValueError, match="reduction"):
        nn.CrossEntropyLoss(reduction="avg")


# ---------------------------------------------------------------------------- forward/grad
def test_unbatched_conv_and_pool_match_batched():
    conv, pool = nn.Conv2d(2, 3, 3, padding=1), nn.MaxPool2d(2)
    x = mt.randn(2, 6, 6)
    np.testing.assert_allclose(pool(conv(x)).data, pool(conv(x.unsqueeze(0))).data[0])


def test_gradcheck_module_stack_through_parameters():
    model = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(3, 2, 1), nn.Flatten(), nn.Linear(8, 3)).double()
    x = mt.tensor(np.random.randn(3, 2, 4, 4), requires_grad=True)
    target = np.array([0, 2, 1])
    params = list(model.parameters())
    assert all(p.is_leaf and p.dtype == np.float64 for p in params)
    loss = nn.CrossEntropyLoss()

    def f(x, *ps):                      # ps are the module's own parameters, perturbed in place
        return loss(model(x), target)

    assert mt.gradcheck(f, [x] + params)
    model.eval()
    assert mt.gradcheck(lambda x, *ps: model(x), [x] + params)


def test_losses_match_functional():
    logits = mt.randn(4, 3)
    t = np.array([0, 2, 1, 1])
    assert nn.CrossEntropyLoss()(logits, t).item() == pytest.approx(
        -np.log(np.exp(logits.data) / np.exp(logits.data).sum(1, keepdims=True))[
            np.arange(4), t].mean(), rel=1e-5)
    y = mt.randn(4, 3)
    assert nn.MSELoss(reduction="sum")(logits, y).item() == pytest.approx(
        ((logits.data - y.data) ** 2).sum(), rel=1e-5)
    assert nn.NLLLoss(reduction="none")(logits, t).shape == (4,)


def test_deepcopy_gives_an_independent_equal_model():
    import copy
    m = small_cnn().eval()
    c = copy.deepcopy(m)
    assert c.fc.weight is not m.fc.weight and isinstance(c.fc.weight, nn.Parameter)
    x = mt.randn(2, 1, 6, 6)
    np.testing.assert_array_equal(c(x).data, m(x).data)
    c.fc.weight.data[...] = 0
    assert m.fc.weight.data.any()


def test_evaluating_restores_each_modules_own_mode():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.BatchNorm1d(2))
    model[2].eval()                                  # a frozen part inside a training model
    with nn.evaluating(model) as m:
        assert m is model and not any(x.training for x in model.modules())
    assert [x.training for x in model.modules()] == [True, True, True, False]
    try:
        with nn.evaluating(model):
            raise KeyError("boom")
    except KeyError:
        pass
    assert [x.training for x in model.modules()] == [True, True, True, False]
