"""Ready-made models: the Inception-lite of the MNIST example and its building blocks."""
from .inception import ConvBNReLU, Inception, InceptionLite, NaiveInception
