"""A Ctrl-C at any moment of an intervention sweep leaves no hook, train flag or grad-mode change behind
(nor torch.fx's patches of ``nn.Module.__call__`` / ``__getattr__``); the interrupts come from
:class:`interrupts.Interrupter` (one reproducible Ctrl-C per seeded case).
"""

from __future__ import annotations

import random
from collections import OrderedDict

import pytest
import torch
from interrupts import Interrupter
from torch import nn

from causalvae.interventions import ablation_effects, intervene
from causalvae.interventions.ops import zero
from causalvae.modelstate import ModelState


def _model() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(OrderedDict(fc=nn.Linear(2, 3), act=nn.ReLU(), out=nn.Linear(3, 2)))
    net.act.eval()  # mixed flags: a restore that sets one flag for all is caught
    net.out.register_forward_hook(lambda module, inputs, output: None)  # the user's own hook stays
    return net


def _state(model: nn.Module) -> tuple:
    snap = ModelState(model)
    return snap.training, snap.hook_ids, snap.grad_enabled, snap.module_methods


def _sweep(model: nn.Module, x: torch.Tensor, method: str) -> None:
    ablation_effects(model, x, sites=["fc"], targets=["out"], method=method, batch_size=4)


def _leaks(method: str, cases: int, *, seed: int, second: bool = False) -> tuple[int, list[str]]:
    """Interrupt ``cases`` sweeps at random check points; return (interrupted runs, leak descriptions)."""
    model, x = _model(), torch.randn(4, 2, generator=torch.Generator().manual_seed(1))
    _sweep(model, x, method)  # warm caches: later runs take the same path
    with Interrupter() as counter:
        _sweep(model, x, method)
    rng = random.Random(seed)
    interrupted, leaks = 0, []
    for case in range(cases):
        grad = case % 2 == 0
        torch.set_grad_enabled(grad)
        before = _state(model)
        first = rng.randint(1, counter.points)
        then = rng.randint(1, 40) if second else None
        try:
            with Interrupter(first, then):
                _sweep(model, x, method)
        except KeyboardInterrupt as exc:  # checked while the traceback (and its frames) are alive
            interrupted += 1
            after = _state(model)
            if after != before:
                leaks.append(f"{exc}: training {after[0] != before[0]}, hooks {after[1] != before[1]}, "
                             f"grad {after[2] != before[2]}, nn.Module patched {after[3] != before[3]}")
        finally:
            torch.set_grad_enabled(True)
    return interrupted, leaks


@pytest.fixture(autouse=True)
def _grad_mode_back():
    yield
    torch.set_grad_enabled(True)


def test_a_thousand_interrupted_naive_sweeps_leave_nothing_behind():
    interrupted, leaks = _leaks("naive", 1020, seed=0)
    assert interrupted >= 1000
    assert leaks == []


def test_a_second_interrupt_during_cleanup_leaves_nothing_behind():
    interrupted, leaks = _leaks("naive", 200, seed=1, second=True)
    assert interrupted >= 190
    assert leaks == []


def test_interrupted_exact_sweeps_leave_nothing_behind():
    interrupted, leaks = _leaks("exact", 150, seed=2)
    assert interrupted >= 140
    assert leaks == []


def test_intervene_removes_its_hooks_at_every_interrupt_while_registering_or_removing():
    model = nn.Sequential(OrderedDict(a=nn.Linear(2, 2), b=nn.Linear(2, 2)))
    before = _state(model)
    ops = {"a": zero(), "b": zero()}
    hooks = intervene(model, ops)
    with Interrupter() as counter:
        hooks.__enter__()
        entering = counter.points
    with Interrupter() as counter:
        hooks.__exit__(None, None, None)
        leaving, exit_starts = counter.points, counter.first_call
    assert _state(model) == before and entering > 10 and leaving > 10
    for first in range(1, entering + 1):
        with pytest.raises(KeyboardInterrupt), Interrupter(first):
            intervene(model, ops).__enter__()
        assert _state(model) == before, f"interrupt at check point {first} while registering"
    for first in range(exit_starts + 1, leaving + 1):  # no with statement protects __exit__'s first instruction
        hooks = intervene(model, ops)
        hooks.__enter__()
        with pytest.raises(KeyboardInterrupt), Interrupter(first):
            hooks.__exit__(None, None, None)
        assert _state(model) == before, f"interrupt at check point {first} while removing"


def test_model_diagnostics_leave_flags_and_grad_mode_as_found_also_when_interrupted():
    from causalvae.models import encode_dataset, make_vae

    model = make_vae("vae", input_shape=(4,), latent_dim=2, hidden=(3,))
    data = torch.rand(8, 4, generator=torch.Generator().manual_seed(0)).numpy()
    before = _state(model)
    encode_dataset(model, data, batch_size=4)
    assert _state(model) == before and model.training
    with Interrupter() as counter:
        encode_dataset(model, data, batch_size=4)
    rng = random.Random(3)
    interrupted = 0
    for _ in range(200):
        first = rng.randint(1, counter.points)
        try:
            with Interrupter(first):
                encode_dataset(model, data, batch_size=4)
        except KeyboardInterrupt:
            interrupted += 1
        assert _state(model) == before, f"interrupt at check point {first}"
    assert interrupted >= 190
