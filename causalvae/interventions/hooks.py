"""Forward hooks, always removed: ``capture`` activations and ``intervene`` on sites.

Hooks are global state on the modules, so they are only ever added inside a context
manager that removes them in ``finally`` (DESIGN §7).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping

import torch
from torch import nn

from causalvae.interventions.forward import AnalysisForward, analysis_mode
from causalvae.interventions.ops import UnitOp
from causalvae.interventions.sites import check_finite, check_sites


@contextlib.contextmanager
def _hooks(model: nn.Module, hooks: Mapping[str, object]) -> Iterator[None]:
    handles = []
    try:
        for name, fn in hooks.items():
            handles.append(model.get_submodule(name).register_forward_hook(fn))
        yield
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def intervene(model: nn.Module, ops: Mapping[str, UnitOp]) -> Iterator[nn.Module]:
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

    with _hooks(model, {site: make(site, op) for site, op in ops.items()}):
        yield model


def capture(model: nn.Module, x: torch.Tensor, sites: Iterable[str], *, ops: Mapping[str, UnitOp] | None = None,
            check: bool = True) -> dict[str, torch.Tensor]:
    """Run the analysis forward pass (eval mode, ``z = mu``) and return the outputs of ``sites``.

    Parameters
    ----------
    model : the network; ``x`` its input batch.
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
    return forward_capture(model, x, sites, ops=ops, check=check)[0]


def forward_capture(model: nn.Module, x: torch.Tensor, sites: Iterable[str], *,
                    ops: Mapping[str, UnitOp] | None = None, check: bool = True, detach: bool = True,
                    skip_non_tensor: bool = False) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Like :func:`capture`, also returning the model output.

    ``detach=False`` keeps the autograd graph; ``skip_non_tensor`` drops sites whose output is not
    a tensor instead of raising.
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

    with analysis_mode(model), intervene(model, ops or {}), _hooks(model, {s: make(s) for s in names}):
        output = AnalysisForward(model)(x)
    if check:
        check_finite("output", output)
    return out, (output.detach() if detach else output)
