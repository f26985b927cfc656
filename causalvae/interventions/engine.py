"""Exact effect scans (every unit intervened on in turn): the optimised engine and the plain per-unit
hook loop it must equal.

The engine (DESIGN §6) runs one clean pass per input chunk, caches every fx node, and for each
unit recomputes only the nodes downstream of its site that feed a requested target.  Units whose
alternative equals their clean activation on every input of the chunk are provable no-ops and
are skipped.  When a site feeds (through element-wise nodes) a single conv / linear layer, the
unit's change enters that layer through a one-channel convolution instead of the full layer.
Interventions can be stacked along the batch axis (``units_per_pass``; pays on GPUs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from causalvae.interventions.alternatives import Alternative
from causalvae.interventions.batching import chunks
from causalvae.interventions.forward import analysis_mode
from causalvae.interventions.hooks import forward_capture
from causalvae.interventions.ops import patch
from causalvae.interventions.targets import StatisticAccumulator, Target, column_slices, per_input_change
from causalvae.interventions.trace import OUTPUT, TracedModel

if TYPE_CHECKING:
    from causalvae.interventions.analysis import Analysis

_ELEMENTWISE_MODULES = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Softplus,
                        nn.Identity)
_ELEMENTWISE_FUNCTIONS = {torch.relu, F.relu, torch.sigmoid, torch.tanh, F.leaky_relu, F.elu, F.gelu, F.silu}


@dataclass(frozen=True)
class _LinearPath:
    chain: tuple[fx.Node, ...]  # element-wise nodes between the site and the layer
    layer: fx.Node  # the conv / linear module node fed only by the chain


def _is_elementwise(node: fx.Node, traced: TracedModel) -> bool:
    if node.op == "call_module":
        return isinstance(traced.modules[node.target], _ELEMENTWISE_MODULES)
    return node.op == "call_function" and node.target in _ELEMENTWISE_FUNCTIONS and len(node.all_input_nodes) == 1


def _linear_path(traced: TracedModel, site: str) -> _LinearPath | None:
    node, chain = traced.site_nodes[site], []
    while len(node.users) == 1:
        user = next(iter(node.users))
        if len(user.all_input_nodes) != 1 or user.args[0] is not node:
            return None
        if user.op == "call_module":
            module = traced.modules[user.target]
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) and getattr(module, "groups", 1) == 1 \
                    and getattr(module, "padding_mode", "zeros") == "zeros" and not user.kwargs and len(user.args) == 1:
                return _LinearPath(tuple(chain), user)
        if not _is_elementwise(user, traced):
            return None
        chain.append(user)
        node = user
    return None


def _apply_slice(traced: TracedModel, node: fx.Node, value: torch.Tensor) -> torch.Tensor:
    args = (value,) + tuple(node.args[1:])
    if node.op == "call_module":
        return traced.modules[node.target](*args, **node.kwargs)
    return node.target(*args, **node.kwargs)


def _layer_delta(module: nn.Module, delta: torch.Tensor, unit: int) -> torch.Tensor:
    """Change of ``module``'s output when input unit ``unit`` changes by ``delta`` (N x 1 x ...)."""
    if isinstance(module, nn.Linear):
        return delta.reshape(-1, 1) * module.weight[:, unit][None]
    if isinstance(module, nn.Conv2d):
        return F.conv2d(delta, module.weight[:, unit:unit + 1], None, module.stride, module.padding,
                        module.dilation)
    return F.conv_transpose2d(delta, module.weight[unit:unit + 1], None, module.stride, module.padding,
                              module.output_padding, 1, module.dilation)


def _with_unit(a: torch.Tensor, alt: torch.Tensor, unit: int) -> torch.Tensor:
    out = a.clone()
    out[:, unit] = alt[:, unit]
    return out


def _counts(acc: StatisticAccumulator, targets: Sequence[Target], clean: Mapping[str, torch.Tensor], n: int) -> None:
    for t, col in zip(targets, column_slices(targets)):
        positions = 1 if t.units is None else int(np.prod(clean[t.source].shape[2:], dtype=np.int64))
        acc.add_count(col, n * positions)


def exact_scan(an: Analysis, traced: TracedModel, x, *, sources: Mapping[str, Sequence[int]],
               targets: Sequence[Target], alternative: Alternative, batch_size: int = 64, units_per_pass: int = 1,
                linear_path: bool = True, skip_noops: bool = True) -> tuple[StatisticAccumulator, dict]:
    """Optimised exact scan; rows follow ``sources`` (site by site, unit by unit)."""
    scan = _ExactScan(an, traced, sources, targets, alternative, units_per_pass=units_per_pass,
                      linear_path=linear_path, skip_noops=skip_noops)
    with analysis_mode(an.module), torch.no_grad():
        for rows in chunks(len(x), batch_size):
            source = an.tensor(alternative.source, rows) if alternative.needs_source else None
            scan.chunk(an.tensor(x, rows), source, rows)  # the chunk's cache dies on return
    return scan.acc, scan.info


class _ExactScan:
    """State of one exact scan: accumulators and counters, filled one input chunk at a time."""

    def __init__(self, an, traced, sources, targets, alternative, *, units_per_pass, linear_path, skip_noops):
        self.traced, self.sources, self.targets, self.alternative = traced, sources, list(targets), alternative
        self.loss = an.loss
        self.per_pass, self.linear_path, self.skip_noops = units_per_pass, linear_path, skip_noops
        self.acc = StatisticAccumulator(sum(len(u) for u in sources.values()), sum(len(t.columns) for t in targets))
        self.slices = column_slices(targets)
        self.target_sources = tuple(dict.fromkeys(t.source for t in targets))
        self.info = {"skipped_noops": 0, "linear_path_units": 0, "recomputed_units": 0}

    def _path(self, site: str, a: torch.Tensor, nodes: tuple[fx.Node, ...]) -> _LinearPath | None:
        path = _linear_path(self.traced, site) if self.linear_path else None
        if path is None or path.layer not in nodes:
            return None
        targets = {self.traced.node_of(s) for s in self.target_sources}
        if targets & {self.traced.site_nodes[site], *path.chain}:
            return None
        if isinstance(self.traced.modules[path.layer.target], nn.Linear) and a.dim() != 2:
            return None
        return path

    def chunk(self, xb: torch.Tensor, source: torch.Tensor | None, rows: slice) -> None:
        traced = self.traced
        env = traced.run(xb)
        src_env = traced.run(source) if source is not None else None
        clean = {s: env[traced.node_of(s)] for s in self.target_sources}
        _counts(self.acc, self.targets, clean, xb.shape[0])
        row = 0
        for site, units in self.sources.items():
            node = traced.site_nodes[site]
            a = env[node]
            alt = self.alternative.build(site, a, None if src_env is None else src_env[node], rows)
            nodes = traced.downstream(site, self.target_sources)
            path = self._path(site, a, nodes)
            live = [(row + i, u) for i, u in enumerate(units)
                    if not (self.skip_noops and torch.equal(a[:, u], alt[:, u]))]
            self.info["skipped_noops"] += len(units) - len(live)
            row += len(units)
            start = nodes.index(path.layer) + 1 if path is not None else 0
            for g in range(0, len(live), self.per_pass):
                group = live[g:g + self.per_pass]
                if path is not None:
                    overrides = {path.layer: torch.cat([_layer_input_change(traced, path, env, a, alt, u)
                                                        for _, u in group])}
                    self.info["linear_path_units"] += len(group)
                else:
                    overrides = {node: torch.cat([_with_unit(a, alt, u) for _, u in group])}
                    self.info["recomputed_units"] += len(group)
                local = traced.replay(env, overrides, nodes[start:], repeat=len(group))
                for t, col in zip(self.targets, self.slices):
                    tnode = traced.node_of(t.source)
                    if tnode in local:
                        change = per_input_change(t, clean[t.source], local[tnode], xb, len(group), self.loss)
                        self.acc.add([r for r, _ in group], col, change)


def _layer_input_change(traced: TracedModel, path: _LinearPath, env, a: torch.Tensor, alt: torch.Tensor,
                        unit: int) -> torch.Tensor:
    """New value of the path's layer output after swapping one unit: clean + one-channel delta."""
    new, old = alt[:, unit:unit + 1], a[:, unit:unit + 1]
    for node in path.chain:
        new, old = _apply_slice(traced, node, new), env[node][:, unit:unit + 1]
    module = traced.modules[path.layer.target]
    return env[path.layer] + _layer_delta(module, new - old, unit)


def naive_scan(an: Analysis, x, *, sources: Mapping[str, Sequence[int]], targets: Sequence[Target],
               alternative: Alternative, batch_size: int = 64) -> StatisticAccumulator:
    """Reference: one full forward pass with a hook per unit and input chunk (no caching, no skipping)."""
    model, loss = an.module, an.loss
    acc = StatisticAccumulator(sum(len(u) for u in sources.values()), sum(len(t.columns) for t in targets))
    slices = column_slices(targets)
    target_sites = [t.source for t in targets if t.source != OUTPUT]
    with torch.no_grad():
        for rows in chunks(len(x), batch_size):
            xb = an.tensor(x, rows)
            acts, out = forward_capture(model, xb, list(sources) + target_sites)
            src = (forward_capture(model, an.tensor(alternative.source, rows), list(sources))[0]
                   if alternative.needs_source else {})
            clean = {**acts, OUTPUT: out}
            _counts(acc, targets, clean, xb.shape[0])
            row = 0
            for site, units in sources.items():
                alt = alternative.build(site, acts[site], src.get(site), rows)
                for u in units:
                    new_acts, new_out = forward_capture(model, xb, target_sites, ops={site: patch([u], alt)})
                    new = {**new_acts, OUTPUT: new_out}
                    for t, col in zip(targets, slices):
                        acc.add([row], col, per_input_change(t, clean[t.source], new[t.source], xb, 1, loss))
                    row += 1
    return acc
