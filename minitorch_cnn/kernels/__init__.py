"""Array kernels beneath the maths: numpy arrays in, numpy arrays out, no autograd.

Each ``Function`` in ``nn/functional`` states its forward and backward in terms of these; the
speed tricks live here, each with its reason in a line (what they buy, measured, and the command
that measures it: docs/performance.md).

conv.py        pad, im2col, col2im (and col2im_flat), the NCHW transposes around the matrix
               products (channels_first, batch_first, batch_matrices), channel_sums
pooling.py     max_pool_forward/backward, avg_pool_forward/backward, the adaptive bins
batchnorm.py   batch_norm_forward/backward
activation.py  relu_forward/backward
shape.py       concatenate
work.py        how a kernel's work is split: fixed chunks on a lazily created thread pool
               (``parallel``, ``chunks``, ``set_num_threads``)
memory.py      keep_freed_memory: the malloc setting a program may choose (never at import)
"""
