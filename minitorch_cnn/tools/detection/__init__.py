"""Detecting digits on a canvas: a background class, one convolutional pass, then boxes.

Notation: B batch, K = 11 classes (digits 0-9 and BACKGROUND = 10), canvas (H, W), class maps
(K, OH, OW) with OH = (H - 28) // 4 + 1, boxes [x0, y0, x1, y1] in pixels (x1, y1 exclusive).

The idea
--------
A digit classifier answers "which digit is this?" for *every* 28x28 window, even for a window of
blank canvas or one cut through the middle of two digits: softmax has no "none of these".  So we
teach it one more answer.  ``BackgroundMix`` turns a batch of training digits into a mix of

* digit windows -- the digit within ``DIGIT_SHIFT`` = 3 px of the centre (the grid of windows has
  stride 4, so some window is always that close to any digit), often with neighbouring digits
  intruding at the edges as on a crowded canvas; label 0-9;
* background windows -- blank canvas, or digits at least ``MIN_BG_SHIFT`` = 8 px off-centre (cut
  by the window's edge), alone or several at once; label 10.

Shifts of 4-7 px are never shown: the model may answer either way there, and non-maximum
suppression removes the weaker of two overlapping answers anyway.

Then ``fc_to_conv`` turns the classifier into a fully convolutional net; one forward pass over
the whole canvas gives class scores for every window at stride 4, window (i, j) covering pixels
[4j, 4i, 4j + 28, 4i + 28].  ``detections_from_maps`` keeps windows whose best class is a digit
with probability >= ``threshold`` and runs greedy non-maximum suppression: keep the best
remaining box, drop every box that overlaps it with IoU > ``nms_iou``, repeat.  Each survivor's
label is the digit that the 3x3 windows around it give the most probability to, and its position
the mean of those window positions weighted by that label's probability.
The code, by layer:

ink.py        any picture -> MNIST-like ink (``picture_to_ink``; long ruled lines out:
              ``line_pixels``), ``to_ink``/``from_ink``
windows.py    class maps (one pass, tiles), boxes from maps, NMS, matching to a ground truth
pyramid.py    any digit size: the pyramid of scales and the merge across scales
synthetic.py  training windows (``BackgroundMix``, ``MixedLoader``) and measuring data
              (``make_canvas``, ``make_page``, ``rule_page``)
"""
from .ink import MAX_PIXELS, from_ink, line_pixels, picture_to_ink, to_ink
from .pyramid import detect_pyramid, merge_scales, pyramid_sizes
from .synthetic import BackgroundMix, MixedLoader, clutter, make_canvas, make_page, rule_page, zoom_about_centre
from .windows import (BACKGROUND, NUM_CLASSES, REACH, STRIDE, WINDOW, class_maps, detections_from_maps,
                      iou, match, nms, tile_count, tiled_class_maps)

__all__ = ["BACKGROUND", "NUM_CLASSES", "WINDOW", "STRIDE", "REACH", "MAX_PIXELS",
           "BackgroundMix", "MixedLoader", "clutter", "zoom_about_centre", "make_canvas", "make_page",
           "rule_page", "iou", "nms", "match", "class_maps", "tiled_class_maps", "tile_count",
           "detections_from_maps", "to_ink", "from_ink", "picture_to_ink", "line_pixels",
           "pyramid_sizes", "detect_pyramid", "merge_scales"]
