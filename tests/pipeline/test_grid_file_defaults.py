"""Grid datasets read from files hold enough factor-controlled pairs at their default and quick sizes."""

import pytest

from causalvae.data import mpi3d, shapes3d, smallnorb
from causalvae.pipeline.config import GRID_FILE_SIZES, RunConfig


def test_sizes_are_the_loaders_grids():
    assert GRID_FILE_SIZES == {shapes3d.NAME: 480_000, mpi3d.NAME: max(mpi3d.RELEASES),
                               smallnorb.NAME: smallnorb.N_PER_SPLIT}


@pytest.mark.parametrize("dataset", sorted(GRID_FILE_SIZES))
@pytest.mark.parametrize("quick", [False, True])
def test_expected_pairs_per_factor_cover_four_times_n_pairs(dataset, quick):
    config = RunConfig.resolve(dataset=dataset, quick=quick)
    grid = GRID_FILE_SIZES[dataset]
    assert config.n <= grid
    expected_pairs = config.n * config.n / grid   # each base's partner is loaded with probability n / N
    assert expected_pairs >= 4 * config.n_pairs, (dataset, quick, expected_pairs)


def test_the_old_fallback_was_too_small():
    """Negative control: 10,000 rows of MPI3D and a quick run's 600 rows of 3DShapes hold too few pairs."""
    assert 10_000 ** 2 / GRID_FILE_SIZES["mpi3d"] < 4 * RunConfig.n_pairs
    assert 600 ** 2 / GRID_FILE_SIZES["3dshapes"] < 1
