"""``minitorch_cnn.nn.functional`` (import as ``F``): stateless layer ops on NCHW tensors.

conv.py      conv2d (im2col general path, and the 1x1 fast path)
pooling.py   max_pool2d, avg_pool2d, adaptive_avg_pool2d
basic.py     linear, dropout, batch_norm
loss.py      cross_entropy, nll_loss, mse_loss
activations  relu, leaky_relu, sigmoid, tanh, softmax, log_softmax (from minitorch_cnn.ops)

Notation (conv.py and pooling.py both use it)
---------------------------------------------
    N        batch size
    C        input channels                      O    output channels = number of filters
    G        groups (1: ordinary, C: depthwise)  Cg   = C / G   channels one filter sees
                                                 Og   = O / G   filters per group
    H, W     input height and width              OH, OW  output height and width
    KH, KW   kernel (window) height and width    P    = OH * OW  output pixels per image
    sh, sw   stride      dh, dw  dilation        K    = Cg * KH * KW  numbers in one window
    pt, pb, pl, pr   padding top, bottom, left, right
    ph, pw   = pt = pb and pl = pr: the padding per side (they differ only for conv's 'same')

    OH = floor((H + 2*ph - dh*(KH-1) - 1) / sh) + 1     (pooling: dh = 1)
    OW = floor((W + 2*pw - dw*(KW-1) - 1) / sw) + 1
"""
from ...ops.activation import leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from .basic import batch_norm, dropout, linear
from .conv import conv2d
from .loss import cross_entropy, mse_loss, nll_loss
from .pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d
