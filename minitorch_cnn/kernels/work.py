"""How a kernel's work is split: the one place that decides it.

Today every kernel runs as one piece on the calling thread (BLAS may use its own threads inside
a matrix multiply).  A kernel that can work on independent parts of the batch asks
``batch_pieces(n)`` for them and loops over the slices it returns; a thread pool, when one
comes, is added here and nowhere else.
"""


def batch_pieces(n):
    """The slices of a batch of ``n`` images that a kernel processes one at a time."""
    return [slice(0, n)]
