"""PLACEHOLDER: save/load are being written (helper 'optim')."""


def save(obj, path):
    raise NotImplementedError


def load(path):
    raise NotImplementedError
