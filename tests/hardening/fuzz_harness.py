"""Outcome of one bad-input call to the public API: clear error, correct answer, unclear crash or silent wrong answer.

A case calls one entry point on one bad input.  Inputs the entry point must refuse (NaN, wrong
shape, a fractional index, ...) give a *clear error* when the call raises one of the error types a
user can act on, from causalvae's own code, with a message naming the argument; any other
exception is an *unclear crash*, and a normal return is a *silent wrong answer*.  Inputs that are
unusual but valid (a float64 batch, a tensor that requires grad, a model in train mode) must give
the answer of the plain call (a *correct answer*); anything else is an unclear crash (an
exception) or a silent wrong answer (a different or non-finite result).  Either way the model
must come back unchanged: weights, device, hooks, training flags, ``requires_grad`` and the grad
mode; a change is a silent wrong answer.
"""

from __future__ import annotations

import dataclasses
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import causalvae
from causalvae.errors import UserError

CLEAR, CORRECT, UNCLEAR, SILENT = "clear error", "correct answer", "unclear crash", "silent wrong answer"
OUTCOMES = (CLEAR, CORRECT, UNCLEAR, SILENT)
USER_ERRORS = (ValueError, TypeError, KeyError, IndexError, UserError)
PACKAGE = str(Path(causalvae.__file__).parent)

#: outcome counts of every case run in this process, per (entry point, kind)
TALLY: Counter[tuple[str, str, str]] = Counter()
#: the first detail seen per (entry point, kind, outcome)
DETAILS: dict[tuple[str, str, str], str] = {}


@dataclass(frozen=True)
class Case:
    """One call of an entry point on one bad input.

    ``run`` makes the call; ``argument`` is the name a clear error must mention; ``reference``
    (for valid inputs) gives the answer the call must reproduce; ``model`` must come back unchanged.
    """

    entry: str
    kind: str
    run: Callable[[], Any] = dataclasses.field(repr=False)
    argument: str
    model: nn.Module | None = dataclasses.field(default=None, repr=False)
    reference: Callable[[], Any] | None = dataclasses.field(default=None, repr=False)


def model_state(model: nn.Module | None) -> tuple:
    """Everything an entry point must leave as it found it."""
    if model is None:
        return (torch.is_grad_enabled(),)
    hooks = tuple((tuple(m._forward_hooks), tuple(m._forward_pre_hooks), tuple(m._backward_hooks))
                  for m in model.modules())
    tensors = tuple((name, t.device, t.dtype, t.requires_grad if isinstance(t, nn.Parameter) else None,
                     t.detach().cpu().numpy().tobytes() if not t.is_meta else None)
                    for name, t in (*model.named_parameters(), *model.named_buffers()))
    return torch.is_grad_enabled(), tuple(m.training for m in model.modules()), hooks, tensors


def outcome(case: Case) -> tuple[str, str]:
    """(outcome, detail) of ``case``."""
    before = model_state(case.model)
    try:
        result = case.run()
    except USER_ERRORS as exc:
        verdict = _judge_error(case, exc)
    except Exception as exc:  # noqa: BLE001 - classifying every failure is the point
        verdict = (UNCLEAR, _describe(exc))
    else:
        verdict = _judge_result(case, result)
    after = model_state(case.model)
    torch.set_grad_enabled(True)
    if after != before:
        changed = [what for what, a, b in zip(("grad mode", "training flags", "hooks", "weights"), before, after)
                   if a != b]
        verdict = (SILENT, f"model state changed ({', '.join(changed)}); call gave {verdict[0]}: {verdict[1]}")
    TALLY[(case.entry, case.kind, verdict[0])] += 1
    DETAILS.setdefault((case.entry, case.kind, verdict[0]), f"{case.argument}: {verdict[1]}")
    return verdict


def _judge_error(case: Case, exc: BaseException) -> tuple[str, str]:
    if case.reference is not None:
        return UNCLEAR, f"valid input refused: {_describe(exc)}"
    frames = traceback.extract_tb(exc.__traceback__)
    raised_by_us = bool(frames) and frames[-1].filename.startswith(PACKAGE)
    message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    if not raised_by_us:
        return UNCLEAR, f"raised outside causalvae ({frames[-1].filename if frames else '?'}): {_describe(exc)}"
    if case.argument.lower() not in message.lower():
        return UNCLEAR, f"message does not name {case.argument!r}: {_describe(exc)}"
    return CLEAR, _describe(exc)


def _judge_result(case: Case, result: Any) -> tuple[str, str]:
    if case.reference is None:
        return SILENT, f"accepted, returned {_summary(result)}"
    try:
        expected = case.reference()
    except Exception as exc:  # noqa: BLE001
        return UNCLEAR, f"the plain call failed: {_describe(exc)}"
    if not _finite(result):
        return SILENT, f"non-finite result {_summary(result)}"
    if not same(result, expected):
        return SILENT, f"result differs from the plain call: {_summary(result)} vs {_summary(expected)}"
    return CORRECT, _summary(result)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"


def _leaves(value: Any) -> list[Any]:
    """The numbers inside a result (arrays, tensors, dataclasses, mappings, sequences), in order."""
    if isinstance(value, torch.Tensor):
        return [value.detach().cpu().double().numpy()]
    if isinstance(value, np.ndarray):
        return [value] if value.dtype.kind in "biufc" else []
    if isinstance(value, (bool, int, float, np.number)):
        return [np.asarray(value, dtype=np.float64)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [leaf for f in dataclasses.fields(value) for leaf in _leaves(getattr(value, f.name))]
    if isinstance(value, dict):
        return [leaf for k in sorted(value, key=str) for leaf in _leaves(value[k])]
    if isinstance(value, (tuple, list)):
        return [leaf for item in value for leaf in _leaves(item)]
    return []


def _finite(result: Any) -> bool:
    """No NaN in the result (infinity may be a legitimate answer, e.g. a margin with one code)."""
    return all(not np.isnan(np.asarray(leaf, dtype=np.complex128)).any() for leaf in _leaves(result))


def same(a: Any, b: Any) -> bool:
    """Equal results up to float32 round-off (inputs cast to the model's dtype give identical passes)."""
    left, right = _leaves(a), _leaves(b)
    return len(left) == len(right) and all(
        np.shape(x) == np.shape(y) and np.allclose(x, y, rtol=1e-5, atol=1e-6, equal_nan=True)
        for x, y in zip(left, right))


def _summary(result: Any) -> str:
    leaves = _leaves(result)
    return f"{type(result).__name__} with {len(leaves)} array(s), shapes {[np.shape(x) for x in leaves][:4]}"


def tally_table() -> str:
    """Counts per outcome, overall and per kind of bad input (for the closing note)."""
    totals = Counter()
    kinds: dict[str, Counter] = {}
    entries = set()
    for (entry, kind, verdict), n in TALLY.items():
        totals[verdict] += n
        kinds.setdefault(kind, Counter())[verdict] += n
        entries.add(entry)
    lines = [f"hardening fuzz: {sum(totals.values())} bad-input cases over {len(entries)} entry points, "
             f"{len(kinds)} kinds: " + ", ".join(f"{totals[o]} {o}{'es' if o.endswith('sh') else 's'}"
                                                  for o in OUTCOMES)]
    for kind in sorted(kinds):
        lines.append(f"  {kind:<24} " + "  ".join(f"{o}: {kinds[kind][o]}" for o in OUTCOMES if kinds[kind][o]))
    return "\n".join(lines)
