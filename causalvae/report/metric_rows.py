"""Turn ``metrics.json`` into table rows, and compare the aligned factor graph with the true DAG.

``metrics.json`` is a flat or one-level-nested dict; a leaf is a number (or string / null) or an
estimate ``{"value": .., "ci_low": .., "ci_high": ..}``.  A flat key ``"group.name"`` belongs to
``group`` just as ``{"group": {"name": ..}}`` does.

>>> [(r.group, r.name, r.value, r.ci_low) for r in metric_rows({"shd": 2, "ces.paper": {"value": 4.0, "ci_low": 3.5}})]
[('', 'shd', 2, None), ('ces', 'paper', 4.0, 3.5)]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx

from causalvae.causal.dags import EdgeClasses, classify_edges
from causalvae.units import is_factor, parse_factor


@dataclass(frozen=True)
class MetricRow:
    """One metric: its group ("" at top level), name, value and optional 95 % CI bounds."""

    group: str
    name: str
    value: Any
    ci_low: Any = None
    ci_high: Any = None


def metric_rows(metrics: Mapping[str, Any]) -> list[MetricRow]:
    """Flatten ``metrics.json`` into rows, keeping file order; deeper nesting gets dotted names."""
    if not isinstance(metrics, Mapping):
        raise TypeError(f"metrics must be a mapping, got {type(metrics).__name__}")
    rows: list[MetricRow] = []
    for key, value in metrics.items():
        if isinstance(value, Mapping) and not _is_estimate(value):
            rows.extend(_leaf_rows(str(key), "", value))
        else:
            group, dot, name = str(key).partition(".")
            rows.append(_row(group, name, value) if dot and group and name else _row("", str(key), value))
    return rows


def find_metric(rows: list[MetricRow], fragment: str, *, group: str | None = None) -> MetricRow | None:
    """The row named ``fragment``, else the first whose name contains it (case-insensitive),
    optionally within ``group``."""
    fragment = fragment.lower()
    candidates = [row for row in rows if fragment in row.name.lower() and group in (None, row.group)]
    exact = [row for row in candidates if row.name.lower() == fragment]
    return (exact or candidates or [None])[0]


def compare_edges(aligned: nx.DiGraph, true_dag: nx.DiGraph) -> EdgeClasses:
    """Compare the factor-to-factor edges of ``aligned`` with the edges of ``true_dag``
    (names without ``factor.``), by the one edge classifier :func:`causalvae.causal.dags.classify_edges`.

    A factor node of the aligned graph is a ``factor.<name>`` id or a node with ``role="factor"``;
    edges touching other nodes (units, latents) are ignored, and so are edges marked
    ``status="missing"`` (reference edges drawn for display but not found).
    """
    found = [(_factor_name(u), _factor_name(v)) for u, v, status in aligned.edges(data="status")
             if status != "missing" and _is_factor_node(aligned, u) and _is_factor_node(aligned, v)]
    return classify_edges(found, [(_factor_name(u), _factor_name(v)) for u, v in true_dag.edges])


def _leaf_rows(group: str, prefix: str, values: Mapping[str, Any]) -> list[MetricRow]:
    rows = []
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and not _is_estimate(value):
            rows.extend(_leaf_rows(group, f"{name}.", value))
        else:
            rows.append(_row(group, name, value))
    return rows


def _row(group: str, name: str, value: Any) -> MetricRow:
    if _is_estimate(value):
        return MetricRow(group, name, value.get("value"), value.get("ci_low"), value.get("ci_high"))
    return MetricRow(group, name, value)


def _is_estimate(value: Any) -> bool:
    return isinstance(value, Mapping) and "value" in value


def _is_factor_node(graph: nx.DiGraph, node: str) -> bool:
    return is_factor(node) or graph.nodes[node].get("role") == "factor"


def _factor_name(node: str) -> str:
    return parse_factor(node) if is_factor(node) else str(node)
