"""linear, dropout and batch_norm: numpy references, float64 gradchecks, running statistics by
hand, dropout statistics and reproducibility, torch oracle, bad input."""
import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn.nn import functional as F


def t64(rng, *shape, requires_grad=True):
    return mt.tensor(rng.standard_normal(shape), requires_grad=requires_grad)


# --------------------------------------------------------------------------- linear
@pytest.mark.parametrize("x_shape", [(4,), (3, 4), (2, 3, 4), (2, 1, 3, 4)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_forward_and_gradcheck(rng, x_shape, with_bias):
    x, w = t64(rng, *x_shape), t64(rng, 5, 4)
    b = t64(rng, 5) if with_bias else None
    y = F.linear(x, w, b)
    ref = np.einsum("...i,oi->...o", x.data, w.data) + (b.data if with_bias else 0)
    assert y.shape == x_shape[:-1] + (5,)
    np.testing.assert_allclose(y.data, ref, rtol=1e-12, atol=1e-12)
    inputs = [x, w] + ([b] if with_bias else [])
    assert mt.gradcheck(lambda *t: F.linear(t[0], t[1], t[2] if with_bias else None), inputs)


def test_linear_float32_and_only_weight_grad(rng):
    x = mt.tensor(rng.standard_normal((6, 3)).astype(np.float32))          # no grad wanted
    w = mt.tensor(rng.standard_normal((2, 3)).astype(np.float32), requires_grad=True)
    y = F.linear(x, w)
    y.sum().backward()
    assert y.dtype == np.float32 and w.grad.dtype == np.float32
    np.testing.assert_allclose(w.grad, np.ones((6, 2)).T @ x.data, rtol=1e-5)   # dW = g^T x
    assert x.grad is None


def test_linear_bad_input(rng):
    with pytest.raises(ValueError, match=r"linear.*\(2, 3\).*\(5, 4\)"):
        F.linear(t64(rng, 2, 3), t64(rng, 5, 4))
    with pytest.raises(ValueError, match=r"linear: weight must be 2-D"):
        F.linear(t64(rng, 2, 4), t64(rng, 4))
    with pytest.raises(ValueError, match=r"linear: bias must have shape \(5,\)"):
        F.linear(t64(rng, 2, 4), t64(rng, 5, 4), t64(rng, 4))


# --------------------------------------------------------------------------- dropout
def test_dropout_statistics_and_mask_gradient():
    x = mt.tensor(np.ones((200, 500)), requires_grad=True)
    y = F.dropout(x, p=0.3)
    kept = y.data != 0
    assert abs(kept.mean() - 0.7) < 0.01                     # 100k draws: sd of mean ~0.0015
    np.testing.assert_allclose(y.data[kept], 1 / 0.7)         # survivors scaled by 1/(1-p)
    assert abs(y.data.mean() - 1.0) < 0.02                    # expectation preserved
    g = np.random.default_rng(0).standard_normal(y.shape)
    y.backward(g)
    np.testing.assert_allclose(x.grad, g * kept / 0.7)        # dx = g * mask / (1-p)


def test_dropout_identity_cases_and_p1():
    x = mt.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    y = F.dropout(x, 1.0)
    np.testing.assert_array_equal(y.data, np.zeros((2, 3)))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros((2, 3)))


def test_dropout_reproducible_with_numpy_seed():
    x = mt.ones(50, 40)
    np.random.seed(123)
    a = F.dropout(x, 0.5).data
    np.random.seed(123)
    b = F.dropout(x, 0.5).data
    c = F.dropout(x, 0.5).data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)
    assert a.dtype == np.float32


def test_dropout_gradcheck():
    x = mt.tensor(np.random.default_rng(0).standard_normal((4, 5)), requires_grad=True)

    def fn(t):
        np.random.seed(7)                 # the same mask on every evaluation
        return F.dropout(t, 0.4)
    assert mt.gradcheck(fn, [x])


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_bad_p(p):
    with pytest.raises(ValueError, match=r"dropout: p must lie in \[0, 1\]"):
        F.dropout(mt.ones(3), p)


# --------------------------------------------------------------------------- batch_norm
def bn_reference(a, gamma, beta, eps=1e-5):
    """Training-mode batch norm by the textbook formula, over every axis except 1."""
    axes = (0,) + tuple(range(2, a.ndim))
    shape = [1] * a.ndim
    shape[1] = -1
    mean = a.mean(axis=axes, keepdims=True)
    var = a.var(axis=axes, keepdims=True)                     # biased
    return (a - mean) / np.sqrt(var + eps) * gamma.reshape(shape) + beta.reshape(shape)


BN_SHAPES = [(6, 3), (4, 3, 5), (3, 2, 4, 5)]


@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batch_norm_training_forward_and_gradcheck(rng, shape):
    C = shape[1]
    x = mt.tensor(rng.standard_normal(shape) * 3 + 2, requires_grad=True)
    w, b = t64(rng, C), t64(rng, C)
    y = F.batch_norm(x, None, None, w, b, training=True)
    np.testing.assert_allclose(y.data, bn_reference(x.data, w.data, b.data), rtol=1e-10,
                               atol=1e-10)
    # running statistics are side effects: give every evaluation fresh copies
    rm, rv = np.zeros(C), np.ones(C)
    assert mt.gradcheck(lambda x, w, b: F.batch_norm(x, rm.copy(), rv.copy(), w, b,
                                                      training=True), [x, w, b])
    # without weight and bias
    assert mt.gradcheck(lambda x: F.batch_norm(x, None, None, training=True), [x])


@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batch_norm_eval_forward_and_gradcheck(rng, shape):
    C = shape[1]
    x, w, b = t64(rng, *shape), t64(rng, C), t64(rng, C)
    rm, rv = rng.standard_normal(C), rng.random(C) + 0.5
    rm0, rv0 = rm.copy(), rv.copy()
    y = F.batch_norm(x, rm, rv, w, b)                        # training=False by default
    s = [1, C] + [1] * (len(shape) - 2)
    ref = (x.data - rm.reshape(s)) / np.sqrt(rv.reshape(s) + 1e-5) * w.data.reshape(s) \
        + b.data.reshape(s)
    np.testing.assert_allclose(y.data, ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(rm, rm0)                    # eval never touches the stats
    np.testing.assert_array_equal(rv, rv0)
    assert mt.gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b), [x, w, b])


def test_batch_norm_running_stats_by_hand(rng):
    a = rng.standard_normal((8, 3, 4, 4)) * 2 + 5
    rm = mt.tensor(np.full(3, 0.5))                           # Tensor buffers: .data updated
    rv = np.full(3, 2.0)                                      # ndarray buffer: updated itself
    F.batch_norm(mt.tensor(a), rm, rv, training=True, momentum=0.2)
    mean = a.mean(axis=(0, 2, 3))
    var_unbiased = a.var(axis=(0, 2, 3), ddof=1)              # 128 values per channel
    np.testing.assert_allclose(rm.data, 0.8 * 0.5 + 0.2 * mean, rtol=1e-12)
    np.testing.assert_allclose(rv, 0.8 * 2.0 + 0.2 * var_unbiased, rtol=1e-12)


def test_batch_norm_float32_stays_float32(rng):
    x = mt.tensor(rng.standard_normal((16, 4, 5, 5)).astype(np.float32), requires_grad=True)
    w = mt.ones(4, requires_grad=True)
    b = mt.zeros(4, requires_grad=True)
    rm, rv = np.zeros(4, np.float32), np.ones(4, np.float32)
    y = F.batch_norm(x, rm, rv, w, b, training=True)
    y.backward(np.random.default_rng(0).standard_normal(y.shape).astype(np.float32))
    assert y.dtype == x.grad.dtype == w.grad.dtype == rm.dtype == rv.dtype == np.float32
    ref = bn_reference(x.data.astype(np.float64), np.ones(4), np.zeros(4))
    np.testing.assert_allclose(y.data, ref, atol=1e-5)
    # normalised output: zero mean, unit (biased) variance per channel
    np.testing.assert_allclose(y.data.mean(axis=(0, 2, 3)), 0, atol=1e-5)


def test_batch_norm_bad_input(rng):
    x = t64(rng, 4, 3, 2, 2)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean has shape \(5,\).*C=3"):
        F.batch_norm(x, np.zeros(5), np.ones(3), training=True)
    with pytest.raises(ValueError, match=r"batch_norm: weight must have shape \(3,\)"):
        F.batch_norm(x, None, None, t64(rng, 4), training=True)
    with pytest.raises(ValueError, match=r"batch_norm: expected more than 1 value per channel"):
        F.batch_norm(t64(rng, 1, 3), None, None, training=True)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean and running_var"):
        F.batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match=r"batch_norm: expected input of shape \(N, C, ...\)"):
        F.batch_norm(t64(rng, 3), None, None, training=True)


# --------------------------------------------------------------------------- torch oracle
@pytest.mark.torch
@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_against_torch(rng, shape, training):
    torch = pytest.importorskip("torch")
    C = shape[1]
    a, w0, b0 = rng.standard_normal(shape) * 2 + 1, rng.standard_normal(C), rng.standard_normal(C)
    rm0, rv0 = rng.standard_normal(C), rng.random(C) + 0.5
    g = rng.standard_normal(shape)
    x, w, b = (mt.tensor(v, requires_grad=True) for v in (a, w0, b0))
    rm, rv = rm0.copy(), rv0.copy()
    y = F.batch_norm(x, rm, rv, w, b, training=training, momentum=0.3, eps=1e-3)
    y.backward(g)
    tx, tw, tb = (torch.tensor(v, requires_grad=True) for v in (a, w0, b0))
    trm, trv = torch.tensor(rm0), torch.tensor(rv0)
    ty = torch.nn.functional.batch_norm(tx, trm, trv, tw, tb, training=training, momentum=0.3,
                                        eps=1e-3)
    ty.backward(torch.tensor(g))
    for ours, theirs in ((y.data, ty), (x.grad, tx.grad), (w.grad, tw.grad), (b.grad, tb.grad),
                         (rm, trm), (rv, trv)):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.torch
@pytest.mark.parametrize("x_shape", [(4,), (3, 4), (2, 3, 4)])
def test_linear_against_torch(rng, x_shape):
    torch = pytest.importorskip("torch")
    a, w0, b0 = rng.standard_normal(x_shape), rng.standard_normal((5, 4)), rng.standard_normal(5)
    x, w, b = (mt.tensor(v, requires_grad=True) for v in (a, w0, b0))
    y = F.linear(x, w, b)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    tx, tw, tb = (torch.tensor(v, requires_grad=True) for v in (a, w0, b0))
    ty = torch.nn.functional.linear(tx, tw, tb)
    ty.backward(torch.tensor(g))
    for ours, theirs in ((y.data, ty), (x.grad, tx.grad), (w.grad, tw.grad), (b.grad, tb.grad)):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- torch semantics
def test_linear_refuses_mixed_dtypes_and_handles_empty_sizes():
    import warnings
    with pytest.raises(TypeError, match="linear: input dtype float32 differs from the weight"):
        F.linear(mt.ones(2, 3), mt.ones(4, 3, dtype=np.float64))
    with pytest.raises(TypeError, match="conv2d: input dtype float32 differs from the weight"):
        F.conv2d(mt.ones(1, 1, 3, 3), mt.ones(1, 1, 1, 1, dtype=np.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                  # torch warns on zero-element init too
        wide, narrow = mt.nn.Linear(0, 3), mt.nn.Linear(3, 0)
    x = mt.ones(2, 0, requires_grad=True)
    out = wide(x)
    assert out.shape == (2, 3) and np.all(out.data == 0)        # an empty sum, bias U(0, 0)
    out.sum().backward()
    assert x.grad.shape == (2, 0) and wide.weight.grad.shape == (3, 0)
    assert narrow(mt.ones(2, 3)).shape == (2, 0)


def test_a_cnn_head_handles_an_empty_batch():
    nn = mt.nn
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(2 * 3 * 3, 4))
    out = model(mt.zeros(0, 1, 8, 8))
    assert out.shape == (0, 4)
    bn = model[1]                                      # running statistics untouched (torch)
    assert bn.running_mean.tolist() == [0, 0] and bn.running_var.tolist() == [1, 1]


def test_batch_norm_training_refuses_eps_zero():
    with pytest.raises(ValueError, match="eps must be positive"):
        F.batch_norm(mt.randn(4, 3), None, None, training=True, eps=0)
    with pytest.raises(ValueError, match="more than 1 value"):
        F.batch_norm(mt.randn(1, 3), None, None, training=True)
    F.batch_norm(mt.randn(4, 3), np.zeros(3, np.float32), np.ones(3, np.float32), eps=0)
