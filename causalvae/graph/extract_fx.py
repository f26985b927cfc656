"""Op-level computational graph through ``torch.fx`` symbolic tracing and shape propagation."""

from __future__ import annotations

from collections import Counter
import networkx as nx
import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from causalvae.graph.extract_common import describe_value, format_shape, n_params, no_side_effects
from causalvae.graph.schema import new_graph


class _SiteTracer(fx.Tracer):
    """A tracer that keeps exactly the given module paths as leaves (one ``call_module`` node each).

    ``module_outputs`` records the node holding the output of every module call, leaf or traced
    through (recording creates no node, so node names are unaffected).
    """

    def __init__(self, leaves: set[str]) -> None:
        super().__init__()
        self._leaves = leaves
        self.module_outputs: dict[str, list[fx.Node]] = {}

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return module_qualified_name in self._leaves

    def call_module(self, m, forward, args, kwargs):
        out = super().call_module(m, forward, args, kwargs)
        if isinstance(out, fx.Proxy):
            self.module_outputs.setdefault(self.path_of_module(m), []).append(out.node)
        return out


def trace_graph(model: nn.Module, *, leaves: set[str]) -> tuple[fx.Graph, dict[str, list[fx.Node]]]:
    """The fx graph of ``model`` with ``leaves`` kept whole, and the output node(s) of every module call.

    This is the trace behind :func:`fx_graph`: node names (and so fx-node site names) are the ones
    the computational graph shows.
    """
    tracer = _SiteTracer(leaves)
    return tracer.trace(model), tracer.module_outputs


def node_sites(graph: fx.Graph) -> dict[fx.Node, str]:
    """The site name of every node: the module path for a module's first call, else the node name."""
    seen: set[str] = set()
    out = {}
    for node in graph.nodes:
        out[node] = node.name
        if node.op == "call_module" and str(node.target) not in seen:
            out[node] = str(node.target)
            seen.add(str(node.target))
    return out


def fx_graph(model: nn.Module, inputs: tuple[torch.Tensor, ...], *, leaves: set[str]) -> nx.DiGraph:
    """Trace ``model`` with fx, propagate shapes on ``inputs`` and convert to a ``computational`` graph.

    Stages are left to :func:`causalvae.graph.extract`.  Raises whatever fx or the shape
    propagation raises; ``extract`` turns that into the forward-hook fallback.
    """
    graph, _ = trace_graph(model, leaves=leaves)
    module = fx.GraphModule(model, graph)
    with torch.no_grad(), no_side_effects(model, inputs):
        ShapeProp(module).propagate(*inputs)
    G = new_graph("computational", method="fx", model=type(model).__name__,
                  input_shape=", ".join(format_shape(t.shape) for t in inputs), fallback_reason="")
    modules = dict(model.named_modules())
    calls: Counter[str] = Counter()
    writer: dict[str, str] = {}  # value -> the in-place op that last wrote it
    sites = node_sites(graph)
    for order, node in enumerate(graph.nodes):
        G.add_node(node.name, order=order, **_node_attrs(node, sites[node], model, modules, calls))
        for source in node.all_input_nodes:
            G.add_edge(writer.get(source.name, source.name), node.name)
        mutated = _mutated_input(node, modules)
        if mutated is not None:
            writer[mutated] = node.name
    return G


def _node_attrs(node: fx.Node, site: str, model: nn.Module, modules: dict[str, nn.Module], calls: Counter[str]
                ) -> dict[str, object]:
    stack = node.meta.get("nn_module_stack") or {}
    scope = str(next(reversed(stack))) if stack else ""
    tensor_shape, dtype = describe_value(node.meta.get("tensor_meta"))
    attrs: dict[str, object] = {"op": node.op, "target": _target_name(node), "module_type": "", "module": "",
                                "scope": scope, "site": site, "tensor_shape": tensor_shape,
                                "dtype": dtype, "n_params": 0}
    if node.op == "call_module":
        path = str(node.target)
        attrs.update(module=path, module_type=type(modules[path]).__name__, n_params=n_params(modules[path]),
                     call=calls[path])
        calls[path] += 1
    elif node.op == "get_attr":
        value = _get_attr(model, str(node.target))
        attrs.update(module=str(node.target), n_params=int(value.numel()) if isinstance(value, torch.Tensor) else 0)
    return attrs


def _target_name(node: fx.Node) -> str:
    if node.op != "call_function":
        return str(node.target)
    try:
        return fx.node._get_qualified_name(node.target)
    except (RuntimeError, AttributeError):  # exotic callables without a qualified name
        return getattr(node.target, "__name__", repr(node.target))


def _get_attr(model: nn.Module, path: str) -> object:
    value: object = model
    for part in path.split("."):
        value = getattr(value, part)
    return value


def _mutated_input(node: fx.Node, modules: dict[str, nn.Module]) -> str | None:
    """Name of the node whose value ``node`` overwrites in place (``x.add_(1)``, ``ReLU(inplace=True)``)."""
    if not node.args or not isinstance(node.args[0], fx.Node):
        return None
    if node.op == "call_module":
        inplace = bool(getattr(modules[str(node.target)], "inplace", False))
    elif node.op in ("call_method", "call_function"):
        name = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", "")
        inplace = (name.endswith("_") and not name.startswith("_")) or bool(node.kwargs.get("inplace", False))
    else:
        inplace = False
    return node.args[0].name if inplace else None
