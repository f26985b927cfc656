"""Unit-level effects: ablation, edge effects between consecutive sites, interchange patching."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from causalvae.argtypes import check_int
from causalvae.effects import EffectMatrix
from causalvae.interventions.alternatives import prepare_alternative
from causalvae.interventions.analysis import Analysis, analysis, site_names
from causalvae.interventions.spec import ModelSpec
from causalvae.interventions.effect_plumbing import as_inputs, resolve, run_exact
from causalvae.interventions.targets import STATISTICS, Readout, columns
from causalvae.modelstate import restores_model_state
from causalvae.units import unit_id

DEFAULT_TARGETS = ("output", "recon_error")
PATCH_MODES = ("noising", "denoising")
ABLATION_KINDS = ("zero", "mean", "conditional-mean", "resample")


def _rows(sources: Mapping[str, Sequence[int]]) -> list[str]:
    return [unit_id(site, u) for site, units in sources.items() for u in units]


@restores_model_state()
def ablation_effects(model: nn.Module, x, *, sites: Sequence[str] | Mapping[str, Sequence[int]] | None = None,
                     targets: Sequence[str] = DEFAULT_TARGETS, kind: str = "zero", statistic: str = "mean_abs",
                     method: str = "exact", value: float = 0.0, labels: Sequence[int] | None = None,
                     x_source=None, seed: int = 0, device: torch.device | str | None = None,
                     batch_size: int = 64, units_per_pass: int | None = None,
                     verify_fraction: float = 0.05, readout: Readout | None = None,
                     spec: ModelSpec | None = None) -> EffectMatrix:
    """Effect of replacing each unit of ``sites`` on every column of ``targets``.

    Parameters
    ----------
    model : any ``nn.Module`` (run in eval mode; VAEs with ``z = mu``), in any floating dtype.
    x : inputs, (N, C, H, W) or (N, D); numpy, torch or a ``TensorDataset`` (cast to the model's dtype).
    sites : sites to sweep (all their units), or ``{site: unit indices}``; default every site.
        Module paths or fx node names of the computational graph (``"add"``, ``"relu_1"``).
    targets : sites, unit ids, ``"output"`` (the declared reconstruction), ``"recon_error"`` or
        ``"output_l2"``.
    kind : ``"zero"``, ``"set"`` (to ``value``), ``"add"`` / ``"scale"`` (by ``value``), ``"mean"``,
        ``"conditional-mean"`` (needs ``labels``),
        ``"resample"`` (another input, permutation drawn with ``seed``), ``"patch"`` (needs ``x_source``).
    statistic : ``"mean_abs"``, ``"mean"`` or ``"rms"`` of the change, over inputs (and positions
        of conv target units).
    method : ``"exact"`` (engine), ``"naive"`` (per-unit hook loop), ``"attribution"`` (gradient x
        difference) or ``"screen"`` (attribution, then the top ``verify_fraction`` of units exactly).
    device : where to compute (default: the model's device).
    batch_size : inputs per chunk (bounds memory); units_per_pass: interventions stacked along the
        batch axis (default :func:`~causalvae.interventions.effect_plumbing.default_units_per_pass`: 16 on CUDA,
        on a CPU enough to fill ~256 inputs per replay).
    readout : also measure the change of these factor predictions of the output (columns
        ``factor.<name>``; exact methods only).
    spec : the model's declaration (:class:`~causalvae.interventions.ModelSpec`): which output is
        the reconstruction when ``forward`` returns several values.

    Returns
    -------
    EffectMatrix with unit-id rows and target columns; ``meta`` records method and engine counters.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    >>> m = ablation_effects(net, torch.ones(4, 2), sites=["0"], targets=["2"])
    >>> m.sources, m.targets
    (('0[0]', '0[1]'), ('2[0]',))
    """
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {STATISTICS}, got {statistic!r}")
    x, seed = as_inputs(x), check_int(seed, name="seed", minimum=0)
    with analysis(model, x, spec=spec, sites=site_names(sites), targets=site_names(targets), device=device) as an:
        return _ablation(an, x, sites, targets, kind=kind, statistic=statistic, method=method, value=value,
                         labels=labels, x_source=x_source, seed=seed, batch_size=batch_size,
                         units_per_pass=units_per_pass, verify_fraction=verify_fraction, readout=readout)


def _ablation(an: Analysis, x, sites, targets, *, kind: str, statistic: str, method: str, seed: int,
              batch_size: int, value: float = 0.0, labels: Sequence[int] | None = None, x_source=None,
              units_per_pass: int | None = None, verify_fraction: float = 0.05,
              readout: Readout | None = None) -> EffectMatrix:
    """:func:`ablation_effects` inside an open analysis."""
    _, sources, tgts = resolve(an, x, sites, targets)
    if readout is not None:
        if method in ("attribution", "screen"):
            raise ValueError(f"readout targets need an exact method ('exact' or 'naive'), got method={method!r}")
        tgts = [*tgts, readout.target()]
    alternative = prepare_alternative(an.module, x, list(sources), kind=kind, value=value, labels=labels,
                                      x_source=x_source, seed=seed, batch_size=batch_size, device=an.device,
                                      dtype=an.dtype)
    common = dict(sources=sources, targets=tgts, alternative=alternative, statistic=statistic, batch_size=batch_size)
    if method in ("attribution", "screen"):
        from causalvae.interventions.attribution import attribution_values, screen_then_verify

        if method == "attribution":
            values, meta = attribution_values(an, x, **common)
        else:
            values, meta = screen_then_verify(an, x, verify_fraction=verify_fraction,
                                              units_per_pass=units_per_pass, **common)
    else:
        values, meta = run_exact(an, x, method=method, units_per_pass=units_per_pass, **common)
    extra = {"value": np.asarray(value).tolist()} if kind in ("set", "add", "scale") else {}
    return EffectMatrix(values, _rows(sources), columns(tgts),
                        intervention=f"{kind}-ablation" if kind in ABLATION_KINDS else kind, statistic=statistic,
                        n_samples=len(x), seed=seed if kind == "resample" else None,
                        meta={**meta, "kind": kind, **extra})


@restores_model_state()
def edge_effects(model: nn.Module, x, *, sites: Sequence[str] | None = None, kind: str | Mapping[str, str] = "zero",
                 statistic: str = "mean_abs", method: str = "exact", seed: int = 0,
                 device: torch.device | str | None = None, batch_size: int = 64,
                 spec: ModelSpec | None = None) -> EffectMatrix:
    """Unit -> unit effects between consecutive sites.

    With ``sites`` given, the pairs are ``(sites[i], sites[i + 1])``.  By default every site is
    paired with the nearest site downstream of it in the traced graph (so ``latent.mu`` pairs with
    ``latent.z``, skipping ``latent.logvar`` which does not lie on its path).  Only those blocks are
    measured (they give the unit graph its edges); every other entry is 0 and ``meta["pairs"]``
    lists the measured blocks.  ``kind`` is one intervention kind, or a kind per source site
    (``{"latent.z": "resample", "decoder.fc1": "mean"}``; a VQ-VAE's positions are ablated by resampling
    their codes, which stays in the codebook, where a mean vector would not); ``meta["kinds"]`` records
    the kind of every pair's source.
    """
    x = as_inputs(x)
    with analysis(model, x, spec=spec, sites=site_names(sites), device=device) as an:
        pairs = (list(zip(sites, list(sites)[1:])) if sites is not None
                 else _next_site_pairs(an.module, an.probe(x).order))
        if not pairs:
            raise ValueError(f"edge_effects needs at least two connected sites, got {sites}")
        kinds = _kind_per_source(kind, [a for a, _ in pairs])
        blocks = [_ablation(an, x, [a], [b], kind=kinds[a], statistic=statistic, method=method, seed=seed,
                            batch_size=batch_size) for a, b in pairs]
    rows = list(dict.fromkeys(r for b in blocks for r in b.sources))
    cols = list(dict.fromkeys(c for b in blocks for c in b.targets))
    row_at, col_at = {r: i for i, r in enumerate(rows)}, {c: j for j, c in enumerate(cols)}
    values = np.zeros((len(rows), len(cols)))
    for b in blocks:
        values[np.ix_([row_at[r] for r in b.sources], [col_at[c] for c in b.targets])] = b.values
    return EffectMatrix(values, rows, cols, intervention=blocks[0].intervention, statistic=statistic,
                        n_samples=len(x), seed=blocks[0].seed,
                        meta={**blocks[0].meta, "pairs": [[a, b] for a, b in pairs], "kinds": kinds})


def _kind_per_source(kind: str | Mapping[str, str], sources: Sequence[str]) -> dict[str, str]:
    if isinstance(kind, str):
        return dict.fromkeys(sources, kind)
    if not isinstance(kind, Mapping) or not all(isinstance(k, str) for k in kind.values()):
        raise TypeError(f"kind must be an intervention kind or a mapping site -> kind, got {kind!r}")
    missing = [s for s in sources if s not in kind]
    if missing:
        raise ValueError(f"kind names no intervention for the source site(s) {missing}; it has {sorted(kind)}")
    return {s: kind[s] for s in sources}


def _next_site_pairs(model: nn.Module, order: Sequence[str]) -> list[tuple[str, str]]:
    """``(site, nearest downstream site)`` for every site with one, from the traced graph."""
    from causalvae.interventions.trace import trace

    traced = trace(model, order)
    by_node = {traced.site_nodes[s]: s for s in order}
    pairs = []
    for s in order:
        below = traced.descendants([traced.site_nodes[s]])
        later = sorted((n for n in below if n in by_node), key=traced.position.__getitem__)
        if later:
            pairs.append((s, by_node[later[0]]))
    return pairs


@restores_model_state()
def patching_effects(model: nn.Module, x_clean, x_source, *, sites=None, targets: Sequence[str] = DEFAULT_TARGETS,
                     mode: str = "noising", statistic: str = "mean_abs", method: str = "exact",
                     device: torch.device | str | None = None, batch_size: int = 64,
                     units_per_pass: int | None = None, spec: ModelSpec | None = None) -> EffectMatrix:
    """Interchange patching of single units between paired inputs.

    ``mode="noising"``: run on ``x_clean`` and patch each unit from ``x_source``
    (effect = Y(clean; u <- u(source)) - Y(clean)).  ``mode="denoising"``: run on ``x_source`` and
    patch each unit from ``x_clean`` (effect = Y(source; u <- u(clean)) - Y(source)).
    """
    if mode not in PATCH_MODES:
        raise ValueError(f"mode must be one of {PATCH_MODES}, got {mode!r}")
    x_clean, x_source = as_inputs(x_clean, name="x_clean"), as_inputs(x_source, name="x_source")
    if tuple(x_clean.shape) != tuple(x_source.shape):
        raise ValueError(f"x_clean and x_source must have the same shape: x_clean {tuple(x_clean.shape)}, "
                         f"x_source {tuple(x_source.shape)}")
    base, donor = (x_clean, x_source) if mode == "noising" else (x_source, x_clean)
    m = ablation_effects(model, base, sites=sites, targets=targets, kind="patch", x_source=donor,
                         statistic=statistic, method=method, device=device, batch_size=batch_size,
                         units_per_pass=units_per_pass, spec=spec)
    return EffectMatrix(m.values, m.sources, m.targets, intervention=f"patch-{mode}", statistic=statistic,
                        n_samples=m.n_samples, meta={**m.meta, "mode": mode})
