"""Pooling against a naive loop reference (forward AND backward), finite differences and torch.

The naive reference (``pool2d_loops`` in minitorch_cnn/nn/functional/reference.py) loops over n,
c, oh, ow and reads each window directly -- the definition, with nothing shared with the
strided-slice implementation.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minitorch_cnn as mt
from minitorch_cnn.nn import functional as F
from minitorch_cnn.nn.functional.reference import adaptive_avg_pool2d_loops as naive_adaptive
from minitorch_cnn.nn.functional.reference import max_pool2d_offsets
from minitorch_cnn.nn.functional.reference import pool2d_loops as naive_pool


def run(fn, a, *args):
    """Forward + backward with a random upstream gradient; returns (y, dx, g)."""
    x = mt.tensor(a, requires_grad=True)
    y = fn(x, *args)
    g = np.random.default_rng(7).standard_normal(y.shape)
    y.backward(g)
    return y.data, x.grad, g


# random configurations: kernel 1..4 (rectangular too), stride 1..3 or None, padding
# 0..kernel//2, odd sizes
@st.composite
def pool_configs(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kernel = kh if draw(st.booleans()) and kh == kw else (kh, kw)
    stride = draw(st.one_of(st.none(), st.integers(1, 3), st.tuples(st.integers(1, 3),
                                                                   st.integers(1, 3))))
    padding = (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2)))
    H, W = draw(st.integers(max(1, kh - 2 * padding[0]), 9)), draw(
        st.integers(max(1, kw - 2 * padding[1]), 9))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), H, W)
    return shape, kernel, stride, padding


FIXED = [((2, 3, 8, 8), 2, None, 0),            # tiling fast path
         ((2, 3, 7, 7), 2, None, 0),            # tiling with a leftover row/col
         ((2, 2, 7, 9), 3, 1, 1),               # Inception's overlapping pool
         ((1, 2, 9, 8), (3, 2), (2, 1), (1, 0)),
         ((2, 1, 5, 6), 4, 3, 2),
         ((1, 1, 3, 3), 3, 1, 0),               # one window = the whole input
         ((2, 2, 6, 5), 1, 2, 0)]


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("shape,kernel,stride,padding", FIXED)
def test_pool_matches_naive_loops(mode, shape, kernel, stride, padding):
    a = np.random.default_rng(0).standard_normal(shape)
    fn = F.max_pool2d if mode == "max" else F.avg_pool2d
    y, dx, g = run(fn, a, kernel, stride, padding)
    y_ref, dx_ref = naive_pool(a, g, kernel, stride, padding, mode)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(cfg=pool_configs(), mode=st.sampled_from(["max", "avg"]), seed=st.integers(0, 99))
def test_pool_random_configs_match_naive(cfg, mode, seed):
    shape, kernel, stride, padding = cfg
    # ties are likely with rounded values: the tie rule is part of what is checked
    a = np.round(np.random.default_rng(seed).standard_normal(shape), 1)
    fn = F.max_pool2d if mode == "max" else F.avg_pool2d
    y, dx, g = run(fn, a, kernel, stride, padding)
    y_ref, dx_ref = naive_pool(a, g, kernel, stride, padding, mode)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)


def test_max_pool_output_shape_formula():
    x = mt.zeros(2, 3, 11, 10)
    # OH = floor((11 + 2 - 3) / 2) + 1 = 6,  OW = floor((10 + 0 - 2) / 3) + 1 = 3
    assert F.max_pool2d(x, (3, 2), (2, 3), (1, 0)).shape == (2, 3, 6, 3)
    assert F.avg_pool2d(x, 2).shape == (2, 3, 5, 5)


def test_overlapping_windows_accumulate_at_a_repeated_winner():
    # a single large value in the middle of a 5x5 input wins all nine 3x3 stride-1 windows
    # that contain it: its gradient must be the sum of those nine output gradients
    a = np.zeros((1, 1, 5, 5))
    a[0, 0, 2, 2] = 10.0
    x = mt.tensor(a, requires_grad=True)
    y = F.max_pool2d(x, 3, 1, 1)
    g = np.arange(25, dtype=np.float64).reshape(1, 1, 5, 5) + 1.0
    y.backward(g)
    assert x.grad[0, 0, 2, 2] == g[0, 0, 1:4, 1:4].sum()
    assert x.grad.sum() == g.sum()                  # every window sent its gradient somewhere


def test_ties_route_each_window_to_its_first_element():
    # all-equal input (as after a ReLU of negatives): each window gives its whole gradient to
    # the first element of the window in row-major order, like torch -- not split among ties
    x = mt.tensor(np.zeros((1, 1, 4, 4)), requires_grad=True)
    F.max_pool2d(x, 2).backward(np.ones((1, 1, 2, 2)))
    expected = np.zeros((4, 4))
    expected[::2, ::2] = 1.0                        # the top-left of every 2x2 window
    np.testing.assert_array_equal(x.grad[0, 0], expected)

    x = mt.tensor(np.ones((1, 1, 3, 3)), requires_grad=True)
    F.max_pool2d(x, 3, 1, 1).backward(np.ones((1, 1, 3, 3)))
    # window (oh, ow) starts at padded (oh, ow); its first real element is (max(oh-1,0), ...)
    expected = np.zeros((3, 3))
    for oh in range(3):
        for ow in range(3):
            expected[max(oh - 1, 0), max(ow - 1, 0)] += 1
    np.testing.assert_array_equal(x.grad[0, 0], expected)


def test_nan_wins_its_windows_and_takes_their_gradient():
    # torch propagates a NaN and sends the window's gradient to it (the last NaN in row-major
    # order when there are several); so do we -- hand-built cases, no torch needed
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 1, 1] = x[0, 0, 2, 3] = x[0, 0, 3, 2] = np.nan
    X = mt.tensor(x, requires_grad=True)
    y = F.max_pool2d(X, 2)
    np.testing.assert_array_equal(np.isnan(y.data[0, 0]), [[True, False], [False, True]])
    y.backward(np.ones((1, 1, 2, 2)))
    expected = np.zeros((4, 4))
    expected[1, 1] = expected[1, 3] = 1                   # the NaN; the plain max 7
    expected[3, 1] = 1                                    # the max 13
    expected[3, 2] = 1                                    # two NaNs: the last one in row order
    np.testing.assert_array_equal(X.grad[0, 0], expected)

    X = mt.tensor(x, requires_grad=True)                  # overlapping windows, padding
    F.max_pool2d(X, 3, 1, 1).backward(np.ones((1, 1, 4, 4)))
    expected = np.zeros((4, 4))                           # (torch 2.13 gives the same)
    expected[1, 1] = 6                                    # the 6 windows whose only NaN it is
    expected[2, 3], expected[3, 2] = 2, 6                 # the last NaN of the others
    expected[1, 3], expected[3, 1] = 1, 1                 # two windows without a NaN
    np.testing.assert_array_equal(X.grad[0, 0], expected)


def test_empty_batch_max_pool():
    x = mt.zeros(0, 2, 5, 5, requires_grad=True)
    y = F.max_pool2d(x, 3, 1, 1)
    assert y.shape == (0, 2, 5, 5)
    y.sum().backward()
    assert x.grad.shape == (0, 2, 5, 5)


def test_padding_never_wins_max_pool():
    a = -np.ones((1, 1, 2, 2)) * 5.0                # all negative: zeros would win if padded 0
    y = F.max_pool2d(mt.tensor(a), 2, 1, 1)
    np.testing.assert_array_equal(y.data, -5.0 * np.ones((1, 1, 3, 3)))


def test_float32_stays_float32_and_noncontiguous_input():
    a = np.random.default_rng(1).standard_normal((2, 6, 6, 3)).astype(np.float32)
    view = a.transpose(0, 3, 1, 2)                  # (2, 3, 6, 6), not contiguous
    for fn, args in ((F.max_pool2d, (3, 1, 1)), (F.max_pool2d, (2,)), (F.avg_pool2d, (3, 2, 1)),
                     (F.adaptive_avg_pool2d, ((4, 5),))):
        x = mt.tensor(view, requires_grad=True)
        y = fn(x, *args)
        y.sum().backward()
        assert y.dtype == np.float32 and x.grad.dtype == np.float32
        ref = fn(mt.tensor(np.ascontiguousarray(view).astype(np.float64)), *args)
        np.testing.assert_allclose(y.data, ref.data, rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------- gradcheck
GC = [((2, 2, 5, 5), 2, None, 0), ((1, 2, 5, 6), 3, 1, 1), ((2, 1, 7, 5), (3, 2), (2, 1), (1, 1)),
      ((1, 2, 6, 6), 2, 2, 0), ((1, 1, 5, 4), 4, 3, 2)]


@pytest.mark.parametrize("shape,kernel,stride,padding", GC)
def test_gradcheck_avg_pool(shape, kernel, stride, padding):
    x = mt.tensor(np.random.default_rng(2).standard_normal(shape), requires_grad=True)
    assert mt.gradcheck(lambda t: F.avg_pool2d(t, kernel, stride, padding), [x])


@pytest.mark.parametrize("shape,kernel,stride,padding", GC)
def test_gradcheck_max_pool_distinct_values(shape, kernel, stride, padding):
    # distinct values 0.1 apart: an eps=1e-6 nudge never changes the arg-max, so the max is
    # differentiable there
    n = int(np.prod(shape))
    a = np.random.default_rng(3).permutation(n).reshape(shape) * 0.1
    x = mt.tensor(a.astype(np.float64), requires_grad=True)
    assert mt.gradcheck(lambda t: F.max_pool2d(t, kernel, stride, padding), [x])


@pytest.mark.parametrize("shape,out", [((2, 2, 7, 9), (3, 4)), ((1, 2, 6, 6), 3),
                                       ((1, 1, 5, 5), (None, 2)), ((2, 3, 4, 4), 1),
                                       ((1, 1, 3, 5), (5, 7))])   # upsampling: bins overlap
def test_adaptive_avg_pool_naive_and_gradcheck(shape, out):
    a = np.random.default_rng(4).standard_normal(shape)
    y, dx, g = run(F.adaptive_avg_pool2d, a, out)
    oh, ow = (out, out) if isinstance(out, int) else out
    oh, ow = oh or shape[2], ow or shape[3]
    y_ref, dx_ref = naive_adaptive(a, g, oh, ow)
    assert y.shape == (shape[0], shape[1], oh, ow)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)
    x = mt.tensor(a, requires_grad=True)
    assert mt.gradcheck(lambda t: F.adaptive_avg_pool2d(t, out), [x])


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("fn", [F.max_pool2d, F.avg_pool2d])
@pytest.mark.parametrize("shape,args,match", [
    ((3, 4, 4), (2,), r"4-D.*\(3, 4, 4\)"),
    ((1, 1, 4, 4), (5,), r"larger than the padded input"),
    ((1, 1, 4, 4), (3, 1, 2), r"padding"),
    ((1, 1, 4, 4), (2, 0), r"stride must be positive"),
    ((1, 1, 4, 4), (0,), r"kernel_size must be positive"),
])
def test_pool_bad_input(fn, shape, args, match):
    with pytest.raises(ValueError, match=fn.__name__ + ".*" + match):
        fn(mt.zeros(*shape), *args)


def test_pool_bad_types():
    with pytest.raises(TypeError, match="max_pool2d: kernel_size"):
        F.max_pool2d(mt.zeros(1, 1, 4, 4), 2.0)
    with pytest.raises(ValueError, match="adaptive_avg_pool2d.*positive"):
        F.adaptive_avg_pool2d(mt.zeros(1, 1, 4, 4), 0)
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d.*4-D"):
        F.adaptive_avg_pool2d(mt.zeros(4, 4), 2)


# --------------------------------------------------------------------------- torch oracle
@pytest.mark.torch
@pytest.mark.parametrize("shape,kernel,stride,padding", FIXED + GC)
def test_against_torch(shape, kernel, stride, padding):
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    a = np.round(np.random.default_rng(5).standard_normal(shape), 1)     # with ties
    for ours, theirs in ((F.max_pool2d, TF.max_pool2d), (F.avg_pool2d, TF.avg_pool2d)):
        y, dx, g = run(ours, a, kernel, stride, padding)
        tx = torch.tensor(a, requires_grad=True)
        ty = theirs(tx, kernel, stride, padding)
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("shape,out", [((2, 2, 7, 9), (3, 4)), ((2, 3, 14, 14), 1),
                                       ((1, 2, 5, 5), (None, 3)), ((1, 1, 3, 5), (5, 7))])
def test_adaptive_against_torch(shape, out):
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(6).standard_normal(shape)
    y, dx, g = run(F.adaptive_avg_pool2d, a, out)
    tx = torch.tensor(a, requires_grad=True)
    ty = torch.nn.functional.adaptive_avg_pool2d(tx, out)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ the teaching offsets pool
@pytest.mark.parametrize("shape, kernel, stride", [((2, 3, 6, 6), 2, None), ((1, 2, 7, 6), 3, 1),
                                                    ((1, 1, 9, 8), (3, 2), (2, 3))])
def test_offsets_max_pool_matches_loops_and_the_kernel(shape, kernel, stride):
    a = np.random.default_rng(1).permutation(int(np.prod(shape))).reshape(shape) / 7.0
    g = np.random.default_rng(2).standard_normal(
        F.max_pool2d(mt.tensor(a), kernel, stride).shape)
    y_ref, dx_ref = naive_pool(a, g, kernel, stride, 0, "max")
    x = mt.tensor(a, requires_grad=True)
    y = max_pool2d_offsets(x, kernel, stride)
    y.backward(g)
    np.testing.assert_array_equal(y.data, y_ref)
    np.testing.assert_allclose(x.grad, dx_ref, rtol=1e-12, atol=1e-12)
