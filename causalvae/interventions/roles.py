"""The role and stage of every site, from the declaration and the fx graph's topology.

Roles are data, not names: the declared latent site (and log-variance site) is the *latent*
stage; sites upstream of them are the *encoder*, sites downstream of the latent the *decoder*;
the site producing the declared reconstruction is the *output*; the model input is the *input*.
A model with its own site table (causalvae's VAEs) keeps the stages that table states.  The
result is plain data (``{site: SiteRole}``) for the torch-free causal layer.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import fx, nn

from causalvae.interventions.fxsites import NODE_SITE_OPS, traced_graph, traced_output
from causalvae.interventions.spec import (ModelSpec, declared_output_site, declared_stages, model_spec,
                                          pick_reconstruction, require_latent)
from causalvae.units import SiteRole


def _closure(roots: Iterable[fx.Node], step) -> set[fx.Node]:
    seen: set[fx.Node] = set()
    stack = list(roots)
    while stack:
        for nxt in step(stack.pop()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _node_of(name: str, module_outputs: dict[str, list[fx.Node]], by_name: dict[str, fx.Node]) -> fx.Node:
    if name in module_outputs:
        return module_outputs[name][0]
    if name in by_name:
        return by_name[name]
    raise KeyError(f"declared site {name!r} is neither a module called by the forward pass nor an fx node; "
                   f"expected one of {sorted({*module_outputs, *by_name})}")


def _reconstruction_node(graph: fx.Graph, spec: ModelSpec) -> fx.Node:
    try:
        node = pick_reconstruction(traced_output(graph), spec, leaves=(fx.Node,))
    except (TypeError, AttributeError) as err:
        raise ValueError(f"site roles need the reconstruction's node, but ModelSpec.reconstruction cannot be applied "
                         f"to the traced output ({err}); declare it as a key or an index") from None
    if not isinstance(node, fx.Node):
        raise ValueError(f"the declared reconstruction of the traced output is {type(node).__name__}; expected one "
                         f"value of the output (declare a key or an index)")
    return node


def site_roles(model: nn.Module, *, spec: ModelSpec | None = None) -> dict[str, SiteRole]:
    """``{site: SiteRole(role, stage)}`` for every module site and fx-node site of ``model``, in graph order.

    ``role`` is ``"input"``, ``"hidden"``, ``"latent"`` or ``"output"``; ``stage`` is ``"input"``,
    ``"encoder"``, ``"latent"``, ``"decoder"`` or ``"other"`` (neither upstream nor downstream of
    the latent).  Needs the latent site (declared in ``spec`` or read from the model's site table)
    and a model torch.fx can trace.

    Examples
    --------
    >>> class TinyVAE(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.enc, self.to_mean, self.dec = nn.Linear(4, 3), nn.Linear(3, 2), nn.Linear(2, 4)
    ...     def forward(self, x):
    ...         mean = self.to_mean(self.enc(x).relu())
    ...         return {"x_hat": self.dec(mean), "mean": mean}
    >>> roles = site_roles(TinyVAE(), spec=ModelSpec(latent_site="to_mean", reconstruction="x_hat"))
    >>> {site: tuple(r) for site, r in roles.items()}  # doctest: +NORMALIZE_WHITESPACE
    {'x': ('input', 'input'), 'enc': ('hidden', 'encoder'), 'relu': ('hidden', 'encoder'),
     'to_mean': ('latent', 'latent'), 'dec': ('output', 'decoder')}
    """
    spec = model_spec(model, spec)
    graph, module_outputs, names = traced_graph(model)
    by_name = {names[n]: n for n in graph.nodes if n.op in NODE_SITE_OPS}
    sites = {**{name: nodes[0] for name, nodes in module_outputs.items() if name}, **by_name}
    latent_names = [require_latent(spec, what="site_roles", sites=list(sites)), spec.logvar_site]
    latent = {_node_of(n, module_outputs, by_name) for n in latent_names if n is not None}
    encoder = _closure(latent, lambda n: n.all_input_nodes)
    decoder = _closure([_node_of(latent_names[0], module_outputs, by_name)], lambda n: n.users)
    reconstruction = _reconstruction_node(graph, spec)
    stages = declared_stages(model) or {}
    output_site = declared_output_site(model)
    out: dict[str, SiteRole] = {}
    position = {n: i for i, n in enumerate(graph.nodes)}
    for name, node in sorted(sites.items(), key=lambda item: position[item[1]]):
        if node.op == "placeholder":
            out[name] = SiteRole("input", "input")
            continue
        stage = stages.get(name) or ("latent" if node in latent else "encoder" if node in encoder
                                     else "decoder" if node in decoder else "other")
        is_output = name == output_site if output_site is not None else node is reconstruction
        out[name] = SiteRole("output" if is_output else "latent" if stage == "latent" else "hidden", stage)
    return out
