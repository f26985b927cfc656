"""The forward pass used for analysis: eval mode, the declared reconstruction, checked determinism.

Analysis runs the model in eval mode, where the models of :mod:`causalvae.models` use ``z = mu``
(DESIGN §5).  The output of a pass is the reconstruction the model's :class:`ModelSpec` declares
(:func:`declared` puts a declaration in force for the passes inside it).  A pass must be
deterministic: :func:`check_deterministic` runs the clean pass twice and compares exactly.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch import distributions, nn

from causalvae.interventions.spec import ModelSpec, inferred_spec, reconstruction_of

MODEL_PREFIX = "model."
_DECLARED: contextvars.ContextVar[Mapping[int, ModelSpec]] = contextvars.ContextVar("declared", default={})


@contextlib.contextmanager
def declared(model: nn.Module, spec: ModelSpec) -> Iterator[ModelSpec]:
    """Put ``spec`` in force for every analysis pass of ``model`` inside the block.

    Examples
    --------
    >>> net = nn.Linear(2, 2)
    >>> with declared(net, ModelSpec(reconstruction=lambda out: 2 * out)), torch.no_grad():
    ...     torch.equal(AnalysisForward(net)(torch.zeros(1, 2)), 2 * net.bias[None])
    True
    """
    token = _DECLARED.set({**_DECLARED.get(), id(model): spec})
    try:
        yield spec
    finally:
        _DECLARED.reset(token)


def active_spec(model: nn.Module) -> ModelSpec:
    """The declaration in force for ``model`` (:func:`declared`), else the one it carries."""
    spec = _DECLARED.get().get(id(model))
    return inferred_spec(model) if spec is None else spec


@contextlib.contextmanager
def _seeded(spec: ModelSpec, model: nn.Module) -> Iterator[None]:
    if spec.stochastic != "fixed-seed":
        yield
        return
    devices = sorted({p.device.index or 0 for p in model.parameters() if p.is_cuda})
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(spec.seed)
        yield


def raw_forward(model: nn.Module, x: torch.Tensor) -> Any:
    """``model(x)`` as the analysis runs it (reseeded under ``stochastic="fixed-seed"``)."""
    with _seeded(active_spec(model), model):
        return model(x)


class AnalysisForward(nn.Module):
    """``forward(x)`` = the model's declared reconstruction; module paths get the ``model.`` prefix."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return reconstruction_of(raw_forward(self.model, x), active_spec(self.model))


@contextlib.contextmanager
def analysis_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every module in eval mode and restore each one's training flag afterwards."""
    flags = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        yield model
    finally:
        for m, flag in flags:
            m.training = flag


def model_dtype(model: nn.Module) -> torch.dtype:
    """The floating dtype of the model's parameters and buffers (torch's default when it has none).

    >>> model_dtype(nn.Linear(2, 2).double())
    torch.float64
    """
    dtypes = {t.dtype for t in (*model.parameters(), *model.buffers()) if t.is_floating_point()}
    if len(dtypes) > 1:
        raise TypeError(f"model parameters and buffers mix dtypes {sorted(map(str, dtypes))}; expected one floating "
                        f"dtype (cast the model with model.to(dtype))")
    return dtypes.pop() if dtypes else torch.get_default_dtype()


def output_tensors(value: Any) -> list[torch.Tensor]:
    """Every tensor inside an output (containers and distributions' parameters)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, distributions.Distribution):
        return [v for v in vars(value).values() if isinstance(v, torch.Tensor)]
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in output_tensors(v)]
    return []


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape:
        return False
    if a.is_floating_point():
        return bool((a.eq(b) | (a.isnan() & b.isnan())).all())
    return torch.equal(a, b)


def check_deterministic(model: nn.Module, x: torch.Tensor) -> None:
    """Raise unless two analysis passes of ``model`` on ``x`` give identical outputs.

    The caller's RNG state is left unchanged.

    Examples
    --------
    >>> check_deterministic(nn.Linear(2, 2), torch.ones(2, 2))
    >>> class Sampling(nn.Module):
    ...     def forward(self, x):
    ...         return x + torch.randn_like(x)
    >>> check_deterministic(Sampling(), torch.ones(2, 2))
    Traceback (most recent call last):
    ...
    ValueError: the model's forward pass is not deterministic in eval mode: ...
    >>> with declared(sampling := Sampling(), ModelSpec(stochastic="fixed-seed")):
    ...     check_deterministic(sampling, torch.ones(2, 2))
    """
    devices = sorted({p.device.index or 0 for p in model.parameters() if p.is_cuda})
    with analysis_mode(model), torch.no_grad(), torch.random.fork_rng(devices=devices):
        first, second = output_tensors(raw_forward(model, x)), output_tensors(raw_forward(model, x))
    if len(first) == len(second) and all(_same(a, b) for a, b in zip(first, second)):
        return
    raise ValueError("the model's forward pass is not deterministic in eval mode: two passes on the same inputs "
                     "gave different outputs (e.g. it samples z = mu + sigma * eps even in eval mode), so every "
                     "effect would change from call to call. Fix the model (use z = mu when not self.training), or "
                     "pass spec=ModelSpec(..., stochastic='fixed-seed', seed=0) to reseed torch's RNG identically "
                     "before every forward pass (effects are then exact for that one noise draw)")


def recon_loss(model: nn.Module) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Per-sample reconstruction loss ``loss(x, output) -> (N,)``, evaluated in float64.

    Models with ``config.likelihood`` use their negative log-likelihood (Bernoulli with
    logits, or Gaussian with ``config.obs_std``); any other model the summed squared error.
    """
    config = getattr(model, "config", None)
    likelihood = getattr(config, "likelihood", None)

    def loss(x: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        if x.shape[1:] != output.shape[1:]:
            raise ValueError(f"recon_error needs output shaped like the input: expected {tuple(x.shape[1:])}, "
                             f"got {tuple(output.shape[1:])}")
        x64, out64 = x.double(), output.double()
        if likelihood == "bernoulli":
            elem = torch.nn.functional.binary_cross_entropy_with_logits(out64, x64.expand_as(out64), reduction="none")
        elif likelihood == "gaussian":
            elem = 0.5 * ((x64 - out64) / float(config.obs_std)) ** 2 + math.log(float(config.obs_std))
        else:
            elem = (x64 - out64) ** 2
        return elem.flatten(1).sum(1)

    return loss
