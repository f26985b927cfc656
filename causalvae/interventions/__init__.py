"""Interventions on any ``nn.Module`` whose sites are module paths (the torch half).

Declaration: :class:`ModelSpec` (which site is the latent, which output the reconstruction; every
effect function takes ``spec=``; :func:`declared` puts one in force for the primitives),
:func:`site_roles` (role and stage of every site).  Primitives: :func:`sites`,
:func:`node_site_names` (fx-node sites), :func:`capture`, :func:`intervene` and the ops of
:mod:`causalvae.interventions.ops`.  Effects (as :class:`causalvae.effects.EffectMatrix`):
:func:`ablation_effects`, :func:`edge_effects`, :func:`patching_effects`, :func:`factor_effects`,
:func:`latent_effects`, :func:`code_effects` (VQ-VAE code swaps); mediation arrays:
:func:`mediation_outcomes`; circuit faithfulness: :func:`ablate_outside`.
"""

from causalvae.interventions.ablation import ablation_effects, edge_effects, patching_effects
from causalvae.interventions.codes import CodeSwapProfile, code_effects, code_margin, code_swap_profile, used_codes
from causalvae.interventions.factors import factor_effects, latent_effects, latent_output_profiles
from causalvae.interventions.forward import declared
from causalvae.interventions.fxsites import node_site_names
from causalvae.interventions.hooks import capture, intervene
from causalvae.interventions.mediation import ablate_outside, mediation_outcomes
from causalvae.interventions.ops import (UnitOp, add, conditional_mean, mean, patch, scale, set_value,
                                         zero)
from causalvae.interventions.roles import site_roles
from causalvae.interventions.sites import ModuleSite, sites
from causalvae.interventions.spec import ModelSpec
from causalvae.interventions.decoded import (DecodedEffects, decoded_effects, decoded_mean, decoded_under_do,
                                             paper_metrics)
from causalvae.interventions.spread import Spread, activation_spread
from causalvae.interventions.targets import Readout

__all__ = ["DecodedEffects", "decoded_effects", "decoded_mean", "decoded_under_do", "paper_metrics",
           "CodeSwapProfile", "ModelSpec", "ModuleSite", "Readout", "Spread", "UnitOp", "ablate_outside",
           "ablation_effects", "activation_spread", "add", "capture", "code_effects", "code_margin",
           "code_swap_profile", "conditional_mean", "declared", "edge_effects", "factor_effects", "intervene",
           "latent_effects", "latent_output_profiles", "mean", "mediation_outcomes", "node_site_names", "patch",
           "patching_effects", "scale", "set_value", "site_roles", "sites", "used_codes", "zero"]
