"""Hypothesis-generated programs with in-place ops, and random loss configurations, run in
minitorch_cnn and in torch: values, gradients, dtypes and raise-or-succeed must agree.

Raise-or-succeed: when torch raises we must raise.  When torch succeeds we must succeed with the
same numbers -- except for the two cases this engine documents as unsupported (a recorded
in-place op on a view, or on a tensor some node used before the write: ops/inplace.py), where
our error must be that clear message, never a wrong gradient.

Default run: a few dozen examples (seconds); ``pytest -m slow`` runs many more.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minitorch_cnn as mt
import minitorch_cnn.nn.functional as F

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

UNSUPPORTED = ("after", "in-place operation on a view")

# ----------------------------------------------------------------------------- in-place programs
# an in-place step: (name, function(lib, y, x) doing the in-place op on y)
STEPS = {
    "add_": lambda lib, y, x: y.add_(x),
    "add_alpha": lambda lib, y, x: y.add_(x * x, alpha=-0.5),
    "sub_scalar": lambda lib, y, x: y.sub_(1.5),
    "mul_": lambda lib, y, x: y.mul_(x),
    "mul_scalar": lambda lib, y, x: y.mul_(3.0),
    "div_": lambda lib, y, x: y.div_(x * x + 1),
    "zero_": lambda lib, y, x: y.zero_(),
    "copy_": lambda lib, y, x: y.copy_(x.exp()),
    "clamp_": lambda lib, y, x: y.clamp_(-0.5, 0.5),
    "setitem_first": lambda lib, y, x: y.__setitem__(0, 0.25),
    "setitem_mask": lambda lib, y, x: y.__setitem__(y > 0, 2.0),
    "setitem_tensor": lambda lib, y, x: y.__setitem__((slice(None, 1),), x[:1] * 2),
    "iadd": lambda lib, y, x: y.__iadd__(x),
    "imul": lambda lib, y, x: y.__imul__(2.0),
}
# how the program uses y before its in-place steps (each saves something different)
USES = {
    "none": lambda lib, y: None,
    "add": lambda lib, y: y + 1,            # saves nothing
    "mul": lambda lib, y: y * y,            # saves y
    "exp_then": lambda lib, y: (y * 1).exp(),   # saves a different tensor's output
}
# how y is made from the leaf x
MAKERS = {
    "mul": lambda lib, x: x * 2,
    "exp": lambda lib, x: x.exp(),           # Exp saves its output = y's memory
    "clone": lambda lib, x: x.clone(),
    "leaf_buffer": lambda lib, x: lib.zeros(x.shape, dtype=x.dtype),
    "view": lambda lib, x: (x * 2)[0],       # a view of another tensor
}


def _run(lib, data, maker, use, steps, no_grad_steps):
    x = lib.tensor(data, requires_grad=True)
    y = MAKERS[maker](lib, x)
    if maker == "view":
        y = y.unsqueeze(0)                   # same element count as x's first row, viewed
        x_like = x[:1]
    else:
        x_like = x
    earlier = USES[use](lib, y)
    for name in steps:
        if no_grad_steps:
            with lib.no_grad():
                STEPS[name](lib, y, x_like.detach())
        else:
            STEPS[name](lib, y, x_like)
    loss = (y * y).sum()
    if earlier is not None:
        loss = loss + (earlier * 0.5).sum()
    if not loss.requires_grad:
        return _value(y), None, str(y.dtype)
    loss.backward()
    grad = x.grad
    return _value(y), (None if grad is None else _value(grad)), str(y.dtype)


def _value(t):
    return t.detach().numpy() if hasattr(t, "detach") and not isinstance(t, np.ndarray) \
        else np.asarray(t)


def _outcome(lib, *args):
    try:
        return "ok", _run(lib, *args)
    except RuntimeError as e:
        return "error", str(e)


shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


@st.composite
def programs(draw):
    shape = draw(shapes)
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    seed = draw(st.integers(0, 2 ** 31))
    arr = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return (arr, draw(st.sampled_from(sorted(MAKERS))), draw(st.sampled_from(sorted(USES))),
            draw(st.lists(st.sampled_from(sorted(STEPS)), min_size=1, max_size=3)),
            draw(st.booleans()))


def _check_program(prog):
    arr, maker, use, steps, no_grad_steps = prog
    args = (arr, maker, use, steps, no_grad_steps)
    ours, theirs = _outcome(mt, *args), _outcome(torch, *args)
    case = f"maker={maker} use={use} steps={steps} no_grad={no_grad_steps} shape={arr.shape}"
    if theirs[0] == "error":
        assert ours[0] == "error", f"torch raised ({theirs[1][:80]}) but we did not: {case}"
        return
    if ours[0] == "error":
        assert any(u in ours[1] for u in UNSUPPORTED), f"we raised ({ours[1]}): {case}"
        return
    (v, g, dt), (tv, tg, tdt) = ours[1], theirs[1]
    assert dt.split(".")[-1] == tdt.split(".")[-1].replace("torch.", ""), case
    tol = 1e-5 if arr.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(v, tv, rtol=tol, atol=tol, err_msg=case)
    assert (g is None) == (tg is None), case
    if g is not None:
        np.testing.assert_allclose(g, tg, rtol=tol, atol=tol, err_msg=case)


FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(programs())
def test_inplace_programs_agree_with_torch(prog):
    _check_program(prog)


@pytest.mark.slow
@SLOW
@given(programs())
def test_inplace_programs_agree_with_torch_many(prog):
    _check_program(prog)


# ----------------------------------------------------------------------------- leaves
@FAST
@given(st.sampled_from(sorted(STEPS)), st.booleans(), st.booleans())
def test_leaf_rules_agree_with_torch(step, requires_grad, under_no_grad):
    """In-place on a leaf: raises iff it requires grad and we are recording (torch's rule)."""
    outcomes = []
    for lib in (mt, torch):
        x = lib.tensor(np.arange(1.0, 5.0), requires_grad=requires_grad)
        other = lib.tensor(np.full(4, 0.5))
        try:
            if under_no_grad:
                with lib.no_grad():
                    STEPS[step](lib, x, other)
            else:
                STEPS[step](lib, x, other)
            outcomes.append(("ok", np.array(x.detach().numpy() if lib is torch else x.data)))
        except RuntimeError:
            outcomes.append(("error", None))
    (o, v), (to, tv) = outcomes
    assert o == to, (step, requires_grad, under_no_grad)
    if o == "ok":
        np.testing.assert_allclose(v, tv, rtol=1e-12)


# ----------------------------------------------------------------------------- losses
@st.composite
def loss_cases(draw):
    n, c = draw(st.integers(1, 5)), draw(st.integers(2, 5))
    spatial = draw(st.sampled_from([(), (2,), (2, 3)]))
    seed = draw(st.integers(0, 2 ** 31))
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, c) + spatial) * draw(st.sampled_from([0.1, 1.0, 30.0]))
    target = rng.integers(0, c, (n,) + spatial)
    ignore = draw(st.sampled_from([-100, 0, c - 1]))
    if draw(st.booleans()):                              # sprinkle ignored targets
        target = np.where(rng.random(target.shape) < 0.3, ignore, target)
    weight = rng.random(c) + 0.1 if draw(st.booleans()) else None
    return dict(logits=logits, target=target, weight=weight, ignore_index=ignore,
                reduction=draw(st.sampled_from(["mean", "sum", "none"])),
                label_smoothing=draw(st.sampled_from([0.0, 0.1, 0.5, 1.0])),
                nll=draw(st.booleans()))


def _loss(lib, case):
    x = lib.tensor(case["logits"], requires_grad=True)
    t = lib.tensor(case["target"])
    w = None if case["weight"] is None else lib.tensor(case["weight"])
    Fn = F if lib is mt else torch.nn.functional
    if case["nll"]:
        out = Fn.nll_loss(x.log_softmax(1), t, w, ignore_index=case["ignore_index"],
                          reduction=case["reduction"])
    else:
        out = Fn.cross_entropy(x, t, w, ignore_index=case["ignore_index"],
                               reduction=case["reduction"],
                               label_smoothing=case["label_smoothing"])
    g = np.random.default_rng(0).standard_normal(tuple(out.shape))
    out.backward(g if lib is mt else torch.tensor(g))
    return np.array(out.detach().numpy() if lib is torch else out.data), \
        np.asarray(x.grad if lib is mt else x.grad.numpy()), str(out.dtype)


def _check_loss(case):
    v, g, dt = _loss(mt, case)
    tv, tg, tdt = _loss(torch, case)
    assert dt == tdt.replace("torch.", "")
    np.testing.assert_allclose(v, tv, rtol=1e-10, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(g, tg, rtol=1e-10, atol=1e-12, equal_nan=True)


@FAST
@given(loss_cases())
def test_losses_agree_with_torch(case):
    _check_loss(case)


@pytest.mark.slow
@SLOW
@given(loss_cases())
def test_losses_agree_with_torch_many(case):
    _check_loss(case)
