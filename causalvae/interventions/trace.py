"""Trace a model into an fx graph whose sites are leaves, and replay parts of it.

Why fx rather than splitting at module boundaries: a VAE is not a chain (mu and log-variance
heads, the encode/decode split, skip connections), and the fx graph gives the exact data-flow
DAG, so "what lies downstream of a site and upstream of the targets" is a set computation.
Every node outside that set is read from the cached clean pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import torch
from torch import fx, nn

from causalvae.interventions.forward import MODEL_PREFIX, active_spec, analysis_mode
from causalvae.interventions.fxsites import traced_output
from causalvae.interventions.checks import check_finite
from causalvae.interventions.spec import pick_reconstruction

OUTPUT = "output"


class _Root(nn.Module):
    """The model under the ``model.`` prefix; its traced output is the model's whole output."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> object:
        return self.model(x)


class _SiteTracer(fx.Tracer):
    """Default fx tracer that also records the node producing each call of a wanted module.

    Blocks such as ``Sequential(layer=Conv2d, act=ReLU)`` are traced through (so the engine
    sees the conv inside the next block); the site's node is the block's output node.
    """

    def __init__(self, wanted: set[str]) -> None:
        super().__init__()
        self.wanted = wanted
        self.calls: dict[str, list[fx.Node]] = {}

    def call_module(self, m, forward, args, kwargs):
        out = super().call_module(m, forward, args, kwargs)
        qualname = self.path_of_module(m)
        if qualname in self.wanted and isinstance(out, fx.Proxy):
            self.calls.setdefault(qualname[len(MODEL_PREFIX):], []).append(out.node)
        return out


@dataclass
class TracedModel:
    """The analysis forward of a model as an fx graph with site and output nodes located."""

    module: nn.Module
    graph: fx.Graph
    site_nodes: dict[str, fx.Node]
    output_node: fx.Node
    batched: set[fx.Node] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.nodes = list(self.graph.nodes)
        self.position = {n: i for i, n in enumerate(self.nodes)}
        self.modules = dict(self.module.named_modules())
        placeholders = [n for n in self.nodes if n.op == "placeholder"]
        self.input_node = placeholders[0]
        self.batched = self.descendants([self.input_node]) | {self.input_node}
        self._downstream: dict[tuple[str, tuple[str, ...]], tuple[fx.Node, ...]] = {}

    def descendants(self, roots: Iterable[fx.Node]) -> set[fx.Node]:
        """Every node reachable from ``roots`` (excluding the roots)."""
        seen: set[fx.Node] = set()
        stack = list(roots)
        while stack:
            for user in stack.pop().users:
                if user not in seen:
                    seen.add(user)
                    stack.append(user)
        return seen

    def ancestors(self, roots: Iterable[fx.Node]) -> set[fx.Node]:
        """``roots`` and every node they read from."""
        seen = set(roots)
        stack = list(roots)
        while stack:
            for arg in stack.pop().all_input_nodes:
                if arg not in seen:
                    seen.add(arg)
                    stack.append(arg)
        return seen

    def downstream(self, site: str, targets: tuple[str, ...]) -> tuple[fx.Node, ...]:
        """Nodes to recompute after changing ``site``: descendants of it that feed a target, in order."""
        key = (site, targets)
        if key not in self._downstream:
            target_nodes = [self.node_of(t) for t in targets]
            need = self.descendants([self.site_nodes[site]]) & self.ancestors(target_nodes)
            self._downstream[key] = tuple(sorted(need, key=self.position.__getitem__))
        return self._downstream[key]

    def node_of(self, name: str) -> fx.Node:
        return self.output_node if name == OUTPUT else self.site_nodes[name]

    def run(self, x: torch.Tensor, *, check: bool = True) -> dict[fx.Node, object]:
        """Clean pass: the value of every node."""
        env: dict[fx.Node, object] = {}
        for node in self.nodes:
            if node.op == "placeholder":
                env[node] = x
            elif node.op == "output":
                continue
            else:
                env[node] = self.execute(node, env)
        if check:
            self._check_finite(env)
        return env

    def _check_finite(self, env: Mapping[fx.Node, object]) -> None:
        """Raise naming the first module whose output is non-finite (checked only when a site or the output is)."""
        watched = [*self.site_nodes.values(), self.output_node]
        if all(torch.isfinite(env[n]).all() for n in watched if isinstance(env[n], torch.Tensor)
               and env[n].is_floating_point()):
            return
        for node in self.nodes:
            if node.op == "call_module" and isinstance(env.get(node), torch.Tensor):
                check_finite(node.target.removeprefix(MODEL_PREFIX), env[node])
        check_finite("output", env[self.output_node])

    def execute(self, node: fx.Node, env: Mapping[fx.Node, object]) -> object:
        args = fx.node.map_arg(node.args, env.__getitem__)
        kwargs = fx.node.map_arg(node.kwargs, env.__getitem__)
        if node.op == "call_module":
            return self.modules[node.target](*args, **kwargs)
        if node.op == "call_function":
            return node.target(*args, **kwargs)
        if node.op == "call_method":
            return getattr(args[0], node.target)(*args[1:], **kwargs)
        if node.op == "get_attr":
            obj = self.module
            for part in node.target.split("."):
                obj = getattr(obj, part)
            return obj
        raise ValueError(f"cannot execute fx node {node.name} of op {node.op!r}")

    def replay(self, env: Mapping[fx.Node, object], overrides: Mapping[fx.Node, object],
               nodes: Iterable[fx.Node], *, repeat: int = 1) -> dict[fx.Node, object]:
        """Recompute ``nodes`` given ``overrides``; everything else comes from ``env``.

        With ``repeat > 1`` the overrides hold ``repeat`` stacked interventions along the batch
        axis, and cached batched values are tiled to match.
        """
        local: dict[fx.Node, object] = dict(overrides)

        def lookup(n: fx.Node) -> object:
            if n in local:
                return local[n]
            value = env[n]
            if repeat > 1 and n in self.batched and isinstance(value, torch.Tensor):
                value = value.repeat((repeat,) + (1,) * (value.dim() - 1))
                local[n] = value
            return value

        for node in nodes:
            if node not in local:
                local[node] = self.execute(node, _Lookup(lookup))
        return local


class _Lookup(dict):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def __getitem__(self, key):
        return self.fn(key)


def trace(model: nn.Module, sites: Iterable[str]) -> TracedModel:
    """Trace the eval-mode forward of ``model``, locating the output node of each site and of the
    declared reconstruction.

    Raises ``torch.fx`` / ``TypeError`` errors for untraceable models (callers fall back to
    hooks) and a ``ValueError`` when a site is not called exactly once.
    """
    sites = list(sites)
    root = _Root(model)
    tracer = _SiteTracer({MODEL_PREFIX + s for s in sites})
    with analysis_mode(model):
        graph = tracer.trace(root)
    site_nodes = {}
    for s in sites:
        found = tracer.calls.get(s, [])
        if len(found) != 1:
            raise ValueError(f"site {s!r} is called {len(found)} times in the traced forward pass; the engine needs "
                             f"sites called exactly once (use method='naive' for shared modules)")
        site_nodes[s] = found[0]
    result = pick_reconstruction(traced_output(graph), active_spec(model), leaves=(fx.Node,))
    if not isinstance(result, fx.Node):
        raise ValueError(f"the traced reconstruction is {type(result).__name__}; expected a tensor")
    return TracedModel(root, graph, site_nodes, result)
