import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same global numpy RNG state (init, dropout, rand)."""
    np.random.seed(0)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
