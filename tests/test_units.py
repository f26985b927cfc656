"""The id grammar: every module path and fx node name round-trips; every id kind is told apart by form."""

import importlib.util
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from causalvae.units import (NodeRef, check_site, factor_id, group_by_site, is_factor, is_readout, parse_factor,
                             parse_node, parse_readout, parse_unit, readout_id, site_of, unit_id, unit_ids)

# one module name: what nn.Module.add_module accepts (no ".", not empty), without the refused characters
names = st.text(st.characters(blacklist_categories=("Cs", "Z", "Cc"), blacklist_characters=".[]"), min_size=1,
                max_size=8).filter(lambda s: s.strip() == s)
digits = st.integers(min_value=0, max_value=300).map(str)  # nn.Sequential / ModuleList children
paths = st.lists(st.one_of(names, digits), min_size=1, max_size=4).map(".".join).filter(
    lambda p: p.split(".")[0] not in ("factor", "readout"))
indices = st.integers(min_value=0, max_value=10**9)


@given(site=paths, index=indices)
def test_module_paths_round_trip(site, index):
    uid = unit_id(site, index)
    assert parse_unit(uid) == (site, index) and site_of(uid) == site
    assert parse_unit(unit_id(site)) == (site, None)
    assert parse_node(uid) == NodeRef("unit", site, index)


@given(tree=st.recursive(st.just(None), lambda kids: st.dictionaries(st.one_of(names, digits), kids, max_size=3),
                         max_leaves=12))
@settings(max_examples=50, deadline=None)
def test_every_named_modules_path_of_a_generated_model_round_trips(tree):
    from torch import nn

    def build(spec) -> nn.Module:
        module = nn.Module()
        for name, child in (spec or {}).items():
            if not hasattr(module, name):  # add_module refuses names of existing attributes ("training", ...)
                module.add_module(name, nn.Identity() if child is None else build(child))
        return module

    for path, _ in build(tree).named_modules():
        if path and path.split(".")[0] not in ("factor", "readout"):
            assert parse_unit(unit_id(path, 3)) == (path, 3)


def _zoo():
    """The graph tests' model zoo (tests/graph/zoo.py, importable there as ``zoo``)."""
    if "zoo" not in sys.modules:
        spec = importlib.util.spec_from_file_location("zoo", Path(__file__).parent / "graph" / "zoo.py")
        sys.modules["zoo"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["zoo"])
    return sys.modules["zoo"].ZOO


@pytest.mark.parametrize("entry", _zoo(), ids=lambda e: e.name)
def test_every_site_of_the_zoo_round_trips_and_is_an_intervention_site(entry):
    import torch

    from causalvae.graph import extract
    from causalvae.interventions.fxsites import NODE_SITE_OPS, split_sites

    model = entry.build().eval()  # the analysis runs eval mode; training-only nodes (sampling) are no sites
    with torch.no_grad():
        graph = extract(model, entry.inputs() if len(entry.inputs()) > 1 else entry.inputs()[0])
    sites = {data["site"] for _, data in graph.nodes(data=True) if data["op"] in NODE_SITE_OPS}
    for site in sites | set(graph.nodes):
        assert parse_unit(unit_id(site, 0)) == (site, 0)
    if entry.method == "fx" and len(entry.inputs()) == 1:  # every node the graph shows can be intervened on
        modules, nodes = split_sites(model, sites)
        assert set(modules) | set(nodes) == sites


def test_known_ids():
    assert unit_id("encoder.conv2", 5) == "encoder.conv2[5]"
    assert parse_unit("latent.mu[3]") == ("latent.mu", 3)
    assert parse_unit("0[1]") == ("0", 1) and parse_unit("1abc[0]") == ("1abc", 0)
    assert parse_unit("recon_error") == ("recon_error", None)
    assert unit_ids("decoder.fc", 3) == ["decoder.fc[0]", "decoder.fc[1]", "decoder.fc[2]"]
    assert group_by_site(["a[1]", "b[0]", "a[0]"]) == {"a": [1, 0], "b": [0]}


@pytest.mark.parametrize("bad", ["", "a[", "a[-1]", "a[01]", "a[1][2]", "a b[0]", "x]", "factor.a[0]",
                                 "readout.a", None, 3])
def test_parse_rejects_malformed(bad):
    with pytest.raises(ValueError, match="expected a unit id"):
        parse_unit(bad)


@pytest.mark.parametrize("site, why", [("a[0]", "brackets"), ("my layer", "whitespace"), ("factor.x", "factor"),
                                       ("readout", "readout"), ("", "non-empty")])
def test_sites_that_cannot_round_trip_are_refused_with_the_reason(site, why):
    with pytest.raises(ValueError, match=why):
        unit_id(site, 1)
    with pytest.raises(ValueError, match=why):
        check_site(site)


def test_unit_index_must_be_a_non_negative_integer():
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="integer >= 0"):
            unit_id("a", bad)


@given(name=names)
def test_factor_and_readout_ids_round_trip_and_never_read_as_units(name):
    if name.startswith(("factor.", "readout.")):
        return
    assert parse_factor(factor_id(name)) == name and parse_readout(readout_id(name)) == name
    assert readout_id(factor_id(name)) == readout_id(name)
    assert parse_node(factor_id(name)) == NodeRef("factor", name, None)
    assert parse_node(readout_id(name)) == NodeRef("readout", name, None)
    assert is_factor(factor_id(name)) and not is_readout(factor_id(name))


def test_factor_and_readout_ids_refuse_bad_names():
    with pytest.raises(ValueError):
        parse_factor("latent.mu[0]")
    with pytest.raises(ValueError):
        factor_id("factor.scale")
    with pytest.raises(ValueError):
        parse_readout("factor.scale")
    with pytest.raises(ValueError):
        readout_id("")
    assert parse_node("latent.mu") == NodeRef("site", "latent.mu", None)


def test_docstring_examples_run():
    import doctest

    import causalvae.units

    result = doctest.testmod(causalvae.units)
    assert result.attempted > 0 and result.failed == 0
