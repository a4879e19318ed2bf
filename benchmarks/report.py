"""Run the speed benchmarks briefly and print the README's Markdown table, with the machine line.

    python benchmarks/report.py                 # a few minutes on 2 cores
    python benchmarks/report.py --batches 30    # more training batches, steadier medians
    python benchmarks/report.py --epoch         # also a whole epoch with test (~3 more minutes)

It runs ``bench_training.py``, ``bench_conv.py`` and ``bench_layers.py`` (and with ``--epoch``
``bench_epoch.py``) as subprocesses (each prints its own ratios: both sides timed in one
process), keeps the ratio lines, and prints them as one Markdown table followed by a line naming
the machine: CPU model, core count, numpy and BLAS versions, and the thread settings.  Paste both
into the README's performance section.  Convolutions also get their time over the GEMM limit
(the matrix multiplies of the same sizes alone: the bound of the im2col design).
"""
import argparse
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
THREAD_VARS = ("MINITORCH_CNN_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
               "MKL_NUM_THREADS")


def cpu_model():
    """The CPU's model name (Linux: /proc/cpuinfo), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def blas_info():
    """'name version (threads)' of the BLAS numpy uses: threadpoolctl when installed (it also
    knows the live thread count), else numpy's build configuration."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        pass
    else:
        libs = [f"{d.get('internal_api')} {d.get('version')} ({d.get('num_threads')} threads)"
                for d in threadpool_info() if d.get("user_api") == "blas"]
        if libs:
            return ", ".join(libs)
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '?')}"
    except Exception:                          # older numpy: no dict mode
        return "BLAS unknown (numpy.show_config() prints it)"


def machine_line():
    threads = ", ".join(f"{v}={os.environ.get(v, 'unset')}" for v in THREAD_VARS)
    return (f"Machine: {cpu_model()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
            f"numpy {np.__version__}, BLAS {blas_info()}; {threads}; threads in use: "
            f"{threads_in_use()}")


def threads_in_use():
    """What the frameworks will use: minitorch_cnn's pool and, if installed, torch's."""
    import minitorch_cnn as mt
    used = f"minitorch_cnn {mt.get_num_threads()}"
    try:
        import torch
    except ImportError:
        return used + ", torch not installed"
    return used + f", torch {torch.get_num_threads()}"


def run(script, *args):
    """The stdout of one benchmark script, run with this interpreter and environment."""
    out = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True,
                         text=True, check=True)
    return out.stdout


def training_rows(text):
    ours = re.search(r"minitorch_cnn:\s+([\d.]+) ms/batch", text)
    torch = re.search(r"torch \(CPU\):\s+([\d.]+) ms/batch", text)
    if not ours:
        return []
    if not torch:
        return [("Training step, Inception-lite, batch 128 (bench_training.py)",
                 f"{float(ours.group(1)):.0f} ms", "--", "--", "")]
    o, t = float(ours.group(1)), float(torch.group(1))
    return [("Training step, Inception-lite, batch 128 (bench_training.py)", f"{o:.0f} ms",
             f"{t:.0f} ms", f"{o / t:.2f}x", "")]


def epoch_rows(text):
    ours = re.search(r"minitorch_cnn\s+[\d.]+\s+[\d.]+\s+([\d.]+)", text)
    torch = re.search(r"PyTorch CPU\s+[\d.]+\s+[\d.]+\s+([\d.]+)", text)
    if not (ours and torch):
        return []
    o, t = float(ours.group(1)), float(torch.group(1))
    return [("One epoch of the training command with test evaluation (bench_epoch.py)",
             f"{o:.0f} s", f"{t:.0f} s", f"{o / t:.2f}x", "")]


def conv_rows(text):
    rows = []
    for line in text.splitlines():
        m = re.match(r"(\d+->\d+ \d+x\d+ @\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)"
                     r"(?:\s+([\d.]+)\s+([\d.]+))?", line)
        if m:
            shape, ours, _, over_limit, torch, ratio = m.groups()
            rows.append((f"conv2d fwd+bwd {shape} (bench_conv.py)", f"{float(ours):.1f} ms",
                         f"{float(torch):.1f} ms" if torch else "--",
                         f"{float(ratio):.2f}x" if ratio else "--", f"{float(over_limit):.2f}x"))
    return rows


def layer_rows(text):
    rows = []
    for line in text.splitlines():
        m = re.match(r"(\S+)\s+(\([\d, ]+\))\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", line)
        if m:
            op, shape, ours, torch, ratio = m.groups()
            rows.append((f"{op} {shape} (bench_layers.py)", f"{float(ours):.1f} ms",
                         f"{float(torch):.1f} ms", f"{float(ratio):.2f}x", ""))
    return rows


def table(rows):
    out = ["| benchmark (forward + backward) | minitorch_cnn | PyTorch CPU | ratio | over the GEMM limit |",
           "|---|---:|---:|---:|---:|"]
    out += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows]
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batches", type=int, default=8, help="timed training batches (default 8)")
    p.add_argument("--repeats", type=int, default=3, help="bench_conv.py repeats (default 3)")
    p.add_argument("--epoch", action="store_true",
                   help="also time a whole epoch with test evaluation (bench_epoch.py)")
    args = p.parse_args(argv)
    rows = training_rows(run("bench_training.py", "--batches", str(args.batches),
                             "--warmup", "2"))
    rows += conv_rows(run("bench_conv.py", "--repeats", str(args.repeats)))
    rows += layer_rows(run("bench_layers.py"))
    if args.epoch:
        rows[1:1] = epoch_rows(run("bench_epoch.py"))
    print(table(rows))
    print()
    print(machine_line())


if __name__ == "__main__":
    main()
