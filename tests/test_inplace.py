"""In-place ops: values, autograd through them, and the version-counter safety net, each
compared with torch where torch defines the answer (skipped without torch)."""
import numpy as np
import pytest

import minitorch_cnn as mt


def _torch():
    return pytest.importorskip("torch")


# ----------------------------------------------------------------------------- values
def test_inplace_ops_write_into_the_same_memory():
    x = mt.tensor(np.arange(4.0))
    mem = x.data
    x.add_(1).mul_(2).sub_(mt.tensor(1.0), alpha=3).div_(2)
    assert x.data is mem and x.tolist() == [-0.5, 0.5, 1.5, 2.5]
    x.clamp_(0, 2)
    assert x.tolist() == [0.0, 0.5, 1.5, 2.0]
    x.copy_(mt.tensor([7.0]))                                 # broadcast, like torch
    assert x.tolist() == [7.0] * 4
    x.fill_(3)
    x[1:3] = mt.tensor([8.0, 9.0])
    assert x.tolist() == [3.0, 8.0, 9.0, 3.0]
    x.zero_()
    assert x.tolist() == [0.0] * 4 and x.data is mem
    assert x._version.value == 9                   # one per write


def test_augmented_assignment_updates_in_place():
    w = mt.tensor([1.0, 2.0])
    same = w
    w += 1
    w *= 2
    w -= mt.tensor([1.0, 1.0])
    w /= 2
    assert w is same and w.tolist() == [1.5, 2.5]


def test_views_and_detach_share_memory_and_version():
    x = mt.tensor(np.arange(6.0))
    v = x.reshape(2, 3)
    d = x.detach()
    v[0, 0] = 100
    d.add_(1)
    assert x.data[0] == 101 and v._version is x._version is d._version
    assert x._version.value == 2 and v._base is x


def test_inplace_errors_are_clear():
    x = mt.zeros(3)
    with pytest.raises(RuntimeError, match="add_: the result has shape \\(2, 3\\)"):
        x.add_(mt.zeros(2, 3))                                # cannot broadcast the output
    i = mt.tensor(np.arange(3))
    with pytest.raises(RuntimeError, match="result type float.* can't be cast to .*int64"):
        i.add_(1.5)
    e = mt.zeros(1).expand(3)
    with pytest.raises(RuntimeError, match="read-only"):
        e.zero_()


# ----------------------------------------------------------------------------- leaves
def test_leaf_that_requires_grad_refuses_inplace_outside_no_grad():
    torch = _torch()
    w = mt.tensor([1.0, 2.0], requires_grad=True)
    tw = torch.tensor([1.0, 2.0], requires_grad=True)
    for op in (lambda t: t.add_(1), lambda t: t.mul_(2), lambda t: t.zero_(),
               lambda t: t.__setitem__(0, 5.0), lambda t: t.clamp_(0, 1)):
        with pytest.raises(RuntimeError, match="leaf"):
            op(tw)
        with pytest.raises(RuntimeError, match="a leaf tensor that requires grad"):
            op(w)
    with pytest.raises(RuntimeError, match="in-place"):
        w += 1
    assert w.tolist() == [1.0, 2.0]


def test_manual_sgd_idiom_keeps_the_parameter():
    """micrograd's loop: `with no_grad(): w -= lr * w.grad` then the next backward works."""
    torch = _torch()
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 3)), rng.standard_normal(8)
    w, tw = mt.tensor(np.zeros(3), requires_grad=True), torch.zeros(3, dtype=torch.float64,
                                                                     requires_grad=True)
    for _ in range(5):
        loss = ((mt.tensor(x) @ w - mt.tensor(y)) ** 2).mean()
        tloss = ((torch.tensor(x) @ tw - torch.tensor(y)) ** 2).mean()
        loss.backward()
        tloss.backward()
        with mt.no_grad():
            w -= 0.1 * w.grad
            w.grad = None
        with torch.no_grad():
            tw -= 0.1 * tw.grad
            tw.grad = None
        assert w.is_leaf and w.requires_grad
    np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-12)


# ----------------------------------------------------------------------------- autograd
def _compare(build):
    """Run ``build(lib, x)`` with both libraries on the same float64 input; compare values and
    x's gradient."""
    torch = _torch()
    a = np.random.default_rng(3).standard_normal((3, 4))
    x, tx = mt.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    out, ref = build(mt, x), build(torch, tx)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12)
    g = np.random.default_rng(4).standard_normal(out.shape)
    out.backward(g)
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-12, atol=1e-15)


def _setitem(y, idx, v):
    y[idx] = v
    return y


CASES = {
    "setitem_row": lambda lib, x: _setitem(x * 2, 0, 0.0),
    "setitem_slice_tensor": lambda lib, x: _setitem(x * 2, (slice(None), slice(1, 3)),
                                                    x[:, :2] ** 2),
    "setitem_mask": lambda lib, x: _setitem(x + 0, x > 0, 0.5),
    # (repeated indices: torch sends the gradient to every duplicate, although only the last
    # write survives; ours goes to the survivor only -- gradchecked below -- so not compared)
    "setitem_fancy": lambda lib, x: _setitem(x * 1, ([0, 1, 2], [1, 1, 3]), x[1, :3] * 3),
    "add_": lambda lib, x: (x * 2).add_(x, alpha=3),
    "add_broadcast": lambda lib, x: (x * 1).add_(x[0]),
    "sub_": lambda lib, x: (x.exp() + 0).sub_(x * x),
    "mul_self": lambda lib, x: (x * 2).mul_(x),
    "mul_twice": lambda lib, x: (x + 1).mul_(3).mul_(x),
    "div_": lambda lib, x: (x * 1).div_(x * x + 1),
    "zero_then_add": lambda lib, x: (x * 2).zero_().add_(x),
    "copy_": lambda lib, x: (x * 1).copy_(x[1] * 5),
    "clamp_": lambda lib, x: (x * 3).clamp_(-1, 1),
    "iadd_chain": lambda lib, x: _iadd(x * 1, x),
    "no_grad_modification_of_unsaved": lambda lib, x: _nograd_add(lib, x),
    "buffer_leaf_becomes_nonleaf": lambda lib, x: lib.zeros(3, 4, dtype=x.dtype).add_(x * 2),
}


def _iadd(y, x):
    y += x
    y *= 2
    return y


def _nograd_add(lib, x):
    y = x * 2
    z = y + 1                    # Add saves nothing: modifying y afterwards under no_grad is fine
    with lib.no_grad():
        y.add_(100)
    return z


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(CASES))
def test_inplace_autograd_matches_torch(name):
    _compare(CASES[name])


def test_setitem_backward_is_gradchecked():
    a = mt.tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)
    v = mt.tensor(np.random.default_rng(1).standard_normal(4), requires_grad=True)

    def f(a, v):
        y = a * 1
        y[1] = v * v
        y[[0, 2], [3, 3]] = v[:2]
        return y
    assert mt.gradcheck(f, [a, v])

    def g(a, v):
        y = a.exp() + 0                       # (exp saves its output: modifying it would raise)
        y.mul_(v).add_(a, alpha=2)
        return y
    assert mt.gradcheck(g, [a, v])


# ----------------------------------------------------------------------------- safety net
def test_modifying_a_saved_array_is_an_error_at_backward_time():
    torch = _torch()
    for lib in (torch, mt):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        h = x.exp()                           # Exp saves its output
        h.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"
                           if lib is torch else "modified by an in-place operation \\(add_\\)"):
            h.sum().backward()


def test_error_names_op_versions_and_role():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = y * y                                 # Mul saves y
    y.mul_(3)
    y.add_(1)
    with pytest.raises(RuntimeError, match="\\(add_\\).*input 0 of Mul, is at version 2; "
                                           "expected version 0"):
        z.sum().backward()


def test_inputs_not_requiring_grad_are_protected_too():
    torch = _torch()
    for lib in (torch, mt):
        w = lib.tensor([1.0, 2.0], requires_grad=True)
        x = lib.tensor([3.0, 4.0])
        y = (w * x).sum()                     # Mul saves x for w's gradient
        x.mul_(0)
        with pytest.raises(RuntimeError, match="in.?place"):
            y.backward()


def test_optimizer_step_bumps_versions():
    torch = _torch()
    for lib in (torch, mt):
        w = lib.tensor([1.0, 2.0], requires_grad=True)
        loss = (w * w).sum()
        loss.backward(retain_graph=True)
        lib.optim.SGD([w], lr=0.1).step()
        with pytest.raises(RuntimeError, match="in.?place"):
            loss.backward()                   # the graph saved the old w


def test_used_before_a_recorded_inplace_is_a_clear_error_not_a_wrong_gradient():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = y + 1                                  # uses the old y (Add saves nothing)
    y.mul_(3)                                  # y is now a new value with a new history
    with pytest.raises(RuntimeError, match="after Add used it"):
        (z + y).sum().backward()


def test_inplace_on_a_view_while_recording_is_refused():
    x = mt.tensor(np.ones((2, 3)), requires_grad=True)
    y = x * 2
    v = y[0]
    with pytest.raises(RuntimeError, match="in-place operation on a view"):
        v.add_(1)
    with mt.no_grad():
        v.add_(1)                              # not recorded: a plain write into y's memory
    assert y.data[0].tolist() == [3.0] * 3


def test_gradient_of_zero_d_parameter_is_an_array():
    p = mt.tensor(np.array(2.0), requires_grad=True)
    (p * p + p).backward()
    (p * 3).backward()
    assert isinstance(p.grad, np.ndarray) and p.grad.shape == () and p.grad == 8.0
