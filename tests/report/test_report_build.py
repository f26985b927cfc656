"""build_report: every section from a complete run folder; clear notices for missing or broken stages."""

import base64
import json
import os
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from causalvae.effects import EffectMatrix
from causalvae.report import build_report
from causalvae.report import build as build_module
from causalvae.report.run_folder import PNG_SIGNATURE

from report_run_folder import ARTIFACTS, HOSTILE, SILENT_UNITS, STATUS, TABLES

SECTION_IDS = ["summary", "model", "alignment", "circuits", "effects", "tables", "metrics", "stages", "settings",
               "network", "log"]
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class StrictHTML(HTMLParser):
    """Collects tags, attributes and text; records any mis-nested or unclosed element."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.tags, self.text = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)

    def parsed(self, page: str) -> "StrictHTML":
        self.feed(page)
        self.close()
        if self.stack:
            self.errors.append(f"unclosed {self.stack}")
        return self

    def ids(self):
        return [attrs["id"] for _, attrs in self.tags if "id" in attrs]

    def images(self):
        return [attrs for tag, attrs in self.tags if tag == "img"]

    def drawings(self):
        return [attrs for tag, attrs in self.tags if tag == "svg"]

    def plain_text(self):
        return " ".join(" ".join(self.text).split())


def parse(path: Path) -> StrictHTML:
    return StrictHTML().parsed(path.read_text(encoding="utf-8"))


def decoded(img) -> bytes:
    header, payload = img["src"].split(",", 1)
    assert header == "data:image/png;base64", header
    return base64.b64decode(payload, validate=True)


@pytest.fixture(scope="module")
def complete_report(complete_run, tmp_path_factory):
    run = Path(shutil.copytree(complete_run, tmp_path_factory.mktemp("built") / "run"))
    return build_report(run, ARTIFACTS)


def section_text(path: Path, anchor: str) -> str:
    html = path.read_text(encoding="utf-8")
    start = html.index(f'<section id="{anchor}">')
    return StrictHTML().parsed(html[start:html.index("</section>", start) + 10]).plain_text()


def test_report_is_written_into_the_run_folder_as_valid_html(complete_report):
    assert complete_report.name == "report.html" and complete_report.parent.name == "run"
    page = parse(complete_report)
    assert page.errors == []
    assert [i for i in page.ids() if i in SECTION_IDS] == SECTION_IDS
    assert len(page.ids()) == len(set(page.ids()))  # inline drawings' ids are prefixed, never shared
    assert not page.plain_text().count("failed or was skipped")


def test_figures_are_inline_pngs_and_graphs_inline_svgs_with_their_tooltips(complete_report):
    page = parse(complete_report)
    images = page.images()
    # training curve, traversals, reconstructions, faithfulness curves, 3 expected heatmaps + 1 more
    assert len(images) == 8 and all(decoded(img)[:8] == PNG_SIGNATURE for img in images)
    assert all(img.get("alt") for img in images)
    labels = [d.get("aria-label") for d in page.drawings()]
    # the overlay, two circuits found (the third was not), computational, unit and learned graphs
    assert labels == ["aligned graph over true DAG", "circuit of shape · encoder", "circuit of scale · encoder",
                      "Computational graph (torch.fx)", "Unit-level causal graph",
                      "Factor DAG learned from the data (pgmpy PC)"]
    titles = [tag for tag, _ in page.tags].count("title")
    assert titles > 20  # Graphviz's per-node and per-edge <title>s (tooltips) are kept
    assert "extra: pos_x → orientation (found, not in the true DAG); effect 0.5" in complete_report.read_text()


def test_report_makes_no_external_requests_and_runs_no_script(complete_report):
    text = complete_report.read_text(encoding="utf-8")
    page = parse(complete_report)
    assert {tag for tag, _ in page.tags}.isdisjoint({"script", "link", "iframe", "object", "embed", "base",
                                                    "foreignobject"})
    for tag, attrs in page.tags:
        for name in ("src", "href", "xlink:href", "srcset", "action", "poster", "data"):
            if name in attrs:
                assert attrs[name].startswith(("data:", "#")), f"<{tag} {name}={attrs[name][:60]!r}>"
        assert not any(name.startswith("on") for name in attrs), f"event handler on <{tag}>"
    style = text[text.index("<style>"):text.index("</style>")]
    assert "url(" not in style and "@import" not in style and "http" not in style


def test_everything_from_files_is_escaped(complete_report):
    text = complete_report.read_text(encoding="utf-8")
    assert "<script" not in text
    assert text.count("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;") >= 4  # metric, config, table, log
    assert HOSTILE in parse(complete_report).plain_text()


def test_summary_warns_and_shows_headline_numbers_with_direction(complete_report):
    text = section_text(complete_report, "summary")
    for warning in ("The model is barely disentangled: DCI disentanglement (random-forest) 0.042 (< 0.1), MIG 0.1234.",
                    "1 of 6 latents are collapsed (KL < 0.01 nats from the prior): latent.mu[5].",
                    "Weak read-out of 1 of 4 factors: orientation (r2 0.002, baseline 0).",
                    "1 of 3 circuits were not found (pos_x/decoder)"):
        assert warning in text
    assert "All 13 recorded stages finished" in text
    assert ("SHD (aligned vs true DAG) ↓ 3 active latents ↑ 5 reconstruction MSE ↓ 0.004 CES (paper) · 3.99 "
            "[3.5, 4.4] DCI disentanglement (RF) ↑ 0.042 [0.03, 0.05] MIG ↑ 0.1234 [0.1, 0.15]") in text


def test_metric_cards_give_direction_and_definition_and_a_ci_column_only_where_there_are_cis(complete_report):
    text = section_text(complete_report, "metrics")
    assert ("disentanglement metric value 95 % CI dci.random-forest.disentanglement ↑ DCI disentanglement: how "
            "much each latent captures one factor (importance-weighted 1 − entropy). 0.042 [0.03, 0.05]") in text
    assert "recon metric value mse ↓ Mean squared reconstruction error per element (analysis inputs). 0.004" in text
    assert "unit_class metric value dead · Share of encoder units of this class" in text  # no CI column here
    assert text.count("95 % CI") == 3  # alignment, ces and disentanglement have CIs


def test_alignment_section_draws_one_layout_with_a_legend_and_the_controls(complete_report):
    text = section_text(complete_report, "alignment")
    assert ("SHD ↓ = 3, aligned factor graph (direct interchange effects) vs true factor DAG · edge precision 0.3333 "
            "· edge recall 0.3333") in text
    assert "SHD ↓ = 1, factor DAG learned from the data (PC) vs true factor DAG" in text
    for expected in ("C · correct (1): shape → scale", "R · reversed (1): orientation → scale",
                     "E · extra (1): pos_x → orientation", "M · missing (1): shape → pos_x"):
        assert expected in text
    assert ("hypothesis coordinates random subspace (control) no swap (control) coordinates, random-init net "
            "(control) G = ∅ (independent factors) 0.62 [0.57, 0.66] 0.3 [0.25, 0.34] 0.4 [0.35, 0.44] "
            "0.12 [0.07, 0.16] G = true DAG, its 3 checkable edges of 4 0.91 [0.86, 0.95]") in text
    assert "G* (best-scoring hypothesis) — coordinates: 3 edges" in text
    assert "assignments" not in complete_report.read_text()  # the old alignment's table is gone


def test_circuits_section_draws_small_circuits_per_unit_large_ones_per_site_and_says_why_one_is_missing(
        complete_report):
    text = section_text(complete_report, "circuits")
    assert "shape · encoder 6 units of 64 · faithfulness 0.85 · random 0.05 ± 0.01 · overlap 0.1 with scale" in text
    assert "scale · encoder 60 units of 64 · faithfulness 0.85 · random 0.05 ± 0.01 · overlap 0.1 with scale · " \
           "drawn per site" in text
    assert "pos_x · decoder not found: read-out too weak: held-out score 0.002 < 0.1" in text
    assert "encoder.conv1 30 units" in text and "encoder.conv1[2]" in text  # site node, unit node


def test_factor_unit_heatmap_leaves_silent_units_out_of_the_colour_scale(complete_report):
    from causalvae.report.run_folder import read_run_folder
    from causalvae.report.sections import _mask_quiet_units

    run = read_run_folder(complete_report.parent, ARTIFACTS)
    classes = TABLES["unit_classes"]
    quiet = set(classes.loc[classes["class"].isin(["silent", "dead"]), "unit"])
    full = run.effects["factor_unit"].value
    masked, n_quiet = _mask_quiet_units(run, full)
    assert n_quiet == len(quiet & set(full.targets)) and set(SILENT_UNITS) <= quiet
    assert full.values.max() == 50.0 and masked.values.max() < 1.1  # the planted outliers are gone
    assert f"{n_quiet} units classed silent or dead" in section_text(complete_report, "effects")


def test_report_shows_tables_settings_and_log(complete_report):
    text = parse(complete_report).plain_text()
    for name in ("mediation", "motifs", "unit_class_fractions", "readout_scores", "unit_classes"):
        assert " ".join(map(str, TABLES[name].columns)) in text
    assert ("Rows sorted by q_value (ascending). treatment mediator te nie nde q_value "
            "factor.shape latent.mu[0] 0.91 0.83 0.08 0.001 factor.scale latent.mu[1] 0.42 0.4 0.02 0.04") in text
    assert "Showing the first 20 of 70 rows; the full table is tables/unit_classes.csv." in text
    assert "lr 0.0005" in text and "versions.torch 2.13.0" in text and "timings.train_s 41.2" in text
    assert "causalvae report — causal-sprites · beta-vae" in text
    assert "[12:00:01] > train ... [12:00:01] train: done" in text
    assert "Training: loss terms per step over 300 steps" in text


def test_rebuilding_gives_the_same_page(complete_report):
    first = complete_report.read_bytes()
    assert build_report(complete_report.parent, ARTIFACTS).read_bytes() == first


MISSING = {  # file(s) removed -> (stage, notice detail)
    "metrics.json": ("export", "metrics.json is missing"),
    "effects/factor_unit.npz": ("input_manipulation", "effects/factor_unit.npz is missing"),
    "graphs/aligned.graphml": ("alignment", "graphs/aligned.graphml is missing"),
    "tables/mediation.csv": ("mediation", "tables/mediation.csv is missing"),
    "graphs/unit.svg graphs/unit.dot": ("unit_graph", "graphs/unit.svg is missing"),
}


def test_missing_stages_are_named_and_the_rest_still_builds(run_copy):
    for names in MISSING:
        for name in names.split():
            (run_copy / name).unlink()
    page = parse(build_report(run_copy, ARTIFACTS))
    text = page.plain_text()
    assert page.errors == []
    for stage, detail in MISSING.values():
        assert f"Stage {stage} failed or was skipped: {detail}" in text
    assert f"{len(MISSING)} of 13 stages failed, were skipped or lack outputs" in text
    assert "causal-sprites" in text
    assert len(page.images()) == 8 - 1  # the factor_unit heatmap is gone
    assert "aligned graph over true DAG" not in [d.get("aria-label") for d in page.drawings()]


def test_one_missing_output_marks_its_stage_as_partial(run_copy):
    (run_copy / "effects" / "factor_unit.npz").unlink()
    text = section_text(build_report(run_copy, ARTIFACTS), "stages")
    assert "1 of 13 stages failed, were skipped or lack outputs — input_manipulation: outputs missing or unreadable " \
           "(1 of 2)." in text
    assert "input_manipulation done 3.5 s effects/factor_unit.npz: missing" in text


def test_the_pipeline_status_names_failed_and_skipped_stages_with_their_messages(run_copy):
    status = json.loads((run_copy / "status.json").read_text())
    status["input_manipulation"] = {"state": "failed", "seconds": 0.5, "error": "RuntimeError: <boom>"}
    status["alignment"] = {"state": "skipped", "reason": "needs input_manipulation"}
    (run_copy / "effects" / "factor_unit.npz").unlink()
    for path in [*run_copy.glob("graphs/circuit_*"), run_copy / "tables" / "circuits.csv"]:
        path.unlink()
    status["circuits"] = {"state": "failed", "error": "ValueError: no paths"}
    (run_copy / "status.json").write_text(json.dumps(dict(sorted(status.items()))))  # as write_json sorts keys
    report = build_report(run_copy, ARTIFACTS)
    text = parse(report).plain_text()
    stages = section_text(report, "stages")
    tokens = stages[stages.index("message"):].split()
    assert sorted(STATUS, key=tokens.index) == list(STATUS)  # rows in run order (from the log), not sorted
    assert ("Stage input_manipulation failed or was skipped: effects/factor_unit.npz is missing "
            "(pipeline: input_manipulation failed: RuntimeError: <boom>)") in text
    assert "tables/circuits.csv is missing (pipeline: circuits failed: ValueError: no paths)" in text
    assert "train done 41.2 s 1 of 1 present" in stages
    assert "input_manipulation failed 0.5 s" in stages and "RuntimeError: <boom>" in stages
    assert "alignment skipped" in stages and "needs input_manipulation" in stages
    assert ("3 of 13 stages failed, were skipped or lack outputs — alignment: skipped (needs input_manipulation); "
            "circuits: failed (ValueError: no paths); input_manipulation: failed (RuntimeError: <boom>).") in text


def test_an_empty_folder_still_builds_a_report_naming_every_expected_output(tmp_path):
    page = parse(build_report(tmp_path, ARTIFACTS))
    text = page.plain_text()
    assert page.errors == [] and page.images() == []
    summary = section_text(tmp_path / "report.html", "summary")
    for stage in ("export", "input_manipulation", "readouts", "alignment", "circuits", "mediation",
                  "motifs_and_classes", "graph", "unit_graph", "data"):
        assert f"{stage}: outputs missing or unreadable" in summary, stage
    assert "Stage input_manipulation failed or was skipped: effects/factor_latent.npz is missing" in text


BROKEN = {"metrics.json": b"{not json", "effects/factor_latent.npz": b"garbage",
          "graphs/aligned.graphml": b"<html>no graph</html>", "figures/traversals.png": b"GIF89a",
          "tables/motifs.csv": b"\xff\xfe\x00", "checkpoint/log.jsonl": b'{"loss": 1}\n'}


def test_broken_artifacts_are_reported_as_unreadable(run_copy):
    for name, content in BROKEN.items():
        (run_copy / name).write_bytes(content)
    page = parse(build_report(run_copy, ARTIFACTS))
    assert page.errors == []
    for name in BROKEN:
        assert f"{name} is unreadable:" in page.plain_text()


def test_empty_and_constant_effect_matrices_still_build(run_copy):
    EffectMatrix(np.ones((0, 3)), [], ["a", "b", "c"], intervention="i", statistic="s",
                 n_samples=0).save(run_copy / "effects" / "factor_latent.npz")
    EffectMatrix(np.zeros((2, 2)), ["a", "b"], ["c", "d"], intervention="i", statistic="s",
                 n_samples=4).save(run_copy / "effects" / "extra.npz")
    page = parse(build_report(run_copy, ARTIFACTS))
    assert "effects/factor_latent.npz holds no effects (shape (0, 3))." in page.plain_text()
    assert any(img["alt"] == "heatmap of extra" for img in page.images())


def test_a_graph_with_only_a_dot_file_is_rendered_from_it(run_copy):
    (run_copy / "graphs" / "computational.svg").unlink()
    labels = [d.get("aria-label") for d in parse(build_report(run_copy, ARTIFACTS)).drawings()]
    assert "Computational graph (torch.fx)" in labels


def test_a_large_graph_left_undrawn_by_the_pipeline_is_a_note_not_a_failure(run_copy):
    (run_copy / "graphs" / "unit.svg").unlink()
    dot = run_copy / "graphs" / "unit.dot"
    dot.write_text(dot.read_text().replace("}", "".join(f'  "n{i}" -> "n{i + 1}";\n' for i in range(10000)) + "}"))
    page = parse(build_report(run_copy, ARTIFACTS))
    text = page.plain_text()
    assert "unit is too large to draw as one picture" in text and "open graphs/unit.graphml" in text
    assert "failed or was skipped" not in text and "All 13 recorded stages finished" in text
    assert "Unit-level causal graph" not in [d.get("aria-label") for d in page.drawings()]


def test_graph_renderings_too_large_to_inline_are_named_instead(run_copy, monkeypatch):
    from causalvae.report import sections

    monkeypatch.setattr(sections, "MAX_INLINE_SVG_BYTES", 100)
    text = parse(build_report(run_copy, ARTIFACTS)).plain_text()
    assert "graphs/unit.svg (0.0 MB) is too large to inline; open it directly." in text


def test_output_is_atomic_a_failed_build_keeps_the_previous_report(run_copy, monkeypatch):
    previous = build_report(run_copy, ARTIFACTS).read_bytes()
    monkeypatch.setattr(build_module, "render_report", lambda run: "partial" + 1)  # TypeError mid-build
    with pytest.raises(TypeError):
        build_report(run_copy, ARTIFACTS)
    assert (run_copy / "report.html").read_bytes() == previous
    assert not list(run_copy.glob(".report.html.*"))


def test_output_path_can_be_chosen(complete_run, tmp_path):
    target = build_report(complete_run, ARTIFACTS, output=tmp_path / "elsewhere" / "r.html")
    assert target == tmp_path / "elsewhere" / "r.html" and target.read_text().startswith("<!DOCTYPE html>")


def test_bad_run_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_report(tmp_path / "nope", ARTIFACTS)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="expected a run folder"):
        build_report(tmp_path / "file", ARTIFACTS)


def test_files_of_stages_that_did_not_finish_are_withheld_and_the_summary_says_so(run_copy):
    # The folder of a run whose training failed, holding an earlier run's heatmaps, traversals and graphs.
    skipped = [s for s in (*STATUS, "latent_perturbation", "unit_ablation") if s not in ("data", "train")]
    status = {"data": {"state": "done", "seconds": 0.1},
              "train": {"state": "failed", "error": "FloatingPointError: nan"},
              **{s: {"state": "skipped", "reason": "needs train"} for s in skipped}}
    (run_copy / "status.json").write_text(json.dumps(status))
    page = parse(build_report(run_copy, ARTIFACTS))
    text = page.plain_text()
    assert [img["alt"] for img in page.images()] == []  # nothing of the earlier run is shown
    assert [d.get("aria-label") for d in page.drawings()] == []
    assert "recorded stages finished" not in text and "stages failed, were skipped or lack outputs" in text
    assert "effects/factor_latent.npz is present but not shown: its stage was skipped in this run" in text
    assert "train failed" in text and "FloatingPointError: nan" in text


def test_files_older_than_the_run_are_withheld_as_another_run_s(run_copy):
    claimed = (run_copy / "config.json").stat().st_mtime
    old = run_copy / "tables" / "mediation.csv"
    os.utime(old, (claimed - 3600, claimed - 3600))
    training = run_copy / "checkpoint" / "log.jsonl"  # kept on resume: never withheld for its age
    os.utime(training, (claimed - 3600, claimed - 3600))
    text = parse(build_report(run_copy, ARTIFACTS)).plain_text()
    assert ("tables/mediation.csv is present but not shown: written before this run began (older than "
            "config.json), so left by another run") in text
    assert "Training: loss terms per step over 300 steps" in text
