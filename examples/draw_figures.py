"""The pictures of the mechanisms in docs/, drawn with Pillow from numbers the package computes.

    python examples/draw_figures.py --out docs/images          # regenerate the docs' pictures
    python examples/draw_figures.py --out /tmp/figures --only im2col

Every number in a picture comes from running the package (a conv on the drawn input, the
columns of ``sliding_window_view``, ``mt.summary`` of the drawn blocks, the converted detector
on a real canvas), so a picture cannot drift from the code.  Pictures:

    multichannel_conv.png   Conv2d(4, 2, 2): each filter spans all input channels; 34 parameters
    im2col.png              windows become columns; the whole convolution is one matmul
    one_by_one.png          a 1x1 conv: one matrix applied to every pixel's channel vector
    inception.png           the naive and the bottleneck Inception block, params and MACs
    fc_as_conv.png          which 28x28 window each output cell sees (stride 4), and the heatmap
    autograd_graph.png      the graph behind a small network's loss (needs Graphviz's dot)
"""
import argparse
import importlib.util
import shutil
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image, ImageDraw

import minitorch_cnn as mt
from minitorch_cnn import nn
from minitorch_cnn.cli.plot import font
from minitorch_cnn.io.fileio import atomic_open
from minitorch_cnn.models import Inception, NaiveInception

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "checkpoints" / "inception_lite_background.npz"
WINDOWS = [(230, 60, 60), (40, 120, 220), (40, 170, 70), (230, 150, 20)]
PALE = [(250, 215, 215), (210, 225, 250), (210, 240, 215), (250, 230, 200)]


class Canvas:
    """A white picture with a few drawing helpers (all sizes in pixels)."""

    def __init__(self, w, h):
        self.img = Image.new("RGB", (w, h), "white")
        self.d = ImageDraw.Draw(self.img)

    def text(self, xy, s, size=16, fill="black", anchor="la"):
        self.d.text(xy, s, fill=fill, font=font(size), anchor=anchor)

    def grid(self, x, y, values, cell=40, fill=None, size=15, fmt="{:g}", outline="black"):
        """A matrix of numbers; ``fill``: None, one colour, or a function (i, j) -> colour."""
        values = np.atleast_2d(values)
        for (i, j), v in np.ndenumerate(values):
            colour = fill(i, j) if callable(fill) else fill
            box = (x + j * cell, y + i * cell, x + (j + 1) * cell, y + (i + 1) * cell)
            self.d.rectangle(box, fill=colour, outline=outline)
            self.text((box[0] + cell / 2, box[1] + cell / 2), fmt.format(v), size, anchor="mm")
        return x + values.shape[1] * cell, y + values.shape[0] * cell

    def arrow(self, p, q, fill="black", width=2):
        self.d.line((p, q), fill=fill, width=width)
        v = np.subtract(q, p, dtype=float)
        v /= np.hypot(*v) or 1
        n = np.array([-v[1], v[0]])
        tip = np.array(q, float)
        self.d.polygon([tuple(tip), tuple(tip - 12 * v + 5 * n), tuple(tip - 12 * v - 5 * n)],
                       fill=fill)

    def box(self, xy, colour=None, outline="black", width=2):
        self.d.rectangle(xy, fill=colour, outline=outline, width=width)

    def save(self, path):
        with atomic_open(path) as f:
            self.img.save(f, format="PNG")
        return path


def _num(v):
    """-1 as (-1), so that 2 x (-1) reads as a product."""
    return f"({v:g})" if v < 0 else f"{v:g}"


# ------------------------------------------------------------------- multi-channel convolution
def multichannel_conv(path):
    """Conv2d(4, 2, kernel_size=2) on a 4x3x3 input: both filters, one output cell worked out."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, (1, 4, 3, 3)).astype(np.float64)
    conv = nn.Conv2d(4, 2, 2).double()
    conv.weight.data[...] = rng.integers(-1, 2, (2, 4, 2, 2))
    conv.bias.data[...] = [1, -2]
    with mt.no_grad():
        out = conv(mt.tensor(x)).data[0]
    params = mt.summary(conv, (4, 3, 3), dtype=np.float64).total_params
    assert params == 4 * 2 * 2 * 2 + 2 == 34
    w, b = conv.weight.data, conv.bias.data
    partial = (x[0, :, :2, :2] * w[0]).sum((1, 2))          # filter 0 at the top-left window

    c = Canvas(1500, 860)
    c.text((30, 20), "Conv2d(4, 2, kernel_size=2): every filter spans all 4 input channels", 24)
    c.text((30, 56), "per-channel products are summed, then one bias per filter is added", 18,
           fill=(90, 90, 90))
    top, step, cell = 120, 170, 38
    c.text((40, top - 30), "input x (4 x 3 x 3)", 18)
    c.text((300, top - 30), "filter 0: w[0] (4 x 2 x 2)", 18, fill=WINDOWS[0])
    c.text((560, top - 30), "filter 1: w[1]", 18, fill=WINDOWS[1])
    c.text((760, top - 30), "filter 0 on the top-left window, channel by channel", 18)
    for ch in range(4):
        y = top + ch * step
        c.text((10, y + 50), f"c{ch}", 18, anchor="lm")
        c.grid(40, y, x[0, ch], cell, fill=lambda i, j: PALE[0] if i < 2 and j < 2 else None)
        c.d.rectangle((40, y, 40 + 2 * cell, y + 2 * cell), outline=WINDOWS[0], width=3)
        c.grid(300, y, w[0, ch], cell, fill=PALE[0])
        c.grid(560, y, w[1, ch], cell, fill=PALE[1])
        terms = " + ".join(f"{a:g}\u00d7{_num(bb)}" for a, bb in zip(x[0, ch, :2, :2].ravel(),
                                                                    w[0, ch].ravel()))
        c.text((760, y + cell), f"{terms} = {partial[ch]:g}", 17, anchor="lm")
    y = top + 4 * step - 20
    total = partial.sum() + b[0]
    c.text((760, y), "sum: " + " + ".join(_num(p) for p in partial) +
           f" + bias b[0] ({b[0]:g})  =  {total:g}", 19, fill=WINDOWS[0])
    assert total == out[0, 0, 0]
    ox = 1260
    c.text((ox, top - 30), "output (2 x 2 x 2)", 18)
    for o in range(2):
        oy = top + 40 + o * 250
        c.text((ox, oy - 24), f"channel {o} = filter {o} + b[{o}] ({b[o]:g})", 15,
               fill=WINDOWS[o])
        c.grid(ox, oy, out[o], 50, fill=lambda i, j, o=o: PALE[o])
    c.d.rectangle((ox, top + 40, ox + 50, top + 90), outline=WINDOWS[0], width=3)
    c.arrow((1180, y - 12), (ox - 4, top + 70), fill=WINDOWS[0])
    c.text((30, 830), f"parameters: 2 filters x 4 channels x (2 x 2) + 2 biases = {params}"
           f"     (mt.summary: {params})", 20, anchor="lm")
    return c.save(path)


# ------------------------------------------------------------------------------------ im2col
def im2col(path):
    """A 4x4 input, its four 3x3 windows, the 9x4 column matrix, and the one matmul."""
    x = np.random.default_rng(1).integers(0, 10, (4, 4)).astype(np.float64)
    wgt = np.array([[1, 0, -1], [0, 2, 0], [-1, 0, 1]], dtype=np.float64)
    windows = sliding_window_view(x, (3, 3))                # (2, 2, 3, 3) read-only view
    cols = windows.reshape(4, 9).T                          # (K=9, P=4): one column per window
    out = (wgt.reshape(1, 9) @ cols).reshape(2, 2)
    with mt.no_grad():
        ref = mt.nn.functional.conv2d(mt.tensor(x[None, None]), mt.tensor(wgt[None, None]))
    np.testing.assert_array_equal(out, ref.data[0, 0])

    c = Canvas(1500, 640)
    c.text((30, 20), "im2col: every window becomes a column, the convolution one matrix multiply",
           24)
    cell = 44
    c.text((40, 70), "input x (4 x 4), 3 x 3 kernel:", 18)
    c.text((40, 96), "4 windows (stride 1)", 18)
    c.grid(40, 130, x, cell)
    for k, (i, j) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        o = 3 + 3 * k                                       # nested outlines stay visible
        c.d.rectangle((40 + j * cell + o, 130 + i * cell + o, 40 + (j + 3) * cell - o,
                       130 + (i + 3) * cell - o), outline=WINDOWS[k], width=3)
    c.text((40, 330), "window (i, j) = x[i:i+3, j:j+3]", 16)
    c.text((40, 356), "sliding_window_view(x, (3, 3))", 16, fill=(90, 90, 90))
    c.text((40, 380), "  -> (2, 2, 3, 3), a view: no copy", 16, fill=(90, 90, 90))
    c.arrow((240, 220), (330, 220))
    cx, cy = 360, 130
    c.text((cx, 70), "col (K = 9, P = 4):", 18)
    c.text((cx, 96), "one column per window", 18)
    c.grid(cx, cy, cols, 40, fill=lambda i, j: PALE[j], size=14)
    for k in range(4):
        c.text((cx + 40 * k + 20, cy + 9 * 40 + 16), f"w{k}", 15, fill=WINDOWS[k], anchor="mm")
    mx = 640
    c.text((mx, cy + 130), "W (1 x 9): the filter, flattened", 18)
    c.grid(mx, cy + 160, wgt.reshape(1, 9), 40, fill=(235, 235, 235), size=14)
    c.text((mx + 180, cy + 230), "@ col", 20, anchor="mm")
    c.text((mx, cy + 270), "out (1 x 4) = W @ col", 18)
    c.grid(mx, cy + 300, out.reshape(1, 4), 60, fill=lambda i, j: PALE[j])
    c.arrow((mx + 250, cy + 330), (1080, cy + 200))
    c.text((1100, cy + 90), "reshape -> output (2 x 2)", 18)
    c.grid(1100, cy + 120, out, 70, fill=lambda i, j: PALE[2 * i + j])
    c.text((40, 560), "For C channels and O filters: col is (C*KH*KW, N*OH*OW), W is "
           "(O, C*KH*KW) -- still ONE matrix multiply.", 18)
    c.text((40, 592), "Backward: dW = g @ col.T, dcol = W.T @ g, and col2im adds each column "
           "back onto the pixels it came from.", 18)
    return c.save(path)


# --------------------------------------------------------------------------- 1x1 convolution
def one_by_one(path):
    """100 -> 20 -> 64 channels on a 6x6 map, drawn to scale of counts (3 px per channel)."""
    reduce, grow = nn.Conv2d(100, 20, 1), nn.Conv2d(20, 64, 1)
    p1 = mt.summary(reduce, (100, 6, 6)).total_params
    p2 = mt.summary(grow, (20, 6, 6)).total_params
    assert (p1, p2) == (100 * 20 + 20, 20 * 64 + 64)
    c = Canvas(1500, 620)
    c.text((30, 20), "1x1 convolution: the same matrix W applied to every pixel's channel vector",
           24)
    px, base = 3, 470                                       # 3 pixels per channel
    c.text((30, 56), "drawn to scale: height = channels (3 px each), width = pixels; the "
           "matrices at 1.5 px per entry", 17, fill=(90, 90, 90))
    stacks = [(60, 100, "x: 100 x H x W"), (580, 20, "y: 20 x H x W"),
              (1100, 64, "z: 64 x H x W")]
    for k, (x0, ch, label) in enumerate(stacks):
        h, wd = ch * px, 180
        c.box((x0, base - h, x0 + wd, base), colour=PALE[k])
        for j in range(1, 6):                               # six pixels of the H*W axis
            c.d.line((x0 + j * wd / 6, base - h, x0 + j * wd / 6, base), fill=(170, 170, 170))
        c.box((x0 + 2 * wd / 6, base - h, x0 + 3 * wd / 6, base), colour=WINDOWS[k], width=1)
        c.text((x0 + wd / 2, base + 20), label, 18, anchor="mm")
        c.text((x0 + wd / 2, base + 44), f"{ch} channels (up) x pixels (across)", 15,
               fill=(90, 90, 90), anchor="mm")
        c.text((x0 + 2.5 * wd / 6, base - h - 14), "pixel (i, j)", 14, fill=WINDOWS[k],
               anchor="mm")
    # the two weight matrices, to scale with each other (out rows x in columns)
    mats = [(300, 20, 100, "W1 (20 x 100)", p1, "reduce: y[:, i, j] = W1 x[:, i, j] + b1", 0),
            (830, 64, 20, "W2 (64 x 20)", p2, "grow: z[:, i, j] = W2 y[:, i, j] + b2", 1)]
    for x0, rows, cols, name, count, formula, k in mats:
        c.box((x0, 330 - rows * 1.5, x0 + cols * 1.5, 330), colour=(225, 225, 225))
        c.text((x0, 170), formula, 16)
        c.text((x0, 194), "the same W at every pixel", 15, fill=(90, 90, 90))
        c.text((x0, 345), name, 17)
        c.text((x0, 369), f"{count:,} parameters with the bias", 15, fill=(90, 90, 90))
        c.arrow((stacks[k][0] + 3 * 180 / 6 + 4, base - 20), (x0 - 6, 320), fill=WINDOWS[k])
        c.arrow((x0 + cols * 1.5 + 6, 320), (stacks[k + 1][0] + 2 * 180 / 6 - 4, base - 20),
                fill=WINDOWS[k + 1])
    c.text((60, 560), "H x W never changes (stride 1); the map is linear per pixel, so 100 -> 20 "
           "keeps a projection onto at most 20 directions: the reduction is lossy.", 17)
    c.text((60, 588), "Stacked 1x1 layers (with ReLU) add depth, not spatial context: the "
           "receptive field stays one pixel.", 17)
    return c.save(path)


# ---------------------------------------------------------------------------- Inception block
def _rows(block, shape):
    s = mt.summary(block, shape)
    return {r["name"]: r for r in s.rows}, s


def inception(path):
    """The first Inception block of Inception-lite, naive and with 1x1 bottlenecks."""
    shape = (32, 14, 14)
    naive = NaiveInception(32, 16, 24, 8, 8)
    bottle = Inception(32, 16, 16, 24, 8, 8, 8)
    c = Canvas(1500, 900)
    c.text((30, 20), "Inception block on a 32 x 14 x 14 input: naive (left) and with 1x1 "
           "bottlenecks (right)", 24)
    c.text((30, 56), "each box: parameters / multiply-accumulates per image, from mt.summary "
           "(conv + BatchNorm; ReLU and pooling count 0)", 17, fill=(90, 90, 90))
    layouts = [
        (naive, 20, [["b1"], ["b2"], ["b3"], ["b4.0", "b4.1"]],
         {"b1": "1x1 conv 32->16", "b2": "3x3 conv 32->24", "b3": "5x5 conv 32->8",
          "b4.0": "3x3 max-pool", "b4.1": "1x1 conv 32->8"}),
        (bottle, 760, [["b1"], ["b2.0", "b2.1"], ["b3.0", "b3.1"], ["b4.0", "b4.1"]],
         {"b1": "1x1 conv 32->16", "b2.0": "1x1 conv 32->16", "b2.1": "3x3 conv 16->24",
          "b3.0": "1x1 conv 32->8", "b3.1": "5x5 conv 8->8", "b4.0": "3x3 max-pool",
          "b4.1": "1x1 conv 32->8"}),
    ]
    for block, x0, branches, labels in layouts:
        rows, s = _rows(block, shape)
        c.box((x0 + 230, 100, x0 + 490, 150), colour=(235, 235, 235))
        c.text((x0 + 360, 125), "input 32 x 14 x 14", 17, anchor="mm")
        for k, names in enumerate(branches):
            bx = x0 + k * 180
            prev = (x0 + 360, 150)
            for depth, name in enumerate(names):
                r = rows[name]
                top = 220 + depth * 170
                reduce = labels[name].startswith("1x1") and len(names) == 2 and depth == 0 \
                    and "max-pool" not in labels[names[0]] and block is bottle
                colour = (255, 250, 140) if reduce else PALE[k]
                c.arrow(prev, (bx + 80, top))
                c.box((bx, top, bx + 165, top + 100), colour=colour)
                c.text((bx + 82, top + 22), labels[name], 16, anchor="mm")
                c.text((bx + 82, top + 52), f"{r['params']:,} params", 15, anchor="mm")
                c.text((bx + 82, top + 76), f"{r['macs']:,} MACs", 15, anchor="mm")
                prev = (bx + 80, top + 100)
            c.arrow(prev, (prev[0], 600))
        c.box((x0, 600, x0 + 705, 650), colour=(235, 235, 235))
        c.text((x0 + 360, 625), f"concat -> {s.output_shape[1]} x 14 x 14", 17, anchor="mm")
        c.text((x0 + 360, 690), f"total {s.total_params:,} params", 20, anchor="mm")
        c.text((x0 + 360, 720), f"{s.total_macs:,} MACs per image", 20, anchor="mm")
    ns, bs = mt.summary(naive, shape), mt.summary(bottle, shape)
    c.text((30, 790), f"The 1x1 reductions (yellow) make the 3x3 read 16 channels instead of 32 "
           f"and the 5x5 read 8 instead of 32:", 18)
    c.text((30, 820), f"{ns.total_macs / bs.total_macs:.2f}x fewer MACs and "
           f"{ns.total_params / bs.total_params:.2f}x fewer parameters for the same output "
           f"widths (16 + 24 + 8 + 8 = 56 channels).", 18)
    return c.save(path)


# ---------------------------------------------------------------------------- FC -> conv
def fc_as_conv(path, checkpoint=CHECKPOINT):
    """Left: a 60x60 canvas and the 28x28 windows of four output cells (stride 4).  Right: the
    converted detector's output on a real canvas, each cell coloured by its digit."""
    from minitorch_cnn.cli.detect import COLOURS, load_detector
    from minitorch_cnn.tools.detection import BACKGROUND, class_maps, make_canvas

    size, zoom = 60, 5
    oh = (size - 28) // 4 + 1                               # 9 x 9 output cells
    test = mt.data.MNIST(train=False).subset(np.arange(500))
    ink, truth = make_canvas(test.images, test.labels, np.random.default_rng(4), size=size,
                             count=(2, 2))
    conv = load_detector(checkpoint)
    maps = class_maps(conv, ink)                            # (11, 9, 9)
    assert maps.shape[1:] == (oh, oh)
    c = Canvas(1500, 600)
    c.text((30, 20), "A classifier for 28 x 28 digits, converted to convolutions "
           "(mt.fc_to_conv), on a 60 x 60 canvas", 24)
    x0, y0 = 40, 110
    img = Image.fromarray((255 - ink * 255).astype(np.uint8)).resize(
        (size * zoom, size * zoom), Image.NEAREST).convert("RGB")
    c.img.paste(img, (x0, y0))
    cells = [(0, 0), (0, 1), (3, 5), (8, 8)]
    for k, (i, j) in enumerate(cells):
        c.d.rectangle((x0 + 4 * j * zoom, y0 + 4 * i * zoom, x0 + (4 * j + 28) * zoom - 1,
                       y0 + (4 * i + 28) * zoom - 1), outline=WINDOWS[k], width=3)
    c.d.rectangle((x0 - 1, y0 - 1, x0 + size * zoom, y0 + size * zoom), outline="black")
    c.text((x0, y0 - 30), "input canvas 60 x 60, four windows", 16)
    c.text((x0, y0 + size * zoom + 14), "output cell (i, j) sees rows 4i..4i+27, cols 4j..4j+27:",
           16)
    c.text((x0, y0 + size * zoom + 38), "one 28 x 28 window every 4 pixels (the stride of the "
           "features)", 16)
    gx, gy, gc = 440, 110, 30
    c.text((gx, gy - 30), f"output grid {oh} x {oh}", 16)
    for i in range(oh):
        for j in range(oh):
            k = cells.index((i, j)) if (i, j) in cells else None
            c.box((gx + j * gc, gy + i * gc, gx + (j + 1) * gc, gy + (i + 1) * gc),
                  colour=PALE[k] if k is not None else None, outline=(120, 120, 120), width=1)
            if k is not None:
                c.text((gx + j * gc + gc / 2, gy + i * gc + gc / 2), f"{i},{j}", 11,
                       fill=WINDOWS[k], anchor="mm")
    c.text((gx, gy + oh * gc + 14), f"({size} - 28) / 4 + 1 = {oh}", 16)
    # the heatmap: each cell's most probable class, as bright as its probability
    hx, hy, hc = 800, 110, 36
    best = maps.argmax(0)
    c.text((hx, hy - 30), "the same grid on this canvas: most probable class per cell", 16)
    for i in range(oh):
        for j in range(oh):
            p = float(maps[best[i, j], i, j])
            base = (200, 200, 200) if best[i, j] == BACKGROUND else COLOURS[best[i, j]]
            colour = tuple(int(255 - (255 - v) * p) for v in base)
            c.box((hx + j * hc, hy + i * hc, hx + (j + 1) * hc, hy + (i + 1) * hc),
                  colour=colour, outline=(255, 255, 255), width=1)
            if best[i, j] != BACKGROUND:
                c.text((hx + j * hc + hc / 2, hy + i * hc + hc / 2), str(best[i, j]), 14,
                       anchor="mm")
    ly = hy + oh * hc + 20
    c.text((hx, ly), "legend (colour = class, strength = probability):", 15)
    for k in range(10):
        c.box((hx + k * 50, ly + 26, hx + k * 50 + 22, ly + 48), colour=COLOURS[k], width=1)
        c.text((hx + k * 50 + 27, ly + 37), str(k), 15, anchor="lm")
    c.box((hx, ly + 58, hx + 22, ly + 80), colour=(200, 200, 200), width=1)
    c.text((hx + 27, ly + 69), "background (11th class)", 15, anchor="lm")
    for g, (pv, name) in enumerate([(0.3, "p = 0.3"), (0.6, "0.6"), (1.0, "1.0")]):
        col = tuple(int(255 - (255 - v) * pv) for v in COLOURS[3])
        c.box((hx + 260 + g * 95, ly + 58, hx + 282 + g * 95, ly + 80), colour=col, width=1)
        c.text((hx + 287 + g * 95, ly + 69), name, 14, anchor="lm")
    digits = ", ".join(str(t["label"]) for t in truth)
    c.text((40, 560), f"Truth: digits {digits} at {[t['box'][:2] for t in truth]} (x0, y0). "
           f"One forward pass computes all {oh * oh} windows (checkpoint: {checkpoint.name}).", 16)
    return c.save(path)


# ---------------------------------------------------------------------------- autograd graph
def small_network_loss():
    """The loss of a small network on a batch of 2, and its named parameters (docs/autograd.md
    draws it)."""
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    x = mt.randn(2, 1, 6, 6)
    loss = nn.functional.cross_entropy(model(x), mt.tensor(np.array([0, 2])))
    return loss, dict(model.named_parameters())


def autograd_graph(path):
    loss, params = small_network_loss()
    return mt.viz.draw(loss, path, params=params)


FIGURES = {"multichannel_conv": multichannel_conv, "im2col": im2col, "one_by_one": one_by_one,
           "inception": inception, "fc_as_conv": fc_as_conv, "autograd_graph": autograd_graph}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for the PNGs (docs/images for "
                        "the docs)")
    parser.add_argument("--only", nargs="*", choices=sorted(FIGURES), help="draw only these")
    args = parser.parse_args(argv)
    out = Path(args.out)
    for name in args.only or FIGURES:
        if name == "autograd_graph" and (shutil.which("dot") is None
                                         or importlib.util.find_spec("graphviz") is None):
            print(f"skipped {name}.png: needs Graphviz's dot program and the graphviz package")
            continue
        if name == "fc_as_conv" and not CHECKPOINT.is_file():
            print(f"skipped {name}.png: {CHECKPOINT} is missing")
            continue
        print(f"wrote {FIGURES[name](out / (name + '.png'))}")


if __name__ == "__main__":
    main()
