"""Interchange interventions on a VAE's generative path and DAS (the torch half of causal abstraction).

A factor's aligned representation is a :class:`Block`: a site (``"latent.mu"``, or a module under
``decoder.``) and an orthonormal basis ``B`` (d × m) of a subspace of the site's flattened
activation: latent coordinates or a unit set (identity columns), a DAS subspace (rows of a learned
orthogonal ``Q``) or a random subspace.  Swapping it from a source into a base runs the base with

    h' = h + B Bᵀ (h_source - h)

at the block's site, i.e. pyvene's ``RotatedSpaceIntervention`` ``Qᵀ[(Qh_b)_{¬k} ⊕ (Qh_s)_k]``
(Geiger et al., 2023) written with the block's rows of ``Q``; clamping a block replaces its
subspace by the base's clean value the same way.  The decoded output (the likelihood's mean:
sigmoid of the logits for Bernoulli models) goes through a :class:`Readout` (factor predictions).

:func:`train_das` learns ``Q`` (``torch.nn.utils.parametrizations.orthogonal``; one block of rows
per factor) with Adam on the graded loss ``Σ_j (R_j(out) - v*_j)² / Var(V_j)`` over usable
read-outs, on training pairs.  Models need ``encode(x) -> (mu, ...)`` and ``decode(z)``.

A VQ-VAE's ``encode`` gives the quantised vectors (N × L × D) first: its latent units are the L
positions, each ``D`` coordinates wide (:attr:`Interchanger.unit_width`).  A block of whole positions
swaps codebook vectors, i.e. the code indices (an exact code swap); anything finer or rotated would
feed the decoder vectors that are not in the codebook, so code alignments use whole-position blocks
(:func:`coordinate_block` and :func:`random_blocks` with ``width = D``) and no DAS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from causalvae.argtypes import check_float, check_indices, check_int
from causalvae.causal.readouts import POOLED_EPS
from causalvae.interventions.forward import analysis_mode, model_dtype
from causalvae.interventions.hooks import intervene
from causalvae.interventions.spec import model_spec
from causalvae.interventions.ops import UnitOp
from causalvae.interventions.targets import Readout
from causalvae.inputs import check_batch, check_model, input_shape_of, model_device
from causalvae.modelstate import restores_model_state

LATENT = "latent.mu"
KINDS = ("coordinates", "das", "random")


@dataclass(frozen=True)
class Block:
    """An aligned representation: ``basis`` (d × m, orthonormal columns) of ``site``'s flattened activation."""

    site: str
    basis: np.ndarray
    kind: str = "coordinates"

    def __post_init__(self) -> None:
        basis = np.asarray(self.basis, dtype=np.float64)
        object.__setattr__(self, "basis", basis)
        if not self.site.startswith(("latent.", "decoder.")):
            raise ValueError(f"block site must be the latent (as {LATENT!r}) or a module under 'decoder.', "
                             f"got {self.site!r}")
        if self.kind not in KINDS:
            raise ValueError(f"block kind must be one of {KINDS}, got {self.kind!r}")
        if basis.ndim != 2 or not 0 < basis.shape[1] <= basis.shape[0]:
            raise ValueError(f"basis must be (d, m) with 0 < m <= d, got shape {basis.shape}")
        if not np.allclose(basis.T @ basis, np.eye(basis.shape[1]), atol=1e-5):
            raise ValueError(f"basis columns of the block at {self.site!r} must be orthonormal")


def coordinate_block(site: str, units: Sequence[int], *, dim: int, width: int = 1) -> Block:
    """The block of ``units`` (coordinates of μ, neurons / flattened positions of a decoder site, or
    whole positions of a VQ-VAE's quantised vectors, each ``width`` coordinates of the ``dim``).

    >>> coordinate_block(LATENT, [2], dim=4).basis[:, 0].tolist()
    [0.0, 0.0, 1.0, 0.0]
    >>> coordinate_block(LATENT, [1], dim=4, width=2).basis.T.tolist()  # position 1 of two 2-wide ones
    [[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    """
    width = check_int(width, name="width", minimum=1)
    if dim % width:
        raise ValueError(f"dim must be a multiple of width (whole units), got dim {dim} and width {width}")
    units = check_indices(units, name="units", size=dim // width)
    if len(set(units)) != len(units):
        raise ValueError(f"units must be distinct indices in [0, {dim // width}), got {units}")
    columns = [u * width + c for u in units for c in range(width)]
    return Block(site, np.eye(dim)[:, columns], "coordinates")


def random_blocks(site: str, size: int, *, dim: int, n: int, seed: int = 0,
                  avoid: np.ndarray | None = None, width: int = 1) -> list[Block]:
    """``n`` uniformly random (Haar) ``size``-dimensional subspaces of a ``dim``-dimensional site, drawn in
    the orthogonal complement of the columns of ``avoid`` (d × r) when given.  With ``width > 1`` (a
    VQ-VAE's positions) the blocks are ``size / width`` whole positions drawn uniformly among those
    ``avoid`` does not touch: a random code swap, the only swap that stays in the codebook.

    >>> b = random_blocks(LATENT, 1, dim=3, n=1, avoid=np.eye(3)[:, :2])[0]
    >>> np.abs(b.basis[:, 0]).round(6).tolist()
    [0.0, 0.0, 1.0]
    >>> random_blocks(LATENT, 2, dim=6, n=1, avoid=np.eye(6)[:, :4], width=2)[0].basis.T.tolist()[0]
    [0.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    """
    rng = np.random.default_rng(seed)
    if check_int(width, name="width", minimum=1) > 1:
        return _random_positions(site, size, dim=dim, n=n, rng=rng, avoid=avoid, width=width)
    project = np.eye(dim)
    if avoid is not None:
        q, _ = np.linalg.qr(np.asarray(avoid, dtype=np.float64))
        project -= q @ q.T
        if dim - q.shape[1] < size:
            raise ValueError(f"the complement of {q.shape[1]} avoided directions in {dim} has no room for {size}")
    out = []
    for _ in range(n):
        q, r = np.linalg.qr(project @ rng.standard_normal((dim, size)))
        out.append(Block(site, q * np.sign(np.diag(r)), "random"))
    return out


def _random_positions(site: str, size: int, *, dim: int, n: int, rng: np.random.Generator,
                      avoid: np.ndarray | None, width: int) -> list[Block]:
    if size % width or dim % width:
        raise ValueError(f"size and dim must be multiples of width (whole positions), got size {size}, dim {dim}, "
                         f"width {width}")
    touched = np.zeros(dim // width, dtype=bool) if avoid is None else \
        (np.abs(np.asarray(avoid, dtype=np.float64)).sum(1).reshape(-1, width) > 0).any(1)
    free = np.flatnonzero(~touched)
    if len(free) < size // width:
        raise ValueError(f"{len(free)} positions are free of the avoided directions; {size // width} are needed")
    return [replace(coordinate_block(site, rng.choice(free, size // width, replace=False).tolist(), dim=dim,
                                     width=width), kind="random") for _ in range(n)]


@dataclass(frozen=True)
class SubspaceOp(UnitOp):
    """Apply ``(target, basis)`` edits in turn: ``h <- h + (target - h) B Bᵀ`` (whole-activation
    replacement when ``basis`` is None), per input on the flattened activation."""

    kind: str = "subspace"
    units: tuple[int, ...] | None = None
    edits: tuple = field(default=())

    def alternative(self, a: torch.Tensor) -> torch.Tensor:
        h = a.flatten(1)
        for target, basis in self.edits:
            t = target.reshape(h.shape).to(h.dtype)
            h = t if basis is None else h + ((t - h) @ basis) @ basis.T
        return h.reshape(a.shape)


@dataclass(frozen=True)
class _Record(UnitOp):
    """Record the site's output into ``store`` and leave it unchanged."""

    kind: str = "record"
    units: tuple[int, ...] | None = None
    store: dict = field(default_factory=dict)

    def alternative(self, a: torch.Tensor) -> torch.Tensor:
        self.store["value"] = a.detach().flatten(1)
        return a


def decoded_observation(model: nn.Module, output: torch.Tensor) -> torch.Tensor:
    """The likelihood's mean: ``sigmoid(logits)`` for models with ``config.likelihood == "bernoulli"``."""
    likelihood = getattr(getattr(model, "config", None), "likelihood", None)
    return torch.sigmoid(output) if likelihood == "bernoulli" else output


def torch_readout(params: object, names: Sequence[str]) -> Readout:
    """The read-outs of :meth:`causalvae.causal.FactorReadouts.parameters` as a differentiable :class:`Readout`."""
    components, center, mean, scale = (torch.as_tensor(a, dtype=torch.float32) for a in (
        params.pca_components, params.pca_mean, params.feature_mean, params.feature_scale))
    heads = [(kind, torch.as_tensor(w, dtype=torch.float32), torch.as_tensor(b, dtype=torch.float32),
              None if c is None else torch.as_tensor(c, dtype=torch.float32)) for kind, w, b, c in params.heads]

    def fn(x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1).to(torch.float32)
        f = (flat - center) @ components.T
        if params.pooled:
            total, peak = flat.sum(dim=1), flat.amax(dim=1)
            stats = [total, peak, torch.log(total.clamp(min=0) + POOLED_EPS), torch.log(peak.clamp(min=0) + POOLED_EPS)]
            f = torch.cat([f, torch.stack(stats, dim=1)], dim=1)
        f = (f - mean) / scale
        cols = []
        for kind, w, b, classes in heads:
            if kind == "continuous":
                cols.append(f @ w + b)
                continue
            logits = f @ w.T + b
            if logits.shape[1] == 1:
                logits = torch.cat([torch.zeros_like(logits), logits], dim=1)
            cols.append(torch.softmax(logits, dim=1) @ classes)
        return torch.stack(cols, dim=1)

    return Readout(fn, tuple(names))


class Interchanger:
    """Base and source inputs, their clean activations at ``sites``, and interchanges on them.

    Parameters
    ----------
    model : a module with ``encode`` and ``decode`` (analysed in eval mode, ``z = mu``).
    base, source : paired inputs (N, ...).
    sites : sites blocks may live at (``"latent.mu"`` and decoder module paths).
    readout : maps decoded observations to (N, K) factor predictions.

    Examples
    --------
    >>> class Copy(nn.Module):  # z = x, output = z
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.decoder = nn.Identity()
    ...     def encode(self, x):
    ...         return x, x
    ...     def decode(self, z):
    ...         return self.decoder(z)
    >>> ic = Interchanger(Copy(), np.zeros((2, 3)), np.ones((2, 3)), sites=[], readout=lambda x: x)
    >>> ic.run(coordinate_block(LATENT, [1], dim=3)).tolist()
    [[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]]
    """

    @restores_model_state(model_of=lambda self, model=None, *a, **k: model)
    def __init__(self, model: nn.Module, base: np.ndarray, source: np.ndarray, *, sites: Sequence[str],
                 readout: Callable[[torch.Tensor], torch.Tensor], device: str | torch.device | None = None,
                 batch_size: int = 256) -> None:
        shape = input_shape_of(check_model(model))
        base, source = check_batch(base, name="base", shape=shape), check_batch(source, name="source", shape=shape)
        if np.shape(base) != np.shape(source):
            raise ValueError(f"base and source must be paired (same shape), got {np.shape(base)} and "
                             f"{np.shape(source)}")
        self.model, self.readout = model, readout
        self.device, self.batch_size = model_device(model, device), check_int(batch_size, name="batch_size", minimum=1)
        self.latent = model_spec(model).latent_site or LATENT  # the decoder's input: μ, or a VQ-VAE's codes
        self.sites = tuple(dict.fromkeys([self.latent, *sites]))
        self.base_dtype = model_dtype(model)
        self.base, self.source = self._activations(base), self._activations(source)
        self.n = len(base)
        with torch.no_grad():
            self.base_readout = np.concatenate([self.decode_readout(self.base[self.latent][i], {}).numpy()
                                                for i in self._chunks()])

    def dim(self, site: str) -> int:
        """Flattened size of one input's activation at ``site``."""
        return int(self.base[site].shape[1])

    def unit_width(self, site: str) -> int:
        """Coordinates per unit of ``site``: a VQ-VAE's code dimension at the latent, else 1."""
        return self.latent_width if site == self.latent else 1

    def _chunks(self) -> list[torch.Tensor]:
        return list(torch.arange(self.n).split(self.batch_size))

    @restores_model_state(model_of=lambda self, *a, **k: self.model)
    def _activations(self, x: np.ndarray) -> dict[str, torch.Tensor]:
        x = torch.as_tensor(np.asarray(x, dtype=np.float32), device=self.device).to(self.base_dtype)
        stores = {s: {} for s in self.sites if s != self.latent}
        parts: dict[str, list[torch.Tensor]] = {s: [] for s in self.sites}
        with analysis_mode(self.model), torch.no_grad(), \
                intervene(self.model, {s: _Record(store=stores[s]) for s in stores}):
            for chunk in x.split(self.batch_size):
                mu = self.model.encode(chunk)[0]
                self.latent_width = int(np.prod(mu.shape[2:], dtype=np.int64))  # 1 unless (N, L, D) codes
                parts[self.latent].append(mu.flatten(1))
                self.model.decode(mu)
                for s, store in stores.items():
                    if "value" not in store:
                        raise ValueError(f"site {s!r} did not run in model.decode; sites must lie on the decoder path")
                    parts[s].append(store.pop("value"))
        return {s: torch.cat(p) for s, p in parts.items()}

    @restores_model_state(model_of=lambda self, *a, **k: self.model)
    def decode_readout(self, z: torch.Tensor, ops: Mapping[str, UnitOp]) -> torch.Tensor:
        """Read-outs (float64) of ``decode(z)`` with ``ops`` at decoder sites (differentiable)."""
        with analysis_mode(self.model), intervene(self.model, ops):
            return self.readout(decoded_observation(self.model, self.model.decode(z))).to(torch.float64)

    def _basis(self, block: Block) -> torch.Tensor:
        if block.site not in self.sites:
            raise KeyError(f"block site {block.site!r} is not one of the prepared sites {list(self.sites)}")
        if block.basis.shape[0] != self.dim(block.site):
            raise ValueError(f"block basis has {block.basis.shape[0]} rows; site {block.site!r} has "
                             f"{self.dim(block.site)} dimensions")
        return torch.as_tensor(block.basis, dtype=self.base[self.latent].dtype, device=self.device)

    @restores_model_state(model_of=lambda self, *a, **k: self.model)
    def run(self, swap: Block | None, *, clamp: Sequence[Block] = ()) -> np.ndarray:
        """(N, K) read-outs of the base with ``swap``'s subspace taken from the source and the ``clamp``
        blocks held at the base's clean values (applied in that order where they share a site)."""
        edits = ([(swap, self.source)] if swap is not None else []) + [(b, self.base) for b in clamp]
        bases = [(block, acts, self._basis(block)) for block, acts in edits]
        out = []
        with torch.no_grad():
            for rows in self._chunks():
                z = self.base[self.latent][rows]
                per_site: dict[str, list] = {}
                for block, acts, basis in bases:
                    if block.site == self.latent:
                        z = z + ((acts[self.latent][rows] - z) @ basis) @ basis.T
                    else:
                        per_site.setdefault(block.site, []).append((acts[block.site][rows], basis))
                ops = {s: SubspaceOp(edits=tuple(e)) for s, e in per_site.items()}
                out.append(self.decode_readout(z, ops).numpy())
        return np.concatenate(out)


@restores_model_state(grad=True, model_of=lambda ic, *a, **k: ic.model)
def train_das(ic: Interchanger, *, site: str, sizes: Mapping[str, int], targets: Mapping[str, np.ndarray],
              variance: np.ndarray, usable: np.ndarray | None = None, steps: int = 200, lr: float = 0.01,
              batch_size: int = 64, seed: int = 0) -> dict[str, Block]:
    """Learn one orthogonal subspace per factor at ``site`` (DAS), jointly, on ``ic``'s pairs.

    Parameters
    ----------
    sizes : ``{factor: m_k}``; the blocks are disjoint row blocks of one orthogonal ``Q`` (Σ m_k <= d).
    targets : ``{factor: (N, K)}`` counterfactual factor values ``v*`` of the hypothesis trained for.
    variance, usable : per read-out Var(V_j) and whether the loss may use it.
    steps, lr, batch_size, seed : Adam steps, learning rate, pairs per step (each with a random
        factor of ``sizes``), seed of the initial ``Q`` and the batches.

    Examples
    --------
    A renderer whose output is ``z`` rotated by 30°: DAS finds each factor's direction.

    >>> c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    >>> rot = torch.tensor([[c, -s], [s, c]], dtype=torch.float32)
    >>> class Rotated(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.decoder = nn.Identity()
    ...     def encode(self, x):
    ...         return x @ rot, x
    ...     def decode(self, z):
    ...         return self.decoder(z) @ rot.T
    >>> rng = np.random.default_rng(0)
    >>> base, source = rng.normal(size=(128, 2)), rng.normal(size=(128, 2))
    >>> ic = Interchanger(Rotated(), base, source, sites=[], readout=lambda x: x)
    >>> goal = {k: np.where(np.arange(2) == j, source, base) for j, k in enumerate("ab")}
    >>> das = train_das(ic, site=LATENT, sizes={"a": 1, "b": 1}, targets=goal, variance=np.ones(2), steps=150,
    ...                 lr=0.05)
    >>> float(np.abs(das["a"].basis[:, 0] @ rot.numpy()[0]).round(3))  # v_a = (rot z)_0: row 0 of rot
    1.0
    """
    from torch.nn.utils.parametrizations import orthogonal

    steps, batch_size = check_int(steps, name="steps", minimum=1), check_int(batch_size, name="batch_size", minimum=1)
    lr = check_float(lr, name="lr", minimum=0, include_min=False)
    d, names = ic.dim(site), list(sizes)
    total = int(sum(sizes.values()))
    if not names or min(sizes.values()) < 1 or total > d:
        raise ValueError(f"block sizes must be >= 1 with a sum <= {d} (the dimension of {site!r}), got {dict(sizes)}")
    k = len(ic.base_readout[0])
    use = np.ones(k, dtype=bool) if usable is None else np.asarray(usable, dtype=bool)
    weight = torch.as_tensor(np.where(use, 1.0 / np.asarray(variance, dtype=np.float64), 0.0))
    goal = torch.as_tensor(np.stack([np.asarray(targets[f], dtype=np.float64) for f in names]))
    edges = np.cumsum([0, *sizes.values()])
    mask = torch.zeros(len(names), total, dtype=ic.base[site].dtype)
    for i in range(len(names)):
        mask[i, edges[i]:edges[i + 1]] = 1.0
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        q = orthogonal(nn.Linear(d, total, bias=False), orthogonal_map="householder")
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(q.parameters(), lr=lr)
    frozen = [(p, p.requires_grad) for p in ic.model.parameters()]
    try:
        for p, _ in frozen:
            p.requires_grad_(False)
        for _ in range(steps):
            rows = torch.as_tensor(rng.integers(ic.n, size=batch_size))
            which = torch.as_tensor(rng.integers(len(names), size=batch_size))
            w = q.weight
            hb, hs = ic.base[site][rows], ic.source[site][rows]
            h = hb + (((hs - hb) @ w.T) * mask[which]) @ w
            z = h if site == ic.latent else ic.base[ic.latent][rows]
            ops = {} if site == ic.latent else {site: SubspaceOp(edits=((h, None),))}
            loss = (((ic.decode_readout(z, ops) - goal[which, rows]) ** 2) * weight).sum(dim=1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        for p, flag in frozen:
            p.requires_grad_(flag)
    basis = q.weight.detach().double().cpu().numpy().T
    return {f: Block(site, basis[:, edges[i]:edges[i + 1]], "das") for i, f in enumerate(names)}
