import pytest
from hypothesis import given, strategies as st

from causalvae.units import (factor_id, group_by_site, is_factor, parse_factor, parse_unit, site_of, unit_id,
                             unit_ids)

site_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}(\.[A-Za-z_][A-Za-z0-9_]{0,6}){0,3}", fullmatch=True)


@given(site=site_names, index=st.integers(min_value=0, max_value=10**6))
def test_format_parse_round_trip(site, index):
    assert parse_unit(unit_id(site, index)) == (site, index)
    assert site_of(unit_id(site, index)) == site


def test_known_ids():
    assert unit_id("encoder.conv2", 5) == "encoder.conv2[5]"
    assert parse_unit("latent.mu[3]") == ("latent.mu", 3)
    assert parse_unit("recon_error") == ("recon_error", None)
    assert unit_ids("decoder.fc", 3) == ["decoder.fc[0]", "decoder.fc[1]", "decoder.fc[2]"]
    assert group_by_site(["a[1]", "b[0]", "a[0]"]) == {"a": [1, 0], "b": [0]}


@pytest.mark.parametrize("bad", ["", "a[", "a[-1]", "a[1][2]", "1abc[0]", "a b[0]", None, 3])
def test_parse_rejects_malformed(bad):
    with pytest.raises(ValueError, match="expected a unit id"):
        parse_unit(bad)


def test_unit_id_rejects_bad_parts():
    with pytest.raises(ValueError, match=">= 0"):
        unit_id("a", -1)
    with pytest.raises(ValueError, match="without brackets"):
        unit_id("a[0]", 1)


def test_factor_ids():
    assert factor_id("scale") == "factor.scale"
    assert is_factor("factor.scale") and not is_factor("latent.mu[0]")
    assert parse_factor("factor.posX") == "posX"
    with pytest.raises(ValueError):
        parse_factor("latent.mu[0]")
    with pytest.raises(ValueError):
        factor_id("factor.scale")
