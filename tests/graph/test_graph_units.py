"""Unit-level graphs from computational graphs, and measured effects attached to their edges."""

import warnings

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from zoo import DataDependent, Reused, ResNetVAE, TwoInputs

from causalvae.effects import EffectMatrix
from causalvae.graph import attach_effects, default_sites, extract, unit_graph
from causalvae.graph.schema import SchemaError, new_graph

RESNET = extract(ResNetVAE(), torch.zeros(2, 1, 4, 4))
RESNET_SITES = default_sites(RESNET)


def test_default_sites_are_the_parametrised_layers_in_order():
    assert RESNET_SITES == ["encoder.stem", "encoder.block.conv1", "encoder.block.bn1", "encoder.block.conv2",
                            "latent.mu", "decoder.fc", "decoder.block.conv1", "decoder.block.bn1",
                            "decoder.block.conv2", "decoder.head", "latent.logvar"]  # pooling has no parameters


def test_site_level_graph_of_a_resnet_follows_skips_and_merges():
    S = unit_graph(RESNET, level="site")
    assert S.graph["level"] == "site" and S.graph["kind"] == "unit"
    assert {(u, v): d["pattern"] for u, v, d in S.edges(data=True)} == {
        ("encoder.stem", "encoder.block.conv1"): "dense",
        ("encoder.block.conv1", "encoder.block.bn1"): "channelwise",  # BatchNorm acts per channel
        ("encoder.block.bn1", "encoder.block.conv2"): "dense",
        # the residual addition merges the block input and conv2 into what the latent heads read
        ("encoder.stem", "latent.mu"): "dense", ("encoder.block.conv2", "latent.mu"): "dense",
        ("encoder.stem", "latent.logvar"): "dense", ("encoder.block.conv2", "latent.logvar"): "dense",
        ("latent.mu", "decoder.fc"): "dense",
        ("decoder.fc", "decoder.block.conv1"): "dense", ("decoder.fc", "decoder.head"): "dense",  # skip
        ("decoder.block.conv1", "decoder.block.bn1"): "channelwise",
        ("decoder.block.bn1", "decoder.block.conv2"): "dense", ("decoder.block.conv2", "decoder.head"): "dense"}
    assert S.nodes["decoder.fc"]["n_units"] == 64 and S.nodes["decoder.head"]["n_units"] == 1
    assert {n: d["role"] for n, d in S.nodes(data=True) if d["role"] != "hidden"} == \
        {"latent.mu": "latent", "latent.logvar": "latent", "decoder.head": "output"}
    assert [S.nodes[s]["layer"] for s in RESNET_SITES] == list(range(len(RESNET_SITES)))
    assert S.edges["decoder.fc", "decoder.block.conv1"]["n_unit_edges"] == 64 * 4


def test_unit_level_graph_expands_channels_and_neurons():
    U = unit_graph(RESNET)
    assert U.number_of_nodes() == 4 * 4 + 2 + 64 + 4 * 3 + 1 + 2
    assert U.nodes["encoder.block.bn1[3]"] == {**U.nodes["encoder.block.bn1[3]"], "site": "encoder.block.bn1",
                                                "index": 3, "role": "hidden", "active": True, "stage": "encoder"}
    assert set(U.successors("encoder.block.conv1[2]")) == {"encoder.block.bn1[2]"}
    assert set(U.successors("encoder.block.bn1[2]")) == {f"encoder.block.conv2[{j}]" for j in range(4)}
    assert set(U.predecessors("latent.mu[1]")) == {f"encoder.{s}[{j}]" for s in ("stem", "block.conv2")
                                                   for j in range(4)}
    S = unit_graph(RESNET, level="site")
    assert U.number_of_edges() == sum(d["n_unit_edges"] for _, _, d in S.edges(data=True))


def test_selected_sites_skip_unselected_layers_and_placeholders_can_be_sites():
    U = unit_graph(RESNET, sites=["x", "encoder.block.conv2", "latent.mu"])
    # x reaches latent.mu directly through the skip connection (stem is not selected)
    assert set(U.successors("x[0]")) == {f"encoder.block.conv2[{j}]" for j in range(4)} | {"latent.mu[0]",
                                                                                         "latent.mu[1]"}
    assert U.nodes["x[0]"]["role"] == "input"
    assert U.nodes["latent.mu[0]"]["layer"] == 2


def _comp(rows, edges):
    G = new_graph("computational")
    for order, (name, op, target, module_type, shape) in enumerate(rows):
        G.add_node(name, op=op, target=target, module_type=module_type, stage="other", tensor_shape=shape,
                   n_params=1 if module_type in ("Conv2d", "Linear", "BatchNorm2d") else 0, site=name, order=order)
    G.add_edges_from(edges)
    return G


def test_per_channel_paths_give_channelwise_edges_and_mixing_ops_dense_ones():
    comp = _comp([("x", "placeholder", "x", "", "2x3x4x4"), ("conv", "call_module", "conv", "Conv2d", "2x3x4x4"),
                  ("relu", "call_function", "torch.relu", "", "2x3x4x4"),
                  ("add", "call_function", "_operator.add", "", "2x3x4x4"),
                  ("bn", "call_module", "bn", "BatchNorm2d", "2x3x4x4"),
                  ("flip", "call_function", "torch.flip", "", "2x3x4x4"),
                  ("bn2", "call_module", "bn2", "BatchNorm2d", "2x3x4x4"),
                  ("conv2", "call_module", "conv2", "Conv2d", "2x3x4x4")],
                 [("x", "conv"), ("conv", "relu"), ("relu", "add"), ("x", "add"), ("add", "bn"), ("bn", "flip"),
                  ("flip", "bn2"), ("bn", "conv2")])
    S = unit_graph(comp, sites=["x", "conv", "bn", "bn2", "conv2"], level="site")
    assert {(u, v): d["pattern"] for u, v, d in S.edges(data=True)} == {
        ("x", "conv"): "dense", ("conv", "bn"): "channelwise", ("x", "bn"): "channelwise",  # relu, skip add
        ("bn", "bn2"): "dense",  # torch.flip is not on the per-channel list: assume mixing
        ("bn", "conv2"): "dense"}
    U = unit_graph(comp, sites=["conv", "bn"])
    assert sorted(U.edges) == [(f"conv[{i}]", f"bn[{i}]") for i in range(3)]


def test_reused_module_calls_and_merges_and_fallback_graphs():
    R = unit_graph(extract(Reused(), torch.zeros(2, 5)), level="site")
    assert sorted(R.edges) == [("inp", "shared"), ("shared", "shared_1"), ("shared_1", "out")]
    M = unit_graph(extract(TwoInputs(), (torch.zeros(2, 3), torch.zeros(2, 5))), level="site")
    assert sorted(M.edges) == [("a", "head"), ("b", "head")]  # concatenation merges both branches
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        D = unit_graph(extract(DataDependent(), torch.ones(2, 3)))
    assert sorted(D.edges) == [(f"fc[{i}]", f"pos[{j}]") for i in range(3) for j in range(2)]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(RESNET_SITES), min_size=2, unique=True))
def test_selecting_fewer_sites_keeps_every_path_between_them(chosen):
    full, part = unit_graph(RESNET, level="site"), unit_graph(RESNET, sites=chosen, level="site")
    assert set(part.nodes) == set(chosen)
    for a in chosen:
        reach_full = nx.descendants(full, a) & set(chosen)
        assert nx.descendants(part, a) == reach_full


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(sites=["encoder.nope"]), ValueError, r"unknown site\(s\) \['encoder.nope'\]"),
    (dict(sites=["output"]), ValueError, "has no unit axis.*'\\(2x1x4x4, 2x2\\)'"),
    (dict(sites="latent.mu"), TypeError, "list of site names"),
    (dict(level="layer"), ValueError, "level must be one of"),
    (dict(sites=[]), ValueError, "no sites selected"),
])
def test_unit_graph_refuses_bad_input(kwargs, error, message):
    with pytest.raises(error, match=message):
        unit_graph(RESNET, **kwargs)
    with pytest.raises(SchemaError, match="expects a 'computational' graph"):
        unit_graph(unit_graph(RESNET))
    with pytest.raises(TypeError, match="expects a networkx DiGraph from extract\\(\\), got dict"):
        unit_graph({})


def _effects(values, sources, targets, **kw):
    return EffectMatrix(np.asarray(values, dtype=float), sources, targets, intervention="zero-ablation",
                        statistic="mean", n_samples=16, **kw)


def test_attach_effects_puts_measured_values_on_structural_edges():
    U = unit_graph(RESNET, sites=["latent.mu", "decoder.fc"])
    targets = ["decoder.fc[0]", "decoder.fc[1]"]
    m = _effects([[-2.0, 0.0], [0.25, 0.0]], ["latent.mu[0]", "latent.mu[1]"], targets,
                 ci_low=[[-3.0, 0.0], [0.1, -0.1]], ci_high=[[-1.0, 0.0], [0.4, 0.1]])
    E = attach_effects(U, m)
    edge = E.edges["latent.mu[0]", "decoder.fc[0]"]
    assert edge == {"pattern": "dense", "effect": -2.0, "weight": 2.0, "intervention": "zero-ablation",
                    "statistic": "mean", "n_samples": 16, "ci_low": -3.0, "ci_high": -1.0}
    assert E.edges["latent.mu[0]", "decoder.fc[1]"]["effect"] == 0.0
    assert E.edges["latent.mu[1]", "decoder.fc[1]"]["weight"] == 0.0
    assert "effect" not in U.edges["latent.mu[0]", "decoder.fc[0]"]  # the input graph is not modified
    assert E.number_of_edges() == U.number_of_edges()


def test_attach_effects_adds_missing_edges_and_factor_nodes_on_request():
    U = unit_graph(RESNET, sites=["latent.mu", "decoder.fc"])
    m = _effects([[0.5, 0.01]], ["factor.scale"], ["latent.mu[0]", "latent.mu[1]"])
    assert attach_effects(U, m).number_of_edges() == U.number_of_edges()
    E = attach_effects(U, m, add_missing=True, min_weight=0.1)
    assert E.nodes["factor.scale"]["role"] == "factor"
    assert E.edges["factor.scale", "latent.mu[0]"]["effect"] == 0.5
    assert not E.has_edge("factor.scale", "latent.mu[1]")  # below min_weight
    with pytest.raises(KeyError, match="'encoder.ghost\\[0\\]' is not a node"):
        attach_effects(U, _effects([[1.0]], ["encoder.ghost[0]"], ["latent.mu[0]"]), add_missing=True)
    with pytest.raises(ValueError, match="min_weight must be >= 0"):
        attach_effects(U, m, min_weight=-1)
    with pytest.raises(TypeError, match="effects must be an EffectMatrix, got DataFrame"):
        attach_effects(U, m.to_frame())


def test_unit_graph_of_our_vaes_uses_the_declared_sites():
    from causalvae.models import make_vae

    conv = unit_graph(extract(make_vae("beta-vae", input_shape=(1, 64, 64), latent_dim=3).eval(),
                              torch.zeros(1, 1, 64, 64)), level="site")
    chain = ["encoder.conv1", "encoder.conv2", "encoder.conv3", "encoder.conv4", "encoder.fc", "latent.mu",
             "latent.z", "decoder.fc1", "decoder.fc2", "decoder.deconv1", "decoder.deconv2", "decoder.deconv3",
             "decoder.deconv4"]
    assert list(conv.nodes) == chain[:6] + ["latent.logvar"] + chain[6:]  # the declared sites, in forward order
    assert sorted(conv.edges) == sorted(list(zip(chain, chain[1:])) + [("encoder.fc", "latent.logvar")])
    assert [conv.nodes[s]["n_units"] for s in chain] == [32, 32, 64, 64, 256, 3, 3, 256, 1024, 64, 32, 32, 1]
    assert conv.edges["latent.mu", "latent.z"]["pattern"] == "channelwise"
    assert conv.nodes["decoder.deconv4"]["role"] == "output" and conv.nodes["latent.logvar"]["role"] == "latent"
    mlp = make_vae("vae", input_shape=(12,), latent_dim=3, hidden=(8, 6)).eval()
    fine = extract(mlp, torch.zeros(2, 12), leaf_modules=[])  # blocks split into layer + act: not all declared
    assert default_sites(fine) == ["encoder.fc1.layer", "encoder.fc2.layer", "latent.mu", "latent.logvar",
                                   "decoder.fc1.layer", "decoder.fc2.layer", "decoder.out"]
    U = unit_graph(extract(mlp, torch.zeros(2, 12)), sites=["latent.mu", "latent.z", "decoder.fc1"])
    assert set(U.successors("latent.mu[1]")) == {"latent.z[1]"}  # the identity site is per-unit
    assert U.edges["latent.mu[1]", "latent.z[1]"]["pattern"] == "channelwise"
    assert U.number_of_edges() == 3 + 3 * 6
