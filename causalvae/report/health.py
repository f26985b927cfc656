"""Warnings a reader must see before trusting a run's numbers: a barely disentangled model, collapsed
latents, weak read-outs, reconstructions no better than a constant image, an alignment no better than
its controls, circuits not found.

Each check reads the run folder's metrics and tables and returns plain sentences; a check whose
inputs are absent says nothing (the stage summary reports the absence).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from causalvae.report.markup import fmt_number
from causalvae.report.metric_rows import metric_rows
from causalvae.report.run_folder import RunFolder

#: Below this DCI disentanglement (random forest, else lasso) a model is "barely disentangled".
MIN_DCI = 0.1
#: Latents whose KL from the prior is below this (nats) are collapsed (the pipeline's active-latent threshold).
COLLAPSED_KL = 0.01
#: Reconstruction MSE above this share of the constant image's MSE is flagged.
MAX_RECON_RATIO = 0.5
#: Strict IIA within this of the no-swap control does not show the alignment carries the factors.
MIN_IIA_MARGIN = 0.05


def health_warnings(run: RunFolder) -> list[str]:
    """Every warning that applies to ``run``, most fundamental first."""
    metrics = {f"{r.group}.{r.name}" if r.group else r.name: r.value for r in metric_rows(run.metric_values())}
    out: list[str] = []
    for check in CHECKS:
        out += check(run, metrics)
    return out


def _disentanglement(run: RunFolder, m: Mapping[str, Any]) -> list[str]:
    for estimator in ("random-forest", "lasso"):
        value = _number(m, f"disentanglement.dci.{estimator}.disentanglement")
        if value is not None:
            if value >= MIN_DCI:
                return []
            mig = _number(m, "disentanglement.mig")
            return [f"The model is barely disentangled: DCI disentanglement ({estimator}) {fmt_number(value)} "
                    f"(< {MIN_DCI})" + (f", MIG {fmt_number(mig)}" if mig is not None else "")
                    + ". Latents mix factors, so per-latent and per-factor results below describe a mixture."]
    return []


def _collapsed(run: RunFolder, m: Mapping[str, Any]) -> list[str]:
    table = run.table("latent_kl")
    if table is not None and {"latent", "kl"} <= set(table.columns):
        dead = table[table["kl"] < COLLAPSED_KL]
        if dead.empty:
            return []
        return [f"{len(dead)} of {len(table)} latents are collapsed (KL < {COLLAPSED_KL} nats from the prior): "
                f"{', '.join(dead['latent'].astype(str))}. They carry no information; interventions on them "
                "measure the decoder, not the data."]
    active = _number(m, "n_active_latents")
    total = (run.config.value or {}).get("latent_dim") if run.config.ok else None
    if active is not None and isinstance(total, int) and active < total:
        return [f"{total - int(active)} of {total} latents are collapsed (KL < {COLLAPSED_KL} nats from the prior)."]
    return []


def _weak_readouts(run: RunFolder, m: Mapping[str, Any]) -> list[str]:
    table, weak = _not_in_state(run, "readout_scores", "ok")
    if weak is None:
        return []
    shown = "; ".join(f"{row.factor} ({row.metric} {fmt_number(row.test)}, baseline {fmt_number(row.baseline)})"
                      for row in weak.itertuples())
    return [f"Weak read-out{'s' * (len(weak) > 1)} of {len(weak)} of {len(table)} factors: {shown}. "
            "These factors define no behaviour: they are left out of the IIA scores, and their decoder "
            "circuits are not reported as found."]


def _reconstruction(run: RunFolder, m: Mapping[str, Any]) -> list[str]:
    mse, baseline = _number(m, "recon.mse"), _number(m, "recon.baseline_mse")
    if mse is None or not baseline or mse / baseline <= MAX_RECON_RATIO:
        return []
    return [f"Reconstructions are poor: MSE {fmt_number(mse)} is {mse / baseline:.0%} of the best constant "
            f"image's {fmt_number(baseline)}."]


def _alignment(run: RunFolder, m: Mapping[str, Any]) -> list[str]:
    best = max((v for k in m if k.startswith("alignment.iia.") and (v := _number(m, k)) is not None), default=None)
    no_swap = _number(m, "alignment.control.no-swap")
    if best is None or no_swap is None or best - no_swap >= MIN_IIA_MARGIN:
        return []
    return [f"The alignment is not better than its control: best strict IIA {fmt_number(best)} against "
            f"{fmt_number(no_swap)} for predicting the base's own read-outs without any swap, so the interchanges "
            "do not show which latents carry the factors."]


def _circuits(run: RunFolder, m: Mapping[str, Any]) -> list[str]:
    table, missing = _not_in_state(run, "circuits", "found")
    if missing is None:
        return []
    names = ", ".join(f"{row.factor}/{row.part}" for row in missing.itertuples())
    return [f"{len(missing)} of {len(table)} circuits were not found ({names}); the circuits section says why."]


def _not_in_state(run: RunFolder, name: str, good: str):
    """Table ``name`` and its rows whose ``status`` is not ``good`` (None when the table or such rows are absent)."""
    table = run.table(name)
    if table is None or "status" not in table.columns:
        return table, None
    flagged = table[table["status"].astype(str) != good]
    return table, None if flagged.empty else flagged


def _number(m: Mapping[str, Any], key: str) -> float | None:
    value = m.get(key)
    if isinstance(value, Mapping):
        value = value.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


CHECKS: tuple[Callable[[RunFolder, Mapping[str, Any]], list[str]], ...] = (
    _disentanglement, _collapsed, _weak_readouts, _reconstruction, _alignment, _circuits)
