"""Detection on real pictures: normalisation, tiles, the pyramid, threshold boundaries, the
CLI's checks and pictures (issue #12, #13)."""
import json

import numpy as np
import pytest
from PIL import Image

import minitorch_cnn as mt
from minitorch_cnn.cli import detect as cli
from minitorch_cnn.data import MNIST
from minitorch_cnn.tools.detection import (BACKGROUND, MAX_PIXELS, NUM_CLASSES, REACH, STRIDE, WINDOW,
                                  class_maps, detections_from_maps, make_page, match,
                                  merge_scales, nms, picture_to_ink, pyramid_sizes, rule_page,
                                  tiled_class_maps, to_ink)

CKPT = cli.DEFAULT_CHECKPOINT
needs_ckpt = pytest.mark.skipif(not CKPT.is_file(), reason="shipped checkpoint missing")


@pytest.fixture(scope="module")
def test_digits():
    test = MNIST(train=False)
    return test.images[:50], test.labels[:50]


# ------------------------------------------------------------------------------ normalisation
def test_one_sparse_digit_on_a_big_black_picture_keeps_its_ink(test_digits):
    digit = np.clip(to_ink(test_digits[0][0, 0]), 0, 1)
    for S in (350, 1000):                   # ink covers 0.5 % and 0.06 % of the picture
        gray = np.zeros((S, S), np.float32)
        gray[100:128, 150:178] = digit
        ink = picture_to_ink(gray)
        assert ink[100:128, 150:178].max() == 1.0 and (ink[:90] == 0).all()
        np.testing.assert_allclose(ink[100:128, 150:178], np.clip(digit / np.percentile(
            digit[digit > 0.02], 90), 0, 1), atol=1e-5)


def test_dark_ink_on_paper_with_a_gradient_and_noise_becomes_mnist_ink(test_digits):
    rng = np.random.default_rng(0)
    H, W = 300, 400
    xx = np.mgrid[0:H, 0:W][1] / W
    digit = np.asarray(Image.fromarray(np.clip(to_ink(test_digits[0][1, 0]), 0, 1)).resize(
        (84, 84), Image.BILINEAR))
    ink_true = np.zeros((H, W), np.float32)
    ink_true[50:134, 250:334] = digit
    paper = 0.55 + 0.35 * xx                 # a strong shadow: 0.55 on the left, 0.9 right
    gray = (paper * (1 - 0.8 * ink_true) + rng.normal(0, 0.02, (H, W))).astype(np.float32)
    ink = picture_to_ink(gray)
    assert ink[50:134, 250:334].max() == 1.0
    away = np.ones((H, W), bool)
    away[40:144, 240:344] = False
    assert (ink[away] > 0.3).mean() < 1e-3   # paper (left and right alike) is black
    assert np.corrcoef(ink[50:134, 250:334].ravel(), digit.ravel())[0, 1] > 0.95


def _paper(test_digits, seed, shape=(300, 400)):
    return make_page(*test_digits, np.random.default_rng(seed), shape=shape, count=(0, 0))[0]


def _tilted_line(gray, y, thick, keep, slope, vertical=False):
    g = gray.T if vertical else gray
    for x in range(g.shape[1]):
        yy = int(round(y + slope * x))
        if 0 <= yy < g.shape[0]:
            g[yy:yy + thick, x] *= keep


def test_ruled_lines_a_margin_and_a_grid_are_taken_out_before_the_ink_scale(test_digits):
    """No digit on the page: before, the ink scale came from the faint lines themselves and
    stretched them to full ink (a margin line then reads as a column of 1s)."""
    gray = _paper(test_digits, 0)
    for y in range(12, 300, 31):
        gray[y:y + 2] *= 0.8                                      # exercise-book lines
    gray[:, 40:42] *= 0.75                                        # the margin
    _tilted_line(gray, 30, 2, 0.75, 0.03, vertical=True)          # a line tilted 1.7 degrees
    _tilted_line(gray, 100, 3, 0.8, -0.05)                        # ... and 2.9 degrees
    ink = picture_to_ink(gray)
    assert (ink > 0.5).mean() < 2e-3, (ink > 0.5).mean()           # before: 0.07
    assert ink[:, 40:42].max() < 0.5                              # ... to its very ends
    grid = _paper(test_digits, 1, (450, 600))                     # an empty table
    grid[::75] *= 0.5
    grid[:, ::75] *= 0.5
    assert (picture_to_ink(grid) > 0.5).mean() < 2e-3             # crossings too


def test_line_removal_keeps_a_1_and_the_strokes_that_cross_a_line(test_digits):
    """A "1" of 100 px standing on the margin line and crossed by a ruled line: the lines go,
    the 1 (a vertical stroke shorter than a line: 40 % of the side) keeps its ink, also where
    the ruled line crosses it."""
    one = int(np.flatnonzero(test_digits[1] == 1)[0])
    digit = np.asarray(Image.fromarray(np.clip(to_ink(test_digits[0][one, 0]), 0, 1)).resize(
        (100, 100), Image.BILINEAR))
    plain = _paper(test_digits, 2)
    plain[100:200, 60:160] *= 1 - 0.8 * digit
    lined = plain.copy()
    lined[148:150] *= 0.75                                        # through the 1
    lined[:, 95:97] *= 0.75                                       # a margin line beside it
    ink, ref = picture_to_ink(lined), picture_to_ink(plain)
    stroke = ref > 0.5
    assert stroke[148:150].sum() >= 4                             # the line does cross it
    assert ink[148:150][stroke[148:150]].min() > 0.5              # ... and it keeps its ink
    assert np.corrcoef(ink[100:200, 60:160].ravel(), ref[100:200, 60:160].ravel())[0, 1] > 0.97
    away = np.ones(ink.shape, bool)
    away[95:205, 55:165] = False
    assert (ink[away] > 0.5).mean() < 2e-3                        # the lines are gone


def test_a_column_of_1s_is_not_a_line(test_digits):
    """Four upright 1s (bars 50 px long, 4 px thick) one under the other, 72 px apart (a list of
    numbers: digits of 72 px, a 1's stroke 0.7 of it as in MNIST), on a page 300 px high: a
    vertical run of ink longer than 40 % of the side, 4 px thick, but with gaps (70 % ink):
    not a line, with or without ruled lines across it."""
    plain = _paper(test_digits, 3)
    for i in range(4):
        plain[8 + 72 * i:58 + 72 * i, 150:154] *= 0.3
    lined = plain.copy()
    lined[20::31] *= 0.8
    for gray in (plain, lined):
        ink = picture_to_ink(gray)
        for i in range(4):
            assert ink[8 + 72 * i:58 + 72 * i, 150:154].mean() > 0.9


def test_bad_pictures_are_one_clear_error():
    with pytest.raises(ValueError, match="non-empty"):
        picture_to_ink(np.zeros((0, 5)))
    nan = np.zeros((40, 40), np.float32)
    nan[3, 4] = np.nan
    with pytest.raises(ValueError, match="1 non-finite pixel"):
        picture_to_ink(nan)
    huge = np.broadcast_to(np.float32(0.5), (8000, MAX_PIXELS // 8000 + 1))   # no memory used
    with pytest.raises(ValueError, match="megapixels, more than the 50 allowed"):
        picture_to_ink(huge)
    assert (picture_to_ink(np.full((50, 60), 0.7, np.float32)) == 0).all()    # blank paper


def test_cli_refuses_a_float_tiff_with_a_nan(tmp_path):
    a = np.zeros((40, 40), np.float32)
    a[5, 5] = np.nan
    Image.fromarray(a, mode="F").save(tmp_path / "nan.tif")
    with pytest.raises(SystemExit, match="non-finite"):
        cli.run(["--image", str(tmp_path / "nan.tif")])


# ------------------------------------------------------------------------------ tiles
@pytest.fixture(scope="module")
def random_fcn():
    np.random.seed(0)
    return mt.fc_to_conv(mt.models.InceptionLite(NUM_CLASSES).eval(), (1, WINDOW, WINDOW))


def test_tiled_class_maps_equal_one_pass(random_fcn):
    ink = np.random.default_rng(1).random((150, 131)).astype(np.float32)
    full = class_maps(random_fcn, ink)
    calls = []
    for tile in (32, 48, 1024):
        tiled = tiled_class_maps(random_fcn, ink, tile, progress=calls.append)
        np.testing.assert_allclose(tiled, full, rtol=0, atol=1e-6)
    # 31 x 26 output cells: tiles of 8 (16 tiles), of 12 (9), of 256 (1)
    assert len(calls) == 16 + 9 + 1 and cli.tile_count(ink.shape, 32) == 16
    # too little overlap is visibly wrong: the test can fail
    assert np.abs(tiled_class_maps(random_fcn, ink, 32, reach=4) - full).max() > 1e-5
    with pytest.raises(ValueError, match="multiples of 4"):
        tiled_class_maps(random_fcn, ink, 30)


def test_reach_covers_the_receptive_field(random_fcn):
    """A pixel changes only the output cells whose window lies within REACH of it."""
    ink = np.random.default_rng(2).random((120, 120)).astype(np.float32)
    base = class_maps(random_fcn, ink)
    y, x = 61, 58
    ink[y, x] += 1.0
    changed = np.abs(class_maps(random_fcn, ink) - base).max(0) > 1e-7
    for i, j in zip(*np.nonzero(changed)):
        assert STRIDE * i - REACH <= y < STRIDE * i + WINDOW + REACH
        assert STRIDE * j - REACH <= x < STRIDE * j + WINDOW + REACH
    assert changed.sum() > 49                   # the field is wider than the window itself


# ------------------------------------------------------------------------------ pyramid
def test_pyramid_sizes_defaults_and_bounds():
    small = pyramid_sizes((140, 140))
    assert small[0] == 16 and small[-1] >= 140 / 2 ** (1 / 6)
    np.testing.assert_allclose(np.diff(np.log(small)), np.log(2) / 3)
    photo = pyramid_sizes((3000, 4000))          # a phone photo: bounded work by default
    area = sum(3000 * 4000 * (WINDOW / D) ** 2 for D in photo)
    assert 50 < photo[0] < 60 and area <= 8e6
    assert pyramid_sizes((3000, 4000), 60, 300)[0] == 60
    assert pyramid_sizes((3000, 4000), 60, 300)[-1] < 300 * 2 ** (1 / 6)
    with pytest.raises(ValueError, match="min_size <= max_size"):
        pyramid_sizes((100, 100), 50, 40)


def test_merge_scales_suppresses_contained_boxes_and_averages_sizes():
    dets = [{"label": 3, "score": 0.9, "box": [100, 100, 200, 200]},     # the digit
            {"label": 3, "score": 0.6, "box": [90, 90, 210, 210]},       # a coarser scale
            {"label": 0, "score": 0.95, "box": [110, 150, 140, 180]},    # a loop inside it
            {"label": 7, "score": 0.8, "box": [300, 100, 340, 140]}]     # another digit
    out = merge_scales(dets, 0.2)
    assert [d["label"] for d in out] == [0, 3, 7]
    # the loop scored best: a box is dropped only when it lies inside a better one, so the 3
    # that holds the better loop stays (and the coarser 3, inside the best 3, goes). With the
    # digit best, the loop goes and the two scales of the 3 are averaged by score:
    dets[2]["score"] = 0.5
    out = merge_scales(dets, 0.2)
    assert [d["label"] for d in out] == [3, 7]
    np.testing.assert_allclose(out[0]["box"], [100 - 10 * 0.6 / 1.5, 100 - 10 * 0.6 / 1.5,
                                               200 + 10 * 0.6 / 1.5, 200 + 10 * 0.6 / 1.5])
    assert merge_scales([], 0.2) == []


def test_make_page_is_light_paper_with_non_overlapping_digits_of_the_asked_sizes(test_digits):
    gray, truth = make_page(*test_digits, np.random.default_rng(4))
    assert gray.shape == (300, 400) and gray.dtype == np.float32 and 5 <= len(truth) <= 10
    assert 0.6 < np.median(gray) < 0.98 and gray.min() < 0.5          # paper, dark ink
    boxes = np.array([t["box"] for t in truth], float)
    sides = boxes[:, 2] - boxes[:, 0]
    assert (sides == boxes[:, 3] - boxes[:, 1]).all() and sides.min() >= 24 and sides.max() <= 110
    inter = np.minimum(boxes[:, None, 2:], boxes[None, :, 2:]) - np.maximum(
        boxes[:, None, :2], boxes[None, :, :2])
    assert ((inter.clip(0).prod(-1) > 0).sum(1) == 1).all()            # only with itself
    ink = picture_to_ink(gray)
    for t in truth:                                                    # every digit is there
        x0, y0, x1, y1 = t["box"]
        assert ink[y0:y1, x0:x1].max() == 1.0


# ------------------------------------------------------------------------------ thresholds
def test_match_at_exactly_its_iou_threshold():
    truth = [{"label": 4, "box": [0, 0, 10, 10]}]
    half = {"label": 4, "score": 0.9, "box": [0, 0, 10, 20]}           # IoU 100 / 200 = 0.5
    assert match([half], truth) == 1 and match([half], truth, iou_threshold=0.5) == 1
    below = dict(half, box=[0, 0, 10, 20.5])                           # 100 / 205 < 0.5
    assert match([below], truth) == 0
    assert match([dict(half, label=5)], truth) == 0


def test_nms_at_exactly_its_iou_threshold():
    boxes, scores = [[0, 0, 10, 10], [0, 0, 10, 20]], np.array([0.9, 0.8])   # IoU exactly 0.5
    assert nms(boxes, scores, 0.5).tolist() == [0, 1]                  # not above: kept
    assert nms(boxes, scores, np.nextafter(0.5, 0)).tolist() == [0]    # just above: dropped


def _maps(OH, OW):
    m = np.zeros((NUM_CLASSES, OH, OW), np.float32)
    m[BACKGROUND] = 1.0
    return m


def _put(m, i, j, probs):
    m[:, i, j] = 0
    for c, p in probs.items():
        m[c, i, j] = p


def test_a_window_exactly_at_the_threshold_is_a_detection():
    m = _maps(5, 5)
    _put(m, 2, 2, {6: 0.5, BACKGROUND: 0.25, 1: 0.25})
    dets = detections_from_maps(m, threshold=0.5)
    assert [(d["label"], d["score"]) for d in dets] == [(6, 0.5)]
    assert detections_from_maps(m, threshold=np.nextafter(np.float32(0.5), 1)) == []


def test_the_vote_wins_at_exactly_the_threshold_and_loses_just_below():
    m = _maps(3, 3)
    _put(m, 1, 1, {3: 0.9, BACKGROUND: 0.1})
    for i, j in [(0, 0), (0, 1), (0, 2), (1, 0)]:
        _put(m, i, j, {5: 0.5, BACKGROUND: 0.5})         # 4 x 0.5 = 2.0 > 0.9: 5 wins the vote
    dets = detections_from_maps(m, threshold=0.5, refine=False)
    assert [(d["label"], d["score"]) for d in dets] == [(5, 0.5)]
    for i, j in [(0, 0), (0, 1), (0, 2), (1, 0)]:
        _put(m, i, j, {5: np.nextafter(np.float32(0.5), 0), BACKGROUND: 0.5})
    dets = detections_from_maps(m, threshold=0.5, refine=False)
    assert [(d["label"], d["score"]) for d in dets] == [(3, pytest.approx(0.9))]
    assert detections_from_maps(m, threshold=0.5, refine=False, vote=False)[0]["label"] == 3


# ------------------------------------------------------------------------------ the CLI
def test_unwritable_outputs_are_refused_before_any_work(tmp_path):
    ok = tmp_path / "ok.png"
    Image.new("L", (40, 40)).save(ok)
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    missing_ckpt = str(tmp_path / "none.npz")      # had any work started, this would fail
    for flag in ("--json", "--png", "--heatmap"):
        for bad in (a_file / "out", "/proc/i12-no-such/out"):
            with pytest.raises(SystemExit, match=f"error: {flag} .* cannot be written"):
                cli.run(["--image", str(ok), flag, str(bad), "--checkpoint", missing_ckpt])
        with pytest.raises(SystemExit, match="is a folder"):
            cli.run(["--image", str(ok), flag, str(tmp_path), "--checkpoint", missing_ckpt])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "ok.png"]   # no probes


@pytest.mark.parametrize("seed", ["-1", str(2 ** 32), "1.5"])
def test_seed_out_of_range_is_one_line(seed, capsys):
    with pytest.raises(SystemExit):
        cli.run(["--demo", "--seed", seed])
    err = capsys.readouterr().err.strip().splitlines()
    assert "argument --seed" in err[-1] and "Traceback" not in "".join(err)
    assert cli.build_parser().parse_args(["--seed", str(2 ** 32 - 1)]).seed == 2 ** 32 - 1


def test_the_help_reads_as_it_should():
    # every option's help with its default once: test_hardening, with the other programs
    text = " ".join(cli.build_parser().format_help().split())
    assert "--canvases CANVASES how many canvases --demo canvases generates (default: 200)" \
        in text and "--seed SEED seed of the demo" in text


def test_too_big_a_picture_is_refused_from_its_header(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "MAX_PIXELS", 1000)
    Image.new("L", (40, 30)).save(tmp_path / "big.png")
    with pytest.raises(SystemExit, match="40x30 = 0.0 megapixels, more than"):
        cli.run(["--image", str(tmp_path / "big.png")])


@needs_ckpt
def test_single_digits_on_big_black_pictures_are_found(tmp_path, test_digits):
    digit = (np.clip(to_ink(test_digits[0][0, 0]), 0, 1) * 255).astype(np.uint8)
    gray = np.zeros((350, 350), np.uint8)
    gray[100:128, 150:178] = digit
    Image.fromarray(gray).save(tmp_path / "one.png")
    res = cli.run(["--image", str(tmp_path / "one.png"), "--min-size", "24", "--max-size", "36",
                    "--json", str(tmp_path / "one.json")])
    truth = [{"label": int(test_digits[1][0]), "box": [150, 100, 178, 128]}]
    assert len(res["detections"]) == 1 and match(res["detections"], truth) == 1
    d = json.loads((tmp_path / "one.json").read_text())["detections"][0]
    assert set(d) == {"label", "score", "box", "scale"} and 28 / 36 - 1e-3 <= d["scale"] <= 28 / 24 + 1e-3


@needs_ckpt
def test_heatmap_and_png_are_written_and_show_the_detections(tmp_path, test_digits):
    gray = np.zeros((140, 140), np.uint8)
    gray[40:68, 60:88] = (np.clip(to_ink(test_digits[0][0, 0]), 0, 1) * 255).astype(np.uint8)
    Image.fromarray(gray).save(tmp_path / "c.png")
    heat, png = tmp_path / "h.png", tmp_path / "p.png"
    res = cli.run(["--image", str(tmp_path / "c.png"), "--scale", "1", "--heatmap", str(heat),
                    "--png", str(png)])
    (d,) = res["detections"]
    with Image.open(heat) as h:
        zoom = cli._zoom_for((140, 140))
        assert h.size[0] == 140 * zoom and h.size[1] > 140 * zoom       # picture + legend
        a = np.asarray(h.convert("RGB"))
    x0, y0, x1, y1 = d["box"]
    centre = a[int((y0 + y1) / 2 * zoom), int((x0 + x1) / 2 * zoom)].astype(float)
    colour = np.asarray(cli.COLOURS[d["label"]], float)
    # the winning digit's colour, as bright as its probability; black far from any digit
    np.testing.assert_allclose(centre, colour * d["score"], atol=40)
    assert a[5 * zoom, 130 * zoom].max() == 0
    with Image.open(png) as p:
        assert p.size[0] == 2 * 140 * zoom + 8 and p.size[1] > 140 * zoom


@needs_ckpt
def test_the_shipped_detector_ignores_the_lines_of_an_exercise_book(test_digits):
    """Ruled lines and a margin line on a page with no digits: the normalisation stretches the
    faint lines to full ink (nothing else is ink), and a vertical line then looks like a "1";
    the background class must reject it. (The shipped checkpoint alone gave about 10 false
    "1"s a page; ``picture_to_ink`` now takes long lines out first.)"""
    conv = cli.load_detector(CKPT)
    rng = np.random.default_rng(5)
    false = 0
    for _ in range(3):
        gray, _ = make_page(*test_digits, rng, count=(0, 0))
        lined = rule_page(gray, rng)
        lined[:, 30:32] *= 0.75                                    # the margin line, always
        false += len(cli.detect_image(conv, lined, min_size=20, max_size=140,
                                      progress=False)[0])
    assert false == 0
