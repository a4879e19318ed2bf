"""Detect digits anywhere in a picture: the classifier, convolutionalized, over an image pyramid.

    python examples/sliding_window.py --image IMG [--min-size PX] [--max-size PX] [--scale S]
                                      [--json OUT] [--png OUT] [--heatmap OUT]
    python examples/sliding_window.py --demo [--canvases 200] [--seed 0] [--png OUT]
    python examples/sliding_window.py --demo pages [--pages 100] [--png OUT]

``--image`` reads any grayscale or colour picture -- a photo or a scan of a page, dark digits on
light paper, or light digits on black -- and turns it into MNIST-like ink with its local
background removed (``detection.picture_to_ink``).  ``mt.fc_to_conv(model, (1, 28, 28))`` sees a
fixed 28-px window every 4 px, so the picture is rescaled for every digit size from
``--min-size`` to ``--max-size`` (input pixels; the default is 16 px to the picture's shorter
side, the smallest size raised on large pictures so that the whole pyramid stays within 8
megapixels: ~55 px on a 4000x3000 photo), each copy processed in overlapping tiles
(``--tile``, memory bounded), and one non-maximum suppression merges all scales.  ``--json``
receives ``{"detections": [{"label", "score", "box": [x0, y0, x1, y1], "scale"}]}`` in the
input's pixels, ``--png`` the picture with its boxes beside a heatmap of the best digit
probability (with its colour scale), ``--heatmap`` the winning digit per place (colour) and its
probability (brightness).  ``--demo`` measures precision and recall on 140x140 canvases of 2-5
held-out test digits, ``--demo pages`` on generated scanned pages (paper, gradient, noise, JPEG,
5-10 test digits of 24-110 px).

The default checkpoint, checkpoints/inception_lite_background.npz, is the 11-class model
(digits + background); checkpoints/README.md gives the command that trains it.

The pictures in docs/images/ come from

    python examples/sliding_window.py --demo --png docs/images/sliding_window_demo.png \\
        --heatmap docs/images/sliding_window_heatmap.png
    python examples/sliding_window.py --demo pages --pages 1 --seed 3 \\
        --png docs/images/sliding_window_page.png

See minitorch_cnn/tools/detection/ (background class, normalisation, tiles, pyramid, NMS) and
minitorch_cnn/cli/detect.py.
"""
import sys

from minitorch_cnn.cli.detect import main

if __name__ == "__main__":
    sys.exit(main())
