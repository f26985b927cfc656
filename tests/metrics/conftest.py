"""Shared planted codes for the metric tests: a full factor grid, a disentangled and an entangled code."""

import itertools

import numpy as np
import pytest

GRID_SIZES = (3, 4, 5, 4, 3)


def factor_grid(repeats: int = 2) -> np.ndarray:
    grid = np.array(list(itertools.product(*[range(s) for s in GRID_SIZES])), dtype=np.float64)
    return np.tile(grid, (repeats, 1))


def disentangled(factors: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """A permutation and monotone (increasing or decreasing) rescaling of the factors."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(factors.shape[1])
    signs = rng.choice([-1.0, 1.0], size=factors.shape[1])
    return signs * 2.5 * np.sqrt(factors[:, perm] + 1.0) + rng.normal(size=factors.shape[1])


def entangled(factors: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """A random rotation of the standardised factors."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(factors.shape[1], factors.shape[1])))
    z = (factors - factors.mean(0)) / factors.std(0)
    return z @ q


@pytest.fixture(scope="session")
def grid() -> np.ndarray:
    return factor_grid()


@pytest.fixture(scope="session")
def split(grid):
    """(train factors, test factors): two independent shuffles of the grid."""
    rng = np.random.default_rng(1)
    return grid[rng.permutation(len(grid))], factor_grid(1)[rng.permutation(len(grid) // 2)]


@pytest.fixture(scope="session")
def make_disentangled():
    return disentangled


@pytest.fixture(scope="session")
def make_entangled():
    return entangled
