"""VAE variants as data: a latent head, weighted loss terms and default hyper-parameters.

Adding a variant is one :data:`VARIANTS` entry: name the loss terms (from
:data:`causalvae.models.losses.LOSS_TERMS`) with a weight that is a number or the name of a
hyper-parameter, and give the hyper-parameters' defaults.  ``recon`` is always included; the
``reported`` terms are logged without entering the loss.  A row may name another latent head
and the model class that uses it (``vq-vae``: :class:`causalvae.models.vq.VQHead`, ``VQVAE``).

>>> model = make_vae("beta-vae", input_shape=(1, 64, 64), latent_dim=10, beta=8.0)
>>> model.config.hyper["beta"]
8.0
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from causalvae.argtypes import check_int
from causalvae.models.losses import LOSS_TERMS, discriminator_loss, evaluate_terms
from causalvae.models.vae import VAE, GaussianHead, VAEConfig
from causalvae.models.scm_vae import SCM_DEFAULTS, SCMVAE
from causalvae.models.vq import VQ_DEFAULTS, VQHead, VQVAE


def make_discriminator(latent_dim: int, hyper: Mapping[str, float]) -> nn.Sequential:
    """FactorVAE discriminator: ``disc_layers`` linear layers of width ``disc_hidden``, LeakyReLU(0.2),
    one output logit (Kim & Mnih 2018 use 6 x 1000)."""
    width, n_layers = int(hyper["disc_hidden"]), int(hyper["disc_layers"])
    if n_layers < 1 or width < 1:
        raise ValueError(f"disc_layers and disc_hidden must be >= 1, got {n_layers}, {width}")
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    prev = latent_dim
    for i in range(1, n_layers):
        layers[f"fc{i}"] = nn.Linear(prev, width)
        layers[f"act{i}"] = nn.LeakyReLU(0.2)
        prev = width
    layers["out"] = nn.Linear(prev, 1)
    return nn.Sequential(layers)


@dataclass(frozen=True)
class Adversary:
    """A second network trained by its own optimiser (FactorVAE's discriminator)."""

    build: Callable[[int, Mapping[str, float]], nn.Module]
    loss: Callable[..., torch.Tensor]
    lr: str
    betas: tuple[str, str]


@dataclass(frozen=True)
class Variant:
    """One row of the variant table."""

    name: str
    description: str
    terms: Mapping[str, float | str]
    defaults: Mapping[str, float] = field(default_factory=dict)
    head: type[nn.Module] = GaussianHead
    adversary: Adversary | None = None
    model: type[VAE] = VAE
    reported: tuple[str, ...] = ("kl",)

    def weight(self, term: str, hyper: Mapping[str, float]) -> float:
        """Weight of ``term``: the number in the table, or the named hyper-parameter's value."""
        w = self.terms[term]
        return float(hyper[w]) if isinstance(w, str) else float(w)


_FACTOR_ADVERSARY = Adversary(build=make_discriminator, loss=discriminator_loss,
                              lr="disc_lr", betas=("disc_beta1", "disc_beta2"))

VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("vae", "Kingma & Welling (2014): reconstruction + KL.", {"kl": 1.0}),
    Variant("beta-vae", "Higgins et al. (2017): KL weighted by beta.", {"kl": "beta"}, {"beta": 4.0}),
    Variant("beta-tc-vae", "Chen et al. (2018): KL split into MI + TC + dimension-wise KL "
            "(minibatch-weighted sampling), TC weighted by beta.",
            {"mi": "alpha", "tc": "beta", "dim_kl": "gamma"}, {"alpha": 1.0, "beta": 6.0, "gamma": 1.0}),
    Variant("factor-vae", "Kim & Mnih (2018): KL + gamma * discriminator estimate of TC.",
            {"kl": 1.0, "tc_discriminator": "gamma"},
            {"gamma": 35.0, "disc_hidden": 1000.0, "disc_layers": 6.0, "disc_lr": 1e-4,
             "disc_beta1": 0.5, "disc_beta2": 0.9}, adversary=_FACTOR_ADVERSARY),
    Variant("dip-vae-ii", "Kumar et al. (2018): KL + penalties pushing Cov_q[z] to the identity.",
            {"kl": 1.0, "dip_offdiag": "lambda_od", "dip_diag": "lambda_d"},
            {"lambda_od": 10.0, "lambda_d": 10.0}),
    Variant("vq-vae", "van den Oord et al. (2017): nearest-codebook quantisation, straight-through "
            "gradients, beta * commitment + codebook loss (or EMA codebook updates); no KL term.",
            {"commitment": "beta", "codebook": 1.0}, VQ_DEFAULTS, head=VQHead, model=VQVAE,
            reported=("perplexity",)),
    Variant("scm-vae", "Yang et al. (2021) CausalVAE-style: label-supervised concepts through a learned SCM "
            "layer z_j = g_j(A[:, j] * z) + eps_j, A from zero under a NOTEARS augmented Lagrangian "
            "(needs factor labels; set n_concepts).",
            {"kl": "beta", "label": "gamma", "mechanism": 1.0, "dag": 1.0, "sparsity": "lambda_l1"},
            SCM_DEFAULTS, model=SCMVAE, reported=("kl", "dag_h")),
)}


def get_variant(name: str) -> Variant:
    """The table entry of ``name``; a clear error lists the known variants."""
    try:
        return VARIANTS[name]
    except KeyError:
        raise KeyError(f"unknown VAE variant {name!r}; expected one of {sorted(VARIANTS)}") from None


def _check_table() -> None:
    for v in VARIANTS.values():
        bad = [t for t in (*v.terms, *v.reported) if t not in LOSS_TERMS]
        missing = [w for w in v.terms.values() if isinstance(w, str) and w not in v.defaults]
        if bad or missing:
            raise RuntimeError(f"variant {v.name!r}: unknown terms {bad} or weights without default {missing}")


_check_table()


def make_vae(variant: str, *, input_shape: Sequence[int], latent_dim: int = 10,
             likelihood: str | None = None, obs_std: float = 0.1, hidden: Sequence[int] = (128, 128),
             seed: int = 0, **hyper: float) -> VAE:
    """Build a VAE of ``variant`` for observations of ``input_shape``.

    Parameters
    ----------
    variant : a key of :data:`VARIANTS`.
    input_shape : ``(C, 64, 64)`` selects the conv architecture, ``(D,)`` the MLP.
    latent_dim : number of latent coordinates.
    likelihood : ``"bernoulli"`` or ``"gaussian"``; default Bernoulli for images, Gaussian for tabular.
    obs_std : standard deviation of the Gaussian likelihood.
    hidden : MLP hidden widths (encoder order; the decoder mirrors them).
    seed : seed of the weight initialisation (torch's global RNG state is left untouched).
    **hyper : overrides of the variant's defaults (e.g. ``beta=8``).
    """
    spec = get_variant(variant)
    unknown = sorted(set(hyper) - set(spec.defaults))
    if unknown:
        raise ValueError(f"unknown hyper-parameters {unknown} for variant {variant!r}; "
                         f"expected a subset of {sorted(spec.defaults)}")
    for name, value in (("input_shape", input_shape), ("hidden", hidden)):
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise TypeError(f"{name} must be a sequence of integers, got {value!r}")
    shape = tuple(input_shape)
    architecture = "conv64" if len(shape) == 3 else "mlp" if len(shape) == 1 else None
    if architecture is None:
        raise ValueError(f"input_shape must be (C, 64, 64) or (D,), got {shape}")
    seed = check_int(seed, name="seed", minimum=0)
    config = VAEConfig(  # checks every size and number (integers are never truncated)
        variant=variant, input_shape=shape, latent_dim=latent_dim, architecture=architecture,
        likelihood=likelihood or ("bernoulli" if architecture == "conv64" else "gaussian"),
        obs_std=obs_std, hidden=tuple(hidden) if architecture == "mlp" else (),
        hyper={**spec.defaults, **hyper})
    return build_vae(config, seed=seed)


def build_vae(config: VAEConfig, *, seed: int = 0) -> VAE:
    """Build the freshly initialised model described by ``config`` (weights seeded by ``seed``)."""
    spec = get_variant(config.variant)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        discriminator = spec.adversary.build(config.latent_dim, config.hyper) if spec.adversary else None
        return spec.model(config, head=spec.head, discriminator=discriminator)


def objective(model: VAE, x: torch.Tensor, *, generator: torch.Generator | None = None,
              labels: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    """The variant's training loss on batch ``x`` (and its factor ``labels``, for label-supervised models).

    A model in training mode may update non-gradient state here (a VQ-VAE's EMA codebook).

    Returns
    -------
    total : scalar loss to minimise (``recon + sum_t weight_t * term_t``).
    terms : every term's unweighted value, plus the variant's ``reported`` ones (``kl``, ``perplexity``).
    z : the decoder's input: sampled latent codes (input of an adversary's update) or quantised vectors.
    """
    spec = get_variant(model.config.variant)
    inputs = model.loss_inputs(x, generator=generator, **({} if labels is None else {"labels": labels}))
    names = tuple(dict.fromkeys(("recon", *spec.reported, *spec.terms)))
    terms = evaluate_terms(names, inputs)
    total = terms["recon"] + sum(spec.weight(t, model.config.hyper) * terms[t] for t in spec.terms)
    return total, terms, inputs.z


def adam(params: Any, **settings: Any) -> torch.optim.Adam:
    """Adam with its update fused into one kernel where torch supports that on the parameters'
    device (CPU since torch 2.4): the same update, 0.5 instead of 1.5 ms per conv-VAE step here."""
    params = list(params)
    try:
        return torch.optim.Adam(params, fused=True, **settings)
    except RuntimeError:  # older torch: fused=True needs CUDA
        return torch.optim.Adam(params, **settings)


def make_optimizers(model: VAE, *, lr: float) -> dict[str, torch.optim.Optimizer]:
    """Adam for the VAE (``"vae"``) and, for adversarial variants, Adam for the adversary (``"adversary"``)."""
    optimizers = {"vae": adam(model.vae_parameters(), lr=lr)}
    spec = get_variant(model.config.variant)
    if spec.adversary is not None:
        h = model.config.hyper
        optimizers["adversary"] = adam(
            model.discriminator.parameters(), lr=h[spec.adversary.lr],
            betas=(h[spec.adversary.betas[0]], h[spec.adversary.betas[1]]))
    return optimizers


def adversary_loss(model: VAE, z: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Loss of the model's adversary on codes ``z`` (an error for non-adversarial variants)."""
    spec = get_variant(model.config.variant)
    if spec.adversary is None:
        raise ValueError(f"variant {model.config.variant!r} has no adversary")
    return spec.adversary.loss(model.discriminator, z, generator=generator)
