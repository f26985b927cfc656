"""Histogram discretisation and discrete mutual information (disentanglement_lib ``utils.py``).

The estimators match ``disentanglement_lib.evaluation.metrics.utils``: ``_histogram_discretize``
(``np.digitize`` against the left edges of ``np.histogram``'s equal-width bins) and
``discrete_mutual_info`` / ``discrete_entropy`` (``sklearn.metrics.mutual_info_score``, in nats),
computed here with one ``np.bincount`` per factor instead of one sklearn call per pair.
Arrays are N x d (samples first), unlike disentanglement_lib's d x N.
"""

from __future__ import annotations

import numpy as np

from causalvae.argtypes import check_int


def histogram_discretize(values: np.ndarray, *, n_bins: int = 20, reference: np.ndarray | None = None) -> np.ndarray:
    """Discretise each column of ``values`` into ``n_bins`` equal-width bins, labelled 0..n_bins-1.

    Same bins as disentanglement_lib's ``_histogram_discretize`` (whose labels are 1..n_bins);
    a constant column lands in a single bin.  With ``reference`` (same columns), the bins are those
    of ``reference`` and values outside its range fall in the first or last bin (to bin a test split
    like its train split).

    Examples
    --------
    >>> histogram_discretize(np.array([[0.0], [0.5], [1.0]]), n_bins=2).ravel().tolist()
    [0, 1, 1]
    """
    n_bins = check_int(n_bins, name="n_bins", minimum=1)
    values = np.asarray(values, dtype=np.float64)
    reference = values if reference is None else np.asarray(reference, dtype=np.float64)
    if values.ndim != 2 or reference.shape[1:] != values.shape[1:]:
        raise ValueError(f"values must be 2-D (N x d) with the columns of reference, got shapes {values.shape} "
                         f"and {reference.shape}")
    out = np.empty(values.shape, dtype=np.int64)
    for j in range(values.shape[1]):
        edges = np.histogram(reference[:, j], n_bins)[1][:-1]
        out[:, j] = np.clip(np.digitize(values[:, j], edges) - 1, 0, n_bins - 1)
    return out


def labels(column: np.ndarray) -> tuple[np.ndarray, int]:
    """Map the values of a 1-D array to labels 0..m-1 (sorted order); return labels and m."""
    uniques, inverse = np.unique(np.asarray(column), return_inverse=True)
    return inverse.reshape(-1).astype(np.int64), len(uniques)


def _mi_from_joint(joint: np.ndarray) -> np.ndarray:
    """Mutual information (nats) of the last two axes of a stack of joint count tables."""
    n = joint.sum(axis=(-2, -1), keepdims=True)
    p = joint / n
    pa = p.sum(axis=-1, keepdims=True)
    pb = p.sum(axis=-2, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(pa) - np.log(pb)), 0.0)
    return np.maximum(terms.sum(axis=(-2, -1)), 0.0)


def discrete_mutual_info(codes_discrete: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Mutual information (nats) between every discrete code column and every factor column.

    Parameters
    ----------
    codes_discrete : N x d array of discrete values (e.g. from :func:`histogram_discretize`).
    factors : N x K array of discrete factor values (any values; each distinct value is a class).

    Returns
    -------
    d x K matrix ``m[i, k] = I(code_i; factor_k)`` as ``sklearn.metrics.mutual_info_score``.
    """
    codes_discrete, factors = np.asarray(codes_discrete), np.asarray(factors)
    if codes_discrete.ndim != 2 or factors.ndim != 2 or len(codes_discrete) != len(factors):
        raise ValueError(f"expected N x d codes and N x K factors with the same N, got shapes "
                         f"{codes_discrete.shape} and {factors.shape}")
    code_labels = [labels(c) for c in codes_discrete.T]
    width = max(m for _, m in code_labels)
    offset = np.stack([lab for lab, _ in code_labels], axis=0) + (np.arange(len(code_labels)) * width)[:, None]
    m = np.zeros((codes_discrete.shape[1], factors.shape[1]))
    for k in range(factors.shape[1]):
        fac, n_values = labels(factors[:, k])
        joint = np.bincount((offset * n_values + fac).ravel(), minlength=len(code_labels) * width * n_values)
        m[:, k] = _mi_from_joint(joint.reshape(len(code_labels), width, n_values).astype(np.float64))
    return m


def discrete_entropy(factors: np.ndarray) -> np.ndarray:
    """Entropy (nats) of each discrete column of an N x K array."""
    factors = np.asarray(factors)
    if factors.ndim != 2:
        raise ValueError(f"factors must be 2-D (N x K), got shape {factors.shape}")
    h = np.zeros(factors.shape[1])
    for k in range(factors.shape[1]):
        p = np.bincount(labels(factors[:, k])[0]) / len(factors)
        h[k] = -np.sum(p * np.log(p))
    return h
