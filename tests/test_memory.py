"""minitorch_cnn.kernels.memory: glibc malloc keeps freed memory, so training steps stop page-faulting."""
import os
import platform
import subprocess
import sys
import textwrap

import pytest

import minitorch_cnn as mt
from minitorch_cnn.kernels import memory

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# Three training steps of Inception-lite at batch 128 after two warm-up steps: how many pages
# did the process fault in?  (Forward + backward only; no timing involved.)
STEPS = textwrap.dedent("""
    import resource, numpy as np
    import minitorch_cnn as mt
    from minitorch_cnn.models import InceptionLite
    mt.keep_freed_memory()                  # a no-op when the environment opts out
    from minitorch_cnn.nn import functional as F
    np.random.seed(0)
    model = InceptionLite(); model.train()
    x = mt.tensor(np.random.randn(128, 1, 28, 28).astype(np.float32))
    y = mt.tensor(np.arange(128) % 10)
    def step():
        model.zero_grad(); F.cross_entropy(model(x), y).backward()
    for _ in range(2): step()
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3): step()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
""")


def page_faults(keep):
    env = dict(os.environ, MINITORCH_CNN_KEEP_FREED_MEMORY="1" if keep else "0")
    out = subprocess.run([sys.executable, "-c", STEPS], env=env, capture_output=True,
                         text=True, check=True)
    return int(out.stdout.split()[-1])


# Every symbol that ctypes looks up raises the audit event "ctypes.dlsym": a hook sees whether
# (and how often) mallopt was reached, without any state kept by the module itself.
WATCH = textwrap.dedent("""
    import sys
    calls = []
    sys.addaudithook(lambda event, args: calls.append(event) if event == "ctypes.dlsym"
                     and "mallopt" in map(str, args) else None)
    import minitorch_cnn as mt
    print(len(calls))
    print(mt.keep_freed_memory(), mt.keep_freed_memory(), len(calls))
""")


def test_import_changes_nothing_the_call_applies_it():
    env = dict(os.environ, MINITORCH_CNN_KEEP_FREED_MEMORY="1")
    out = subprocess.run([sys.executable, "-c", WATCH], env=env, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0] == "0"                            # importing left malloc alone
    if GLIBC:                                       # applied on call, idempotent
        assert out[1] == "True True 2"
    else:
        assert out[1] == "False False 0"


@pytest.mark.skipif(not GLIBC, reason="the malloc tuning exists on glibc only")
def test_training_steps_stop_faulting_pages():
    kept, default = page_faults(True), page_faults(False)
    # measured: 1 vs ~16,000 faulted pages over three steps
    assert default > 5000, default
    assert kept < default / 20, (kept, default)


@pytest.mark.parametrize("value", ["0", "false", "No", " off "])
def test_opt_out_leaves_malloc_alone(value):
    env = dict(os.environ, MINITORCH_CNN_KEEP_FREED_MEMORY=value)
    out = subprocess.run([sys.executable, "-c", WATCH], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["0", "False", "False", "0"]      # mallopt never looked up
