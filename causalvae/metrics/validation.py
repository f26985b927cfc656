"""Input checks shared by the metrics: clear errors instead of silent NaNs."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from causalvae.metrics.discrete import histogram_discretize


def check_codes(codes: np.ndarray, *, name: str = "codes", min_rows: int = 2) -> np.ndarray:
    """Return ``codes`` as a finite float64 N x d array or raise a ``ValueError``.

    A 1-D array is rejected (it is ambiguous between one latent and one sample).
    """
    arr = np.asarray(codes, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (N samples x d latents), got shape {arr.shape}")
    if arr.shape[0] < min_rows or arr.shape[1] < 1:
        raise ValueError(f"{name} needs at least {min_rows} samples and 1 column, got shape {arr.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        total = arr.sum()
    if np.isfinite(total):  # NaN and inf propagate into the sum: one pass, no mask in the common case
        return arr
    bad = ~np.isfinite(arr)
    if bad.any():
        rows, cols = np.nonzero(bad)
        raise ValueError(f"{name} contains {bad.sum()} non-finite values (NaN/inf), first at row {rows[0]}, "
                         f"column {cols[0]}; expected only finite values")
    return arr  # finite values whose sum overflowed


def check_pair(codes: np.ndarray, factors: np.ndarray, *, split: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Validate a (codes, factors) pair: both finite 2-D arrays with the same number of rows."""
    suffix = f"_{split}" if split else ""
    codes = check_codes(codes, name=f"codes{suffix}")
    factors = check_codes(factors, name=f"factors{suffix}")
    if len(codes) != len(factors):
        raise ValueError(f"codes{suffix} has {len(codes)} rows but factors{suffix} has {len(factors)}; "
                         "expected one factor row per code row")
    return codes, factors


def check_split(codes_train: np.ndarray, factors_train: np.ndarray, codes_test: np.ndarray,
                factors_test: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate train and test pairs and that they agree on the number of latents and factors."""
    ctr, ftr = check_pair(codes_train, factors_train, split="train")
    cte, fte = check_pair(codes_test, factors_test, split="test")
    if ctr.shape[1] != cte.shape[1]:
        raise ValueError(f"codes_train has {ctr.shape[1]} latents but codes_test has {cte.shape[1]}")
    if ftr.shape[1] != fte.shape[1]:
        raise ValueError(f"factors_train has {ftr.shape[1]} factors but factors_test has {fte.shape[1]}")
    return ctr, ftr, cte, fte


def varying_factor_columns(factors: np.ndarray, *, metric: str) -> np.ndarray:
    """Indices of the non-constant factor columns; warn about dropped ones, raise if none is left.

    A constant factor has zero entropy, so every normalised score of it is 0/0. The metrics leave
    such factors out (with a ``UserWarning``) instead of returning NaN.
    """
    constant = np.all(factors == factors[:1], axis=0)
    if constant.all():
        raise ValueError(f"{metric}: every factor is constant over the {len(factors)} samples; "
                         "expected at least one factor that varies")
    if constant.any():
        warnings.warn(f"{metric}: factors at columns {np.flatnonzero(constant).tolist()} are constant and "
                      "are left out of the score", UserWarning, stacklevel=3)
    return np.flatnonzero(~constant)


def continuous_factor_columns(factors: np.ndarray, *, n_bins: int = 20) -> np.ndarray:
    """Indices of the columns that look continuous: more than ``n_bins`` distinct values, most of them unique."""
    counts = np.array([len(np.unique(column)) for column in np.asarray(factors).T])
    return np.flatnonzero((counts > n_bins) & (counts > len(factors) / 2))


def discrete_factors(factors: np.ndarray, *, metric: str = "factors", n_bins: int = 20,
                     test: np.ndarray | None = None,
                     columns: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """The factors as classes, for metrics that treat each distinct factor value as a class.

    Continuous columns would make every sample its own class (MIG and modularity then silently near
    0, classifiers refuse them); they are binned into ``n_bins`` equal-width bins
    (disentanglement_lib's discretisation of codes).  ``columns`` names them (e.g. the factors a
    dataset declares continuous); by default the columns that look continuous
    (:func:`continuous_factor_columns`) are binned, with a ``UserWarning`` naming ``metric``.
    ``test`` factors are binned with the bins of ``factors``.  Returns ``(factors, test)``, float64 when
    a column was binned.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     binned, _ = discrete_factors(np.linspace(0, 1, 50)[:, None], metric="MIG", n_bins=5)
    >>> np.unique(binned).tolist()
    [0.0, 1.0, 2.0, 3.0, 4.0]
    >>> declared, _ = discrete_factors(np.array([[0.0, 0.1], [1.0, 0.9], [2.0, 0.2]]), columns=[1], n_bins=2)
    >>> declared.tolist()
    [[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]]
    """
    if columns is not None:
        columns = np.asarray(columns, dtype=np.int64).reshape(-1)
        if columns.size and (columns.min() < -factors.shape[1] or columns.max() >= factors.shape[1]):
            raise ValueError(f"columns must index the {factors.shape[1]} factor columns, got {columns.tolist()}")
    else:
        columns = continuous_factor_columns(factors, n_bins=n_bins)
        if columns.size:
            _warn_binned(metric, columns, n_bins)
    if not columns.size:
        return factors, test

    def binned(values: np.ndarray) -> np.ndarray:
        out = values.astype(np.float64, copy=True)
        out[:, columns] = histogram_discretize(values[:, columns], n_bins=n_bins, reference=factors[:, columns])
        return out

    return binned(factors), None if test is None else binned(test)


def _warn_binned(metric: str, columns: np.ndarray, n_bins: int) -> None:
    warnings.warn(f"{metric}: factors at columns {columns.tolist()} look continuous (more than {n_bins} distinct "
                  f"values, most of them unique) and are discretised into {n_bins} equal-width bins; discretise "
                  "them yourself (histogram_discretize) to choose the bins", UserWarning, stacklevel=4)


