"""The public entry points the fuzz sweep calls, each with a plain call on tiny models that it perturbs.

An :class:`Entry` knows its plain arguments (``defaults``), which of them are input batches
(``batches``), index lists (``indices``) and numbers, and the bad values of each number.  The
kinds of bad input (:mod:`fuzz_kinds`) replace one argument, or the model, at a time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

import causalvae.interventions as iv
from causalvae import models
from causalvae.causal.discovery import learn_dag
from causalvae.causal.stats import benjamini_hochberg, minimal_effect_pvalues
from causalvae.data import load
from causalvae.effects import EffectMatrix
from causalvae.graph import extract
from causalvae.interventions.circuit_patching import PairRunner, latent_behaviour
from causalvae.interventions.interchange import Interchanger, coordinate_block, train_das
from causalvae.metrics import mig
from causalvae.metrics.interventional import causal_effect_strength, intervention_specificity

NAN, INF = float("nan"), float("inf")
POSITIVE_INT = (2.5, NAN, 0, -1, "8")
SEED = (2.5, NAN, -1)
FINITE = (NAN, INF, -INF)
#: devices a CPU model is not on, or that do not exist
BAD_DEVICES = ("cuda:0", "meta", "tpu")
N = 6


def tiny_vae() -> nn.Module:
    return models.make_vae("vae", input_shape=(4,), latent_dim=2, hidden=(3,), seed=0)


def tiny_vq() -> nn.Module:
    return models.make_vae("vq-vae", input_shape=(4,), latent_dim=2, hidden=(8,), codebook_size=4, code_dim=2, seed=0)


@functools.cache
def scm_dataset():
    return load("scm-linear", n=32, seed=0)


def scm_vae() -> nn.Module:
    return models.make_vae("vae", input_shape=(16,), latent_dim=2, hidden=(3,), seed=0)


def batch(seed: int = 0, n: int = N) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 4)).astype(np.float32)


@dataclass(frozen=True)
class Entry:
    """A public function, its plain call and the arguments a fuzz case may spoil.

    ``call(model, args)`` runs it (``model`` is None for functions without one); ``batches`` name
    arguments holding input batches (``single``: one observation instead); ``indices`` index
    lists of size ``index_size``; ``numbers`` the bad values of numeric arguments; ``trains``:
    the call legitimately changes the model's weights (valid cases compare trained weights);
    ``names``: the signature's name of an argument passed inside another (unit lists inside ``sites``);
    ``accepts`` / ``refuses``: kinds this entry must handle like the plain call (graph extraction reads structure
    only) / must refuse although they are valid elsewhere (integer inputs may be indices for extraction).
    """

    name: str
    call: Callable[[Any, dict], Any]
    defaults: Callable[[], dict]
    model: Callable[[], nn.Module] | None = tiny_vae
    batches: tuple[str, ...] = ()
    single: bool = False
    indices: tuple[str, ...] = ()
    index_size: int = 2
    numbers: dict[str, tuple] = field(default_factory=dict)
    trains: bool = False
    names: dict[str, str] = field(default_factory=dict)
    accepts: tuple[str, ...] = ()
    refuses: tuple[str, ...] = ()

    def argument(self, arg: str) -> str:
        """The name of ``arg`` in the function's signature (a clear error must mention it)."""
        return self.names.get(arg, arg)


def _pairs(args: dict) -> Any:
    return SimpleNamespace(x=args["x"], x_prime=args["x_prime"], delta=np.ones(N))


def _interchanger(model, args: dict) -> Interchanger:
    return Interchanger(model, args["base"], args["source"], sites=["decoder.fc1"], readout=lambda o: o[:, :2],
                        batch_size=args["batch_size"], device=args.get("device"))


def _trained(model, args: dict):
    result = models.train(model, args["data"], steps=args["steps"], batch_size=args["batch_size"], lr=args["lr"],
                          seed=args["seed"], progress=False)
    return result.steps, {k: v.detach().clone() for k, v in model.state_dict().items()}  # not its timings


def _as_tensor(x: Any) -> Any:
    """Numeric arrays as tensors (extract takes tensors); anything else as given."""
    return torch.as_tensor(x) if isinstance(x, np.ndarray) and x.dtype.kind in "biufc" else x


def _graph_size(G) -> tuple[int, int]:
    return G.number_of_nodes(), G.number_of_edges()


ENTRIES = [
    Entry("ablation_effects", lambda m, a: iv.ablation_effects(
        m, a["x"], sites={"encoder.fc1": a["units"]}, targets=["latent.mu"], kind="set", value=a["value"],
        seed=a["seed"], batch_size=a["batch_size"], units_per_pass=a["units_per_pass"], device=a["device"]),
        lambda: {"x": batch(), "units": [0, 1], "value": 0.5, "seed": 0, "batch_size": 4, "units_per_pass": 2,
                 "device": None},
        batches=("x",), indices=("units",), index_size=3, names={"units": "sites"},
        numbers={"value": FINITE, "seed": SEED, "batch_size": POSITIVE_INT, "units_per_pass": POSITIVE_INT,
                 "device": BAD_DEVICES}),
    Entry("ablation_effects(naive)", lambda m, a: iv.ablation_effects(
        m, a["x"], sites={"encoder.fc1": a["units"]}, targets=["output"], method="naive", batch_size=a["batch_size"]),
        lambda: {"x": batch(), "units": [2], "batch_size": 4}, batches=("x",), indices=("units",), index_size=3,
        names={"units": "sites"}, numbers={"batch_size": POSITIVE_INT}),
    Entry("edge_effects", lambda m, a: iv.edge_effects(m, a["x"], sites=["encoder.fc1", "latent.mu"],
                                                       batch_size=a["batch_size"]),
          lambda: {"x": batch(), "batch_size": 4}, batches=("x",), numbers={"batch_size": POSITIVE_INT}),
    Entry("patching_effects", lambda m, a: iv.patching_effects(
        m, a["x_clean"], a["x_source"], sites={"encoder.fc1": a["units"]}, targets=["latent.mu"],
        batch_size=a["batch_size"]),
        lambda: {"x_clean": batch(0), "x_source": batch(1), "units": [0, 2], "batch_size": 4},
        batches=("x_clean", "x_source"), indices=("units",), index_size=3, names={"units": "sites"},
        numbers={"batch_size": POSITIVE_INT}),
    Entry("latent_effects", lambda m, a: iv.latent_effects(m, a["x"], values=a["values"], batch_size=a["batch_size"],
                                                           device=a["device"]),
          lambda: {"x": batch(), "values": [-1.0, 1.0], "batch_size": 4, "device": None}, batches=("x",),
          numbers={"values": ([NAN], [INF, 0.0], [], "abc"), "batch_size": POSITIVE_INT, "device": BAD_DEVICES}),
    Entry("latent_output_profiles", lambda m, a: iv.latent_output_profiles(m, a["x"], value=a["value"],
                                                                          batch_size=a["batch_size"]),
          lambda: {"x": batch(), "value": 0.0, "batch_size": 4}, batches=("x",),
          numbers={"value": FINITE, "batch_size": POSITIVE_INT}),
    Entry("factor_effects", lambda m, a: iv.factor_effects(
        m, scm_dataset(), sites=["encoder.fc1"], n_pairs=a["n_pairs"], seed=a["seed"],
        relative_floor=a["relative_floor"], batch_size=a["batch_size"]),
        lambda: {"n_pairs": 8, "seed": 0, "relative_floor": 0.1, "batch_size": 4}, model=scm_vae,
        numbers={"n_pairs": POSITIVE_INT, "seed": SEED, "relative_floor": (NAN, INF, -1.0),
                 "batch_size": POSITIVE_INT}),
    Entry("mediation_outcomes", lambda m, a: iv.mediation_outcomes(
        m, a["x"], a["x_prime"], mediators=["encoder.fc1[0]"], outcome="latent.mu[1]", batch_size=a["batch_size"]),
        lambda: {"x": batch(0), "x_prime": batch(1), "batch_size": 4}, batches=("x", "x_prime"),
        numbers={"batch_size": POSITIVE_INT}),
    Entry("ablate_outside", lambda m, a: iv.ablate_outside(m, a["x"], {"encoder.fc1[0]"}, sites=["encoder.fc1"],
                                                           batch_size=a["batch_size"]),
          lambda: {"x": batch(), "batch_size": 4}, batches=("x",), numbers={"batch_size": POSITIVE_INT}),
    Entry("activation_spread", lambda m, a: iv.activation_spread(
        m, a["x"], sites=["encoder.fc1"], relative_floor=a["relative_floor"], batch_size=a["batch_size"]),
        lambda: {"x": batch(), "relative_floor": 0.1, "batch_size": 4}, batches=("x",),
        numbers={"relative_floor": (NAN, INF, -1.0), "batch_size": POSITIVE_INT}),
    Entry("capture", lambda m, a: iv.capture(m, a["x"], ["encoder.fc1", "latent.mu"]), lambda: {"x": batch()},
          batches=("x",)),
    Entry("decoded_effects", lambda m, a: iv.decoded_effects(m, a["x"], grid=a["grid"], quantiles=a["quantiles"],
                                                             device=a["device"]),
          lambda: {"x": batch(), "grid": [-1.0, 1.0], "quantiles": [0.25, 0.75], "device": None}, batches=("x",),
          numbers={"grid": ([NAN], [INF], []), "quantiles": ([1.5], [NAN], [-0.1]), "device": BAD_DEVICES}),
    Entry("decoded_under_do", lambda m, a: iv.decoded_under_do(m, a["x"], a["values"]),
          lambda: {"x": batch(), "values": [-1.0, 1.0]}, batches=("x",),
          numbers={"values": ([NAN], [[INF, 0.0], [0.0, 1.0]], [])}),
    Entry("paper_metrics", lambda m, a: iv.paper_metrics(m, a["x"], kl=a["kl"], recon_error=a["recon_error"]),
          lambda: {"x": batch(), "kl": np.array([0.5, 0.2]), "recon_error": 1.0}, batches=("x",),
          numbers={"kl": ([NAN, 1.0], [1.0, 2.0, 3.0], [-1.0, 1.0]), "recon_error": (NAN, INF)}),
    Entry("used_codes", lambda m, a: iv.used_codes(m, a["x"], batch_size=a["batch_size"]),
          lambda: {"x": batch(), "batch_size": 4}, model=tiny_vq, batches=("x",), numbers={"batch_size": POSITIVE_INT}),
    Entry("code_effects", lambda m, a: iv.code_effects(m, a["x"], codes=a["codes"], targets=["output_l2"],
                                                       batch_size=a["batch_size"]),
          lambda: {"x": batch(), "codes": [0, 3], "batch_size": 4}, model=tiny_vq, batches=("x",),
          indices=("codes",), index_size=4, numbers={"batch_size": POSITIVE_INT}),
    Entry("code_swap_profile", lambda m, a: iv.code_swap_profile(m, a["x"], codes=a["codes"],
                                                                 batch_size=a["batch_size"], max_batch=a["max_batch"]),
          lambda: {"x": batch(), "codes": [1, 2], "batch_size": 4, "max_batch": 8}, model=tiny_vq, batches=("x",),
          indices=("codes",), index_size=4, numbers={"batch_size": POSITIVE_INT, "max_batch": POSITIVE_INT}),
    Entry("code_margin", lambda m, a: iv.code_margin(m, a["x"], batch_size=a["batch_size"]),
          lambda: {"x": batch(), "batch_size": 4}, model=tiny_vq, batches=("x",), numbers={"batch_size": POSITIVE_INT}),
    Entry("Interchanger.run", lambda m, a: _interchanger(m, a).run(coordinate_block("latent.mu", a["units"], dim=2)),
          lambda: {"base": batch(0), "source": batch(1), "units": [1], "batch_size": 4, "device": None},
          batches=("base", "source"), indices=("units",), numbers={"batch_size": POSITIVE_INT, "device": BAD_DEVICES}),
    Entry("train_das", lambda m, a: train_das(
        _interchanger(m, {**a, "batch_size": 4}), site="latent.mu", sizes={"f": 1},
        targets={"f": np.zeros((N, 2))}, variance=np.ones(2), steps=a["steps"], lr=a["lr"],
        batch_size=a["batch_size"])["f"].basis,
        lambda: {"base": batch(0), "source": batch(1), "steps": 3, "lr": 0.01, "batch_size": 4},
        batches=("base", "source"),
        numbers={"steps": POSITIVE_INT[:-2] + (-1,), "lr": (NAN, INF, -1.0, 0.0), "batch_size": POSITIVE_INT}),
    Entry("PairRunner.patched", lambda m, a: PairRunner(
        m, _pairs(a), sites=["encoder.fc1"], behaviour=latent_behaviour([0]), batch_size=a["batch_size"],
        units_per_pass=a["units_per_pass"]).patched("encoder.fc1", a["units"]),
        lambda: {"x": batch(0), "x_prime": batch(1), "units": [0, 1], "batch_size": 4, "units_per_pass": 2},
        batches=("x", "x_prime"), indices=("units",), index_size=3,
        numbers={"batch_size": POSITIVE_INT, "units_per_pass": POSITIVE_INT}),
    Entry("encode_dataset", lambda m, a: models.encode_dataset(m, a["data"], indices=a["indices"],
                                                               batch_size=a["batch_size"], device=a["device"]),
          lambda: {"data": batch(), "indices": list(range(N)), "batch_size": 4, "device": None}, batches=("data",),
          indices=("indices",), index_size=N, numbers={"batch_size": POSITIVE_INT, "device": BAD_DEVICES}),
    Entry("latent_kl", lambda m, a: models.latent_kl(m, a["data"], batch_size=a["batch_size"]),
          lambda: {"data": batch(), "batch_size": 4}, batches=("data",), numbers={"batch_size": POSITIVE_INT}),
    Entry("reconstruction_quality", lambda m, a: models.reconstruction_quality(m, a["data"], indices=a["indices"]),
          lambda: {"data": batch(), "indices": list(range(N))}, batches=("data",), indices=("indices",), index_size=N),
    Entry("active_latents", lambda m, a: models.active_latents(m, a["data"], threshold=a["threshold"]),
          lambda: {"data": batch(), "threshold": 0.01}, batches=("data",), numbers={"threshold": (NAN, -1.0, INF)}),
    Entry("latent_traversal", lambda m, a: models.latent_traversal(m, a["x"], values=a["values"],
                                                                   latents=a["latents"]),
          lambda: {"x": batch()[0], "values": [-1.0, 1.0], "latents": [1]}, batches=("x",), single=True,
          indices=("latents",), numbers={"values": ([NAN], [INF], [])}),
    Entry("code_usage", lambda m, a: models.code_usage(m, a["data"], batch_size=a["batch_size"]),
          lambda: {"data": batch(), "batch_size": 4}, model=tiny_vq, batches=("data",),
          numbers={"batch_size": POSITIVE_INT}),
    Entry("code_entropy", lambda m, a: models.code_entropy(m, a["data"], indices=a["indices"]),
          lambda: {"data": batch(), "indices": list(range(N))}, model=tiny_vq, batches=("data",), indices=("indices",),
          index_size=N),
    Entry("train", _trained, lambda: {"data": batch(n=8), "steps": 2, "batch_size": 4, "lr": 1e-3, "seed": 0},
          batches=("data",), trains=True,
          numbers={"steps": (2.5, NAN, -1, "5"), "batch_size": POSITIVE_INT + (9,), "lr": (NAN, INF, -1.0, 0.0),
                   "seed": SEED}),
    Entry("make_vae", lambda _, a: models.make_vae(a["variant"], input_shape=a["input_shape"],
                                                   latent_dim=a["latent_dim"], hidden=a["hidden"],
                                                   obs_std=a["obs_std"], seed=a["seed"], beta=a["beta"]).config,
          lambda: {"variant": "beta-vae", "input_shape": (4,), "latent_dim": 2, "hidden": (3,), "obs_std": 0.1,
                   "seed": 0, "beta": 4.0}, model=None,
          numbers={"latent_dim": POSITIVE_INT, "hidden": ((2.5,), (0,), (-1,), 3), "input_shape": ((0,), (2.5,), ()),
                   "obs_std": (NAN, INF, -1.0, 0.0), "seed": SEED, "beta": (NAN, INF, -1.0)}),
    Entry("EffectMatrix", lambda _, a: EffectMatrix(a["values"], sources=a["sources"], targets=("t",),
                                                    intervention="do", statistic="mean", n_samples=a["n_samples"],
                                                    stderr=a["stderr"]),
          lambda: {"values": np.ones((2, 1)), "sources": ("a", "b"), "n_samples": 4, "stderr": np.ones((2, 1))},
          model=None, numbers={"values": (np.full((2, 1), NAN), np.array([[1j], [0]]), np.ones((1, 2))),
                               "sources": ("ab", ("a", "a")), "n_samples": (2.5, NAN, -1),
                               "stderr": (np.full((2, 1), -1.0), np.full((2, 1), NAN))}),
    Entry("learn_dag", lambda _, a: learn_dag(a["frame"], alpha=a["alpha"]),
          lambda: {"frame": pd.DataFrame(np.random.default_rng(0).normal(size=(50, 3)), columns=list("abc")),
                   "alpha": 0.05}, model=None, numbers={"alpha": (NAN, -0.1, 1.5, 0.0)}),
    Entry("minimal_effect_pvalues", lambda _, a: minimal_effect_pvalues(
        np.ones(3), a["stderr"], dof=a["dof"], floor=a["floor"], signed=False),
        lambda: {"stderr": np.ones(3), "dof": 5, "floor": 0.1}, model=None,
        numbers={"stderr": (np.array([NAN, 1, 1]), np.array([-1.0, 1, 1])), "dof": (2.5, 0, NAN),
                 "floor": (NAN, -1.0)}),
    Entry("extract", lambda m, a: _graph_size(extract(m, _as_tensor(a["x"]), method=a["method"])),
          lambda: {"x": batch(), "method": "hooks"}, batches=("x",), numbers={"method": (1, "jit")},
          accepts=("NaN / inf in a batch", "NaN weights", "empty batch", "too few axes", "extra axis"),
          refuses=("integer batch (valid)",), names={"x": "example_input"}),
    Entry("benjamini_hochberg", lambda _, a: benjamini_hochberg(a["p_values"]),
          lambda: {"p_values": np.array([0.01, 0.2, 0.04])}, model=None,
          numbers={"p_values": (np.array([0.1, 1.5]), np.array([-0.1, 0.2]), np.array([INF, 0.2]), "0.1")}),
    Entry("causal_effect_strength", lambda _, a: causal_effect_strength(a["per_latent"], n_output=a["n_output"],
                                                                       kl=a["kl"]),
          lambda: {"per_latent": np.array([1.0, 2.0]), "n_output": 4, "kl": np.array([0.5, 0.001])}, model=None,
          numbers={"per_latent": (np.array([NAN, 1.0]), np.array([-1.0, 1.0])), "n_output": POSITIVE_INT,
                   "kl": (np.array([NAN, 1.0]), np.array([1.0, 2.0, 3.0]))}),
    Entry("intervention_specificity", lambda _, a: intervention_specificity(a["profiles"]),
          lambda: {"profiles": np.array([[1.0, 0.0, 2.0], [0.5, 0.5, 0.5]])}, model=None,
          numbers={"profiles": (np.full((2, 3), NAN), -np.ones((2, 3)), np.ones(3))}),
    Entry("mig", lambda _, a: mig(a["codes"], a["factors"]),
          lambda: {"codes": np.random.default_rng(0).normal(size=(40, 2)),
                   "factors": np.random.default_rng(1).integers(0, 3, size=(40, 2))}, model=None,
          numbers={"codes": (np.full((40, 2), NAN), np.ones((40,)), np.ones((3, 2))),
                   "factors": (np.full((40, 2), NAN), np.ones((39, 2)))}),
]
BY_NAME = {e.name: e for e in ENTRIES}
