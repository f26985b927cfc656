"""One large exact intervention sweep split into site/unit chunks across tasks, merged into one matrix.

Every unit's exact effect is computed independently of the others (one cached clean pass, then the
downstream recomputation for that unit), so chunks of units give exactly the rows the single-process
sweep gives; :meth:`EffectMatrix.concat` stacks them back in the original row order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from causalvae.effects import EffectMatrix


def unit_chunks(sources: Mapping[str, Sequence[int]], units_per_task: int) -> list[dict[str, list[int]]]:
    """Split ``{site: units}`` into blocks of at most ``units_per_task`` units of one site each, in order.

    Examples
    --------
    >>> unit_chunks({"a": [0, 1, 2], "b": [5]}, 2)
    [{'a': [0, 1]}, {'a': [2]}, {'b': [5]}]
    """
    if units_per_task < 1:
        raise ValueError(f"units_per_task must be >= 1, got {units_per_task}")
    return [{site: list(units[i:i + units_per_task])} for site, units in sources.items()
            for i in range(0, len(units), units_per_task)]


def split_ablation_effects(model: "nn.Module", x: Any, *,  # noqa: F821
                           sites: Sequence[str] | Mapping[str, Sequence[int]] | None = None,
                           units_per_task: int = 64, backend: str = "local", workers: int | None = None,
                           address: str | None = None, max_retries: int = 3, threads: int = 1,
                           **options: Any) -> EffectMatrix:
    """:func:`causalvae.interventions.ablation_effects` (``method="exact"``) run as parallel unit chunks.

    Parameters
    ----------
    model, x, sites : as for ``ablation_effects`` (default: every site with a unit axis).
    units_per_task : units of one site per task.
    backend, workers, address, max_retries, threads : see :func:`causalvae.sweep.backends.map_tasks`;
        the model and inputs are sent to each worker once (Ray object store) or with each task (local).
    **options : other ``ablation_effects`` keywords (``targets``, ``kind``, ``statistic``, ``seed``, ...).

    Returns
    -------
    The same :class:`EffectMatrix` as the single-process exact sweep (values bit for bit);
    ``meta["split"]`` records the chunking; the engine counters are summed over the chunks.
    """
    from causalvae.sweep.backends import map_tasks

    if options.get("method", "exact") != "exact":
        raise ValueError(f"only the exact sweep is split across tasks, got method={options['method']!r}")
    options.pop("method", None)
    sources = _unit_lists(model, x, sites)
    chunks = unit_chunks(sources, units_per_task)
    parts = map_tasks(_chunk_effects, chunks, shared=(model, x, options), backend=backend, workers=workers,
                      address=address, max_retries=max_retries, threads=threads)
    merged = EffectMatrix.concat(parts, axis="sources")
    meta = {**merged.meta, "split": {"tasks": len(chunks), "units_per_task": units_per_task, "backend": backend}}
    for counter in ("skipped_noops", "linear_path_units", "recomputed_units"):  # engine counters add up
        if all(isinstance(p.meta.get(counter), (int, float)) for p in parts):
            meta[counter] = sum(p.meta[counter] for p in parts)
    return dataclasses.replace(merged, meta=meta)


def _unit_lists(model: "nn.Module", x: Any,  # noqa: F821
                sites: Sequence[str] | Mapping[str, Sequence[int]] | None) -> dict[str, list[int]]:
    """``{site: unit indices}`` in the order the single-process sweep lists its rows."""
    from causalvae.interventions.effect_plumbing import as_inputs, probe, resolve_device, resolve_sources

    x = as_inputs(x)
    requested = [] if sites is None else [sites] if isinstance(sites, str) else list(sites)
    info = probe(model, x, resolve_device(model, None), extra=requested)
    return resolve_sources(model, info, sites)


def _chunk_effects(shared: tuple, block: dict[str, list[int]]) -> EffectMatrix:
    from causalvae.interventions import ablation_effects

    model, x, options = shared
    return ablation_effects(model, x, sites=block, method="exact", **options)
