"""torch's extra tensor ops, the new loss arguments and clip_grad_norm_: one table of op specs
driven through a float64 gradcheck and a comparison with torch (values and gradients).

Each row: (name, our function, torch function, input shapes, input maker).  The functions take
the same positional tensors; the maker turns a random array into a valid input (positive for
logs, with zeros for prod).
"""
import math

import numpy as np
import pytest

import minitorch_cnn as mt
import minitorch_cnn.nn.functional as F


def rand(shape, rng):
    return rng.standard_normal(shape)


def positive(shape, rng):
    return rng.random(shape) + 0.5


def with_zero(shape, rng):
    a = rng.standard_normal(shape)
    a.reshape(-1)[1] = 0.0                     # prod's gradient at an exact zero (0/0 if naive)
    return a


def two_zeros(shape, rng):
    a = rng.standard_normal(shape)
    a.reshape(-1)[[0, 1]] = 0.0
    return a


IDX = np.array([[0, 2, 2], [1, 0, 3]])         # for gather along dim 1 of a (2, 4) input

OPS = [
    ("clone", lambda x: x.clone() * 1.5, lambda x: x.clone() * 1.5, [(3, 4)], rand),
    ("std", lambda x: x.std(), lambda x: x.std(), [(3, 4)], rand),
    ("std_dim", lambda x: x.std(1, keepdim=True), lambda x: x.std(1, keepdim=True),
     [(3, 4)], rand),
    ("std_biased", lambda x: x.std(0, unbiased=False), lambda x: x.std(0, unbiased=False),
     [(3, 4)], rand),
    ("prod", lambda x: x.prod(), lambda x: x.prod(), [(2, 3)], rand),
    ("prod_dim", lambda x: x.prod(1), lambda x: x.prod(1), [(3, 4)], rand),
    ("prod_keepdim", lambda x: x.prod(0, keepdim=True), lambda x: x.prod(0, keepdim=True),
     [(3, 2, 2)], rand),
    ("prod_zero", lambda x: x.prod(1), lambda x: x.prod(1), [(2, 4)], with_zero),
    ("prod_two_zeros", lambda x: x.prod(), lambda x: x.prod(), [(2, 3)], two_zeros),
    ("logsumexp", lambda x: x.logsumexp(1), lambda x: x.logsumexp(1), [(3, 5)], rand),
    ("logsumexp_keep", lambda x: mt.logsumexp(x * 300, 0, keepdim=True),
     lambda x: (x * 300).logsumexp(0, keepdim=True), [(3, 5)], rand),
    ("norm", lambda x: x.norm(), lambda x: x.norm(), [(3, 4)], rand),
    ("norm_dim", lambda x: x.norm(dim=1), lambda x: x.norm(dim=1), [(3, 4)], rand),
    ("norm_p1", lambda x: x.norm(1, dim=0), lambda x: x.norm(1, dim=0), [(3, 4)], rand),
    ("norm_p3", lambda x: x.norm(3, dim=1, keepdim=True),
     lambda x: x.norm(3, dim=1, keepdim=True), [(3, 4)], rand),
    ("norm_p0.5", lambda x: x.norm(0.5), lambda x: x.norm(0.5), [(5,)], positive),
    ("norm_inf", lambda x: x.norm(math.inf, dim=1), lambda x: x.norm(math.inf, dim=1),
     [(3, 4)], rand),
    ("norm_-inf", lambda x: x.norm(-math.inf), lambda x: x.norm(-math.inf), [(3, 4)], rand),
    ("gather", lambda x: x.gather(1, mt.tensor(IDX)), lambda x: x.gather(1, _t(IDX)),
     [(2, 4)], rand),
    ("gather_smaller", lambda x: mt.gather(x, 0, mt.tensor(IDX[:1, :2])),
     lambda x: x.gather(0, _t(IDX[:1, :2])), [(3, 4)], rand),
    ("repeat", lambda x: x.repeat(2, 3), lambda x: x.repeat(2, 3), [(2, 3)], rand),
    ("repeat_newdims", lambda x: x.repeat(2, 1, 3), lambda x: x.repeat(2, 1, 3), [(3,)], rand),
    ("split", lambda x: mt.cat([p * (i + 1) for i, p in enumerate(x.split(2, 1))], 1),
     lambda x: _torch().cat([p * (i + 1) for i, p in enumerate(x.split(2, 1))], 1),
     [(2, 5)], rand),
    ("split_sizes", lambda x: x.split([1, 3], 0)[1] * 2, lambda x: x.split([1, 3], 0)[1] * 2,
     [(4, 2)], rand),
    ("chunk", lambda x: x.chunk(3, 1)[2] * 3, lambda x: x.chunk(3, 1)[2] * 3, [(2, 7)], rand),
    ("pow_tensor", lambda a, b: a ** b, lambda a, b: a ** b, [(3, 4), (3, 4)], positive),
    ("pow_broadcast", lambda a, b: a ** b, lambda a, b: a ** b, [(3, 4), (4,)], positive),
    ("rpow", lambda b: 2.0 ** b, lambda b: 2.0 ** b, [(3,)], rand),
    ("cross_entropy_weight",
     lambda x: F.cross_entropy(x, mt.tensor(_T), mt.tensor(_W)),
     lambda x: _torch().nn.functional.cross_entropy(x, _t(_T), _t(_W)), [(6, 4)], rand),
    ("cross_entropy_ignore",
     lambda x: F.cross_entropy(x, mt.tensor(_T), ignore_index=1),
     lambda x: _torch().nn.functional.cross_entropy(x, _t(_T), ignore_index=1), [(6, 4)], rand),
    ("cross_entropy_smooth_weight_ignore",
     lambda x: F.cross_entropy(x, mt.tensor(_T_IGN), mt.tensor(_W), label_smoothing=0.25),
     lambda x: _torch().nn.functional.cross_entropy(x, _t(_T_IGN), _t(_W),
                                                    label_smoothing=0.25), [(6, 4)], rand),
    ("cross_entropy_2d_smooth_sum",
     lambda x: F.cross_entropy(x, mt.tensor(_T2D), mt.tensor(_W[:3]), reduction="sum",
                               label_smoothing=0.1, ignore_index=2),
     lambda x: _torch().nn.functional.cross_entropy(x, _t(_T2D), _t(_W[:3]), reduction="sum",
                                                    label_smoothing=0.1, ignore_index=2),
     [(2, 3, 2, 2)], rand),
    ("cross_entropy_none_smooth",
     lambda x: F.cross_entropy(x, mt.tensor(_T_IGN), reduction="none", label_smoothing=0.5),
     lambda x: _torch().nn.functional.cross_entropy(x, _t(_T_IGN), reduction="none",
                                                    label_smoothing=0.5), [(6, 4)], rand),
    ("nll_loss_weight_ignore",
     lambda x: F.nll_loss(x.log_softmax(1), mt.tensor(_T_IGN), mt.tensor(_W)),
     lambda x: _torch().nn.functional.nll_loss(x.log_softmax(1), _t(_T_IGN), _t(_W)),
     [(6, 4)], rand),
]
_T = np.array([0, 1, 3, 1, 2, 1])
_T_IGN = np.array([0, -100, 3, 1, -100, 2])
_T2D = np.array([[[0, 2], [1, 1]], [[2, 0], [2, 1]]])
_W = np.array([0.5, 2.0, 1.0, 3.0])


def _torch():
    return pytest.importorskip("torch")


def _t(a):
    return _torch().tensor(a)


def _inputs(shapes, make, seed=0):
    rng = np.random.default_rng(seed)
    return [make(s, rng) for s in shapes]


@pytest.mark.parametrize("name, ours, _, shapes, make", OPS, ids=[o[0] for o in OPS])
def test_gradcheck(name, ours, _, shapes, make):
    xs = [mt.tensor(a, requires_grad=True) for a in _inputs(shapes, make)]
    assert mt.gradcheck(ours, xs)


@pytest.mark.torch
@pytest.mark.parametrize("name, ours, theirs, shapes, make", OPS, ids=[o[0] for o in OPS])
def test_against_torch(name, ours, theirs, shapes, make):
    torch = _torch()
    arrays = _inputs(shapes, make, seed=1)
    xs = [mt.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = ours(*xs), theirs(*ts)
    assert out.shape == tuple(ref.shape) and out.dtype == np.float64
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(2).standard_normal(out.shape)
    out.backward(g)
    ref.backward(torch.tensor(g))
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- size and errors
def test_size_is_torchs():
    x = mt.zeros(2, 3, 4)
    assert x.size() == (2, 3, 4) and x.size(0) == 2 and x.size(-1) == 4
    assert x.numel() == 24
    with pytest.raises(IndexError, match="dim 3 is out of range"):
        x.size(3)


def test_clone_owns_its_memory():
    x = mt.tensor([1.0, 2.0])
    y = x.clone()
    y.data[0] = 5
    assert x.data[0] == 1.0 and not np.shares_memory(x.data, y.data)


def test_extra_op_errors_name_the_op():
    x = mt.randn(2, 3)
    with pytest.raises(ValueError, match="gather: index of shape"):
        x.gather(1, mt.tensor(np.zeros((3, 3), np.int64)))
    with pytest.raises(IndexError, match="gather: index values"):
        x.gather(1, mt.tensor(np.full((2, 3), 3)))
    with pytest.raises(TypeError, match="gather: index must be an integer"):
        x.gather(1, mt.tensor(np.zeros((2, 3))))
    with pytest.raises(ValueError, match="repeat: number of repeat dims"):
        x.repeat(2)
    with pytest.raises(ValueError, match="split: sizes"):
        x.split([1, 1], 1)
    with pytest.raises(ValueError, match="chunk: chunks"):
        x.chunk(0)
    with pytest.raises(ValueError, match="norm: p must be"):
        x.norm("nuc")
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, mt.tensor([0, 1]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="weight must be a 1-D"):
        F.cross_entropy(x, mt.tensor([0, 1]), mt.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"ignore_index=-100"):
        F.cross_entropy(x, mt.tensor([0, -5]))


def test_zero_norm_and_zero_base_gradients_are_zero_like_torch():
    x = mt.tensor(np.zeros(3), requires_grad=True)
    x.norm().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]
    a = mt.tensor(np.array([0.0, 2.0]), requires_grad=True)
    b = mt.tensor(np.array([2.0, 0.0]), requires_grad=True)
    (a ** b).sum().backward()
    assert b.grad[0] == 0.0 and a.grad[1] == 0.0               # 0^b: d/db = 0; a^0: d/da = 0


def test_cross_entropy_all_ignored_is_nan_like_torch():
    x = mt.tensor(np.zeros((2, 3)), requires_grad=True)
    loss = F.cross_entropy(x, mt.tensor([-100, -100]))
    assert np.isnan(loss.item())


def test_loss_modules_take_torchs_arguments():
    torch = _torch()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 4))
    ours = mt.nn.CrossEntropyLoss(mt.tensor(_W), ignore_index=-100, label_smoothing=0.1)
    theirs = torch.nn.CrossEntropyLoss(torch.tensor(_W), ignore_index=-100, label_smoothing=0.1)
    assert ours(mt.tensor(x), mt.tensor(_T_IGN)).item() == pytest.approx(
        theirs(torch.tensor(x), torch.tensor(_T_IGN)).item(), rel=1e-12)
    nll = mt.nn.NLLLoss(mt.tensor(_W), reduction="sum")
    assert nll(mt.tensor(x), mt.tensor(_T)).item() == pytest.approx(
        torch.nn.NLLLoss(torch.tensor(_W), reduction="sum")(torch.tensor(x),
                                                            torch.tensor(_T)).item())
    with pytest.raises(TypeError, match="buffer 'weight'"):      # torch's 1st arg is weight
        mt.nn.CrossEntropyLoss("sum")


# ----------------------------------------------------------------------------- clip_grad_norm_
def _grads_pair(torch, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (4,), ()]
    ours, theirs = [], []
    for s in shapes:
        g = (rng.standard_normal(s) * scale).astype(np.float32)
        p = mt.tensor(np.zeros(s, np.float32), requires_grad=True)
        p.grad = g.copy()
        q = torch.zeros(s, requires_grad=True)
        q.grad = torch.tensor(g.copy())
        ours.append(p)
        theirs.append(q)
    return ours, theirs


@pytest.mark.torch
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, "inf"])
def test_clip_grad_norm_matches_torch(max_norm, norm_type):
    torch = _torch()
    ours, theirs = _grads_pair(torch)
    total = mt.nn.utils.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    ref = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert isinstance(total, mt.Tensor) and total.shape == () and total.dtype == np.float32
    assert total.item() == pytest.approx(ref.item(), rel=1e-6)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-5, atol=1e-7)
        assert p.grad.dtype == np.float32


def test_clip_grad_norm_edge_cases():
    p = mt.tensor(np.ones(4, np.float32), requires_grad=True)
    assert mt.nn.utils.clip_grad_norm_(p, 1.0).item() == 0.0          # no grad: norm 0
    p.grad = np.array([3.0, 4.0, 0.0, 0.0], np.float32)
    assert mt.nn.utils.clip_grad_norm_(p, 1.0).item() == pytest.approx(5.0)   # a single Tensor
    assert np.linalg.norm(p.grad) == pytest.approx(1.0, rel=1e-5)
    p.grad = np.array([np.inf, 1.0, 0.0, 0.0], np.float32)
    with pytest.raises(RuntimeError, match="non-finite"):
        mt.nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    assert np.isinf(mt.nn.utils.clip_grad_norm_(p, 1.0).item())       # default: scale anyway
    with pytest.raises(ValueError, match="norm_type"):
        mt.nn.utils.clip_grad_norm_(p, 1.0, norm_type="two")
