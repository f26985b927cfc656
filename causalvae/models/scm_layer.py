"""A structural-causal-model layer over concept latents, with a learned weighted adjacency ``A``.

The layer maps exogenous noises ``ε`` (one coordinate per concept) to endogenous concepts ``z`` by
the structural equations of a graph learned as ``A`` (``A[i, j] != 0``: concept i causes concept j),
in the masked nonlinear form of CausalVAE (Yang et al. 2021)::

    z_j = g_j(A[:, j] ∘ z) + ε_j

``g_j`` is a small MLP (ELU hidden layer) whose input columns and output row have unit norm, so
``|A[i, j]|`` bounds the sensitivity of concept j to concept i: ``|∂g_j/∂z_i| <= |A[i, j]|``
everywhere (the ELU is 1-Lipschitz).  The strength of an edge is therefore carried by ``A`` and
cannot hide in ``g_j``'s weights.  Without the bound, the DAG penalty can be met by shrinking ``A``
while the MLP's output weights grow: a learned layer kept both directions of posX <-> posY at
|A| ≈ 0.13 while computing them with slopes 0.83 and 0.66.  Each mechanism is its own module
(``scm.m<j>``), applied in a topological order of ``|A|``: swapping ``z_k`` at ``scm.m<k>`` and
letting the later mechanisms run is ``do(z_k = value)`` with the base's noises (abduction), which is
what an interchange intervention needs.  For a DAG the pass equals the exact solution of the
equations; during training, while ``A`` may still hold a cycle, an edge against the order reads the
parent's noise instead of its value, and the DAG penalty removes such edges.

``A`` starts at zero (no prior on the causal order).  :func:`dag_penalty` is NOTEARS'
``h(A) = tr(exp(A ∘ A)) - d`` (zero exactly on DAGs).  :meth:`SCMLayer.prune` keeps the edges with
``|A| > threshold`` (greedily by weight, skipping any that would close a cycle) and freezes the rest
at zero: the exported factor DAG and the computation are then the same graph.

>>> layer = SCMLayer(n_concepts=3, width=4)
>>> eps = torch.randn(5, 4)
>>> bool(torch.equal(layer(eps), eps + layer.offsets(eps)))   # A = 0: z = g(0) + ε
True
>>> float(dag_penalty(torch.zeros(3, 3)))
0.0
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import torch
from torch import nn

#: |A[i, j]| above which ``i -> j`` is an edge of the exported DAG (NOTEARS' w_threshold).
EDGE_THRESHOLD = 0.3


def dag_penalty(weights: torch.Tensor) -> torch.Tensor:
    """NOTEARS' acyclicity function ``h(A) = tr(exp(A ∘ A)) - d``: 0 iff ``A`` is a DAG's adjacency.

    >>> round(float(dag_penalty(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))), 4)   # a 2-cycle: 2 cosh(1) - 2
    1.0862
    """
    if weights.dim() != 2 or weights.shape[0] != weights.shape[1]:
        raise ValueError(f"weights must be a square matrix, got shape {tuple(weights.shape)}")
    return torch.diagonal(torch.matrix_exp(weights * weights)).sum() - weights.shape[0]


def topological_order(strength: torch.Tensor) -> list[int]:
    """An order of the nodes of the weighted graph ``strength`` (d x d, >= 0): repeatedly the remaining
    node with the least incoming strength from the remaining nodes (lowest index on ties).  For a DAG's
    adjacency this is a topological order.

    >>> topological_order(torch.tensor([[0.0, 0.0], [2.0, 0.0]]))   # 1 -> 0
    [1, 0]
    """
    remaining = list(range(strength.shape[0]))
    order = []
    s = strength.detach().to(torch.float64)
    while remaining:
        incoming = s[remaining][:, remaining].sum(0)
        pick = remaining[int(torch.argmin(incoming))]
        order.append(pick)
        remaining.remove(pick)
    return order


class Mechanism(nn.Module):
    """``z_j = g_j(a ∘ z_c) + ε_j`` for concept ``index`` (``a``: column j of A); returns z with column j set."""

    def __init__(self, index: int, n_concepts: int, hidden: int) -> None:
        super().__init__()
        self.index, self.n_concepts = index, n_concepts
        self.inner = nn.Linear(n_concepts, hidden)
        self.outer = nn.Linear(hidden, 1)

    def value(self, parents: torch.Tensor) -> torch.Tensor:
        """``g_j(parents)``, shape (N,): unit-norm input columns, ELU, unit-norm output row (1-Lipschitz
        in each input)."""
        w = self.inner.weight / self.inner.weight.norm(dim=0, keepdim=True).clamp_min(1e-12)
        v = self.outer.weight / self.outer.weight.norm().clamp_min(1e-12)
        hidden = nn.functional.elu(nn.functional.linear(parents, w, self.inner.bias))
        return nn.functional.linear(hidden, v, self.outer.bias)[:, 0]

    def forward(self, z: torch.Tensor, eps: torch.Tensor, column: torch.Tensor) -> torch.Tensor:
        j = self.index
        new = self.value(z[:, : self.n_concepts] * column) + eps[:, j]
        return torch.cat([z[:, :j], new[:, None], z[:, j + 1:]], dim=1)


class SCMLayer(nn.Module):
    """Concepts ``0 .. n_concepts-1`` of a ``width``-wide code pass through learned structural equations;
    the other coordinates (free latents) pass unchanged.

    Parameters
    ----------
    n_concepts : number of causal concepts (the first coordinates of the code).
    width : width of the code (``>= n_concepts``).
    hidden : width of each mechanism's MLP.
    """

    def __init__(self, n_concepts: int, width: int, *, hidden: int = 16) -> None:
        super().__init__()
        if not 1 <= n_concepts <= width or hidden < 1:
            raise ValueError(f"need 1 <= n_concepts <= width and hidden >= 1, got n_concepts={n_concepts}, "
                             f"width={width}, hidden={hidden}")
        self.n_concepts = int(n_concepts)
        self.weights = nn.Parameter(torch.zeros(n_concepts, n_concepts))
        self.register_buffer("keep", 1.0 - torch.eye(n_concepts))  # 0 on the diagonal, off the support, pruned
        self.register_buffer("graph_fixed", torch.tensor(0.0))  # 1 once prune() has fixed the graph
        for j in range(n_concepts):
            self.add_module(f"m{j}", Mechanism(j, n_concepts, hidden))

    @property
    def mechanisms(self) -> list[Mechanism]:
        return [getattr(self, f"m{j}") for j in range(self.n_concepts)]

    def adjacency(self) -> torch.Tensor:
        """The effective weighted adjacency ``A ∘ keep`` (no self-loops, pruned edges zero)."""
        return self.weights * self.keep

    def order(self) -> list[int]:
        """:func:`topological_order` of ``|A ∘ keep|``, read from the tensors themselves (so an fx trace
        records the mechanisms in the order of the weights it traces)."""
        return topological_order((self._parameters["weights"] * self._buffers["keep"]).detach().abs())

    def forward(self, eps: torch.Tensor) -> torch.Tensor:
        a = self.adjacency()
        z = eps
        for j in self.order():
            z = self.mechanisms[j](z, eps, a[:, j])
        return z

    def offsets(self, eps: torch.Tensor) -> torch.Tensor:
        """``g_j(0)`` of every concept (zeros for free latents), shape like ``eps``: the layer's output at A = 0
        minus ``eps``."""
        zero = torch.zeros(len(eps), self.n_concepts, dtype=eps.dtype, device=eps.device)
        out = torch.zeros_like(eps)
        for j, m in enumerate(self.mechanisms):
            out[:, j] = m.value(zero)
        return out

    def predict(self, concepts: torch.Tensor) -> torch.Tensor:
        """Every concept predicted from the others' given values: ``g_j(A[:, j] ∘ u)`` (N x n_concepts)."""
        a = self.adjacency()
        return torch.stack([m.value(concepts * a[:, j]) for j, m in enumerate(self.mechanisms)], dim=1)

    def edges(self, threshold: float = EDGE_THRESHOLD) -> list[tuple[int, int]]:
        """Edges ``(i, j)`` with ``|A[i, j]| > threshold``, strongest first, skipping any that closes a cycle."""
        a = self.adjacency().detach().abs()
        candidates = sorted(((float(a[i, j]), i, j) for i in range(self.n_concepts) for j in range(self.n_concepts)
                             if float(a[i, j]) > threshold), reverse=True)
        graph = nx.DiGraph()
        graph.add_nodes_from(range(self.n_concepts))
        for _, i, j in candidates:
            if not nx.has_path(graph, j, i):
                graph.add_edge(i, j)
        return sorted(graph.edges)

    @property
    def pruned(self) -> bool:
        """Whether :meth:`prune` has fixed the graph."""
        return bool(self.graph_fixed)

    @torch.no_grad()
    def restrict(self, allowed: torch.Tensor) -> None:
        """Allow edges only where ``allowed`` (n_concepts x n_concepts, nonzero = allowed) is: the
        entries of ``A`` outside it stay zero (a candidate set, e.g. a skeleton from CI tests)."""
        if tuple(allowed.shape) != (self.n_concepts,) * 2:
            raise ValueError(f"allowed must be {self.n_concepts} x {self.n_concepts}, got {tuple(allowed.shape)}")
        self.keep.mul_((allowed != 0).to(self.keep.dtype))

    @torch.no_grad()
    def prune(self, threshold: float = EDGE_THRESHOLD) -> list[tuple[int, int]]:
        """Freeze every weight outside :meth:`edges` at zero (the layer then computes exactly that DAG)."""
        kept = self.edges(threshold)
        self.keep.zero_()
        for i, j in kept:
            self.keep[i, j] = 1.0
        self.graph_fixed.fill_(1.0)
        return kept


def learned_dag(layer: SCMLayer, factor_names: Sequence[str], factor_kinds: Sequence[str], *,
                dataset: str, threshold: float = EDGE_THRESHOLD) -> nx.DiGraph:
    """The layer's DAG as a schema-valid factor graph (concept j named ``factor_names[j]``); each edge
    carries its learned weight ``A[i, j]`` and the threshold used.

    >>> g = learned_dag(SCMLayer(2, 2), ["a", "b"], ["continuous"] * 2, dataset="toy")
    >>> sorted(g.nodes), list(g.edges), g.graph["kind"]
    (['a', 'b'], [], 'factor')
    """
    from causalvae.data.factor_dags import factor_graph

    if len(factor_names) != layer.n_concepts:
        raise ValueError(f"factor_names must name the layer's {layer.n_concepts} concepts, got {len(factor_names)}")
    a = layer.adjacency().detach()
    edges = layer.edges(threshold)
    graph = factor_graph(dataset, factor_names, factor_kinds, [(factor_names[i], factor_names[j]) for i, j in edges])
    for i, j in edges:
        graph.edges[factor_names[i], factor_names[j]].update(weight=float(a[i, j]), threshold=float(threshold),
                                                            source="learned-A")
    graph.graph["learned_by"] = "scm-vae"
    return graph
