"""The ``causalvae train`` handler and its arguments."""

import argparse

import networkx as nx
import numpy as np
import pytest

import causalvae.data
from causalvae.data.dataset import FactorDataset
from causalvae.models import add_train_arguments, cli_train, load_checkpoint
from vae_fixtures import tabular


def _toy_load(name, *, n=None, seed=0):
    x = tabular(n or 128, seed=seed)
    dag = nx.DiGraph()
    dag.add_node("f")
    return FactorDataset(name=name, x=x, factors=np.zeros((len(x), 1)), factor_names=("f",),
                         factor_kinds=("continuous",), factor_dag=dag)


def test_cli_trains_writes_a_checkpoint_and_resumes(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(causalvae.data, "load", _toy_load)
    argv = ["--dataset", "toy", "--n", "96", "--variant", "beta-vae", "--latent-dim", "2", "--steps", "4",
            "--batch-size", "32", "--lr", "1e-3", "--hyper", "beta=2", "--out", str(tmp_path), "--no-progress"]
    assert cli_train(argv) == 0
    out = capsys.readouterr().out
    assert "trained beta-vae on toy to step 4" in out and "last.safetensors" in out
    ckpt = load_checkpoint(tmp_path / "last.safetensors")
    assert ckpt.config.hyper == {"beta": 2.0} and ckpt.config.latent_dim == 2 and ckpt.training["step"] == 4
    assert cli_train([*argv[:9], "6", *argv[10:]]) == 0  # --steps 6 continues the same run
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 6


@pytest.mark.parametrize("bad", [["--hyper", "beta"], ["--steps", "0"], ["--lr", "-1"]])
def test_bad_arguments_are_rejected(bad, capsys):
    parser = add_train_arguments(argparse.ArgumentParser())
    with pytest.raises(SystemExit):
        parser.parse_args(["--dataset", "x", "--steps", "3", *bad])
    assert "expected" in capsys.readouterr().err


def test_unknown_hyper_parameter_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(causalvae.data, "load", _toy_load)
    with pytest.raises(ValueError, match=r"unknown hyper-parameters \['gamma'\]"):
        cli_train(["--dataset", "toy", "--steps", "2", "--hyper", "gamma=1", "--out", str(tmp_path)])


def test_evaluate_reports_baseline_kl_figure_and_json(tmp_path, monkeypatch, capsys):
    import json

    from causalvae.models import cli_evaluate, make_vae, save_checkpoint
    from vae_fixtures import blobs

    def load_images(name, *, seed=0):
        x = blobs(40, seed=seed)
        dag = nx.DiGraph()
        dag.add_node("f")
        return FactorDataset(name=name, x=x, factors=np.zeros((40, 1)), factor_names=("f",),
                             factor_kinds=("continuous",), factor_dag=dag)

    monkeypatch.setattr(causalvae.data, "load", load_images)
    ckpt = save_checkpoint(tmp_path / "m.safetensors", make_vae("beta-vae", input_shape=(1, 64, 64), latent_dim=3))
    assert cli_evaluate(["--checkpoint", str(ckpt), "--dataset", "blobs", "--n", "16",
                         "--figure", str(tmp_path / "t.png"), "--json", str(tmp_path / "s.json")]) == 0
    out = capsys.readouterr().out
    assert "constant image" in out and "active latents" in out
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["n"] == 16 and len(summary["latent_kl"]) == 3 and summary["baseline_mse"] > 0
    assert (tmp_path / "t.png").stat().st_size > 1000
