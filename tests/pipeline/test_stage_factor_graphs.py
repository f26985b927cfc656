"""The run's factor graphs (true and learned) follow the one factor-graph schema of data/factor_dags."""

from causalvae.graph.schema import validate
from causalvae.pipeline.alignment_stages import discovery
from causalvae.pipeline.config import RunConfig
from causalvae.pipeline.context import RunContext
from causalvae.pipeline.model_stages import load_data
from causalvae.pipeline.runner import RunWorkspace


def test_true_and_learned_factor_graphs_carry_factor_kind(tmp_path):
    config = RunConfig.resolve(dataset="scm-linear", n=400, quick=True, out=str(tmp_path / "run"))
    ctx = RunContext(config, RunWorkspace(tmp_path / "run"))
    load_data(ctx)
    discovery(ctx)
    expected = dict(zip(ctx.dataset.factor_names, ctx.dataset.factor_kinds))
    for name in ("factor_true", "factor_learned"):
        G = validate(ctx.graphs[name])
        assert G.graph["dataset"] == "scm-linear"
        assert {node: attrs["factor_kind"] for node, attrs in G.nodes(data=True)} == expected
        assert all("kind" not in attrs for _, attrs in G.nodes(data=True))
    assert set(ctx.graphs["factor_true"].edges) == set(ctx.dataset.factor_dag.edges)
    ctx.folder.close()
