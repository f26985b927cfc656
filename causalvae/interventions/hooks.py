"""Forward hooks, always removed: ``capture`` activations and ``intervene`` on sites.

Hooks are global state on the modules, so they are only ever added inside a context
manager that removes them on exit (DESIGN §7), also when a Ctrl-C arrives at any moment:
see :mod:`causalvae.modelstate`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import TracebackType

import torch
from torch import nn

from causalvae.inputs import check_batch, check_model, input_shape_of, model_device
from causalvae.interventions.batching import to_tensor
from causalvae.interventions.forward import AnalysisForward, model_dtype
from causalvae.interventions.ops import UnitOp
from causalvae.interventions.checks import check_finite, check_sites
from causalvae.modelstate import drop_hooks, restores_model_state, run_to_completion


class ForwardHooks:
    """Context manager registering ``{site: hook}`` on ``model``'s submodules; yields ``model``.

    Registration happens inside a ``try`` whose handler removes the hooks, and removal finds them
    by identity in each module's hook dictionary, so an interrupt between a registration and the
    bookkeeping of its handle leaves nothing behind. Hooks registered by others are kept. The one
    moment a Ctrl-C can leave hooks behind is the first instruction of ``__exit__`` (no with
    statement protects it); functions that use hooks internally are wrapped by
    :func:`causalvae.modelstate.restores_model_state`, which has no such moment.
    """

    def __init__(self, model: nn.Module, hooks: Mapping[str, Callable]) -> None:
        self._model = model
        self._planned = tuple((model.get_submodule(name), fn) for name, fn in hooks.items())

    def _remove_once(self) -> None:
        for module, fn in self._planned:
            drop_hooks(module, lambda _id, hook, fn=fn: hook is not fn)

    def __enter__(self) -> nn.Module:
        try:
            for module, fn in self._planned:
                module.register_forward_hook(fn)
            return self._model
        except BaseException:
            run_to_completion(self._remove_once)
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # A with statement cannot protect the first instruction of __exit__; from the next one on,
        # an interrupt (also one striking as run_to_completion begins) still removes the hooks.
        try:
            self._remove_once()
        except KeyboardInterrupt:
            run_to_completion(self._remove_once)
            raise


def intervene(model: nn.Module, ops: Mapping[str, UnitOp]) -> ForwardHooks:
    """Apply ``{site: op}`` to every forward pass of ``model`` inside the block.

    Examples
    --------
    >>> from causalvae.interventions.ops import zero
    >>> net = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    >>> with intervene(net, {"0": zero()}):
    ...     float(net(torch.ones(1, 2)).abs().sum())
    0.0
    """
    check_sites(model, ops)
    for site, op in ops.items():
        if not isinstance(op, UnitOp):
            raise TypeError(f"intervention on {site!r} must be a UnitOp (see interventions.ops), "
                            f"got {type(op).__name__}")

    def make(site: str, op: UnitOp):
        def hook(module, inputs, output):
            if not isinstance(output, torch.Tensor):
                raise TypeError(f"site {site!r} returns {type(output).__name__}; expected a tensor to intervene on")
            return op.apply(output, site=site)
        return hook

    return ForwardHooks(model, {site: make(site, op) for site, op in ops.items()})


def capture(model: nn.Module, x: torch.Tensor, sites: Iterable[str], *, ops: Mapping[str, UnitOp] | None = None,
            check: bool = True) -> dict[str, torch.Tensor]:
    """Run the analysis forward pass (eval mode, ``z = mu``) and return the outputs of ``sites``.

    Parameters
    ----------
    model : the network; ``x`` its input batch (array or tensor; cast to the model's dtype and device).
    sites : module paths to record; the result is in execution order.
    ops : optional interventions ``{site: op}`` applied during the pass.
    check : raise on NaN / infinite activations, naming the site.

    Returns
    -------
    dict mapping each executed site to its (detached) output tensor.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    >>> {k: tuple(v.shape) for k, v in capture(net, torch.ones(4, 2), ["0"]).items()}
    {'0': (4, 3)}
    """
    x = check_batch(x, shape=input_shape_of(check_model(model)))
    x = to_tensor(x, slice(None), model_device(model, None), model_dtype(model))
    return forward_capture(model, x, sites, ops=ops, check=check)[0]


@restores_model_state(training=False)
def forward_capture(model: nn.Module, x: torch.Tensor, sites: Iterable[str], *,
                    ops: Mapping[str, UnitOp] | None = None, check: bool = True, detach: bool = True,
                    skip_non_tensor: bool = False) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Like :func:`capture`, also returning the model output.

    ``detach=False`` keeps the autograd graph; ``skip_non_tensor`` drops sites whose output is not
    a tensor instead of raising. The model's training flags, hooks and the grad mode are left as
    they were, also after a Ctrl-C (:func:`causalvae.modelstate.restores_model_state`).
    """
    names = check_sites(model, sites)
    out: dict[str, torch.Tensor] = {}

    def make(site: str):
        def hook(module, inputs, output):
            if isinstance(output, torch.Tensor):
                if check:
                    check_finite(site, output)
                out[site] = output.detach() if detach else output
            elif not skip_non_tensor:
                raise TypeError(f"site {site!r} returns {type(output).__name__}; expected a tensor")
        return hook

    with intervene(model, ops or {}), ForwardHooks(model, {s: make(s) for s in names}):
        output = AnalysisForward(model)(x)
    if check:
        check_finite("output", output)
    return out, (output.detach() if detach else output)
