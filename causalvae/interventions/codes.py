"""Interventions on what a VQ-VAE uses: its discrete codes.

A VQ-VAE (``make_vae("vq-vae", ...)``) decodes codebook vectors only: position i of the
quantised latent is ``q_i = e_{c_i}``, ``c_i = argmin_k ||z_e,i - e_k||``.  Its interventions are

- the **code swap** ``do(c_i = j)``: position i's code becomes j, i.e. ``q_i <- e_j`` (an op on
  the site ``latent.code``, so the decoder reads ``codebook[j]``);
- a **pre-quantisation perturbation** ``do(z_e,i = c)`` on ``latent.pre`` (the continuous
  intervention of the paper), which changes nothing at all while ``z_e,i`` stays in the Voronoi
  cell of its code: its effect is 0 below :func:`code_margin` and a code swap above it.

Definitions (docs/metrics.md, "VQ-VAE: code interventions"), with ``C`` the codes the encoder
emits on the analysed inputs (:func:`used_codes`) and D the decoded observation:

- ``CES_code_i = E_x E_{j ~ U(C)} ||D(q) - D(q with q_i <- e_j)||_2``
  (:attr:`CodeSwapProfile.distance`; a swap to the current code contributes 0);
- ``profile_code[i, p] = E_x E_{j ~ U(C)} (D(q) - D(q with q_i <- e_j))_p^2``, whose entropy gives
  the intervention specificity (:meth:`CodeSwapProfile.specificity`).

>>> from causalvae.models import make_vae
>>> model = make_vae("vq-vae", input_shape=(6,), latent_dim=2, hidden=(8,), codebook_size=4, code_dim=3)
>>> x = torch.rand(16, 6)
>>> used = used_codes(model, x)
>>> profile = code_swap_profile(model, x)
>>> profile.codes == tuple(used.tolist()), profile.distance.shape, profile.profiles.shape
(True, (2,), (2, 6))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from causalvae.argtypes import check_indices, check_int
from causalvae.effects import EffectMatrix
from causalvae.inputs import check_batch, check_model, input_shape_of
from causalvae.interventions.batching import chunks
from causalvae.interventions.factors import latent_effects
from causalvae.interventions.effect_plumbing import as_inputs
from causalvae.metrics.interventional import (CESReport, SpecificityReport, causal_effect_strength,
                                              intervention_specificity)
from causalvae.modelstate import restores_model_state

CODE_SITE = "latent.code"
PRE_SITE = "latent.pre"


def _codebook(model: nn.Module) -> torch.Tensor:
    check_model(model)
    codebook = getattr(getattr(model, "latent", None), "codebook", None)
    if not isinstance(codebook, torch.Tensor) or not hasattr(model, "encode"):
        raise TypeError(f"code interventions need a vector-quantised model (make_vae('vq-vae', ...)) with a "
                        f"codebook at latent.codebook, got {type(model).__name__}")
    return codebook


def _rows(x, rows: slice, like: torch.Tensor) -> torch.Tensor:
    """Rows of ``x`` in the dtype and on the device of ``like`` (float64 models get float64 inputs)."""
    part = x[rows]
    if not isinstance(part, torch.Tensor):
        part = torch.as_tensor(np.asarray(part))
    return part.to(device=like.device, dtype=like.dtype)


@restores_model_state(training=False, grad=False)
def used_codes(model: nn.Module, x, *, batch_size: int = 64) -> np.ndarray:
    """Sorted indices of the codes the encoder emits on ``x`` (at any position).

    >>> from causalvae.models import make_vae
    >>> model = make_vae("vq-vae", input_shape=(4,), latent_dim=2, hidden=(8,), codebook_size=8, code_dim=2)
    >>> with torch.no_grad():
    ...     model.latent.codebook[1:] = 100.0   # every code but 0 is far away
    >>> used_codes(model, torch.zeros(3, 4)).tolist()
    [0]
    """
    codebook = _codebook(model)
    x = check_batch(as_inputs(x), shape=input_shape_of(model))
    seen = torch.zeros(codebook.shape[0], dtype=torch.bool, device=codebook.device)
    for rows in chunks(len(x), batch_size):
        seen[model.encode(_rows(x, rows, codebook)).codes.flatten()] = True
    return np.flatnonzero(seen.cpu().numpy())


def _code_set(model: nn.Module, x, codes: Sequence[int] | None, batch_size: int) -> list[int]:
    """``codes`` checked against the codebook, or the used codes of ``x`` when None."""
    if codes is None:
        return used_codes(model, x, batch_size=batch_size).tolist()
    chosen = check_indices(codes, name="codes", size=_codebook(model).shape[0])
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"codes must be distinct indices, got {list(codes)}")
    return chosen


@restores_model_state()
def code_effects(model: nn.Module, x, *, codes: Sequence[int] | None = None, targets: Sequence[str] | None = None,
                 statistic: str = "mean_abs", method: str = "exact", device: torch.device | str | None = None,
                 batch_size: int = 64) -> EffectMatrix:
    """Effects of the code swaps ``do(c_i = j)`` on decoder units and the output, averaged over codes j.

    Row ``latent.code[i]`` holds, for each target, ``E_{j ~ U(codes)}`` of the ``statistic`` over
    ``x`` of the change when position i's code becomes j (the same sweep as :func:`latent_effects`
    with the code indices as the value grid).  With ``targets=["output_l2"]`` and
    ``statistic="mean"`` a row is ``E_x E_j ||out(q) - out(q with q_i <- e_j)||_2`` on the model's
    raw output (logits for Bernoulli models; :func:`code_swap_profile` compares decoded observations).

    Parameters
    ----------
    model : a VQ-VAE (``make_vae("vq-vae", ...)``).
    x : analysis inputs (N, ...).
    codes : the codes j to swap in (default: the codes the encoder emits on ``x``, :func:`used_codes`).
    targets, statistic, method, device, batch_size : as for :func:`latent_effects`.

    Examples
    --------
    >>> from causalvae.models import make_vae
    >>> model = make_vae("vq-vae", input_shape=(6,), latent_dim=2, hidden=(8,), codebook_size=4, code_dim=3)
    >>> m = code_effects(model, torch.rand(8, 6), codes=[0, 3], targets=["output_l2"], statistic="mean")
    >>> m.sources, m.intervention, m.meta["codes"]
    (('latent.code[0]', 'latent.code[1]'), 'do(code=j)', [0, 3])
    """
    chosen = _code_set(model, x, codes, batch_size)
    matrix = latent_effects(model, x, latent=CODE_SITE, values=chosen, targets=targets, statistic=statistic,
                            method=method, device=device, batch_size=batch_size)
    meta = {k: v for k, v in matrix.meta.items() if k not in ("values", "calibrated")}
    return dataclasses.replace(matrix, intervention="do(code=j)",
                               meta={**meta, "codes": chosen, "averaged_over": "codes"})


@dataclass(frozen=True)
class CodeSwapProfile:
    """Decoded-observation changes under every code swap ``do(c_i = j)``, averaged over x and j.

    Attributes
    ----------
    codes : the codes j averaged over (uniformly).
    distance : (L,) ``E_x E_j ||D(q) - D(q with q_i <- e_j)||_2`` per position: ``CES_code_i``.
    profiles : (L, P) ``E_x E_j (D(q) - D(q with q_i <- e_j))_p^2`` per output element.
    n_samples : number of inputs x.
    """

    codes: tuple[int, ...]
    distance: np.ndarray
    profiles: np.ndarray
    n_samples: int

    def ces(self, *, information=None, recon_error: float | None = None) -> CESReport:
        """CES over positions; ``information`` (L,) in nats, e.g. the code entropy ``H(c_i)`` of
        :func:`causalvae.models.code_entropy`, marks positions above 0.01 nats as active."""
        return causal_effect_strength(self.distance, n_output=self.profiles.shape[1], kl=information,
                                      recon_error=recon_error)

    def specificity(self) -> SpecificityReport:
        """Intervention specificity of each position from :attr:`profiles`."""
        return intervention_specificity(self.profiles)


@restores_model_state(training=False, grad=False)
def code_swap_profile(model: nn.Module, x, *, codes: Sequence[int] | None = None, batch_size: int = 64,
                      max_batch: int = 1024) -> CodeSwapProfile:
    """:class:`CodeSwapProfile` of ``model`` on ``x``: each input is encoded once, every swap decoded.

    D is the likelihood's mean (sigmoid of the logits for Bernoulli models), as for the continuous
    CES.  Computed in the model's dtype, accumulated in float64; at most ``max_batch`` swapped
    latents are decoded at once.

    Parameters
    ----------
    model : a VQ-VAE.
    x : analysis inputs (N, ...).
    codes : the codes j (default :func:`used_codes` of ``x``).
    batch_size : inputs encoded at once.
    max_batch : decoder batch size.
    """
    codebook = _codebook(model)
    x = check_batch(as_inputs(x), shape=input_shape_of(model))
    max_batch = check_int(max_batch, name="max_batch", minimum=1)
    chosen = _code_set(model, x, codes, batch_size)
    vectors = codebook[torch.as_tensor(chosen, device=codebook.device)]
    bernoulli = model.config.likelihood == "bernoulli"

    def decoded(q: torch.Tensor) -> torch.Tensor:
        out = model.decode(q)
        return (torch.sigmoid(out) if bernoulli else out).double().flatten(1)

    distance, profiles = None, None
    for rows in chunks(len(x), batch_size):
        q = model.encode(_rows(x, rows, codebook)).quantised
        base = decoded(q)
        if distance is None:
            distance = torch.zeros(q.shape[1], dtype=torch.float64, device=q.device)
            profiles = torch.zeros((q.shape[1], base.shape[1]), dtype=torch.float64, device=q.device)
        group = max(1, max_batch // len(q))
        for i in range(q.shape[1]):
            for start in range(0, len(vectors), group):
                swapped = q.repeat(len(vectors[start:start + group]), 1, 1, 1)  # (codes, n, L, D)
                swapped[:, :, i] = vectors[start:start + group, None]
                diff = decoded(swapped.flatten(0, 1)).reshape(len(swapped), len(q), -1) - base
                distance[i] += diff.norm(dim=2).sum()
                profiles[i] += diff.pow(2).sum((0, 1))
    count = len(x) * len(chosen)
    return CodeSwapProfile(tuple(chosen), (distance / count).cpu().numpy(), (profiles / count).cpu().numpy(), len(x))


@restores_model_state(training=False, grad=False)
def code_margin(model: nn.Module, x, *, batch_size: int = 64) -> np.ndarray:
    """Distance of each pre-quantisation vector to the boundary of its code's Voronoi cell: (N, L).

    For ``z = z_e,i(x)`` with code k: ``min_{j != k} (||z - e_j||^2 - ||z - e_k||^2) / (2 ||e_j - e_k||)``.
    Any perturbation of ``z`` with a smaller norm leaves the code, hence the decoder's input and
    output, exactly unchanged; at ``z = e_k`` the margin is half the distance to the nearest other code.

    >>> from causalvae.models import make_vae
    >>> model = make_vae("vq-vae", input_shape=(2,), latent_dim=1, hidden=(2,), codebook_size=2, code_dim=2)
    >>> with torch.no_grad():  # z_e = x, codes at (0, 0) and (4, 0)
    ...     for layer in (model.encoder.fc1.layer, model.latent.pre.linear):
    ...         _ = layer.weight.copy_(torch.eye(2)), layer.bias.zero_()
    ...     _ = model.latent.codebook.copy_(torch.tensor([[0.0, 0.0], [4.0, 0.0]]))
    >>> code_margin(model, torch.tensor([[0.0, 0.0], [1.0, 3.0]])).tolist()
    [[2.0], [1.0]]
    """
    codebook = _codebook(model).double()
    x = check_batch(as_inputs(x), shape=input_shape_of(model))
    parts = []
    for rows in chunks(len(x), batch_size):
        enc = model.encode(_rows(x, rows, _codebook(model)))
        z, k = enc.pre.double(), enc.codes
        sq = (z.unsqueeze(-2) - codebook).pow(2).sum(-1)  # (n, L, K)
        gap = (codebook[k].unsqueeze(-2) - codebook).norm(dim=-1)  # ||e_k - e_j||
        margin = (sq - sq.gather(-1, k.unsqueeze(-1))) / (2 * gap)
        parts.append(margin.masked_fill(gap == 0, float("inf")).amin(-1).cpu().numpy())
    return np.concatenate(parts)
