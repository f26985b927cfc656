"""The circuits section: per factor and part the minimal circuit drawn at a readable size (collapsed per
site when large) with its faithfulness, same-size random baseline and overlap; the faithfulness-vs-size
curves next to the drawings; circuits not found with the reason."""

from __future__ import annotations

import math

from causalvae.report import markup as h
from causalvae.report.graph_drawing import MAX_UNIT_NODES, circuit_drawing, inline_svg
from causalvae.report.notices import notice, recorded_failure
from causalvae.report.run_folder import RunFolder

TITLE = "Circuits per factor"
SUMMARY_COLUMNS = ("factor", "part", "status", "size", "n_units", "faithfulness", "random_mean", "random_sd",
                   "overlap", "overlap_with")


def circuits(run: RunFolder) -> tuple[str, str, str]:
    table = run.table("circuits")
    if table is None and not run.circuits:
        artifact = run.tables.get("circuits")
        detail = notice(run, artifact) if artifact is not None else h.stage_notice(
            "circuits", "no tables/circuits.csv or graphs/circuit_*.graphml found" + recorded_failure(run, "circuits"))
        return "circuits", TITLE, detail
    intro = h.note("A factor's encoder circuit carries the factor's change of its input to its aligned latents; its "
                   "decoder circuit carries the aligned latents' change to the factor's read-out of the decoded "
                   "image. Each is the smallest prefix of units, ranked by interchange patching, whose measured "
                   "faithfulness reaches the target when every other unit is mean-ablated; it counts as found only "
                   "when it beats random circuits of the same size per site. "
                   f"Circuits of more than {MAX_UNIT_NODES} nodes are drawn collapsed per site (hover a node for "
                   "its units, an edge for its summed effect).")
    parts = [intro, _summary(table) if table is not None else "", _curves(run, table)]
    panels = [_panel(run, name, run.circuits[name], table) for name in _in_table_order(run.circuits, table)]
    parts.append(f'<div class="grid circuits">{"".join(panels)}</div>')
    return "circuits", TITLE, "".join(parts)


def _summary(table) -> str:
    shown = table[[c for c in SUMMARY_COLUMNS if c in table.columns]]
    caption = ("faithfulness ↑ (behaviour kept with only the circuit: 1 = all; above 1 is possible), random_mean ↓ "
               "(same-size random circuits, mean ± sd), overlap = largest Jaccard overlap with another factor's "
               "circuit of the same part (1 = the same units: not factor-specific).")
    return h.note(caption) + h.frame_table(shown)


def _curves(run: RunFolder, table) -> str:
    from causalvae.report.plots import figure_png
    from causalvae.report.run_plots import faithfulness_curves

    curves = run.table("circuit_curves")
    if curves is None or curves.empty:
        return ""
    png = figure_png(faithfulness_curves(curves, table), dpi=90)
    return h.figure(h.image(png, mime="image/png", alt="faithfulness against circuit size"),
                    "Faithfulness of each prefix of the unit ranking against its size (share of candidate units); "
                    "dots: the circuits found, crosses: their same-size random baselines; dotted line: target 0.8.")


def _panel(run: RunFolder, name: str, artifact, table) -> str:
    factor, _, part = name.rpartition("_")
    heading = f"{factor} · {part}" if factor else name
    if not artifact.ok:
        return f'<div class="panel"><h3>{h.esc(heading)}</h3>{notice(run, artifact)}</div>'
    G = artifact.value
    row = _row(table, factor, part)
    status = str(row["status"]) if row is not None else str(G.graph.get("status", ""))
    if status != "found":
        reason = str(row["reason"]) if row is not None and isinstance(row["reason"], str) else G.graph.get("reason", "")
        return (f'<div class="panel not-found"><h3>{h.esc(heading)}</h3>'
                f'<p class="missing">not found: {h.esc(reason or "no reason recorded")}</p></div>')
    svg, collapsed = circuit_drawing(G)
    facts = _facts(row, G) + (" · drawn per site" if collapsed else "")
    drawing = inline_svg(svg, prefix=f"circuit-{_slug(name)}", label=f"circuit of {heading}")
    return (f'<div class="panel"><h3>{h.esc(heading)}</h3><p class="facts">{h.esc(facts)}</p>'
            f'<div class="drawing-box">{drawing}</div></div>')


def _in_table_order(names, table) -> list[str]:
    """Circuit names (``<factor>_<part>``) in the circuit table's row order (factor by factor), the rest after."""
    order = [] if table is None or not {"factor", "part"} <= set(table.columns) else \
        [f"{f}_{p}" for f, p in zip(table["factor"].astype(str), table["part"].astype(str))]
    return sorted(names, key=lambda n: (order.index(n) if n in order else len(order), n))


def _row(table, factor: str, part: str):
    if table is None or not {"factor", "part"} <= set(table.columns):
        return None
    rows = table[(table["factor"].astype(str) == factor) & (table["part"].astype(str) == part)]
    return None if rows.empty else rows.iloc[0]


def _facts(row, G) -> str:
    get = (lambda key: row[key]) if row is not None else (lambda key: G.graph.get(key, math.nan))
    facts = [f"{h.fmt_number(get('size'))} units" + (f" of {h.fmt_number(row['n_units'])}" if row is not None else ""),
             f"faithfulness {h.fmt_number(get('faithfulness'))}",
             f"random {h.fmt_number(get('random_mean'))}" + (f" ± {h.fmt_number(row['random_sd'])}"
                                                               if row is not None else "")]
    if row is not None and isinstance(row.get("overlap_with"), str) and row["overlap_with"]:
        facts.append(f"overlap {h.fmt_number(row['overlap'])} with {row['overlap_with']}")
    return " · ".join(facts)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name)
