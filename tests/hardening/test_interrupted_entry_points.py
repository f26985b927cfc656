"""A Ctrl-C at any moment of the entry points guarded since issue #18 (hook-based graph extraction,
interchange interventions, DAS, circuit patching, code swaps, traversals) leaves no hook, training
flag, ``requires_grad`` flag or grad-mode change behind; interrupts come from
:class:`interrupts.Interrupter`, one seeded Ctrl-C per case."""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from interrupts import Interrupter

from causalvae.graph import extract
from causalvae.interventions import code_swap_profile
from causalvae.interventions.circuit_patching import PairRunner, latent_behaviour
from causalvae.interventions.interchange import Interchanger, coordinate_block, train_das
from causalvae.models import latent_traversal, make_vae
from causalvae.modelstate import ModelState


def _state(model) -> tuple:
    snap = ModelState(model)
    return snap.training, snap.hook_ids, snap.requires_grad, snap.grad_enabled, snap.module_methods


def _vae():
    model = make_vae("vae", input_shape=(4,), latent_dim=2, hidden=(3,))
    model.encoder.eval()  # mixed flags: a restore that sets one flag for all is caught
    model.decoder.out.weight.requires_grad_(False)  # so is one that sets requires_grad for all
    model.encoder.register_forward_hook(lambda module, inputs, output: None)  # the user's hook stays
    return model


def _x(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((6, 4)).astype(np.float32)


def _interrupted(model, call, cases: int, *, seed: int) -> tuple[int, list[str]]:
    """Interrupt ``call()`` at ``cases`` random signal-check points; (interrupted calls, leaks)."""
    call()  # warm caches: later runs take the same path
    with Interrupter() as counter:
        call()
    rng, interrupted, leaks = random.Random(seed), 0, []
    for case in range(cases):
        torch.set_grad_enabled(case % 2 == 0)
        before = _state(model)
        try:
            with Interrupter(rng.randint(1, counter.points)):
                call()
        except KeyboardInterrupt as exc:
            interrupted += 1
            if _state(model) != before:
                leaks.append(str(exc))
        finally:
            torch.set_grad_enabled(True)
    return interrupted, leaks


def _pair_runner(model):
    pairs = SimpleNamespace(x=_x(0), x_prime=_x(1), delta=np.ones(6))
    return PairRunner(model, pairs, sites=["encoder.fc1"], behaviour=latent_behaviour([0]), batch_size=4)


def _interchanger(model):
    return Interchanger(model, _x(0), _x(1), sites=["decoder.fc1"], readout=lambda o: o[:, :2], batch_size=4)


CALLS = {
    "extract(method='hooks')": lambda m: extract(m, torch.rand(2, 4), method="hooks"),
    "Interchanger + run": lambda m: _interchanger(m).run(coordinate_block("latent.mu", [1], dim=2)),
    "train_das": lambda m: train_das(_interchanger(m), site="latent.mu", sizes={"f": 1},
                                     targets={"f": np.zeros((6, 2))}, variance=np.ones(2), steps=2),
    "PairRunner + measure + patched": lambda m: (_pair_runner(m).measure([frozenset()]),
                                                 _pair_runner(m).patched("encoder.fc1", [0, 2])),
    "latent_traversal": lambda m: latent_traversal(m, _x(0)[0], values=[-1.0, 1.0]),
}


@pytest.fixture(autouse=True)
def _grad_mode_back():
    yield
    torch.set_grad_enabled(True)


@pytest.mark.parametrize("name", CALLS)
def test_interrupted_calls_leave_the_model_as_found(name):
    model = _vae()
    interrupted, leaks = _interrupted(model, lambda: CALLS[name](model), 120, seed=len(name))
    assert interrupted >= 110
    assert leaks == []


def test_interrupted_code_swaps_leave_the_model_as_found():
    model = make_vae("vq-vae", input_shape=(4,), latent_dim=2, hidden=(8,), codebook_size=4, code_dim=2)
    interrupted, leaks = _interrupted(model, lambda: code_swap_profile(model, _x(0), batch_size=4), 120, seed=5)
    assert interrupted >= 110
    assert leaks == []
