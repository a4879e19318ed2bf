"""Data: IDX files, MNIST (and FashionMNIST, KMNIST), the DataLoader and batch augmentations.

    from minitorch_cnn.data import MNIST, DataLoader, RandomTranslate
    train = MNIST(train=True)                       # images (60000, 1, 28, 28) float32
    loader = DataLoader(train, batch_size=64, shuffle=True, seed=0,
                        transform=RandomTranslate(2))
    for x, y in loader:                             # x (64, 1, 28, 28), y (64,) int64 Tensors
        ...
"""
from .idx import IDX_DTYPES, read_idx
from .loader import ArrayDataset, DataLoader
from .mnist import (KMNIST, MNIST, FashionMNIST, MNISTFormat, MNISTNotFoundError, download_mnist,
                    find_mnist)
from .transforms import Compose, RandomTranslate, translate

__all__ = ["IDX_DTYPES", "read_idx", "ArrayDataset", "DataLoader", "MNIST", "FashionMNIST",
           "KMNIST", "MNISTFormat", "MNISTNotFoundError",
           "download_mnist", "find_mnist", "Compose", "RandomTranslate", "translate"]
