"""Circuits by interchange patching: the measurements behind :mod:`causalvae.causal.circuits`.

For factor pairs ``(x, x′)`` (:func:`causalvae.data.factor_pairs`; swapped where the factor
decreases, so every pair is a directed change) a :class:`Behaviour` reads the target: aligned
latents (encoder circuits) or a read-out of the decoded output (decoder circuits).  Each column
``j`` of the target gets the sign ``s_j`` of its mean change with every unit present; a pair's
directed effect is ``Σ_j s_j (b_j(x′) − b_j(x))`` and the behaviour ``m`` is its mean over pairs.

Everything is measured with the engine's mechanism (:class:`~causalvae.interventions.trace.TracedModel`):
one cached clean pass of ``x`` and of ``x′`` (only the nodes the target needs), then only the nodes
downstream of a changed site are recomputed.

- unit scores: **denoising** ``b(x; u ← u(x′)) − b(x)`` and **noising** ``b(x′) − b(x′; u ← u(x))``
  (directed, mean over pairs; :meth:`PairRunner.patched`); the attribution screen estimates them as
  ``(a_u(x′) − a_u(x)) · ∂b/∂a_u`` at ``x`` and at ``x′`` (:meth:`PairRunner.screen`), a read-out
  entering through its linearisation at the mean decoded image (exact for affine read-outs).
- ``m(S)`` (:meth:`PairRunner.measure`): every unit of the circuit's sites outside ``S`` is replaced
  by its mean over one reference batch — the same values for ``x`` and ``x′`` — and the units in
  ``S`` run as usual.
- edge effects: the mean change of a later unit (spatial mean) when an earlier one alone is patched
  from ``x′`` into ``x``; from the factor node, the unit's mean change across the pair.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import fx, nn

from causalvae.argtypes import check_indices, check_int
from causalvae.interventions.batching import chunks, to_tensor
from causalvae.interventions.engine import _layer_input_change, _linear_path, _with_unit
from causalvae.interventions.forward import analysis_mode
from causalvae.interventions.effect_plumbing import resolve_device
from causalvae.interventions.trace import OUTPUT, trace
from causalvae.inputs import check_batch, check_model, input_shape_of
from causalvae.modelstate import restores_model_state
from causalvae.units import unit_ids


@dataclass(frozen=True)
class Behaviour:
    """What a circuit carries; build with :func:`latent_behaviour` or :func:`readout_behaviour`."""

    site: str
    latents: tuple[int, ...] = ()
    readout: Callable[[np.ndarray], np.ndarray] | None = None
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None

    @property
    def part(self) -> str:
        return "decoder" if self.readout is not None else "encoder"

    def targets(self, factor: str) -> list[str]:
        """Node ids of the target endpoints."""
        return [f"readout.{factor}"] if self.readout is not None else [f"{self.site}[{i}]" for i in self.latents]

    def decoded(self, value: torch.Tensor) -> torch.Tensor:
        return value if self.transform is None else self.transform(value)

    def columns(self, value: torch.Tensor) -> torch.Tensor:
        """(B, columns) float64 latents of the target node's value (a unit with features, as a VQ-VAE's
        position of ``code_dim`` features at ``latent.pre``, gives one column per feature)."""
        return value[:, list(self.latents)].reshape(len(value), -1).double()

    def values(self, value: torch.Tensor) -> np.ndarray:
        """(B, columns) float64 behaviour of the target node's value."""
        if self.readout is None:
            return self.columns(value).cpu().numpy()
        return self.read(self.decoded(value).double().cpu().numpy())

    def read(self, images: np.ndarray) -> np.ndarray:
        """(B, 1) read-out of images."""
        pred = np.asarray(self.readout(images), dtype=np.float64)
        if pred.shape != (len(images),):
            raise ValueError(f"the read-out must map {len(images)} images to shape ({len(images)},), got {pred.shape}")
        return pred[:, None]


def latent_behaviour(latents: Sequence[int], *, site: str = "latent.mu") -> Behaviour:
    """The change of the latents ``latents`` of ``site`` (encoder circuits).

    >>> latent_behaviour([2]).targets("scale")
    ['latent.mu[2]']
    """
    latents = tuple(int(i) for i in latents)
    if not latents or min(latents) < 0:
        raise ValueError(f"latents must be a non-empty list of indices >= 0, got {latents}")
    return Behaviour(site=site, latents=latents)


def readout_behaviour(readout: Callable[[np.ndarray], np.ndarray], *,
                      transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Behaviour:
    """The change of ``readout(transform(output))`` (decoder circuits): ``readout`` maps (N, ...) float64
    images to (N,) predictions of the factor; ``transform`` (torch) maps the model output to images,
    e.g. ``torch.sigmoid`` for Bernoulli logits.

    >>> readout_behaviour(lambda img: img.sum(1)).targets("posX")
    ['readout.posX']
    """
    if not callable(readout):
        raise TypeError(f"readout must be a callable from images to predictions, got {type(readout).__name__}")
    return Behaviour(site=OUTPUT, readout=readout, transform=transform)


def readout_gradient(readout: Callable[[np.ndarray], np.ndarray], image: np.ndarray, *, step: float = 1e-4,
                     block: int = 512) -> np.ndarray:
    """Forward-difference gradient of ``readout`` at one ``image`` (exact for affine read-outs).

    >>> readout_gradient(lambda img: 3 * img[:, 0] - img[:, 1], np.zeros(2)).round(6).tolist()
    [3.0, -1.0]
    """
    image = np.asarray(image, dtype=np.float64)
    base = float(np.asarray(readout(image[None]))[0])
    flat, grad = image.ravel(), np.empty(image.size)
    for start in range(0, image.size, block):
        idx = np.arange(start, min(start + block, image.size))
        probes = np.repeat(flat[None], len(idx), axis=0)
        probes[np.arange(len(idx)), idx] += step
        grad[idx] = (np.asarray(readout(probes.reshape(len(idx), *image.shape)), dtype=np.float64) - base) / step
    return grad.reshape(image.shape)


class PairRunner:
    """Cached clean passes of oriented pairs, and every measurement a circuit search needs.

    Parameters
    ----------
    model : the network (analysed in eval mode).
    pairs : an object with ``x``, ``x_prime`` and ``delta`` (a :class:`causalvae.data.FactorPairs`).
    sites : the circuit's sites (module paths), each upstream of the behaviour's node.
    behaviour : see :class:`Behaviour`.
    reference : inputs whose mean activations replace ablated units, and over which the target's
        natural spread is taken (default: every x and x′).
    extra_sites : further sites to trace (sources of edges, e.g. ``latent.mu`` for decoder circuits).
    """

    @restores_model_state(model_of=lambda self, model=None, *a, **k: model)
    def __init__(self, model: nn.Module, pairs, *, sites: Sequence[str], behaviour: Behaviour, reference=None,
                 extra_sites: Sequence[str] = (), device: torch.device | str | None = None, batch_size: int = 64,
                 units_per_pass: int = 8) -> None:
        shape = input_shape_of(check_model(model))
        x, xp = (np.asarray(check_batch(v, name=f"pairs.{n}", shape=shape)) for n, v in (("x", pairs.x),
                                                                                       ("x_prime", pairs.x_prime)))
        if x.shape != xp.shape:
            raise ValueError(f"pairs.x and pairs.x_prime must have the same shape, got {x.shape} and {xp.shape}")
        flip = np.asarray(pairs.delta).reshape((-1,) + (1,) * (x.ndim - 1)) < 0
        self.x, self.xp = np.where(flip, xp, x), np.where(flip, x, xp)
        if len(self.x) < 2:
            raise ValueError(f"need >= 2 factor pairs, got {len(self.x)}")
        self.model, self.sites, self.behaviour = model, list(sites), behaviour
        self.device = resolve_device(model, device)
        self.per_pass = check_int(units_per_pass, name="units_per_pass", minimum=1)
        wanted = [*self.sites, *extra_sites] + ([] if behaviour.site == OUTPUT else [behaviour.site])
        self.traced = trace(model, list(dict.fromkeys(wanted)))
        self.node = self.traced.node_of(behaviour.site)
        for site in self.sites:
            if self.node not in self.traced.downstream(site, (behaviour.site,)):
                raise ValueError(f"site {site!r} does not feed the behaviour at {behaviour.site!r}; circuit sites must "
                                 f"lie upstream of it")
        site_nodes = {s: self.traced.site_nodes[s] for s in dict.fromkeys(wanted) if s != OUTPUT}
        needed = self.traced.ancestors([self.node, *site_nodes.values()]) - {self.traced.input_node}
        self.forward_nodes = sorted(needed, key=self.traced.position.__getitem__)
        self.rows = list(chunks(len(self.x), batch_size))
        self.envs = [(self._run(to_tensor(self.x, rows, self.device)), self._run(to_tensor(self.xp, rows, self.device)))
                     for rows in self.rows]
        self.n_units = {s: int(self.envs[0][0][self.traced.site_nodes[s]].shape[1]) for s in self.sites}
        self.units_by_site = {s: unit_ids(s, n) for s, n in self.n_units.items()}
        self.where = {u: (s, i) for s, ids in self.units_by_site.items() for i, u in enumerate(ids)}
        self.clean = [tuple(behaviour.values(env[self.node]) for env in envs) for envs in self.envs]  # per chunk
        b_x, b_xp = (np.concatenate([values[i] for values in self.clean]) for i in (0, 1))
        self.signs = np.where((b_xp - b_x).mean(0) < 0, -1.0, 1.0)
        self.effects = (b_xp - b_x) @ self.signs  # per-pair directed effect, every unit present
        self._reference(np.concatenate([self.x, self.xp]) if reference is None else reference, batch_size)
        nodes = {n for s in self.sites for n in (self.traced.site_nodes[s], *self.traced.downstream(s, (behaviour.site,)))}
        self.ablation_nodes = sorted(nodes, key=self.traced.position.__getitem__)
        self.site_of = {self.traced.site_nodes[s]: s for s in self.sites}

    def _run(self, xb: torch.Tensor, *, grad: bool = False) -> dict:
        with analysis_mode(self.model), torch.set_grad_enabled(grad):
            return self.traced.replay({}, {self.traced.input_node: xb}, self.forward_nodes)

    def _reference(self, reference, batch_size: int) -> None:
        """Mean activation maps of the sites (float64 sums, as ``prepare_alternative``) and the target's spread."""
        sums, values = {s: 0.0 for s in self.sites}, []
        for rows in chunks(len(reference), batch_size):
            xb = to_tensor(reference, rows, self.device)
            env = self._run(xb)
            for s in self.sites:
                sums[s] = sums[s] + env[self.traced.site_nodes[s]].double().sum(0)
            values.append(self.behaviour.read(xb.double().cpu().numpy()) if self.behaviour.readout is not None
                          else self.behaviour.values(env[self.node]))
        self.ref = {s: (v / len(reference)).float() for s, v in sums.items()}
        self.spread = float((np.concatenate(values) @ self.signs).std(ddof=1)) if len(reference) > 1 else 0.0

    @property
    def n_pairs(self) -> int:
        return len(self.x)

    @restores_model_state(model_of=lambda self, *a, **k: self.model)
    def measure(self, sets: Sequence[frozenset[str]]) -> np.ndarray:
        """``m(S)`` for every set ``S`` of unit ids (module docstring), stacked along the batch axis."""
        out = np.zeros(len(sets))
        for start in range(0, len(sets), self.per_pass):
            group = list(sets[start:start + self.per_pass])
            masks = {s: torch.zeros(len(group), n, dtype=torch.bool, device=self.device) for s, n in self.n_units.items()}
            for g, keep in enumerate(group):
                for uid in keep:
                    site, index = self.where[uid]
                    masks[site][g, index] = True
            for env_x, env_xp in self.envs:
                both = torch.cat([self._ablated(env, masks, len(group)) for env in (env_x, env_xp)])
                b_x, b_xp = self.behaviour.values(both).reshape(2, len(group), -1, self.signs.size)  # one read-out call
                out[start:start + len(group)] += ((b_xp - b_x) @ self.signs).sum(1)
        return out / self.n_pairs

    def _ablated(self, env, masks, g: int) -> torch.Tensor:
        local: dict = {}
        with analysis_mode(self.model), torch.no_grad():
            for node in self.ablation_nodes:
                local = self.traced.replay(env, local, [node], repeat=g)
                site = self.site_of.get(node)
                if site is not None:
                    a = local[node]
                    a = a.reshape(g, -1, *a.shape[1:])
                    keep = masks[site].reshape(g, 1, -1, *([1] * (a.dim() - 3)))
                    local[node] = torch.where(keep, a, self.ref[site].to(a.dtype)).reshape(-1, *a.shape[2:])
            return local[self.node]

    @restores_model_state(model_of=lambda self, *a, **k: self.model)
    def patched(self, site: str, units: Sequence[int], *, read: str | None = None, read_units: Sequence[int] = (),
                noising: bool = False) -> np.ndarray:
        """Mean change when each unit of ``site`` alone is patched, shape (len(units), columns): of the
        behaviour columns (``read=None``) or of the spatial means of ``read_units`` of the site ``read``;
        denoising (x′ into x) or noising (x into x′, reported as clean minus patched).  As in the engine,
        a site feeding one conv / linear layer enters it as a one-channel change of that layer's output."""
        node = self.traced.site_nodes[site]
        units = check_indices(units, name="units", size=int(self.envs[0][0][node].shape[1]), min_size=0)
        target = self.node if read is None else self.traced.site_nodes[read]
        path = self.traced.downstream(site, (self.behaviour.site if read is None else read,))
        linear = _linear_path(self.traced, site)
        if linear is None or linear.layer not in path or target in (node, *linear.chain) or (
                isinstance(self.traced.modules[linear.layer.target], nn.Linear) and self.envs[0][0][node].dim() != 2):
            linear = None
        n_cols = self.signs.size if read is None else len(read_units)
        total = np.zeros((len(units), n_cols))
        if target is not node and target not in path:  # the read site does not depend on this one
            return total
        for (env_x, env_xp), clean in zip(self.envs, self.clean):
            env, src = (env_xp, env_x) if noising else (env_x, env_xp)
            a, alt = env[node], src[node]
            old = clean[1 if noising else 0] if read is None else self._read(env[target], read, read_units)
            live = [i for i, u in enumerate(units) if not torch.equal(a[:, u], alt[:, u])]  # others: no-ops
            for start in range(0, len(live), self.per_pass):
                group = live[start:start + self.per_pass]
                with analysis_mode(self.model), torch.no_grad():
                    if linear is None:
                        overrides, nodes = {node: torch.cat([_with_unit(a, alt, units[i]) for i in group])}, path
                    else:
                        overrides = {linear.layer: torch.cat([_layer_input_change(self.traced, linear, env, a, alt,
                                                                                  units[i]) for i in group])}
                        nodes = path[path.index(linear.layer) + 1:]
                    value = self.traced.replay(env, overrides, nodes, repeat=len(group))[target]
                change = self._read(value, read, read_units).reshape(len(group), len(a), n_cols) - old[None]
                total[group] += (-change if noising else change).sum(1)
        return total / self.n_pairs

    def _read(self, value: torch.Tensor, read: str | None, read_units: Sequence[int]) -> np.ndarray:
        if read is None:
            return self.behaviour.values(value)
        v = value[:, list(read_units)].double()
        return v.reshape(v.shape[0], v.shape[1], -1).mean(2).cpu().numpy()

    @restores_model_state(model_of=lambda self, *a, **k: self.model)
    def attributed(self, site: str, units: Sequence[int], *, read: str, read_units: Sequence[int]) -> np.ndarray:
        """Attribution-patching estimate, shape (len(units), len(read_units)), of the mean change of each
        ``read_units`` spatial mean of site ``read`` when a unit of ``site`` alone is patched from x′ into
        x: ``(a_u(x′) − a_u(x)) · ∂ā_v/∂a_u`` at x (exact where the path is linear; zero without a path)."""
        node, target = self.traced.site_nodes[site], self.traced.site_nodes[read]
        path = self.traced.downstream(site, (read,))
        total = np.zeros((len(units), len(read_units)))
        if target not in path:  # the read site does not depend on this one (e.g. an SCM mechanism run earlier)
            return total
        for env_x, env_xp in self.envs:
            a = env_x[node].detach().requires_grad_(True)
            with analysis_mode(self.model), torch.enable_grad():
                out = self.traced.replay(env_x, {node: a}, path)[target][:, list(read_units)]
                means = out.reshape(out.shape[0], out.shape[1], -1).mean(2).sum(0)
                eye = torch.eye(len(read_units), dtype=means.dtype, device=means.device)
                jac = torch.autograd.grad(means, a, grad_outputs=eye, is_grads_batched=True)[0]  # (V, N, C, ...)
            delta = (env_xp[node] - env_x[node])[None]
            prod = (jac * delta)[:, :, list(units)].double()
            total += prod.reshape(*prod.shape[:3], -1).sum((1, 3)).T.cpu().numpy()
        return total / self.n_pairs

    def pair_change(self, site: str, units: Sequence[int]) -> np.ndarray:
        """Mean change of the units' spatial means across the pairs, (len(units),)."""
        node = self.traced.site_nodes[site]
        total = sum((self._read(e_xp[node], site, units) - self._read(e_x[node], site, units)).sum(0)
                    for e_x, e_xp in self.envs)
        return total / self.n_pairs

    @restores_model_state(model_of=lambda self, *a, **k: self.model)
    def screen(self) -> tuple[np.ndarray, np.ndarray]:
        """Attribution estimates of every unit's directed denoising and noising scores (site order)."""
        weights = torch.as_tensor(self.signs, device=self.device)
        if self.behaviour.readout is not None:
            images = torch.cat([self.behaviour.decoded(env[i][self.node]).double() for env in self.envs for i in (0, 1)])
            grad = readout_gradient(self.behaviour.readout, images.mean(0).cpu().numpy()) * self.signs[0]
            weights = torch.as_tensor(grad, device=self.device)
        nodes = [self.traced.site_nodes[s] for s in self.sites]
        sums = [np.zeros(sum(self.n_units.values())) for _ in range(2)]
        for rows, (env_x, env_xp) in zip(self.rows, self.envs):
            diffs = [env_xp[n] - env_x[n] for n in nodes]
            for k, inputs in enumerate((self.x, self.xp)):
                with torch.enable_grad():
                    env = self._run(to_tensor(inputs, rows, self.device).requires_grad_(True), grad=True)
                    grads = torch.autograd.grad(self._scalar(env[self.node], weights).sum(), [env[n] for n in nodes],
                                                allow_unused=True)
                sums[k] += torch.cat([torch.zeros(d.shape[1], dtype=torch.float64) if g is None
                                      else (d * g).double().reshape(d.shape[0], d.shape[1], -1).sum((0, 2))
                                      for d, g in zip(diffs, grads)]).cpu().numpy()
        return sums[0] / self.n_pairs, sums[1] / self.n_pairs

    def _scalar(self, value: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        if self.behaviour.readout is None:
            return (self.behaviour.columns(value) * weights).sum(1)
        return (self.behaviour.decoded(value).double() * weights).flatten(1).sum(1)
