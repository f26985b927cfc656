"""Interventions on any ``nn.Module`` whose sites are module paths (the torch half).

Primitives: :func:`sites`, :func:`capture`, :func:`intervene` and the ops of
:mod:`causalvae.interventions.ops`.  Effects (as :class:`causalvae.effects.EffectMatrix`):
:func:`ablation_effects`, :func:`edge_effects`, :func:`patching_effects`, :func:`factor_effects`,
:func:`latent_effects`; mediation arrays: :func:`mediation_outcomes`; circuit faithfulness:
:func:`ablate_outside`.
"""

from causalvae.interventions.ablation import ablation_effects, edge_effects, patching_effects
from causalvae.interventions.factors import factor_effects, latent_effects, latent_output_profiles
from causalvae.interventions.hooks import capture, intervene
from causalvae.interventions.mediation import ablate_outside, mediation_outcomes
from causalvae.interventions.ops import (UnitOp, add, conditional_mean, mean, patch, resample, scale, set_value,
                                         zero)
from causalvae.interventions.sites import SiteInfo, sites
from causalvae.interventions.spread import Spread, activation_spread
from causalvae.interventions.targets import Readout

__all__ = ["Readout", "SiteInfo", "Spread", "UnitOp", "ablate_outside", "ablation_effects", "activation_spread", "add",
           "capture", "conditional_mean",
           "edge_effects", "factor_effects", "intervene", "latent_effects", "latent_output_profiles", "mean",
           "mediation_outcomes", "patch", "patching_effects", "resample", "scale", "set_value", "sites", "zero"]
