"""Decompression bombs against the readers: peak memory (RSS) and time of each refusal.

    python benchmarks/hostile_files.py [--gb 2] [--keep DIR]

Builds, in a temporary folder, files of about 2 MB that inflate to ``--gb`` GB:

  unreferenced   a valid checkpoint plus a member the structure never mentions (zeros)
  honest-header  the structure's one array, whose .npy header and zip entry both declare 2 GB
  lying-header   an .npy header promising 4 bytes, a zip entry declaring 2 GB
  mnist-gz       train-images-idx3-ubyte.gz whose IDX header promises 2 GB (read by MNIST)
  resume         the unreferenced bomb given to ``minitorch-train --resume``
  evaluate       the honest-header bomb given to ``minitorch-evaluate``
  valid-256MB    for scale: a valid checkpoint holding one 256 MB array (read, not refused)

and reads each one in a fresh subprocess, printing that subprocess's peak RSS (ru_maxrss, which
includes the interpreter and numpy) and the wall time of the read, next to the peak RSS of
``import minitorch_cnn`` alone (the baseline).
"""
import argparse
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

CHUNK = 1 << 24                                    # 16 MB of zeros per write


def _npy_header(shape, dtype="<u1"):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _structure(root):
    text = json.dumps({"format": "minitorch_cnn.checkpoint", "version": 1, "root": root})
    arr = np.frombuffer(text.encode(), np.uint8)
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr)
    return buf.getvalue()


def _zeros_member(zf, name, header, nbytes, declared=None):
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with zf.open(info, "w", force_zip64=True) as f:
        f.write(header)
        left = nbytes
        while left:
            n = min(left, CHUNK)
            f.write(bytes(n))
            left -= n
    if declared is not None:                       # lie about the inflated size
        info.file_size = declared


def build(folder, gb):
    folder = Path(folder)
    n = int(gb * 2 ** 30)
    small = np.arange(4, dtype=np.uint8)
    buf = io.BytesIO()
    np.lib.format.write_array(buf, small)
    with zipfile.ZipFile(folder / "unreferenced.npz", "w") as zf:
        zf.writestr("__minitorch__.npy", _structure({"array": "arr_0"}))
        zf.writestr("arr_0.npy", buf.getvalue())
        _zeros_member(zf, "arr_1.npy", _npy_header((n,)), n)
    with zipfile.ZipFile(folder / "honest-header.npz", "w") as zf:
        zf.writestr("__minitorch__.npy", _structure({"array": "arr_0"}))
        _zeros_member(zf, "arr_0.npy", _npy_header((n,)), n)
    with zipfile.ZipFile(folder / "lying-header.npz", "w") as zf:
        zf.writestr("__minitorch__.npy", _structure({"array": "arr_0"}))
        _zeros_member(zf, "arr_0.npy", _npy_header((4,)), n)
    import minitorch_cnn as mt
    mt.save({"w": np.ones(2 ** 25)}, folder / "valid-256MB.npz")
    mnist = folder / "mnist"
    mnist.mkdir()
    import gzip
    import shutil
    repo = Path(__file__).resolve().parents[1] / "data" / "mnist"
    for name in ("train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(repo / name, mnist / name)
    count = n // (28 * 28)
    with gzip.open(mnist / "train-images-idx3-ubyte.gz", "wb", compresslevel=9) as f:
        f.write(b"\x00\x00\x08\x03" + np.array([count, 28, 28], ">u4").tobytes())
        left = count * 28 * 28
        while left:
            k = min(left, CHUNK)
            f.write(bytes(k))
            left -= k


PROBE = r"""
import resource, sys, time
t0 = time.perf_counter()
import minitorch_cnn as mt
kind, path = sys.argv[1], sys.argv[2]
t1 = time.perf_counter()
try:
    if kind == "load":
        mt.load(path)
    elif kind == "mnist":
        mt.data.MNIST(root=path, train=True, download=False)
    elif kind == "evaluate":
        from minitorch_cnn.cli import evaluate
        evaluate.main([path])
    elif kind == "resume":
        from minitorch_cnn.cli import train
        train.main(["--resume", path, "--out", sys.argv[3], "--limit", "64"])
    outcome = "loaded"
except (ValueError, SystemExit) as e:
    outcome = "refused: " + str(e).splitlines()[0][:110]
t2 = time.perf_counter()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, t2 - t1, outcome)
"""


def probe(kind, path, *extra):
    out = subprocess.run([sys.executable, "-c", PROBE, kind, str(path), *map(str, extra)],
                         capture_output=True, text=True, check=True).stdout.split(maxsplit=2)
    return float(out[0]), float(out[1]), out[2].strip()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gb", type=float, default=2.0, help="inflated size of each bomb, GB "
                   "(default: 2)")
    p.add_argument("--build", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.build:
        build(args.build, args.gb)
        return
    with tempfile.TemporaryDirectory() as tmp:
        # built in a child: Linux keeps a process's peak RSS across fork and exec, so building
        # 2 GB here would show up in every probe below
        subprocess.run([sys.executable, __file__, "--gb", str(args.gb), "--build", tmp],
                       check=True)
        base = subprocess.run([sys.executable, "-c", "import resource, minitorch_cnn; print("
                               "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"],
                              capture_output=True, text=True, check=True).stdout
        print(f"baseline (import minitorch_cnn): {float(base):.0f} MB RSS")
        rows = [("unreferenced", "load", Path(tmp) / "unreferenced.npz"),
                ("honest-header", "load", Path(tmp) / "honest-header.npz"),
                ("lying-header", "load", Path(tmp) / "lying-header.npz"),
                ("mnist-gz", "mnist", Path(tmp) / "mnist"),
                ("resume", "resume", Path(tmp) / "unreferenced.npz", Path(tmp) / "run"),
                ("evaluate", "evaluate", Path(tmp) / "honest-header.npz"),
                ("valid-256MB", "load", Path(tmp) / "valid-256MB.npz")]
        for label, kind, path, *extra in rows:
            size = sum(f.stat().st_size for f in ([path] if path.is_file() else path.iterdir()))
            rss, sec, outcome = probe(kind, path, *extra)
            print(f"{label:14s} file {size / 2**20:6.1f} MB  peak RSS {rss:7.0f} MB  "
                  f"{sec:6.2f} s  {outcome}")


if __name__ == "__main__":
    main()
