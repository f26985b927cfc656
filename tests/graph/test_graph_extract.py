"""causalvae.graph.extract on the model zoo: nodes, shapes, edges, fallback, side effects, bad input."""

import subprocess
import sys
import warnings

import networkx as nx
import pytest
import torch
from torch import nn
from zoo import ZOO, DataDependent, MLPVAE, Reused, ResNetVAE

from causalvae.graph import extract
from causalvae.graph.schema import validate


def test_zoo_has_at_least_ten_models():
    assert len(ZOO) >= 10
    assert {e.method for e in ZOO} == {"fx", "hooks"}


@pytest.mark.parametrize("entry", ZOO, ids=[e.name for e in ZOO])
def test_zoo_model_graph_matches_what_the_model_does(entry):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        G = extract(entry.build(), entry.inputs(), stages=entry.stages, prefix=entry.prefix)
    validate(G)
    assert G.graph["method"] == entry.method
    fell_back = [w for w in caught if "could not trace" in str(w.message)]
    assert len(fell_back) == (entry.method == "hooks")
    module_sites = {d["site"] for _, d in G.nodes(data=True) if d["op"] == "call_module"}
    assert module_sites == entry.sites
    for edge in entry.edges:
        assert G.has_edge(*edge), f"missing edge {edge}; edges into {edge[1]}: {list(G.predecessors(edge[1]))}"
    for edge in entry.absent_edges:
        assert not G.has_edge(*edge), f"unexpected edge {edge}"
    for node, shape in entry.shapes.items():
        assert G.nodes[node]["tensor_shape"] == shape, node
    if entry.n_nodes is not None:
        assert G.number_of_nodes() == entry.n_nodes
    assert nx.is_directed_acyclic_graph(G)
    assert all(G.nodes[u]["order"] < G.nodes[v]["order"] for u, v in G.edges)
    assert sorted(d["order"] for _, d in G.nodes(data=True)) == list(range(G.number_of_nodes()))
    inputs = [n for n, d in G.nodes(data=True) if d["op"] == "placeholder"]
    assert len(inputs) == len(entry.inputs()) and all(G.in_degree(n) == 0 for n in inputs)
    assert [n for n, d in G.nodes(data=True) if d["op"] == "output"] == ["output"]


def test_node_attributes_of_the_mlp_vae():
    G = extract(MLPVAE(), torch.zeros(3, 8))
    first = G.nodes["encoder_0"]
    assert first == {**first, "op": "call_module", "target": "encoder.0", "module": "encoder.0",
                     "module_type": "Linear", "n_params": 8 * 6 + 6, "stage": "encoder", "tensor_shape": "3x6",
                     "dtype": "float32", "call": 0, "site": "encoder.0"}
    assert G.nodes["latent_mu"]["stage"] == "latent" and G.nodes["decoder_2"]["stage"] == "decoder"
    stages = {n: G.nodes[n]["stage"] for n in ("x", "exp", "randn_like", "add", "output")}
    assert stages == {"x": "input", "exp": "latent", "randn_like": "latent", "add": "latent", "output": "output"}
    exp = G.nodes["exp"]
    assert (exp["op"], exp["target"], exp["scope"], exp["stage"], exp["n_params"]) == \
        ("call_function", "torch.exp", "latent", "latent", 0)
    assert (G.nodes["x"]["stage"], G.nodes["output"]["stage"]) == ("input", "output")
    assert G.graph["input_shape"] == "3x8" and G.graph["model"] == "MLPVAE" and G.graph["fallback_reason"] == ""
    assert sum(d["n_params"] for _, d in G.nodes(data=True)) == sum(p.numel() for p in MLPVAE().parameters())


def test_a_sub_module_extracted_with_its_prefix_matches_the_whole_model():
    from causalvae.models import make_vae

    vae = make_vae("vae", input_shape=(1, 64, 64), latent_dim=3).eval()
    whole = extract(vae, torch.zeros(1, 1, 64, 64))
    blocks = [s.removeprefix("decoder.") for s in vae.site_names if s.startswith("decoder.")]
    part = extract(vae.decoder, torch.zeros(1, 3), prefix="decoder", leaf_modules=blocks)
    pick = lambda G: {d["site"]: (d["stage"], d["tensor_shape"], d["n_params"])  # noqa: E731
                      for _, d in G.nodes(data=True) if d["op"] == "call_module"}
    assert pick(part) == {s: v for s, v in pick(whole).items() if s.startswith("decoder.")}
    assert len(pick(part)) == 7 and part.nodes["fc1"]["module"] == "decoder.fc1"  # node ids stay fx names


def test_reused_module_gets_one_node_per_call():
    G = extract(Reused(), torch.zeros(2, 5))
    assert (G.nodes["shared"]["call"], G.nodes["shared_1"]["call"]) == (0, 1)
    assert G.nodes["shared_1"]["module"] == "shared" and G.nodes["shared_1"]["site"] == "shared_1"
    H = extract(Reused(), torch.zeros(2, 5), method="hooks")
    assert list(nx.topological_sort(H)) == ["x", "inp", "shared", "shared_1", "out", "output"]
    assert H.has_edge("shared", "shared_1")  # through torch.tanh, seen via autograd


def test_user_mapping_of_stages_and_leaves():
    G = extract(MLPVAE(), torch.zeros(2, 8), leaf_modules=["latent"], stages={"": "other", "decoder.2": "output"})
    assert "latent_mu" not in G and G.nodes["latent"]["tensor_shape"] == "(2x2, 2x2, 2x2)"
    assert G.nodes["latent"]["n_params"] == 2 * (4 * 2 + 2)
    assert G.nodes["encoder_0"]["stage"] == "other" and G.nodes["decoder_2"]["stage"] == "output"
    by_class = extract(ResNetVAE(), torch.zeros(2, 1, 4, 4), leaf_modules=[type(ResNetVAE().encoder["block"])])
    assert {"encoder_block", "decoder_block"} <= set(by_class) and "encoder_block_conv1" not in by_class


def test_hooks_method_sees_through_functional_ops():
    G = extract(MLPVAE(), torch.zeros(2, 8), method="hooks")
    assert G.graph["method"] == "hooks" and G.graph["fallback_reason"] == "method='hooks'"
    # z = mu + exp(logvar / 2) * eps is functional: both heads feed the decoder
    assert set(G.predecessors("decoder_0")) == {"latent_mu", "latent_logvar"}
    assert set(G.predecessors("output")) == {"decoder_3", "latent_mu", "latent_logvar"}
    assert G.number_of_nodes() == 1 + 10 + 1


def test_hooks_method_allows_in_place_changes_of_the_input_and_leaves_it_untouched():
    class ScalesInput(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            x.mul_(2.0)
            return self.fc(x.relu())

    x = torch.ones(2, 3)
    G = extract(ScalesInput(), x, method="hooks")
    assert sorted(G.edges) == [("fc", "output"), ("x", "fc")] and torch.equal(x, torch.ones(2, 3))


def test_fallback_warning_names_the_failing_op_and_what_is_lost():
    with pytest.warns(RuntimeWarning, match=r"could not trace DataDependent: TraceError.*x\.sum\(\) > 0.*lost"):
        G = extract(DataDependent(), torch.ones(2, 3))
    assert "x.sum() > 0" in G.graph["fallback_reason"]
    with pytest.raises(RuntimeError, match="torch.fx could not trace DataDependent"):
        extract(DataDependent(), torch.ones(2, 3), method="fx")


def test_extraction_leaves_buffers_rng_and_hooks_unchanged():
    model, x = ResNetVAE().train(), torch.randn(4, 1, 4, 4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    for method in ("fx", "hooks"):
        extract(model, x, method=method)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(rng, torch.get_rng_state())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_hooks_are_removed_when_the_forward_pass_fails():
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(5, 1))  # shapes do not chain
    with pytest.raises(ValueError, match="forward pass fails on example_input"):
        extract(model, torch.zeros(2, 3), method="hooks")
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


@pytest.mark.parametrize("call, error, message", [
    (lambda: extract("model", torch.zeros(1)), TypeError, "must be a torch.nn.Module, got str"),
    (lambda: extract(MLPVAE(), [1, 2]), TypeError, r"tensor or a tuple of tensors, got \['int', 'int'\]"),
    (lambda: extract(MLPVAE(), torch.zeros(2, 8), method="jit"), ValueError, "method must be one of"),
    (lambda: extract(MLPVAE(), torch.zeros(2, 8), stages={"encoder": "enc"}), ValueError, r"stages\['encoder'\]"),
    (lambda: extract(MLPVAE(), torch.zeros(2, 8), prefix="enc[0]"), ValueError, "prefix must be a dotted"),
    (lambda: extract(MLPVAE(), torch.zeros(2, 8), leaf_modules=["encoder.9"]), ValueError,
     "unknown module path 'encoder.9'"),
])
def test_bad_input_is_refused_clearly(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_importing_the_graph_package_does_not_import_torch():
    code = ("import sys, causalvae.graph as g; assert 'torch' not in sys.modules; "
            "f = g.extract; import causalvae.graph.extraction; assert g.extract is f and callable(f)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_exported_names_are_not_shadowed_by_submodules():
    import importlib
    import pkgutil
    import types

    import causalvae.graph as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"causalvae.graph.{info.name}")
    for name in package.__all__:
        assert not isinstance(getattr(package, name), types.ModuleType), name
