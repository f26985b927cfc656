"""The sections of the HTML report, one function each: ``(RunFolder) -> (anchor, title, html)``."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from causalvae.report import markup as h
from causalvae.report.metric_rows import MetricRow, compare_edges, find_metric, metric_rows
from causalvae.report.run_folder import EFFECTS, EXPECTED_EFFECTS, EXPECTED_TABLES, TABLES, Artifact, RunFolder

SectionFn = Callable[[RunFolder], "tuple[str, str, str] | None"]
LOG_TAIL_LINES = 200
#: Larger graph renderings are linked by name instead of inlined, to keep the page loadable.
MAX_INLINE_SVG_BYTES = 8_000_000
#: Graph renderings wider than this (width / height) get a full-width, horizontally scrolling panel.
WIDE_ASPECT = 3.0
#: The stage that writes every file of the run folder; a failure there explains any missing output.
WRITER_STAGE = "export"
#: Metrics shown as headline tiles when present (``group.name`` keys of metrics.json), with labels.
HEADLINE = {"alignment.shd": "SHD (aligned vs true DAG)", "n_active_latents": "active latents",
            "recon.mse": "reconstruction MSE", "ces.paper": "CES (paper)",
            "disentanglement.dci.random-forest.disentanglement": "DCI disentanglement (RF)",
            "disentanglement.dci_disentanglement": "DCI disentanglement", "disentanglement.mig": "MIG",
            "specificity.bounded": "specificity (bounded)", "circuit_modularity.mean": "circuit modularity"}
#: Labels of the SHD lines, by metric group.
SHD_LABELS = {"alignment": "aligned factor graph vs true factor DAG",
              "discovery": "factor DAG learned from the data vs true factor DAG"}


def stage_overview(run: RunFolder) -> tuple[str, str, str]:
    outputs, n_broken = _outputs_table(run)
    parts = [_status_table(run)] if run.status.ok else []
    if n_broken:  # the table stays open unless status.json already explains the failures
        outputs = h.details("outputs per stage", outputs) if run.status.ok else outputs
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
    return "metrics", title, _headline_tiles(rows) + _shd_paragraph(run, rows) + f'<div class="cards">{cards}</div>'


def _headline_tiles(rows: list[MetricRow]) -> str:
    by_key = {f"{row.group}.{row.name}" if row.group else row.name: row for row in rows}
    tiles = [f'<div class="tile"><div class="label">{h.esc(label)}</div>'
             f'<div class="value">{h.esc(h.fmt_number(by_key[key].value))}</div>'
             f'<div class="ci">{h.esc(_ci_text(by_key[key]))}</div></div>'
             for key, label in HEADLINE.items() if key in by_key]
    return f'<div class="tiles">{"".join(tiles)}</div>' if tiles else ""


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
    main = [_heatmap(run, name, artifact) for name, artifact in run.effects.items() if name in EXPECTED_EFFECTS]
    more = [_heatmap(run, name, artifact) for name, artifact in run.effects.items() if name not in EXPECTED_EFFECTS]
    body = f'<div class="figures">{"".join(main)}</div>'
    if more:
        body += h.details(f"{len(more)} more effect matrices", f'<div class="figures">{"".join(more)}</div>')
    return "effects", "Intervention effects", body


def _heatmap(run: RunFolder, name: str, artifact: Artifact) -> str:
    from causalvae.report import plots

    if not artifact.ok:
        return _notice(run, artifact)
    matrix = artifact.value
    if 0 in matrix.shape:
        return h.note(f"{_rel(run, artifact)} holds no effects (shape {matrix.shape}).")
    known = EFFECTS.get(name)
    title, meaning = (known.title, known.caption) if known else (name, f"Effects stored in {_rel(run, artifact)}")
    caption = (f"{meaning}. Intervention {matrix.intervention}, statistic {matrix.statistic}, n = {matrix.n_samples}"
               + ("" if matrix.seed is None else f", seed {matrix.seed}") + f" ({_rel(run, artifact)}).")
    png = plots.figure_png(plots.effect_heatmap(matrix, title=title))
    return h.figure(h.image(png, mime="image/png", alt=f"heatmap of {name}"), caption)


def factor_graphs(run: RunFolder) -> tuple[str, str, str]:
    from causalvae.report.run_folder import GRAPHS, OPTIONAL_GRAPHS

    panels = []
    for name in ("aligned", "factor_true", *(n for n in OPTIONAL_GRAPHS if n in run.graphs)):
        artifact, caption = run.graphs[name], (GRAPHS | OPTIONAL_GRAPHS)[name].title
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
        size = h.svg_size(artifact.value) if artifact.ok and artifact.value is not None else None
        wide = size is not None and size[0] / size[1] > WIDE_ASPECT
        content = (_svg_image(run, artifact, f"circuit of {factor}", css_class="plot wide-graph") if wide
                   else _svg_image(run, artifact, f"circuit of {factor}") if artifact.ok else _notice(run, artifact))
        if wide:  # a circuit of hundreds of units: full width, drawn tall enough to read, scroll sideways
            content = f'<div class="scroll">{content}</div>'
        panels.append(f'<div class="panel{" wide" if wide else ""}"><h3>{h.esc(factor)}</h3>{content}</div>')
    intro = h.note("Per factor: the minimal subgraph of the unit graph carrying the set fraction of the "
                   "factor's total effect (edge width ∝ |effect|).")
    return "circuits", "Circuits per factor", intro + f'<div class="grid">{"".join(panels)}</div>'


def result_tables(run: RunFolder) -> tuple[str, str, str]:
    main = [_table(run, name, artifact) for name, artifact in run.tables.items() if name in EXPECTED_TABLES]
    more = [h.details(_table_title(name), _table(run, name, artifact, heading=False))
            for name, artifact in run.tables.items() if name not in EXPECTED_TABLES]
    return "tables", "Units, motifs, mediation and circuits", "".join(main + more)


def _table(run: RunFolder, name: str, artifact: Artifact, *, heading: bool = True) -> str:
    parts = [f"<h3>{h.esc(_table_title(name))}</h3>"] if heading else []
    if not artifact.ok:
        parts.append(_notice(run, artifact))
    elif artifact.value.empty:
        parts.append(h.note(f"{_rel(run, artifact)} has no rows."))
    else:
        frame, caption = artifact.value, TABLES[name].caption if name in TABLES else f"From {_rel(run, artifact)}."
        sort_by = [c for c in (TABLES[name].sort_by if name in TABLES else ()) if c in frame.columns]
        if sort_by:
            frame = frame.sort_values(sort_by, kind="stable", na_position="last")
            caption += f" Rows sorted by {', '.join(sort_by)} (ascending)."
        parts.append(h.note(caption) + h.frame_table(frame, source=_rel(run, artifact)))
    return "".join(parts)


def _table_title(name: str) -> str:
    return TABLES[name].title if name in TABLES else name.replace("_", " ")


def settings(run: RunFolder) -> tuple[str, str, str]:
    if not run.config.ok:
        return "settings", "Exact settings", _notice(run, run.config)
    rows = _flatten(run.config.value)
    table = h.table(["setting", "value"], rows, numeric=[False, False], css_class="data settings")
    raw = h.details("config.json as written", h.preformatted(json.dumps(run.config.value, indent=2, default=str)))
    return "settings", "Exact settings", table + raw


def other_graphs(run: RunFolder) -> tuple[str, str, str]:
    from causalvae.report.run_folder import GRAPHS

    parts = []
    for name in ("computational", "unit"):
        artifact, caption = run.graphs[name], GRAPHS[name].title
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
    for stage in _in_run_order(run, list(run.status.value)):
        record = run.status.value[stage]
        record = record if isinstance(record, Mapping) else {"state": record}
        state = str(record.get("state", "unknown"))
        seconds = record.get("seconds")
        detail = record.get("error") or record.get("reason") or ""
        rows.append(f'<tr class="{h.esc(state)}"><td>{h.esc(stage)}</td><td>{h.esc(state)}</td>'
                    f'<td class="num">{h.esc("" if seconds is None else h.fmt_number(seconds) + " s")}</td>'
                    f"<td>{h.esc(detail)}</td></tr>")
    return ('<div class="scroll"><table class="data stages"><thead><tr><th>stage</th><th>state</th>'
            f'<th class="num">time</th><th>message</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>')


def _in_run_order(run: RunFolder, stages: list[str]) -> list[str]:
    """``stages`` in the order the log starts them (lines like ``[12:00:01] > train ...``); the rest last."""
    if not run.log.ok:
        return stages

    def first_mention(stage: str) -> float:
        found = re.search(rf"^(?:\[[^\]]*\] )?[>x-] {re.escape(stage)}\b", run.log.value, re.M)
        return found.start() if found else math.inf

    return sorted(stages, key=first_mention)


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
    """One line per metric group holding an SHD (the aligned graph first), or a notice if none does."""
    groups = list(dict.fromkeys(row.group for row in rows if "shd" in row.name.lower()))
    groups.sort(key=lambda g: (g != "alignment", g != "discovery"))
    if not groups:
        return h.stage_notice("alignment", "metrics.json has no SHD of the aligned factor graph vs the true DAG"
                              + _recorded_failure(run, "alignment"))
    return "".join(_shd_line(rows, group) for group in groups)


def _shd_line(rows: list[MetricRow], group: str) -> str:
    shd = find_metric(rows, "shd", group=group)
    extras = [f"{label} {h.fmt_number(row.value)}" for label, row in
              (("edge precision", find_metric(rows, "precision", group=group)),
               ("edge recall", find_metric(rows, "recall", group=group))) if row is not None]
    ci = _ci_text(shd)
    label = SHD_LABELS.get(group, f"{group} graph vs true factor DAG" if group else "factor graph vs true DAG")
    text = (f"Structural Hamming distance, {label}: SHD = {h.fmt_number(shd.value)}"
            + (f" (95 % CI {ci})" if ci else "") + "".join(f" · {e}" for e in extras))
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
    if artifact.value is None:
        return h.note(artifact.note or f"{_rel(run, artifact)} is not drawn.")
    size = len(artifact.value)
    if size > MAX_INLINE_SVG_BYTES:
        return h.note(f"{_rel(run, artifact)} ({size / 1e6:.1f} MB) is too large to inline; open it directly.")
    return h.image(artifact.value, mime="image/svg+xml", alt=alt, css_class=css_class)


def _notice(run: RunFolder, artifact: Artifact) -> str:
    detail = f"{_rel(run, artifact)} is {artifact.problem}" + _recorded_failure(run, artifact.stage)
    return h.stage_notice(artifact.stage, detail)


def _recorded_failure(run: RunFolder, stage: str) -> str:
    """What ``status.json`` says about the stage (or the stage writing all files) if it did not finish."""
    for name in dict.fromkeys((stage, WRITER_STAGE)):
        record = run.status.value.get(name) if run.status.ok else None
        if isinstance(record, Mapping) and record.get("state") not in (None, "done"):
            message = record.get("error") or record.get("reason")
            return f" (pipeline: {name} {record['state']}" + (f": {message})" if message else ")")
    return ""


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
