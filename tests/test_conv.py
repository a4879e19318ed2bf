"""conv2d: both paths against a naive loop reference, gradcheck, torch, and bad input.

The reference, ``conv2d_loops`` in minitorch_cnn/nn/functional/reference.py, is deliberately
the slowest, most literal reading of the definition -- loops over n, out-channel, output row and
column, one explicit window dot product each -- so it shares no code and no trick (padding,
im2col, matmul) with the implementation it checks.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minitorch_cnn as mt
from minitorch_cnn.nn import functional as F
from minitorch_cnn.nn.functional.conv import Conv2d1x1Fn, Conv2dIm2colFn, conv2d_general
from minitorch_cnn.nn.functional.reference import conv2d_im2col
from minitorch_cnn.nn.functional.reference import conv2d_loops as naive_conv2d


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def make(rng, N, C, H, W, O, k, groups, bias, dtype=np.float64):
    KH, KW = pair(k)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((O, C // groups, KH, KW)).astype(dtype)
    b = rng.standard_normal(O).astype(dtype) if bias else None
    return x, w, b


def run(fn, x, w, b, **kw):
    """Forward + backward with a random upstream gradient; returns out and (gx, gw, gb)."""
    X, Wt = mt.tensor(x, requires_grad=True), mt.tensor(w, requires_grad=True)
    B = None if b is None else mt.tensor(b, requires_grad=True)
    y = fn(X, Wt, B, **kw)
    g = np.random.default_rng(7).standard_normal(y.shape)
    y.backward(g)
    return y.data, (X.grad, Wt.grad, None if B is None else B.grad), g


# (N, C, H, W, O, kernel, stride, padding, dilation, groups, bias)
CONFIGS = [
    (2, 3, 5, 6, 4, 1, 1, 0, 1, 1, True),           # 1x1
    (1, 2, 7, 5, 3, 1, 3, 0, 1, 1, False),          # 1x1 strided, odd sizes
    (2, 3, 6, 7, 4, 2, 1, 0, 1, 1, True),
    (2, 2, 7, 6, 3, 3, 2, 1, 1, 1, True),
    (1, 4, 9, 8, 4, 4, 3, 2, 1, 2, False),          # groups 2, stride 3
    (2, 3, 11, 9, 2, 5, 1, 2, 1, 1, True),          # 5x5
    (1, 4, 8, 9, 4, 3, 1, 1, 2, 4, True),           # depthwise, dilation 2
    (1, 6, 9, 7, 6, (1, 3), (1, 2), (0, 1), 1, 3, True),    # rectangular, pairs
    (2, 2, 7, 8, 4, (3, 2), 2, 0, (2, 1), 2, False),
    (1, 3, 6, 5, 2, 3, 1, "same", 1, 1, True),
    (1, 2, 6, 7, 3, (2, 4), 1, "same", (1, 2), 1, True),    # 'same', asymmetric pad
    (2, 4, 5, 6, 4, (2, 3), 1, "same", 2, 2, False),
    (1, 3, 7, 6, 2, 3, 2, "valid", 1, 1, True),
    (1, 2, 5, 5, 3, 1, 2, 1, 1, 1, True),           # 1x1 with padding -> general path
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=[str(i) for i in range(len(CONFIGS))])
def test_both_paths_match_naive_reference(cfg):
    N, C, H, W, O, k, stride, padding, dilation, groups, bias = cfg
    rng = np.random.default_rng(0)
    x, w, b = make(rng, N, C, H, W, O, k, groups, bias)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    want = naive_conv2d(x, w, b, **kw)
    for fn in (F.conv2d, conv2d_general):
        out, grads, g = run(fn, x, w, b, **kw)
        assert out.shape == want.shape
        np.testing.assert_allclose(out, want, rtol=1e-10, atol=1e-10)
    # the gradients of both paths agree with each other (gradcheck proves them right below)
    _, g_auto, _ = run(F.conv2d, x, w, b, **kw)
    for a, c in zip(g_auto, grads):
        if a is not None:
            np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("stride", [1, 2, 3, (1, 2), (3, 1)])
@pytest.mark.parametrize("bias", [True, False])
def test_1x1_path_matches_general_path(stride, bias):
    rng = np.random.default_rng(1)
    x, w, b = make(rng, 2, 5, 7, 8, 3, 1, 1, bias)
    out1, grads1, _ = run(F.conv2d, x, w, b, stride=stride, dilation=2)
    out2, grads2, _ = run(conv2d_general, x, w, b, stride=stride, dilation=2)
    np.testing.assert_allclose(out1, out2, rtol=1e-12, atol=1e-12)
    for a, c in zip(grads1, grads2):
        assert (a is None) == (c is None)
        if a is not None:
            np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-12)


def test_dispatch_picks_the_1x1_path_only_when_it_applies():
    rng = np.random.default_rng(2)
    for k, pad, groups, want in [(1, 0, 1, Conv2d1x1Fn), (1, 1, 1, Conv2dIm2colFn),
                                 (1, 0, 2, Conv2dIm2colFn), (3, 0, 1, Conv2dIm2colFn)]:
        x, w, b = make(rng, 1, 4, 5, 5, 2, k, groups, True)
        y = F.conv2d(mt.tensor(x, requires_grad=True), mt.tensor(w), b, padding=pad,
                     groups=groups)
        assert type(y.grad_fn) is want
    x, w, b = make(rng, 1, 4, 5, 5, 2, 1, 1, True)
    y = conv2d_general(mt.tensor(x, requires_grad=True), mt.tensor(w), b)
    assert type(y.grad_fn) is Conv2dIm2colFn


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_hypothesis_random_configs(data):
    d = data.draw
    groups = d(st.sampled_from([1, 2]))
    C = groups * d(st.integers(1, 2))
    O = groups * d(st.integers(1, 2))
    KH, KW = d(st.integers(1, 4)), d(st.integers(1, 4))
    dh, dw = d(st.integers(1, 2)), d(st.integers(1, 2))
    stride = (d(st.integers(1, 3)), d(st.integers(1, 3)))
    padding = d(st.sampled_from([0, 1, 2, (0, 2), "valid", "same"]))
    if padding == "same":
        stride = (1, 1)
    H = d(st.integers(dh * (KH - 1) + 1, dh * (KH - 1) + 4))   # the kernel always fits
    W = d(st.integers(dw * (KW - 1) + 1, dw * (KW - 1) + 4))
    bias = d(st.booleans())
    rng = np.random.default_rng(d(st.integers(0, 1000)))
    x, w, b = make(rng, d(st.integers(1, 2)), C, H, W, O, (KH, KW), groups, bias)
    kw = dict(stride=stride, padding=padding, dilation=(dh, dw), groups=groups)
    want = naive_conv2d(x, w, b, **kw)
    for fn in (F.conv2d, conv2d_general):
        np.testing.assert_allclose(run(fn, x, w, b, **kw)[0], want, rtol=1e-10, atol=1e-10)


def test_non_contiguous_input_and_float32_stays_float32():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 6, 9, 3)).transpose(0, 3, 2, 1)[:, :, ::2]   # (2, 3, 5, 6)
    w = rng.standard_normal((4, 3, 3, 3))
    np.testing.assert_allclose(F.conv2d(mt.tensor(x), mt.tensor(w), padding=1).data,
                               naive_conv2d(x, w, padding=1), rtol=1e-10, atol=1e-10)
    for k in (1, 3):
        X = mt.tensor(x.astype(np.float32), requires_grad=True)
        Wt = mt.tensor(rng.standard_normal((4, 3, k, k)).astype(np.float32), requires_grad=True)
        y = F.conv2d(X, Wt, mt.zeros(4, requires_grad=True), stride=2)
        assert y.dtype == np.float32
        y.sum().backward()
        assert X.grad.dtype == np.float32 and Wt.grad.dtype == np.float32


# ------------------------------------------------------------------ gradcheck (float64)
GRAD_SMALL = [   # full gradcheck (every element): tiny shapes
    dict(shape=(1, 2, 4, 5), O=2, k=3, stride=1, padding=1, dilation=1, groups=1, bias=True),
    dict(shape=(2, 4, 5, 4), O=4, k=2, stride=2, padding=0, dilation=1, groups=2, bias=False),
    dict(shape=(1, 3, 5, 5), O=3, k=2, stride=1, padding=1, dilation=2, groups=3, bias=True),
    dict(shape=(1, 2, 5, 6), O=3, k=(1, 3), stride=(2, 1), padding=(1, 0), dilation=1,
         groups=1, bias=True),
    dict(shape=(2, 3, 5, 7), O=2, k=1, stride=2, padding=0, dilation=1, groups=1, bias=True),
    dict(shape=(1, 3, 4, 4), O=2, k=1, stride=1, padding=0, dilation=1, groups=1, bias=False),
    dict(shape=(1, 2, 5, 4), O=2, k=(2, 3), stride=1, padding="same", dilation=1, groups=1,
         bias=True),
]
GRAD_FAST = [    # one random direction: bigger shapes
    dict(shape=(2, 4, 9, 8), O=6, k=3, stride=2, padding=1, dilation=2, groups=2, bias=True),
    dict(shape=(2, 6, 8, 9), O=6, k=3, stride=1, padding="same", dilation=1, groups=6,
         bias=True),
    dict(shape=(2, 3, 10, 9), O=4, k=5, stride=3, padding=2, dilation=1, groups=1, bias=False),
    dict(shape=(3, 5, 7, 8), O=4, k=1, stride=3, padding=0, dilation=1, groups=1, bias=True),
    dict(shape=(2, 4, 8, 7), O=4, k=(3, 2), stride=(1, 2), padding="valid", dilation=(1, 2),
         groups=4, bias=True),
]


@pytest.mark.parametrize("fast,cfg", [(False, c) for c in GRAD_SMALL] +
                         [(True, c) for c in GRAD_FAST])
@pytest.mark.parametrize("fn", [F.conv2d, conv2d_general], ids=["auto", "general"])
def test_gradcheck(fn, fast, cfg):
    rng = np.random.default_rng(4)
    N, C, H, W = cfg["shape"]
    x, w, b = make(rng, N, C, H, W, cfg["O"], cfg["k"], cfg["groups"], cfg["bias"])
    inputs = [mt.tensor(a, requires_grad=True) for a in (x, w) + ((b,) if cfg["bias"] else ())]
    kw = {k: cfg[k] for k in ("stride", "padding", "dilation", "groups")}
    assert mt.gradcheck(lambda *t: fn(*t, **kw), inputs, fast=fast)


def test_gradcheck_only_some_inputs_need_grad():
    rng = np.random.default_rng(5)
    x, w, b = make(rng, 1, 2, 5, 5, 3, 3, 1, True)
    for k in (1, 3):
        wk = rng.standard_normal((3, 2, k, k))
        X = mt.tensor(x)                              # an image: no gradient wanted
        assert mt.gradcheck(lambda Wt, B: F.conv2d(X, Wt, B, padding=1 if k == 3 else 0),
                            [mt.tensor(wk, requires_grad=True), mt.tensor(b, requires_grad=True)])
        assert mt.gradcheck(lambda Xt: F.conv2d(Xt, mt.tensor(wk)),
                            [mt.tensor(x, requires_grad=True)])


# The general path keeps im2col's col matrix for backward while later convs reuse the padded-input
# scratch buffer; col must never be a view of that buffer.  (It once was for a 1x1 kernel with
# padding when N = 1 or C per group = 1: the transposed window view was already contiguous, and
# the second conv's forward overwrote the first one's windows -> wrong dW.)
CHAINS = [   # (x shape, conv1 kwargs + weight shape, conv2 weight shape)
    ((1, 4, 6, 6), dict(groups=2), (2, 2, 1, 1), (3, 2, 3, 3)),
    ((4, 1, 5, 5), dict(padding=1), (1, 1, 1, 1), (2, 1, 3, 3)),
    ((1, 3, 5, 4), dict(padding=1), (2, 3, 1, 1), (2, 2, 3, 3)),
    ((2, 2, 6, 5), dict(padding=1), (3, 2, 3, 3), (2, 3, 1, 1)),
]


@pytest.mark.parametrize("xs,kw1,ws1,ws2", CHAINS, ids=[str(i) for i in range(len(CHAINS))])
def test_chained_convs_keep_their_own_windows_for_backward(xs, kw1, ws1, ws2):
    rng = np.random.default_rng(8)
    x, w1, w2 = (rng.standard_normal(s) for s in (xs, ws1, ws2))

    def net(X, W1, W2):
        return F.conv2d(F.conv2d(X, W1, **kw1), W2)     # conv2 reuses conv1's scratch

    inputs = [mt.tensor(a, requires_grad=True) for a in (x, w1, w2)]
    assert mt.gradcheck(net, inputs)


# pixels no window reads: with a stride or a dilation they exist, and what they hold must not
# matter (torch agrees).  "Wide" im2col columns once read them and gave NaN in dW.
UNREAD = [   # (x shape, weight shape, conv kwargs, pixels set to NaN / inf)
    ((2, 2, 5, 6), (3, 2, 3, 3), dict(stride=2), [(1, 0, 2, 5), (0, 1, 4, 5)]),  # column 5
    ((1, 1, 3, 5), (1, 1, 1, 2), dict(dilation=(1, 4)), [(0, 0, 1, 2)]),          # cols 0, 4 read
    ((1, 1, 4, 3), (1, 1, 2, 2), dict(dilation=(3, 1)), [(0, 0, 1, 0)]),          # rows 0, 3 read
    ((2, 3, 5, 5), (2, 3, 2, 2), dict(dilation=5, padding=1), [(1, 2, 2, 2), (0, 0, 1, 3)]),
]


@pytest.mark.parametrize("xs,ws,kw,pixels", UNREAD, ids=[str(i) for i in range(len(UNREAD))])
def test_nan_in_a_pixel_no_window_reads_stays_out_of_the_gradients(xs, ws, kw, pixels):
    rng = np.random.default_rng(9)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    clean, grads_clean, _ = run(F.conv2d, x, w, b, **kw)
    for k, p in enumerate(pixels):
        x[p] = np.nan if k % 2 == 0 else np.inf
    out, grads, _ = run(F.conv2d, x, w, b, **kw)
    np.testing.assert_array_equal(out, clean)
    np.testing.assert_array_equal(grads[1], grads_clean[1])       # dW untouched
    np.testing.assert_array_equal(grads[2], grads_clean[2])
    for p in pixels:
        assert grads[0][p] == 0                                    # the pixel does not matter


# ------------------------------------------------------------------ torch oracle
@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("seed", range(12))
def test_against_torch(seed):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(100 + seed)
    groups = int(rng.choice([1, 2, 3]))
    C, O = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 3))
    KH, KW = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    dil = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    padding = [0, 1, 2, (1, 2), "same", "valid"][seed % 6]
    stride = (1, 1) if padding == "same" else (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    H = dil[0] * (KH - 1) + 1 + int(rng.integers(0, 6))
    W = dil[1] * (KW - 1) + 1 + int(rng.integers(0, 6))
    x, w, b = make(rng, 2, C, H, W, O, (KH, KW), groups, seed % 2 == 0)
    kw = dict(stride=stride, padding=padding, dilation=dil, groups=groups)
    out, grads, g = run(F.conv2d, x, w, b, **kw)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    tb = None if b is None else torch.tensor(b, requires_grad=True)
    ty = torch.nn.functional.conv2d(tx, tw, tb, **kw)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(out, ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    for ours, theirs in zip(grads, (tx, tw, tb)):
        if theirs is not None:
            np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------------ bad input
BAD = [
    ((2, 3, 5, 5), (4, 2, 3, 3), {}, "channels"),                      # C != Cg * groups
    ((2, 4, 5, 5), (6, 2, 3, 3), dict(groups=3), "groups=3"),          # 3 does not divide C
    ((2, 4, 5, 5), (3, 2, 3, 3), dict(groups=2), "groups=2"),          # 2 does not divide O
    ((2, 3, 5, 5), (4, 3, 7, 3), {}, "larger than the padded input"),
    ((2, 3, 5, 5), (4, 3, 3, 3), dict(dilation=3), "larger than the padded input"),
    ((3, 5, 5), (4, 3, 3, 3), {}, "4-D"),
    ((2, 3, 5, 5), (4, 3, 3), {}, "4-D"),
    ((2, 3, 5, 5), (4, 3, 3, 3), dict(bias=np.zeros(3)), "bias"),
    ((2, 3, 5, 5), (4, 3, 3, 3), dict(stride=0), "stride"),
    ((2, 3, 5, 5), (4, 3, 3, 3), dict(dilation=(1, 0)), "dilation"),
    ((2, 3, 5, 5), (4, 3, 3, 3), dict(padding=-1), "padding"),
    ((2, 3, 5, 5), (4, 3, 3, 3), dict(padding="same", stride=2), "same"),
    ((2, 3, 5, 5), (4, 3, 3, 3), dict(padding="full"), "padding"),
    ((2, 3, 5, 5), (4, 3, 3, 3), dict(groups=0), "groups"),
]


@pytest.mark.parametrize("xs,ws,kw,words", BAD, ids=[b[3] for b in BAD])
@pytest.mark.parametrize("fn", [F.conv2d, conv2d_general], ids=["auto", "general"])
def test_bad_input_names_conv2d_and_both_shapes(fn, xs, ws, kw, words):
    kw = dict(kw)
    bias = kw.pop("bias", None)
    with pytest.raises(ValueError) as e:
        fn(mt.zeros(*xs), mt.zeros(*ws), bias, **kw)
    msg = str(e.value)
    assert msg.startswith("conv2d:") and words in msg
    assert str(xs) in msg and str(ws) in msg


def test_bad_types_raise_type_error():
    x, w = mt.zeros(1, 2, 4, 4), mt.zeros(3, 2, 3, 3)
    with pytest.raises(TypeError, match=r"conv2d: stride.*\(1, 2, 4, 4\).*\(3, 2, 3, 3\)"):
        F.conv2d(x, w, stride=1.5)
    with pytest.raises(TypeError, match="conv2d: input must be a float"):
        F.conv2d(mt.tensor(np.zeros((1, 2, 4, 4), dtype=np.int64)), w)


# ------------------------------------------------------------------ the teaching im2col
@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), ((1, 2), (0, 1))])
def test_reference_im2col_matches_loops_and_autograd_gives_its_backward(stride, padding):
    rng = np.random.default_rng(0)
    x, w, b = make(rng, 2, 3, 6, 5, 4, (3, 2), 1, True)
    got = conv2d_im2col(mt.tensor(x), mt.tensor(w), mt.tensor(b), stride, padding).data
    np.testing.assert_allclose(got, naive_conv2d(x, w, b, stride, padding), rtol=1e-12,
                               atol=1e-12)
    X, Wt, B = (mt.tensor(a, requires_grad=True) for a in (x, w, b))
    assert mt.gradcheck(lambda *t: conv2d_im2col(*t, stride=stride, padding=padding), [X, Wt, B])
    # and its autograd backward equals the hand-written one of the real Function
    g = rng.standard_normal(got.shape)
    grads = []
    for fn in (conv2d_im2col, F.conv2d):
        X, Wt, B = (mt.tensor(a, requires_grad=True) for a in (x, w, b))
        fn(X, Wt, B, stride=stride, padding=padding).backward(g)
        grads.append((X.grad, Wt.grad, B.grad))
    for a, c in zip(*grads):
        np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ the kernels' layouts
# In the 1x1 path, images with >= PER_IMAGE_MIN_PIXELS output pixels take one matrix product
# each, smaller ones are put side by side; stride-1 convs with K > O and finite weights take
# col2im_flat.  Every layout must give the same numbers (large k x k images checked as well).
from minitorch_cnn.kernels import conv as kconv                    # noqa: E402

LARGE = [   # (x shape, weight shape, conv kwargs): OH*OW >= PER_IMAGE_MIN_PIXELS
    ((2, 3, 20, 21), (4, 3, 3, 3), dict(padding=1)),
    ((1, 4, 22, 24), (4, 2, 3, 2), dict(padding=(1, 0), dilation=(1, 2), groups=2)),
    ((2, 3, 21, 20), (2, 3, 1, 1), {}),                             # the 1x1 path
    ((1, 2, 41, 42), (3, 2, 1, 1), dict(stride=2)),                 # 1x1 strided
    ((1, 2, 45, 44), (3, 2, 3, 3), dict(stride=2, padding=1)),
]


def test_the_large_shapes_are_large_and_the_small_ones_small():
    for xs, ws, kw in LARGE:
        y = F.conv2d(mt.zeros(*xs), mt.zeros(*ws), **kw)
        assert kconv.per_image(y.shape[2] * y.shape[3])
    assert not kconv.per_image(14 * 14)


@pytest.mark.parametrize("xs,ws,kw", LARGE, ids=[str(i) for i in range(len(LARGE))])
def test_large_images_match_the_reference_and_gradcheck(xs, ws, kw):
    rng = np.random.default_rng(11)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    out, _, _ = run(F.conv2d, x, w, b, **kw)
    np.testing.assert_allclose(out, naive_conv2d(x, w, b, **kw), rtol=1e-10, atol=1e-10)
    inputs = [mt.tensor(a, requires_grad=True) for a in (x, w, b)]
    assert mt.gradcheck(lambda *t: F.conv2d(*t, **kw), inputs, fast=True)


@pytest.mark.torch
@pytest.mark.parametrize("xs,ws,kw", LARGE, ids=[str(i) for i in range(len(LARGE))])
def test_large_images_against_torch(xs, ws, kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    out, grads, g = run(F.conv2d, x, w, b, **kw)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, **kw)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(out, ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    for ours, theirs in zip(grads, (tx, tw, tb)):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-10, atol=1e-10)


FLAT = [   # (x shape, weight shape, padding, dilation, groups): stride 1, K > O
    ((2, 3, 6, 7), (2, 3, 3, 3), ((1, 1), (1, 1)), (1, 1), 1),
    ((1, 4, 7, 6), (2, 2, 2, 3), ((0, 1), (1, 0)), (2, 1), 2),     # asymmetric pad, groups
    ((3, 2, 5, 5), (1, 2, 5, 5), ((2, 2), (2, 2)), (1, 1), 1),
    ((1, 1, 4, 9), (1, 1, 1, 3), ((0, 0), (0, 0)), (1, 3), 1),
    ((2, 2, 4, 5), (1, 2, 1, 3), ((1, 1), (2, 1)), (1, 1), 1),     # padding > kernel reach
    ((2, 3, 5, 4), (2, 3, 3, 3), ((0, 2), (2, 0)), (1, 1), 1),     # 'same'-like, one-sided
    ((2, 2, 6, 6), (1, 2, 2, 2), ((3, 3), (3, 3)), (3, 3), 1),     # dilation meets padding
]


@pytest.mark.parametrize("xs,ws,padding,dilation,groups", FLAT,
                         ids=[str(i) for i in range(len(FLAT))])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_col2im_flat_gives_what_col2im_gives(xs, ws, padding, dilation, groups, dtype):
    rng = np.random.default_rng(13)
    N, C, H, W = xs
    O, Cg, KH, KW = ws
    (pt, pb), (pl, pr) = padding
    OH = H + pt + pb - dilation[0] * (KH - 1)
    OW = W + pl + pr - dilation[1] * (KW - 1)
    wm = rng.standard_normal(ws).astype(dtype).reshape(groups, O // groups, Cg * KH * KW)
    g = rng.standard_normal((N, O, OH, OW)).astype(dtype)
    assert groups * wm.shape[2] > O                                  # the flat branch applies
    gm = kconv.batch_matrices(g, groups, one_each=False)
    flat = kconv.col2im_matmul(wm, g, gm, xs, padding, KH, KW, (1, 1), dilation)
    # the same sum by col2im: dcol = W^T @ g, then the strided adds
    dcol = np.matmul(wm.transpose(0, 2, 1), gm).reshape(C, KH, KW, N, OH, OW)
    dxp = kconv.col2im(dcol, (N, C, H + pt + pb, W + pl + pr), (1, 1), dilation)
    want = dxp[:, :, pt:pt + H, pl:pl + W]
    assert flat.dtype == dtype and flat.shape == xs and flat.flags.c_contiguous
    np.testing.assert_allclose(flat, want, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-5 if dtype == np.float32 else 1e-12)


def test_an_inf_weight_keeps_col2im_and_reaches_only_its_pixels():
    x = np.ones((1, 2, 4, 5))
    w = np.ones((1, 2, 3, 3))                                      # K = 18 > O = 1: flat applies
    w[0, 1, 0, 0] = np.inf
    X, Wt = mt.tensor(x, requires_grad=True), mt.tensor(w)
    with np.errstate(invalid="ignore"):                         # the forward's 0 * inf: NaN
        F.conv2d(X, Wt, padding=1).sum().backward()
    finite = np.isfinite(X.grad)
    assert finite[0, 0].all()                                      # channel 0 never meets inf
    assert not np.isnan(X.grad).any()                              # inf, never 0 * inf = NaN
    assert (~finite[0, 1]).sum() == 12                             # pixels tap (0, 0) reads


def test_channel_sums_is_the_sum_over_n_i_j():
    g = np.random.default_rng(14).standard_normal((3, 4, 5, 6)).astype(np.float32)
    np.testing.assert_allclose(kconv.channel_sums(g), g.sum(axis=(0, 2, 3)), rtol=1e-5)
    assert kconv.channel_sums(g).dtype == np.float32
    assert kconv.channel_sums(np.zeros((0, 4, 2, 2))).tolist() == [0, 0, 0, 0]
    ones = np.broadcast_to(np.float32(1), (3, 4, 5, 6))               # the gradient of a .sum()
    assert kconv.channel_sums(ones).tolist() == [90] * 4
