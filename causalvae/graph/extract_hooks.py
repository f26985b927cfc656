"""Module-level computational graph from forward hooks on one real forward pass (the fx fallback).

Nodes are the calls of leaf modules (plus the inputs and the output).  An edge ``a -> b`` means a
tensor that ``b`` received was computed from ``a``'s output: found by walking the autograd graph
back from ``b``'s input to the nearest recorded module output (so functional ops between modules,
skip additions and in-place changes are seen through), or, for tensors without autograd history,
by tensor identity.
"""

from __future__ import annotations

import contextlib
import inspect
from collections import Counter
from collections.abc import Iterator, Mapping

import networkx as nx
import torch
from torch import nn

from causalvae.graph.extract_common import describe_value, format_shape, n_params, no_side_effects
from causalvae.graph.schema import new_graph
from causalvae.modelstate import drop_hooks, run_to_completion


class _Recorder:
    """Remembers which graph node produced which tensor during one forward pass."""

    def __init__(self, G: nx.DiGraph) -> None:
        self.G = G
        self.by_grad_fn: dict[object, str] = {}
        self.by_id: dict[int, str] = {}
        self._alive: list[torch.Tensor] = []  # keeps recorded tensors alive so their ids stay unique

    def produced(self, value: object, node: str) -> None:
        for tensor in _tensors(value):
            self._alive.append(tensor)
            self.by_id[id(tensor)] = node
            if tensor.grad_fn is not None:
                self.by_grad_fn[tensor.grad_fn] = node

    def producers(self, value: object) -> list[str]:
        """The recorded nodes each tensor in ``value`` was computed from, in first-found order."""
        found: dict[str, None] = {}
        for tensor in _tensors(value):
            if tensor.grad_fn is None:
                if id(tensor) in self.by_id:
                    found[self.by_id[id(tensor)]] = None
                continue
            seen, stack = set(), [tensor.grad_fn]
            while stack:
                fn = stack.pop()
                if fn is None or fn in seen:
                    continue
                seen.add(fn)
                if fn in self.by_grad_fn:
                    found[self.by_grad_fn[fn]] = None
                    continue
                stack.extend(next_fn for next_fn, _ in fn.next_functions)
        return list(found)


def hooks_graph(model: nn.Module, inputs: tuple[torch.Tensor, ...], *, leaves: set[str], reason: str) -> nx.DiGraph:
    """Run ``model`` once with hooks on its ``leaves`` and build a module-level ``computational`` graph.

    Stages are left to :func:`causalvae.graph.extract`.
    """
    G = new_graph("computational", method="hooks", model=type(model).__name__,
                  input_shape=", ".join(format_shape(t.shape) for t in inputs), fallback_reason=reason)
    recorder = _Recorder(G)
    names = _input_names(model, len(inputs))
    traced_inputs = []
    for order, (name, tensor) in enumerate(zip(names, inputs)):
        # a non-leaf copy: it has autograd history to trace back to, and in-place ops on it are allowed
        tensor = tensor.detach().requires_grad_(tensor.is_floating_point()).clone()
        traced_inputs.append(tensor)
        shape, dtype = describe_value(tensor)
        G.add_node(name, order=order, op="placeholder", target=name, module_type="", module="", scope="",
                   site=name, tensor_shape=shape, dtype=dtype, n_params=0)
        recorder.produced(tensor, name)
    modules = {path: m for path, m in model.named_modules() if path in leaves} or {"": model}
    with torch.enable_grad(), no_side_effects(model, inputs), _hooked(modules, recorder):
        try:
            output = model(*traced_inputs)
        except RuntimeError as exc:  # e.g. "mat1 and mat2 shapes cannot be multiplied"
            shapes = [format_shape(t.shape) for t in inputs]
            raise ValueError(f"the model's forward pass fails on example_input (shapes {shapes}, dtypes "
                             f"{[str(t.dtype) for t in inputs]}); expected inputs the model accepts: {exc}") from exc
    shape, dtype = describe_value(output)
    G.add_node("output", order=G.number_of_nodes(), op="output", target="output", module_type="", module="",
               scope="", site="output", tensor_shape=shape, dtype=dtype, n_params=0)
    G.add_edges_from((source, "output") for source in recorder.producers(output))
    return G


@contextlib.contextmanager
def _hooked(modules: dict[str, nn.Module], recorder: _Recorder) -> Iterator[None]:
    """Hooks that add one node per module call; always removed, even when the forward pass fails or a
    Ctrl-C arrives at any moment: they are registered inside the ``try`` that removes them, and removal
    finds them by identity in each module's hook dictionaries (no handle needs recording)."""
    G = recorder.G
    calls: Counter[str] = Counter()
    taken = set(G.nodes) | {"output"}
    pending: dict[int, list[tuple[str, list[str]]]] = {}

    def before(path: str, module: nn.Module, args: tuple, kwargs: dict) -> None:
        base = path.replace(".", "_") if path else "model"
        name = base if calls[path] == 0 else f"{base}_{calls[path]}"
        while name in taken:
            name += "_"
        taken.add(name)
        pending.setdefault(id(module), []).append((name, recorder.producers((args, kwargs))))

    def after(path: str, module: nn.Module, args: tuple, kwargs: dict, output: object) -> None:
        name, parents = pending[id(module)].pop()
        shape, dtype = describe_value(output)
        G.add_node(name, order=G.number_of_nodes(), op="call_module", target=path, module_type=type(module).__name__,
                   module=path, scope=path.rpartition(".")[0], site=path if calls[path] == 0 else name,
                   call=calls[path], tensor_shape=shape, dtype=dtype,
                   n_params=n_params(module))
        calls[path] += 1
        G.add_edges_from((parent, name) for parent in parents)
        recorder.produced(output, name)

    planned = [(module, lambda m, a, k, p=path: before(p, m, a, k), lambda m, a, k, o, p=path: after(p, m, a, k, o))
               for path, module in modules.items()]
    ours = {id(fn) for _, pre, post in planned for fn in (pre, post)}

    def remove() -> None:
        for module, _, _ in planned:
            drop_hooks(module, lambda _id, hook: id(hook) not in ours)

    try:
        for module, pre, post in planned:
            module.register_forward_pre_hook(pre, with_kwargs=True)
            module.register_forward_hook(post, with_kwargs=True)
        yield
    finally:
        try:
            remove()
        except KeyboardInterrupt:  # a second Ctrl-C while removing: finish removing, then stop
            run_to_completion(remove)
            raise


def _input_names(model: nn.Module, n: int) -> list[str]:
    try:
        params = [p.name for p in inspect.signature(model.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return params[:n] if len(params) >= n else [f"input_{i}" for i in range(n)]


def _tensors(value: object) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _tensors(item)
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _tensors(item)
    elif hasattr(value, "__dict__") and not isinstance(value, nn.Module):  # e.g. a Distribution
        for item in vars(value).values():
            if isinstance(item, torch.Tensor):
                yield item
