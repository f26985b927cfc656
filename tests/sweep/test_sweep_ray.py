"""A real local Ray cluster: grid results equal the local backend's, a killed worker's cell is redone once,
and an exact sweep split across Ray tasks gives the single-process matrix bit for bit."""

import json
import os
import signal
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from causalvae.interventions import ablation_effects  # noqa: E402
from causalvae.sweep.cells import is_complete  # noqa: E402
from causalvae.sweep import SweepGrid, run_cell, split_ablation_effects, sweep  # noqa: E402

pytestmark = pytest.mark.slow  # tiny pipeline runs on both backends
TINY = {"quick": True, "steps": 10, "n": 200, "n_analysis": 16, "n_pairs": 8}


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers need not import this test file
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def tiny_grid(out: Path) -> SweepGrid:
    return SweepGrid(variants=("vae", "beta-vae"), datasets=("scm-linear",), seeds=(0,), options=TINY, out=str(out))


@pytest.fixture(scope="module")
def local_result(tmp_path_factory):
    grid = tiny_grid(tmp_path_factory.mktemp("local"))
    return grid, sweep(grid, backend="local", workers=2)


def _metrics(cell) -> dict:
    """Every metric of a cell except wall-clock timings."""
    metrics = json.loads((cell.run_dir / "metrics.json").read_text())
    return {k: v for k, v in metrics.items() if not k.endswith("seconds")}


def _assert_same_results(grid_a: SweepGrid, result_a, grid_b: SweepGrid, result_b) -> None:
    assert result_a.missing == result_b.missing == []
    for a, b in zip(grid_a.cells(), grid_b.cells(), strict=True):
        assert a.key == b.key and is_complete(b.run_dir)
        assert _metrics(a) == _metrics(b)  # every metric, exactly
    assert result_a.table.equals(result_b.table)
    assert (Path(grid_a.out) / "sweep.csv").read_text() == (Path(grid_b.out) / "sweep.csv").read_text()


def test_ray_grid_equals_local_grid_exactly(local_result, tmp_path):
    local_grid, local = local_result
    grid = tiny_grid(tmp_path)
    lines = []
    result = sweep(grid, backend="ray", progress=lines.append)
    assert [o.state for o in result.outcomes] == ["done", "done"]
    _assert_same_results(local_grid, local, grid, result)
    assert set(result.table[result.table["metric"] == "CES (paper)"]["n"]) == {1} and len(lines) == 2
    again = sweep(grid, backend="ray")  # a re-launched sweep reuses the complete cells
    assert [o.state for o in again.outcomes] == ["reused", "reused"] and again.table.equals(result.table)


def _killed_once_runner(shared, cell):
    """Kill this Ray worker (SIGKILL) half-way through the beta-vae cell, the first time only."""
    marker = Path(cell.run_dir).parent.parent / "killed-once"
    if cell.config.variant == "beta-vae" and not marker.exists():
        from causalvae.pipeline import run

        def die_mid_cell(line: str) -> None:
            if line.startswith("> unit_ablation"):
                marker.write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)

        run(cell.config, progress=die_mid_cell)
    return run_cell(shared, cell)


def test_killed_worker_cell_is_retried_and_done_once(local_result, tmp_path):
    local_grid, local = local_result
    grid = tiny_grid(tmp_path)
    result = sweep(grid, backend="ray", max_retries=2, runner=_killed_once_runner)
    assert (tmp_path / "killed-once").exists()  # the worker really died mid-sweep
    assert [o.state for o in result.outcomes] == ["done", "done"]
    for cell in grid.cells():
        log = (cell.run_dir / "log.txt").read_text()
        assert log.count("causalvae run:") == 1  # the dead attempt's half-written folder was not mixed in
    assert sorted(p.name for p in (tmp_path / "cells").iterdir()) == sorted(c.run_dir.name for c in grid.cells())
    _assert_same_results(local_grid, local, grid, result)


def test_without_retries_a_killed_cell_fails_the_sweep_and_stays_missing(tmp_path):
    grid = SweepGrid(variants=("beta-vae",), datasets=("scm-linear",), seeds=(0,), options=TINY, out=str(tmp_path))
    with pytest.raises(ray.exceptions.WorkerCrashedError):
        sweep(grid, backend="ray", max_retries=0, runner=_killed_once_runner)
    assert (tmp_path / "killed-once").exists()
    from causalvae.sweep import aggregate_grid

    table, missing = aggregate_grid(grid)
    assert missing == ["scm-linear/beta-vae/seed0"] and set(table["n"]) == {0}


def _mlp():
    import torch
    from torch import nn

    torch.manual_seed(3)
    layers = dict(enc=nn.Linear(6, 12), relu=nn.ReLU(), mid=nn.Linear(12, 10), tanh=nn.Tanh(), head=nn.Linear(10, 4))
    return nn.Sequential(OrderedDict(layers)).eval()


@pytest.mark.parametrize("kind", ["zero", "resample"])
def test_split_exact_sweep_on_ray_equals_single_process(kind):
    net, x = _mlp(), np.random.default_rng(0).normal(size=(40, 6)).astype(np.float32)
    options = dict(targets=["output", "mid", "output_l2"], kind=kind, seed=7, batch_size=16)
    whole = ablation_effects(net, x, **options)
    split = split_ablation_effects(net, x, units_per_task=5, backend="ray", **options)
    assert split.sources == whole.sources and split.targets == whole.targets
    assert np.array_equal(split.values, whole.values)
    assert (split.intervention, split.statistic, split.n_samples, split.seed) == \
           (whole.intervention, whole.statistic, whole.n_samples, whole.seed)
    per_site = {}
    for uid in whole.sources:
        per_site[uid.split("[")[0]] = per_site.get(uid.split("[")[0], 0) + 1
    for counter in ("skipped_noops", "linear_path_units", "recomputed_units"):
        assert split.meta[counter] == whole.meta[counter]  # chunk counters add up to the whole sweep's
    assert split.meta["split"]["tasks"] == sum(-(-n // 5) for n in per_site.values()) > len(per_site)


def test_gpu_cells_ask_ray_for_gpus_and_are_refused_where_there_are_none(tmp_path):
    grid = SweepGrid(variants=("vae",), datasets=("scm-linear",), seeds=(0,), options={**TINY, "device": "cuda"},
                     out=str(tmp_path))
    with pytest.raises(ValueError, match=r"asks for 0.5 GPU\(s\) but the Ray cluster has 0"):
        sweep(grid, backend="ray", gpus_per_cell=0.5)
    assert not (tmp_path / "cells").exists()
