"""Tensor basics and the autograd engine's contract (issue 2, section 1)."""
import gc
import time
import weakref

import numpy as np
import pytest

import minitorch_cnn as mt


# ----------------------------------------------------------------------------- construction
def test_dtypes_follow_the_rules():
    assert mt.tensor(1.5).dtype == np.float32
    assert mt.tensor([1.0, 2.0]).dtype == np.float32
    assert mt.tensor(np.zeros(3, np.float32)).dtype == np.float32
    assert mt.tensor(np.zeros(3)).dtype == np.float64          # float64 input stays float64
    assert mt.tensor([1, 2, 3]).dtype == np.int64               # labels stay integers
    assert mt.tensor(np.array([1, 2], np.int32)).dtype == np.int32
    assert mt.tensor([True, False]).dtype == np.bool_
    assert mt.tensor([1, 2], dtype=np.float64).dtype == np.float64
    for f in (mt.zeros, mt.ones, mt.rand, mt.randn):
        t = f(2, 3)
        assert t.shape == (2, 3) and t.dtype == np.float32
        assert f((2, 3)).shape == (2, 3)
        assert f(2, dtype=np.float64).dtype == np.float64
    assert mt.arange(5).dtype == np.int64 and mt.arange(0.0, 1.0, 0.25).shape == (4,)
    assert mt.zeros_like(mt.ones(2, 2)).data.sum() == 0
    assert mt.ones_like(np.zeros(3)).data.tolist() == [1, 1, 1]


def test_attributes():
    t = mt.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    assert t.shape == (2, 3) and t.ndim == 2 and t.numel() == 6 and len(t) == 2
    assert t.size() == (2, 3) and t.size(-1) == 3                # torch's size(), not numpy's
    assert isinstance(t.data, np.ndarray) and t.numpy() is t.data
    assert t.grad is None and t.requires_grad and t.is_leaf
    assert t.T.shape == (3, 2)
    assert mt.tensor([[7.0]]).item() == 7.0
    with pytest.raises(ValueError, match="one-element"):
        t.item()
    d = t.detach()
    assert not d.requires_grad and np.shares_memory(d.data, t.data)


def test_repr_shows_values_and_creating_op():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    assert "requires_grad=True" in repr(x) and "1." in repr(x)
    y = x * 2
    assert "grad_fn=Mul" in repr(y) and "4." in repr(y)
    assert "dtype=float64" in repr(mt.tensor(np.zeros(2)))


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="floating-point"):
        mt.tensor([1, 2, 3], requires_grad=True)
    t = mt.tensor([1, 2])
    with pytest.raises(TypeError, match="int64"):
        t.requires_grad = True


def test_ragged_input_is_a_clear_error():
    with pytest.raises((TypeError, ValueError)):
        mt.tensor([[1.0, 2.0], [3.0]])


# ----------------------------------------------------------------------------- backward contract
def test_scalar_backward_defaults_to_one():
    x = mt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, [2, 4, 6])
    assert x.grad.dtype == np.float32 and x.grad.shape == x.shape


def test_backward_with_explicit_grad_array_or_tensor():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).backward(np.array([1.0, 10.0]))
    np.testing.assert_allclose(x.grad, [3, 30])
    x.grad = None
    (x * 3).backward(mt.tensor([2.0, 0.0]))
    np.testing.assert_allclose(x.grad, [6, 0])


def test_non_scalar_backward_without_grad_is_an_error():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"scalar outputs.*\(2,\)"):
        (x * 2).backward()


def test_backward_grad_of_wrong_shape_is_an_error():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        (x * 2).backward(np.ones(3))


def test_backward_on_tensor_without_graph_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        mt.tensor([1.0]).sum().backward()


def test_leaf_gradients_accumulate_across_calls():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad, [5, 5])


def test_a_tensor_used_twice_gets_both_contributions():
    x = mt.tensor([3.0], requires_grad=True)
    y = x * x + x            # dy/dx = 2x + 1 = 7
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [7])


def test_non_leaf_tensors_keep_no_grad_unless_retained():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    k = x * 3
    k.retain_grad()
    (h * k).sum().backward()
    assert h.grad is None
    np.testing.assert_allclose(k.grad, h.data)     # d(h*k)/dk = h
    np.testing.assert_allclose(x.grad, 2 * k.data + 3 * h.data)


def test_backward_twice_through_freed_graph_is_an_error():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, [4, 8])


def test_saved_arrays_are_released_after_backward():
    x = mt.tensor(np.random.rand(100), requires_grad=True)
    h = x.exp()                            # Exp saves its output array
    saved = h._ctx.saved[0]
    ref = weakref.ref(saved)
    del saved
    loss = (h * 2).sum()
    del h                                  # only the graph holds the intermediate now
    gc.collect()
    assert ref() is not None               # still needed: backward has not run yet
    loss.backward()
    gc.collect()
    assert ref() is None                   # freed by backward


def test_retain_graph_keeps_saved_arrays():
    x = mt.tensor(np.random.rand(10), requires_grad=True)
    h = x.exp()
    ref = weakref.ref(h._ctx.saved[0])
    loss = h.sum() * 1.0
    del h
    loss.backward(retain_graph=True)
    gc.collect()
    assert ref() is not None


def test_chain_of_100k_ops_no_recursion_error_and_linear_time():
    def chain(n):
        x = mt.tensor([1.0], requires_grad=True)
        y = x
        for _ in range(n):
            y = y * 1.0 + 0.0
        t = time.perf_counter()
        y.sum().backward()
        return x, time.perf_counter() - t

    x, t_big = chain(100_000)
    np.testing.assert_allclose(x.grad, [1.0])
    _, t_small = chain(10_000)
    # linear: 10x the ops should cost about 10x the time, far from the 100x of a quadratic walk
    assert t_big < 30 * t_small + 0.5


def test_no_grad_context_and_decorator():
    x = mt.tensor([1.0], requires_grad=True)
    with mt.no_grad():
        y = x * 2
        assert not mt.is_grad_enabled()
    assert mt.is_grad_enabled()
    assert not y.requires_grad and y._ctx is None

    @mt.no_grad()
    def f(t):
        return t * 3

    assert not f(x).requires_grad
    assert (x * 3).requires_grad


def test_no_grad_restores_state_after_exception():
    with pytest.raises(ZeroDivisionError):
        with mt.no_grad():
            1 / 0
    assert mt.is_grad_enabled()


def test_detach_cuts_the_graph():
    x = mt.tensor([2.0], requires_grad=True)
    y = x.detach() * x
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [2.0])   # only the non-detached factor counts


def test_comparisons_give_boolean_tensors():
    x = mt.tensor([1.0, 2.0, 3.0])
    assert (x > 1.5).data.tolist() == [False, True, True]
    assert (x == 2.0).dtype == np.bool_


# ----------------------------------------------------------------------------- torch semantics
# (issue 11, part A: what a PyTorch user writes means the same thing here)
def test_tensor_copies_and_from_numpy_shares():
    a = np.ones(3)
    t = mt.tensor(a)
    t.data[0] = 5                               # torch.tensor copies ...
    assert a[0] == 1
    s = mt.from_numpy(a)                        # ... torch.from_numpy shares
    s.data[1] = 7
    assert a[1] == 7 and s.dtype == np.float64
    with pytest.raises(TypeError, match="from_numpy"):
        mt.from_numpy([1.0, 2.0])


def test_complex_input_is_refused():
    """numpy casts complex to float with only a warning, dropping the imaginary part."""
    for data in ([1 + 2j], np.array([1j]), 1j):
        with pytest.raises(TypeError, match="complex"):
            mt.tensor(data)
    for data in ([1j], np.array([1 + 2j])):
        with pytest.raises(TypeError, match="complex"):
            mt.tensor(data, dtype=np.float32)


def test_casts_are_differentiable_like_torch():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    y = x.double()
    assert y.dtype == np.float64 and y.requires_grad
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [2.0, 4.0]
    assert x.float() is x                       # same dtype: the tensor itself, as torch
    assert not x.long().requires_grad and x.long().dtype == np.int64
    assert x.half().dtype == np.float16 and x.to(np.float64).dtype == np.float64
    # a 0-d float64 tensor times a float32 one: the 0-d one is cast down, differentiably
    s, v = mt.tensor(np.float64(3.0), requires_grad=True), mt.tensor([1.0, 2.0], requires_grad=True)
    out = v * s
    assert out.dtype == np.float32
    out.sum().backward()
    assert s.grad.dtype == np.float64 and s.grad.item() == 3.0 and v.grad.tolist() == [3, 3]


@pytest.mark.parametrize("make, expected", [
    (lambda f: f * 0.5, np.float32),
    (lambda f: f * np.sqrt(2.0), np.float32),                       # a numpy float64 scalar
    (lambda f: f * mt.tensor(np.float64(2.0)), np.float32),         # a 0-d float64 tensor
    (lambda f: f + mt.tensor([1, 2, 3]), np.float32),               # an integer tensor
    (lambda f: f.double() + f, np.float64),                         # same priority: wider
    (lambda f: mt.tensor([1, 2, 3]) * 0.5, np.float32),             # int * float number
    (lambda f: mt.tensor([1, 2, 3]) / mt.tensor([2, 2, 2]), np.float32),   # true division
    (lambda f: mt.tensor([1, 2, 3]) * 2, np.int64),
    (lambda f: mt.tensor(np.ones(3, np.int32)) * mt.tensor(3), np.int32),
    (lambda f: f.half() * 3.0, np.float16),                         # float16 keeps its width
    (lambda f: f.half() + mt.tensor([1, 2, 3]), np.float16),
    (lambda f: mt.tensor(np.float32(1.0)) * mt.tensor(np.float64(2.0)), np.float64),
    (lambda f: mt.tensor([True, False]) * 2, np.int64),
    (lambda f: mt.tensor([True, False]) + mt.tensor([True, True]), np.bool_),
    (lambda f: mt.maximum(f, mt.tensor([1, 5, 0])), np.float32),
    (lambda f: mt.where(f > 1, f, 0.0), np.float32),
    (lambda f: mt.tensor([1, 4]) ** 0.5, np.float32),
    (lambda f: f ** np.float64(2.0), np.float32),
    (lambda f: mt.sigmoid(mt.tensor([1, 4])), np.float32),
    (lambda f: mt.tensor([1, 4]).exp(), np.float32),
])
def test_type_promotion_follows_torch(make, expected):
    f = mt.tensor([1.0, 2.0, 3.0])
    assert make(f).dtype == expected


def test_promoted_activation_feeds_the_next_layer():
    # x * np.sqrt(2.) used to turn float32 into float64, and the next Linear refused it
    lin = mt.nn.Linear(3, 2)
    x = mt.randn(4, 3, requires_grad=True)
    out = lin(x * np.sqrt(2.0))
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32


def test_mixed_dtypes_in_matmul_are_an_error():
    with pytest.raises(TypeError, match="matmul: both operands must have the same dtype"):
        mt.ones(2, 3) @ mt.ones(3, 2, dtype=np.float64)
    assert (mt.tensor([[1, 2]]) @ mt.tensor([[3], [4]])).item() == 11


def test_integer_only_ops_refuse_or_convert_like_torch():
    with pytest.raises(TypeError, match="leaky_relu"):
        mt.leaky_relu(mt.tensor([-200]), 0.1)
    for fn in (lambda t: t.softmax(0), lambda t: t.mean(), lambda t: t.var()):
        with pytest.raises(TypeError, match="floating-point"):
            fn(mt.tensor([1, 2]))
    np.testing.assert_allclose(mt.sigmoid(mt.tensor([1, 4])).data, [0.7310586, 0.9820138],
                               rtol=1e-6)
    assert mt.relu(mt.tensor([-2, 3])).data.tolist() == [0, 3]
    with pytest.raises(TypeError, match="bool"):
        mt.tensor([True]) - mt.tensor([False])


def test_dims_out_of_range_raise_and_zero_d_accepts_0_and_minus_1():
    x = mt.ones(2, 3)
    for fn, msg in ((lambda: x.unsqueeze(5), "unsqueeze"), (lambda: mt.cat([x], 5), "cat"),
                    (lambda: mt.stack([x], -4), "stack"), (lambda: x.flatten(5), "flatten")):
        with pytest.raises(IndexError, match=f"{msg}: dim .* 2 dims"):
            fn()
    with pytest.raises(ValueError, match="expand"):
        mt.ones(3).expand(-1, 3)
    assert mt.ones(3).expand(2, -1).shape == (2, 3)
    s = mt.tensor(3.0)
    assert s.argmax(0).item() == 0 and s.squeeze(0).shape == () and s.transpose(0, 0).shape == ()
    assert s.unsqueeze(-1).shape == (1,) and s.sum(0).item() == 3
    assert x.sum(dim=()).item() == 6 and x.mean(dim=()).shape == ()     # () = all dims

