"""The run-folder contract: every artifact a run writes, the stage that computes it, and its caption.

One registry, read by the pipeline's ``export`` stage (which refuses to write an artifact that is not
listed here) and by the report (which reads what is listed and says which stage failed when an
expected file is missing), so the two cannot drift apart.  Names are the keys of
``RunContext.effects`` / ``graphs`` / ``tables``; a name ending in ``*`` is a family
(``circuit_*``: one graph per factor and part).  Stages are the names of ``status.json``.

>>> spec("table", "alignment_iia").stage
'alignment'
>>> spec("graph", "circuit_posX_encoder").path
'graphs/circuit_posX_encoder'
>>> spec("table", "assignments") is None
True
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

#: Where each kind of artifact lives in a run folder, and its file suffixes.
FOLDERS = {"effect": ("effects", (".npz", ".csv")), "graph": ("graphs", (".graphml", ".dot", ".json", ".svg")),
           "table": ("tables", (".csv",)), "figure": ("figures", (".png",))}


@dataclass(frozen=True)
class ArtifactSpec:
    """One artifact (or family ``name*``) of a run folder.

    ``expected``: a run whose stage finished must have written it (its absence marks the stage as
    incomplete in the report); ``sort_by``: table columns to sort rows by, most important first.
    """

    kind: str
    name: str
    stage: str
    title: str
    caption: str = ""
    expected: bool = False
    sort_by: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        """Path inside the run folder, without suffix."""
        return f"{FOLDERS[self.kind][0]}/{self.name}"

    def matches(self, name: str) -> bool:
        return fnmatch.fnmatchcase(name, self.name)


def _e(name, stage, title, caption, expected=False):
    return ArtifactSpec("effect", name, stage, title, caption, expected)


def _g(name, stage, title, caption="", expected=False):
    return ArtifactSpec("graph", name, stage, title, caption, expected)


def _t(name, stage, title, caption, expected=False, sort_by=()):
    return ArtifactSpec("table", name, stage, title, caption, expected, tuple(sort_by))


REGISTRY: tuple[ArtifactSpec, ...] = (
    # effect matrices (effects/<name>.npz and .csv)
    _e("factor_latent", "input_manipulation", "factor × latent",
       "Response of each latent mean to a change of one factor of the input", True),
    _e("factor_unit", "input_manipulation", "factor × unit",
       "Response of each encoder unit to a change of one factor of the input", True),
    _e("latent_readout", "readouts", "latent → read-out factor",
       "Effect of do(z_i = c) on the factors read out from the reconstruction", True),
    _e("latent_decoder", "latent_perturbation", "latent → decoder unit",
       "Change of each decoder unit under do(z_i = c)"),
    _e("latent_decoder_signed", "latent_perturbation", "latent → decoder unit (signed)",
       "Signed change of each decoder unit under do(z_i = c)"),
    _e("ces_per_latent", "latent_perturbation", "causal effect strength per latent",
       "E‖D(z) − D(z̃_i)‖₂ for each latent i"),
    _e("unit_latent", "unit_ablation", "unit → latent", "Effect of mean-ablating each encoder unit on the latent means"),
    _e("unit_edges", "unit_ablation", "unit → unit (encoder)",
       "Mean-ablation effect of each encoder unit on the units of the next site"),
    _e("decoder_edges", "unit_ablation", "latent → decoder unit → decoder unit",
       "Mean-ablation effect of each latent and decoder unit on the units of the next site"),
    _e("decoder_readout", "readout_ablation", "decoder unit → read-out factor",
       "Mean-ablation effect of each last-layer decoder unit on the factors read out from the decoded output"),
    # graphs (graphs/<name>.graphml, .dot, .json and, when small enough, .svg)
    _g("factor_true", "data", "True factor DAG", expected=True),
    _g("computational", "graph", "Computational graph (torch.fx)", expected=True),
    _g("unit", "unit_graph", "Unit-level causal graph", expected=True),
    _g("aligned", "alignment", "Factor graph implemented by the network (aligned)", expected=True),
    _g("factor_learned", "alignment", "Factor DAG learned from the data (pgmpy PC)"),
    _g("circuit_*", "circuits", "Circuit", "Encoder or decoder circuit of one factor"),
    # tables (tables/<name>.csv)
    _t("latent_kl", "diagnostics", "KL per latent",
       "KL divergence of each latent's posterior from the prior (nats); below 0.01 the latent is collapsed."),
    _t("latent_code_entropy", "diagnostics", "Code entropy per position (VQ-VAE)",
       "Entropy of each position's code over the analysis inputs (nats); below 0.01 the position is unused."),
    _t("readout_scores", "readouts", "Factor read-outs",
       "Held-out score of each factor's read-out from an image (R² or accuracy against the majority "
       "baseline) and its leakage onto other factors; 'weak' read-outs define no behaviour.", True),
    _t("alignment_iia", "alignment", "Interchange-intervention accuracy per hypothesis",
       "Strict and graded IIA of each alignment under each high-level hypothesis, trained network and "
       "random-init control, with bootstrap 95 % CIs (held-out pairs).", True),
    _t("alignment_readouts", "alignment", "Read-out tolerances of the alignment",
       "Tolerance within which a read-out counts as matching the hypothesis' counterfactual."),
    _t("alignment_total_effects", "alignment", "Total effects of interchanges",
       "Mean change of read-out j (column) when factor k's representation (row) is swapped."),
    _t("alignment_direct_effects", "alignment", "Direct effects of interchanges",
       "As the total effects, with the other aligned blocks clamped to the base input."),
    _t("mediation", "mediation", "Mediation",
       "Total, natural direct and natural indirect effects of each factor through each mediator.", True,
       ("q_value", "p_value")),
    _t("circuits", "circuits", "Circuits",
       "Per factor and part: size, measured faithfulness, same-size random baseline and largest overlap "
       "(Jaccard) with another factor's circuit.", True),
    _t("circuit_curves", "circuits", "Faithfulness against circuit size",
       "Faithfulness of each prefix of the circuit's unit ranking (the curve behind CPR)."),
    _t("unit_graph_blocks", "unit_graph", "Unit-graph density per block",
       "Kept edges over tested unit pairs for each (source site, target site) block; a density near 1 "
       "would be the network's wiring, not its effects.", sort_by=("density",)),
    _t("motifs", "motifs_and_classes", "Circuit motifs",
       "Motif counts per layer against a degree-preserving null model.", True),
    _t("unit_classes", "motifs_and_classes", "Unit classes", "Class of every unit from its factor responses."),
    _t("unit_class_fractions", "motifs_and_classes", "Unit classes per layer",
       "Fractions of silent / dead / monosemantic / polysemantic / diffuse units per layer.", True),
    # figures (figures/<name>.png), written by the stage itself
    ArtifactSpec("figure", "traversals", "diagnostics", "Latent traversals",
                 "Each row decodes a sweep of one latent while the others stay fixed (rows sorted by KL)."),
    ArtifactSpec("figure", "reconstructions", "diagnostics", "Reconstructions",
                 "Analysis inputs (top) and their reconstructions from z = μ (bottom)."),
)


def spec(kind: str, name: str) -> ArtifactSpec | None:
    """The registry entry of artifact ``name`` of ``kind`` (a family entry named after it), or None."""
    if kind not in FOLDERS:
        raise ValueError(f"kind must be one of {sorted(FOLDERS)}, got {kind!r}")
    found = next((s for s in REGISTRY if s.kind == kind and s.matches(name)), None)
    return found if found is None or found.name == name else replace(found, name=name)


def of_kind(kind: str) -> dict[str, ArtifactSpec]:
    """Registry entries of one kind, by name, in registry order (families included)."""
    return {s.name: s for s in REGISTRY if s.kind == kind}


def check_registered(produced: Mapping[str, Iterable[str]]) -> None:
    """Raise if a stage produced an artifact the registry does not list.

    ``produced`` maps a kind to the names produced (e.g. ``{"table": ctx.tables}``).

    >>> check_registered({"table": ["circuits"], "graph": ["circuit_a_encoder"]})
    >>> check_registered({"table": ["assignments"]})
    Traceback (most recent call last):
    ...
    ValueError: table 'assignments' is not in the run-folder registry (causalvae/report/artifacts.py): add it there with its stage and caption
    """
    for kind, names in produced.items():
        for name in names:
            if spec(kind, name) is None:
                raise ValueError(f"{kind} {name!r} is not in the run-folder registry (causalvae/report/artifacts.py): "
                                 "add it there with its stage and caption")


def unproduced(produced: Mapping[str, Iterable[str]], done_stages: Iterable[str]) -> list[ArtifactSpec]:
    """Expected artifacts of finished stages that were not produced (registry entries that drifted).

    >>> [s.name for s in unproduced({"effect": ["factor_latent"]}, ["input_manipulation"])]
    ['factor_unit']
    """
    done = set(done_stages)
    names = {kind: set(values) for kind, values in produced.items()}
    return [s for s in REGISTRY if s.expected and s.stage in done and s.kind in names
            and not any(s.matches(n) for n in names[s.kind])]
