"""One analysis of one model: its declaration, the module that runs, device, dtype and checks.

Every effect function opens an :func:`analysis` first.  It resolves the :class:`ModelSpec`,
builds the fx-site module when fx-node sites are asked for (:mod:`.fxsites`), puts the
declaration in force for every pass, and refuses a forward pass that is not deterministic.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from causalvae.interventions.batching import to_tensor
from causalvae.interventions.forward import check_deterministic, declared, model_dtype, recon_loss
from causalvae.interventions.fxsites import split_sites, with_fx_sites
from causalvae.interventions.sites import candidate_sites
from causalvae.interventions.spec import ModelSpec, model_spec, require_latent
from causalvae.interventions.effect_plumbing import Probe, as_inputs, probe, resolve_device
from causalvae.interventions.targets import SCALAR_TARGETS
from causalvae.interventions.trace import OUTPUT
from causalvae.inputs import check_batch, check_model, input_shape_of
from causalvae.units import parse_unit

DETERMINISM_ROWS = 2


@dataclass(frozen=True)
class Analysis:
    """State shared by the steps of one effect computation.

    Attributes
    ----------
    model : the user's model (its ``config`` selects the reconstruction loss).
    module : what the passes run: ``model`` itself, or its fx graph with fx-node site modules.
    spec : the declaration in force.
    device, dtype : where and in which floating dtype inputs are fed (the model's own dtype).
    default_sites : the sites swept when none are given (the model's declared or leaf sites).
    """

    model: nn.Module
    module: nn.Module
    spec: ModelSpec
    device: torch.device
    dtype: torch.dtype
    default_sites: tuple[str, ...]

    @property
    def loss(self):
        """Per-input reconstruction loss ``loss(x, output) -> (N,)`` in float64."""
        return recon_loss(self.model)

    def tensor(self, x: Any, rows: slice) -> torch.Tensor:
        """Rows of an input array as a tensor in the model's dtype on the analysis device."""
        return to_tensor(x, rows, self.device, self.dtype)

    def probe(self, x: Any, extra: Iterable[str] = ()) -> Probe:
        """Unit counts and shapes of the default sites, ``extra`` and the output, from one input."""
        return probe(self.module, x, self.device, extra=list(extra), sites=self.default_sites, dtype=self.dtype)


def site_names(spec: Any) -> list[str]:
    """The site names a ``sites`` / ``targets`` / ``mediators`` argument mentions (unit ids reduced to sites)."""
    if spec is None:
        return []
    items = [spec] if isinstance(spec, str) else list(spec)
    return list(dict.fromkeys(parse_unit(s)[0] for s in items if s not in (*SCALAR_TARGETS, OUTPUT)))


@contextlib.contextmanager
def analysis(model: nn.Module, example: Any, *, spec: ModelSpec | None = None, sites: Iterable[str] = (),
             targets: Iterable[str] = (), device: torch.device | str | None = None) -> Iterator[Analysis]:
    """Open an analysis of ``model``: resolve the declaration, the sites and the module to run.

    Parameters
    ----------
    model : any ``nn.Module``.
    example : input rows (numpy, torch, a ``TensorDataset``); the first rows are run twice to
        check that the forward pass is deterministic.
    spec : the declaration (:class:`ModelSpec`); fields left None are read from the model.
    sites, targets : the site names the computation intervenes on and reads (module paths or fx
        node names); unknown ones raise, naming the argument.
    device : where to compute (default: where the model's parameters are).

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU()).double()
    >>> with analysis(net, torch.ones(4, 2)) as an:
    ...     an.dtype, an.tensor(np.ones((4, 2), dtype=np.float32), slice(0, 2)).dtype, an.probe(torch.ones(1, 2)).order
    (torch.float64, torch.float64, ['0', '1'])
    """
    check_model(model)
    resolved = model_spec(model, spec)
    example = check_batch(as_inputs(example), shape=input_shape_of(model))
    split_sites(model, targets, what="target")
    module_sites, node_sites = split_sites(model, [*sites, *targets])
    module = with_fx_sites(model, node_sites, module_sites) if node_sites else model
    present = dict(module.named_modules())  # an fx graph module holds only the modules the forward pass calls
    an = Analysis(model, module, resolved, resolve_device(model, device), model_dtype(model),
                  tuple(s for s in candidate_sites(model) if s in present))
    with declared(module, resolved):
        try:
            check_deterministic(module, an.tensor(example, slice(0, DETERMINISM_ROWS)))
        except RuntimeError as exc:  # e.g. "mat1 and mat2 shapes cannot be multiplied"
            raise ValueError(f"the model's forward pass fails on x (inputs of shape {tuple(example.shape[1:])}); "
                             f"expected inputs the model accepts: {exc}") from exc
        yield an


def with_latent(spec: ModelSpec | None, model: nn.Module, latent: str | None, *, what: str) -> tuple[ModelSpec, str]:
    """The declaration with ``latent`` (when given) as its latent site, and that site."""
    resolved = model_spec(check_model(model), spec if latent is None else replace(spec or ModelSpec(), latent_site=latent))
    return resolved, require_latent(resolved, what=what, sites=candidate_sites(model))


def sample_rows(dataset: Any, n: int = DETERMINISM_ROWS) -> np.ndarray:
    """The first ``n`` observations of a factor dataset."""
    return dataset.images(np.arange(min(n, len(dataset))))


def factor_dataset(dataset: Any) -> Any:
    """``dataset`` if it is a factor dataset (names, kinds and values of its factors), else a clear error."""
    if all(hasattr(dataset, a) for a in ("factor_names", "factor_index", "images")):
        return dataset
    tensors = getattr(dataset, "tensors", None)
    if isinstance(tensors, tuple):
        shapes = [tuple(t.shape) for t in tensors]
        raise TypeError(f"factor effects need the names and kinds of the factors, which a TensorDataset (tensors "
                        f"{shapes}) does not carry: build causalvae.data.FactorDataset.from_arrays(x, factors, "
                        f"factor_names=[...]) from its tensors")
    raise TypeError(f"expected a causalvae.data.FactorDataset (FactorDataset.from_arrays builds one from arrays), "
                    f"got {type(dataset).__name__}")
