"""inf and NaN go where torch sends them, and nowhere else.

The fast formulations (multiplying by a 0/1 mask, by a matrix of bin weights; once also "wide"
im2col columns with gradient 0) all meet 0 * inf = NaN; each op keeps a fast path for finite
data and a select-based one for the rest.  Expected values are worked out by hand (torch 2.13
agrees).
"""
import warnings

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn.nn import functional as F

inf, nan = np.inf, np.nan


def grads(fn, x, g, *more):
    X = mt.tensor(x, requires_grad=True)
    others = [mt.tensor(m, requires_grad=True) for m in more]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)       # inf - inf inside numpy
        y = fn(X, *others)
        y.backward(g)
    return y.data, X.grad, [o.grad for o in others]


def test_relu_of_minus_inf_is_zero_and_an_inf_gradient_stops_at_the_mask():
    y, gx, _ = grads(F.relu, np.array([-inf, -1.0, 2.0, nan]), np.array([inf, inf, 1.0, 1.0]))
    np.testing.assert_array_equal(y, [0.0, 0.0, 2.0, nan])
    assert not np.signbit(y[:2]).any()                       # +0, not -0
    np.testing.assert_array_equal(gx, [0.0, 0.0, 1.0, 1.0])    # torch passes g at NaN


def test_max_pool_sends_an_inf_gradient_to_the_winners_only():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    _, gx, _ = grads(lambda t: F.max_pool2d(t, 2), x, np.full((1, 1, 2, 2), inf))
    expected = np.zeros((4, 4))
    expected[1::2, 1::2] = inf
    np.testing.assert_array_equal(gx[0, 0], expected)


def test_adaptive_pool_keeps_an_inf_in_its_own_bins():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 2, 2] = inf                                       # only in bin (1, 1) of 2x2
    y, gx, _ = grads(lambda t: F.adaptive_avg_pool2d(t, 2), x, np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(y[0, 0], [[0, 0], [0, inf]])
    g = np.zeros((1, 1, 2, 2))
    g[0, 0, 1, 1] = inf
    _, gx, _ = grads(lambda t: F.adaptive_avg_pool2d(t, 2), np.zeros((1, 1, 3, 3)), g)
    expected = np.zeros((3, 3))
    expected[1:, 1:] = inf                                    # bin (1, 1) = rows 1-2, cols 1-2
    np.testing.assert_array_equal(gx[0, 0], expected)


def test_conv_inf_in_x_reaches_only_the_taps_that_read_it():
    x = np.zeros((1, 1, 3, 4))
    x[0, 0, 1, 0] = inf                                       # read by tap (1, 0) of window (0, 0)
    _, _, (gw,) = grads(F.conv2d, x, np.ones((1, 1, 1, 2)), np.ones((1, 1, 3, 3)))
    expected = np.zeros((3, 3))
    expected[1, 0] = inf
    np.testing.assert_array_equal(gw[0, 0], expected)


def test_conv_inf_in_w_reaches_only_the_pixels_it_multiplies():
    w = np.ones((1, 1, 3, 3))
    w[0, 0, 0, 2] = inf                                       # tap (0, 2): pixels (0, 2), (0, 3)
    _, gx, _ = grads(lambda t, wt: F.conv2d(t, wt), np.ones((1, 1, 3, 4)), np.ones((1, 1, 1, 2)),
                     w)
    np.testing.assert_array_equal(gx[0, 0], [[1, 2, inf, inf], [1, 2, 2, 1], [1, 2, 2, 1]])


@pytest.mark.parametrize("k", [1, 3])
def test_empty_batch_conv_and_batch_norm(k):
    x = mt.zeros(0, 3, 5, 5, requires_grad=True)
    w = mt.zeros(4, 3, k, k, requires_grad=True)
    y = F.conv2d(x, w, padding=k // 2)
    assert y.shape == (0, 4, 5, 5)
    y.sum().backward()
    assert x.grad.shape == (0, 3, 5, 5) and w.grad.shape == (4, 3, k, k)
    z = F.batch_norm(mt.zeros(0, 3, 5, 5), np.zeros(3), np.ones(3), training=False)
    assert z.shape == (0, 3, 5, 5)
