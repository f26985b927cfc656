import numpy as np
import pytest

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
