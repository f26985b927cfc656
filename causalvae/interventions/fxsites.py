"""fx-node sites: every node the computational graph shows can be read and intervened on.

A site is a module path or the name of a node of the model's fx graph as
:func:`causalvae.graph.extract` shows it (``relu``, ``add_1``, ``getitem`` for a ``chunk`` half,
``x`` for the input; a module's second call is ``encoder_0_1``).  Module sites are reached by
hooks on the model itself.  When fx-node sites are asked for, the analysis runs the model's fx
graph instead (:func:`with_fx_sites`): the same modules and parameters, with an ``nn.Identity``
call inserted after each such node and registered under the node's name -- so hooks, the
engine's cached replay and every effect function treat it like any module site.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from torch import fx, nn

from causalvae.graph.extract_fx import node_sites, trace_graph
from causalvae.graph.extraction import default_leaves
from causalvae.interventions.forward import analysis_mode
from causalvae.units import check_site

NODE_SITE_OPS = ("placeholder", "call_function", "call_method", "call_module")


def traced_graph(model: nn.Module) -> tuple[fx.Graph, dict[str, list[fx.Node]], dict[fx.Node, str]]:
    """The eval-mode fx graph of ``model`` as ``graph.extract`` traces it, the output node(s) of each
    module call, and each node's site name."""
    with analysis_mode(model):
        graph, module_outputs = trace_graph(model, leaves=default_leaves(model))
    return graph, module_outputs, node_sites(graph)


def traced_output(graph: fx.Graph) -> Any:
    """The traced forward's output as a structure of nodes (a named tuple the model returns, which
    fx records as a constructor call, comes back as that named tuple of nodes)."""
    out = next(n for n in graph.nodes if n.op == "output").args[0]
    if isinstance(out, fx.Node) and out.op == "call_function" and hasattr(out.target, "_fields"):
        return out.target(*out.args)
    return out


def node_site_names(model: nn.Module) -> list[str]:
    """The fx-node sites of ``model`` (nodes that are not a module's first call), in graph order.

    Examples
    --------
    >>> class Res(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = nn.Linear(2, 2)
    ...     def forward(self, x):
    ...         return nn.functional.relu(self.fc(x)) + x
    >>> node_site_names(Res())
    ['x', 'relu', 'add']
    """
    graph, _, names = traced_graph(model)
    return [names[n] for n in graph.nodes if n.op in NODE_SITE_OPS and names[n] == n.name
            and not (n.op == "call_module" and names[n] == n.target)]


def split_sites(model: nn.Module, names: Iterable[str], *, what: str = "site") -> tuple[list[str], list[str]]:
    """``(module sites, fx-node sites)`` among ``names``; unknown names raise, listing both kinds
    (``what`` names the argument in the error: ``"site"``, ``"target"``)."""
    modules = {n for n, _ in model.named_modules() if n}
    wanted = list(dict.fromkeys(names))
    node_names = [n for n in wanted if n not in modules]
    if not node_names:
        return wanted, []
    try:
        known = node_site_names(model)
    except Exception as err:  # noqa: BLE001 - any fx failure: no node sites exist
        raise KeyError(f"unknown {what}(s) {node_names}: not module paths of the model (one of {sorted(modules)}), "
                       f"and it has no fx node sites because torch.fx cannot trace it "
                       f"({type(err).__name__}: {err})") from None
    unknown = [n for n in node_names if n not in known]
    if unknown:
        raise KeyError(f"unknown {what}(s) {unknown}; expected module paths of the model, one of {sorted(modules)}, "
                       f"or fx node names of its computational graph, one of {known}")
    return [n for n in wanted if n in modules], node_names


def with_fx_sites(model: nn.Module, node_names: Sequence[str], module_sites: Sequence[str] = ()) -> fx.GraphModule:
    """The model's fx graph as a module, with an identity site module after each of ``node_names``.

    The result shares the model's modules and parameters, keeps their paths, and returns what the
    model returns.  ``module_sites`` (module paths also in use) must be whole nodes of the graph or
    lie inside one, since only those modules are called.

    >>> net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    >>> node_site_names(net)  # nn.Sequential's input is named ``input`` in forward, ``input_1`` by fx
    ['input_1']
    >>> sited = with_fx_sites(net, ["input_1"])
    >>> isinstance(sited.get_submodule("input_1"), nn.Identity), sited.get_submodule("0") is net[0]
    (True, True)
    """
    graph, _, names = traced_graph(model)
    root = fx.GraphModule(model, graph, class_name=f"{type(model).__name__}WithSites")
    called = {str(n.target) for n in graph.nodes if n.op == "call_module"}
    inside = [s for s in module_sites if not any(s == c or s.startswith(c + ".") for c in called)]
    if inside:
        raise ValueError(f"module site(s) {inside} are not called whole by the traced forward pass (containers "
                         f"torch.fx traces through, or modules it never runs), so with fx-node sites they cannot be "
                         f"read; use the modules inside them (one of {sorted(called)})")
    by_name = {names[n]: n for n in graph.nodes if n.op in NODE_SITE_OPS}
    for name in node_names:
        check_site(name)
        if hasattr(root, name):
            raise ValueError(f"fx node site {name!r} has the name of an attribute of the traced model; "
                             f"it cannot be registered as a site module")
        root.add_submodule(name, nn.Identity())
        node = by_name[name]
        with graph.inserting_after(node):
            site = graph.call_module(name, (node,))
        node.replace_all_uses_with(site, delete_user_cb=lambda user: user is not site)
    root.recompile()
    return root
