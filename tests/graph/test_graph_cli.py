"""`causalvae graph`: a saved checkpoint becomes graph files in every format."""

import argparse

import networkx as nx
import pytest

from causalvae.graph import new_graph, read_graphml, read_graph_json
from causalvae.graph.cli import add_graph_arguments, graph_command, write_checkpoint_graphs, write_graphs


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from causalvae.models import make_vae, save_checkpoint

    path = tmp_path_factory.mktemp("ckpt") / "model.safetensors"
    return save_checkpoint(path, make_vae("beta-vae", input_shape=(10,), latent_dim=2, hidden=(6, 4)))


def test_graph_command_writes_every_format(checkpoint, tmp_path, capsys):
    args = add_graph_arguments(argparse.ArgumentParser()).parse_args(
        ["--checkpoint", str(checkpoint), "--out", str(tmp_path)])
    assert graph_command(args) == 0
    names = {f"{g}.{ext}" for g in ("computational", "unit_site") for ext in ("dot", "graphml", "json", "svg", "png")}
    assert {p.name for p in tmp_path.iterdir()} == names
    assert set(capsys.readouterr().out.split()) == {str(tmp_path / n) for n in names}
    units = read_graphml(tmp_path / "unit_site.graphml")
    chain = ["encoder.fc1", "encoder.fc2", "latent.mu", "latent.z", "decoder.fc1", "decoder.fc2", "decoder.out"]
    assert set(units.edges) == set(zip(chain, chain[1:])) | {("encoder.fc2", "latent.logvar")}
    comp = read_graph_json(tmp_path / "computational.json")
    assert comp.nodes["encoder_fc1"]["tensor_shape"] == "1x6" and comp.graph["model"] == "VAE"


def test_unit_level_with_selected_sites(checkpoint, tmp_path):
    paths = write_checkpoint_graphs(checkpoint, tmp_path, level="unit", sites=["latent.mu", "decoder.fc1"],
                                    render_images=False)
    assert sorted(paths) == ["computational.dot", "computational.graphml", "computational.json",
                             "unit_unit.dot", "unit_unit.graphml", "unit_unit.json"]
    assert read_graph_json(paths["unit_unit.json"]).number_of_edges() == 2 * 4


def test_large_graphs_are_exported_but_not_rendered(tmp_path):
    G = new_graph("factor")
    nx.add_path(G, ["factor.a", "factor.b", "factor.c"])
    nx.set_node_attributes(G, "factor", "role")
    with pytest.warns(RuntimeWarning, match="2 edges .* not rendered"):
        paths = write_graphs({"big": G}, tmp_path, max_render_edges=1)
    assert sorted(paths) == ["big.dot", "big.graphml", "big.json"]


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises((FileNotFoundError, ValueError), match="nope.safetensors"):
        write_checkpoint_graphs(tmp_path / "nope.safetensors", tmp_path)


def test_argument_parsing_is_cheap_and_levels_agree():
    import subprocess
    import sys

    from causalvae.graph.cli import LEVELS
    from causalvae.graph.unit_graphs import LEVELS as UNIT_LEVELS

    assert sorted(LEVELS) == sorted(UNIT_LEVELS)
    code = ("import sys, argparse; from causalvae.graph.cli import add_graph_arguments; "
            "add_graph_arguments(argparse.ArgumentParser()).format_help(); "
            "print(' '.join(m for m in ('torch', 'networkx', 'numpy') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == ""
