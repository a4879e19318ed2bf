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
