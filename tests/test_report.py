"""benchmarks/report.py: the table is built from the benchmarks' own lines, and the machine
line names CPU, cores, numpy, BLAS and threads (the benchmarks themselves are not run here)."""
import importlib.util
from pathlib import Path

import numpy as np

import minitorch_cnn as mt

spec = importlib.util.spec_from_file_location(
    "report", Path(__file__).resolve().parents[1] / "benchmarks" / "report.py")
report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(report)


def test_rows_from_benchmark_output():
    train = ("minitorch_cnn:   180.0 ms/batch  ->   84.4 s/epoch (last loss 1.1); peak RSS 400 MB\n"
             "torch (CPU):     120.0 ms/batch  ->   56.3 s/epoch (last loss 1.0)\n")
    conv = ("shape              ours ms  limit ms  /limit  torch ms  /torch   gen ms  gen/1x1\n"
            "1->32 3x3 @28        43.47     28.47    1.53     30.45    1.43\n"
            "56->32 1x1 @14       10.04      7.59    1.32      9.56    1.05    14.90     1.48\n")
    layers = ("op                   shape                ours ms  torch ms  ratio\n"
              "max_pool2d(2)        (128, 56, 14, 14)       7.33     49.35   0.15\n")
    epoch = ("                  train s   test s  total s  test acc\n"
             "minitorch_cnn        80.0      5.0     85.0    0.9812\n"
             "PyTorch CPU          40.0      3.0     43.0    0.9799\n"
             "ratio               2.00x    1.67x    1.98x\n")
    rows = (report.training_rows(train) + report.epoch_rows(epoch) + report.conv_rows(conv)
            + report.layer_rows(layers))
    assert rows[0][1:] == ("180 ms", "120 ms", "1.50x", "")
    assert rows[1][1:] == ("85 s", "43 s", "1.98x", "")
    assert rows[2] == ("conv2d fwd+bwd 1->32 3x3 @28 (bench_conv.py)", "43.5 ms", "30.4 ms",
                       "1.43x", "1.53x")
    assert rows[3][3:] == ("1.05x", "1.32x") and rows[4][3] == "0.15x"
    md = report.table(rows).splitlines()
    assert md[0].startswith("| benchmark") and len(md) == 2 + len(rows)


def test_machine_line_names_the_machine():
    line = report.machine_line()
    assert line.startswith("Machine: ") and f"numpy {np.__version__}" in line
    assert "cores" in line and "BLAS " in line and "OPENBLAS_NUM_THREADS=" in line
    assert f"threads in use: minitorch_cnn {mt.get_num_threads()}" in line
