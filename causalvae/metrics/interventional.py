"""The interventional metrics of arXiv 2505.03530, as stated and in well-defined forms (DESIGN §5).

Array-level and torch-free; the inputs come from :mod:`causalvae.interventions`:

- CES: per-latent ``E_x ||D(z) - D(z~_i)||_2`` averaged over the value grid, i.e. the
  ``"output_l2"`` column of ``latent_effects(..., statistic="mean")``; for a VQ-VAE's discrete codes
  ``CES_code_i = E_x E_{j ~ U(C)} ||D(q) - D(q with q_i <- e_j)||_2`` over the used codes C
  (``causalvae.interventions.code_swap_profile``; the same two functions apply);
- intervention specificity: per-latent, per-output-element ``E_x (D(mu) - D(mu with z_i <- 0))^2``
  from ``latent_output_profiles``; factor-level specificity from a latent x read-out-factor matrix;
- circuit modularity: the change ``Delta a_i`` of a layer's units under intervention on latent i,
  e.g. the rows of ``latent_effects(..., statistic="mean")`` restricted to that layer's columns.

Undefined quantities are NaN (a latent with no effect has no specificity; a constant change
vector has no correlation) and are never turned into 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from causalvae.argtypes import check_int
from causalvae.effects import EffectMatrix
from causalvae.units import site_of

__all__ = ["CESReport", "ModularityResult", "SpecificityReport", "causal_effect_strength", "circuit_modularity",
           "circuit_modularity_per_layer", "factor_specificity", "intervention_specificity"]

ACTIVE_KL = 0.01  # nats
PAPER_EPS = 1e-6


def _matrix(a, name: str, ndim: int = 2) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values; expected finite effects")
    return arr


@dataclass(frozen=True)
class CESReport:
    """Causal effect strength: paper form and the well-defined variants (always with context)."""

    paper: float  # mean over all latents
    active_only: float  # mean over latents with KL > threshold (NaN when none is active)
    sqrt_p_normalised: float  # paper / sqrt(P)
    calibrated: float | None  # paper form with posterior-calibrated values, when given
    n_active: int | None
    n_latents: int
    recon_error: float | None
    per_latent: np.ndarray


def causal_effect_strength(per_latent, *, n_output: int, kl=None, calibrated_per_latent=None,
                           recon_error: float | None = None, active_threshold: float = ACTIVE_KL) -> CESReport:
    """CES from per-latent mean output-change norms.

    Parameters
    ----------
    per_latent : (L,) ``E_x ||D(z) - D(z~_i)||`` averaged over the grid (or (L, V) per value: averaged here).
    n_output : P, number of output elements (for the sqrt(P) normalisation).
    kl : optional (L,) KL per latent in nats; latents with KL > ``active_threshold`` are active.
        For a VQ-VAE's positions (``per_latent`` from code swaps, ``causalvae.interventions.code_swap_profile``)
        pass the information each carries instead: the code entropy ``H(c_i)`` in nats.
    calibrated_per_latent : optional (L,) CES with posterior-calibrated values.
    recon_error : the model's reconstruction error (a negative log-likelihood, which is negative where a
        continuous density is sharp), reported alongside.

    Examples
    --------
    >>> r = causal_effect_strength([2.0, 4.0], n_output=4, kl=[0.5, 0.0])
    >>> r.paper, r.active_only, r.sqrt_p_normalised, r.n_active
    (3.0, 2.0, 1.5, 1)
    """
    ces = np.asarray(per_latent, dtype=np.float64)
    ces = ces.mean(axis=1) if ces.ndim == 2 else ces
    ces = _matrix(ces, "per_latent", 1)
    if (ces < 0).any():
        raise ValueError(f"per_latent holds output-change norms: expected values >= 0, got {ces.tolist()}")
    n_output = check_int(n_output, name="n_output", minimum=1)
    n_active, active_only = None, float("nan")
    if kl is not None:
        kl = _matrix(kl, "kl", 1)
        if kl.shape != ces.shape:
            raise ValueError(f"kl must have one value per latent: expected {ces.shape}, got {kl.shape}")
        active = kl > active_threshold
        n_active = int(active.sum())
        active_only = float(ces[active].mean()) if n_active else float("nan")
    calibrated = None
    if calibrated_per_latent is not None:
        cal = _matrix(calibrated_per_latent, "calibrated_per_latent", 1)
        if cal.shape != ces.shape:
            raise ValueError(f"calibrated_per_latent must have shape {ces.shape}, got {cal.shape}")
        calibrated = float(cal.mean())
    paper = float(ces.mean())
    return CESReport(paper, active_only, float(paper / np.sqrt(int(n_output))), calibrated, n_active, len(ces),
                     None if recon_error is None else float(recon_error), ces)


@dataclass(frozen=True)
class SpecificityReport:
    """Per-latent intervention specificity; NaN for latents whose intervention changes nothing."""

    paper: np.ndarray  # 1 / (H(p_i) + 1e-6)
    bounded: np.ndarray  # 1 - H(p_i) / log P, in [0, 1]
    entropy: np.ndarray  # H(p_i) in nats

    @property
    def mean_paper(self) -> float:
        return float(np.nanmean(self.paper)) if np.isfinite(self.paper).any() else float("nan")

    @property
    def mean_bounded(self) -> float:
        return float(np.nanmean(self.bounded)) if np.isfinite(self.bounded).any() else float("nan")


def intervention_specificity(profiles) -> SpecificityReport:
    """Specificity from ``profiles[i, p] = E_x (D(mu) - D(mu with z_i <- 0))_p^2``, shape (L, P).

    Examples
    --------
    >>> r = intervention_specificity([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    >>> r.bounded.round(6).tolist(), r.entropy.round(4).tolist()
    ([1.0, 0.0], [0.0, 1.3863])
    """
    prof = _matrix(profiles, "profiles")
    if (prof < 0).any():
        raise ValueError("profiles are mean squared changes and must be >= 0")
    if prof.shape[1] < 2:
        raise ValueError(f"profiles need at least 2 output elements, got {prof.shape[1]}")
    totals = prof.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = prof / totals
        entropy = np.maximum(-np.where(p > 0, p * np.log(p), 0.0).sum(axis=1), 0.0)
    entropy = np.where(totals[:, 0] > 0, entropy, np.nan)
    return SpecificityReport(1.0 / (entropy + PAPER_EPS), 1.0 - entropy / np.log(prof.shape[1]), entropy)


def factor_specificity(effects) -> np.ndarray:
    """``max_k B[i, k] / sum_k B[i, k]`` per latent for non-negative latent -> factor effects B (L, K).

    A latent with no effect on any factor gets NaN.

    >>> factor_specificity([[3.0, 1.0], [0.0, 0.0]]).tolist()
    [0.75, nan]
    """
    b = _matrix(effects, "effects")
    if (b < 0).any():
        raise ValueError("factor-level specificity needs non-negative effect magnitudes (use |effects|)")
    total = b.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, b.max(axis=1) / total, np.nan)


@dataclass(frozen=True)
class ModularityResult:
    """``1 - mean_{i<j} |corr(Delta a_i, Delta a_j)|`` over active latents; undefined pairs excluded."""

    value: float
    n_pairs: int  # pairs with a defined correlation
    n_undefined: int  # pairs involving a constant change vector (correlation undefined)
    latents: tuple[int, ...]


def circuit_modularity(delta, *, active=None) -> ModularityResult:
    """Circuit modularity of one layer from ``delta[i]`` = the change of its units under latent i.

    Parameters
    ----------
    delta : (L, U) array; rows may also hold per-input changes flattened (L, N*U).
    active : optional (L,) boolean mask; inactive latents are excluded.

    Examples
    --------
    >>> circuit_modularity([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 2.0, 3.0]]).n_pairs
    3
    """
    d = _matrix(delta, "delta")
    keep = np.ones(len(d), dtype=bool) if active is None else np.asarray(active, dtype=bool)
    if keep.shape != (len(d),):
        raise ValueError(f"active must be a boolean mask of shape ({len(d)},), got {keep.shape}")
    idx = np.flatnonzero(keep)
    sub = d[idx]
    centred = sub - sub.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1)
    corrs, undefined = [], 0
    for a in range(len(idx)):
        for b in range(a + 1, len(idx)):
            if norms[a] == 0 or norms[b] == 0:
                undefined += 1
            else:
                corrs.append(abs(float(centred[a] @ centred[b]) / (norms[a] * norms[b])))
    value = 1.0 - float(np.mean(corrs)) if corrs else float("nan")
    return ModularityResult(value, len(corrs), undefined, tuple(int(i) for i in idx))


def circuit_modularity_per_layer(effects: EffectMatrix, *, active=None) -> dict[str, ModularityResult]:
    """:func:`circuit_modularity` for each site among the columns of a latent x unit EffectMatrix."""
    by_site: dict[str, list[int]] = {}
    for j, target in enumerate(effects.targets):
        by_site.setdefault(site_of(target), []).append(j)
    return {site: circuit_modularity(effects.values[:, cols], active=active) for site, cols in by_site.items()}
