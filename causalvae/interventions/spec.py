"""What a VAE's parts are, declared as data: :class:`ModelSpec`.

The analysis needs two facts no module path can be trusted to tell: which site holds the latent
*mean* and which part of ``forward``'s output is the *reconstruction*.  They are declared once, in
a :class:`ModelSpec` every intervention function takes as ``spec=``, or read off a model that
carries its own *site table* (``model.sites``: rows with ``name`` and ``stage``, plus
``model.output_site``; causalvae's VAEs do).  Nothing is guessed from names.

>>> ModelSpec(latent_site="mu", reconstruction="x_hat").reconstruction
'x_hat'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import torch
from torch import distributions, nn

STOCHASTIC = ("refuse", "fixed-seed")
Reconstruction = str | int | Callable[[Any], Any]


@dataclass(frozen=True)
class ModelSpec:
    """The roles of a model's parts.

    Attributes
    ----------
    latent_site : the site whose output is the latent mean μ (a module path such as ``"mu"`` or
        ``"latent.to_mean"``, or an fx node name); needed by latent perturbations and site roles.
    reconstruction : which part of ``forward``'s output is the reconstruction: a key (dict key or
        named-tuple field), an index (tuple / list) or a callable ``output -> reconstruction``.
        Needed when ``forward`` returns several values; a single tensor needs nothing.  A
        ``torch.distributions`` object stands for its ``.mean``.
    logvar_site : the site of the posterior log-variance, if any (a latent-stage site).
    stochastic : ``"refuse"`` (default): a forward pass that differs between two runs on the same
        input in eval mode is an error.  ``"fixed-seed"``: every forward pass starts from
        ``torch.manual_seed(seed)`` (the caller's RNG state is restored afterwards), so a sampling
        model sees the same noise draw in the clean and every intervened pass; effects are exact for
        that draw, measured by the per-unit hook loop (the engine's cached replay cannot redraw it).
    seed : the seed of ``stochastic="fixed-seed"``.
    """

    latent_site: str | None = None
    reconstruction: Reconstruction | None = None
    logvar_site: str | None = None
    stochastic: str = "refuse"
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("latent_site", "logvar_site"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise TypeError(f"ModelSpec.{name} must be a site name (module path or fx node name), got {value!r}")
        r = self.reconstruction
        if r is not None and not (isinstance(r, (str, int)) or callable(r)) or isinstance(r, bool):
            raise TypeError(f"ModelSpec.reconstruction must be a key, an index or a callable, got {r!r}")
        if self.stochastic not in STOCHASTIC:
            raise ValueError(f"ModelSpec.stochastic must be one of {STOCHASTIC}, got {self.stochastic!r}")


def _site_table(model: nn.Module) -> list | None:
    table = getattr(model, "sites", None)
    if isinstance(table, (tuple, list)) and table and all(hasattr(s, "name") and hasattr(s, "stage") for s in table):
        return list(table)
    return None


def declared_stages(model: nn.Module) -> dict[str, str] | None:
    """``{site: stage}`` from the model's own site table, or None when it has none."""
    table = _site_table(model)
    return None if table is None else {s.name: s.stage for s in table}


def declared_output_site(model: nn.Module) -> str | None:
    """The site whose output is the reconstruction, when the model's site table names it."""
    site = getattr(model, "output_site", None)
    return site if isinstance(site, str) and _site_table(model) is not None else None


def inferred_spec(model: nn.Module) -> ModelSpec:
    """The declaration a model carries: from its site table, else an empty one.

    A site table lists the latent head's sites (stage ``"latent"``) in forward order: mean,
    log-variance, then the sample; the reconstruction is the first output (causalvae's
    ``VAEOutput.logits``).  A vector-quantised head (units ``"position"``: pre-quantisation
    vectors, codes, quantised vectors) has no log-variance: its latent is the last site, the
    quantised vectors the decoder reads.
    """
    table = _site_table(model)
    if table is None:
        return ModelSpec()
    heads = [s for s in table if s.stage == "latent"]
    if any(getattr(s, "unit", None) == "position" for s in heads):
        return ModelSpec(latent_site=heads[-1].name, reconstruction=0)
    latent = [s.name for s in heads]
    return ModelSpec(latent_site=latent[0] if latent else None, logvar_site=latent[1] if len(latent) > 1 else None,
                     reconstruction=0)


def model_spec(model: nn.Module, spec: ModelSpec | None = None) -> ModelSpec:
    """The declaration in force: the fields of ``spec`` that are set, the model's own ones elsewhere.

    >>> model_spec(nn.Linear(2, 2), ModelSpec(latent_site="weight_free")).latent_site
    'weight_free'
    """
    if spec is not None and not isinstance(spec, ModelSpec):
        raise TypeError(f"spec must be a causalvae.interventions.ModelSpec, got {type(spec).__name__}")
    own = inferred_spec(model)
    if spec is None:
        return own
    merged = {f.name: getattr(spec, f.name) for f in fields(ModelSpec)
              if getattr(spec, f.name) is not None and f.name in ("latent_site", "reconstruction", "logvar_site")}
    return replace(own, **merged, stochastic=spec.stochastic, seed=spec.seed)


def require_latent(spec: ModelSpec, *, what: str, sites: Sequence[str]) -> str:
    """``spec.latent_site``, or an error saying exactly what to declare."""
    if spec.latent_site is None:
        raise ValueError(f"{what} needs the latent (mean) site, which this model does not declare: pass "
                         f"spec=ModelSpec(latent_site=<the site holding mu>), one of {list(sites)}")
    return spec.latent_site


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return "tensor " + "x".join(str(d) for d in value.shape[1:]) if value.dim() > 1 else "tensor"
    return type(value).__name__


def _pick(output: Any, key: Reconstruction) -> Any:
    if callable(key):
        return key(output)
    if isinstance(key, int):
        if isinstance(output, (tuple, list)) and -len(output) <= key < len(output):
            return output[key]
        raise IndexError(f"ModelSpec.reconstruction={key} indexes the model output, which is "
                         f"{type(output).__name__}" + (f" of {len(output)} values" if isinstance(output, (tuple, list))
                                                        else ""))
    if isinstance(output, Mapping) and key in output:
        return output[key]
    if hasattr(output, "_fields") and key in output._fields:
        return getattr(output, key)
    keys = list(output) if isinstance(output, Mapping) else list(getattr(output, "_fields", []))
    raise KeyError(f"ModelSpec.reconstruction={key!r} is not a key of the model output ({type(output).__name__}); "
                   f"expected one of {keys}")


def _single(output: Any, leaves: tuple[type, ...]) -> Any:
    """The output itself when it is one value, else an error asking for a declaration."""
    if isinstance(output, leaves):
        return output
    items = list(output.items()) if isinstance(output, Mapping) else (
        list(enumerate(output)) if isinstance(output, (tuple, list)) else None)
    if items is None:
        raise TypeError(f"the model returns {type(output).__name__}; expected a tensor, a torch.distributions "
                        f"object or a tuple / dict of them")
    if len(items) == 1:
        return items[0][1]
    names = getattr(output, "_fields", None)
    keys = list(names) if names else [k for k, _ in items]
    listed = ", ".join(f"{k!r}: {_describe(v)}" for k, (_, v) in zip(keys, items))
    how = "key" if isinstance(output, Mapping) or names else "index"
    raise ValueError(f"the model returns a {type(output).__name__} of {len(items)} values ({listed}) and does not "
                     f"declare which is the reconstruction: pass spec=ModelSpec(reconstruction=<{how}>), the {how} "
                     f"one of {keys}, or a callable output -> reconstruction")


def pick_reconstruction(output: Any, spec: ModelSpec, *,
                        leaves: tuple[type, ...] = (torch.Tensor, distributions.Distribution)) -> Any:
    """The part of ``output`` that ``spec`` declares the reconstruction; ``leaves`` are the types of
    single values (tensors and distributions; fx nodes for a traced output)."""
    return _single(output, leaves) if spec.reconstruction is None else _pick(output, spec.reconstruction)


def reconstruction_of(output: Any, spec: ModelSpec) -> torch.Tensor:
    """The reconstruction tensor of a forward ``output`` under ``spec`` (a distribution's ``.mean``).

    >>> out = {"mean": torch.zeros(1, 2), "x_hat": distributions.Normal(torch.ones(1, 4), 1.0)}
    >>> reconstruction_of(out, ModelSpec(reconstruction="x_hat")).shape
    torch.Size([1, 4])
    """
    value = pick_reconstruction(output, spec)
    if isinstance(value, distributions.Distribution):
        try:
            value = value.mean
        except NotImplementedError:
            raise TypeError(f"the reconstruction is a {type(value).__name__} distribution without a mean; return "
                            f"its mean (or logits) tensor instead") from None
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"the reconstruction is {type(value).__name__}; expected a tensor or a torch.distributions "
                        f"object with a mean (check ModelSpec.reconstruction)")
    return value
