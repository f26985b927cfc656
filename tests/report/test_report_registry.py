"""The run-folder registry: the pipeline's stages and the report cannot drift apart.

The stages' outputs are found by reading the stage bodies (every ``ctx.effects[...] =``,
``ctx.graphs[...] =``, ``ctx.tables[...] =``, f-string names included), so a new or renamed output
fails here without running the pipeline; ``export`` refuses unregistered names at run time.
"""

import ast
import re
from pathlib import Path

import pytest

import causalvae.pipeline as pipeline
from causalvae.report.artifacts import REGISTRY, check_registered, spec, unproduced

KINDS = {"effects": "effect", "graphs": "graph", "tables": "table"}
#: Context entries shared between stages that export does not write (not effect matrices).
IN_MEMORY = {("effect", "latent_kl"), ("effect", "latent_information")}


def produced_names() -> set[tuple[str, str, str]]:
    """(kind, name or glob, stage body's module) of every ctx.<kind>[name] assignment in the pipeline."""
    found = set()
    for path in Path(pipeline.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                if (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Attribute)
                        and target.value.attr in KINDS):
                    found.add((KINDS[target.value.attr], _name(target.slice), path.name))
    return found


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Constant):
        return str(node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(str(v.value) if isinstance(v, ast.Constant) else "*" for v in node.values)
    if isinstance(node, ast.Name):  # a loop variable: the names are the loop's literals
        return "*"
    raise AssertionError(f"unexpected output name {ast.dump(node)}")


def registered(kind: str, name: str) -> bool:
    if "*" not in name:
        return spec(kind, name) is not None
    if spec(kind, name.replace("*", "x")) is not None:
        return True
    pattern = re.compile(re.escape(name).replace(r"\*", ".+"))
    return any(s.kind == kind and pattern.fullmatch(s.name) for s in REGISTRY)


def test_every_output_a_stage_produces_is_registered():
    outputs = produced_names()
    assert len(outputs) > 20  # the scan sees the stages' outputs
    unregistered = [(k, n, f) for k, n, f in outputs if (k, n) not in IN_MEMORY and not registered(k, n)]
    assert unregistered == []


def test_every_registered_artifact_is_produced_by_a_stage_that_exists():
    outputs = {(k, n) for k, n, _ in produced_names()}
    assert {s.stage for s in REGISTRY if s.kind != "figure"} <= set(pipeline.STAGES)
    for s in REGISTRY:
        if s.kind == "figure":
            continue  # written by the stage itself (figures/<name>.png), checked by the report tests
        names = {n for k, n in outputs if k == s.kind}
        assert any(s.matches(n) or n == s.name or re.fullmatch(re.escape(n).replace(r"\*", ".+"), s.name)
                   for n in names), f"{s.kind} {s.name} is registered but no stage produces it"


def test_the_registry_names_each_artifact_once():
    keys = [(s.kind, s.name) for s in REGISTRY]
    assert len(keys) == len(set(keys))
    assert spec("table", "assignments") is None  # the old alignment's table is gone


def test_export_refuses_unregistered_artifacts_and_names_the_registry():
    check_registered({"table": ["circuits", "alignment_iia"], "graph": ["circuit_a_decoder", "unit"]})
    with pytest.raises(ValueError, match=r"graph 'mystery' is not in the run-folder registry \(causalvae/report/"):
        check_registered({"graph": ["mystery"]})


def test_expected_artifacts_of_finished_stages_that_were_not_produced_are_listed():
    produced = {"effect": ["factor_latent", "latent_readout"], "table": ["readout_scores"]}
    assert [s.name for s in unproduced(produced, ["input_manipulation", "readouts"])] == ["factor_unit"]
    assert unproduced(produced, ["readouts"]) == []  # a stage that did not finish owes nothing


def test_bad_kind_is_a_clear_error():
    with pytest.raises(ValueError, match=r"kind must be one of \['effect', 'figure', 'graph', 'table'\], got 'tabel'"):
        spec("tabel", "circuits")
