"""Sites: the module paths of a model whose outputs can be read and intervened on.

A *site* is a module path (``encoder.conv2``).  A *unit* of a site is one channel of
a conv output or one neuron of a linear output -- always axis 1 of the output tensor.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from causalvae.interventions.checks import UNIT_AXIS
from causalvae.modelstate import restores_model_state

_CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_SKIPPED_TYPES = (nn.Identity, nn.Dropout, nn.Dropout2d, nn.Flatten, nn.Unflatten)


@dataclass(frozen=True)
class ModuleSite:
    """One site as found among the model's modules (a model's own declaration of its sites is
    :class:`causalvae.models.SiteInfo`).

    Attributes
    ----------
    name : module path.
    kind : ``"conv"``, ``"linear"`` or ``"other"``.
    n_units : channels (conv) or neurons (linear); for ``"other"`` known only after a probe pass.
    unit_axis : axis of the output that indexes units (always 1).
    shape : output shape of one sample (without the batch axis), when probed.
    order : position in execution order (probe pass) or registration order.
    """

    name: str
    kind: str
    n_units: int | None
    unit_axis: int = UNIT_AXIS
    shape: tuple[int, ...] | None = None
    order: int = 0


def _layer(module: nn.Module) -> nn.Module:
    """The module itself, or the ``layer`` child of a block such as ``Sequential(layer=..., act=...)``."""
    inner = getattr(module, "layer", None)
    return inner if isinstance(inner, nn.Module) else module


def _kind(module: nn.Module) -> str:
    layer = _layer(module)
    if isinstance(layer, _CONV_TYPES):
        return "conv"
    if isinstance(layer, nn.Linear):
        return "linear"
    return "other"


def _declared_units(module: nn.Module) -> int | None:
    layer = _layer(module)
    if isinstance(layer, _CONV_TYPES):
        return int(layer.out_channels)
    if isinstance(layer, nn.Linear):
        return int(layer.out_features)
    return None


def candidate_sites(model: nn.Module) -> list[str]:
    """The default sites: ``model.site_names`` when declared, else every leaf module except identity,
    dropout and reshapes."""
    declared = getattr(model, "site_names", None)
    if declared is not None:
        return list(declared)
    return [name for name, m in model.named_modules()
            if name and not any(True for _ in m.children()) and not isinstance(m, _SKIPPED_TYPES)]


@restores_model_state()
def sites(model: nn.Module, x: torch.Tensor | None = None) -> dict[str, ModuleSite]:
    """The module sites of ``model``, in execution order when ``x`` is given.

    A model that declares ``site_names`` (the models of :mod:`causalvae.models`) gets those;
    any other model gets its leaf modules (except identity, dropout and reshapes).  A block
    ``Sequential(layer=Conv2d, act=ReLU)`` counts as a conv site whose output is post-activation.
    Every effect function also accepts fx node names as sites
    (:func:`causalvae.interventions.fxsites.node_site_names`).

    Parameters
    ----------
    model : any ``nn.Module``.
    x : optional example input (cast to the model's dtype); one forward pass records output
        shapes, unit counts of ``"other"`` sites and execution order (modules not executed are
        dropped).  Only sites are read, so a model returning several values needs no declaration.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> {k: (v.kind, v.n_units) for k, v in sites(net).items()}
    {'0': ('linear', 4), '1': ('other', None), '2': ('linear', 2)}
    """
    names = candidate_sites(model)
    if x is None:
        return {name: ModuleSite(name, _kind(model.get_submodule(name)), _declared_units(model.get_submodule(name)),
                               order=i) for i, name in enumerate(names)}
    from causalvae.interventions.batching import to_tensor
    from causalvae.interventions.forward import declared, model_dtype, output_tensors
    from causalvae.interventions.hooks import forward_capture
    from causalvae.interventions.spec import ModelSpec

    device = next((p.device for p in model.parameters()), None)
    xb = to_tensor(x, slice(None), device, model_dtype(model))
    with torch.no_grad(), declared(model, ModelSpec(reconstruction=lambda out: output_tensors(out)[0])):
        acts = forward_capture(model, xb, names, skip_non_tensor=True)[0]
    out: dict[str, ModuleSite] = {}
    for i, name in enumerate(acts):
        a = acts[name]
        module = model.get_submodule(name)
        shape = tuple(a.shape[1:])
        n_units = int(a.shape[UNIT_AXIS]) if a.dim() > UNIT_AXIS else None
        out[name] = ModuleSite(name, _kind(module), n_units, shape=shape, order=i)
    return out
