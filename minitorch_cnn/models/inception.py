"""Inception-lite: a small GoogLeNet-style network for 28x28 digits, built around 1x1 convolutions.

An Inception block runs four branches on the same input and concatenates their outputs along
the channel axis (so every branch must keep H x W):

    b1: 1x1                         -- a per-pixel linear map over channels
    b2: 1x1 reduce -> 3x3           -- the 1x1 shrinks the channels the 3x3 has to read
    b3: 1x1 reduce -> 5x5           -- likewise for the (expensive) 5x5
    b4: 3x3 max-pool (stride 1) -> 1x1 projection

The 1x1 "bottlenecks" in b2 and b3 are what make the block cheap: a k x k conv costs
C_in * k*k * C_out multiply-accumulates per pixel, so in the second block of ``InceptionLite``
(C_in = 56) the 5x5 reading 8 channels instead of 56 costs 7x less, for the price of a 56 -> 8
1x1 conv (56 * 8 per pixel): the b3 branch drops from 4,390,400 to 715,008 MACs (6.1x), and b2
(3x3 on 24 channels instead of 56) from 4,741,632 to 2,295,552 (2.1x).  ``NaiveInception`` is
the same block without those reductions, so ``mt.summary`` can show the saving side by side
(docs/one_by_one_conv.md, section 5; the picture docs/images/inception.png).

The design is GoogLeNet's (Szegedy et al. 2014, "Going deeper with convolutions"); the 1x1
convolution as a per-pixel network is from Network in Network (Lin, Chen, Yan 2013).

The module tree (names, order, buffers) is exactly that of the PyTorch code written the same way,
so ``state_dict``s move between the two.
"""
from ..nn import (BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, Module, ReLU,
                  Sequential)
from ..ops import cat


class ConvBNReLU(Sequential):
    """Conv2d (k x k, 'same' padding, no bias: BatchNorm's shift replaces it) -> BatchNorm2d -> ReLU.

    Shape: (N, cin, H, W) -> (N, cout, H, W)  (k odd).
    """

    def __init__(self, cin, cout, k):
        super().__init__(Conv2d(cin, cout, k, padding=k // 2, bias=False),
                         BatchNorm2d(cout), ReLU())


class Inception(Module):
    """The bottleneck Inception block; output channels b1 + b2 + b3 + b4.

    Shape: (N, cin, H, W) -> (N, b1 + b2 + b3 + b4, H, W).
    """

    def __init__(self, cin, b1, b2_reduce, b2, b3_reduce, b3, b4):
        super().__init__()
        self.b1 = ConvBNReLU(cin, b1, 1)
        self.b2 = Sequential(ConvBNReLU(cin, b2_reduce, 1), ConvBNReLU(b2_reduce, b2, 3))
        self.b3 = Sequential(ConvBNReLU(cin, b3_reduce, 1), ConvBNReLU(b3_reduce, b3, 5))
        self.b4 = Sequential(MaxPool2d(3, 1, 1), ConvBNReLU(cin, b4, 1))
        self.out_channels = b1 + b2 + b3 + b4

    def forward(self, x):
        return cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], dim=1)


class NaiveInception(Module):
    """The same block without the 1x1 reductions: the 3x3 and 5x5 read all ``cin`` channels.

    Same output widths as ``Inception`` (the pool branch keeps its 1x1 projection so that its
    width matches; it is a projection after the pool, not a reduction in front of a big kernel).
    """

    def __init__(self, cin, b1, b2, b3, b4):
        super().__init__()
        self.b1 = ConvBNReLU(cin, b1, 1)
        self.b2 = ConvBNReLU(cin, b2, 3)
        self.b3 = ConvBNReLU(cin, b3, 5)
        self.b4 = Sequential(MaxPool2d(3, 1, 1), ConvBNReLU(cin, b4, 1))
        self.out_channels = b1 + b2 + b3 + b4

    def forward(self, x):
        return cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], dim=1)


class InceptionLite(Module):
    """Stem conv, two Inception blocks, a small fully connected head.  729,322 parameters.

    Shape: (N, 1, 28, 28) -> (N, num_classes) logits.  Spatial sizes: 28 -> 14 (pool) -> 14 ->
    14 -> 7 (pool); the head sees 112 x 7 x 7 = 5488 features.
    """

    def __init__(self, num_classes=10):
        super().__init__()
        self.features = Sequential(
            ConvBNReLU(1, 32, 3),                     # (N, 32, 28, 28)
            MaxPool2d(2),                             # (N, 32, 14, 14)
            Inception(32, 16, 16, 24, 8, 8, 8),       # (N, 56, 14, 14)
            Inception(56, 32, 24, 48, 8, 16, 16),     # (N, 112, 14, 14)
            MaxPool2d(2),                             # (N, 112, 7, 7)
        )
        self.head = Sequential(
            Flatten(),                                # (N, 5488), in (C, H, W) order
            Linear(112 * 7 * 7, 128),
            ReLU(),
            Dropout(0.25),
            Linear(128, num_classes),
        )

    def forward(self, x):
        return self.head(self.features(x))
