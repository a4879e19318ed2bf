"""``minitorch_cnn.nn``: layers as modules, and ``functional`` for the stateless ops."""
from . import functional
