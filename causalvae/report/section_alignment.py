"""The alignment section: the aligned factor graph over the true DAG in one drawing with a legend of
edge states, the SHD lines, IIA per hypothesis next to its controls, and the read-out tolerances."""

from __future__ import annotations

import math

import pandas as pd

from causalvae.report import markup as h
from causalvae.report.graph_drawing import EDGE_STATES, factor_overlay, inline_svg
from causalvae.report.metric_rows import find_metric, metric_rows
from causalvae.report.notices import notice, recorded_failure
from causalvae.report.run_folder import RunFolder

#: Columns of the IIA table: (alignment, network) -> heading; the last four are controls.
IIA_COLUMNS = {("coordinates", "trained"): "coordinates", ("das", "trained"): "DAS",
               ("random", "trained"): "random subspace (control)", ("no-swap", "trained"): "no swap (control)",
               ("coordinates", "random-init"): "coordinates, random-init net (control)",
               ("das", "random-init"): "DAS, random-init net (control)"}
#: Labels of the SHD lines, by metric group.
SHD_LABELS = {"alignment": "aligned factor graph (direct interchange effects) vs true factor DAG",
              "discovery": "factor DAG learned from the data (PC) vs true factor DAG"}


def alignment(run: RunFolder) -> tuple[str, str, str]:
    parts = [shd_lines(run), _overlay(run), _iia(run)]
    for name in ("alignment_readouts", "alignment_direct_effects", "alignment_total_effects"):
        artifact, known = run.tables.get(name), run.registry.spec("table", name)
        if artifact is not None and artifact.ok:
            parts.append(h.details(known.title, h.note(known.caption) + h.frame_table(artifact.value)))
    return "alignment", "Alignment: which factor graph the network implements", "".join(parts)


def shd_lines(run: RunFolder) -> str:
    """One line per metric group holding an SHD (the aligned graph first), or a notice if none does."""
    if not run.metrics.ok:
        return notice(run, run.metrics)
    rows = metric_rows(run.metrics.value)
    groups = [g for g in SHD_LABELS if find_metric(rows, "shd", group=g) is not None]
    if not groups:
        return h.stage_notice("alignment", "metrics.json has no SHD of the aligned factor graph vs the true DAG"
                              + recorded_failure(run, "alignment"))
    lines = []
    for group in groups:
        shd = find_metric(rows, "shd", group=group)
        extras = [f"{label} {h.fmt_number(row.value)}" for label, row in
                  (("edge precision", find_metric(rows, "precision", group=group)),
                   ("edge recall", find_metric(rows, "recall", group=group)),
                   ("SHD to the CPDAG", find_metric(rows, "shd_cpdag", group=group))) if row is not None]
        text = (f"SHD ↓ = {h.fmt_number(shd.value)}, {SHD_LABELS[group]}" + "".join(f" · {e}" for e in extras))
        lines.append(f'<p class="shd">{h.esc(text)}</p>')
    return "".join(lines)


def _overlay(run: RunFolder) -> str:
    aligned, truth = run.graph_data.get("aligned"), run.graph_data.get("factor_true")
    for artifact in (aligned, truth):
        if artifact is None or not artifact.ok:
            return notice(run, artifact) if artifact is not None else ""
    svg, states = factor_overlay(aligned.value, truth.value)
    legend = "".join(f'<li><span class="swatch {state}" style="border-color:{colour}"></span>'
                     f"<strong>{state[0].upper()} · {state}</strong> ({len(states[state])}): "
                     f"{h.esc(', '.join(f'{a} → {b}' for a, b in states[state]) or 'none')} — {h.esc(meaning)}</li>"
                     for state, (colour, _, meaning) in EDGE_STATES.items())
    caption = ("The factor graph the network implements (edges whose direct interchange effect exceeds what "
               "swapping the unaligned remainder does, between factors with a used read-out) drawn over the true "
               "DAG in one layout. Hover an edge for its effect.")
    return (f'<div class="overlay"><div class="drawing-box">{inline_svg(svg, prefix="overlay", label="aligned graph over true DAG")}'
            f'</div><div><ul class="legend">{legend}</ul>{h.note(caption)}</div></div>')


def _iia(run: RunFolder) -> str:
    table = run.table("alignment_iia")
    if table is None:
        artifact = run.tables.get("alignment_iia")
        return notice(run, artifact) if artifact is not None else ""
    pooled = table[table["factor"] == "all"]
    if pooled.empty:
        return h.note("tables/alignment_iia.csv has no pooled ('all') rows.")
    hypotheses = list(dict.fromkeys(pooled["hypothesis"]))
    metrics = run.metric_values()
    columns = [(key, label) for key, label in IIA_COLUMNS.items()
               if ((pooled["alignment"] == key[0]) & (pooled["network"] == key[1])).any()]
    best = {key: pooled[(pooled["alignment"] == key[0]) & (pooled["network"] == key[1])]["strict"].max()
            for key, _ in columns}
    head = "".join(f'<th class="num">{h.esc(label)}</th>' for _, label in columns)
    body = []
    for hypothesis in hypotheses:
        cells = []
        for key, _ in columns:
            row = pooled[(pooled["hypothesis"] == hypothesis) & (pooled["alignment"] == key[0])
                         & (pooled["network"] == key[1])]
            cells.append(_iia_cell(row.iloc[0] if not row.empty else None, best[key]))
        body.append(f"<tr><td>{h.esc(_hypothesis_label(hypothesis, metrics))}</td>{''.join(cells)}</tr>")
    distinguishing = pooled["distinguishing"].iloc[0] if "distinguishing" in pooled else math.nan
    caption = (f"Strict interchange-intervention accuracy ↑ (share of held-out pairs whose usable read-outs all match "
               f"the hypothesis' counterfactual) with bootstrap 95 % CIs; n = {int(pooled['n'].iloc[0])} pairs, "
               f"{h.fmt_number(distinguishing)} of them distinguish the hypotheses. Bold: best per column. An "
               "alignment shows the network carries the factors only where it beats the controls.")
    g_star = _g_star(run)
    return (f"<h3>IIA per hypothesis</h3>{h.note(caption)}{g_star}<div class=\"scroll\"><table class=\"data\">"
            f"<thead><tr><th>hypothesis</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def _iia_cell(row: pd.Series | None, best: float) -> str:
    if row is None:
        return '<td class="num">—</td>'
    text = f"{h.fmt_number(row['strict'])} [{h.fmt_number(row['strict_low'])}, {h.fmt_number(row['strict_high'])}]"
    strong = row["strict"] == best
    return f'<td class="num">{"<strong>" if strong else ""}{h.esc(text)}{"</strong>" if strong else ""}</td>'


def _hypothesis_label(name: str, metrics: dict) -> str:
    """``dag`` is the DAG's checkable part (``alignment.checked_edges`` of ``alignment.dag_edges``)."""
    checked, total = metrics.get("alignment.checked_edges"), metrics.get("alignment.dag_edges")
    dag = "G = true DAG" if checked is None or checked == total else \
        f"G = true DAG, its {h.fmt_number(checked)} checkable edges of {h.fmt_number(total)}"
    return {"empty": "G = ∅ (independent factors)", "dag": dag}.get(
        name, name.replace("drop:", "DAG without ").replace("->", " → "))


def _g_star(run: RunFolder) -> str:
    metrics = run.metric_values()
    found = {key.split(".")[2]: value for key, value in metrics.items()
             if key.startswith("alignment.g_star.") and key.endswith(".n_edges")}
    if not found:
        return ""
    words = [f"{cls}: " + ("none significantly better than the others" if value is None or
                           (isinstance(value, float) and math.isnan(value)) else f"{h.fmt_number(value)} edges")
             for cls, value in found.items()]
    return f'<p class="shd">{h.esc("G* (best-scoring hypothesis) — " + "; ".join(words))}</p>'
