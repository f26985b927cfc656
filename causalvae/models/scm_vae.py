"""SCM-layer VAE (variant ``scm-vae``), after CausalVAE (Yang et al. 2021): the DAG lives in the model.

The encoder's posterior is over exogenous noises ``ε`` (``latent.mu``; the first ``n_concepts``
coordinates are the causal concepts, the rest free latents).  The decoder starts with an
:class:`~causalvae.models.scm_layer.SCMLayer` (``decoder.scm``, mechanisms ``decoder.scm.m<j>``) that
turns ``ε`` into endogenous concepts ``z`` by learned structural equations, then renders ``z``.

Training needs the dataset's factor labels ``u`` (standardised with the training set's mean and
standard deviation, stored as buffers), one concept per factor in the dataset's order:

- ``label``: ``Σ_j (z_j - u_j)²`` (concepts supervised to the labels; CausalVAE's conditional prior);
- ``mechanism``: ``½ Σ_j log mean_batch (u_j - g_j(A[:, j] ∘ u))²``, the Gaussian negative
  log-likelihood of the structural equations on the labels with each concept's noise variance profiled
  out (GOLEM-NV, Ng et al. 2020).  Least squares assumes equal noise variances, which standardised
  labels do not have; on Pendulum's labels it made shadow_position a root, because that
  near-deterministic effect explains most of its causes' variance;
- ``dag``: the augmented Lagrangian ``α h(A) + ρ/2 h(A)²`` of NOTEARS' ``h(A) = tr(e^{A∘A}) - d``;
  every ``dual_every`` training steps ``α += ρ h`` and, if ``h`` fell by less than a factor 4 since the
  previous update, ``ρ *= rho_mult`` (up to ``rho_max``); ``α``, ``ρ`` live in buffers, so a
  checkpoint resumes them.  As in NOTEARS, the ascent ends when ``h <= h_tol`` or ``ρ`` has reached
  ``rho_max``: ``A`` is then pruned to its DAG (:meth:`~causalvae.models.scm_layer.SCMLayer.prune`)
  and training goes on with that graph fixed (``h = 0`` from then on).  Without the stop, ``α`` grows
  for as long as minibatch noise keeps ``h`` above zero, and it shrank every edge of causal-sprites'
  labels below the threshold by 10,000 steps;
- ``sparsity``: ``Σ|A|`` (each mechanism is 1-Lipschitz in its inputs before ``A`` scales them, so
  ``|A|`` is an edge's strength).

A's candidate edges can be narrowed before training with :meth:`SCMVAE.restrict_support`, e.g. to the
skeleton PC finds on the labels (:func:`causalvae.causal.discovery.skeleton`), as hybrid structure
learners do (CAM's preliminary neighbourhood selection, MMHC); ``causalvae run`` and the examples do
this.  The augmented Lagrangian then orients and prunes the candidates.

The reconstruction's gradient does not reach ``A`` or the mechanisms (they are fitted on the labels
alone; the image path uses them as they are), and ``A`` starts at zero — no prior on the causal
order, unlike the original code, which starts near the true graph.  The SCM parameters train with
their own learning rate ``scm_lr``.  After training, :meth:`SCMVAE.learned_dag` exports ``A``
thresholded at :data:`~causalvae.models.scm_layer.EDGE_THRESHOLD`.

>>> from causalvae.models.variants import make_vae
>>> model = make_vae("scm-vae", input_shape=(6,), latent_dim=4, hidden=(16,), n_concepts=3)
>>> model.decoder.scm.weights.abs().sum().item(), [s.name for s in model.sites][1:5]
(0.0, ['latent.mu', 'latent.logvar', 'latent.z', 'decoder.scm.m0'])
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import networkx as nx
import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from causalvae.models.architectures import SiteInfo
from causalvae.models.losses import LossInputs
from causalvae.models.scm_layer import EDGE_THRESHOLD, SCMLayer, dag_penalty, learned_dag
from causalvae.models.vae import VAE, GaussianHead, VAEConfig

#: Floor of a concept's residual variance in the ``mechanism`` term (standardised units: a residual sd
#: of 1e-3), so that an exactly determined concept cannot drive the log-likelihood to -inf.
MIN_RESIDUAL_VARIANCE = 1e-6

#: The terms of :meth:`SCMVAE.structure_terms` that are weighted into the loss (``dag_h`` is only reported).
STRUCTURE_TERMS = ("mechanism", "dag", "sparsity")

SCM_DEFAULTS = {"n_concepts": 0.0, "beta": 1.0, "gamma": 100.0, "lambda_l1": 0.01, "mech_hidden": 16.0,
                "scm_lr": 1e-2, "rho_init": 1.0, "rho_mult": 2.0, "rho_max": 1e4, "h_tol": 1e-8,
                "dual_every": 50.0}


class SCMVAE(VAE):
    """A VAE whose decoder begins with a learned SCM over ``n_concepts`` label-supervised concepts."""

    label_supervised = True

    def __init__(self, config: VAEConfig, *, head: type[nn.Module] = GaussianHead,
                 discriminator: nn.Module | None = None) -> None:
        super().__init__(config, head=head, discriminator=discriminator)
        h = config.hyper
        d = int(h["n_concepts"])
        if not 1 <= d <= config.latent_dim:
            raise ValueError(f"scm-vae needs 1 <= n_concepts <= latent_dim={config.latent_dim}, got n_concepts={d}")
        render = self.decoder
        self.decoder = nn.Sequential(OrderedDict([("scm", SCMLayer(d, config.latent_dim,
                                                                   hidden=int(h["mech_hidden"]))),
                                                  *render.named_children()]))
        i = next(n for n, s in enumerate(self.sites) if s.stage == "decoder")
        scm_sites = [SiteInfo(name, "decoder", "neuron", config.latent_dim, False) for name in self.mechanism_sites]
        self.sites = (*self.sites[:i], *scm_sites, *self.sites[i:])
        for name, value in (("label_mean", torch.zeros(d)), ("label_std", torch.ones(d)),
                            ("rho", torch.tensor(float(h["rho_init"]))), ("alpha", torch.tensor(0.0)),
                            ("h_previous", torch.tensor(1e30)), ("dual_step", torch.tensor(0.0))):
            self.register_buffer(name, value)

    @property
    def scm(self) -> SCMLayer:
        return self.decoder.scm

    @property
    def mechanism_sites(self) -> list[str]:
        """The sites ``decoder.scm.m<j>``: each computes concept j's structural equation, so swapping
        concept j there is ``do(z_j = value)`` with the later mechanisms recomputing its descendants."""
        return [f"decoder.scm.m{j}" for j in range(self.scm.n_concepts)]

    def vae_parameters(self) -> list[dict[str, Any]]:
        """Two Adam groups: the network (the optimiser's lr) and the SCM layer (``scm_lr``)."""
        scm = set(map(id, self.scm.parameters()))
        rest = [p for name, p in self.named_parameters() if not name.startswith("discriminator.") and id(p) not in scm]
        return [{"params": rest}, {"params": list(self.scm.parameters()), "lr": self.config.hyper["scm_lr"]}]

    def label_array(self, data: Any) -> np.ndarray:
        """The dataset's factors, standardised; sets the buffers ``label_mean``/``label_std`` from them."""
        factors = getattr(data, "factors", None)
        d = self.scm.n_concepts
        if factors is None or np.ndim(factors) != 2 or np.shape(factors)[1] != d:
            raise ValueError(f"scm-vae needs a dataset with factor labels, N x {d} (n_concepts); "
                             f"got {None if factors is None else np.shape(factors)}")
        u = np.asarray(factors, dtype=np.float64)
        mean, std = u.mean(0), u.std(0)
        if not np.all(np.isfinite(u)) or np.any(std <= 0):
            raise ValueError(f"factor labels must be finite and non-constant, got standard deviations {std.tolist()}")
        self.label_mean.copy_(torch.as_tensor(mean)), self.label_std.copy_(torch.as_tensor(std))
        return ((u - mean) / std).astype(np.float32)

    def restrict_support(self, allowed: Any) -> None:
        """Allow ``A`` edges only where ``allowed`` (n_concepts x n_concepts, nonzero = candidate) is, e.g.
        ``skeleton(model.label_array(data))`` (:func:`causalvae.causal.discovery.skeleton`).  Call it
        before training; a pruned graph is already fixed."""
        if self.scm.pruned:
            raise ValueError("the SCM layer's graph is already pruned and fixed; restrict its support before training")
        self.scm.restrict(torch.as_tensor(np.asarray(allowed, dtype=np.float32)))

    def loss_inputs(self, x: torch.Tensor, *, generator: torch.Generator | None = None,
                    labels: torch.Tensor | None = None) -> LossInputs:
        """The training pass: ``ε`` sampled, ``z = SCM(ε)`` with the SCM's parameters detached, the label,
        mechanism, DAG and sparsity terms, and (in training mode) the augmented Lagrangian's dual update."""
        d = self.scm.n_concepts
        if labels is None or labels.shape != (len(x), d):
            raise ValueError(f"scm-vae needs standardised labels of shape ({len(x)}, {d}), got "
                             f"{None if labels is None else tuple(labels.shape)}")
        if self.training:
            self.dual_update()
        mu, logvar = self.encode(x)
        eps = self.latent.z(self.reparameterize(mu, logvar, generator=generator))
        frozen = {k: v.detach() for k, v in self.scm.state_dict(keep_vars=True).items()}
        z = functional_call(self.scm, frozen, (eps,))
        terms = {"label": (z[:, :d] - labels).pow(2).sum(1).mean(), **self.structure_terms(labels)}
        return LossInputs(x=x, logits=self.decoder[1:](z), likelihood=self.config.likelihood,
                          obs_std=self.config.obs_std, mu=mu, logvar=logvar, z=eps, model_terms=terms)

    def structure_terms(self, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """The terms that train ``A`` and the mechanisms, from standardised ``labels`` alone: ``mechanism``,
        ``dag``, ``dag_h`` (``h(A)``, reported) and ``sparsity``.  No other term reaches the SCM's parameters."""
        a = self.scm.adjacency()
        h = dag_penalty(a)
        residual_variance = (labels - self.scm.predict(labels)).pow(2).mean(0).clamp_min(MIN_RESIDUAL_VARIANCE)
        return {"mechanism": 0.5 * residual_variance.log().sum(),
                "dag": self.alpha * h + 0.5 * self.rho * h * h, "dag_h": h.detach(), "sparsity": a.abs().sum()}

    @torch.no_grad()
    def dual_update(self) -> None:
        """One training step of the augmented Lagrangian's schedule (see the module docstring); it runs
        before the step's forward pass, because pruning changes the layer's mask in place."""
        hyper = self.config.hyper
        self.dual_step += 1
        if int(self.dual_step) % int(hyper["dual_every"]) or self.scm.pruned:
            return
        h = dag_penalty(self.scm.adjacency())
        if h <= hyper["h_tol"] or self.rho >= hyper["rho_max"]:
            self.scm.prune()
            return
        self.alpha += self.rho * h
        if h > 0.25 * self.h_previous:
            self.rho.copy_(torch.clamp(self.rho * hyper["rho_mult"], max=hyper["rho_max"]))
        self.h_previous.copy_(h)

    def concepts(self, x: torch.Tensor) -> torch.Tensor:
        """The concepts ``z = SCM(μ(x))`` in the factors' units (N x n_concepts)."""
        z = self.scm(self.encode(x)[0])[:, : self.scm.n_concepts]
        return z * self.label_std + self.label_mean

    def learned_dag(self, factor_names: Sequence[str], factor_kinds: Sequence[str], *, dataset: str,
                    threshold: float = EDGE_THRESHOLD) -> nx.DiGraph:
        """``A`` as a factor DAG (see :func:`causalvae.models.scm_layer.learned_dag`)."""
        return learned_dag(self.scm, factor_names, factor_kinds, dataset=dataset, threshold=threshold)
