"""Random compositions of ops compared with torch autograd in float64 (skipped without torch)."""
import numpy as np
import pytest

import minitorch_cnn as mt

torch = pytest.importorskip("torch")

# (name, arity, minitorch fn, torch fn); unary ops get a positive-safe input where needed
UNARY = [
    ("exp", lambda x: (x * 0.3).exp(), lambda x: (x * 0.3).exp()),
    ("log", lambda x: (x.abs() + 1).log(), lambda x: (x.abs() + 1).log()),
    ("sqrt", lambda x: (x * x + 1).sqrt(), lambda x: (x * x + 1).sqrt()),
    ("relu", mt.relu, torch.relu),
    ("leaky", lambda x: mt.leaky_relu(x, 0.1), lambda x: torch.nn.functional.leaky_relu(x, 0.1)),
    ("sigmoid", mt.sigmoid, torch.sigmoid),
    ("tanh", mt.tanh, torch.tanh),
    ("softmax", lambda x: x.softmax(-1), lambda x: x.softmax(-1)),
    ("log_softmax", lambda x: x.log_softmax(-1), lambda x: x.log_softmax(-1)),
    ("clip", lambda x: x.clip(-0.5, 0.5), lambda x: x.clamp(-0.5, 0.5)),
    ("square", lambda x: x ** 2, lambda x: x ** 2),
    ("transpose", lambda x: x.transpose(0, 1), lambda x: x.transpose(0, 1)),
    ("max", lambda x: x.amax(-1, keepdim=True), lambda x: x.amax(-1, keepdim=True)),
    ("mean", lambda x: x.mean(0, keepdim=True), lambda x: x.mean(0, keepdim=True)),
    # (var over a size-1 dim is nan in both; skip it there)
    ("var", lambda x: x.var(1, keepdim=True) if x.shape[1] > 1 else x,
     lambda x: x.var(1, keepdim=True) if x.shape[1] > 1 else x),
    ("slice", lambda x: x[1:, :], lambda x: x[1:, :]),
]
BINARY = [
    ("add", lambda a, b: a + b, lambda a, b: a + b),
    ("sub", lambda a, b: a - b, lambda a, b: a - b),
    ("mul", lambda a, b: a * b, lambda a, b: a * b),
    ("div", lambda a, b: a / (b * b + 1), lambda a, b: a / (b * b + 1)),
    ("maximum", mt.maximum, torch.maximum),
    ("matmul", lambda a, b: a @ b.T, lambda a, b: a @ b.T),
]


@pytest.mark.parametrize("seed", range(30))
def test_random_composition_matches_torch(seed):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(2, 5)), int(rng.integers(2, 5)))
    arrays = [rng.standard_normal(shape) for _ in range(2)]
    ours = [mt.tensor(a.copy(), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    x, y = ours
    tx, ty = theirs
    for _ in range(6):
        if rng.random() < 0.5:
            _, f, tf = UNARY[rng.integers(len(UNARY))]
            x, tx = f(x), tf(tx)
        else:
            _, f, tf = BINARY[rng.integers(len(BINARY))]
            if x.shape != y.shape:           # keep shapes compatible: refresh y
                y, ty = x * 0.5 + 1, tx * 0.5 + 1
            x, tx = f(x, y), tf(tx, ty)
    loss = (x * x).sum() + x.mean()
    tloss = (tx * tx).sum() + tx.mean()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-10)
    loss.backward()
    tloss.backward()
    for o, t in zip(ours, theirs):
        if t.grad is None:
            assert o.grad is None or not np.any(o.grad)
        else:
            np.testing.assert_allclose(o.grad, t.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_cross_entropy_matches_torch():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((7, 5)) * 3
    target = rng.integers(0, 5, 7)
    for red in ("mean", "sum", "none"):
        x = mt.tensor(logits, requires_grad=True)
        tx = torch.tensor(logits, requires_grad=True)
        out = mt.nn.functional.cross_entropy(x, target, reduction=red)
        tout = torch.nn.functional.cross_entropy(tx, torch.tensor(target), reduction=red)
        np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12)
        g = rng.standard_normal(out.shape)
        out.backward(g)
        tout.backward(torch.tensor(g))
        np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-10, atol=1e-14)
