"""Every differentiable op, one ``Function`` class each, grouped by kind.

arithmetic.py  + - * / ** neg matmul cast     reduce.py      sum mean var amax amin max min
math.py        exp log sqrt abs clip where                    argmax argmin
activation.py  relu sigmoid tanh softmax ...   shape.py       reshape permute cat stack pad [ ]
dtypes.py      the type-promotion and dim rules every op applies
extra.py       clone std prod logsumexp norm gather repeat split chunk, tensor ** tensor
inplace.py     setitem and the in-place mechanism (add_, mul_, zero_, ...)
"""
from .activation import leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from .arithmetic import add, cast, div, matmul, mul, neg, pow, sub
from .math import abs, clamp, clip, exp, log, maximum, minimum, sqrt, where
from .reduce import amax, amin, argmax, argmin, max, mean, min, sum, var
from .shape import (cat, expand, flatten, getitem, pad, permute, reshape, squeeze, stack,
                    transpose, unsqueeze, view)
from .extra import chunk, clone, gather, logsumexp, norm, pow_tensor, prod, repeat, split, std
from .inplace import Copy, Fill, inplace, setitem
