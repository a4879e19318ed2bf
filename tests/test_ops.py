"""Every op: forward against plain numpy, backward against finite differences (float64).

One table of op specs drives the forward check and the gradient check; special cases
(broadcasting, ties, repeated indices, masks, extreme inputs, bad input) follow.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minitorch_cnn as mt
from minitorch_cnn.nn import functional as F


def t64(rng, *shape, positive=False, requires_grad=True):
    a = rng.standard_normal(shape)
    if positive:
        a = np.abs(a) + 0.5
    return mt.tensor(a, requires_grad=requires_grad)


def _softmax(a, d):
    e = np.exp(a - a.max(d, keepdims=True))
    return e / e.sum(d, keepdims=True)


# name: (minitorch fn, numpy reference, input shapes, positive inputs?)
SPECS = {
    "add": (lambda a, b: a + b, np.add, [(3, 1), (1, 4)], False),
    "add_scalar_matrix": (lambda a, b: a + b, np.add, [(), (2, 3)], False),
    "sub": (lambda a, b: a - b, np.subtract, [(2, 3, 4), (3, 1)], False),
    "mul": (lambda a, b: a * b, np.multiply, [(4, 1, 3), (2, 3)], False),
    "div": (lambda a, b: a / b, np.divide, [(2, 3), (3,)], True),
    "neg": (lambda a: -a, np.negative, [(2, 3)], False),
    "pow": (lambda a: a ** 3, lambda a: a ** 3, [(2, 3)], False),
    "pow_frac": (lambda a: a ** 0.5, np.sqrt, [(5,)], True),
    "matmul_2d": (lambda a, b: a @ b, np.matmul, [(3, 4), (4, 5)], False),
    "matmul_batched": (lambda a, b: a @ b, np.matmul, [(2, 1, 3, 4), (5, 4, 2)], False),
    "matmul_vec_mat": (lambda a, b: a @ b, np.matmul, [(4,), (3, 4, 2)], False),
    "matmul_mat_vec": (lambda a, b: a @ b, np.matmul, [(2, 3, 4), (4,)], False),
    "matmul_dot": (lambda a, b: a @ b, np.matmul, [(4,), (4,)], False),
    "exp": (mt.exp, np.exp, [(2, 3)], False),
    "log": (mt.log, np.log, [(2, 3)], True),
    "sqrt": (mt.sqrt, np.sqrt, [(2, 3)], True),
    "abs": (mt.abs, np.abs, [(2, 3)], False),
    "clip": (lambda a: mt.clip(a, -0.5, 0.7), lambda a: np.clip(a, -0.5, 0.7), [(4, 5)], False),
    "clip_min_only": (lambda a: a.clip(min=0.1), lambda a: np.clip(a, 0.1, None), [(6,)], False),
    "maximum": (mt.maximum, np.maximum, [(3, 4), (4,)], False),
    "minimum": (mt.minimum, np.minimum, [(3, 1), (1, 4)], False),
    "relu": (mt.relu, lambda a: np.maximum(a, 0), [(3, 4)], False),
    "leaky_relu": (lambda a: mt.leaky_relu(a, 0.2), lambda a: np.where(a > 0, a, 0.2 * a),
                   [(3, 4)], False),
    "sigmoid": (mt.sigmoid, lambda a: 1 / (1 + np.exp(-a)), [(3, 4)], False),
    "tanh": (mt.tanh, np.tanh, [(3, 4)], False),
    "softmax": (lambda a: mt.softmax(a, 1), lambda a: _softmax(a, 1), [(3, 5)], False),
    "softmax_dim0": (lambda a: a.softmax(0), lambda a: _softmax(a, 0), [(3, 5, 2)], False),
    "log_softmax": (lambda a: a.log_softmax(-1), lambda a: np.log(_softmax(a, -1)), [(3, 5)],
                    False),
    "sum_all": (lambda a: a.sum(), np.sum, [(2, 3)], False),
    "mean_all": (lambda a: a.mean(), np.mean, [(2, 3)], False),
    "var_all": (lambda a: a.var(), lambda a: np.var(a, ddof=1), [(2, 3)], False),
    "reshape": (lambda a: a.reshape(3, -1), lambda a: a.reshape(3, -1), [(2, 3, 2)], False),
    "view": (lambda a: a.view((4, 3)), lambda a: a.reshape(4, 3), [(2, 6)], False),
    "permute": (lambda a: a.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1), [(2, 3, 4)],
                False),
    "transpose": (lambda a: a.transpose(0, 2), lambda a: a.swapaxes(0, 2), [(2, 3, 4)], False),
    "T": (lambda a: a.T, lambda a: a.T, [(2, 3)], False),
    "flatten": (lambda a: a.flatten(1), lambda a: a.reshape(2, -1), [(2, 3, 4)], False),
    "flatten_mid": (lambda a: a.flatten(1, 2), lambda a: a.reshape(2, 12, 5), [(2, 3, 4, 5)],
                    False),
    "squeeze": (lambda a: a.squeeze(1), lambda a: a.squeeze(1), [(2, 1, 3)], False),
    "squeeze_all": (lambda a: a.squeeze(), np.squeeze, [(1, 3, 1)], False),
    "unsqueeze": (lambda a: a.unsqueeze(-1), lambda a: a[..., None], [(2, 3)], False),
    "expand": (lambda a: a.expand(2, 3, 4), lambda a: np.broadcast_to(a, (2, 3, 4)),
               [(3, 1)], False),
    "expand_minus1": (lambda a: a.expand(5, -1), lambda a: np.broadcast_to(a, (5, 3)),
                      [(1, 3)], False),
    "cat": (lambda a, b: mt.cat([a, b], 1), lambda a, b: np.concatenate([a, b], 1),
            [(2, 3), (2, 4)], False),
    "stack": (lambda a, b: mt.stack([a, b], -1), lambda a, b: np.stack([a, b], -1),
              [(2, 3), (2, 3)], False),
    "pad": (lambda a: mt.pad(a, (1, 2, 0, 1)), lambda a: np.pad(a, [(0, 0), (0, 1), (1, 2)]),
            [(2, 3, 4)], False),
    "getitem_slice": (lambda a: a[1:, ::2], lambda a: a[1:, ::2], [(4, 5)], False),
    "getitem_int_none_ellipsis": (lambda a: a[..., 1, None], lambda a: a[..., 1, None],
                                  [(2, 3, 4)], False),
    "getitem_neg_step": (lambda a: a[::-1, 2], lambda a: a[::-1, 2], [(4, 5)], False),
}

# the reductions, every dim with and without keepdim
for _dim in (0, 1, -1, (0, 2), None):
    for _keep in (False, True):
        for _name, _ref in (("sum", np.sum), ("mean", np.mean),
                            ("var", lambda a, axis, keepdims: np.var(a, axis=axis, ddof=1,
                                                                     keepdims=keepdims)),
                            ("amax", np.max), ("amin", np.min)):
            SPECS[f"{_name}_dim{_dim}_keep{_keep}"] = (
                lambda a, n=_name, d=_dim, k=_keep: getattr(a, n)(d, keepdim=k),
                lambda a, r=_ref, d=_dim, k=_keep: r(a, axis=d, keepdims=k),
                [(2, 3, 4)], False)


def _inputs(spec, seed):
    rng = np.random.default_rng(seed)
    _, _, shapes, positive = spec
    return [t64(rng, *s, positive=positive) for s in shapes]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_forward_matches_numpy(name):
    fn, ref, _, _ = SPECS[name]
    xs = _inputs(SPECS[name], 0)
    out = fn(*xs)
    expected = ref(*[x.data for x in xs])
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_gradcheck(name):
    fn = SPECS[name][0]
    assert mt.gradcheck(fn, _inputs(SPECS[name], 1))


def test_float32_forward_stays_float32():
    x = mt.randn(3, 4, requires_grad=True)
    for fn in (lambda a: a * 2.0, lambda a: a / 3, lambda a: 1 - a, lambda a: a.exp(),
               lambda a: a.sigmoid(), lambda a: a.softmax(1), lambda a: a.mean(0),
               lambda a: a @ a.T, lambda a: a.var(1), lambda a: a ** 2):
        out = fn(x)
        assert out.dtype == np.float32
        out.sum().backward()
        assert x.grad.dtype == np.float32
        x.grad = None


def test_numbers_and_arrays_on_either_side():
    x = mt.tensor([1.0, 2.0, 4.0], requires_grad=True)
    a = np.array([2.0, 2.0, 2.0], np.float32)
    out = 2 * x + (1 - x) + a / x + x / a + a * x - a
    expected = 2 * x.data + (1 - x.data) + a / x.data + x.data / a + a * x.data - a
    np.testing.assert_allclose(out.data, expected, rtol=1e-6)
    assert isinstance(a * x, mt.Tensor) and isinstance(a @ x, mt.Tensor)
    out.sum().backward()
    np.testing.assert_allclose(x.grad, 2 - 1 - a / x.data ** 2 + 1 / a + a, rtol=1e-6)


def test_functions_and_methods_agree():
    x = mt.tensor(np.random.rand(3, 4) + 0.1)
    for name in ("exp", "log", "sqrt", "abs", "relu", "sigmoid", "tanh"):
        np.testing.assert_array_equal(getattr(mt, name)(x).data, getattr(x, name)().data)
    np.testing.assert_array_equal(mt.sum(x, 1).data, x.sum(1).data)
    np.testing.assert_array_equal(mt.softmax(x, 1).data, x.softmax(1).data)
    y = mt.tensor(np.random.rand(3, 4) + 0.1)
    for name, op in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                     ("div", np.divide)):
        np.testing.assert_array_equal(getattr(mt, name)(x, y).data, op(x.data, y.data))
        np.testing.assert_array_equal(getattr(x, name)(y).data, op(x.data, y.data))
    np.testing.assert_array_equal(mt.pow(x, 3).data, x.pow(3).data)
    np.testing.assert_array_equal(mt.neg(x).data, -x.data)
    np.testing.assert_array_equal(x.matmul(y.T).data, x.data @ y.data.T)


# ----------------------------------------------------------------------------- special gradients
def test_max_ties_split_gradient_evenly():
    # amax (and max without dim) split the gradient among ties, as torch does
    x = mt.tensor(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]), requires_grad=True)
    x.amax(1).sum().backward()
    np.testing.assert_allclose(x.grad, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    x.grad = None
    x.max().backward()                      # both 3s share the global max
    np.testing.assert_allclose(x.grad, [[0, 0.5, 0.5], [0, 0, 0]])


def test_max_with_dim_returns_values_and_indices_like_torch():
    # (this used to return the values only; torch returns the pair, gradient to the index)
    x = mt.tensor(np.array([[1.0, 3.0, 3.0], [2.0, 5.0, 2.0]]), requires_grad=True)
    out = x.max(1)
    values, indices = out
    assert out.values is values and out.indices is indices
    np.testing.assert_array_equal(values.data, [3, 5])
    np.testing.assert_array_equal(indices.data, [1, 1])
    assert indices.dtype == np.int64 and not indices.requires_grad
    values.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [0, 1, 0]])   # first of the tied 3s
    lo = mt.min(x, 0, keepdim=True)
    assert lo.values.shape == lo.indices.shape == (1, 3)
    np.testing.assert_array_equal(lo.indices.data, [[0, 0, 1]])
    assert mt.max(x).shape == () and x.max().item() == 5
    np.testing.assert_array_equal(mt.max(x, mt.tensor([[2.0], [2.0]])).data,
                                  [[2, 3, 3], [2, 5, 2]])          # torch.max(a, b)
    assert mt.gradcheck(lambda t: t.max(-1).values * 2 + t.min(0, True).values.sum(),
                        [mt.tensor(np.random.default_rng(0).standard_normal((3, 4)),
                                   requires_grad=True)])


def test_min_ties_and_gradcheck_with_distinct_values():
    x = mt.tensor(np.array([[1.0, 1.0, 3.0]]), requires_grad=True)
    x.min().backward()
    np.testing.assert_allclose(x.grad, [[0.5, 0.5, 0]])
    # away from ties min is differentiable: its gradient checked by central differences
    distinct = mt.tensor(np.random.default_rng(4).permutation(12).reshape(3, 4) * 0.5 + 0.1,
                         dtype=np.float64, requires_grad=True)
    assert mt.gradcheck(lambda t: t.min() * 3.0, [distinct])
    assert mt.gradcheck(lambda t: (t * t).min() + t.sum(), [distinct])


def test_maximum_ties_split_between_inputs():
    a = mt.tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = mt.tensor(np.array([1.0, 3.0]), requires_grad=True)
    mt.maximum(a, b).sum().backward()
    np.testing.assert_allclose(a.grad, [0.5, 0])
    np.testing.assert_allclose(b.grad, [0.5, 1])


def test_argmax_argmin_are_integer_tensors():
    x = mt.tensor(np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]]))
    assert mt.argmax(x, 1).data.tolist() == [1, 0] and x.argmax(1).dtype == np.int64
    assert x.argmin(0).data.tolist() == [0, 1, 0]
    assert x.argmax().item() == 3 and x.argmin().item() == 4
    assert x.argmax(1, keepdim=True).shape == (2, 1)
    assert not x.argmax(1).requires_grad


def test_gather_with_repeated_indices_accumulates():
    x = mt.tensor(np.arange(5.0), requires_grad=True)
    idx = mt.tensor([0, 2, 2, 2, 4])
    x[idx].sum().backward()
    np.testing.assert_allclose(x.grad, [1, 0, 3, 0, 1])
    y = mt.tensor(np.random.rand(4, 3), requires_grad=True)
    assert mt.gradcheck(lambda t: t[[1, 1, 3], [0, 2, 0]] * 2, [y])
    assert mt.gradcheck(lambda t: t[np.array([[0, 0], [3, 1]])], [y])


def test_boolean_mask_indexing():
    a = np.random.rand(3, 4)
    x = mt.tensor(a, requires_grad=True)
    mask = a > 0.5
    np.testing.assert_array_equal(x[mask].data, a[mask])
    x[mt.tensor(mask)].sum().backward()
    np.testing.assert_array_equal(x.grad, mask.astype(float))
    assert mt.gradcheck(lambda t: t[mask] ** 2, [mt.tensor(a, requires_grad=True)])


def test_where_routes_gradient():
    a = mt.tensor(np.random.rand(3, 4), requires_grad=True)
    b = mt.tensor(np.random.rand(4), requires_grad=True)
    cond = a.data > 0.5
    out = mt.where(cond, a, b)
    np.testing.assert_array_equal(out.data, np.where(cond, a.data, b.data))
    assert mt.gradcheck(lambda a, b: mt.where(mt.tensor(cond), a, b), [a, b])


def test_cat_and_stack_three_inputs_gradcheck():
    rng = np.random.default_rng(3)
    xs = [t64(rng, 2, k, 3) for k in (1, 2, 3)]
    assert mt.gradcheck(lambda *t: mt.cat(t, dim=1), xs)
    ys = [t64(rng, 2, 3) for _ in range(3)]
    assert mt.gradcheck(lambda *t: mt.stack(t, dim=1), ys)


def test_clip_gradient_at_bounds_passes_like_torch():
    x = mt.tensor(np.array([-1.0, 0.0, 0.5, 1.0, 2.0]), requires_grad=True)
    x.clip(0.0, 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0, 1, 1, 1, 0])


def test_abs_gradient_is_zero_at_zero():
    x = mt.tensor(np.array([-2.0, 0.0, 3.0]), requires_grad=True)
    x.abs().sum().backward()
    np.testing.assert_array_equal(x.grad, [-1, 0, 1])


# ----------------------------------------------------------------------------- extreme inputs
def test_sigmoid_softmax_log_softmax_stay_finite_and_exact_at_1e4():
    x = mt.tensor(np.array([[1e4, -1e4, 0.0]]), requires_grad=True)
    s = x.sigmoid()
    np.testing.assert_array_equal(s.data, [[1.0, 0.0, 0.5]])
    sm = x.softmax(1)
    np.testing.assert_array_equal(sm.data, [[1.0, 0.0, 0.0]])
    ls = x.log_softmax(1)
    np.testing.assert_allclose(ls.data, [[0.0, -2e4, -1e4]])
    for out in (s, sm, ls):
        assert np.isfinite(out.data).all()
        out.sum().backward()
        assert np.isfinite(x.grad).all()
        x.grad = None
    loss = F.cross_entropy(mt.tensor([[1e4, -1e4]]), mt.tensor([1]))
    assert np.isclose(loss.item(), 2e4)


# ----------------------------------------------------------------------------- cross-entropy
def test_cross_entropy_values_and_gradient_is_softmax_minus_one_hot():
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((4, 6))
    target = np.array([0, 5, 2, 2])
    x = mt.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(x, mt.tensor(target))
    p = _softmax(logits, 1)
    np.testing.assert_allclose(loss.item(), -np.log(p[np.arange(4), target]).mean())
    loss.backward()
    np.testing.assert_allclose(x.grad, (p - np.eye(6)[target]) / 4, atol=1e-12)
    for red in ("sum", "none"):
        out = F.cross_entropy(mt.tensor(logits), target, reduction=red)
        ref = -np.log(p[np.arange(4), target])
        np.testing.assert_allclose(out.data, ref.sum() if red == "sum" else ref)
        assert mt.gradcheck(lambda t: F.cross_entropy(t, target, reduction=red),
                            [mt.tensor(logits, requires_grad=True)])


def test_cross_entropy_bad_input():
    x = mt.randn(4, 3)
    with pytest.raises(ValueError, match="target"):
        F.cross_entropy(x, mt.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        F.cross_entropy(x, mt.tensor([0, 1, 2, 3]))
    with pytest.raises(TypeError, match="integer"):
        F.cross_entropy(x, mt.tensor([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, mt.tensor([0, 1, 2, 1]), reduction="avg")


def test_mse_and_nll_gradcheck():
    rng = np.random.default_rng(6)
    a, b = t64(rng, 3, 4), t64(rng, 3, 4)
    assert mt.gradcheck(F.mse_loss, [a, b])
    assert mt.gradcheck(lambda t: F.nll_loss(t.log_softmax(1), np.array([1, 0, 3])), [a])


# ----------------------------------------------------------------------------- bad input
def test_matmul_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3\).*\(4, 5\)"):
        mt.randn(2, 3) @ mt.randn(4, 5)
    with pytest.raises(ValueError, match=r"matmul.*batch.*\(2, 3, 4\).*\(5, 4, 1\)"):
        mt.randn(2, 3, 4) @ mt.randn(5, 4, 1)


def test_broadcast_mismatch_names_both_shapes():
    for op in (lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b,
               mt.maximum):
        with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\).*broadcast"):
            op(mt.randn(2, 3), mt.randn(4))


def test_shape_op_errors():
    x = mt.randn(2, 3)
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3\).*\(4, 2\)"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match="permutation"):
        x.permute(0, 0)
    with pytest.raises(ValueError, match="cat.*shapes"):
        mt.cat([x, mt.randn(3, 3)], dim=1)
    with pytest.raises(ValueError, match="expand"):
        x.expand(2, 4)
    with pytest.raises(IndexError, match=r"\(2, 3\)"):
        x[5]
    with pytest.raises(IndexError, match="dim 3"):
        x.sum(3)
    with pytest.raises(ValueError, match=r"pow: shapes \(2, 3\) and \(4,\)"):
        x ** mt.randn(4)                     # a tensor exponent works (test_ops_extra.py)


# ----------------------------------------------------------------------------- properties
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


@settings(max_examples=25, deadline=None)
@given(shape=shapes, data=st.data())
def test_broadcast_binary_ops_random_shapes(shape, data):
    # a second shape that broadcasts with the first: drop leading dims, set some to 1
    k = data.draw(st.integers(0, len(shape)))
    other = tuple(1 if data.draw(st.booleans()) else n for n in shape[k:])
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    a, b = t64(rng, *shape), t64(rng, *other, positive=True)
    if data.draw(st.booleans()):                # non-contiguous layouts too
        a = mt.tensor(np.asfortranarray(a.data), requires_grad=True)
    for fn in (lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a / b,
               lambda a, b: mt.maximum(a, b) - b):
        assert mt.gradcheck(fn, [a, b])


@settings(max_examples=25, deadline=None)
@given(shape=shapes, data=st.data())
def test_reductions_random_shapes(shape, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 1000)))
    x = t64(rng, *shape)
    dim = data.draw(st.sampled_from([None] + list(range(-len(shape), len(shape)))))
    keep = data.draw(st.booleans())
    np.testing.assert_allclose(x.sum(dim, keep).data, x.data.sum(axis=dim, keepdims=keep))
    assert mt.gradcheck(lambda t: t.mean(dim, keep) * t.amax(dim, keep), [x])
    assert mt.gradcheck(lambda t: t.softmax(dim if dim is not None else 0), [x])


# ----------------------------------------------------------------------------- torch semantics
X4 = np.arange(3 * 4 * 5 * 6, dtype=np.float64).reshape(3, 4, 5, 6)


@pytest.mark.parametrize("index", [
    (0, slice(None), [0, 2]),                 # numpy: (2, 4, 6); torch: (4, 2, 6)
    (slice(None), [0, 1], slice(None), 0),    # numpy: (2, 3, 5); torch: (3, 2, 5)
    ([0, 1], slice(None), [0, 1]),            # separated arrays: their dim goes first
    (slice(None), 0, slice(None), [1, 1]),    # a repeated index gets both gradients
    (None, 0, slice(None), [1, 2]),
    (Ellipsis, [0, 1], 0),
])
def test_indexing_follows_torch_order(index):
    torch = pytest.importorskip("torch")
    x = mt.tensor(X4, requires_grad=True)
    tx = torch.tensor(X4, requires_grad=True)
    tidx = tuple(torch.tensor(i) if isinstance(i, list) else i for i in index)
    out, tout = x[index], tx[tidx]
    assert out.shape == tuple(tout.shape)
    np.testing.assert_array_equal(out.data, tout.detach().numpy())
    g = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(g)
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad, tx.grad.numpy())
    assert mt.gradcheck(lambda t: t[index] * 2, [mt.tensor(X4 / 100, requires_grad=True)])


def test_var_takes_unbiased_before_keepdim():
    x = mt.tensor([[1.0, 2.0, 4.0]])
    np.testing.assert_allclose(x.var(1, False).data, [14 / 9], rtol=1e-6)    # biased
    assert x.var(1, True, True).shape == (1, 1)
    assert np.isnan(mt.zeros(0).var().item()) and np.isnan(mt.ones(1).var().item())


def test_gradients_at_the_edges_match_torch():
    nan = np.nan
    x = mt.tensor(np.array([0.0, 2.0]), requires_grad=True)
    (x ** 0).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]                     # not NaN at 0
    a = mt.tensor(np.array([1e-200]), requires_grad=True)
    b = mt.tensor(np.array([1e-200]), requires_grad=True)
    (a / b).sum().backward()
    np.testing.assert_allclose(b.grad, [-1e200])             # b*b would underflow to 0
    a = mt.tensor(np.array([nan, 1.0, 2.0, 3.0]), requires_grad=True)
    b = mt.tensor(np.array([1.0, nan, 2.0, 1.0]), requires_grad=True)
    mt.maximum(a, b).sum().backward()
    assert a.grad.tolist() == [1, 1, 0.5, 1] and b.grad.tolist() == [1, 1, 0.5, 0]
    x = mt.tensor(np.array([nan, 0.0, -1.0, 2.0]), requires_grad=True)
    x.abs().sum().backward()
    assert x.grad.tolist() == [0, 0, -1, 1]
    x.grad = None
    x.relu().sum().backward()
    assert x.grad.tolist() == [1, 0, 0, 1]                   # torch passes g at NaN


def test_clamp_with_tensor_bounds_sends_gradient_to_the_bounds():
    v = lambda *a: mt.tensor(np.array(a), requires_grad=True)   # noqa: E731
    x, lo, hi = v(0.0, 1.0, 2.0, 3.0, 5.0, 1.0), v(1.0, 1, 1, 1, 4, 2), v(2.0, 2, 2, 2, 3, 2)
    out = x.clamp(lo, hi)
    assert out.data.tolist() == [1, 1, 2, 2, 3, 2]
    out.sum().backward()
    assert x.grad.tolist() == [0, 1, 1, 0, 0, 0]
    assert lo.grad.tolist() == [1, 0, 0, 0, 0, 0]            # x < lo (and lo < hi)
    assert hi.grad.tolist() == [0, 0, 0, 1, 1, 0]            # x > hi, or hi < lo
    rng = np.random.default_rng(3)
    t = lambda *s: mt.tensor(rng.standard_normal(s), requires_grad=True)   # noqa: E731
    assert mt.gradcheck(lambda a, b, c: mt.clamp(a, b - 1, c + 1), [t(3, 4), t(4), t(3, 1)])
    assert mt.gradcheck(lambda a, b: mt.clamp(a, min=b), [t(3, 4), t(4)])


def test_empty_reductions_and_softmax():
    e = mt.zeros(0, 3, requires_grad=True)
    assert e.amax(1).shape == (0,) and e.max(1).indices.shape == (0,)
    with pytest.raises(IndexError, match="empty dim"):
        e.amax(0)
    assert np.isnan(e.mean().item())
    e.mean().backward()
    assert e.grad.shape == (0, 3)
    assert mt.zeros(2, 0).softmax(1).shape == (2, 0)
    assert mt.zeros(2, 0).log_softmax(1).shape == (2, 0)
