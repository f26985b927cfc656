"""What a run measures on a model's latent, for a Gaussian latent and for VQ-VAE codes alike.

``causalvae run`` and the study analysis (:mod:`causalvae.sweep.study`) both measure
through these functions, so a number in a run folder and the same number in a study table come
from one implementation.

=================  ==============================================  =============================================
measure            Gaussian latent (``latent.mu``)                 VQ-VAE codes (``latent.code``)
=================  ==============================================  =============================================
information        KL(q(z_i|x) || N(0, 1)) per latent (nats)       code entropy H(c_i) per position (nats)
active             information > 0.01 nats                        the same
intervention       do(z_i = c), c in -3..3                         code swap do(c_i = j), j over the used codes
CES, specificity   :func:`causalvae.interventions.paper_metrics`   :func:`causalvae.interventions.code_swap_profile`
circ. modularity   signed decoder effects of do(z_i = c)           signed decoder effects of the code swaps
DCI / MIG codes    posterior means, 20-bin histograms for MIG      code indices; MIG bins each code on its own
=================  ==============================================  =============================================

A pre-quantisation perturbation of a VQ-VAE changes nothing inside its code's Voronoi cell
(:func:`causalvae.interventions.code_margin`), so the code swap is the intervention whose
effect the decoder can show; docs/metrics.md ("VQ-VAE: code interventions") gives the formulas.

>>> from causalvae.models import make_vae
>>> x = np.random.default_rng(0).random((16, 6), dtype=np.float32)
>>> for variant, extra in (("vae", {}), ("vq-vae", {"codebook_size": 4, "code_dim": 3})):
...     model = make_vae(variant, input_shape=(6,), latent_dim=2, hidden=(8,), **extra).eval()
...     info = latent_information(model, x)
...     m = paper_measures(model, x, information=info)
...     print(variant, latent_site(model), m.intervention, sorted(m.scores(info))[:3])
vae latent.mu do(z=c) ['ces.active_only', 'ces.calibrated', 'ces.paper']
vq-vae latent.code do(code=j) ['ces.active_only', 'ces.paper', 'ces.sqrt_p_normalised']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from causalvae.effects import EffectMatrix

#: do(z_i = c) values of the Gaussian latent perturbation (DESIGN §5).
GRID = tuple(float(c) for c in range(-3, 4))
#: Histogram bins of posterior means for MIG and modularity (disentanglement_lib).
N_BINS = 20


def is_quantised(model: Any) -> bool:
    """Whether ``model`` is a VQ-VAE (its latent is a codebook index per position)."""
    from causalvae.models import VQVAE

    return isinstance(model, VQVAE)


def mechanism_sites(model: Any) -> list[str]:
    """Decoder sites that compute one factor's structural equation each (an SCM-layer VAE's
    ``decoder.scm.m<j>``): swapping a factor there recomputes its descendants; none for other models."""
    from causalvae.models.scm_vae import SCMVAE

    return model.mechanism_sites if isinstance(model, SCMVAE) else []


def declared_latent_site(model: Any) -> str:
    """The model's declared latent site (:class:`~causalvae.interventions.ModelSpec`'s ``latent_site``, read
    from its site table): the latent means of a Gaussian head, the quantised vectors a VQ-VAE's decoder reads."""
    from causalvae.interventions.spec import model_spec, require_latent

    return require_latent(model_spec(model), what="the run's latent analyses",
                          sites=[name for name, _ in model.named_modules() if name])


def _module_site(model: Any, module: Any) -> str:
    return next(name for name, candidate in model.named_modules() if candidate is module)


def latent_site(model: Any) -> str:
    """The site whose units are the analysed latents: the declared latent (``latent.mu``), or the site of a
    VQ-VAE's code indices (its quantiser module, ``latent.code``)."""
    return _module_site(model, model.latent.code) if is_quantised(model) else declared_latent_site(model)


def encoder_latent_site(model: Any) -> str:
    """The latent site the encoder's responses are read at: the declared latent (``latent.mu``), or a VQ-VAE's
    continuous pre-quantisation vectors (``latent.pre``; its code indices have no spread to standardise by)."""
    return _module_site(model, model.latent.pre) if is_quantised(model) else declared_latent_site(model)


def information_name(model: Any) -> str:
    """What :func:`latent_information` measures: ``"kl"`` or ``"code_entropy"``."""
    return "code_entropy" if is_quantised(model) else "kl"


def latent_information(model: Any, x, *, device: str = "cpu") -> np.ndarray:
    """Nats each latent carries on ``x``: the average KL of a Gaussian latent, the code entropy of a VQ position."""
    from causalvae import models

    measure = models.code_entropy if is_quantised(model) else models.latent_kl
    return np.asarray(measure(model, x, device=device), dtype=np.float64)


def disentanglement_codes(model: Any, data, *, indices: np.ndarray, device: str = "cpu") -> tuple[np.ndarray, int]:
    """The representation the disentanglement metrics score, and MIG's histogram bins for it.

    Gaussian latent: posterior means, 20 bins.  VQ-VAE: each position's code index (float64), with
    as many bins as the codebook has codes, so that every code keeps its own bin (an integer range
    narrower than the bin count never shares a bin) and MIG is the mutual information of the codes
    themselves; index order carries no meaning, which the tree ensembles of DCI (GBT) can split around.
    """
    from causalvae import models

    if not is_quantised(model):
        return models.encode_dataset(model, data, indices=indices, device=device)[0], N_BINS
    import torch

    from causalvae.models.batches import observations_of

    x = observations_of(data)
    parts = []
    with torch.no_grad():
        for start in range(0, len(indices), 256):
            batch = torch.as_tensor(np.asarray(x[indices[start:start + 256]], dtype=np.float32), device=device)
            parts.append(model.encode(batch).codes.cpu().numpy())
    return np.concatenate(parts).astype(np.float64), int(model.latent.codebook.shape[0])


@dataclass(frozen=True)
class PaperMeasures:
    """The paper's interventional metrics of one model on its analysis inputs.

    Attributes
    ----------
    ces : :class:`~causalvae.metrics.interventional.CESReport` (active latents from the information).
    specificity : :class:`~causalvae.metrics.interventional.SpecificityReport` per latent.
    decoder_signed, decoder_abs : latent x decoder-unit effects (statistics ``mean`` / ``mean_abs``).
    intervention : ``"do(z=c)"`` or ``"do(code=j)"``.
    """

    ces: Any
    specificity: Any
    decoder_signed: EffectMatrix
    decoder_abs: EffectMatrix
    intervention: str

    def modularity(self, information: np.ndarray) -> dict:
        """Circuit modularity per decoder site, inactive latents excluded."""
        from causalvae.metrics import interventional

        return interventional.circuit_modularity_per_layer(self.decoder_signed, active=active(information))

    def scores(self, information: np.ndarray) -> dict[str, float]:
        """Flat metrics: ``ces.*``, ``specificity.{paper,bounded}`` (mean over active latents: NaN when none
        is active or one of them changes nothing), ``circuit_modularity.<site>`` and ``circuit_modularity.mean``."""
        keep = active(information)
        out = {f"ces.{name}": getattr(self.ces, name) for name in ("paper", "active_only", "sqrt_p_normalised",
                                                                    "calibrated")
               if getattr(self.ces, name) is not None}
        for name in ("paper", "bounded"):
            values = getattr(self.specificity, name)[keep]
            out[f"specificity.{name}"] = float(np.mean(values)) if keep.any() else float("nan")
        modularity = self.modularity(information)
        out.update({f"circuit_modularity.{site}": r.value for site, r in modularity.items()})
        finite = [r.value for r in modularity.values() if np.isfinite(r.value)]
        out["circuit_modularity.mean"] = float(np.mean(finite)) if finite else float("nan")
        return {k: float(v) for k, v in out.items()}


def active(information: np.ndarray) -> np.ndarray:
    """Latents carrying more than ``ACTIVE_KL`` nats."""
    from causalvae.metrics import interventional

    return np.asarray(information) > interventional.ACTIVE_KL


def paper_measures(model: Any, x, *, information: np.ndarray, recon_error: float | None = None,
                   device: str = "cpu") -> PaperMeasures:
    """CES, specificity and decoder effects of ``model`` on ``x`` by the intervention its latent admits."""
    from causalvae import interventions

    decoder = [s.name for s in model.sites if s.stage == "decoder" and s.name != model.output_site]
    if is_quantised(model):
        profile = interventions.code_swap_profile(model, x)
        signed, absolute = (interventions.code_effects(model, x, targets=decoder, statistic=statistic,
                                                       device=device) for statistic in ("mean", "mean_abs"))
        return PaperMeasures(profile.ces(information=information, recon_error=recon_error), profile.specificity(),
                             signed, absolute, "do(code=j)")
    signed, absolute = (interventions.latent_effects(model, x, values=GRID, targets=decoder, statistic=statistic,
                                                     device=device) for statistic in ("mean", "mean_abs"))
    ces, spec, _ = interventions.paper_metrics(model, x, kl=information, grid=GRID, recon_error=recon_error,
                                               device=device)
    return PaperMeasures(ces, spec, signed, absolute, "do(z=c)")
