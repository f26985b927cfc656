"""Interventional causal mediation: TE, NIE, NDE and mediated fraction with bootstrap CIs and FDR control.

Inputs are the patched outcomes produced by ``causalvae.interventions.mediation_outcomes`` (or any
equivalent arrays): for inputs ``x`` and their factor-changed partners ``x'``

* ``y = Y(x)``, ``y_prime = Y(x')``,
* ``y_nie = Y(x; M ← M(x'))`` and ``y_nde = Y(x'; M ← M(x))``,

so per input ``TE = y' − y``, ``NIE = y_nie − y`` and ``NDE = y_nde − y`` (DESIGN §5).

**Directed treatments.** When ``x'`` changes factor k to a value drawn from its marginal, the change
``v'_k − v_k`` is as often negative as positive and ``E[y' − y]`` cancels even for a perfectly
transmitted factor.  Pass ``direction = sign(v'_k − v_k)`` (:func:`treatment_direction`): every
per-pair difference is multiplied by it, so the estimands are effects of *raising* factor k.

>>> import numpy as np
>>> y = np.zeros(4); out = {"y": y, "y_prime": y + 3, "y_nie": y + 2, "y_nde": y + 1}
>>> df = mediation({"m": out}, n_boot=50, seed=0)
>>> df.set_index("estimand").loc[["TE", "NIE", "NDE", "fraction"], "estimate"].tolist()
[3.0, 2.0, 1.0, 0.6666666666666666]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from causalvae.causal.stats import benjamini_hochberg, bootstrap_weights, paired_t_pvalue, percentile_interval

OUTCOME_KEYS = ("y", "y_prime", "y_nie", "y_nde")
ESTIMANDS = ("TE", "NIE", "NDE", "fraction")
COLUMNS = ["mediator", "outcome", "estimand", "estimate", "ci_low", "ci_high", "p_value", "q_value", "n"]


def _mediator_label(key: object) -> str:
    """``"a+b"`` for a jointly patched mediator set (a tuple keeps its order, a frozenset is sorted)."""
    if isinstance(key, frozenset):
        return "+".join(sorted(map(str, key)))
    return "+".join(map(str, key)) if isinstance(key, tuple) else str(key)


def _normalise(outcomes: Mapping | Sequence[Mapping]) -> dict[str, dict[str, np.ndarray]]:
    if isinstance(outcomes, Mapping) and set(OUTCOME_KEYS) <= set(outcomes):
        outcomes = {"mediator": outcomes}
    elif not isinstance(outcomes, Mapping):
        outcomes = {f"m{i}": o for i, o in enumerate(outcomes)}
    if not outcomes:
        raise ValueError("mediation needs at least one mediator's outcomes")
    out: dict[str, dict[str, np.ndarray]] = {}
    shape = None
    for key, arrays in outcomes.items():
        label = _mediator_label(key)
        if not isinstance(arrays, Mapping) or not set(OUTCOME_KEYS) <= set(arrays):
            got = sorted(arrays) if isinstance(arrays, Mapping) else type(arrays).__name__
            raise ValueError(f"mediator {label!r}: expected a dict with keys {list(OUTCOME_KEYS)}, got {got}")
        arrs = {}
        for k in OUTCOME_KEYS:
            a = np.asarray(arrays[k], dtype=np.float64)
            a = a[:, None] if a.ndim == 1 else a
            if a.ndim != 2:
                raise ValueError(f"mediator {label!r}: {k} must have shape (N,) or (N, T), got {a.shape}")
            if not np.isfinite(a).all():
                raise ValueError(f"mediator {label!r}: {k} contains NaN or infinite values")
            arrs[k] = a
        shapes = {k: a.shape for k, a in arrs.items()}
        if len(set(shapes.values())) != 1 or (shape is not None and arrs["y"].shape != shape):
            raise ValueError(f"mediator {label!r}: all outcome arrays (and mediators) must share one shape"
                             f"{'' if shape is None else f' {shape}'}, got {shapes}")
        shape = arrs["y"].shape
        if label in out:
            raise ValueError(f"duplicate mediator label {label!r}")
        out[label] = arrs
    return out


def treatment_direction(delta: np.ndarray) -> np.ndarray:
    """``sign(v'_k − v_k)`` per pair: the direction that makes mediation estimands effects of raising k.

    >>> treatment_direction(np.array([0.5, -2.0])).tolist()
    [1.0, -1.0]
    """
    d = np.sign(np.asarray(delta, dtype=np.float64))
    if d.ndim != 1 or not np.all(d != 0):
        raise ValueError("delta must be a 1-D array of nonzero factor changes (pairs whose factor did not change "
                         f"have no direction); got shape {d.shape} with {int(np.sum(d == 0))} zero changes")
    return d


def mediation(outcomes: Mapping | Sequence[Mapping], *, outcome_names: Sequence[str] | None = None,
              direction: np.ndarray | None = None, n_boot: int = 1000, confidence: float = 0.95,
              seed: int = 0) -> pd.DataFrame:
    """TE, NIE, NDE and mediated fraction per mediator from patched outcomes.

    Parameters
    ----------
    outcomes : one dict ``{"y", "y_prime", "y_nie", "y_nde"}``, a mapping ``mediator -> dict`` (a
        mediator may be a unit id, a latent id or a tuple of ids patched jointly, labelled
        ``"a+b"``), or a sequence of dicts (labelled ``m0, m1, ...``).  Arrays are (N,) or (N, T)
        for T outcomes, and all mediators must share the same inputs.
    outcome_names : names of the T outcome columns (default ``"0" .. "T-1"``).
    direction : optional (N,) multiplier of every per-pair difference, e.g. :func:`treatment_direction`
        (module docstring); default 1.
    n_boot : bootstrap resamples of the inputs (shared by all mediators, so CIs are paired).
    confidence : level of the percentile intervals.
    seed : seed of the bootstrap.

    Returns
    -------
    A long DataFrame with columns ``mediator, outcome, estimand, estimate, ci_low, ci_high, p_value,
    q_value, n``; ``estimand`` is ``TE``, ``NIE``, ``NDE`` or ``fraction`` (= NIE / TE, NaN when
    TE = 0).  p-values are two-sided paired t-tests of a zero mean; q-values are Benjamini–Hochberg
    adjusted across all mediators and outcomes, separately for each estimand (none for the fraction).
    """
    arrays = _normalise(outcomes)
    n, t = next(iter(arrays.values()))["y"].shape
    names = [str(i) for i in range(t)] if outcome_names is None else [str(s) for s in outcome_names]
    if len(names) != t:
        raise ValueError(f"outcome_names has {len(names)} names but the outcomes have {t} columns")
    sign = np.ones((n, 1)) if direction is None else np.asarray(direction, dtype=np.float64).reshape(-1, 1)
    if sign.shape != (n, 1) or not np.isfinite(sign).all():
        raise ValueError(f"direction must be {n} finite values (one per pair), got shape {np.shape(direction)}")
    weights = bootstrap_weights(n, n_boot=n_boot, seed=seed)
    rows = []
    for label, a in arrays.items():
        diffs = {"TE": sign * (a["y_prime"] - a["y"]), "NIE": sign * (a["y_nie"] - a["y"]),
                 "NDE": sign * (a["y_nde"] - a["y"])}
        point = {k: d.mean(axis=0) for k, d in diffs.items()}
        draws = {k: weights @ d for k, d in diffs.items()}
        with np.errstate(divide="ignore", invalid="ignore"):
            point["fraction"] = np.where(point["TE"] != 0, point["NIE"] / point["TE"], np.nan)
            draws["fraction"] = np.where(draws["TE"] != 0, draws["NIE"] / draws["TE"], np.nan)
        p = {k: paired_t_pvalue(d) for k, d in diffs.items()}
        for estimand in ESTIMANDS:
            low, high = percentile_interval(draws[estimand], confidence=confidence)
            for j, name in enumerate(names):
                rows.append({"mediator": label, "outcome": name, "estimand": estimand,
                             "estimate": float(point[estimand][j]), "ci_low": float(low[j]),
                             "ci_high": float(high[j]), "p_value": float(p[estimand][j]) if estimand in p else np.nan,
                             "q_value": np.nan, "n": n})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for estimand in ("TE", "NIE", "NDE"):
        mask = frame["estimand"] == estimand
        frame.loc[mask, "q_value"] = benjamini_hochberg(frame.loc[mask, "p_value"].to_numpy())
    return frame


def compare_mediation(interventional: pd.DataFrame, observational: pd.DataFrame) -> pd.DataFrame:
    """Join interventional and observational estimates on (mediator, outcome, estimand).

    Adds ``relative_difference = |obs − int| / |int|`` (NaN where the interventional estimate is 0).
    """
    keys = ["mediator", "outcome", "estimand"]
    for name, df in (("interventional", interventional), ("observational", observational)):
        missing = [c for c in keys + ["estimate"] if c not in df.columns]
        if missing:
            raise ValueError(f"{name} frame lacks columns {missing}; got {list(df.columns)}")
    joined = interventional[keys + ["estimate"]].merge(
        observational[keys + ["estimate"]], on=keys, suffixes=("_interventional", "_observational"))
    if joined.empty:
        raise ValueError("no (mediator, outcome, estimand) rows in common between the two frames")
    ref = joined["estimate_interventional"].abs()
    joined["relative_difference"] = ((joined["estimate_observational"] - joined["estimate_interventional"]).abs()
                                     / ref.where(ref > 0))
    return joined
