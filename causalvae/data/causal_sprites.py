"""``causal-sprites``: 64 x 64 dSprites-style images whose factors follow a known DAG.

DAG: ``shape -> scale -> brightness``, ``posX -> posY``, ``orientation`` independent.
Structural equations (``e_j ~ N(0, 1)``, ``sigmoid(t) = 1 / (1 + exp(-t))``)::

    shape       ~ uniform on {1, 2, 3}  (square, ellipse, heart; discrete)
    scale       = 0.5 + 0.5 sigmoid(1.2 (shape - 2) + 0.7 e_scale)       in (0.5, 1)
    brightness  = 0.3 + 0.7 sigmoid(6 (scale - 0.75) + 0.5 e_brightness)  in (0.3, 1)
    orientation ~ U(0, 2 pi)
    posX        ~ U(0, 1)
    posY        = sigmoid(5 (posX - 0.5) + 0.6 e_posY)                    in (0, 1)

Images are rendered lazily with the dSprites renderer (:mod:`causalvae.data.render`): the sprite
mask times ``brightness``.  ``do(...)`` values must lie in each factor's range (closed interval;
shape one of 1, 2, 3).
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from causalvae.argtypes import check_int
from causalvae.data.dataset import FactorDataset
from causalvae.data.dsprites import IMAGE_SIZE, SHAPE_LABELS, SpriteObserver
from causalvae.data.scm import Categorical, Linear, SCMSampler, Squashed, StructuralCausalModel, Uniform

NAME = "causal-sprites"
DEFAULT_N = 10_000


def scm() -> StructuralCausalModel:
    """The structural equations of ``causal-sprites`` (see the module docstring)."""
    return StructuralCausalModel({
        "shape": Categorical((1.0, 2.0, 3.0)),
        "scale": Squashed(("shape",), Linear((1.2,), -2.4), 0.7, low=0.5, high=1.0),
        "brightness": Squashed(("scale",), Linear((6.0,), -4.5), 0.5, low=0.3, high=1.0),
        "orientation": Uniform(0.0, 2 * np.pi),
        "posX": Uniform(0.0, 1.0),
        "posY": Squashed(("posX",), Linear((5.0,), -2.5), 0.6, low=0.0, high=1.0),
    })


def factor_dag() -> nx.DiGraph:
    """The generator's factor DAG."""
    return scm().dag(NAME)


def sampler() -> SCMSampler:
    """The ``causal-sprites`` generator (sampling, ``do``, rendering)."""
    from causalvae.data.factor_dags import reference_dag

    model = scm()
    values = tuple(np.array([1.0, 2.0, 3.0]) if name == "shape" else None for name in model.factor_names)
    return SCMSampler(name=NAME, scm=model, observe=SpriteObserver(model.factor_names),
                      obs_shape=(1, IMAGE_SIZE, IMAGE_SIZE), factor_dag=reference_dag(NAME, build=factor_dag), factor_values=values,
                      meta={"source": "scm", "options": {}, "shape_labels": list(SHAPE_LABELS)})


def load(*, n: int | None = None, seed: int = 0) -> FactorDataset:
    """``n`` observational samples (default 10,000) drawn by ``seed``; images rendered on access.

    Examples
    --------
    >>> ds = load(n=3)
    >>> ds.x.shape, ds.factor_names[:3]
    ((3, 1, 64, 64), ('shape', 'scale', 'brightness'))
    """
    return sampler()(check_int(DEFAULT_N if n is None else n, name="n", minimum=1), seed=seed)
