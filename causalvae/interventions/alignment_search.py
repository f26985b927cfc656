"""Alignments chosen per hypothesis and scored on held-out pairs; factor graphs from interchanges.

The torch half of :mod:`causalvae.causal.abstraction`.  For each high-level hypothesis H:

- **coordinates**: per factor, the single coordinate / unit (of the given sites; a whole position of
  a VQ-VAE's quantised vectors, i.e. a code swap) whose swap scores the highest IIA under H on the
  *training* pairs;
- **das**: one orthogonal subspace per factor at one site, trained for H on the training pairs
  (:func:`causalvae.interventions.interchange.train_das`);
- controls, hypothesis-free: **random** (one Haar-random subspace per factor, same size; a random
  position for codes) and
  **no-swap** (the base's own output: the IIA of predicting "nothing changes").

Each alignment is then scored under every hypothesis on held-out pairs
(:func:`causalvae.causal.abstraction.iia_table`); G* is chosen per alignment class from the IIA pooled
over the swaps of factors with a usable read-out.  A swap of a factor without one is unverifiable: no
read-out checks that the factor moved, so under ∅ a block that moves nothing scores 1, and a hypothesis
with fewer edges out of that factor would win for nothing (rows of such factors are still reported).
The hypotheses are over the DAG's *checkable* edges only
(:func:`causalvae.causal.abstraction.checkable_edges`, on the training pairs): ``"dag"`` is the DAG
without the edges no pooled swap can see, and G* ranges over the hypotheses those swaps tell apart
(:func:`causalvae.causal.abstraction.distinguishable`), so an untested edge is never claimed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd
import scipy.linalg

from causalvae.causal import abstraction as ab
from causalvae.causal import factor_graphs as fg
from causalvae.interventions.interchange import Block, Interchanger, coordinate_block, random_blocks, train_das

CLASSES = ("coordinates", "das")
Blocks = dict[str, Block]  # factor -> its aligned representation


@dataclass(frozen=True)
class ReadoutSpec:
    """What scoring needs of the read-outs: names, tolerances τ_j, factor variances and usability."""

    names: tuple[str, ...]
    tolerance: np.ndarray
    variance: np.ndarray
    usable: np.ndarray

    def kwargs(self) -> dict[str, np.ndarray]:
        return {"tolerance": self.tolerance, "variance": self.variance, "usable": self.usable}

    @property
    def verified(self) -> tuple[str, ...]:
        """The factors whose own read-out is usable: the swaps (and blocks) a read-out can check."""
        return tuple(k for k, ok in zip(self.names, self.usable) if ok)


def network_readouts(readouts, base_readout: np.ndarray, base_factors: np.ndarray,
                     factor_values: np.ndarray) -> tuple[ReadoutSpec, pd.DataFrame]:
    """The read-out spec one network is scored with, and its table.

    ``readouts`` is a :class:`causalvae.causal.readouts.FactorReadouts`; ``base_readout`` its predictions
    on the network's reconstructions of bases whose factors are ``base_factors``.  The tolerance of
    read-out j is ``max(τ_j, q95 |R_j(x̂_b) - v_b,j|)``: a swap is held to the standard the network's own
    reconstructions meet.  A read-out is used when its status is ``ok`` and the chance that two draws
    of the factor (rows of ``factor_values``) match within that tolerance is at most
    :data:`~causalvae.causal.abstraction.MAX_MATCH_CHANCE` (a network that renders a factor too
    coarsely cannot be tested on it).
    """
    recon = np.quantile(np.abs(np.asarray(base_readout, dtype=np.float64) - base_factors), 0.95, axis=0)
    tolerance = np.maximum(readouts.tolerance, recon)
    chance = ab.match_chance(factor_values, tolerance)
    usable = readouts.usable & (chance <= ab.MAX_MATCH_CHANCE)
    names = tuple(readouts.scores["factor"])
    table = pd.DataFrame({"factor": names, "status": readouts.scores["status"], "tolerance_readout": readouts.tolerance,
                          "tolerance_reconstruction": recon, "tolerance": tolerance, "sd": readouts.factor_std,
                          "match_chance": chance, "used": usable})
    return ReadoutSpec(names, tolerance, readouts.factor_std ** 2, usable), table


@dataclass(frozen=True)
class AbstractionResult:
    """``table``: IIA rows (``network``-free) with an ``alignment`` column; ``blocks``: alignment class ->
    hypothesis -> factor -> block; ``g_star``: alignment class -> best hypothesis; ``hypotheses``."""

    table: pd.DataFrame
    blocks: dict[str, dict[str, Blocks]]
    g_star: dict[str, str | None]
    hypotheses: tuple[ab.Hypothesis, ...]


def search_alignments(train: Interchanger, test: Interchanger, hl: ab.HighLevelModel, *,
                      train_factors: tuple[np.ndarray, np.ndarray], test_factors: tuple[np.ndarray, np.ndarray],
                      readouts: ReadoutSpec, coordinate_sites: Sequence[str],
                      das_site: str | None = None, das_hypotheses: Sequence[str] | None = None, das_steps: int = 200,
                      das_lr: float = 0.02, das_batch: int = 64, n_boot: int = 1000, slack: float = 0.02,
                      seed: int = 0) -> AbstractionResult:
    """Choose, train and score the alignments of every hypothesis of ``hl`` (module docstring).

    ``train_factors`` / ``test_factors`` are the (base, source) factor rows of the interchangers' pairs;
    ``coordinate_sites`` the sites searched coordinate by coordinate; DAS runs at ``das_site`` (none
    when None) for ``das_hypotheses`` (all when None; G* of DAS then ranges over those only).
    """
    if das_site is not None and train.unit_width(das_site) > 1:
        raise ValueError(f"das_site {das_site!r} holds codes ({train.unit_width(das_site)} coordinates per position): "
                         "a learned rotation would decode vectors outside the codebook; use das_site=None")
    if tuple(readouts.names) != tuple(hl.factor_names):
        raise ValueError(f"read-outs {list(readouts.names)} must be the high-level model's factors "
                         f"{list(hl.factor_names)} in the same order")
    seen_by = {"pooled": readouts.verified, "tolerance": readouts.tolerance, "usable": readouts.usable}
    hl = hl.restricted(ab.checkable_edges(hl, *train_factors, **seen_by))
    hyps = hl.hypotheses()
    goal_train, goal_test = hl.targets(*train_factors), hl.targets(*test_factors)
    names = hl.factor_names
    candidates = [coordinate_block(site, [i], dim=train.dim(site), width=train.unit_width(site))
                  for site in coordinate_sites for i in range(train.dim(site) // train.unit_width(site))]
    on_train = {str(i): train.run(b) for i, b in enumerate(candidates)}
    cache: dict[int, np.ndarray] = {}

    def held_out(block: Block) -> np.ndarray:
        key = next((i for i, c in enumerate(candidates) if c is block), None)
        if key is None:
            return test.run(block)
        if key not in cache:
            cache[key] = test.run(block)
        return cache[key]

    blocks: dict[str, dict[str, Blocks]] = {"coordinates": {}, "das": {}}
    for h in hyps:
        chosen = ab.select(on_train, goal_train[h.name], **readouts.kwargs())
        blocks["coordinates"][h.name] = {k: candidates[int(chosen[k])] for k in names}
        if das_site is not None and (das_hypotheses is None or h.name in das_hypotheses):
            blocks["das"][h.name] = train_das(train, site=das_site, sizes=dict.fromkeys(names, 1),
                                              targets=goal_train[h.name], variance=readouts.variance,
                                              usable=readouts.usable, steps=das_steps, lr=das_lr,
                                              batch_size=das_batch, seed=seed)
    site = das_site or coordinate_sites[0]
    width = test.unit_width(site)
    rand = dict(zip(names, random_blocks(site, width, dim=test.dim(site), n=len(names), seed=seed + 1, width=width)))
    predicted = {cls: {h: {k: held_out(b[k]) for k in names} for h, b in by_h.items()}
                 for cls, by_h in blocks.items() if by_h}
    random_swaps = {k: test.run(rand[k]) for k in names}
    predicted["random"] = dict.fromkeys([h.name for h in hyps], random_swaps)
    predicted["no-swap"] = {h.name: dict.fromkeys(names, test.base_readout) for h in hyps}
    frames = [ab.iia_table(p, goal_test, pooled=readouts.verified, n_boot=n_boot, seed=seed, **readouts.kwargs())
              .assign(alignment=cls) for cls, p in predicted.items()]
    table = pd.concat(frames, ignore_index=True)
    controls = table[table["alignment"].isin(["random", "no-swap"]) & (table["factor"] == "all")]
    tested = {h.name for h in ab.distinguishable(hyps, goal_test, **seen_by)}
    g_star = {}
    for cls in CLASSES:
        if blocks[cls]:
            candidates = [h for h in hyps if h.name in blocks[cls] and h.name in tested]
            rows = table[(table["alignment"] == cls) & table["hypothesis"].isin([h.name for h in candidates])]
            g_star[cls] = ab.best_hypothesis(rows, candidates, slack=slack, chance=float(controls["strict"].max())) \
                if candidates else None
    return AbstractionResult(table=table, blocks={c: b for c, b in blocks.items() if b}, g_star=g_star,
                             hypotheses=hyps)


@dataclass(frozen=True)
class InterchangeGraphs:
    """Δ matrices (rows swapped factor, columns read-out), the max-null threshold and the graphs."""

    total_effects: pd.DataFrame
    direct_effects: pd.DataFrame
    threshold: float
    total: nx.DiGraph
    direct: nx.DiGraph


def interchange_graphs(ic: Interchanger, blocks: Mapping[str, Block], *, readouts: ReadoutSpec, n_null: int = 50,
                       alpha: float = 0.05, min_effect: float = 0.05, leakage: np.ndarray | None = None,
                       seed: int = 0) -> InterchangeGraphs:
    """Total- and direct-effect factor graphs of an alignment on ``ic``'s pairs.

    Only the blocks of factors with a usable read-out count as aligned (*verified*): the block of a
    factor without one was chosen by what it does to the other read-outs alone, so it is swapped for
    its row of Δ but never clamped, and it belongs to the remainder below.

    Total: swap factor k's block alone.  Direct ``k -> j``: swap k's block while every other verified
    block except j's is clamped at the base's clean value (blocks at k's own site are left alone:
    orthogonal ones are untouched by the swap, and clamping a shared one would undo it; blocks at
    upstream sites hold base values anyway; a block that shares a direction with j's is left alone too,
    as clamping it would clamp j).  An edge needs ``Δ[k, j]`` above ``threshold``, above
    ``min_effect`` and above ``leakage[k, j]`` (:func:`causalvae.causal.factor_graphs.interchange_graph`).

    ``threshold`` is what the *unaligned remainder* of the network does to the read-outs: the
    ``1 - alpha`` quantile of ``max_j Δ`` (Westfall–Young max statistic over usable read-outs) over
    ``n_null`` swaps of random latent subspaces of the verified blocks' sizes, drawn orthogonal to the
    verified blocks at the latent, with *every* verified block clamped at the base
    (:func:`remainder_swaps`).  So a factor's representation moves nothing in the null wherever it is
    aligned: the exogenous noise of a factor aligned at a mechanism site (an SCM-layer VAE's
    ``decoder.scm.m<j>``) still lives in the latent, and an unclamped random swap of it moves that
    factor and its descendants as much as a real edge does (the null this replaced reached 1.00 sd on
    a Pendulum SCM-layer VAE, above three of its four real direct effects).  What moves in the null are
    the latent directions no verified factor is aligned with (e.g. free latents the decoder renders
    from).  When the verified latent blocks leave no room, nothing is unaligned and the threshold is 0
    (``min_effect`` still applies).  At a VQ-VAE's codes the random pieces are whole positions (code
    swaps).
    """
    if int(n_null) < 1:
        raise ValueError(f"n_null must be >= 1 (null swaps for the edge threshold), got {n_null}")
    names, scale = readouts.names, np.sqrt(readouts.variance)
    verified = {k: b for k, b in blocks.items() if k in readouts.verified}
    base = ic.base_readout
    total = {k: ic.run(blocks[k]) for k in blocks}
    direct_rows = {}
    for k, block in blocks.items():
        runs: dict[frozenset, np.ndarray] = {}
        row = np.empty(len(names))
        for j, name in enumerate(names):
            clamp = frozenset(m for m in verified if m not in (k, name) and blocks[m].site != block.site
                              and not (name in blocks and _overlap(blocks[m], blocks[name])))
            if clamp not in runs:
                runs[clamp] = total[k] if not clamp else ic.run(block, clamp=[blocks[m] for m in sorted(clamp)])
            row[j] = np.abs(runs[clamp][:, j] - base[:, j]).mean() / scale[j]
        direct_rows[k] = row
    null = remainder_swaps(ic, verified, n=n_null, seed=seed)
    threshold = fg.null_threshold(base, null, scale=scale, usable=readouts.usable, alpha=alpha) if null else 0.0
    delta_total = fg.effect_matrix(base, total, scale=scale, readouts=names)
    delta_direct = pd.DataFrame(np.array([direct_rows[k] for k in blocks]), index=list(blocks), columns=list(names))
    graph = {"threshold": threshold, "usable": readouts.usable, "min_effect": min_effect, "leakage": leakage}
    return InterchangeGraphs(delta_total, delta_direct, threshold, fg.interchange_graph(delta_total, **graph),
                             fg.interchange_graph(delta_direct, **graph))


def _overlap(a: Block, b: Block) -> bool:
    """Whether two blocks share a direction (same site, not orthogonal)."""
    return a.site == b.site and float(np.abs(a.basis.T @ b.basis).max()) > 1e-6


def remainder_swaps(ic: Interchanger, blocks: Mapping[str, Block], *, n: int, seed: int = 0) -> list[np.ndarray]:
    """Read-outs of ``n`` swaps of the alignment's unaligned remainder (see :func:`interchange_graphs`):
    random latent subspaces of the blocks' sizes in turn, orthogonal to the blocks aligned at the latent,
    with every block of ``blocks`` clamped at the base; none when the latent has no room for them."""
    latent, width = ic.latent, ic.unit_width(ic.latent)
    at_latent = [b.basis for b in blocks.values() if b.site == latent]
    # each direction once: coordinate selection can give two factors the same block
    if not at_latent:
        avoid = None
    elif width > 1:  # whole positions: their coordinate columns, without repeats
        avoid = np.unique(np.concatenate(at_latent, axis=1), axis=1)
    else:  # an orthonormal basis of the blocks' span
        avoid = scipy.linalg.orth(np.concatenate(at_latent, axis=1))
    room = ic.dim(latent) - (0 if avoid is None else avoid.shape[1])
    sizes = [max(width, b.basis.shape[1] // width * width) for b in blocks.values()]  # whole positions of codes
    clamp = list(blocks.values())
    swaps = []
    for i, size in enumerate(sizes):
        count = n // len(sizes) + (i < n % len(sizes))
        if size > room or not count:
            continue
        swaps += [ic.run(r, clamp=clamp) for r in random_blocks(latent, size, dim=ic.dim(latent), n=count,
                                                                seed=seed + 7919 * (i + 1), avoid=avoid, width=width)]
    return swaps
