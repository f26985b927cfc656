"""build_report: every section from a complete run folder; clear notices for missing or broken stages."""

import base64
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from causalvae.effects import EffectMatrix
from causalvae.report import build_report
from causalvae.report import build as build_module
from causalvae.report.run_folder import PNG_SIGNATURE

from report_run_folder import CIRCUIT_FACTORS, HOSTILE, STATUS, TABLES

SECTION_IDS = ["stages", "metrics", "traversals", "effects", "alignment", "circuits", "tables", "settings",
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

    def plain_text(self):
        return " ".join(" ".join(self.text).split())


def parse(path: Path) -> StrictHTML:
    return StrictHTML().parsed(path.read_text(encoding="utf-8"))


def decoded(img) -> bytes:
    header, payload = img["src"].split(",", 1)
    assert header in ("data:image/png;base64", "data:image/svg+xml;base64"), header
    return base64.b64decode(payload, validate=True)


@pytest.fixture(scope="module")
def complete_report(complete_run, tmp_path_factory):
    run = Path(shutil.copytree(complete_run, tmp_path_factory.mktemp("built") / "run"))
    return build_report(run)


def test_report_is_written_into_the_run_folder_as_valid_html(complete_report):
    assert complete_report.name == "report.html" and complete_report.parent.name == "run"
    page = parse(complete_report)
    assert page.errors == []
    assert [i for i in page.ids() if i in SECTION_IDS] == SECTION_IDS
    assert not page.plain_text().count("failed or was skipped")


def test_every_image_is_inline_and_decodes(complete_report):
    images = parse(complete_report).images()
    kinds = [decoded(img)[:8] == PNG_SIGNATURE for img in images]
    # 1 traversal + 4 heatmaps are PNG; aligned, true, learned, 2 circuits, computational, unit graphs are SVG
    assert kinds.count(True) == 5 and kinds.count(False) == 5 + len(CIRCUIT_FACTORS)
    assert all(b"<svg" in decoded(img) for img, png in zip(images, kinds) if not png)
    assert all(img.get("alt") for img in images)


def test_report_makes_no_external_requests_and_runs_no_script(complete_report):
    text = complete_report.read_text(encoding="utf-8")
    page = parse(complete_report)
    assert {tag for tag, _ in page.tags}.isdisjoint({"script", "link", "iframe", "object", "embed", "base"})
    for tag, attrs in page.tags:
        for name in ("src", "href", "srcset", "action", "poster", "data"):
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


def test_report_shows_metrics_with_cis_and_the_shd_line(complete_report):
    text = parse(complete_report).plain_text()
    assert "dci_disentanglement 0.412 [0.35, 0.47]" in text
    assert "mig 0.1234 [0.1, 0.15]" in text
    assert ("SHD (aligned vs true DAG) 3 active latents 4 reconstruction MSE 21.75 CES (paper) 3.99 [3.5, 4.4] "
            "DCI disentanglement 0.412 [0.35, 0.47] MIG 0.1234 [0.1, 0.15] specificity (bounded) 0.31 "
            "circuit modularity 0.64 Structural Hamming") in text  # headline tiles, then the SHD lines
    assert "overall metric value 95 % CI n_active_latents 4" in text  # ungrouped metrics first
    assert "recon metric value 95 % CI mse 21.75" in text  # flat "recon.mse" grouped under recon
    assert "unit_class metric value 95 % CI dead —" in text  # null (undefined) metric
    aligned = ("Structural Hamming distance, aligned factor graph vs true factor DAG: SHD = 3 · "
               "edge precision 0.3333 · edge recall 0.3333")
    learned = ("Structural Hamming distance, factor DAG learned from the data vs true factor DAG: SHD = 1 · "
               "edge precision 1 · edge recall 0.6667")
    assert text.count(aligned + " " + learned) == 2  # in the headline and in the alignment section
    for expected in ("correct (1): shape → scale", "reversed (1): orientation → scale",
                     "missing (1): shape → pos_x", "extra (1): pos_x → orientation"):
        assert expected in text


def test_report_shows_tables_settings_and_log(complete_report):
    text = parse(complete_report).plain_text()
    for frame in TABLES.values():
        assert " ".join(map(str, frame.columns)) in text
    assert ("Rows sorted by q_value (ascending). treatment mediator te nie nde q_value "
            "factor.shape latent.mu[0] 0.91 0.83 0.08 0.001 factor.scale latent.mu[1] 0.42 0.4 0.02 0.04") in text
    assert "Showing the first 60 of 70 rows; the full table is tables/unit_classes.csv." in text
    assert "lr 0.0005" in text and "versions.torch 2.13.0" in text and "timings.train_s 41.2" in text
    assert "causalvae report — causal-sprites · beta-vae" in text
    assert "[12:00:01] > train ... [12:00:01] train: done" in text
    assert "All 13 stages wrote their outputs." in text


def test_rebuilding_gives_the_same_page(complete_report):
    first = complete_report.read_bytes()
    assert build_report(complete_report.parent).read_bytes() == first


MISSING = {  # file(s) removed -> (stage, notice detail)
    "metrics.json": ("metrics", "metrics.json is missing"),
    "effects/factor_unit.npz": ("input_manipulation", "effects/factor_unit.npz is missing"),
    "graphs/aligned.svg graphs/aligned.dot graphs/aligned.graphml": ("alignment", "graphs/aligned.svg is missing"),
    "tables/mediation.csv": ("mediation", "tables/mediation.csv is missing"),
    "log.txt": ("logging", "log.txt is missing"),
    "graphs/unit.svg graphs/unit.dot": ("unit_graph", "graphs/unit.svg is missing"),
}


def test_missing_stages_are_named_and_the_rest_still_builds(run_copy):
    for names in MISSING:
        for name in names.split():
            (run_copy / name).unlink()
    page = parse(build_report(run_copy))
    text = page.plain_text()
    assert page.errors == []
    for stage, detail in MISSING.values():
        assert f"Stage {stage} failed or was skipped: {detail}" in text
    assert f"{len(MISSING)} of 13 stages' outputs are missing, unreadable or incomplete." in text
    assert "Stage configuration" not in text and "causal-sprites" in text
    assert len(page.images()) == 12 - 3  # factor_unit heatmap, aligned graph and unit graph are gone


def test_one_missing_output_marks_its_stage_as_partial(run_copy):
    (run_copy / "effects" / "factor_unit.npz").unlink()
    text = parse(build_report(run_copy)).plain_text()
    assert "1 of 13 stages' outputs are missing, unreadable or incomplete." in text
    assert "input_manipulation partial effects/factor_unit.npz: missing" in text


def test_the_pipeline_status_names_failed_and_skipped_stages_with_their_messages(run_copy):
    status = json.loads((run_copy / "status.json").read_text())
    status["input_manipulation"] = {"state": "failed", "seconds": 0.5, "error": "RuntimeError: <boom>"}
    status["alignment"] = {"state": "skipped", "reason": "needs input_manipulation"}
    (run_copy / "effects" / "factor_unit.npz").unlink()
    for path in run_copy.glob("graphs/circuit_*"):
        path.unlink()
    status["circuits"] = {"state": "failed", "error": "ValueError: no paths"}
    (run_copy / "status.json").write_text(json.dumps(dict(sorted(status.items()))))  # as write_json sorts keys
    text = parse(build_report(run_copy)).plain_text()
    tokens = text[text.index("stage state time message"):text.index("stages' outputs")].split()
    assert sorted(STATUS, key=tokens.index) == list(STATUS)  # rows in run order (from the log), not sorted
    assert "<details><summary>outputs per stage</summary>" in stages_section(run_copy / "report.html")
    assert ("Stage input_manipulation failed or was skipped: effects/factor_unit.npz is missing "
            "(pipeline: input_manipulation failed: RuntimeError: <boom>)") in text
    assert "no graphs/circuit_<factor>.svg or .dot found (pipeline: circuits failed: ValueError: no paths)" in text
    assert "train done 41.2 s" in text
    assert "input_manipulation failed 0.5 s RuntimeError: <boom>" in text
    assert "alignment skipped needs input_manipulation" in text


def test_circuits_and_traversals_missing(run_copy):
    for path in run_copy.glob("graphs/circuit_*"):
        path.unlink()
    (run_copy / "figures" / "traversals.png").unlink()
    page = parse(build_report(run_copy))
    assert "Stage circuits failed or was skipped: no graphs/circuit_<factor>.svg or .dot found" in page.plain_text()
    assert "traversals" not in page.ids()  # an absent traversal grid is omitted, not reported


def stages_section(path: Path) -> str:
    html = path.read_text(encoding="utf-8")
    start = html.index('<section id="stages">')
    return html[start:html.index("</section>", start)]


def test_an_empty_folder_still_builds_a_report_naming_every_stage(tmp_path):
    assert "<details>" not in stages_section(build_report(tmp_path))  # no status.json: outputs table open
    page = parse(build_report(tmp_path))
    text = page.plain_text()
    assert page.errors == [] and page.images() == []
    for stage in ("configuration", "metrics", "input_manipulation", "readouts", "alignment", "circuits", "mediation",
                  "motifs_and_classes", "graph", "unit_graph", "logging"):
        assert f"Stage {stage} failed or was skipped" in text, stage


BROKEN = {"metrics.json": b"{not json", "effects/factor_latent.npz": b"garbage",
          "graphs/aligned.svg": b"<html>no graph</html>", "figures/traversals.png": b"GIF89a",
          "tables/motifs.csv": b"\xff\xfe\x00"}


def test_broken_artifacts_are_reported_as_unreadable(run_copy):
    for name, content in BROKEN.items():
        (run_copy / name).write_bytes(content)
    page = parse(build_report(run_copy))
    assert page.errors == []
    for name in BROKEN:
        assert f"{name} is unreadable:" in page.plain_text()


def test_empty_and_constant_effect_matrices_still_build(run_copy):
    EffectMatrix(np.ones((0, 3)), [], ["a", "b", "c"], intervention="i", statistic="s",
                 n_samples=0).save(run_copy / "effects" / "factor_latent.npz")
    EffectMatrix(np.zeros((2, 2)), ["a", "b"], ["c", "d"], intervention="i", statistic="s",
                 n_samples=4).save(run_copy / "effects" / "extra.npz")
    page = parse(build_report(run_copy))
    assert "effects/factor_latent.npz holds no effects (shape (0, 3))." in page.plain_text()
    assert any(img["alt"] == "heatmap of extra" for img in page.images())


def test_a_very_wide_circuit_gets_a_full_width_scrolling_panel(run_copy):
    (run_copy / "graphs" / "circuit_wide.svg").write_text(
        '<svg width="5000pt" height="500pt" xmlns="http://www.w3.org/2000/svg"><rect width="10" height="10"/></svg>')
    html = build_report(run_copy).read_text(encoding="utf-8")
    assert html.count('<div class="panel wide"><h3>wide</h3><div class="scroll"><img class="plot wide-graph"') == 1
    assert html.count('<div class="panel"><h3>shape</h3><img class="plot graph"') == 1  # a narrow one is unchanged


def test_a_graph_with_only_a_dot_file_is_rendered_from_it(run_copy):
    (run_copy / "graphs" / "circuit_shape.svg").unlink()
    images = parse(build_report(run_copy)).images()
    circuit = [img for img in images if img["alt"] == "circuit of shape"]
    assert len(circuit) == 1 and b"<svg" in decoded(circuit[0])


def test_a_large_graph_left_undrawn_by_the_pipeline_is_a_note_not_a_failure(run_copy):
    (run_copy / "graphs" / "unit.svg").unlink()
    dot = run_copy / "graphs" / "unit.dot"
    dot.write_text(dot.read_text().replace("}", "".join(f'  "n{i}" -> "n{i + 1}";\n' for i in range(10000)) + "}"))
    page = parse(build_report(run_copy))
    text = page.plain_text()
    assert "unit is too large to draw as one picture" in text and "open graphs/unit.graphml" in text
    assert "failed or was skipped" not in text and "All 13 stages wrote their outputs." in text
    assert not any(img["alt"] == "Unit-level causal graph" for img in page.images())


def test_graph_renderings_too_large_to_inline_are_named_instead(run_copy, monkeypatch):
    from causalvae.report import sections

    monkeypatch.setattr(sections, "MAX_INLINE_SVG_BYTES", 100)
    page = parse(build_report(run_copy))
    assert all(decoded(img)[:8] == PNG_SIGNATURE for img in page.images())  # only the PNG figures remain
    assert "graphs/unit.svg (0.0 MB) is too large to inline; open it directly." in page.plain_text()


def test_output_is_atomic_a_failed_build_keeps_the_previous_report(run_copy, monkeypatch):
    previous = build_report(run_copy).read_bytes()
    monkeypatch.setattr(build_module, "render_report", lambda run: "partial" + 1)  # TypeError mid-build
    with pytest.raises(TypeError):
        build_report(run_copy)
    assert (run_copy / "report.html").read_bytes() == previous
    assert not list(run_copy.glob(".report.html.*"))


def test_output_path_can_be_chosen(complete_run, tmp_path):
    target = build_report(complete_run, output=tmp_path / "elsewhere" / "r.html")
    assert target == tmp_path / "elsewhere" / "r.html" and target.read_text().startswith("<!DOCTYPE html>")


def test_bad_run_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_report(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="expected a run folder"):
        build_report(tmp_path / "file")


def test_files_of_stages_that_did_not_finish_are_withheld_and_the_summary_says_so(run_copy):
    # The folder of a run whose training failed, holding an earlier run's heatmaps, traversals and graphs.
    skipped = [s for s in (*STATUS, "latent_perturbation", "unit_ablation") if s not in ("data", "train")]
    status = {"data": {"state": "done", "seconds": 0.1},
              "train": {"state": "failed", "error": "FloatingPointError: nan"},
              **{s: {"state": "skipped", "reason": "needs train"} for s in skipped}}
    (run_copy / "status.json").write_text(json.dumps(status))
    page = parse(build_report(run_copy))
    text = page.plain_text()
    assert page.images() == []  # nothing of the earlier run is shown
    assert "stages wrote their outputs" not in text and "stages' outputs are missing, unreadable or incomplete" in text
    assert "effects/factor_latent.npz is present but not shown: its stage was skipped in this run" in text
    assert "train failed or skipped status.json: recorded as failed in status.json" in text
