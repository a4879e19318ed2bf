"""Detection measured where users need it: scanned pages, canvases, sparse pictures, a phone photo.

    python benchmarks/bench_detect.py [--pages 100] [--canvases 200] [--cases] [--big]
                                      [--checkpoint P]

Prints, for the checkpoint (default: the shipped 11-class model):

  pages      precision / recall on generated scanned pages (``detection.make_page``: light paper, a
             brightness gradient, noise, JPEG; 5-10 held-out TEST digits of 24-110 px in dark
             ink), through the whole pipeline (normalisation, pyramid ``--min-size`` ..
             ``--max-size``, tiles, one NMS);
  ruled      ruled pages (``detection.rule_page``: exercise-book lines and a margin line) with no
             digits (false detections) and with digits (precision / recall, and the same pages
             without their lines);
  canvases   the same on 140 x 140 canvases of 2-5 test digits of 28 px (one pass, scale 1);
  sparse     single test digits (28 px) on 350 x 350 and 1000 x 1000 black pictures, default
             pyramid: how many are found (right label, IoU >= 0.5, and nothing else);
  cases      (``--cases``) pictures made by hand as a user would bring them: digits written
             across ruled lines, a tilted ruled page, a table grid with and without digits, a
             long underline below and touching digits;
  big        (``--big``) one 4000 x 3000 page (digits of 60-300 px) through the command line in a
             fresh process, with ``--min-size 60`` and with the defaults, and the same page ruled
             (3-px lines every 90 px and a margin) with ``--min-size 60``: seconds and peak RSS.

A hit: right label and IoU >= 0.5 with the digit's pasted square, each digit matched once.  Time
is wall-clock on whatever the machine is doing: state the load next to the numbers.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from minitorch_cnn.cli import detect as cli                      # noqa: E402
from minitorch_cnn.data import MNIST                             # noqa: E402
from minitorch_cnn.tools.detection import make_page, match, rule_page, to_ink   # noqa: E402


def sparse(conv, test, sizes=(350, 1000), per_size=3, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for S in sizes:
        found, t0 = 0, time.perf_counter()
        for _ in range(per_size):
            k = int(rng.integers(len(test.labels)))
            y0, x0 = (int(v) for v in rng.integers(0, S - 28, size=2))
            gray = np.zeros((S, S), np.float32)
            gray[y0:y0 + 28, x0:x0 + 28] = np.clip(to_ink(test.images[k, 0]), 0, 1)
            dets, _, _ = cli.detect_image(conv, gray, progress=False)
            truth = [{"label": int(test.labels[k]), "box": [x0, y0, x0 + 28, y0 + 28]}]
            found += match(dets, truth) == 1 and len(dets) == 1
        out[S] = (found, per_size, (time.perf_counter() - t0) / per_size)
    return out


def ruled(conv, test, pages, seed=0, min_size=20, max_size=140):
    """(false detections on ruled pages without digits, (tp, detections, digits) on ruled pages
    with digits, the same on those pages without their lines)."""
    rng = np.random.default_rng(seed)
    empty, lined, plain = 0, np.zeros(3, int), np.zeros(3, int)
    for _ in range(pages):
        gray, _ = make_page(test.images, test.labels, rng, count=(0, 0))
        empty += len(cli.detect_image(conv, rule_page(gray, rng), min_size=min_size,
                                      max_size=max_size, progress=False)[0])
        gray, truth = make_page(test.images, test.labels, rng)
        for counts, picture in ((lined, rule_page(gray, rng)), (plain, gray)):
            dets = cli.detect_image(conv, picture, min_size=min_size, max_size=max_size,
                                    progress=False)[0]
            counts += (match(dets, truth), len(dets), len(truth))
    return empty, lined, plain


def _paste(gray, test, rng, places, darkness=0.8):
    """Test digits at (x0, y0, D) multiplied into ``gray`` as dark ink; their ground truth."""
    truth = []
    for x0, y0, D in places:
        k = int(rng.integers(len(test.labels)))
        digit = Image.fromarray(np.clip(to_ink(test.images[k, 0]), 0, 1), mode="F")
        digit = np.clip(np.asarray(digit.resize((D, D), Image.BILINEAR)), 0, 1)
        gray[y0:y0 + D, x0:x0 + D] *= 1 - darkness * digit
        truth.append({"label": int(test.labels[k]), "box": [x0, y0, x0 + D, y0 + D]})
    return truth


def _line(gray, at, thick, keep, slope=0.0, vertical=False, span=None):
    """A line ``thick`` px, ``keep`` times as light, from row ``at`` drifting ``slope`` px per
    px (columns if ``vertical``), over ``span`` = (start, end) along it (all of it by default)."""
    g = gray.T if vertical else gray
    for x in range(*(span or (0, g.shape[1]))):
        y = int(round(at + slope * x))
        if 0 <= y < g.shape[0]:
            g[y:y + thick, x] *= keep


def cases(conv, test, seed=0):
    """Pictures a user brings, made by hand: [(what, digits, (detections, hits) with the lines,
    the same without them or None)]."""
    rng = np.random.default_rng(seed)

    def paper(shape):
        return make_page(test.images, test.labels, rng, shape=shape, count=(0, 0))[0]
    out = []

    def found(gray, truth):
        dets = cli.detect_image(conv, gray, min_size=20, max_size=140, progress=False)[0]
        return len(dets), match(dets, truth)

    def run(what, gray, truth, plain=None):
        out.append((what, len(truth), found(gray, truth),
                    None if plain is None else found(plain, truth)))
    g = paper((300, 400))
    truth = _paste(g, test, rng, [(60 + 48 * i, 30 * (2 + i % 6) - 17, 34) for i in range(7)])
    plain = g.copy()
    for y in range(13, 300, 30):
        _line(g, y, 2, 0.75)
    _line(g, 40, 2, 0.7, vertical=True)
    run("exercise book 400x300, 7 digits of 34 px written across the lines", g, truth, plain)
    g = paper((300, 400))
    for y in range(-10, 310, 30):
        _line(g, y, 2, 0.75, slope=0.026)
    _line(g, 40, 2, 0.7, slope=-0.026, vertical=True)
    run("exercise book 400x300 tilted 1.5 degrees, no digits", g, [])
    for digits in (True, False):
        g = paper((450, 600))
        places = []
        for cy in range(6):
            for cx in range(8):
                if digits and rng.random() < 0.6:
                    D = int(rng.integers(40, 61))
                    places.append((min(cx * 75 + int(rng.integers(2, 75 - D + 1)), 600 - D),
                                   min(cy * 75 + int(rng.integers(2, 75 - D + 1)), 450 - D), D))
        truth = _paste(g, test, rng, places)
        plain = g.copy() if digits else None
        g[::75] *= 0.55
        g[:, ::75] *= 0.55
        run("table grid 600x450, 75-px cells, " + (f"{len(truth)} digits of 40-60 px" if digits
                                                   else "empty"), g, truth, plain)
    for gap in (2, -8):
        g = paper((300, 400))
        truth = _paste(g, test, rng, [(40 + 55 * i, 100, 48) for i in range(6)])
        plain = g.copy()
        _line(g, 148 + gap, 3, 0.35, span=(30, 370))
        run("a dark 340-px underline " + ("below" if gap > 0 else "touching") + " 6 digits of "
            "48 px", g, truth, plain)
    return out


def big_page(checkpoint, tmp, seed=0):
    test = MNIST(train=False)
    gray, truth = make_page(test.images, test.labels, np.random.default_rng(seed),
                            shape=(3000, 4000), count=(5, 10), sizes=(60, 300))
    path = Path(tmp) / "page_4000x3000.jpg"
    Image.fromarray((gray * 255).round().astype(np.uint8)).save(path, quality=90)
    lined = gray.copy()                     # an exercise book photographed: 3-px lines, a margin
    for y in range(40, 3000, 90):
        lined[y:y + 3] *= 0.75
    lined[:, 300:304] *= 0.7
    ruled_path = Path(tmp) / "ruled_4000x3000.jpg"
    Image.fromarray((lined * 255).round().astype(np.uint8)).save(ruled_path, quality=90)
    rows = []
    for label, extra in (("--min-size 60", ["--min-size", "60"]), ("defaults", []),
                         ("ruled, --min-size 60", ["--min-size", "60"])):
        picture = ruled_path if label.startswith("ruled") else path
        out = Path(tmp) / "dets.json"
        code = ("import resource, sys, time; from minitorch_cnn.cli.detect import main; "
                "t = time.perf_counter(); main(sys.argv[1:]); "
                "print('BENCH', time.perf_counter() - t, "
                "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")   # KiB on Linux
        proc = subprocess.run([sys.executable, "-c", code, "--image", str(picture), "--json",
                               str(out), "--checkpoint", str(checkpoint), *extra],
                              capture_output=True, text=True, cwd=ROOT,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)))
        if proc.returncode:
            raise SystemExit(proc.stderr)
        line = [x for x in proc.stdout.splitlines() if x.startswith("BENCH")][-1].split()
        dets = json.loads(out.read_text())["detections"]
        rows.append((label, float(line[1]), int(line[2]) / 1024, match(dets, truth),
                     len(dets), len(truth)))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default=str(cli.DEFAULT_CHECKPOINT))
    p.add_argument("--pages", type=int, default=100)
    p.add_argument("--ruled", type=int, default=30, help="ruled pages, without and with digits")
    p.add_argument("--canvases", type=int, default=200)
    p.add_argument("--sparse", type=int, default=3, help="pictures per size (350, 1000)")
    p.add_argument("--min-size", type=float, default=20, help="pages' pyramid, input px")
    p.add_argument("--max-size", type=float, default=140, help="pages' pyramid, input px")
    p.add_argument("--cases", action="store_true", help="also hand-made pictures: ruled, "
                   "tilted, a table grid, an underline")
    p.add_argument("--big", action="store_true", help="also the 4000 x 3000 page")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    conv = cli.load_detector(args.checkpoint)
    print(f"checkpoint {args.checkpoint}; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores")
    if args.pages:
        t0 = time.perf_counter()
        r, _ = cli.demo_pages(conv, args.pages, args.seed, min_size=args.min_size,
                              max_size=args.max_size)
        print(f"pages     {args.pages} pages, {r['digits']} digits, {r['detections']} detections:"
              f" precision {r['precision']:.4f}  recall {r['recall']:.4f}  (pyramid "
              f"{args.min_size:g}-{args.max_size:g} px; {(time.perf_counter() - t0) / args.pages:.1f}"
              f" s per page)", flush=True)
    if args.ruled:
        empty, lined, plain = ruled(conv, MNIST(train=False), args.ruled, args.seed,
                                    args.min_size, args.max_size)

        def pr(tp, nd, nt):
            return f"precision {tp / max(nd, 1):.4f}  recall {tp / max(nt, 1):.4f}"
        print(f"ruled     {args.ruled} ruled pages without digits: {empty} false detections; "
              f"{args.ruled} with {lined[2]} digits: {pr(*lined)} (the same pages without "
              f"their lines: {pr(*plain)})", flush=True)
    if args.canvases:
        r, _ = cli.demo(conv, args.canvases, args.seed)
        print(f"canvases  {args.canvases} canvases, {r['digits']} digits: precision "
              f"{r['precision']:.4f}  recall {r['recall']:.4f}", flush=True)
    if args.sparse:
        test = MNIST(train=False)
        for S, (found, n, sec) in sparse(conv, test, per_size=args.sparse, seed=args.seed).items():
            print(f"sparse    one digit on {S}x{S} black: {found} of {n} found alone "
                  f"({sec:.1f} s each, default pyramid)", flush=True)
    if args.cases:
        for what, nt, (nd, tp), plain in cases(conv, MNIST(train=False), args.seed):
            print(f"case      {what}: {nt} digits, {nd} detections, {tp} right"
                  + ("" if plain is None else f" (without the lines: {plain[0]} detections, "
                                              f"{plain[1]} right)"), flush=True)
    if args.big:
        with tempfile.TemporaryDirectory() as tmp:
            for label, sec, rss, tp, nd, nt in big_page(args.checkpoint, tmp, args.seed):
                print(f"big       4000x3000 page, {label}: {sec:.1f} s, peak RSS {rss:.0f} MiB, "
                      f"{tp} of {nt} digits found, {nd} detections", flush=True)


if __name__ == "__main__":
    from minitorch_cnn import keep_freed_memory
    keep_freed_memory()        # as the training CLI does (docs/performance.md)
    main()
