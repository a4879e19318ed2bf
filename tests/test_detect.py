"""Detection on canvases: IoU, NMS, class maps -> boxes, the background generator, the CLI."""
import json

import numpy as np
import pytest
from PIL import Image

import minitorch_cnn as mt
from minitorch_cnn.cli import detect as cli
from minitorch_cnn.data import MNIST, translate
from minitorch_cnn.tools.detection import (BACKGROUND, NUM_CLASSES, BackgroundMix, class_maps,
                                  detections_from_maps, from_ink, iou, make_canvas, match, nms,
                                  to_ink)
from minitorch_cnn.tools.detection import clutter, zoom_about_centre

CKPT = cli.DEFAULT_CHECKPOINT


# ------------------------------------------------------------------------------ IoU and NMS
def test_iou_hand_values():
    a = [[0, 0, 10, 10]]
    b = [[0, 0, 10, 10], [5, 0, 15, 10], [10, 10, 20, 20], [2, 2, 4, 4], [20, 0, 30, 5]]
    # same; half overlap 50/150; touching corner; inside 4/100; disjoint
    np.testing.assert_allclose(iou(a, b), [[1.0, 50 / 150, 0.0, 4 / 100, 0.0]])
    np.testing.assert_allclose(iou(b, a), iou(a, b).T)          # symmetric, shape (5, 1)
    # two 28x28 windows one stride (4 px) apart on both axes: 24*24 / (2*784 - 576)
    assert iou([0, 0, 28, 28], [4, 4, 32, 32])[0, 0] == pytest.approx(576 / 992)


def test_nms_keeps_the_best_of_each_cluster():
    boxes = np.array([[0, 0, 10, 10],        # cluster A, score .9
                      [1, 1, 11, 11],        # A, .8 -> suppressed (IoU 81/119 = .68)
                      [50, 50, 60, 60],      # cluster B, .7
                      [52, 50, 62, 60],      # B, .95 -> the best of B, suppresses [2]
                      [8, 8, 18, 18]])       # overlaps A only a little (IoU 4/196) -> kept
    scores = np.array([0.9, 0.8, 0.7, 0.95, 0.6])
    assert nms(boxes, scores, 0.2).tolist() == [3, 0, 4]
    assert nms(boxes, scores, 0.0).tolist() == [3, 0]      # any overlap at all suppresses
    assert nms(boxes, scores, 1.0).tolist() == [3, 0, 1, 2, 4]
    assert nms(np.zeros((0, 4)), np.zeros(0)).tolist() == []
    with pytest.raises(ValueError, match="nms: 2 boxes but 1 scores"):
        nms(boxes[:2], scores[:1])


def _maps(OH, OW, peaks):
    """Class maps that say background everywhere except the given {(i, j): (label, p)}."""
    m = np.full((NUM_CLASSES, OH, OW), 0.0, np.float32)
    m[BACKGROUND] = 1.0
    for (i, j), (c, p) in peaks.items():
        m[:, i, j] = (1 - p) / (NUM_CLASSES - 1)
        m[c, i, j] = p
    return m


def test_detections_from_maps_boxes_threshold_and_suppression():
    m = _maps(10, 12, {(2, 3): (7, 0.99), (2, 4): (7, 0.8),    # one digit seen by two windows
                       (8, 1): (3, 0.9), (6, 9): (5, 0.4)})    # a second; one below threshold
    dets = detections_from_maps(m, threshold=0.5, nms_iou=0.2, refine=False, vote=False)
    assert [(d["label"], d["box"]) for d in dets] == [(7, [12, 8, 40, 36]), (3, [4, 32, 32, 60])]
    assert dets[0]["score"] == pytest.approx(0.99)
    # refinement moves the box towards the weaker neighbour, weighted by probability
    refined = detections_from_maps(m, 0.5, 0.2, refine=True)[0]["box"]
    x = 4 * (0.99 * 3 + 0.8 * 4) / (0.99 + 0.8)      # label 7 is 0 in the other cells
    assert refined[0] == pytest.approx(x, abs=0.01) and refined[1] == 8.0
    assert detections_from_maps(m, threshold=0.995) == []
    with pytest.raises(ValueError, match=r"expected \(11, OH, OW\)"):
        detections_from_maps(m[:10])


def test_vote_never_reports_a_score_below_threshold_and_results_are_best_first():
    # a 3 at 0.90 surrounded by eight windows that give 5 a little less than half: 5 has more
    # probability in the neighbourhood (8 * 0.46 > 0.9), but no window is sure of it
    m = np.zeros((NUM_CLASSES, 3, 20), np.float32)
    m[BACKGROUND] = 1.0

    def put(i, j, probs):
        m[:, i, j] = 0
        for c, p in probs.items():
            m[c, i, j] = p
    put(1, 1, {3: 0.90, BACKGROUND: 0.10})
    for i, j in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1), (2, 2)]:
        put(i, j, {5: 0.46, BACKGROUND: 0.54})
    put(1, 15, {8: 0.80, BACKGROUND: 0.20})
    dets = detections_from_maps(m, threshold=0.5)
    assert [(d["label"], round(d["score"], 2)) for d in dets] == [(3, 0.9), (8, 0.8)]
    # where the neighbours are sure enough, the vote wins
    for i, j in [(0, 0), (0, 1), (0, 2), (1, 0)]:
        put(i, j, {5: 0.7, BACKGROUND: 0.3})
    dets = detections_from_maps(m, threshold=0.5)
    assert [(d["label"], round(d["score"], 2)) for d in dets] == [(8, 0.8), (5, 0.7)]


def test_class_maps_keeps_the_model_mode_and_refuses_an_empty_batch():
    model = mt.nn.Sequential(mt.nn.Conv2d(1, NUM_CLASSES, 28), mt.nn.Dropout(0.5)).train()
    model[0].weight.data[:] = 0                     # logits = bias everywhere: known softmax
    model[0].bias.data[:] = np.arange(NUM_CLASSES, dtype=np.float32) / 4
    maps = class_maps(model, np.zeros((2, 30, 33), np.float32))
    assert maps.shape == (2, NUM_CLASSES, 3, 6) and model.training and model[1].training
    e = np.exp(np.arange(NUM_CLASSES) / 4)
    np.testing.assert_allclose(maps, np.broadcast_to((e / e.sum())[None, :, None, None],
                                                     maps.shape), rtol=1e-6)
    # one weight, on pixel (5, 9) of the window (this model has stride 1): of all windows,
    # only the one with top-left corner (4, 8) has the one bright pixel (9, 17) there
    model[0].weight.data[3, 0, 5, 9] = 10.0
    ink = np.zeros((40, 40), np.float32)
    ink[5 + 4, 9 + 8] = 1.0
    m = class_maps(model, ink)
    hot = m[3] > m[3].min() + 1e-3
    assert m.shape == (NUM_CLASSES, 13, 13) and hot.sum() == 1 and hot[4, 8]
    with pytest.raises(ValueError, match=r"class_maps: expected .*N >= 1"):
        class_maps(model, np.zeros((0, 30, 30), np.float32))


def test_make_canvas_gives_up_loudly_when_the_digits_cannot_fit():
    images, labels = np.zeros((3, 1, 28, 28), np.float32), np.arange(3)
    with pytest.raises(ValueError, match="make_canvas: found no free place for digit 2 of 2"):
        make_canvas(images, labels, np.random.default_rng(0), size=28, count=(2, 2))
    with pytest.raises(ValueError, match="make_canvas: need size >= 28"):
        make_canvas(images, labels, np.random.default_rng(0), size=20)


def test_match_counts_each_truth_once_and_needs_the_label():
    truth = [{"label": 1, "box": [0, 0, 28, 28]}, {"label": 2, "box": [40, 0, 68, 28]}]
    dets = [{"label": 1, "score": 0.9, "box": [2, 2, 30, 30]},
            {"label": 1, "score": 0.8, "box": [0, 0, 28, 28]},     # duplicate of a matched one
            {"label": 3, "score": 0.9, "box": [40, 0, 68, 28]}]    # right place, wrong label
    assert match(dets, truth) == 1
    assert match([{"label": 2, "score": 1, "box": [52, 0, 80, 28]}], truth) == 0  # IoU 16/40


# ------------------------------------------------------------------------------ generator
@pytest.fixture(scope="module")
def digits():
    train = MNIST(train=True)
    return train.images[:64], train.labels[:64]


def test_background_mix_shapes_labels_and_reproducibility(digits):
    x, y = digits
    xm, ym = BackgroundMix()(x, y, np.random.default_rng(5))
    assert xm.shape == x.shape and xm.dtype == np.float32 and ym.dtype == np.int64
    assert set(np.unique(ym)) <= set(range(11)) and 10 <= (ym == BACKGROUND).sum() <= 54
    digit = ym != BACKGROUND
    np.testing.assert_array_equal(ym[digit], y[digit])             # digit windows keep labels
    assert -0.43 < xm.min() and xm.max() < 2.83                   # still MNIST-normalised ink
    xa, ya = BackgroundMix()(x, y, np.random.default_rng(5))
    np.testing.assert_array_equal(xa, xm)
    np.testing.assert_array_equal(ya, ym)
    xb, _ = BackgroundMix()(x, y, np.random.default_rng(6))
    assert not np.array_equal(xb, xm)


EXACT = dict(scale=(1, 1), p_wrong_scale=0, p_clutter=0)      # no zoom, no page clutter


def test_zoom_about_centre_hand_values():
    ink = np.zeros((2, 1, 28, 28), np.float32)
    ink[:, 0, 12:16, 12:16] = 1.0                      # a 4x4 square around the centre 13.5
    out = zoom_about_centre(ink, np.array([1.0, 2.0]))
    np.testing.assert_array_equal(out[0], ink[0])                    # zoom 1: unchanged
    # 4x4 -> 8x8: a 6x6 core of 1, a bilinear rim of 0.75 and 0.25 (rows 9, 10 and 17, 18)
    assert out[1, 0, 11:17, 11:17].min() == 1 and out[1, 0, :9].max() == 0
    assert (out[1, 0, 10, 11:17] == 0.75).all() and (out[1, 0, 9, 11:17] == 0.25).all()
    np.testing.assert_allclose(out[1].sum(), 4 * ink[1].sum(), rtol=0.1)    # area x zoom^2


def test_background_mix_zoom_wrong_scale_and_clutter(digits):
    x, y = digits
    rng = np.random.default_rng(0)
    xm, ym = BackgroundMix(p_background=1, p_blank=0, p_neighbour=0, p_wrong_scale=1,
                           p_clutter=0)(x, y, rng)
    assert (ym == BACKGROUND).all()
    ink = np.clip(to_ink(xm), 0, 1)
    # zoomed in (a stroke fills the window) or out (a small digit): far from the original area
    ratio = ink.sum((1, 2, 3)) / np.clip(to_ink(x), 0, 1).sum((1, 2, 3))
    assert ((ratio > 1.5) | (ratio < 0.5)).mean() > 0.8
    cl = clutter(1000, np.random.default_rng(1), p=0.5)
    touched = (cl > 0).any((1, 2, 3))
    assert 0.4 < touched.mean() < 0.6 and cl.min() >= 0 and cl.max() <= 0.7
    with pytest.raises(ValueError, match="scale must be"):
        BackgroundMix(scale=(0, 1))


def _shift_of(out_ink, ink, shifts):
    """The shift (dy, dx) among ``shifts`` that turns ``ink`` into ``out_ink``, or None."""
    for dy, dx in shifts:
        if np.allclose(translate(ink[None], dy, dx, fill=0)[0], out_ink, atol=1e-6):
            return dy, dx
    return None


def test_background_mix_digit_windows_are_near_shifts_and_background_far(digits):
    x, y = digits[0][:12], digits[1][:12]
    ink = np.clip(to_ink(x), 0, 1)
    near = [(a, b) for a in range(-3, 4) for b in range(-3, 4)]
    far = [(a, b) for a in range(-28, 29) for b in range(-28, 29) if max(abs(a), abs(b)) >= 8]
    xm, ym = BackgroundMix(p_background=0, p_neighbour=0, **EXACT)(x, y, np.random.default_rng(0))
    assert (ym == y).all()
    for k in range(len(y)):
        assert _shift_of(to_ink(xm[k]), ink[k], near) is not None, k
    xm, ym = BackgroundMix(p_background=1, p_blank=0, p_neighbour=0, **EXACT)(
        x, y, np.random.default_rng(0))
    assert (ym == BACKGROUND).all()
    for k in range(len(y)):
        assert _shift_of(to_ink(xm[k]), ink[k], far) is not None, k
    xm, _ = BackgroundMix(p_background=1, p_blank=1, p_neighbour=0, **EXACT)(
        x, y, np.random.default_rng(0))
    np.testing.assert_allclose(xm, from_ink(np.zeros_like(x)), atol=1e-6)    # blank canvas


def test_background_mix_refuses_bad_input(digits):
    with pytest.raises(ValueError, match=r"BackgroundMix: expected x \(B, 1, 28, 28\)"):
        BackgroundMix()(digits[0][:, :, :20], digits[1], np.random.default_rng(0))
    with pytest.raises(ValueError, match="p_background must be in"):
        BackgroundMix(p_background=2)


def test_make_canvas_pastes_non_overlapping_digits():
    test = MNIST(train=False)
    rng = np.random.default_rng(0)
    for _ in range(20):
        ink, truth = make_canvas(test.images, test.labels, rng)
        assert ink.shape == (140, 140) and 2 <= len(truth) <= 5 and 0 <= ink.min() <= ink.max() <= 1
        boxes = np.array([t["box"] for t in truth])
        assert (iou(boxes, boxes) == np.eye(len(boxes))).all()
        assert ((boxes[:, 2:] - boxes[:, :2]) == 28).all() and boxes.min() >= 0 \
            and boxes.max() <= 140


# ------------------------------------------------------------------------------ the CLI
needs_ckpt = pytest.mark.skipif(not CKPT.is_file(), reason="shipped checkpoint missing")


@pytest.fixture(scope="module")
def canvas():
    test = MNIST(train=False)
    return make_canvas(test.images, test.labels, np.random.default_rng(3))


@needs_ckpt
def test_image_json_schema_and_polarity(tmp_path, canvas):
    ink, truth = canvas
    white = tmp_path / "white.png"
    Image.fromarray((ink * 255).astype(np.uint8)).save(white)
    black_rgb = tmp_path / "black.jpg"      # dark digits on paper, colour, lossy
    Image.fromarray(255 - (ink * 255).astype(np.uint8)).convert("RGB").save(black_rgb,
                                                                            quality=95)
    out_w, out_b = tmp_path / "w.json", tmp_path / "b.json"
    cli.run(["--image", str(white), "--json", str(out_w), "--png", str(tmp_path / "w.png")])
    cli.run(["--image", str(black_rgb), "--json", str(out_b)])
    a, b = json.loads(out_w.read_text()), json.loads(out_b.read_text())
    assert set(a) == {"detections"} and len(a["detections"]) >= 1
    for d in a["detections"]:
        assert set(d) == {"label", "score", "box", "scale"} and isinstance(d["label"], int)
        assert 0 <= d["label"] <= 9 and 0 < d["score"] <= 1 and len(d["box"]) == 4
    assert match(a["detections"], truth) == len(truth) == len(a["detections"])
    inverted = tmp_path / "inverted.png"                 # lossless: exactly the same answer
    Image.fromarray(255 - (ink * 255).astype(np.uint8)).save(inverted)
    assert cli.run(["--image", str(inverted)]) == a
    # same digits at the same places (the order of near-equal scores may differ: JPEG noise)
    a, b = (sorted(r["detections"], key=lambda d: d["box"]) for r in (a, b))
    assert [d["label"] for d in b] == [d["label"] for d in a]
    np.testing.assert_allclose([d["box"] for d in b], [d["box"] for d in a], atol=1.0)
    assert Image.open(tmp_path / "w.png").size[0] > 2 * 140


@needs_ckpt
def test_scale_maps_boxes_back_to_input_pixels(tmp_path, canvas):
    ink, truth = canvas
    big = Image.fromarray((ink * 255).astype(np.uint8)).resize((280, 280), Image.BILINEAR)
    big.save(tmp_path / "big.png")
    res = cli.run(["--image", str(tmp_path / "big.png"), "--scale", "0.5"])
    doubled = [dict(t, box=[2 * v for v in t["box"]]) for t in truth]
    assert match(res["detections"], doubled) == len(truth)


@needs_ckpt
def test_demo_precision_and_recall(tmp_path, capsys):
    res = cli.run(["--demo", "--canvases", "10", "--seed", "1",
                    "--json", str(tmp_path / "d.json"), "--png", str(tmp_path / "d.png")])
    assert res["digits"] >= 20 and res["precision"] >= 0.9 and res["recall"] >= 0.9
    assert json.loads((tmp_path / "d.json").read_text())["recall"] == res["recall"]
    assert "precision" in capsys.readouterr().out and (tmp_path / "d.png").is_file()


def test_bad_input_is_one_clear_line(tmp_path):
    with pytest.raises(SystemExit, match="image .*nope.png does not exist"):
        cli.run(["--image", str(tmp_path / "nope.png")])
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"this is not a picture")
    with pytest.raises(SystemExit, match="cannot read image"):
        cli.run(["--image", str(junk)])
    with pytest.raises(SystemExit, match="give --image IMG or --demo"):
        cli.run([])
    ok = tmp_path / "ok.png"
    Image.new("L", (40, 40)).save(ok)
    with pytest.raises(SystemExit, match="checkpoint .* does not exist"):
        cli.run(["--image", str(ok), "--checkpoint", str(tmp_path / "none.npz")])
    foreign = tmp_path / "foreign.npz"
    mt.save({"arch": "ResNet", "model": {}}, foreign)
    with pytest.raises(SystemExit, match="not an InceptionLite checkpoint"):
        cli.run(["--image", str(ok), "--checkpoint", str(foreign)])
    ten = tmp_path / "ten.npz"
    mt.save({"arch": "InceptionLite", "num_classes": 10,
             "model": mt.models.InceptionLite(10).state_dict()}, ten)
    with pytest.raises(SystemExit, match="needs a model trained with --background"):
        cli.run(["--image", str(ok), "--checkpoint", str(ten)])
    with pytest.raises(SystemExit, match="--threshold and --nms-iou"):
        cli.run(["--demo", "--threshold", "2"])


def test_the_console_script_returns_exit_status_zero(tmp_path):
    """``minitorch-detect`` is ``sys.exit(main())``: main returns 0, not the result dict
    (a dict would print itself and exit with status 1)."""
    picture = tmp_path / "blank.png"
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(picture)
    assert cli.main(["--image", str(picture)]) == 0
