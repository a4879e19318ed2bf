"""Train Inception-lite on MNIST (the main job).  See minitorch_cnn/cli/train.py for the loop.

    python examples/train_inception_mnist.py                 # 3 epochs, ~99.3%+ test accuracy
    python examples/train_inception_mnist.py --limit 2000 --epochs 1 --out /tmp/quick
"""
import sys

from minitorch_cnn.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
