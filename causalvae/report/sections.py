"""The sections of the HTML report, one function each: ``(RunFolder) -> (anchor, title, html)``."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from causalvae.report import markup as h
from causalvae.report.metric_rows import MetricRow, compare_edges, find_metric, metric_rows
from causalvae.report.run_folder import KNOWN_EFFECTS, Artifact, RunFolder

SectionFn = Callable[[RunFolder], "tuple[str, str, str] | None"]
LOG_TAIL_LINES = 200
#: Larger graph renderings are linked by name instead of inlined, to keep the page loadable.
MAX_INLINE_SVG_BYTES = 8_000_000
TABLE_CAPTIONS = {
    "unit_classes": ("Unit classes", "Dead / monosemantic / polysemantic units per layer."),
    "motifs": ("Circuit motifs", "Motif counts per layer against a degree-preserving null model."),
    "mediation": ("Mediation", "Total, natural direct and natural indirect effects of each factor through "
                               "each mediator (interventional and, where computed, observational)."),
}


def stage_overview(run: RunFolder) -> tuple[str, str, str]:
    outputs, n_broken = _outputs_table(run)
    parts = [_status_table(run)] if run.status.ok else []
    if n_broken:
        parts.append(f'<p class="missing">{n_broken} of {len(run.stages)} stages\' outputs are missing, '
                     "unreadable or incomplete.</p>" + outputs)
    else:
        parts.append(h.note(f"All {len(run.stages)} stages wrote their outputs.")
                     + h.details("outputs per stage", outputs))
    return "stages", "Pipeline stages", "".join(parts)


def headline_metrics(run: RunFolder) -> tuple[str, str, str]:
    title = "Headline metrics"
    if not run.metrics.ok:
        return "metrics", title, _notice(run, run.metrics)
    rows = metric_rows(run.metrics.value)
    if not rows:
        return "metrics", title, h.note("metrics.json holds no metrics.")
    groups: dict[str, list[MetricRow]] = {"": []}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    cards = "".join(_metric_card(group or "overall", members) for group, members in groups.items() if members)
    return "metrics", title, _shd_paragraph(run, rows) + f'<div class="cards">{cards}</div>'


def _metric_card(title: str, rows: list[MetricRow]) -> str:
    body = "".join(f'<tr><td>{h.esc(row.name)}</td><td class="num">{h.esc(h.fmt_number(row.value))}</td>'
                   f'<td class="num">{h.esc(_ci_text(row))}</td></tr>' for row in rows)
    return (f'<div class="card"><h3>{h.esc(title)}</h3><table class="data metrics"><thead><tr><th>metric</th>'
            f'<th class="num">value</th><th class="num">95 % CI</th></tr></thead><tbody>{body}</tbody></table></div>')


def traversals(run: RunFolder) -> tuple[str, str, str] | None:
    if not run.traversals.ok and run.traversals.problem == "missing":
        return None
    if not run.traversals.ok:
        body = _notice(run, run.traversals)
    else:
        body = h.figure(h.image(run.traversals.value, mime="image/png", alt="latent traversal grid",
                                css_class="plot traversal"),
                        "Each row decodes a sweep of one latent while the others stay fixed.")
    return "traversals", "Latent traversals", body


def effect_heatmaps(run: RunFolder) -> tuple[str, str, str]:
    from causalvae.report import plots

    parts = []
    for name, artifact in run.effects.items():
        if not artifact.ok:
            parts.append(_notice(run, artifact))
            continue
        matrix = artifact.value
        if 0 in matrix.shape:
            parts.append(h.note(f"{_rel(run, artifact)} holds no effects (shape {matrix.shape})."))
            continue
        title, meaning = KNOWN_EFFECTS.get(name, (name, f"Effects stored in {_rel(run, artifact)}"))
        fig = plots.effect_heatmap(matrix, title=title)
        caption = (f"{meaning}. Intervention {matrix.intervention}, statistic "
                   f"{matrix.statistic}, n = {matrix.n_samples}"
                   + ("" if matrix.seed is None else f", seed {matrix.seed}") + f" ({_rel(run, artifact)}).")
        parts.append(h.figure(h.image(plots.figure_png(fig), mime="image/png", alt=f"heatmap of {name}"), caption))
    return "effects", "Intervention effects", f'<div class="figures">{"".join(parts)}</div>'


def factor_graphs(run: RunFolder) -> tuple[str, str, str]:
    panels = []
    for name, caption in (("aligned", "Factor graph implemented by the network (aligned)"),
                          ("factor_true", "True factor DAG")):
        artifact = run.graphs[name]
        content = _svg_image(run, artifact, caption) if artifact.ok else _notice(run, artifact)
        panels.append(f'<div class="panel"><h3>{h.esc(caption)}</h3>{content}</div>')
    shd = _shd_paragraph(run, metric_rows(run.metrics.value)) if run.metrics.ok else _notice(run, run.metrics)
    body = shd + f'<div class="side-by-side">{"".join(panels)}</div>' + _edge_lists(run)
    return "alignment", "Aligned factor graph vs true factor DAG", body


def circuits(run: RunFolder) -> tuple[str, str, str]:
    if not run.circuits:
        return "circuits", "Circuits per factor", h.stage_notice(
            "circuits", "no graphs/circuit_<factor>.svg or .dot found" + _recorded_failure(run, "circuits"))
    panels = []
    for factor, artifact in run.circuits.items():
        content = _svg_image(run, artifact, f"circuit of {factor}") if artifact.ok else _notice(run, artifact)
        panels.append(f'<div class="panel"><h3>{h.esc(factor)}</h3>{content}</div>')
    intro = h.note("Per factor: the minimal subgraph of the unit graph carrying the set fraction of the "
                   "factor's total effect (edge width ∝ |effect|).")
    return "circuits", "Circuits per factor", intro + f'<div class="grid">{"".join(panels)}</div>'


def result_tables(run: RunFolder) -> tuple[str, str, str]:
    parts = []
    for name, artifact in run.tables.items():
        title, caption = TABLE_CAPTIONS[name]
        parts.append(f"<h3>{h.esc(title)}</h3>")
        if not artifact.ok:
            parts.append(_notice(run, artifact))
        elif artifact.value.empty:
            parts.append(h.note(f"{_rel(run, artifact)} has no rows."))
        else:
            parts.append(h.note(caption) + h.frame_table(artifact.value, source=_rel(run, artifact)))
    return "tables", "Units, motifs and mediation", "".join(parts)


def settings(run: RunFolder) -> tuple[str, str, str]:
    if not run.config.ok:
        return "settings", "Exact settings", _notice(run, run.config)
    rows = _flatten(run.config.value)
    table = h.table(["setting", "value"], rows, numeric=[False, False], css_class="data settings")
    raw = h.details("config.json as written", h.preformatted(json.dumps(run.config.value, indent=2, default=str)))
    return "settings", "Exact settings", table + raw


def other_graphs(run: RunFolder) -> tuple[str, str, str]:
    parts = []
    for name, caption in (("computational", "Computational graph (torch.fx)"),
                          ("unit", "Unit-level causal graph")):
        artifact = run.graphs[name]
        content = _svg_image(run, artifact, caption, css_class="plot wide") if artifact.ok else _notice(run, artifact)
        parts.append(h.details(caption, content))
    return "network", "Network graphs", "".join(parts)


def log_tail(run: RunFolder) -> tuple[str, str, str]:
    if not run.log.ok:
        return "log", "Log", _notice(run, run.log)
    lines = run.log.value.splitlines()
    shown = lines[-LOG_TAIL_LINES:]
    summary = f"last {len(shown)} of {len(lines)} lines of {_rel(run, run.log)}"
    return "log", "Log", h.details(summary, h.preformatted("\n".join(shown)))


SECTIONS: tuple[SectionFn, ...] = (stage_overview, headline_metrics, traversals, effect_heatmaps, factor_graphs,
                                   circuits, result_tables, settings, other_graphs, log_tail)


def _status_table(run: RunFolder) -> str:
    """The pipeline's own record of each stage (``status.json``)."""
    rows = []
    for stage, record in run.status.value.items():
        record = record if isinstance(record, Mapping) else {"state": record}
        state = str(record.get("state", "unknown"))
        seconds = record.get("seconds")
        detail = record.get("error") or record.get("reason") or ""
        rows.append(f'<tr class="{h.esc(state)}"><td>{h.esc(stage)}</td><td>{h.esc(state)}</td>'
                    f'<td class="num">{h.esc("" if seconds is None else h.fmt_number(seconds) + " s")}</td>'
                    f"<td>{h.esc(detail)}</td></tr>")
    return ('<div class="scroll"><table class="data stages"><thead><tr><th>stage</th><th>state</th>'
            f'<th class="num">time</th><th>message</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


def _outputs_table(run: RunFolder) -> tuple[str, int]:
    """One row per group of outputs: present, missing or unreadable files; and how many groups are broken."""
    rows, n_broken = [], 0
    for stage, artifacts in run.stages.items():
        broken = [a for a in artifacts if not a.ok]
        n_broken += bool(broken)
        status = "ok" if not broken else "failed or skipped" if len(broken) == len(artifacts) else "partial"
        problems = "; ".join(f"{_rel(run, a)}: {a.problem}" for a in broken)
        rows.append(f'<tr class="{status.split()[0]}"><td>{h.esc(stage)}</td><td>{h.esc(status)}</td>'
                    f"<td>{h.esc(problems) or 'all outputs present'}</td></tr>")
    table = ('<div class="scroll"><table class="data stages"><thead><tr><th>outputs of</th><th>status</th>'
             f"<th>problems</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>")
    return table, n_broken


def _shd_paragraph(run: RunFolder, rows: list[MetricRow]) -> str:
    shd = find_metric(rows, "shd")
    if shd is None:
        return h.stage_notice("alignment", "metrics.json has no SHD of the aligned factor graph vs the true DAG")
    extras = [f"{label} {h.fmt_number(row.value)}" for label, row in
              (("edge precision", find_metric(rows, "precision", group=shd.group)),
               ("edge recall", find_metric(rows, "recall", group=shd.group))) if row is not None]
    ci = _ci_text(shd)
    text = (f"Structural Hamming distance between the aligned factor graph and the true factor DAG: "
            f"SHD = {h.fmt_number(shd.value)}" + (f" (95 % CI {ci})" if ci else "")
            + "".join(f" · {e}" for e in extras))
    return f'<p class="shd">{h.esc(text)}</p>'


def _edge_lists(run: RunFolder) -> str:
    aligned, truth = run.graph_data["aligned"], run.graph_data["factor_true"]
    if not (aligned.ok and truth.ok):
        return ""
    comparison = compare_edges(aligned.value, truth.value)
    items = []
    for label, edges in (("correct", comparison.correct), ("reversed", comparison.reversed),
                         ("missing", comparison.missing), ("extra", comparison.extra)):
        listed = ", ".join(f"{a} → {b}" for a, b in edges) or "none"
        items.append(f'<li class="{label}"><strong>{label}</strong> ({len(edges)}): {h.esc(listed)}</li>')
    return f'<ul class="edges">{"".join(items)}</ul>'


def _svg_image(run: RunFolder, artifact: Artifact, alt: str, *, css_class: str = "plot graph") -> str:
    size = len(artifact.value)
    if size > MAX_INLINE_SVG_BYTES:
        return h.note(f"{_rel(run, artifact)} ({size / 1e6:.1f} MB) is too large to inline; open it directly.")
    return h.image(artifact.value, mime="image/svg+xml", alt=alt, css_class=css_class)


def _notice(run: RunFolder, artifact: Artifact) -> str:
    detail = f"{_rel(run, artifact)} is {artifact.problem}" + _recorded_failure(run, artifact.stage)
    return h.stage_notice(artifact.stage, detail)


def _recorded_failure(run: RunFolder, stage: str) -> str:
    """What ``status.json`` says about a stage of the same name that did not finish, if anything."""
    record = run.status.value.get(stage) if run.status.ok else None
    if not isinstance(record, Mapping) or record.get("state") in (None, "done"):
        return ""
    message = record.get("error") or record.get("reason")
    return f" (pipeline: {record['state']}" + (f": {message})" if message else ")")


def _rel(run: RunFolder, artifact: Artifact) -> str:
    try:
        return str(artifact.path.relative_to(run.root))
    except ValueError:
        return str(artifact.path)


def _ci_text(row: MetricRow) -> str:
    if row.ci_low is None and row.ci_high is None:
        return ""
    return f"[{h.fmt_number(row.ci_low)}, {h.fmt_number(row.ci_high)}]"


def _flatten(config: Mapping[str, Any], prefix: str = "") -> list[list[str]]:
    rows = []
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows.extend(_flatten(value, f"{name}."))
        else:
            rows.append([name, value if isinstance(value, str) else json.dumps(value, default=str)])
    return rows
