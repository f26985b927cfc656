"""The sections of the HTML report, one function each: ``(RunFolder) -> (anchor, title, html) | None``.

Alignment, circuits and the model's figures have their own modules; this one holds the summary
(warnings and headline numbers), effects, tables, metrics, stages, settings, graphs and the log.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from causalvae.report import markup as h
from causalvae.report.graph_drawing import inline_svg
from causalvae.report.health import health_warnings
from causalvae.report.metric_info import describe
from causalvae.report.metric_rows import MetricRow, metric_rows
from causalvae.report.notices import notice, rel
from causalvae.report.run_folder import Artifact, RunFolder
from causalvae.report.section_alignment import alignment
from causalvae.report.section_circuits import circuits
from causalvae.report.section_model import model

SectionFn = Callable[[RunFolder], "tuple[str, str, str] | None"]
LOG_TAIL_LINES = 200
#: Larger graph renderings are linked by name instead of inlined, to keep the page loadable.
MAX_INLINE_SVG_BYTES = 2_000_000
#: Metrics shown as headline tiles when present (``group.name`` keys of metrics.json), with labels.
HEADLINE = {"alignment.shd": "SHD (aligned vs true DAG)", "n_active_latents": "active latents",
            "recon.mse": "reconstruction MSE", "ces.paper": "CES (paper)",
            "disentanglement.dci.random-forest.disentanglement": "DCI disentanglement (RF)",
            "disentanglement.mig": "MIG", "specificity.bounded": "specificity (bounded)",
            "circuit_modularity.mean": "circuit modularity"}
#: Effect matrices with more cells are named, not drawn (a heatmap of them is noise and ~0.5 MB).
MAX_DRAWN_CELLS = 250_000
#: Metric groups with more rows are shown collapsed (their numbers are also in their own sections).
MAX_OPEN_CARD_ROWS = 24
#: Rows of a table shown on the page (the CSV has all of them).
MAX_TABLE_ROWS = 20
#: Tables shown in their own sections, not among the other tables.
SHOWN_ELSEWHERE = ("circuits", "circuit_curves", "alignment_iia", "alignment_readouts", "alignment_total_effects",
                   "alignment_direct_effects")
#: Unit classes drawn grey in the factor × unit heatmap (no response on the data to speak of).
QUIET_CLASSES = ("silent", "dead")


def summary(run: RunFolder) -> tuple[str, str, str]:
    warnings = health_warnings(run)
    parts = []
    if warnings:
        items = "".join(f"<li>{h.esc(w)}</li>" for w in warnings)
        parts.append(f'<div class="warnings"><strong>Read this first</strong><ul>{items}</ul></div>')
    parts.append(_stage_line(run))
    parts.append(_headline_tiles(metric_rows(run.metrics.value)) if run.metrics.ok else notice(run, run.metrics))
    return "summary", "Summary", "".join(parts)


def _stage_line(run: RunFolder) -> str:
    states = _stage_states(run)
    broken = {s: v for s, v in states.items() if v != "done"}
    if not states:
        return f'<p class="missing">No stage recorded its outputs (status.json {h.esc(run.status.problem)}).</p>'
    if not broken:
        return h.note(f"All {len(states)} recorded stages finished and wrote the outputs the run-folder registry "
                      "lists for them (details under Pipeline stages).")
    recorded = run.status.value if run.status.ok else {}
    reasons = {s: r.get("reason") or r.get("error") for s, r in recorded.items() if isinstance(r, Mapping)}
    listed = "; ".join(f"{s}: {v}" + (f" ({reasons[s]})" if reasons.get(s) else "") for s, v in broken.items())
    return (f'<p class="missing">{len(broken)} of {len(states)} stages failed, were skipped or lack outputs — '
            f"{h.esc(listed)}.</p>")


def _stage_states(run: RunFolder) -> dict[str, str]:
    """Stage -> "done", or what is wrong with it (its recorded state, or its outputs)."""
    recorded = {}
    if run.status.ok:
        recorded = {s: (r.get("state") if isinstance(r, Mapping) else str(r)) for s, r in run.status.value.items()}
    states = {s: str(v) for s, v in recorded.items()}
    for stage, artifacts in run.stages.items():
        broken = [a for a in artifacts if not a.ok]
        if broken and states.get(stage, "done") == "done":
            states[stage] = f"outputs missing or unreadable ({len(broken)} of {len(artifacts)})"
        states.setdefault(stage, "done")
    return states


def _headline_tiles(rows: list[MetricRow]) -> str:
    by_key = {_key(row): row for row in rows}
    tiles = [f'<div class="tile"><div class="label">{h.esc(label)} {describe(key).direction}</div>'
             f'<div class="value">{h.esc(h.fmt_number(by_key[key].value))}</div>'
             f'<div class="ci">{h.esc(_ci_text(by_key[key]))}</div></div>'
             for key, label in HEADLINE.items() if key in by_key]
    return f'<div class="tiles">{"".join(tiles)}</div>' if tiles else ""


def metrics(run: RunFolder) -> tuple[str, str, str]:
    title = "All metrics"
    if not run.metrics.ok:
        return "metrics", title, notice(run, run.metrics)
    rows = metric_rows(run.metrics.value)
    if not rows:
        return "metrics", title, h.note("metrics.json holds no metrics.")
    groups: dict[str, list[MetricRow]] = {}
    for row in rows:
        groups.setdefault(row.group or "overall", []).append(row)
    small = "".join(_metric_card(g, members) for g, members in groups.items() if len(members) <= MAX_OPEN_CARD_ROWS)
    large = [h.details(f"{g}: {len(members)} metrics", _metric_card(g, members)) for g, members in groups.items()
             if len(members) > MAX_OPEN_CARD_ROWS]
    intro = h.note("↑ higher is better · ↓ lower is better · · descriptive. The grey line under a name defines it "
                   "and the later rows of the card that share the definition (hover a name to see it again).")
    return "metrics", title, intro + f'<div class="cards">{small}</div>' + "".join(large)


def _metric_card(title: str, rows: list[MetricRow]) -> str:
    with_ci = any(row.ci_low is not None or row.ci_high is not None for row in rows)
    body, seen = [], {""}
    for row in rows:
        info = describe(_key(row))
        definition = f'<div class="def">{h.esc(info.definition)}</div>' if info.definition not in seen else ""
        seen.add(info.definition)
        ci = f'<td class="num">{h.esc(_ci_text(row))}</td>' if with_ci else ""
        body.append(f'<tr><td title="{h.esc(info.definition)}">{h.esc(row.name)} <span class="dir">{info.direction}'
                    f'</span>{definition}</td><td class="num">{h.esc(h.fmt_number(row.value))}</td>{ci}</tr>')
    head = '<th class="num">95 % CI</th>' if with_ci else ""
    return (f'<div class="card"><h3>{h.esc(title)}</h3><table class="data metrics"><thead><tr><th>metric</th>'
            f'<th class="num">value</th>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>')


def effect_heatmaps(run: RunFolder) -> tuple[str, str, str]:
    main = [_heatmap(run, n, a) for n, a in run.effects.items() if _expected(run, "effect", n)]
    more = [_heatmap(run, n, a) for n, a in run.effects.items() if not _expected(run, "effect", n)]
    body = f'<div class="figures">{"".join(main)}</div>'
    if more:
        body += h.details(f"{len(more)} more effect matrices", f'<div class="figures">{"".join(more)}</div>')
    return "effects", "Intervention effects", body


def _heatmap(run: RunFolder, name: str, artifact: Artifact) -> str:
    from causalvae.report import plots

    if not artifact.ok:
        return notice(run, artifact)
    matrix = artifact.value
    if 0 in matrix.shape:
        return h.note(f"{rel(run, artifact)} holds no effects (shape {matrix.shape}).")
    known = run.registry.spec("effect", name)
    title, meaning = (known.title, known.caption) if known else (name, f"Effects stored in {rel(run, artifact)}")
    matrix, quiet = _mask_quiet_units(run, matrix) if name == "factor_unit" else (matrix, 0)
    caption = (f"{meaning}. Intervention {matrix.intervention}, statistic {matrix.statistic}, n = {matrix.n_samples}"
               + ("" if matrix.seed is None else f", seed {matrix.seed}") + f" ({rel(run, artifact)}).")
    if quiet:
        caption += (f" {quiet} units classed {' or '.join(QUIET_CLASSES)} (no response on the data to speak of; "
                    "their normalised responses are noise) are left out, so they cannot set the colour scale.")
    if matrix.values.size > MAX_DRAWN_CELLS:
        return h.note(f"{title}: {matrix.shape[0]} × {matrix.shape[1]} effects, too many to draw legibly; "
                      f"open {rel(run, artifact)} (or its .csv).")
    png = plots.figure_png(plots.effect_heatmap(matrix, title=title), dpi=90 if known and known.expected else 60)
    return h.figure(h.image(png, mime="image/png", alt=f"heatmap of {name}"), caption)


def _mask_quiet_units(run: RunFolder, matrix):
    """The matrix without the columns of silent / dead units (per ``unit_classes``), and their count."""
    classes = run.table("unit_classes")
    if classes is None or not {"unit", "class"} <= set(classes.columns):
        return matrix, 0
    quiet = set(classes.loc[classes["class"].isin(QUIET_CLASSES), "unit"].astype(str))
    kept = [t for t in matrix.targets if t not in quiet]
    if not kept or len(kept) == len(matrix.targets):
        return matrix, 0
    return matrix.select(targets=kept), len(matrix.targets) - len(kept)


def result_tables(run: RunFolder) -> tuple[str, str, str]:
    shown = {n: a for n, a in run.tables.items() if n not in SHOWN_ELSEWHERE}
    main = [_table(run, n, a) for n, a in shown.items() if _expected(run, "table", n)]
    more = [h.details(_table_title(run, n), _table(run, n, a, heading=False)) for n, a in shown.items()
            if not _expected(run, "table", n)]
    return "tables", "Read-outs, units, motifs and mediation", "".join(main + more)


def _table(run: RunFolder, name: str, artifact: Artifact, *, heading: bool = True) -> str:
    parts = [f"<h3>{h.esc(_table_title(run, name))}</h3>"] if heading else []
    known = run.registry.spec("table", name)
    if not artifact.ok:
        parts.append(notice(run, artifact))
    elif artifact.value.empty:
        parts.append(h.note(f"{rel(run, artifact)} has no rows."))
    else:
        frame, caption = artifact.value, known.caption if known else f"From {rel(run, artifact)}."
        sort_by = [c for c in (known.sort_by if known else ()) if c in frame.columns]
        if sort_by:
            frame = frame.sort_values(sort_by, kind="stable", na_position="last")
            caption += f" Rows sorted by {', '.join(sort_by)} (ascending)."
        parts.append(h.note(caption) + h.frame_table(frame, max_rows=MAX_TABLE_ROWS, source=rel(run, artifact)))
    return "".join(parts)


def _expected(run: RunFolder, kind: str, name: str) -> bool:
    """Whether the registry lists artifact ``name`` of ``kind`` as one its stage must write."""
    known = run.registry.spec(kind, name)
    return known is not None and known.expected


def _table_title(run: RunFolder, name: str) -> str:
    known = run.registry.spec("table", name)
    return known.title if known else name.replace("_", " ")


def stages(run: RunFolder) -> tuple[str, str, str]:
    """Every stage in run order: its recorded state and time, and whether its registered outputs are there."""
    states = _stage_states(run)
    recorded = run.status.value if run.status.ok else {}
    rows = []
    for stage in _in_run_order(run, list(states)):
        record = recorded.get(stage, {})
        record = record if isinstance(record, Mapping) else {"state": record}
        artifacts = run.stages.get(stage, [])
        broken = [a for a in artifacts if not a.ok]
        outputs = ("; ".join(f"{rel(run, a)}: {a.problem}" for a in broken) if broken
                   else f"{len(artifacts)} of {len(artifacts)} present" if artifacts else "—")
        seconds = record.get("seconds")
        state = states[stage] if states[stage] in ("done", "failed", "skipped") else "partial"
        rows.append(f'<tr class="{h.esc(state)}"><td>{h.esc(stage)}</td><td>{h.esc(record.get("state", "not recorded"))}'
                    f'</td><td class="num">{h.esc("" if seconds is None else h.fmt_number(seconds) + " s")}</td>'
                    f"<td>{h.esc(outputs)}</td><td>{h.esc(record.get('error') or record.get('reason') or '')}</td></tr>")
    table = ('<div class="scroll"><table class="data stages"><thead><tr><th>stage</th><th>state</th>'
             '<th class="num">time</th><th>registered outputs</th><th>message</th></tr></thead>'
             f'<tbody>{"".join(rows)}</tbody></table></div>')
    status = "" if run.status.ok else notice(run, run.status)
    return "stages", "Pipeline stages", status + _stage_line(run) + table


def _in_run_order(run: RunFolder, names: list[str]) -> list[str]:
    """``names`` in the order the log starts them (lines like ``[12:00:01] > train ...``); the rest last."""
    if not run.log.ok:
        return names

    def first_mention(stage: str) -> float:
        found = re.search(rf"^(?:\[[^\]]*\] )?[>x-] {re.escape(stage)}\b", run.log.value, re.M)
        return found.start() if found else math.inf

    return sorted(names, key=first_mention)


def settings(run: RunFolder) -> tuple[str, str, str]:
    if not run.config.ok:
        return "settings", "Exact settings", notice(run, run.config)
    rows = _flatten(run.config.value)
    table = h.table(["setting", "value"], rows, numeric=[False, False], css_class="data settings")
    raw = h.details("config.json as written", h.preformatted(json.dumps(run.config.value, indent=2, default=str)))
    return "settings", "Exact settings", table + raw


def other_graphs(run: RunFolder) -> tuple[str, str, str]:
    parts = []
    for name, artifact in run.graphs.items():
        title = run.registry.spec("graph", name).title
        if not artifact.ok:
            content = notice(run, artifact)
        elif artifact.value is None:
            content = h.note(artifact.note or f"{rel(run, artifact)} is not drawn.")
        elif len(artifact.value) > MAX_INLINE_SVG_BYTES:
            content = h.note(f"{rel(run, artifact)} ({len(artifact.value) / 1e6:.1f} MB) is too large to inline; "
                             "open it directly.")
        else:
            content = f'<div class="drawing-box tall">{inline_svg(artifact.value, prefix=name, label=title)}</div>'
        parts.append(h.details(title, content))
    return "network", "Network graphs", "".join(parts)


def log_tail(run: RunFolder) -> tuple[str, str, str]:
    if not run.log.ok:
        return "log", "Log", notice(run, run.log)
    lines = run.log.value.splitlines()
    shown = lines[-LOG_TAIL_LINES:]
    return "log", "Log", h.details(f"last {len(shown)} of {len(lines)} lines of {rel(run, run.log)}",
                                   h.preformatted("\n".join(shown)))


SECTIONS: tuple[SectionFn, ...] = (summary, model, alignment, circuits, effect_heatmaps, result_tables, metrics,
                                   stages, settings, other_graphs, log_tail)


def _key(row: MetricRow) -> str:
    return f"{row.group}.{row.name}" if row.group else row.name


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
