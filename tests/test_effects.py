import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from causalvae.effects import EffectMatrix


def make(values=None, **kw):
    values = np.arange(6.0).reshape(2, 3) if values is None else values
    args = dict(sources=["a[0]", "a[1]"], targets=["b[0]", "b[1]", "recon_error"], intervention="zero-ablation",
                statistic="mean_abs", n_samples=4, seed=7)
    args.update(kw)
    return EffectMatrix(values, **args)


def test_frame_and_lookup():
    m = make()
    df = m.to_frame()
    assert df.shape == (2, 3) and df.loc["a[1]", "recon_error"] == 5.0
    assert m.value("a[0]", "b[1]") == 1.0
    long = m.to_long_frame()
    assert list(long.columns) == ["source", "target", "effect"] and len(long) == 6
    assert long.set_index(["source", "target"]).loc[("a[1]", "b[0]"), "effect"] == 3.0


def test_values_are_float64_and_immutable():
    m = make(np.ones((2, 3), dtype=np.float32))
    assert m.values.dtype == np.float64
    with pytest.raises(ValueError):
        m.values[0, 0] = 2.0


def test_select_transpose_concat():
    m = make(stderr=np.full((2, 3), 0.5))
    sub = m.select(sources=["a[1]"], targets=["recon_error", "b[0]"])
    np.testing.assert_array_equal(sub.values, [[5.0, 3.0]])
    assert sub.stderr.shape == (1, 2)
    t = m.transpose()
    assert t.sources == m.targets and t.values[2, 1] == 5.0
    both = EffectMatrix.concat([m.select(sources=["a[0]"]), m.select(sources=["a[1]"])])
    np.testing.assert_array_equal(both.values, m.values)
    with pytest.raises(ValueError, match="identical targets"):
        EffectMatrix.concat([m, m.select(targets=["b[0]"])])
    with pytest.raises(ValueError, match="equal seed"):
        EffectMatrix.concat([m.select(sources=["a[0]"]), make(seed=8).select(sources=["a[1]"])])


def test_save_load_round_trip(tmp_path):
    m = make(ci_low=np.zeros((2, 3)), ci_high=np.full((2, 3), 9.0), meta={"method": "exact"})
    path = m.save(tmp_path / "sub" / "m.npz")
    back = EffectMatrix.load(path)
    np.testing.assert_array_equal(back.values, m.values)
    np.testing.assert_array_equal(back.ci_high, m.ci_high)
    assert (back.sources, back.targets, back.meta, back.seed) == (m.sources, m.targets, m.meta, 7)
    assert back.stderr is None
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["m.npz"]  # no temp file left behind


@pytest.mark.parametrize("kwargs, message", [
    (dict(values=np.zeros((3, 3))), r"shape \(3, 3\) does not match 2 sources x 3 targets"),
    (dict(values=np.zeros(6)), "must be 2-D"),
    (dict(sources=["a[0]", "a[0]"]), "sources must be unique"),
    (dict(stderr=np.zeros((3, 2))), "stderr shape"),
    (dict(n_samples=-1), "n_samples must be >= 0"),
])
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make(**kwargs)


def test_unknown_labels_and_unreadable_file(tmp_path):
    m = make()
    with pytest.raises(KeyError, match="unknown source 'z'"):
        m.value("z", "b[0]")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable EffectMatrix"):
        EffectMatrix.load(bad)


def test_average_gives_batch_means_stderr():
    reps = [make(np.full((2, 3), v), n_samples=10) for v in (1.0, 2.0, 3.0, 6.0)]
    avg = EffectMatrix.average(reps)
    np.testing.assert_allclose(avg.values, 3.0)
    np.testing.assert_allclose(avg.stderr, np.std([1, 2, 3, 6], ddof=1) / 2)  # sample std / sqrt(4)
    assert avg.n_samples == 40 and avg.meta["replicates"] == 4
    with pytest.raises(ValueError, match="at least 2"):
        EffectMatrix.average(reps[:1])
    with pytest.raises(ValueError, match="equal sources"):
        EffectMatrix.average([reps[0], make(statistic="mean")])


# -- validation of nonsense inputs (property-based) ---------------------------------------------


SHAPE = (2, 3)
_non_finite = st.sampled_from([np.nan, np.inf, -np.inf])
_cell = st.tuples(st.integers(0, SHAPE[0] - 1), st.integers(0, SHAPE[1] - 1))
_finite = st.floats(-1e6, 1e6, allow_nan=False)


def _with(cell, value, base=0.0):
    a = np.full(SHAPE, base)
    a[cell] = value
    return a


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(["values", "stderr", "ci_low", "ci_high"]), cell=_cell, bad=_non_finite)
def test_non_finite_numbers_are_refused_in_every_array(name, cell, bad):
    arrays = {"stderr": np.ones(SHAPE), "ci_low": np.zeros(SHAPE), "ci_high": np.ones(SHAPE)}
    arrays[name] = _with(cell, bad, base=arrays.get(name, np.zeros(SHAPE))[0, 0])
    with pytest.raises(ValueError, match=rf"{name} must be finite, got {bad} at {re.escape(str(cell))}"):
        make(**{"values": np.zeros(SHAPE), **arrays})


@settings(max_examples=60, deadline=None)
@given(cell=_cell, negative=st.floats(-1e6, -1e-12))
def test_negative_stderr_is_refused(cell, negative):
    with pytest.raises(ValueError, match=rf"stderr must be >= 0, got .* at {re.escape(str(cell))}"):
        make(stderr=_with(cell, negative, base=1.0))


@settings(max_examples=60, deadline=None)
@given(cell=_cell, low=_finite, gap=st.floats(1e-6, 1e6))
def test_ci_low_above_ci_high_is_refused(cell, low, gap):
    with pytest.raises(ValueError, match=rf"ci_low <= ci_high, got .* at {re.escape(str(cell))}"):
        make(ci_low=_with(cell, low + gap, base=low), ci_high=np.full(SHAPE, low))


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(["values", "stderr", "ci_low"]),
       data=st.sampled_from([np.full(SHAPE, 1 + 1j), np.full(SHAPE, "1.0"), np.ones(SHAPE, dtype=bool),
                             np.full(SHAPE, None)]))
def test_arrays_of_non_real_numbers_are_refused(name, data):
    kwargs = {"ci_high": np.full(SHAPE, 2.0)} if name == "ci_low" else {}
    with pytest.raises(TypeError, match=rf"{name} must hold real numbers \(int or float\), got dtype {data.dtype}"):
        make(**{name: data}, **kwargs)


@settings(max_examples=60, deadline=None)
@given(label=st.sampled_from(["sources", "targets"]),
       ids=st.one_of(st.text(min_size=0, max_size=5), st.binary(max_size=5), st.integers(), st.none()))
def test_ids_given_as_a_string_or_a_scalar_are_refused(label, ids):
    with pytest.raises(TypeError, match=f"{label} must be a sequence of id strings"):
        make(**{label: ids})


@settings(max_examples=60, deadline=None)
@given(bad=st.one_of(st.integers(), st.floats(allow_nan=False), st.none(), st.just(b"x"), st.just("")))
def test_ids_must_be_non_empty_strings(bad):
    with pytest.raises(TypeError, match=r"sources must be non-empty strings, got \["):
        make(sources=["a[0]", bad])


@settings(max_examples=60, deadline=None)
@given(n=st.one_of(st.floats(allow_nan=True).filter(lambda f: not float(f).is_integer()),
                   st.floats(0, 1e6).map(float), st.booleans(), st.text(max_size=3), st.none()))
def test_n_samples_must_be_an_integer(n):
    with pytest.raises(TypeError, match="n_samples must be an integer, got"):
        make(n_samples=n)


@settings(max_examples=30, deadline=None)
@given(seed=st.one_of(st.floats(allow_nan=False), st.booleans(), st.text(max_size=3)))
def test_seed_must_be_an_integer_or_none(seed):
    with pytest.raises(TypeError, match="seed must be an integer or None"):
        make(seed=seed)


@pytest.mark.parametrize("kwargs, message", [
    (dict(ci_low=np.zeros(SHAPE)), "ci_low and ci_high must be given together"),
    (dict(intervention=""), "intervention must be a non-empty string"),
    (dict(statistic=None), "statistic must be a non-empty string"),
    (dict(meta=[("a", 1)]), "meta must be a mapping"),
])
def test_other_bad_arguments_name_the_argument(kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        make(**kwargs)


def test_valid_inputs_are_kept_and_integers_normalised():
    m = make(n_samples=np.int64(5), seed=np.int32(3), stderr=np.zeros(SHAPE), ci_low=np.zeros(SHAPE),
             ci_high=np.zeros(SHAPE), sources=np.array(["a[0]", "a[1]"]))
    assert (type(m.n_samples), type(m.seed), m.sources) == (int, int, ("a[0]", "a[1]"))
    assert make(values=np.zeros((2, 3), dtype=np.int16)).values.dtype == np.float64


def test_load_refuses_unknown_provenance_keys_with_a_value_error(tmp_path):
    path = make().save(tmp_path / "m.npz")
    with np.load(path) as z:
        arrays = dict(z)
    arrays["provenance"] = np.asarray('{"intervention": "i", "statistic": "s", "n_samples": 1, "colour": "red"}')
    np.savez(tmp_path / "extra.npz", **arrays)
    with pytest.raises(ValueError, match=r"not a readable EffectMatrix .*got \['colour', 'intervention'"):
        EffectMatrix.load(tmp_path / "extra.npz")
    arrays["values"] = np.full(SHAPE, np.nan)
    arrays["provenance"] = np.asarray('{"intervention": "i", "statistic": "s", "n_samples": 1}')
    np.savez(tmp_path / "nan.npz", **arrays)
    with pytest.raises(ValueError, match="not a readable EffectMatrix .*values must be finite"):
        EffectMatrix.load(tmp_path / "nan.npz")
