"""The run-folder registry: the pipeline's stages and the report cannot drift apart.

The registry is assembled from the artifacts each stage's row of ``STAGE_TABLE`` carries
(:func:`causalvae.pipeline.run_artifacts`).  The stages' outputs are found by reading the stage
modules (every ``ctx.effects[...] =``, ``ctx.graphs[...] =``, ``ctx.tables[...] =``, f-string names
included), so a new or renamed output fails here without running the pipeline; ``export`` refuses
undeclared names at run time.
"""

import ast
import re
from pathlib import Path

import pytest

import causalvae.pipeline as pipeline
from causalvae.pipeline import STAGE_TABLE, Stage, run_artifacts
from causalvae.report.artifacts import ArtifactRegistry, ArtifactSpec

KINDS = {"effects": "effect", "graphs": "graph", "tables": "table"}
#: Context entries shared between stages that export does not write (not effect matrices).
IN_MEMORY = {("effect", "latent_kl"), ("effect", "latent_information")}
REGISTRY = run_artifacts()


def produced_names() -> set[tuple[str, str, str]]:
    """(kind, name or glob, module file) of every ctx.<kind>[name] assignment in the pipeline (tuple targets too)."""
    found = set()
    for path in Path(pipeline.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in [e for t in targets for e in (t.elts if isinstance(t, ast.Tuple) else [t])]:
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


def declared(kind: str, name: str, specs) -> bool:
    """Whether ``specs`` declare output ``name`` (a glob when the scan saw an f-string)."""
    pattern = re.compile(re.escape(name).replace(r"\*", ".+"))
    return any(s.kind == kind and (s.matches(name) or s.matches(name.replace("*", "x")) or pattern.fullmatch(s.name))
               for s in specs)


def module_of(stage: Stage) -> str:
    return Path(stage.body.__code__.co_filename).name


def test_every_output_is_declared_by_a_stage_of_the_module_that_produces_it():
    outputs = produced_names()
    assert len(outputs) > 20  # the scan sees the stages' outputs
    undeclared = [(k, n, f) for k, n, f in outputs if (k, n) not in IN_MEMORY
                  and not declared(k, n, [a for s in STAGE_TABLE if module_of(s) == f for a in s.artifacts])]
    assert undeclared == []


def test_every_declared_artifact_is_produced_by_its_stage_which_exists():
    outputs = produced_names()
    assert {s.stage for s in REGISTRY} <= set(pipeline.STAGES)
    for stage in STAGE_TABLE:
        for a in stage.artifacts:
            assert a.stage == stage.name
            if a.kind == "figure":
                continue  # written by the stage itself (figures/<name>.png), checked by the report tests
            assert any(declared(k, n, [a]) for k, n, f in outputs if f == module_of(stage)), \
                f"{a.kind} {a.name} is declared by {stage.name} but its module does not produce it"


def test_the_registry_names_each_artifact_once_in_run_order():
    keys = [(s.kind, s.name) for s in REGISTRY]
    assert len(keys) == len(set(keys)) > 30
    assert REGISTRY.spec("table", "assignments") is None  # the old alignment's table is gone
    assert list(REGISTRY.of_kind("effect"))[:3] == ["factor_latent", "factor_unit", "latent_decoder"]
    with pytest.raises(ValueError, match=r"table 'circuits' is declared twice \(stages 'circuits' and 'mediation'\)"):
        ArtifactRegistry([*REGISTRY, ArtifactSpec.table("circuits", "Again", "").of_stage("mediation")])


def test_a_stage_row_binds_its_artifacts_to_its_name():
    row = Stage("toy", print, (), (ArtifactSpec.table("toy_scores", "Toy", "Scores."),))
    assert row.artifacts[0].stage == "toy" and row.artifacts[0].path == "tables/toy_scores"
    with pytest.raises(ValueError, match="table 'toy_scores' is declared for stage 'toy', not 'other'"):
        Stage("other", print, (), row.artifacts)
    with pytest.raises(ValueError, match="names no stage: declare it in the artifacts of a stage's row"):
        ArtifactRegistry([ArtifactSpec.table("toy_scores", "Toy", "Scores.")])


def test_export_refuses_undeclared_artifacts_and_says_where_to_declare_them():
    REGISTRY.check_registered({"table": ["circuits", "alignment_iia"], "graph": ["circuit_a_decoder", "unit"]})
    with pytest.raises(ValueError, match=r"graph 'mystery' is not in the run-folder registry: add it to the "
                                         r"artifacts of the stage that produces it \(its stage module, carried by "
                                         r"its row of STAGE_TABLE\)"):
        REGISTRY.check_registered({"graph": ["mystery"]})


def test_expected_artifacts_of_finished_stages_that_were_not_produced_are_listed():
    produced = {"effect": ["factor_latent", "latent_readout"], "table": ["readout_scores"]}
    assert [s.name for s in REGISTRY.unproduced(produced, ["input_manipulation", "readouts"])] == ["factor_unit"]
    assert REGISTRY.unproduced(produced, ["readouts"]) == []  # a stage that did not finish owes nothing


def test_bad_kind_is_a_clear_error():
    with pytest.raises(ValueError, match=r"kind must be one of \['effect', 'figure', 'graph', 'table'\], got 'tabel'"):
        REGISTRY.spec("tabel", "circuits")
    with pytest.raises(ValueError, match=r"artifact 'x': kind must be one of .*, got 'tabel'"):
        ArtifactRegistry([ArtifactSpec("tabel", "x", "s", "X")])
