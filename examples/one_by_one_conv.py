"""Why 1x1 convolutions matter, shown with numbers the project computes itself.

    python examples/one_by_one_conv.py                 # full sizes; pictures -> ./one_by_one/
    python examples/one_by_one_conv.py --out docs/images              # regenerate the docs' PNGs
    python examples/one_by_one_conv.py --quick --out /tmp/one_by_one    # small and fast (tests)

A 1x1 convolution looks at one pixel at a time: at every position (i, j) it maps that pixel's
C_in channel values to C_out values with one shared matrix, out[:, i, j] = W @ x[:, i, j] + b.
Each function below demonstrates one consequence and returns the numbers (and the layers):
docs/one_by_one_conv.md calls them and explains them, tests/test_one_by_one.py checks them against
formulas and numpy, ``main`` prints them.  The code lives here once; the page loads this file as
a module.

1. ``channel_reduction``     fewer (or more) channels, same H x W; C_in*C_out + C_out parameters
2. ``cross_channel_mixing``  it IS a Linear layer on every pixel's channel vector (and an einsum)
3. ``nonlinearity``          1x1 -> ReLU -> 1x1 learns per-pixel |c0 - c1|; one 1x1 cannot
4. ``bottleneck``            a 1x1 reduction in front of a 3x3 halves parameters and MACs
5. ``inception_comparison``  naive vs bottleneck Inception blocks (Inception-lite's, or any)
6. ``depth_stack``           five 1x1 conv + ReLU layers: deeper, never smaller
and ``feature_map_figure``: a real digit's feature maps before and after a *trained* 1x1 layer.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

import minitorch_cnn as mt
from minitorch_cnn import nn
from minitorch_cnn.io.fileio import atomic_open
from minitorch_cnn.models import ConvBNReLU, Inception, NaiveInception
from minitorch_cnn.nn import functional as F

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = [ROOT / "runs" / "inception_mnist" / "checkpoint.npz",        # your own run first
               ROOT / "checkpoints" / "inception_lite_background.npz"]      # shipped with the repo


# ----------------------------------------------------------------------- 1. fewer channels
def channel_reduction(h=500, w=500, cin=100, cout=20, grow=64, run=True, seed=0):
    """Shapes and parameter counts of a 1x1 conv cin -> cout (reduce) and cout -> grow (grow).

    ``mt.summary`` runs each layer once on zeros of (cin, h, w) and counts; ``run=True`` also
    pushes a random float32 image of that size through both layers (100 MB at 500x500x100).
    """
    reduce, expand = nn.Conv2d(cin, cout, 1), nn.Conv2d(cout, grow, 1)
    s_reduce = mt.summary(reduce, (cin, h, w))
    s_grow = mt.summary(expand, (cout, h, w))
    out = {"input_shape": (1, cin, h, w),
           "reduced_shape": s_reduce.output_shape, "reduce_params": s_reduce.total_params,
           "reduce_macs": s_reduce.total_macs,
           "grown_shape": s_grow.output_shape, "grow_params": s_grow.total_params,
           "input_megabytes": cin * h * w * 4 / 1e6, "layers": (reduce, expand)}
    if run:
        x = np.random.default_rng(seed).standard_normal((1, cin, h, w), dtype=np.float32)
        with mt.no_grad():
            y = reduce(mt.tensor(x))
            z = expand(y)
        out["ran_shapes"] = (y.shape, z.shape)
    return out


# ----------------------------------------------------------------------- 2. mixing channels
def cross_channel_mixing(seed=0):
    """The same 1x1 conv computed three ways; returns the largest differences (float64)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 6, 5, 7))                   # (N, C, H, W)
    conv = nn.Conv2d(6, 4, 1).double()
    linear = nn.Linear(6, 4).double()
    linear.weight.data[...] = conv.weight.data[:, :, 0, 0]  # Linear (out, in) = W[:, :, 0, 0]
    linear.bias.data[...] = conv.bias.data
    with mt.no_grad():
        by_conv = conv(mt.tensor(x)).data                                   # (N, O, H, W)
        # channels last: (N, H, W, C) -> Linear on every pixel -> (N, H, W, O) -> back to NCHW
        by_linear = linear(mt.tensor(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2).data
    by_einsum = np.einsum("oc,nchw->nohw", conv.weight.data[:, :, 0, 0], x) \
        + conv.bias.data[None, :, None, None]
    # one channel in, one out: the "convolution" is a scale and a shift, w * x + b
    scale = nn.Conv2d(1, 1, 1).double()
    with mt.no_grad():
        scaled = scale(mt.tensor(x[:, :1])).data
    w, b = scale.weight.data.item(), scale.bias.data.item()
    return {"conv_vs_linear": float(np.abs(by_conv - by_linear).max()),
            "conv_vs_einsum": float(np.abs(by_conv - by_einsum).max()),
            "one_channel_vs_scale": float(np.abs(scaled - (w * x[:, :1] + b)).max()),
            "shapes": (x.shape, by_conv.shape), "x": x, "conv": conv, "output": by_conv,
            "linear": linear}


# ----------------------------------------------------------------------- 3. non-linearity
def abs_diff_data(n, size, rng):
    """Images with two random channels in [0, 1] and the target |c0 - c1| at every pixel."""
    x = rng.uniform(0.0, 1.0, (n, 2, size, size)).astype(np.float32)
    return x, np.abs(x[:, :1] - x[:, 1:2])


def nonlinearity(steps=500, hidden=16, seed=0, lr=0.02):
    """Train one 1x1 conv and a 1x1 -> ReLU -> 1x1 stack to output |c0 - c1| per pixel.

    |a - b| = relu(a - b) + relu(b - a): two hidden ReLU units suffice, but no linear map
    c + k0*a + k1*b fits it (for a, b uniform the best one is the constant 1/3, MSE 1/18).
    Returns train/test MSE of both, and the least-squares optimum of any linear map (numpy).
    """
    rng = np.random.default_rng(seed)
    x, y = abs_diff_data(16, 8, rng)                      # 1024 training pixels
    x_test, y_test = abs_diff_data(16, 8, rng)
    np.random.seed(seed)                                  # weight init
    models = {"linear": nn.Conv2d(2, 1, 1),
              "two_layer": nn.Sequential(nn.Conv2d(2, hidden, 1), nn.ReLU(),
                                         nn.Conv2d(hidden, 1, 1))}
    out = {}
    for name, model in models.items():
        opt = mt.optim.Adam(model.parameters(), lr=lr)
        for _ in range(steps):
            loss = F.mse_loss(model(mt.tensor(x)), mt.tensor(y))
            opt.zero_grad()
            loss.backward()
            opt.step()
        with mt.no_grad():
            out[name] = float(F.mse_loss(model(mt.tensor(x)), mt.tensor(y)).item())
            out[name + "_test"] = float(F.mse_loss(model(mt.tensor(x_test)),
                                                   mt.tensor(y_test)).item())
    # the best any per-pixel linear map can do: least squares on [1, c0, c1]
    A = np.c_[np.ones(x[:, 0].size), x[:, 0].ravel(), x[:, 1].ravel()].astype(np.float64)
    coef = np.linalg.lstsq(A, y.ravel().astype(np.float64), rcond=None)[0]
    out["best_linear"] = float(np.mean((A @ coef - y.ravel()) ** 2))
    out["models"], out["test_data"] = models, (x_test, y_test)
    return out


# ----------------------------------------------------------------------- 4. the bottleneck
def bottleneck(cin=64, reduce_to=28, cout=64, size=28):
    """A 3x3 conv cin -> cout, directly and after a 1x1 reduction to ``reduce_to`` channels."""
    direct = nn.Conv2d(cin, cout, 3, padding=1)
    reduced = nn.Sequential(nn.Conv2d(cin, reduce_to, 1), nn.ReLU(),
                            nn.Conv2d(reduce_to, cout, 3, padding=1))
    a, b = mt.summary(direct, (cin, size, size)), mt.summary(reduced, (cin, size, size))
    return {"direct_params": a.total_params, "direct_macs": a.total_macs,
            "bottleneck_params": b.total_params, "bottleneck_macs": b.total_macs,
            "output_shape": a.output_shape, "bottleneck_output_shape": b.output_shape,
            "one_by_one_macs": b.rows[0]["macs"], "three_by_three_macs": b.rows[2]["macs"],
            "summaries": (a, b)}


# ----------------------------------------------------------------------- 5. Inception blocks
INCEPTION_BLOCKS = [(32, (16, 16, 24, 8, 8, 8)), (56, (32, 24, 48, 8, 16, 16))]
CIN_SWEEP = (16, 32, 56, 112, 224)          # input widths, with the second block's branches


def inception_comparison(size=14, blocks=INCEPTION_BLOCKS):
    """Inception blocks ``(cin, (b1, b2_reduce, b2, b3_reduce, b3, b4))`` -- by default both of
    Inception-lite -- against ``NaiveInception`` with the same output widths (b1, b2, b3, b4),
    counted by ``mt.summary`` for one (cin, size, size) input; a row per block, with both
    summaries (``summary``, ``naive_summary``: per-branch rows)."""
    rows = []
    for cin, (b1, b2r, b2, b3r, b3, b4) in blocks:
        s_b = mt.summary(Inception(cin, b1, b2r, b2, b3r, b3, b4), (cin, size, size))
        s_n = mt.summary(NaiveInception(cin, b1, b2, b3, b4), (cin, size, size))
        rows.append({"cin": cin, "block": f"Inception({cin}, {b1}, {b2r}, {b2}, {b3r}, {b3}, {b4})",
                     "naive": f"NaiveInception({cin}, {b1}, {b2}, {b3}, {b4})",
                     "naive_params": s_n.total_params, "params": s_b.total_params,
                     "naive_macs": s_n.total_macs, "macs": s_b.total_macs,
                     "param_ratio": s_n.total_params / s_b.total_params,
                     "mac_ratio": s_n.total_macs / s_b.total_macs,
                     "output_shape": s_b.output_shape, "naive_output_shape": s_n.output_shape,
                     "summary": s_b, "naive_summary": s_n})
    return rows


# ----------------------------------------------------------------------- 6. depth
def depth_stack(layers=5, channels=16, size=28, seed=0):
    """Shapes through ``layers`` x (1x1 conv + ReLU): H x W never changes."""
    np.random.seed(seed)
    stack = nn.Sequential(*[m for _ in range(layers) for m in (nn.Conv2d(channels, channels, 1),
                                                                nn.ReLU())])
    x = mt.tensor(np.random.default_rng(seed).standard_normal((1, channels, size, size),
                                                              dtype=np.float32))
    shapes = [x.shape]
    with mt.no_grad():
        for layer in stack:
            x = layer(x)
            shapes.append(x.shape)
    return {"shapes": shapes, "params": mt.summary(stack, (channels, size, size)).total_params,
            "stack": stack}


# ----------------------------------------------------------------------- the picture
class TinyNet(nn.Module):
    """Fallback when no checkpoint exists: 3x3 stem (16 maps) -> pool -> trained 1x1 (8 maps)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(ConvBNReLU(1, 16, 3), nn.MaxPool2d(2))      # (N, 16, 14, 14)
        self.mix = ConvBNReLU(16, 8, 1)                                       # (N, 8, 14, 14)
        self.head = nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 7 * 7, 10))

    def forward(self, x):
        return self.head(self.mix(self.stem(x)))


def train_tiny(steps=300, batch=64, seed=0):
    """Train ``TinyNet`` on MNIST for ``steps`` Adam steps; returns (model, final batch loss)."""
    np.random.seed(seed)
    train = mt.data.MNIST(train=True)
    model = TinyNet()
    opt = mt.optim.Adam(model.parameters(), lr=2e-3)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        idx = rng.integers(0, len(train), batch)
        loss = F.cross_entropy(model(mt.tensor(train.images[idx])), mt.tensor(train.labels[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), float(loss.item())


def load_trained(checkpoint=None, tiny_steps=300, search=True):
    """(stem, one_by_one, description): the layers before a trained 1x1 conv, and that 1x1.

    An InceptionLite checkpoint (``checkpoint``, else the first of ``CHECKPOINTS`` that exists):
    stem = features.0 (3x3 conv, 32 maps) + features.1 (2x2 max-pool), 1x1 = features.2.b1
    (the first Inception block's 1x1 branch, 32 -> 16).  Without one (or ``search=False``),
    ``train_tiny``.
    """
    from minitorch_cnn.cli.train import load_model_checkpoint
    paths = [Path(checkpoint)] if checkpoint else \
        [p for p in CHECKPOINTS if p.is_file()] if search else []
    if paths:
        model, _ = load_model_checkpoint(paths[0])
        model.eval()
        stem = nn.Sequential(model.features[0], model.features[1])
        name = paths[0].relative_to(ROOT) if paths[0].resolve().is_relative_to(ROOT) else paths[0]
        return stem, model.features[2].b1, f"InceptionLite from {name}: features.2.b1"
    model, loss = train_tiny(tiny_steps)
    return model.stem, model.mix, f"TinyNet trained {tiny_steps} steps (loss {loss:.3f}): mix"


def feature_maps(stem, one_by_one, digit):
    """digit (1, 28, 28) -> (maps before the 1x1 (C, h, w), after it (O, h, w), W (O, C))."""
    with mt.no_grad():
        before = stem(mt.tensor(digit[None]))
        after = one_by_one(before)
    return before.data[0], after.data[0], one_by_one[0].weight.data[:, :, 0, 0]


def _grid(maps, cols, scale):
    """(K, h, w) maps -> one grayscale tile image, each map stretched to its own [min, max]."""
    k, h, w = maps.shape
    rows = -(-k // cols)
    pad = 2
    img = np.full((rows * (h * scale + pad) + pad, cols * (w * scale + pad) + pad), 255, np.uint8)
    for i, m in enumerate(maps):
        v = m - m.min()
        v = (255 * (1 - v / v.max())) if v.max() > 0 else np.full_like(v, 255)   # dark = strong
        r, c = divmod(i, cols)
        y0, x0 = pad + r * (h * scale + pad), pad + c * (w * scale + pad)
        img[y0:y0 + h * scale, x0:x0 + w * scale] = np.kron(v, np.ones((scale, scale)))
    return Image.fromarray(img).convert("RGB")


def _weights_image(W, scale):
    """(O, C) matrix -> red (positive) / blue (negative) cells."""
    v = W / np.abs(W).max()
    rgb = np.ones(W.shape + (3,))
    rgb[..., 1] = 1 - np.abs(v)
    rgb[..., 0] = np.where(v < 0, 1 - np.abs(v), 1)
    rgb[..., 2] = np.where(v > 0, 1 - v, 1)
    rgb = np.kron(rgb, np.ones((scale, scale, 1)))
    return Image.fromarray((255 * rgb).astype(np.uint8))


def feature_map_figure(path, checkpoint=None, index=0, tiny_steps=300, search=True):
    """Write the figure: test digit ``index``, the maps entering a trained 1x1 conv, its weight
    matrix, the maps leaving it.  Returns a dict with the shapes and the source."""
    test = mt.data.MNIST(train=False)
    digit, label = test.images[index], int(test.labels[index])
    stem, one_by_one, source = load_trained(checkpoint, tiny_steps, search)
    before, after, W = feature_maps(stem, one_by_one, digit)
    panels = [("test digit (label %d)" % label, _grid(digit, 1, 4)),
              (f"{before.shape[0]} maps entering the 1x1, {before.shape[1]}x{before.shape[2]}",
               _grid(before, 8, 3)),
              (f"its weights W {W.shape[0]}x{W.shape[1]} (red +, blue -)", _weights_image(W, 8)),
              (f"{after.shape[0]} maps leaving it, {after.shape[1]}x{after.shape[2]} "
               "(= ReLU(BN(W @ pixel)))", _grid(after, 8, 3))]
    width = max(p.width for _, p in panels) + 20
    height = sum(p.height + 24 for _, p in panels) + 30
    fig = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(fig)
    draw.text((10, 6), source, fill="black")
    y = 26
    for title, panel in panels:
        draw.text((10, y), title, fill="black")
        fig.paste(panel, (10, y + 16))
        y += panel.height + 24
    _save(fig, path)
    return {"source": source, "label": label, "before": before.shape, "after": after.shape,
            "weights": W.shape}


def nonlinearity_figure(result, path, scale=12):
    """One test image: c0, c1, target |c0 - c1|, the linear 1x1's output, the two-layer output."""
    x, y = result["test_data"]
    with mt.no_grad():
        lin = result["models"]["linear"](mt.tensor(x[:1])).data[0, 0]
        two = result["models"]["two_layer"](mt.tensor(x[:1])).data[0, 0]
    tiles = [("c0", x[0, 0]), ("c1", x[0, 1]), ("|c0-c1|", y[0, 0]), ("one 1x1", lin),
             ("1x1-ReLU-1x1", two)]
    size = x.shape[-1] * scale
    fig = Image.new("RGB", (len(tiles) * (size + 10) + 10, size + 30), "white")
    draw = ImageDraw.Draw(fig)
    for i, (title, v) in enumerate(tiles):
        g = (255 * (1 - np.clip(v, 0, 1))).astype(np.uint8)         # same scale 0..1 for all
        fig.paste(Image.fromarray(np.kron(g, np.ones((scale, scale), np.uint8))),
                  (10 + i * (size + 10), 24))
        draw.text((10 + i * (size + 10), 6), title, fill="black")
    _save(fig, path)


def _save(image, path):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as f:
        image.save(f, format="PNG")


# ----------------------------------------------------------------------- main
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes and few steps (tests)")
    p.add_argument("--out", default="one_by_one", help="folder for the PNGs (default "
                   "./one_by_one; the docs' pictures: --out docs/images)")
    p.add_argument("--checkpoint", default=None, help="InceptionLite checkpoint for the picture")
    p.add_argument("--tiny", action="store_true", help="ignore checkpoints, train TinyNet")
    args = p.parse_args(argv)
    out = Path(args.out)
    size = 50 if args.quick else 500

    r = channel_reduction(h=size, w=size)
    print(f"1. 1x1 conv, 20 filters: {r['input_shape']} -> {r['reduced_shape']}, "
          f"{r['reduce_params']:,} parameters (100*20 + 20); 20 -> 64 filters: "
          f"{r['grown_shape']}, {r['grow_params']:,} parameters")
    m = cross_channel_mixing()
    print(f"2. max |conv - Linear on channels-last| = {m['conv_vs_linear']:.1e}, "
          f"max |conv - einsum| = {m['conv_vs_einsum']:.1e}, one channel vs w*x+b: "
          f"{m['one_channel_vs_scale']:.1e}")
    n = nonlinearity()
    print(f"3. target |c0 - c1| per pixel, MSE after 500 Adam steps: one 1x1 conv "
          f"{n['linear']:.4f} (test {n['linear_test']:.4f}; best linear map {n['best_linear']:.4f})"
          f", 1x1 -> ReLU -> 1x1 {n['two_layer']:.5f} (test {n['two_layer_test']:.5f})")
    b = bottleneck()
    print(f"4. 3x3 conv 64->64 on 28x28: {b['direct_params']:,} params, {b['direct_macs']:,} MACs;"
          f" 1x1 64->28 + 3x3 28->64: {b['bottleneck_params']:,} params, "
          f"{b['bottleneck_macs']:,} MACs")
    for row in inception_comparison():
        print(f"5. {row['block']} vs {row['naive']} (14x14): params {row['naive_params']:,} -> "
              f"{row['params']:,} ({row['param_ratio']:.2f}x), MACs {row['naive_macs']:,} -> "
              f"{row['macs']:,} ({row['mac_ratio']:.2f}x)")
    sweep = inception_comparison(blocks=[(cin, INCEPTION_BLOCKS[1][1]) for cin in CIN_SWEEP])
    print("5. branches of the second block, MACs naive / bottleneck by C_in: "
          + ", ".join(f"{r['cin']}: {r['mac_ratio']:.2f}x" for r in sweep))
    d = depth_stack()
    print(f"6. five 1x1 conv + ReLU layers: {' -> '.join(str(s[1:]) for s in d['shapes'][::2])}, "
          f"{d['params']:,} parameters")
    nonlinearity_figure(n, out / "one_by_one_nonlinearity.png")
    f = feature_map_figure(out / "one_by_one_feature_maps.png", args.checkpoint,
                           tiny_steps=30 if args.quick else 300, search=not args.tiny)
    print(f"picture: {f['source']}; digit {f['label']}: maps {f['before']} -> {f['after']}; "
          f"wrote {out / 'one_by_one_feature_maps.png'}, {out / 'one_by_one_nonlinearity.png'}")
    return {"reduction": r, "mixing": m, "nonlinearity": n, "bottleneck": b, "figure": f}


if __name__ == "__main__":
    main()
    sys.exit(0)
