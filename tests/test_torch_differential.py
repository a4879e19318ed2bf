"""Differential tests: hypothesis draws cases, minitorch_cnn and torch run them side by side.

Each case compares raise-or-succeed, the result's shape and dtype, its values and the gradients.
The default run is quick (a few dozen examples per test); the same tests with many more examples
are marked ``slow``:  ``pytest -m slow tests/test_torch_differential.py``.
"""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import minitorch_cnn as mt
import minitorch_cnn.nn.functional as F

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

RUNS = [pytest.param(30, id="quick"), pytest.param(600, id="long", marks=pytest.mark.slow)]

DTYPES = ["bool", "int32", "int64", "float16", "float32", "float64"]
TORCH_DTYPE = {np.dtype(n): getattr(torch, n) for n in DTYPES}


def _tol(dtype):
    return {"float16": 2e-2, "float32": 1e-5}.get(np.dtype(dtype).name, 1e-10)


def _run(fn):
    """(result, None) or (None, exception)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(), None
    except Exception as e:          # noqa: BLE001 -- which error is compared separately
        return None, e


def _same_outcome(ours, theirs, what):
    (o, oe), (t, te) = ours, theirs
    assert (oe is None) == (te is None), f"{what}: ours {oe!r}, torch {te!r}"
    return oe is None


def _close(ours, theirs, dtype, what):
    theirs = theirs.detach().double().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    ours = np.asarray(ours, dtype=np.float64)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs torch {theirs.shape}"
    tol = _tol(dtype)
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol, equal_nan=True, err_msg=what)


def _close_with_grad(ours, theirs, x, tx, seed, what):
    """Values, then the gradients of one random upstream gradient, in float64."""
    _close(ours.data, theirs, np.float64, what)
    g = np.random.default_rng(seed + 1).standard_normal(ours.shape)
    ours.backward(g)
    theirs.backward(torch.tensor(g))
    _close(x.grad, tx.grad, np.float64, what + " grad")


# ------------------------------------------------------------------------------ element-wise
def _operand(kind, dtype, shape, rng):
    """One operand in both frameworks: a tensor (dims or 0-d) or a Python number."""
    if kind == "number":
        value = {"bool": bool(rng.integers(2)), "int": int(rng.integers(-4, 5)),
                 "float": float(rng.integers(-8, 9)) / 2}[dtype]
        return value, value
    shape = shape if kind == "tensor" else ()
    if dtype == "bool":
        data = rng.integers(0, 2, shape).astype(bool)
    else:
        data = (rng.integers(-6, 7, shape) / (2 if dtype.startswith("float") else 1)).astype(dtype)
    grad = dtype.startswith("float")
    ours = mt.tensor(data, requires_grad=grad)
    theirs = torch.tensor(data, requires_grad=grad)
    return ours, theirs


BINARY = [
    ("add", lambda a, b: a + b, lambda a, b: a + b),
    ("sub", lambda a, b: a - b, lambda a, b: a - b),
    ("mul", lambda a, b: a * b, lambda a, b: a * b),
    ("div", lambda a, b: a / b, lambda a, b: a / b),
    ("maximum", mt.maximum, torch.maximum),
    ("minimum", mt.minimum, torch.minimum),
]
KINDS = [("tensor", d) for d in DTYPES] + [("zero_d", d) for d in DTYPES] + \
        [("number", k) for k in ("bool", "int", "float")]


@pytest.mark.parametrize("n", RUNS)
def test_elementwise_every_dtype_pair(n):
    @settings(max_examples=n, deadline=None)
    @given(op=st.sampled_from(BINARY), ka=st.sampled_from(KINDS), kb=st.sampled_from(KINDS),
           shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
           seed=st.integers(0, 2 ** 16))
    def check(op, ka, kb, shapes, seed):
        name, ours_fn, torch_fn = op
        if ka[0] == kb[0] == "number":
            return                                          # plain Python arithmetic
        if name in ("maximum", "minimum") and "number" in (ka[0], kb[0]):
            return                                          # torch.maximum wants two tensors
        rng = np.random.default_rng(seed)
        (a, ta), (b, tb) = (_operand(*ka, shapes.input_shapes[0], rng),
                            _operand(*kb, shapes.input_shapes[1], rng))
        ours, theirs = _run(lambda: ours_fn(a, b)), _run(lambda: torch_fn(ta, tb))
        what = f"{name}({ka}, {kb})"
        if not _same_outcome(ours, theirs, what):
            return
        out, tout = ours[0], theirs[0]
        assert str(out.dtype) == str(tout.dtype).replace("torch.", ""), what
        _close(out.data, tout, out.dtype, what)
        if out.requires_grad:
            g = rng.standard_normal(out.shape).astype(out.dtype)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")           # x / 0 in the backward, both sides
                out.backward(g)
                tout.backward(torch.tensor(g))
            for x, tx in ((a, ta), (b, tb)):
                if isinstance(x, mt.Tensor) and x.requires_grad:
                    assert x.grad.dtype == x.dtype, what
                    _close(x.grad, tx.grad, out.dtype, what + " grad")
    check()


# ------------------------------------------------------------------------------ reductions
def _dims(ndim):
    single = st.integers(-ndim - 1, ndim)                   # includes out-of-range dims
    tuples = st.lists(st.integers(-ndim, max(ndim - 1, 0)), max_size=ndim, unique=True)
    return st.one_of(st.none(), single, tuples.map(tuple))


REDUCTIONS = [
    ("sum", lambda x, d, k: x.sum(d, k) if d is not None else x.sum(),
     lambda x, d, k: x.sum(d, k) if d is not None else x.sum()),
    ("mean", lambda x, d, k: x.mean(d, k) if d is not None else x.mean(),
     lambda x, d, k: x.mean(d, k) if d is not None else x.mean()),
    ("var", lambda x, d, k: x.var(d, keepdim=k), lambda x, d, k: x.var(d, keepdim=k)),
    ("var_biased", lambda x, d, k: x.var(d, False, k), lambda x, d, k: x.var(d, False, k)),
    ("amax", lambda x, d, k: x.amax(d, k) if d is not None else x.amax(),
     lambda x, d, k: x.amax(d, k) if d is not None else x.amax()),
    ("amin", lambda x, d, k: x.amin(d, k) if d is not None else x.amin(),
     lambda x, d, k: x.amin(d, k) if d is not None else x.amin()),
]
ARG_REDUCTIONS = ["max", "min", "argmax", "argmin"]


@pytest.mark.parametrize("n", RUNS)
def test_reductions_every_dim_and_keepdim(n):
    @settings(max_examples=n, deadline=None)
    @given(shape=array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3), data=st.data(),
           keep=st.booleans(), seed=st.integers(0, 2 ** 16))
    def check(shape, data, keep, seed):
        dim = data.draw(_dims(len(shape)))
        x_np = np.random.default_rng(seed).standard_normal(shape)    # distinct: no ties
        for name, ours_fn, torch_fn in REDUCTIONS:
            if name.startswith("var") and dim == ():
                continue              # torch's var(dim=()) is inconsistent (grad inf); we: all
            x, tx = mt.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
            what = f"{name}(shape {shape}, dim={dim}, keepdim={keep})"
            ours, theirs = _run(lambda: ours_fn(x, dim, keep)), _run(lambda: torch_fn(tx, dim, keep))
            if not _same_outcome(ours, theirs, what):
                continue
            _close_with_grad(ours[0], theirs[0], x, tx, seed, what)
        if dim is not None and not isinstance(dim, int):
            return
        for name in ARG_REDUCTIONS:
            x, tx = mt.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
            what = f"{name}(shape {shape}, dim={dim}, keepdim={keep})"
            args = () if dim is None else (dim, keep)
            ours = _run(lambda: getattr(x, name)(*args))
            theirs = _run(lambda: getattr(tx, name)(*args))
            if not _same_outcome(ours, theirs, what):
                continue
            o, t = ours[0], theirs[0]
            if name in ("max", "min") and dim is not None:
                np.testing.assert_array_equal(o.indices.data, t.indices.numpy(), err_msg=what)
                assert o.indices.dtype == np.int64
                o, t = o.values, t.values
            if name.startswith("arg"):
                np.testing.assert_array_equal(o.data, t.numpy(), err_msg=what)
                continue
            _close(o.data, t, np.float64, what)
            g = np.random.default_rng(seed + 2).standard_normal(o.shape)
            o.backward(g)
            t.backward(torch.tensor(g))
            _close(x.grad, tx.grad, np.float64, what + " grad")
    check()


# ------------------------------------------------------------------------------ indexing
@st.composite
def indices(draw, shape):
    """A tuple mixing ints, slices, None, one Ellipsis and integer/boolean arrays."""
    n_arr = draw(st.integers(1, 3))                  # length shared by the integer arrays
    out, dim, used_ellipsis = [], 0, False
    while dim < len(shape):
        side = shape[dim]
        kind = draw(st.sampled_from(["int", "slice", "list", "list", "none", "ellipsis",
                                     "bool", "stop"]))
        if kind == "stop":
            if used_ellipsis:             # after an Ellipsis the entries index the last dims:
                continue                  # fill up to the end so that they do
            break
        if kind == "none":
            out.append(None)
            continue
        if kind == "ellipsis":
            if used_ellipsis:
                continue
            used_ellipsis = True
            out.append(Ellipsis)
            dim = len(shape) - draw(st.integers(0, len(shape) - dim))
            continue
        if kind == "int":
            out.append(draw(st.integers(-side, side - 1)))
        elif kind == "slice":
            lo = draw(st.one_of(st.none(), st.integers(-side, side)))
            hi = draw(st.one_of(st.none(), st.integers(-side, side)))
            out.append(slice(lo, hi, draw(st.integers(1, 3))))
        elif kind == "list":
            out.append(draw(st.lists(st.integers(-side, side - 1), min_size=n_arr,
                                     max_size=n_arr)))
        else:
            out.append(np.array(draw(st.lists(st.booleans(), min_size=side, max_size=side))))
        dim += 1
    return tuple(out)


def _torch_index(idx):
    return tuple(torch.tensor(i) if isinstance(i, (list, np.ndarray)) else i for i in idx)


@pytest.mark.parametrize("n", RUNS)
def test_indexing_mixed_basic_and_advanced(n):
    @settings(max_examples=n, deadline=None)
    @given(shape=array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4), data=st.data(),
           seed=st.integers(0, 2 ** 16))
    def check(shape, data, seed):
        idx = data.draw(indices(shape))
        x_np = np.random.default_rng(seed).standard_normal(shape)
        x, tx = mt.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
        what = f"shape {shape}[{idx}]"
        ours, theirs = _run(lambda: x[idx]), _run(lambda: tx[_torch_index(idx)])
        if not _same_outcome(ours, theirs, what):
            return
        _close_with_grad(ours[0], theirs[0], x, tx, seed, what)
    check()


# ------------------------------------------------------------------------------ shape ops
SHAPE_OPS = [
    ("unsqueeze", lambda x, d, e: x.unsqueeze(d), lambda x, d, e: x.unsqueeze(d)),
    ("squeeze", lambda x, d, e: x.squeeze(d), lambda x, d, e: x.squeeze(d)),
    ("transpose", lambda x, d, e: x.transpose(d, e), lambda x, d, e: x.transpose(d, e)),
    ("flatten", lambda x, d, e: x.flatten(d, e), lambda x, d, e: x.flatten(d, e)),
    ("cat", lambda x, d, e: mt.cat([x, x * 2], d), lambda x, d, e: torch.cat([x, x * 2], d)),
    ("stack", lambda x, d, e: mt.stack([x, x * 2], d),
     lambda x, d, e: torch.stack([x, x * 2], d)),
    ("softmax", lambda x, d, e: x.softmax(d), lambda x, d, e: x.softmax(d)),
    ("log_softmax", lambda x, d, e: x.log_softmax(d), lambda x, d, e: x.log_softmax(d)),
    ("argmax", lambda x, d, e: x.argmax(d), lambda x, d, e: x.argmax(d)),
    ("expand", lambda x, d, e: x.expand(*(d % 3 + 1,) * (x.ndim - 1), -1) if x.ndim else x,
     lambda x, d, e: x.expand(*(d % 3 + 1,) * (x.ndim - 1), -1) if x.ndim else x),
    ("expand_lead", lambda x, d, e: x.expand(-1, *x.shape), lambda x, d, e: x.expand(-1, *x.shape)),
]


@pytest.mark.parametrize("n", RUNS)
def test_shape_ops_at_rank_edges(n):
    @settings(max_examples=n, deadline=None)
    @given(shape=array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3), data=st.data(),
           seed=st.integers(0, 2 ** 16))
    def check(shape, data, seed):
        r = len(shape)
        d = data.draw(st.integers(-r - 2, r + 1))
        e = data.draw(st.integers(-r - 2, r + 1))
        x_np = np.random.default_rng(seed).standard_normal(shape)
        for name, ours_fn, torch_fn in SHAPE_OPS:
            if name == "cat" and shape == (0,):
                continue              # torch's legacy rule: cat skips 1-D empty tensors
            x, tx = mt.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
            what = f"{name}(shape {shape}, {d}, {e})"
            ours, theirs = _run(lambda: ours_fn(x, d, e)), _run(lambda: torch_fn(tx, d, e))
            if not _same_outcome(ours, theirs, what):
                continue
            o, t = ours[0], theirs[0]
            assert o.shape == tuple(t.shape), what
            if name == "argmax":
                np.testing.assert_array_equal(o.data, t.numpy(), err_msg=what)
                continue
            if o.requires_grad:
                _close_with_grad(o, t, x, tx, seed, what)
            else:
                _close(o.data, t, np.float64, what)
    check()


def test_out_of_range_dims_raise_index_error_like_torch():
    x = mt.ones(2, 3)
    for fn in (lambda t: t.unsqueeze(5), lambda t: mt.cat([t], 5), lambda t: mt.stack([t], -4),
               lambda t: t.flatten(5), lambda t: t.squeeze(2), lambda t: t.transpose(0, 2),
               lambda t: t.softmax(-3), lambda t: t.sum(2), lambda t: t.argmax(2),
               lambda t: t.permute(0, 2)):
        with pytest.raises(IndexError, match="out of range for a tensor with 2 dims"):
            fn(x)


# ------------------------------------------------------------------------------ losses
LOSSES = ["mse_loss", "cross_entropy", "nll_loss"]


@pytest.mark.parametrize("n", RUNS)
def test_losses(n):
    @settings(max_examples=n, deadline=None)
    @given(loss=st.sampled_from(LOSSES), reduction=st.sampled_from(["mean", "sum", "none"]),
           N=st.integers(1, 4), C=st.integers(1, 4), seed=st.integers(0, 2 ** 16))
    def check(loss, reduction, N, C, seed):
        rng = np.random.default_rng(seed)
        x_np = rng.standard_normal((N, C))
        if loss == "mse_loss":
            y_np = rng.standard_normal((N, C))
            y, ty = mt.tensor(y_np), torch.tensor(y_np)
        else:
            if loss == "nll_loss":
                x_np = x_np - np.log(np.exp(x_np).sum(1, keepdims=True))
            y_np = rng.integers(0, C, N)
            y, ty = mt.tensor(y_np), torch.tensor(y_np)
        x, tx = mt.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
        out = getattr(F, loss)(x, y, reduction=reduction)
        tout = getattr(torch.nn.functional, loss)(tx, ty, reduction=reduction)
        _close(out.data, tout, np.float64, loss)
        g = rng.standard_normal(out.shape)
        out.backward(g)
        tout.backward(torch.tensor(g))
        _close(x.grad, tx.grad, np.float64, loss + " grad")
    check()


def test_mse_loss_of_empty_input_is_nan_like_torch():
    x = mt.zeros(0, requires_grad=True)
    out = F.mse_loss(x, mt.zeros(0))
    assert np.isnan(out.item()) and np.isnan(torch.nn.functional.mse_loss(
        torch.zeros(0), torch.zeros(0)).item())
    out.backward()
    assert x.grad.shape == (0,)
