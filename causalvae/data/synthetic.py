"""Tabular SCM datasets ``scm-linear`` and ``scm-nonlinear``: six factors, observed through a
fixed random nonlinear mixing into ``dim`` dimensions (for MLP VAEs).

Both share one DAG containing a chain, a fork and a collider, plus an independent factor::

    a -> b -> c        chain   a -> b -> c
         b -> d        fork    c <- b -> d
    c -> e <- d        collider
    f                  independent

``scm-linear`` (Gaussian noise ``e_j``)::

    a = e_a;  b = 0.9 a + 0.6 e_b;  c = 0.8 b + 0.6 e_c;  d = -0.7 b + 0.6 e_d
    e = 0.6 c + 0.5 d + 0.5 e_e;  f = e_f

``scm-nonlinear``::

    a = e_a;  b = 2 tanh(a) + 0.5 e_b;  c = 0.5 b^2 - 1 + 0.5 e_c;  d = sin(1.5 b) + 0.4 e_d
    e = tanh(c) - 0.8 d + 0.3 c d + 0.3 e_e;  f = e_f

Observations: ``x = W3 lrelu(W2 lrelu(W1 s(v)))`` (float32, leaky-ReLU slope 0.2), where ``s``
standardises each factor with its observational mean/std, ``W1`` (dim x 6) has orthonormal columns
and ``W2, W3`` are random orthogonal, all drawn from ``mixing_seed``.  The mixing is injective
(``dim >= 6`` is required), fixed for a given ``mixing_seed`` and shared by observational,
interventional and counterfactual samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import networkx as nx
import numpy as np

from causalvae.argtypes import check_int
from causalvae.data.dataset import FactorDataset
from causalvae.data.scm import Additive, Linear, SCMSampler, StructuralCausalModel

DEFAULT_N = 10_000
DEFAULT_DIM = 16
LEAKY_SLOPE = 0.2
_MOMENT_SAMPLES = 100_000


def scm_linear() -> StructuralCausalModel:
    """The linear-Gaussian SCM (equations in the module docstring)."""
    return StructuralCausalModel({
        "a": Additive(),
        "b": Additive(("a",), Linear((0.9,)), 0.6),
        "c": Additive(("b",), Linear((0.8,)), 0.6),
        "d": Additive(("b",), Linear((-0.7,)), 0.6),
        "e": Additive(("c", "d"), Linear((0.6, 0.5)), 0.5),
        "f": Additive(),
    })


def _b_of_a(pa: np.ndarray) -> np.ndarray:
    return 2.0 * np.tanh(pa[:, 0])


def _c_of_b(pa: np.ndarray) -> np.ndarray:
    return 0.5 * pa[:, 0] ** 2 - 1.0


def _d_of_b(pa: np.ndarray) -> np.ndarray:
    return np.sin(1.5 * pa[:, 0])


def _e_of_cd(pa: np.ndarray) -> np.ndarray:
    c, d = pa[:, 0], pa[:, 1]
    return np.tanh(c) - 0.8 * d + 0.3 * c * d


def scm_nonlinear() -> StructuralCausalModel:
    """The nonlinear additive-noise SCM (equations in the module docstring)."""
    return StructuralCausalModel({
        "a": Additive(),
        "b": Additive(("a",), _b_of_a, 0.5),
        "c": Additive(("b",), _c_of_b, 0.5),
        "d": Additive(("b",), _d_of_b, 0.4),
        "e": Additive(("c", "d"), _e_of_cd, 0.3),
        "f": Additive(),
    })


SCMS = {"scm-linear": scm_linear, "scm-nonlinear": scm_nonlinear}


def factor_dag(name: str) -> nx.DiGraph:
    """The generator's factor DAG of ``scm-linear`` or ``scm-nonlinear``."""
    return _scm(name).dag(name)


@dataclass(frozen=True, eq=False)
class RandomMixing:
    """``x = W3 lrelu(W2 lrelu(W1 (v - loc) / scale))``: a fixed injective map from K factors to ``dim``.

    Build with :meth:`create`; calling it maps an n x K factor array to n x dim float32.
    """

    loc: np.ndarray
    scale: np.ndarray
    weights: tuple[np.ndarray, ...]

    @classmethod
    def create(cls, reference: np.ndarray, *, dim: int = DEFAULT_DIM, seed: int = 0) -> "RandomMixing":
        """Mixing for factors distributed like the ``reference`` rows, drawn from ``seed``."""
        k = reference.shape[1]
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < k:
            raise ValueError(f"dim must be an integer >= the number of factors ({k}) so the mixing is "
                             f"injective, got {dim!r}")
        rng = np.random.default_rng(seed)
        first = np.linalg.qr(rng.standard_normal((dim, k)))[0]
        square = [np.linalg.qr(rng.standard_normal((dim, dim)))[0] for _ in range(2)]
        return cls(loc=reference.mean(axis=0), scale=reference.std(axis=0), weights=(first, *square))

    def __call__(self, factors: np.ndarray) -> np.ndarray:
        h = (np.asarray(factors, dtype=np.float64) - self.loc) / self.scale
        for layer, w in enumerate(self.weights):
            h = h @ w.T
            if layer < len(self.weights) - 1:
                h = np.where(h > 0, h, LEAKY_SLOPE * h)
        return h.astype(np.float32)


def sampler(name: str, *, dim: int = DEFAULT_DIM, mixing_seed: int = 0) -> SCMSampler:
    """The generator of ``name`` ("scm-linear" or "scm-nonlinear") with its mixing."""
    from causalvae.data.factor_dags import reference_dag

    scm = _scm(name)
    mixing = RandomMixing.create(scm.sample(_MOMENT_SAMPLES, seed=12345), dim=dim, seed=mixing_seed)
    return SCMSampler(name=name, scm=scm, observe=mixing, obs_shape=(int(dim),), factor_dag=reference_dag(name, build=partial(factor_dag, name)),
                      meta={"source": "scm", "options": {"dim": int(dim), "mixing_seed": int(mixing_seed)}})


def load(name: str, *, n: int | None = None, seed: int = 0, dim: int = DEFAULT_DIM,
         mixing_seed: int = 0) -> FactorDataset:
    """``n`` observational samples (default 10,000) of ``name`` drawn by ``seed``.

    Examples
    --------
    >>> ds = load("scm-linear", n=5, dim=8)
    >>> ds.x.shape, ds.factor_names
    ((5, 8), ('a', 'b', 'c', 'd', 'e', 'f'))
    """
    return sampler(name, dim=dim, mixing_seed=mixing_seed)(check_int(DEFAULT_N if n is None else n, name="n", minimum=1), seed=seed)


def _scm(name: str) -> StructuralCausalModel:
    if name not in SCMS:
        raise KeyError(f"unknown SCM {name!r}; expected one of {sorted(SCMS)}")
    return SCMS[name]()

