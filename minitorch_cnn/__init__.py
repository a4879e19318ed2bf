"""minitorch_cnn: a small reverse-mode autograd framework on numpy, and a CNN library on top.

    import minitorch_cnn as mt
    x = mt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()          # x.grad == [2, 4, 6]
"""
from .autograd import Function, is_grad_enabled, no_grad
from .gradcheck import GradcheckError, gradcheck
from .kernels.memory import keep_freed_memory  # a process-wide malloc setting: called, never at import
from .kernels.work import get_num_threads, set_num_threads
from .ops import (abs, add, amax, amin, argmax, argmin, cast, cat, clamp, clip, exp, expand, flatten, leaky_relu, log,
                  log_softmax, matmul, max, maximum, mean, min, minimum, mul, div, neg, pad, permute,
                  pow, relu, sub,
                  reshape, sigmoid, softmax, sqrt, squeeze, stack, sum, tanh, transpose,
                  unsqueeze, var, where)
from .ops import chunk, clone, gather, logsumexp, norm, prod, repeat, split, std
from . import data, models, nn, optim
from . import io, tools
from .io import onnx                  # mt.onnx.export; imports the onnx package only when called
from .tools import convert, viz
from .tools.convert import fc_to_conv
from .io.serialization import load, save
from .io.safetensors import load_safetensors, save_safetensors
from .tools.summary import Summary, summary
from .tensor import Tensor, arange, from_numpy, ones, ones_like, rand, randn, tensor, zeros, zeros_like

__version__ = "0.1.0"
