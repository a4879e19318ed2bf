"""Detect digits anywhere in a picture: the classifier, convolutionalized, run once.

    python examples/sliding_window.py --image IMG [--checkpoint CKPT] [--json OUT] [--png OUT]
    python examples/sliding_window.py --demo [--canvases 200] [--seed 0] [--png OUT]

``--image`` reads any grayscale or colour picture (dark digits on light paper are inverted),
runs ``mt.fc_to_conv(model, (1, 28, 28))`` over it in one forward pass (a 28x28 window every 4
pixels), keeps the windows whose most probable class is a digit with probability >=
``--threshold`` and applies non-maximum suppression (``--nms-iou``).  ``--json`` receives
``{"detections": [{"label": int, "score": float, "box": [x0, y0, x1, y1]}]}`` in the input's
pixels, ``--png`` the picture with its boxes beside a heatmap of the best digit probability per
window (``--heatmap`` that map alone, coloured by the winning digit).  ``--demo`` measures
precision and recall on 140x140 canvases of 2-5 held-out test digits.

The default checkpoint, checkpoints/inception_lite_background.npz, is the 11-class model
(digits + background) trained by

    python -m minitorch_cnn.cli.train --background --epochs 3 --seed 0 \\
        --out runs/background --export checkpoints/inception_lite_background.npz

The pictures in docs/images/ come from

    python examples/sliding_window.py --demo --png docs/images/sliding_window_demo.png \\
        --heatmap docs/images/sliding_window_heatmap.png

See minitorch_cnn/detect.py (background class, NMS) and minitorch_cnn/cli/detect.py.
"""
from minitorch_cnn.cli.detect import main

if __name__ == "__main__":
    main()
