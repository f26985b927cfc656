"""``extract``: any ``nn.Module`` -> a ``computational`` networkx graph (fx, or forward hooks as fallback)."""

from __future__ import annotations

import re
import traceback
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import networkx as nx
import torch
from torch import nn

from causalvae.graph.extract_common import example_tensors, leaf_paths, qualified, resolve_stages, stage_of
from causalvae.graph.extract_fx import fx_graph
from causalvae.graph.extract_hooks import hooks_graph
from causalvae.graph.schema import validate
from causalvae.inputs import check_model
from causalvae.modelstate import restores_model_state

METHODS = ("auto", "fx", "hooks")
_TORCH_DIR = str(Path(torch.__file__).parent)
_PATH_RE = re.compile(r"^[A-Za-z_][\w\-]*(\.[\w\-]+)*$")


@restores_model_state()
def extract(model: nn.Module, example_input: torch.Tensor | tuple[torch.Tensor, ...], *,
            leaf_modules: Iterable[str | type] | None = None, stages: Mapping[str, str] | None = None,
            prefix: str = "", method: str = "auto") -> nx.DiGraph:
    """The computational graph of ``model`` on ``example_input`` as a networkx ``DiGraph``.

    Parameters
    ----------
    model : any ``nn.Module`` (a whole VAE, its encoder or its decoder).
    example_input : a batched tensor, or a tuple of tensors for a multi-input ``forward``.
    leaf_modules : module paths or module classes kept whole as one node, in addition to every
        module without children.  Default: the model's declared sites (``model.site_names``, as
        on causalvae's VAEs, where ``encoder.conv2`` is a conv + ReLU block) when it has them.
    stages : ``{module path prefix: stage}``; the longest matching prefix wins and ``""`` matches
        everything.  Default ``{"encoder": "encoder", "latent": "latent", "decoder": "decoder"}``.
        Ops get the stage of their module, else of their enclosing module, else the one stage all
        their inputs share (so a VAE's reparameterisation is ``latent``), else ``"other"``.
    prefix : module path of ``model`` inside a larger model (``"encoder"`` when extracting
        ``vae.encoder``), prepended to every module path (not to node ids) so sites and stages match
        the whole model.
    method : ``"fx"`` (symbolic trace; errors propagate), ``"hooks"`` (module-level graph from one
        real forward pass), or ``"auto"``: fx, falling back to hooks with a warning naming the op
        that failed and what the fallback loses.

    Returns
    -------
    A graph of kind ``computational``.  Node ids are fx node names (``encoder_conv1``, ``relu_2``);
    every node has ``op``, ``target`` (module path, qualified function or method name),
    ``module`` (module path for module calls and attributes, else ``""``), ``scope`` (innermost
    enclosing module path), ``site`` (the module path for a module's first call, else the node id),
    ``module_type``, ``stage``, ``tensor_shape`` (with the batch dimension, ``"2x64x8x8"``; tuples
    ``"(2x4, 2x4)"``; ``""`` for non-tensors), ``dtype``, ``n_params`` and topological ``order``;
    module calls also have ``call`` (0 for the first call of a reused module, then 1, 2, ...), and,
    when every declared site of the model is a node, those nodes have ``declared_site=True``.
    In-place ops are wired into the data flow: later users of an overwritten value depend on the
    op that overwrote it.  ``G.graph`` has ``method``, ``model``, ``input_shape`` and
    ``fallback_reason``.  The model's buffers and the global RNG are left unchanged.

    Examples
    --------
    >>> model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    >>> G = extract(model, torch.zeros(2, 4))
    >>> [G.nodes[n]["tensor_shape"] for n in ("input_1", "_0", "_1", "output")]
    ['2x4', '2x3', '2x3', '2x3']
    """
    check_model(model, finite=False)  # a structural view: diverged (NaN) weights may be inspected
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if prefix and not _PATH_RE.match(prefix):
        raise ValueError(f"prefix must be a dotted module path like 'encoder' or 'vae.decoder', got {prefix!r}")
    dtypes = {t.dtype for t in model.parameters() if t.is_floating_point()}
    inputs = tuple(t.to(next(iter(dtypes))) if t.is_floating_point() and len(dtypes) == 1 else t
                   for t in example_tensors(example_input))  # float inputs in the model's dtype (ints may be indices)
    declared = _declared_sites(model)
    leaves = default_leaves(model) if leaf_modules is None else leaf_paths(model, leaf_modules)
    stage_map = resolve_stages(stages)
    if method == "hooks":
        return _finish(hooks_graph(model, inputs, leaves=leaves, reason="method='hooks'"), prefix, stage_map, declared)
    try:
        G = fx_graph(model, inputs, leaves=leaves)
    except Exception as error:  # noqa: BLE001 - any fx failure means "use the fallback"
        if method == "fx":
            raise RuntimeError(f"torch.fx could not trace {type(model).__name__}: {_describe_failure(error)}") \
                from error
        reason = _describe_failure(error)
    else:
        return _finish(G, prefix, stage_map, declared)
    warnings.warn(
        f"torch.fx could not trace {type(model).__name__}: {reason}. Falling back to a module-level graph "
        "from forward hooks on one forward pass; lost: the functional ops between modules (call_function / "
        "call_method nodes) and their shapes, and any branch the example input did not take.",
        RuntimeWarning, stacklevel=3)  # past restores_model_state's wrapper: the caller's line
    return _finish(hooks_graph(model, inputs, leaves=leaves, reason=reason), prefix, stage_map, declared)


def _finish(G: nx.DiGraph, prefix: str, stages: Mapping[str, str], declared: tuple[str, ...]) -> nx.DiGraph:
    """Prefix module paths, assign stages, mark the model's declared sites and validate."""
    if prefix:
        for data in G.nodes.values():
            if data["op"] in ("placeholder", "output"):
                continue
            data["scope"] = qualified(prefix, data["scope"])
            if data["op"] in ("call_module", "get_attr"):
                data["module"] = data["target"] = qualified(prefix, data["module"])
                if data.get("call", 0) == 0:
                    data["site"] = data["module"]
    for node in sorted(G.nodes, key=lambda n: G.nodes[n]["order"]):
        data = G.nodes[node]
        if data["op"] in ("placeholder", "output"):
            data["stage"] = "input" if data["op"] == "placeholder" else "output"
            continue
        stage = stage_of(data["module"] or data["scope"], stages)
        if stage == "other" and data["op"] in ("call_function", "call_method"):
            upstream = {G.nodes[p]["stage"] for p in G.predecessors(node)} - {"input", "other"}
            stage = upstream.pop() if len(upstream) == 1 else stage
        data["stage"] = stage
    declared_sites = {qualified(prefix, name) for name in declared}
    calls = [data for data in G.nodes.values() if data["op"] == "call_module" and data["site"] in declared_sites]
    if len(calls) == len(declared_sites):  # only when the graph shows every declared site whole
        for data in calls:
            data["declared_site"] = True
    return validate(G)


def default_leaves(model: nn.Module) -> set[str]:
    """The module paths ``extract`` keeps whole by default: every module without children plus the
    model's declared sites (``model.site_names``)."""
    return leaf_paths(model, _declared_sites(model))


def _declared_sites(model: nn.Module) -> tuple[str, ...]:
    """``model.site_names`` when it is a sequence of module paths (causalvae VAEs), else none."""
    names = getattr(model, "site_names", ())
    return tuple(names) if isinstance(names, (tuple, list)) and all(isinstance(n, str) for n in names) else ()


def _describe_failure(error: BaseException) -> str:
    """The error and the line of user code (outside torch) where tracing stopped."""
    message = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
    frames = [f for f in traceback.extract_tb(error.__traceback__) if not f.filename.startswith(_TORCH_DIR)]
    if frames:
        frame = frames[-1]
        message += f" at {Path(frame.filename).name}:{frame.lineno} in {frame.name}: `{(frame.line or '').strip()}`"
    return message
