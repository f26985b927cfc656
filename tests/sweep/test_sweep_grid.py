"""Grid files, cell hashing, unit chunking and the local process backend (no pipeline runs here)."""

import dataclasses
import json
import os
import re
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from causalvae.interventions import ablation_effects
from causalvae.pipeline import RunConfig
from causalvae.sweep import (SweepGrid, cell_key, grid_from_dict, load_grid, map_tasks, split_ablation_effects,
                             unit_chunks)

TOML = """
out = "OUT"
variants = ["vae", "beta-vae"]
datasets = ["scm-linear"]
seeds = 2
[options]
quick = true
steps = 7
[[analysis]]
n_analysis = 16
[[analysis]]
n_analysis = 24
"""


def test_toml_and_json_grids_give_the_same_cells(tmp_path):
    (tmp_path / "g.toml").write_text(TOML.replace("OUT", str(tmp_path / "s")))
    spec = {"out": str(tmp_path / "s"), "variants": ["vae", "beta-vae"], "datasets": ["scm-linear"], "seeds": [0, 1],
            "options": {"quick": True, "steps": 7}, "analysis": [{"n_analysis": 16}, {"n_analysis": 24}]}
    (tmp_path / "g.json").write_text(json.dumps(spec))
    a, b = load_grid(tmp_path / "g.toml").cells(), load_grid(tmp_path / "g.json").cells()
    assert a == b and len(a) == 1 * 2 * 2 * 2
    assert {c.config.steps for c in a} == {7} and {c.config.n_analysis for c in a} == {16, 24}
    assert {c.config.n_pairs for c in a} == {RunConfig.resolve(quick=True).n_pairs}  # quick defaults still apply
    assert len({c.run_dir for c in a}) == len(a) and all(c.run_dir.parent == tmp_path / "s" / "cells" for c in a)
    assert a[0].name == "scm-linear/vae/n_analysis=16/seed0" and a[0].key in a[0].run_dir.name


def test_cell_key_ignores_out_and_tracks_every_other_option():
    base = RunConfig.resolve(dataset="scm-linear", quick=True, out="a")
    assert cell_key(base) == cell_key(dataclasses.replace(base, out="b"))
    changed = [dataclasses.replace(base, **{k: v}) for k, v in
               dict(seed=1, variant="vae", steps=31, lr=2e-3, n_pairs=17, hyper={"beta": 2.0}).items()]
    keys = {cell_key(c) for c in changed}
    assert len(keys) == len(changed) and cell_key(base) not in keys


@pytest.mark.parametrize("spec, message", [
    ({"variants": ["vae"], "datasets": ["scm-linear"]}, "missing ['seeds']"),
    ({"variants": ["vae"], "datasets": ["scm-linear"], "seeds": 0}, "must be positive"),
    ({"variants": ["vae"], "datasets": ["scm-linear"], "seeds": [-1]}, "integers >= 0"),
    ({"variants": [], "datasets": ["scm-linear"], "seeds": 1}, "at least one"),
    ({"variants": ["vae"], "datasets": ["scm-linear"], "seeds": 1, "options": {"sed": 3}}, "unknown run option"),
    ({"variants": ["vae"], "datasets": ["scm-linear"], "seeds": 1, "options": {"seed": 3}}, "unknown run option"),
    ({"variants": ["vae"], "datasets": ["scm-linear"], "seeds": 1, "colour": 1}, "unknown grid key"),
    ({"variants": [3], "datasets": ["scm-linear"], "seeds": 1}, "list of names"),
    ({"variants": ["vae"], "datasets": ["scm-linear"], "seeds": 1, "analysis": [1, 2]},
     "grid analysis must be a table or a list of tables, got [1, 2]"),
    ({"variants": ["vae"], "datasets": ["scm-linear"], "seeds": 1, "options": 3}, "grid options must be a table"),
    ({"variants": ["vae"], "datasets": ["scm-linear"], "seeds": 1, "options": {"quick": "yes"}},
     "grid options: run option quick must be bool, got 'yes' (str)"),
    ({"variants": ["vae"], "datasets": ["scm-linear"], "seeds": 1, "options": {"steps": "100"}},
     "grid options: run option steps must be int, got '100' (str)"),
    ({"variants": ["vae"], "datasets": ["scm-linear"], "seeds": 1, "analysis": {"n_pairs": 1.5}},
     "grid analysis: run option n_pairs must be int, got 1.5 (float)"),
    ({"variants": ["vae", "beta-vae"], "datasets": ["scm-linear"], "seeds": 1, "options": {"hyper": {"beta": 8}}},
     "grid cell scm-linear/vae/seed0: unknown hyper-parameter(s) ['beta'] for variant 'vae'"),
    ({"variants": ["beta-vae"], "datasets": ["scm-linear"], "seeds": 1, "options": {"hyper": {"beta": "8"}}},
     "run option hyper must map hyper-parameter names to numbers"),
])
def test_bad_grids_are_refused(spec, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        grid_from_dict(spec)


def test_bad_grid_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="grid file not found"):
        load_grid(tmp_path / "none.toml")
    (tmp_path / "g.yaml").write_text("")
    with pytest.raises(ValueError, match=r"\.toml or \.json"):
        load_grid(tmp_path / "g.yaml")
    (tmp_path / "g.toml").write_text("variants = [")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_grid(tmp_path / "g.toml")


def test_unknown_variant_fails_when_the_grid_is_built(tmp_path):
    with pytest.raises(ValueError, match="grid cell scm-linear/no-such-vae/seed0: unknown variant 'no-such-vae'"):
        SweepGrid(variants=("no-such-vae",), datasets=("scm-linear",), seeds=(0,), options={"quick": True},
                  out=str(tmp_path))
    assert not (tmp_path / "cells").exists()


def test_a_device_this_machine_lacks_fails_a_local_sweep_before_any_work(tmp_path):
    from causalvae.sweep import run_grid

    grid = SweepGrid(variants=("vae",), datasets=("scm-linear",), seeds=(0,),
                     options={"quick": True, "device": "cuda:99"}, out=str(tmp_path))  # a cluster may have it
    with pytest.raises(ValueError, match="device 'cuda:99'"):
        run_grid(grid, backend="local")
    assert not (tmp_path / "cells").exists()


def test_repeated_entries_are_dropped_so_no_cell_runs_twice(tmp_path):
    grid = grid_from_dict({"variants": ["vae", "vae"], "datasets": ["scm-linear"], "seeds": [0, 0, 1],
                           "options": {"quick": True}, "analysis": [{"n_pairs": 16}, {"n_pairs": 16}]},
                          out=str(tmp_path))
    assert grid.variants == ("vae",) and grid.seeds == (0, 1) and grid.analysis == ({"n_pairs": 16},)
    cells = grid.cells()
    assert len(cells) == 2 and len({c.run_dir for c in cells}) == 2


def test_analysis_sets_that_resolve_alike_share_one_run(tmp_path):
    from causalvae.sweep import run_grid
    from causalvae.sweep.cells import CellOutcome

    grid = grid_from_dict({"variants": ["vae"], "datasets": ["scm-linear"], "seeds": [0],
                           "options": {"quick": True}, "analysis": [{}, {"n_pairs": 16}]}, out=str(tmp_path))
    a, b = grid.cells()
    assert a.key == b.key and a.run_dir == b.run_dir and a.analysis != b.analysis
    ran = []
    outcomes = run_grid(grid, runner=_record_cell, workers=1,
                        progress=ran.append)
    assert [o.state for o in outcomes] == ["done", "done"] and len(ran) == 1  # one task for the shared folder
    assert outcomes[0] == outcomes[1] and isinstance(outcomes[0], CellOutcome)


def _record_cell(shared, cell):
    from causalvae.sweep.cells import CellOutcome

    return CellOutcome(cell.name, cell.key, "done", 0.0)


def test_a_dead_worker_without_retries_is_a_one_line_user_error(tmp_path):
    from causalvae.errors import is_user_error
    from causalvae.sweep.backends import WorkersDiedError

    with pytest.raises(WorkersDiedError, match="gave up after max_retries=0") as died:
        map_tasks(_die_once, [2], shared=str(tmp_path / "died"), workers=1, max_retries=0)
    assert is_user_error(died.value) and "\n" not in str(died.value)


def test_unit_chunks_cover_every_unit_once_in_order():
    sources = {"a": list(range(7)), "b": [3, 1], "c": [0]}
    for k in (1, 2, 3, 10):
        chunks = unit_chunks(sources, k)
        assert all(len(c) == 1 and 1 <= len(next(iter(c.values()))) <= k for c in chunks)
        assert [(s, u) for c in chunks for s, us in c.items() for u in us] == \
               [(s, u) for s, us in sources.items() for u in us]
    with pytest.raises(ValueError, match="units_per_task must be >= 1, got 0"):
        unit_chunks(sources, 0)


def _square_plus(shared, item):
    return item * item + shared


def _die_once(marker, item):
    if item == 2 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(3)
    return item * 10


def _fits_in_joblib_workers(shared, item):
    from causalvae.metrics.parallel import map_largest_first

    return sum(map_largest_first(abs, [(-item,), (-2 * item,)], [1, 2], n_jobs=2))


@pytest.mark.timeout(120)  # without the release at exit, each worker lingers 300 s for its idle joblib workers
def test_local_workers_that_used_joblib_processes_exit_promptly():
    assert map_tasks(_fits_in_joblib_workers, [1, 2], shared=None, workers=2) == [3, 6]


@pytest.mark.slow  # two process pools importing torch
def test_local_backend_keeps_order_and_survives_a_dead_worker(tmp_path):
    seen = []
    assert map_tasks(_square_plus, [3, 1, 2], shared=5, workers=2, on_result=lambda i, r: seen.append(i)) == [14, 6, 9]
    assert sorted(seen) == [0, 1, 2]
    marker = str(tmp_path / "died")
    assert map_tasks(_die_once, [1, 2, 3], shared=marker, workers=2) == [10, 20, 30]
    assert os.path.exists(marker)


def test_backend_options_are_checked():
    with pytest.raises(ValueError, match="backend must be one of"):
        map_tasks(_square_plus, [1], backend="slurm")
    with pytest.raises(ValueError, match="need backend='ray'"):
        map_tasks(_square_plus, [1], address="10.0.0.1:6379")
    with pytest.raises(ValueError, match="workers must be >= 1"):
        map_tasks(_square_plus, [1], workers=0)


def _planted_net():
    torch.manual_seed(0)
    layers = dict(enc=nn.Linear(5, 9), relu=nn.ReLU(), mid=nn.Linear(9, 7), tanh=nn.Tanh(), head=nn.Linear(7, 3))
    return nn.Sequential(OrderedDict(layers)).eval()


def test_split_on_local_processes_equals_single_process():
    net, x = _planted_net(), np.random.default_rng(1).normal(size=(20, 5)).astype(np.float32)
    whole = ablation_effects(net, x, sites=["enc", "mid"], targets=["output", "head"], kind="mean")
    split = split_ablation_effects(net, x, sites=["enc", "mid"], targets=["output", "head"], kind="mean", units_per_task=4,
                                   workers=2)
    assert split.sources == whole.sources and split.targets == whole.targets
    assert np.array_equal(split.values, whole.values)
    assert split.meta["split"]["tasks"] == 3 + 2
    with pytest.raises(ValueError, match="only the exact sweep"):
        split_ablation_effects(net, x, method="attribution")


def test_cli_sweep_bad_grid_is_a_one_line_error(tmp_path, capsys):
    from causalvae.cli import main

    assert main(["sweep", str(tmp_path / "none.toml")]) == 2
    assert "causalvae sweep: error: grid file not found" in capsys.readouterr().err
    (tmp_path / "g.json").write_text(json.dumps({"variants": ["vae"], "datasets": ["nope"], "seeds": 1}))
    assert main(["sweep", str(tmp_path / "g.json"), "--out", str(tmp_path / "o")]) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err
    (tmp_path / "g.toml").write_text('variants = ["vae"]\ndatasets = ["scm-linear"]\nseeds = 1\n'
                                     '[options]\nquick = "yes"\n')
    assert main(["sweep", str(tmp_path / "g.toml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err == "causalvae sweep: error: grid options: run option quick must be bool, got 'yes' (str)\n"
    assert not (tmp_path / "o").exists()


def test_the_grid_file_shown_in_the_docs_loads(tmp_path):
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "sweep.md").read_text(encoding="utf-8")
    block = re.search(r"```toml\n(.*?)```", text, re.S).group(1)
    (tmp_path / "study.toml").write_text(block)
    grid = load_grid(tmp_path / "study.toml", out=str(tmp_path / "o"))
    cells = grid.cells()
    assert len(cells) == 3 * 2 * 3 * 2 and {c.config.steps for c in cells} == {3000}
    assert {c.analysis for c in cells} == {"n_analysis=64", "n_analysis=256"}


@pytest.mark.parametrize("status, complete", [
    ({"train": "done", "alignment": "done", "report": "done"}, True),
    ({"train": "done", "alignment": "skipped", "report": "done"}, True),   # not applicable to the model
    ({"train": "done", "alignment": "failed", "report": "done"}, False),   # a failure is never mixed in
    ({"train": "done", "alignment": "done", "report": "skipped"}, False),  # no report: the run did not finish
    ({"train": "done", "alignment": "done"}, False),
    ({}, False),
])
def test_a_cell_is_complete_when_no_stage_failed_and_the_report_was_written(tmp_path, status, complete):
    from causalvae.sweep.cells import is_complete

    (tmp_path / "status.json").write_text(json.dumps({k: {"state": v} for k, v in status.items()}))
    assert is_complete(tmp_path) is complete
