"""``minitorch_cnn.nn.functional`` (import as ``F``): stateless layer ops on NCHW tensors.

conv.py      conv2d (im2col general path, and the 1x1 fast path)
pooling.py   max_pool2d, avg_pool2d, adaptive_avg_pool2d
basic.py     linear, dropout, batch_norm
loss.py      cross_entropy, nll_loss, mse_loss
activations  relu, leaky_relu, sigmoid, tanh, softmax, log_softmax (from minitorch_cnn.ops)
"""
from ...ops.activation import leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from .basic import batch_norm, dropout, linear
from .conv import conv2d
from .loss import cross_entropy, mse_loss, nll_loss
from .pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d
