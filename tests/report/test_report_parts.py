"""Building blocks of the report: metric rows, edge comparison, HTML helpers, run-folder reading."""

import math
import subprocess
import sys

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causalvae.report import markup as h
from causalvae.report.metric_rows import MetricRow, compare_edges, find_metric, metric_rows
from causalvae.report.run_folder import PNG_SIGNATURE, read_run_folder

from report_run_folder import ARTIFACTS, CIRCUITS, STATUS


def test_metric_rows_flatten_groups_estimates_and_deeper_nesting_in_file_order():
    metrics = {"recon_error": 2.5, "dci": {"d": {"value": 0.4, "ci_low": 0.3, "ci_high": 0.5}, "c": 0.2},
               "ces": {"value": 4.0, "ci_low": 3.0}, "deep": {"a": {"b": 1}}, "note": None}
    assert metric_rows(metrics) == [
        MetricRow("", "recon_error", 2.5), MetricRow("dci", "d", 0.4, 0.3, 0.5), MetricRow("dci", "c", 0.2),
        MetricRow("", "ces", 4.0, 3.0, None), MetricRow("deep", "a.b", 1), MetricRow("", "note", None)]


def test_flat_dotted_keys_are_grouped_by_their_first_part():
    metrics = {"alignment.shd": 2, "readout.scale.r2": 0.9, "n_active_latents": 4, "odd.": 1}
    assert metric_rows(metrics) == [MetricRow("alignment", "shd", 2), MetricRow("readout", "scale.r2", 0.9),
                                    MetricRow("", "n_active_latents", 4), MetricRow("", "odd.", 1)]


def test_metric_rows_rejects_a_non_mapping():
    with pytest.raises(TypeError, match="mapping, got list"):
        metric_rows([1, 2])


def test_find_metric_matches_fragments_case_insensitively_within_a_group():
    rows = metric_rows({"alignment": {"SHD": 2, "skeleton_precision": 0.9, "precision": 0.5},
                        "other": {"precision": 0.1}})
    assert find_metric(rows, "shd").value == 2
    assert find_metric(rows, "precision").value == 0.5  # an exact name wins over an earlier partial match
    assert find_metric(rows, "precision", group="alignment").value == 0.5
    assert find_metric(rows, "precision", group="other").value == 0.1
    assert find_metric(rows, "skeleton").value == 0.9
    assert find_metric(rows, "recall") is None


def test_compare_edges_classifies_correct_reversed_missing_and_extra_edges():
    truth = nx.DiGraph([("a", "b"), ("b", "c"), ("a", "d")])
    aligned = nx.DiGraph([("factor.a", "factor.b"), ("factor.c", "factor.b"), ("factor.d", "factor.c"),
                          ("factor.a", "latent.mu[0]")])  # the factor -> latent edge is ignored
    comparison = compare_edges(aligned, truth)
    assert comparison.correct == (("a", "b"),)
    assert comparison.reversed == (("c", "b"),)
    assert comparison.missing == (("a", "d"),)
    assert comparison.extra == (("d", "c"),)


def test_compare_edges_ignores_reference_edges_the_alignment_marked_missing():
    aligned = nx.DiGraph()
    aligned.add_edge("factor.a", "factor.b", status="match")
    aligned.add_edge("factor.b", "factor.c", status="missing")
    comparison = compare_edges(aligned, nx.DiGraph([("a", "b"), ("b", "c")]))
    assert comparison.correct == (("a", "b"),) and comparison.missing == (("b", "c"),)


def test_compare_edges_accepts_factor_nodes_marked_by_role():
    aligned = nx.DiGraph()
    aligned.add_node("x", role="factor")
    aligned.add_node("y", role="factor")
    aligned.add_edge("x", "y")
    assert compare_edges(aligned, nx.DiGraph([("x", "y")])).correct == (("x", "y"),)


edge_sets = st.sets(st.tuples(st.sampled_from("abcde"), st.sampled_from("abcde")).filter(lambda e: e[0] != e[1]),
                    max_size=8)


@given(found=edge_sets, truth=edge_sets)
def test_compare_edges_partitions_both_edge_sets(found, truth):
    comparison = compare_edges(nx.DiGraph([(f"factor.{a}", f"factor.{b}") for a, b in found]), nx.DiGraph(truth))
    assert set(comparison.correct) | set(comparison.reversed) | set(comparison.extra) == found
    assert len(comparison.correct) + len(comparison.reversed) + len(comparison.extra) == len(found)
    flipped_truth = {(b, a) for a, b in comparison.reversed}
    assert set(comparison.correct) | set(comparison.missing) | flipped_truth == truth


@pytest.mark.parametrize("value, text", [
    (None, "—"), (True, "yes"), (3, "3"), (np.int64(7), "7"), (2.0, "2"), (0.123456, "0.1235"),
    (1.5e-5, "1.500e-05"), (123456.7, "1.235e+05"), (math.nan, "NaN"), (-math.inf, "−∞"), (0.0, "0"),
    ([1, 2.5], "1, 2.5"), (list(range(9)), "[9 values]"), ("abc", "abc"), ({"b": 1, "a": 2}, '{"a": 2, "b": 1}'),
])
def test_fmt_number(value, text):
    assert h.fmt_number(value) == text


@given(st.text())
def test_esc_leaves_no_markup(text):
    escaped = h.esc(text)
    assert not set("<>\"'") & set(escaped)
    import html

    assert html.unescape(escaped) == text


@pytest.mark.parametrize("svg, size", [
    (b'<?xml?>\n<svg width="5162pt" height="573pt"\n viewBox="0 0 5162 573">', (5162.0, 573.0)),
    (b'<svg height="20px" width="40.5">', (40.5, 20.0)),
    (b'<svg viewBox="0 0 10 10">', None), (b'<svg width="0pt" height="3pt">', None), (b"<html>", None),
])
def test_svg_size(svg, size):
    assert h.svg_size(svg) == size


def test_table_escapes_cells_and_aligns_numeric_columns():
    out = h.table(["name", "<b>value</b>"], [["<i>x</i>", 1.5], ["y", None]])
    assert "<i>" not in out and "&lt;b&gt;value&lt;/b&gt;" in out
    assert out.count('class="num"') == 3  # header cell and two numeric cells of the second column


def test_read_run_folder_groups_artifacts_by_the_stage_the_registry_names(complete_run):
    run = read_run_folder(complete_run, ARTIFACTS)
    assert run.config.ok and run.config.value["dataset"] == "causal-sprites"
    assert list(run.effects) == ["factor_latent", "factor_unit", "latent_readout", "unit_latent"]
    assert run.effects["factor_unit"].value.shape == (4, 48)
    assert sorted(run.circuits) == sorted(CIRCUITS)
    assert list(run.tables) == ["readout_scores", "alignment_iia", "mediation", "circuits", "motifs",
                                "unit_class_fractions", "latent_kl", "circuit_curves", "unit_classes"]
    assert list(run.figures) == ["traversals", "reconstructions"] and len(run.training.value) == 300
    assert set(run.stages) == {"export", "train", "diagnostics", "data", "graph", "input_manipulation", "readouts",
                               "unit_ablation", "unit_graph", "alignment", "circuits", "motifs_and_classes",
                               "mediation"}
    assert all(a.ok for artifacts in run.stages.values() for a in artifacts)
    assert set(run.stages) <= set(STATUS) | {"export"}


RUN_FILES = ["config.json", "status.json", "metrics.json", "effects/factor_latent.npz", "effects/extra.npz",
             "graphs/computational.svg", "graphs/aligned.graphml", "graphs/circuit_x_encoder.graphml",
             "tables/mediation.csv", "tables/circuit_curves.csv", "figures/traversals.png", "checkpoint/log.jsonl",
             "log.txt"]


@settings(max_examples=30, deadline=None)
@given(files=st.dictionaries(st.sampled_from(RUN_FILES), st.binary(max_size=64), min_size=1))
def test_reading_arbitrary_file_contents_never_raises(tmp_path_factory, files):
    root = tmp_path_factory.mktemp("fuzz")
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    run = read_run_folder(root, ARTIFACTS)
    artifacts = [a for group in run.stages.values() for a in group] + [run.status, run.config, run.log]
    assert all(a.ok or a.problem == "missing" or a.problem.startswith("unreadable: ") for a in artifacts)
    assert {a.path.relative_to(root).as_posix() for a in artifacts if a.ok or a.problem != "missing"} <= set(files)


def test_an_unknown_effect_matrix_is_read_after_the_known_ones(run_copy):
    (run_copy / "effects" / "factor_latent.npz").rename(run_copy / "effects" / "aaa_extra.npz")
    run = read_run_folder(run_copy, ARTIFACTS)
    assert list(run.effects) == ["factor_latent", "factor_unit", "latent_readout", "unit_latent", "aaa_extra"]
    assert run.effects["factor_latent"].problem == "missing" and run.effects["aaa_extra"].ok
    assert run.effects["aaa_extra"].stage == "export"  # unregistered: only the writer is known


@pytest.mark.parametrize("name, content, reason", [
    ("metrics.json", b"{not json", "JSONDecodeError"),
    ("metrics.json", b"[1, 2]", "expected a JSON object, got list"),
    ("effects/factor_latent.npz", b"garbage", "not a readable EffectMatrix"),
    ("graphs/computational.svg", b"<html>no graph</html>", "not an SVG image"),
    ("graphs/aligned.graphml", b"<graphml", "ParseError"),
    ("graphs/circuit_shape_encoder.graphml", b"<graphml", "ParseError"),
    ("figures/traversals.png", b"GIF89a", "not a PNG image"),
    ("figures/traversals.png", PNG_SIGNATURE + b"\x00\x00\x00\rIHDR" + bytes(8), "has size 0x0"),
    ("checkpoint/log.jsonl", b'[1, 2]\n', "expected records with a 'step'"),
])
def test_a_broken_artifact_is_unreadable_not_an_exception(run_copy, name, content, reason):
    (run_copy / name).write_bytes(content)
    run = read_run_folder(run_copy, ARTIFACTS)
    broken = [a for artifacts in run.stages.values() for a in artifacts if not a.ok]
    assert [a.path.relative_to(run_copy).as_posix() for a in broken] == [name]
    assert broken[0].problem.startswith("unreadable: ") and reason in broken[0].problem


def test_a_broken_config_is_unreadable_not_an_exception(run_copy):
    (run_copy / "config.json").write_bytes("{\"a\": NaN}".encode() + b"\xff")
    run = read_run_folder(run_copy, ARTIFACTS)
    assert "UnicodeDecodeError" in run.config.problem


def test_package_exports_resolve_lazily():
    import causalvae.report as report
    from causalvae.report.build import build_report

    assert report.build_report is build_report
    assert set(report.__all__) == {"build_report", "render_report", "read_run_folder", "RunFolder",
                                   "check_in_browser", "screenshot"}
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        report.nope  # noqa: B018


def test_importing_the_report_package_is_cheap():
    code = ("import sys, causalvae.report; heavy = {'torch', 'matplotlib', 'dowhy', 'pgmpy', 'sklearn'};"
            "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
