"""``minitorch_cnn.nn``: layers as modules, and ``functional`` for the stateless ops.

module.py     Module (registration, traversal, train/eval, state_dict), Parameter, evaluating
container.py  Sequential, ModuleList
init.py       weight initialisation (kaiming_uniform_, ...), torch's defaults
utils/        clip_grad_norm_
layers/       Linear, Conv2d, pooling, BatchNorm, Dropout, activations, Flatten, losses
functional/   the ops the layers call (import as F)
"""
from . import functional
from . import init
from . import utils
from .container import ModuleList, Sequential
from .layers import (AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d,
                     CrossEntropyLoss, Dropout, Flatten, Identity, LeakyReLU, Linear, LogSoftmax,
                     MSELoss, MaxPool2d, NLLLoss, ReLU, Sigmoid, Softmax, Tanh)
from .module import IncompatibleKeys, Module, Parameter, evaluating
