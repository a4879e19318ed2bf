"""PLACEHOLDER: linear, dropout, batch_norm are being written (helper 'pool')."""


def linear(x, weight, bias=None):
    raise NotImplementedError


def dropout(x, p=0.5, training=True):
    raise NotImplementedError


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    raise NotImplementedError
