"""The thread pool of the memory-bound kernels (kernels/work.py): settings, the environment
variable, results that do not depend on the thread count (bit for bit), and gradchecks of the
chunked paths (small chunks forced, so even small float64 tensors cross chunk boundaries)."""
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import minitorch_cnn as mt
from minitorch_cnn.kernels import work
from minitorch_cnn.nn import functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of ~256 bytes: every tensor below is cut into several."""
    monkeypatch.setattr(work, "CHUNK_BYTES", 256)
    monkeypatch.setattr(work, "MIN_CHUNK_BYTES", 1)
    monkeypatch.setattr(work, "POOL_MIN_BYTES", 1)
    monkeypatch.setattr(work, "LIGHT_POOL_MIN_BYTES", 1)


@pytest.fixture
def threads():
    """Set the thread count for a test, restoring the old one after."""
    old = mt.get_num_threads()
    yield mt.set_num_threads
    mt.set_num_threads(old)


# ------------------------------------------------------------------------------ settings
def test_set_and_get(threads):
    threads(1)
    assert mt.get_num_threads() == 1
    threads(2)
    assert mt.get_num_threads() == 2
    threads(np.int64(1))                                 # numpy integers are integers
    assert mt.get_num_threads() == 1 and type(mt.get_num_threads()) is int


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True, None, np.int64(0)])
def test_bad_counts_are_refused(threads, bad):
    with pytest.raises(ValueError, match=r"set_num_threads: expected a positive integer.*got"):
        mt.set_num_threads(bad)


def test_env_var_sets_the_default(monkeypatch):
    monkeypatch.setenv(work.ENV_VAR, "3")
    assert work.Workers().num_threads() == 3
    monkeypatch.setenv(work.ENV_VAR, "")
    assert work.Workers().num_threads() == work.default_num_threads()
    monkeypatch.delenv(work.ENV_VAR)
    assert work.Workers().num_threads() == work.default_num_threads()


@pytest.mark.parametrize("bad", ["abc", "0", "-2", "1.5"])
def test_bad_env_var_names_the_variable(monkeypatch, bad):
    monkeypatch.setenv(work.ENV_VAR, bad)
    with pytest.raises(ValueError, match=rf"environment variable {work.ENV_VAR}: expected a "
                                         rf"positive integer .*got '{bad}'"):
        work.Workers().num_threads()


def test_default_is_the_usable_cpus():
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert work.default_num_threads() == n


def test_import_starts_no_thread_and_reads_the_env_lazily():
    code = ("import threading, minitorch_cnn as mt\n"
            "from minitorch_cnn.kernels import work\n"
            "assert work.WORKERS._pool is None and work.WORKERS._n is None\n"
            "assert threading.active_count() == 1, threading.enumerate()\n"
            "print(mt.get_num_threads())\n")
    env = dict(os.environ, PYTHONPATH=ROOT, MINITORCH_CNN_NUM_THREADS="5")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "5"


def test_pieces_run_on_two_threads(threads):
    threads(2)
    names = set()

    def piece(p):
        names.add(threading.current_thread().name)
        time.sleep(0.01)                    # long enough for the second thread to take one
    work.WORKERS.run(piece, range(6))
    assert len(names) == 2


def test_an_error_in_a_piece_is_raised(threads):
    threads(2)

    def piece(p):
        if p == 3:
            raise KeyError("piece 3")
    with pytest.raises(KeyError, match="piece 3"):
        work.WORKERS.run(piece, range(6))


def test_nested_runs_do_not_deadlock(threads):
    threads(2)
    done = []
    work.WORKERS.run(lambda p: work.WORKERS.run(done.append, range(3)), range(4))
    assert sorted(done) == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]


def test_chunks_depend_on_the_shape_only(threads):
    threads(1)
    a = work.chunks(1000, 4096)
    threads(2)
    assert work.chunks(1000, 4096) == a
    assert a[0].start == 0 and a[-1].stop == 1000
    assert all(x.stop == y.start for x, y in zip(a, a[1:]))


# ------------------------------------------------------------------------------ bit for bit
def _bn(x, training):
    C = x.shape[1]
    w = mt.tensor(np.linspace(0.5, 1.5, C).astype(x.dtype), requires_grad=True)
    b = mt.tensor(np.linspace(-1, 1, C).astype(x.dtype), requires_grad=True)
    rm, rv = np.linspace(-0.1, 0.1, C).astype(x.dtype), np.linspace(0.9, 1.1, C).astype(x.dtype)
    y = F.batch_norm(x, rm, rv, w, b, training=training)
    return y, [w, b], [rm, rv]


CASES = {
    "max_pool2d(2)": lambda x: (F.max_pool2d(x, 2), [], []),
    "max_pool2d(2) odd": lambda x: (F.max_pool2d(x[:, :, :7, :5], 2), [], []),
    "max_pool2d(3,1,1)": lambda x: (F.max_pool2d(x, 3, 1, 1), [], []),
    "max_pool2d(3,2,1)": lambda x: (F.max_pool2d(x, 3, 2, 1), [], []),
    "avg_pool2d(3,1,1)": lambda x: (F.avg_pool2d(x, 3, 1, 1), [], []),
    "avg_pool2d(2)": lambda x: (F.avg_pool2d(x, 2), [], []),
    "batch_norm(train)": lambda x: _bn(x, True),
    "batch_norm(eval)": lambda x: _bn(x, False),
    "relu": lambda x: (F.relu(x), [], []),
    "relu(inplace)": lambda x: (F.relu(x * 1, inplace=True), [], []),
    "cat(dim=1)": lambda x: (mt.cat([x, x * 2, x[:, :1]], dim=1), [], []),
}


def _run(case, n_threads, dtype):
    mt.set_num_threads(n_threads)
    a = np.random.default_rng(0).standard_normal((6, 5, 8, 6)).astype(dtype)
    a[0, 0, :2, :2] = 1.5                                # ties
    x = mt.tensor(a, requires_grad=True)
    y, params, stats = CASES[case](x)
    g = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    y.backward(g)
    return [y.data, x.grad] + [p.grad for p in params] + stats


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", sorted(CASES))
def test_same_bits_at_one_and_two_threads(threads, small_chunks, case, dtype):
    one = _run(case, 1, dtype)
    two = _run(case, 2, dtype)
    assert work.WORKERS._pool is not None                 # the pool really ran
    for a, b in zip(one, two):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()


# ------------------------------------------------------------------------------ gradchecks
def _x64(shape, seed=0, transpose=False):
    a = np.random.default_rng(seed).standard_normal(shape)
    if transpose:                                       # a non-contiguous input
        a = np.ascontiguousarray(a.swapaxes(2, 3)).swapaxes(2, 3)
        a = a[:, :, :, ::-1]
    return mt.tensor(a, requires_grad=True)


@pytest.mark.parametrize("shape", [(2, 3, 6, 4), (3, 2, 5, 7), (1, 1, 2, 2)])
@pytest.mark.parametrize("transpose", [False, True])
def test_gradcheck_tiled_max_pool(small_chunks, threads, shape, transpose):
    threads(2)
    x = _x64(shape, transpose=transpose)
    assert mt.gradcheck(lambda t: F.max_pool2d(t, 2), [x])
    assert mt.gradcheck(lambda t: F.max_pool2d(t, (2, 2), stride=2, padding=0), [x])


@pytest.mark.parametrize("args", [(3, 1, 1), (3, 2, 1), (2, 1, 0), ((3, 2), (1, 2), (1, 0))])
def test_gradcheck_chunked_max_and_avg_pool(small_chunks, threads, args):
    threads(2)
    x = _x64((2, 3, 7, 6), seed=1, transpose=True)
    assert mt.gradcheck(lambda t: F.max_pool2d(t, *args), [x])
    assert mt.gradcheck(lambda t: F.avg_pool2d(t, *args), [x])


@pytest.mark.parametrize("shape", [(5, 3, 4, 3), (7, 4), (3, 2, 5)])
@pytest.mark.parametrize("training", [True, False])
def test_gradcheck_chunked_batch_norm(small_chunks, threads, shape, training):
    threads(2)
    x = _x64(shape, seed=2)
    C = shape[1]
    w = mt.tensor(np.linspace(0.5, 2, C), requires_grad=True)
    b = mt.tensor(np.linspace(-1, 1, C), requires_grad=True)
    rm, rv = np.zeros(C), np.ones(C)
    assert mt.gradcheck(lambda t, w, b: F.batch_norm(t, rm.copy(), rv.copy(), w, b,
                                                     training=training), [x, w, b])


def test_gradcheck_relu_and_inplace_relu(small_chunks, threads):
    threads(2)
    a = np.random.default_rng(3).standard_normal((3, 4, 5))
    a[np.abs(a) < 0.05] = 0.5                            # away from the kink
    x = mt.tensor(a, requires_grad=True)
    assert mt.gradcheck(F.relu, [x])
    assert mt.gradcheck(lambda t: F.relu(t * 1.0, inplace=True), [x])
    assert mt.gradcheck(lambda t: F.relu(t.transpose(0, 2) * 1.0, inplace=True), [x])
    assert mt.gradcheck(lambda t: mt.cat([F.relu(t), t * 3], dim=1), [x])


# ------------------------------------------------------------------------------ in-place ReLU
def test_inplace_relu_writes_into_its_input_and_bumps_the_version():
    x = mt.tensor(np.array([-1.0, 2.0, np.nan, -3.0, 0.0]), requires_grad=True)
    y = x * 2
    before = y._version.value
    z = F.relu(y, inplace=True)
    assert z is y and y._version.value == before + 1
    np.testing.assert_array_equal(y.data, [0, 4, np.nan, 0, 0])
    z.sum().backward()
    np.testing.assert_array_equal(x.grad, [0, 2, 2, 0, 0])      # NaN passes g, as torch


def test_inplace_relu_module_and_tensor_method():
    x = mt.tensor([[-1.0, 3.0]])
    out = mt.nn.ReLU(inplace=True)(x)
    assert out is x and x.tolist() == [[0.0, 3.0]]
    y = mt.tensor([-2.0, 1.0])
    assert y.relu_() is y and y.tolist() == [0.0, 1.0]
    assert repr(mt.nn.ReLU(inplace=True)) == "ReLU(inplace=True)"


def test_inplace_relu_raises_where_the_old_values_are_needed():
    a = mt.tensor([-1.0, 2.0], requires_grad=True)
    e = a.exp()                                          # Exp saves its output
    F.relu(e, inplace=True)
    with pytest.raises(RuntimeError, match=r"modified by an in-place operation \(relu_\)"):
        e.sum().backward()


def test_inplace_relu_on_a_leaf_that_requires_grad_is_refused():
    a = mt.tensor([-1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"relu_: a leaf tensor that requires grad"):
        F.relu(a, inplace=True)
    with pytest.raises(TypeError, match=r"relu: inplace=True needs a Tensor"):
        F.relu(np.ones(2), inplace=True)


def test_inplace_relu_under_no_grad_and_on_a_leaf_without_grad():
    a = mt.tensor([-1.0, 2.0], requires_grad=True)
    with mt.no_grad():
        b = a * 1
        F.relu(b, inplace=True)
    assert b.tolist() == [0.0, 2.0] and b._version.value == 1


def test_conv_bn_inplace_relu_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 3, 6, 6)).astype(np.float32)
    w = (rng.standard_normal((5, 3, 3, 3)) * 0.3).astype(np.float32)
    g = rng.standard_normal((4, 5, 6, 6)).astype(np.float32)

    def ours(inplace):
        X, W = mt.tensor(x, requires_grad=True), mt.tensor(w, requires_grad=True)
        h = F.batch_norm(F.conv2d(X, W, padding=1), np.zeros(5, np.float32),
                         np.ones(5, np.float32), training=True)
        y = F.relu(h, inplace=inplace)
        y.backward(g)
        return y.data, X.grad, W.grad

    X, W = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    h = torch.nn.functional.batch_norm(torch.nn.functional.conv2d(X, W, padding=1),
                                       torch.zeros(5), torch.ones(5), training=True)
    y = torch.relu_(h)
    y.backward(torch.tensor(g))
    for inplace in (False, True):
        for a, b in zip(ours(inplace), (y.detach(), X.grad, W.grad)):
            np.testing.assert_allclose(a, b.numpy(), rtol=1e-4, atol=1e-4)


def test_tiled_max_pool_ties_and_nan_match_torch(small_chunks):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    a = rng.integers(0, 3, (4, 3, 7, 9)).astype(np.float32)     # many ties
    a[1, 2, 2, 3] = np.nan
    a[2, 0, 0, 0] = -np.inf
    g = rng.standard_normal((4, 3, 3, 4)).astype(np.float32)
    x = mt.tensor(a, requires_grad=True)
    y = F.max_pool2d(x, 2)
    y.backward(g)
    t = torch.tensor(a, requires_grad=True)
    ty = torch.nn.functional.max_pool2d(t, 2)
    ty.backward(torch.tensor(g))
    np.testing.assert_array_equal(y.data, ty.detach().numpy())
    np.testing.assert_array_equal(x.grad, t.grad.numpy())


def test_chunked_batch_norm_matches_torch(small_chunks):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    a = (rng.standard_normal((16, 4, 5, 5)) * 3 + 10).astype(np.float32)   # mean >> std
    g = rng.standard_normal(a.shape).astype(np.float32)
    x = mt.tensor(a, requires_grad=True)
    w, b = mt.ones(4, requires_grad=True), mt.zeros(4, requires_grad=True)
    rm, rv = np.zeros(4, np.float32), np.ones(4, np.float32)
    F.batch_norm(x, rm, rv, w, b, training=True).backward(g)
    t = torch.tensor(a, requires_grad=True)
    tw, tb = torch.ones(4, requires_grad=True), torch.zeros(4, requires_grad=True)
    trm, trv = torch.zeros(4), torch.ones(4)
    torch.nn.functional.batch_norm(t, trm, trv, tw, tb, training=True).backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(w.grad, tw.grad.numpy(), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(b.grad, tb.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(rm, trm.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rv, trv.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_makes_its_own_pool(threads):
    threads(2)
    work.WORKERS.run(lambda p: None, range(4))          # the parent's pool exists
    code = ("import os, sys, minitorch_cnn as mt\n"
            "from minitorch_cnn.kernels import work\n"
            "mt.set_num_threads(2)\n"
            "work.WORKERS.run(lambda p: None, range(4))\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    out = []\n"
            "    work.WORKERS.run(out.append, range(4))\n"
            "    os._exit(0 if sorted(out) == [0, 1, 2, 3] else 1)\n"
            "_, status = os.waitpid(pid, 0)\n"
            "sys.exit(os.waitstatus_to_exitcode(status))\n")
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
