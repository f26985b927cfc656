"""The model section: training curve, reconstructions and latent traversals."""

from __future__ import annotations

from causalvae.report import markup as h
from causalvae.report.notices import notice, rel
from causalvae.report.run_folder import RunFolder


def model(run: RunFolder) -> tuple[str, str, str] | None:
    parts = [_training(run)]
    for name, artifact in run.figures.items():
        figure = run.registry.spec("figure", name)
        if artifact.ok:
            parts.append(h.figure(h.image(artifact.value, mime="image/png", alt=figure.title,
                                          css_class=f"plot {name}"), f"{figure.title}. {figure.caption}"))
        else:
            parts.append(notice(run, artifact))
    if not any(parts):
        return None
    return "model", "Training, reconstructions and traversals", f'<div class="figures">{"".join(parts)}</div>'


def _training(run: RunFolder) -> str:
    from causalvae.report.plots import figure_png
    from causalvae.report.run_plots import training_curve

    if not run.training.ok:
        if run.training.problem == "missing":  # a run from a given checkpoint trains nothing
            return h.note(f"No training log ({rel(run, run.training)}): the model was loaded, not trained here.")
        return notice(run, run.training)
    records = run.training.value
    png = figure_png(training_curve(records), dpi=80)
    return h.figure(h.image(png, mime="image/png", alt="training curve"),
                    f"Training: loss terms per step over {len(records)} steps (faint: per batch; bold: running mean) "
                    f"from {rel(run, run.training)}.")
