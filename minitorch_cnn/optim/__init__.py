"""PLACEHOLDER: optimizers are being written (helper 'optim')."""
