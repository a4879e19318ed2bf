"""Optimizers and schedulers: hand-worked values, step-by-step numpy references, torch, checkpoints.

References are written out of place, one formula per line, independently of the in-place code in
minitorch_cnn/optim; literal numbers were worked out by hand (shown in the comments).
"""
import math

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn.optim import SGD, Adam, AdamW
from minitorch_cnn.optim.lr_scheduler import CosineAnnealingLR, StepLR


def param(values, dtype=np.float64):
    return mt.tensor(np.array(values, dtype=dtype), requires_grad=True)


def run(opt_cls, p0, grads, **kw):
    """Apply ``grads`` (a list of arrays) one per step; return the parameter after each step."""
    p = param(p0)
    opt = opt_cls([p], **kw)
    out = []
    for g in grads:
        p.grad = np.array(g, dtype=np.float64)
        opt.step()
        out.append(p.data.copy())
    return out


# ------------------------------------------------------------------ hand-worked numbers (scalars)
def test_sgd_plain_by_hand():
    # p = [1, -2], lr 0.1: g1 = [0.5, 1] -> [0.95, -2.1];  g2 = [-1, 2] -> [1.05, -2.3]
    out = run(SGD, [1.0, -2.0], [[0.5, 1.0], [-1.0, 2.0]], lr=0.1)
    np.testing.assert_allclose(out, [[0.95, -2.1], [1.05, -2.3]], rtol=1e-14)


@pytest.mark.parametrize("kw, expected", [
    # g = 1 every step, lr 0.1, p0 = 1
    # momentum 0.9: b = 1, 1.9, 2.71  ->  p = 0.9, 0.71, 0.439
    (dict(momentum=0.9), [0.9, 0.71, 0.439]),
    # dampening 0.5: b = 1 (first step undamped), 0.9 + 0.5 = 1.4, 1.26 + 0.5 = 1.76
    (dict(momentum=0.9, dampening=0.5), [0.9, 0.76, 0.584]),
    # nesterov: b = 1, 1.9; step = g + 0.9 b = 1.9, 2.71  ->  p = 0.81, 0.539
    (dict(momentum=0.9, nesterov=True), [0.81, 0.539, 0.539 - 0.1 * (1 + 0.9 * 2.71)]),
    # weight decay 0.1: g' = 1 + 0.1 p: 1.1 -> p 0.89;  1.089 -> p 0.7811
    (dict(weight_decay=0.1), [0.89, 0.7811, 0.7811 - 0.1 * (1 + 0.07811)]),
])
def test_sgd_options_by_hand(kw, expected):
    out = run(SGD, [1.0], [[1.0]] * 3, lr=0.1, **kw)
    np.testing.assert_allclose(np.ravel(out), expected, rtol=1e-13)


def test_adam_first_step_is_lr_times_sign():
    # m = (1-b1) g, v = (1-b2) g^2; bias correction gives m_hat = g, v_hat = g^2, so the first
    # step is lr * g / (|g| + eps): lr * sign(g) whatever the gradient's scale.
    out = run(Adam, [1.0, 1.0, 1.0], [[0.5, -1e-3, 300.0]], lr=0.1)
    np.testing.assert_allclose(out[0], [0.9, 1.1, 0.9], rtol=1e-6)


def test_adamw_decay_is_decoupled_from_the_gradient_scaling():
    # With zero gradients m = v = 0, so the Adam part is 0 / (0 + eps) = 0 and AdamW only shrinks:
    # p_k = p0 (1 - lr wd)^k exactly.  Adam's L2 decay instead goes through the normalisation and
    # moves each weight by about lr toward 0 on the first step.
    out = run(AdamW, [2.0, -4.0], [[0.0, 0.0]] * 3, lr=0.1, weight_decay=0.5)
    np.testing.assert_allclose(out, [[2.0 * 0.95 ** k, -4.0 * 0.95 ** k] for k in (1, 2, 3)],
                               rtol=1e-14)
    out = run(Adam, [2.0, -4.0], [[0.0, 0.0]], lr=0.1, weight_decay=0.5)
    np.testing.assert_allclose(out[0], [1.9, -3.9], rtol=1e-7)


# ------------------------------------------------------------------ step-by-step numpy references
def ref_sgd(p, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    p, buf, out = np.array(p, dtype=np.float64), None, []
    for g in grads:
        d = g + weight_decay * p
        if momentum:
            buf = d if buf is None else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        p = p - lr * d
        out.append(p)
    return out


def ref_adam(p, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    b1, b2 = betas
    p = np.array(p, dtype=np.float64)
    m, v, out = np.zeros_like(p), np.zeros_like(p), []
    for t, g in enumerate(grads, start=1):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1 ** t)
        v_hat = v / (1 - b2 ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(p)
    return out


CASES = [
    (SGD, dict(lr=0.1)),
    (SGD, dict(lr=0.05, momentum=0.9)),
    (SGD, dict(lr=0.05, momentum=0.8, dampening=0.3)),
    (SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (SGD, dict(lr=0.1, weight_decay=0.2)),
    (Adam, dict(lr=0.01)),
    (Adam, dict(lr=0.02, betas=(0.5, 0.9), eps=1e-3)),
    (Adam, dict(lr=0.01, weight_decay=0.1)),
    (AdamW, dict(lr=0.01)),
    (AdamW, dict(lr=0.03, betas=(0.8, 0.99), weight_decay=0.3)),
]


def case_id(case):
    cls, kw = case
    return cls.__name__ + "-" + "-".join(f"{k}={v}" for k, v in kw.items())


def grads_for(seed, shape=(3, 4), n=5):
    r = np.random.default_rng(seed)
    return [r.standard_normal(shape) * 10.0 ** r.uniform(-2, 1) for _ in range(n)]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_against_numpy_reference(case):
    cls, kw = case
    p0 = np.random.default_rng(7).standard_normal((3, 4))
    grads = grads_for(8)
    got = run(cls, p0, grads, **kw)
    if cls is SGD:
        want = ref_sgd(p0, grads, **kw)
    else:
        kw = dict(kw)
        if cls is AdamW:
            kw.setdefault("weight_decay", 1e-2)
        want = ref_adam(p0, grads, decoupled=cls is AdamW, **kw)
    for k, (a, b) in enumerate(zip(got, want)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14, err_msg=f"step {k + 1}")


@pytest.mark.torch
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_against_torch(case):
    torch = pytest.importorskip("torch")
    cls, kw = case
    r = np.random.default_rng(3)
    p0s = [r.standard_normal((3, 4)), r.standard_normal(5)]
    ours = [param(p) for p in p0s]
    theirs = [torch.tensor(p, requires_grad=True) for p in p0s]
    # two groups, the second with its own lr, to check group handling as well
    opt = cls([{"params": ours[:1]}, {"params": ours[1:], "lr": 0.5 * kw["lr"]}], **kw)
    topt = getattr(torch.optim, cls.__name__)(
        [{"params": theirs[:1]}, {"params": theirs[1:], "lr": 0.5 * kw["lr"]}], **kw)
    for step in range(5):
        for i, (a, b) in enumerate(zip(ours, theirs)):
            g = grads_for(100 * step + i, a.shape, 1)[0]
            a.grad = g.copy()
            b.grad = torch.tensor(g)
        opt.step()
        topt.step()
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-6, atol=1e-12,
                                       err_msg=f"step {step + 1}")
            # much tighter than required: the formulas are the same up to rounding
            np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------ contract
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_in_place_float32_and_grad_untouched(case):
    cls, kw = case
    p = param(np.linspace(-1, 1, 6).reshape(2, 3), dtype=np.float32)
    data = p.data
    g = np.full((2, 3), 0.25, dtype=np.float32)
    p.grad = g
    opt = cls([p], **kw)
    opt.step()
    opt.step()
    assert p.data is data and p.data.dtype == np.float32            # updated in place
    np.testing.assert_array_equal(g, 0.25)                          # the gradient is not modified
    assert not np.array_equal(p.data, np.linspace(-1, 1, 6).reshape(2, 3).astype(np.float32))
    for s in opt.state.get(p, {}).values():
        if isinstance(s, np.ndarray):
            assert s.dtype == np.float32


def test_params_without_grad_are_skipped_and_zero_grad():
    a, b = param([1.0, 2.0]), param([3.0])
    opt = Adam([a, b], lr=0.1)
    a.grad = np.ones(2)
    opt.step()
    np.testing.assert_array_equal(b.data, [3.0])
    assert b not in opt.state and opt.state[a]["step"] == 1
    opt.zero_grad()
    assert a.grad is None and b.grad is None
    a.grad = np.ones(2)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad, 0.0)


def test_param_groups_layout_and_defaults():
    a, b = param([1.0]), param([2.0])
    opt = SGD([{"params": [a]}, {"params": [b], "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert [g["momentum"] for g in opt.param_groups] == [0, 0.9]
    assert opt.param_groups[0]["params"][0] is a
    assert "Parameter Group 1" in repr(opt) and "momentum: 0.9" in repr(opt)


def test_minimises_a_least_squares_problem():
    # the optimisers must actually train a model through the autograd engine
    r = np.random.default_rng(0)
    x = mt.tensor(r.standard_normal((64, 5)))
    y = mt.tensor(x.data @ np.array([1.0, -2.0, 0.5, 3.0, 0.0]))
    for cls, kw in [(SGD, dict(lr=0.05, momentum=0.9)), (Adam, dict(lr=0.1)),
                    (AdamW, dict(lr=0.1, weight_decay=0.0))]:
        w = mt.zeros(5, requires_grad=True, dtype=np.float64)   # x is float64: matmul needs
        opt = cls([w], **kw)                                     # one dtype (as torch)
        for _ in range(200):
            loss = ((x @ w - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert loss.item() < 1e-3, cls.__name__


@pytest.mark.parametrize("make, match", [
    (lambda p: SGD(p, lr=-0.1), r"SGD: invalid learning rate.*-0.1"),
    (lambda p: SGD(p), r"SGD: missing required argument lr"),
    (lambda p: SGD(p, lr=0.1, momentum=-1), r"SGD: invalid momentum"),
    (lambda p: SGD(p, lr=0.1, nesterov=True), r"SGD: Nesterov momentum requires"),
    (lambda p: SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), r"zero dampening"),
    (lambda p: SGD(p, lr=0.1, weight_decay=-1e-4), r"SGD: invalid weight_decay"),
    (lambda p: SGD(p, lr="fast"), r"SGD: invalid learning rate.*real number"),
    (lambda p: Adam(p, lr=-1), r"Adam: invalid learning rate"),
    (lambda p: Adam(p, betas=(1.0, 0.999)), r"Adam: invalid beta parameter at index 0"),
    (lambda p: Adam(p, betas=(0.9, -0.1)), r"Adam: invalid beta parameter at index 1"),
    (lambda p: Adam(p, betas=0.9), r"Adam: betas must be a pair"),
    (lambda p: AdamW(p, eps=-1e-8), r"AdamW: invalid epsilon"),
    (lambda p: AdamW(p, weight_decay=-1), r"AdamW: invalid weight_decay"),
    (lambda p: Adam([{"params": p, "lr": -1}]), r"Adam: invalid learning rate"),
    (lambda p: Adam([{"params": p, "momentum": 0.9}]), r"Adam: unknown hyper-parameter"),
    (lambda p: Adam([]), r"Adam: got an empty parameter list"),
    (lambda p: Adam(p + p), r"Adam: some parameters appear more than once"),
    (lambda p: Adam([{"params": p}, {"params": p}]), r"more than once"),
    (lambda p: Adam([p[0] * 2]), r"Adam: can't optimize a non-leaf"),
])
def test_bad_hyper_parameters(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make([param([1.0, 2.0])])


def test_bad_params_types():
    p = param([1.0])
    with pytest.raises(TypeError, match="SGD: params should be an iterable.*single Tensor"):
        SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="SGD: can only optimize Tensors, got ndarray"):
        SGD([np.ones(2)], lr=0.1)
    with pytest.raises(TypeError, match="SGD: params should be an iterable.*int"):
        SGD(3, lr=0.1)
    opt = SGD([p], lr=0.1)
    p.grad = np.ones(3)
    with pytest.raises(ValueError, match=r"SGD.step: gradient shape \(3,\) does not match "
                                         r"parameter shape \(1,\)"):
        opt.step()


# ------------------------------------------------------------------ state_dict / checkpoints
def _two_group_opt(cls, kw, seed=0):
    r = np.random.default_rng(seed)
    ps = [param(r.standard_normal((2, 3))), param(r.standard_normal(4)),
          param(r.standard_normal(2))]
    groups = [{"params": ps[:2]}, {"params": ps[2:], "lr": kw["lr"] * 0.3}]
    return ps, cls(groups, **kw)


def _steps(ps, opt, sched, start, n):
    for s in range(start, start + n):
        for i, p in enumerate(ps):
            # parameter 1 gets no gradient on odd steps: its state must still line up
            p.grad = None if (i == 1 and s % 2) else grads_for(1000 * s + i, p.shape, 1)[0]
        opt.step()
        if sched is not None:
            sched.step()


@pytest.mark.parametrize("case", [CASES[3], CASES[7], CASES[9]], ids=case_id)
def test_state_dict_round_trip_through_save_load(case, tmp_path):
    cls, kw = case
    ps, opt = _two_group_opt(cls, kw)
    sched = CosineAnnealingLR(opt, T_max=7, eta_min=1e-4)
    _steps(ps, opt, sched, 0, 6)
    want = [p.data.copy() for p in ps]

    ps, opt = _two_group_opt(cls, kw)
    sched = CosineAnnealingLR(opt, T_max=7, eta_min=1e-4)
    _steps(ps, opt, sched, 0, 3)
    mt.save({"params": [p.data for p in ps], "optimizer": opt.state_dict(),
             "scheduler": sched.state_dict()}, tmp_path / "ckpt.npz")
    ckpt = mt.load(tmp_path / "ckpt.npz")
    assert all(type(k) is int for k in ckpt["optimizer"]["state"])
    ps2, opt2 = _two_group_opt(cls, kw, seed=99)               # different initial values
    for p, saved in zip(ps2, ckpt["params"]):
        p.data[...] = saved
    sched2 = CosineAnnealingLR(opt2, T_max=7, eta_min=1e-4)
    opt2.load_state_dict(ckpt["optimizer"])
    sched2.load_state_dict(ckpt["scheduler"])
    assert sched2.get_last_lr() == sched.get_last_lr()
    assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in opt.param_groups]
    _steps(ps2, opt2, sched2, 3, 3)
    for a, b in zip(ps2, want):
        np.testing.assert_array_equal(a.data, b)


def test_state_dict_is_a_snapshot_and_layout_is_torch_like():
    ps, opt = _two_group_opt(Adam, dict(lr=0.1))
    _steps(ps, opt, None, 0, 2)
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq"} and sd["state"][0]["step"] == 2
    assert sd["state"][1]["step"] == 1                     # it had a gradient only once
    before = sd["state"][0]["exp_avg"].copy()
    _steps(ps, opt, None, 2, 1)
    np.testing.assert_array_equal(sd["state"][0]["exp_avg"], before)


def test_load_state_dict_errors_leave_the_optimizer_unchanged():
    ps, opt = _two_group_opt(Adam, dict(lr=0.1))
    _steps(ps, opt, None, 0, 1)
    sd = opt.state_dict()
    _, other = _two_group_opt(Adam, dict(lr=0.1))
    with pytest.raises(ValueError, match="1 parameter group.*this optimizer has 2"):
        other.load_state_dict({**sd, "param_groups": sd["param_groups"][:1]})
    bad = {"state": sd["state"], "param_groups": [sd["param_groups"][0],
                                                  {**sd["param_groups"][1], "params": [2, 3]}]}
    with pytest.raises(ValueError, match="parameter group 1 has 2 parameters"):
        other.load_state_dict(bad)
    bad = opt.state_dict()
    bad["state"][2]["exp_avg"] = np.zeros(5)
    with pytest.raises(ValueError, match=r"state 'exp_avg' of parameter 2 has shape \(5,\)"):
        other.load_state_dict(bad)
    with pytest.raises(ValueError, match="expected a dict with keys"):
        other.load_state_dict({"state": {}})
    with pytest.raises(ValueError, match="'state' must be a dict of per-parameter dicts"):
        other.load_state_dict({"state": [], "param_groups": sd["param_groups"]})
    ps_sgd, sgd = _two_group_opt(SGD, dict(lr=0.1, momentum=0.9))
    _steps(ps_sgd, sgd, None, 0, 1)
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: parameter group 0 .* lacks "
                                         r"\['betas', 'eps'\].*another optimizer type"):
        other.load_state_dict(sgd.state_dict())
    assert other.state == {}


# ------------------------------------------------------------------ schedulers
def _opt(lr=1.0):
    return SGD([param([1.0])], lr=lr)


def test_steplr_by_hand():
    opt = _opt(1.0)
    sched = StepLR(opt, step_size=2, gamma=0.5)
    assert opt.param_groups[0]["initial_lr"] == 1.0 and sched.last_epoch == 0
    lrs = [sched.get_last_lr()[0]]
    for _ in range(6):
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.125]


def test_cosine_by_hand():
    opt = _opt(1.0)
    sched = CosineAnnealingLR(opt, T_max=4, eta_min=0.1)
    lrs = [sched.get_last_lr()[0]]
    for _ in range(8):
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    c = math.sqrt(0.5)                      # cos(pi/4)
    # eta_min + 0.9 (1 + cos(pi e / 4)) / 2; after T_max the cosine rises again (torch does too)
    want = [1.0, 0.1 + 0.45 * (1 + c), 0.55, 0.1 + 0.45 * (1 - c), 0.1,
            0.1 + 0.45 * (1 - c), 0.55, 0.1 + 0.45 * (1 + c), 1.0]
    np.testing.assert_allclose(lrs, want, rtol=1e-14)


def test_scheduler_uses_initial_lr_and_validates():
    opt = _opt(0.3)
    opt.param_groups[0]["initial_lr"] = 2.0               # as restored from a checkpoint
    sched = StepLR(opt, step_size=1, gamma=0.5, last_epoch=3)
    assert sched.last_epoch == 4 and sched.get_last_lr() == [2.0 * 0.5 ** 4]
    with pytest.raises(KeyError, match="initial_lr"):
        StepLR(_opt(), step_size=1, last_epoch=3)
    with pytest.raises(ValueError, match="StepLR: step_size must be a positive integer"):
        StepLR(_opt(), step_size=0)
    with pytest.raises(ValueError, match="CosineAnnealingLR: T_max must be a positive integer"):
        CosineAnnealingLR(_opt(), T_max=2.5)
    with pytest.raises(ValueError, match="CosineAnnealingLR: eta_min must be"):
        CosineAnnealingLR(_opt(), T_max=3, eta_min=-1)
    with pytest.raises(TypeError, match="StepLR: expected an Optimizer"):
        StepLR([param([1.0])], step_size=1)
    with pytest.raises(ValueError, match="StepLR.load_state_dict: expected keys"):
        StepLR(_opt(), step_size=1).load_state_dict({"last_epoch": 3})


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("kind", ["step", "cosine"])
def test_schedulers_against_torch(kind):
    torch = pytest.importorskip("torch")
    lrs = (0.1, 0.02)
    opt = SGD([{"params": [param([1.0])], "lr": lrs[0]},
               {"params": [param([1.0])], "lr": lrs[1]}], lr=1.0)
    topt = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": lrs[0]},
                            {"params": [torch.zeros(1, requires_grad=True)], "lr": lrs[1]}],
                           lr=1.0)
    if kind == "step":
        ours, theirs = StepLR(opt, 3, gamma=0.3), torch.optim.lr_scheduler.StepLR(topt, 3, 0.3)
    else:
        ours = CosineAnnealingLR(opt, T_max=10, eta_min=1e-3)
        theirs = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=10, eta_min=1e-3)
    for _ in range(25):
        np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-10,
                                   atol=1e-15)
        topt.step()
        ours.step()
        theirs.step()


# ------------------------------------------------------------------ 0-d parameters (issue #11)
@pytest.mark.torch
@pytest.mark.parametrize("cls, kw", [(SGD, dict(lr=0.01, momentum=0.9)),
                                     (SGD, dict(lr=0.01, momentum=0.9, nesterov=True,
                                                weight_decay=0.1)),
                                     (Adam, dict(lr=0.1, weight_decay=0.1)),
                                     (AdamW, dict(lr=0.1))])
def test_zero_d_parameter_used_twice_matches_torch(cls, kw):
    """A 0-d parameter on two paths: its .grad is a 0-d ndarray (not a numpy scalar, which has no
    in-place ops), so momentum buffers update and zero_grad(set_to_none=False) works."""
    torch = pytest.importorskip("torch")
    p = mt.tensor(np.array(2.0), requires_grad=True)
    q = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    ours, theirs = cls([p], **kw), getattr(torch.optim, cls.__name__)([q], **kw)
    for _ in range(4):
        ours.zero_grad(set_to_none=False)
        theirs.zero_grad(set_to_none=False)
        (p * p + p * 3).backward()
        (q * q + q * 3).backward()
        assert isinstance(p.grad, np.ndarray) and p.grad.shape == ()
        ours.step()
        theirs.step()
        assert float(p.data) == pytest.approx(q.item(), rel=1e-12)
    assert isinstance(p.data, np.ndarray) and p.data.shape == ()
