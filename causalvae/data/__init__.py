"""Factor datasets with known generative factors and causal DAGs.

``load(name, *, n=None, seed=0, path=None, **options)`` is the one entry point;
``names()`` lists the datasets; ``factor_pairs`` makes factor-controlled pairs ``(x, x')``.

=================  ==========================================================================
name               what
=================  ==========================================================================
``dsprites``       the 737,280-image dSprites grid, rendered procedurally (or read from the
                   official ``.npz`` with ``path=``); 5 independent factors
``scm-linear``     6-factor linear-Gaussian SCM (chain, fork, collider), mixed into ``dim`` dims
``scm-nonlinear``  6-factor nonlinear additive-noise SCM on the same DAG, mixed likewise
``causal-sprites`` 64 x 64 sprites whose factors follow shape -> scale -> brightness, posX -> posY
``pendulum``       64 x 64 pendulum, light and shadow (CausalVAE's pendulum as an SCM): both angles
                   -> shadow_length and shadow_position; continuous labels, mechanism noise
``3dshapes``       DeepMind's 480,000 3 x 64 x 64 scenes from the official ``3dshapes.h5`` (``path=``;
                   needs h5py); 6 independent factors
``mpi3d``          MPI3D toy / realistic / real, 3 x 64 x 64, from the official ``mpi3d_*.npz``
                   (``path=``); 7 independent factors, their sizes inferred from the number of images
``smallnorb``      SmallNORB toys, 1 x 64 x 64 (option ``size``), from the official ``*.mat[.gz]`` files
                   (``path=`` their directory; option ``split``); 5 independent factors
=================  ==========================================================================

Datasets read from disk take ``path=``; those without a generator (3DShapes, MPI3D, SmallNORB)
refuse to load without it.

Importing this package does not import torch, dowhy, pgmpy or matplotlib.

Examples
--------
>>> from causalvae import data
>>> ds = data.load("scm-linear", n=100, seed=0)
>>> ds.x.shape
(100, 16)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from typing import Any

from causalvae.data.dataset import FactorDataset
from causalvae.data.pairs import FactorPairs, factor_pairs

__all__ = ["FactorDataset", "FactorPairs", "factor_pairs", "load", "names"]


def _loaders() -> dict[str, Callable[..., FactorDataset]]:
    from causalvae.data import causal_sprites, dsprites, pendulum, synthetic
    from causalvae.data import mpi3d, shapes3d, smallnorb

    return {
        dsprites.NAME: _load_dsprites,
        **{name: partial(synthetic.load, name) for name in synthetic.SCMS},
        causal_sprites.NAME: causal_sprites.load,
        shapes3d.NAME: shapes3d.load,
        mpi3d.NAME: mpi3d.load,
        smallnorb.NAME: smallnorb.load,
        pendulum.NAME: pendulum.load,
    }


def _options_of(name: str) -> tuple[str, ...]:
    from causalvae.data import smallnorb, synthetic

    if name == smallnorb.NAME:
        return ("split", "size")
    return ("dim", "mixing_seed") if name in synthetic.SCMS else ()


def _load_dsprites(*, n: int | None = None, seed: int = 0, path: str | os.PathLike | None = None) -> FactorDataset:
    if path is not None:
        from causalvae.data.dsprites_npz import load_npz

        return load_npz(path, n=n, seed=seed)
    from causalvae.data.dsprites import load_procedural

    return load_procedural(n=n, seed=seed)


def _disk_files() -> dict[str, tuple[str, bool]]:
    """Datasets read from disk: name -> (what ``path=`` names, whether ``path`` is required)."""
    from causalvae.data import mpi3d, shapes3d, smallnorb

    return {"dsprites": ("the official dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz", False),
            shapes3d.NAME: (f"the official {shapes3d.FILE_NAME}", True),
            mpi3d.NAME: (f"the official {', '.join(mpi3d.FILE_NAMES[:-1])} or {mpi3d.FILE_NAMES[-1]}", True),
            smallnorb.NAME: (f"the directory of the official {smallnorb.SPLIT_PREFIXES['train']}"
                             "{dat,cat,info}.mat[.gz] files", True)}


def names() -> list[str]:
    """Names accepted by :func:`load`, sorted."""
    return sorted(_loaders())


def load(name: str, *, n: int | None = None, seed: int = 0, path: str | os.PathLike | None = None,
         **options: Any) -> FactorDataset:
    """Load dataset ``name``.

    Parameters
    ----------
    name : one of :func:`names`.
    n : sample size (SCMs; default 10,000) or size of a random subset of a grid (dSprites;
        None = the whole grid), drawn by ``seed``.
    seed : seed of the sample / subset.
    path : datasets read from disk: the official file (dSprites: optional,
        ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``; 3DShapes: ``3dshapes.h5``; MPI3D:
        ``mpi3d_toy.npz`` / ``mpi3d_realistic.npz`` / ``mpi3d_real.npz``; SmallNORB: the directory
        of its ``.mat[.gz]`` files, or its ``-dat`` file).
    options : per dataset: ``dim`` (observed dimensions, default 16) and ``mixing_seed``
        (default 0) for ``scm-linear`` / ``scm-nonlinear``; ``split`` ("train", "test" or "both",
        default "train") and ``size`` (image side, default 64) for ``smallnorb``.

    Raises
    ------
    KeyError : unknown ``name``.
    TypeError : an option or ``path`` the dataset does not take.
    ValueError : no ``path`` for a dataset that only exists as a file.

    Examples
    --------
    >>> load("3dshapes")
    Traceback (most recent call last):
    ValueError: dataset '3dshapes' is read from disk: pass path= (CLI: --path) naming the official 3dshapes.h5
    """
    loaders = _loaders()
    if name not in loaders:
        raise KeyError(f"unknown dataset {name!r}; expected one of {sorted(loaders)}")
    allowed = _options_of(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise TypeError(f"unknown option(s) {unknown} for dataset {name!r}; valid options: {list(allowed)}")
    files = _disk_files()
    if path is not None and name not in files:
        raise TypeError(f"path= only applies to {', '.join(map(repr, files))} (datasets read from disk), "
                        f"not {name!r}")
    if path is None and files.get(name, ("", False))[1]:
        raise ValueError(f"dataset {name!r} is read from disk: pass path= (CLI: --path) naming {files[name][0]}")
    kwargs = {"n": n, "seed": seed, **options}
    if path is not None:
        kwargs["path"] = path
    return loaders[name](**kwargs)

