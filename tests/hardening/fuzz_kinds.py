"""Kinds of bad input: each spoils one argument (or the model) of an entry point's plain call.

Every kind is a hypothesis strategy of :class:`fuzz_harness.Case`; kinds marked *valid* hold
unusual but acceptable inputs whose answer must equal the plain call's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from hypothesis import strategies as st
from torch import nn

from fuzz_entries import BAD_DEVICES, Entry
from fuzz_harness import Case


@dataclass(frozen=True)
class Kind:
    """``applies(entry)``: whether the kind makes sense for it; ``cases(entry)``: a strategy of cases."""

    name: str
    applies: Callable[[Entry], bool]
    cases: Callable[[Entry], st.SearchStrategy[Case]]


def _case(entry: Entry, kind: str, argument: str, change: Callable[[dict], dict] | None = None, *,
          spoil_model: Callable[[nn.Module], object] | None = None,
          valid: Callable[[dict], dict] | None = None) -> Case:
    """A case calling ``entry`` with ``change`` applied to its plain arguments (or the model spoilt).

    ``valid`` marks a valid input: the reference is the plain call with ``valid(args)``.
    """
    args = entry.defaults()
    model = entry.model() if entry.model else None
    called = spoil_model(model) if spoil_model else model
    bad = change(dict(args)) if change else args
    if valid is None and kind in entry.accepts:
        valid = lambda a: a  # noqa: E731 - the entry must answer as for the plain call
    if kind in entry.refuses:
        valid = None
    watched = None if (entry.trains and valid) or not isinstance(called, nn.Module) else called
    reference = None
    if valid is not None:
        reference = lambda: entry.call(entry.model() if entry.model else None, valid(entry.defaults()))  # noqa: E731
    return Case(entry.name, kind, lambda: entry.call(called, bad), entry.argument(argument), watched, reference)


# --- input batches ---------------------------------------------------------------------------------

def _batch_kind(name: str, spoil: Callable[[np.ndarray, st.DataObject], object], *,
                valid: Callable[[np.ndarray], np.ndarray] | None = None) -> Kind:
    def cases(entry: Entry):
        @st.composite
        def build(draw):
            arg = draw(st.sampled_from(entry.batches))
            plain = entry.defaults()[arg]
            value = spoil(plain, draw)

            def change(args):
                return {**args, arg: value}

            reference_args = None if valid is None else (lambda args: {**args, arg: valid(args[arg])})
            return _case(entry, name, arg, change, valid=reference_args)
        return build()
    return Kind(name, lambda e: bool(e.batches), cases)


def _non_finite(x: np.ndarray, draw) -> np.ndarray:
    x = x.copy()
    index = tuple(draw(st.integers(0, n - 1)) for n in x.shape)
    x[index] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    return x


def _wrong_features(x: np.ndarray, draw) -> np.ndarray:
    width = draw(st.integers(1, 7).filter(lambda w: w != x.shape[-1]))
    return np.resize(x, (*x.shape[:-1], width))


def _drop_axis(x: np.ndarray, draw) -> np.ndarray:
    return x[0]


def _extra_axis(x: np.ndarray, draw) -> np.ndarray:
    size = draw(st.integers(1, 3))
    return np.repeat(x[None] if x.ndim == 1 else x[:, None], size, axis=0 if x.ndim == 1 else 1)


BATCH_KINDS = [
    _batch_kind("NaN / inf in a batch", _non_finite),
    _batch_kind("wrong feature size", _wrong_features),
    _batch_kind("too few axes", _drop_axis),
    _batch_kind("extra axis", _extra_axis),
    _batch_kind("empty batch", lambda x, draw: x[:0]),
    _batch_kind("complex dtype", lambda x, draw: x.astype(np.complex64)),
    _batch_kind("strings", lambda x, draw: x.astype(str)),
    _batch_kind("meta-device tensor", lambda x, draw: torch.empty(x.shape, device="meta")),
    _batch_kind("wrong type", lambda x, draw: draw(st.sampled_from([None, "data.npz", 3.5, {"x": 1}]))),
    _batch_kind("float64 batch (valid)", lambda x, draw: x.astype(np.float64), valid=lambda x: x),
    _batch_kind("integer batch (valid)", lambda x, draw: (x > 0.5).astype(np.int64),
                valid=lambda x: (x > 0.5).astype(np.float32)),
    _batch_kind("tensor requiring grad (valid)", lambda x, draw: torch.tensor(x, requires_grad=True),
                valid=lambda x: x),
]


# --- the model -------------------------------------------------------------------------------------

def _nan_weight(model: nn.Module) -> nn.Module:
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] = math.nan
    return model


def _mixed_modes(model: nn.Module) -> nn.Module:
    model.train()
    next(iter(model.children())).eval()
    return model


def _model_kind(name: str, spoil: Callable[[nn.Module], object], *, valid: bool = False) -> Kind:
    def cases(entry: Entry):
        return st.just(None).map(lambda _: _case(entry, name, "model", spoil_model=spoil,
                                                 valid=(lambda a: a) if valid else None))
    return Kind(name, lambda e: e.model is not None and not (valid and e.trains), cases)


MODEL_KINDS = [
    _model_kind("meta-device model", lambda m: m.to("meta")),
    _model_kind("NaN weights", _nan_weight),
    _model_kind("not a module", lambda m: {"state": m.state_dict()}),
    _model_kind("model in mixed train/eval mode (valid)", _mixed_modes, valid=True),
]


# --- numbers and indices ---------------------------------------------------------------------------

def value_kind(value: object) -> str:
    """Which kind of bad number (or device) ``value`` is (the issue's categories)."""
    if isinstance(value, str):
        return "bad device" if value in BAD_DEVICES else "number as text"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "bad list / array"
    if isinstance(value, float) and math.isnan(value):
        return "NaN number"
    if isinstance(value, float) and math.isinf(value):
        return "infinite number"
    if isinstance(value, float) and not value.is_integer():
        return "fractional number"
    return "zero" if value == 0 else "negative number" if value < 0 else "out-of-range number"


def _number_cases(entry: Entry):
    @st.composite
    def build(draw):
        arg = draw(st.sampled_from(sorted(entry.numbers)))
        value = draw(st.sampled_from(entry.numbers[arg]))
        return _case(entry, value_kind(value), arg, lambda args: {**args, arg: value})
    return build()


def _index_cases(entry: Entry):
    @st.composite
    def build(draw):
        arg = draw(st.sampled_from(entry.indices))
        bad = draw(st.sampled_from(["fractional index", "negative index", "index out of range", "index as text"]))
        value = {"fractional index": draw(st.integers(0, entry.index_size - 2)) + 0.5, "negative index": -1,
                 "index out of range": entry.index_size, "index as text": "0"}[bad]
        return _case(entry, bad, arg, lambda args: {**args, arg: [*args[arg][:-1], value]})
    return build()


NUMBER_KIND = Kind("bad number", lambda e: bool(e.numbers), _number_cases)
INDEX_KIND = Kind("bad index", lambda e: bool(e.indices), _index_cases)
KINDS = [*BATCH_KINDS, *MODEL_KINDS, NUMBER_KIND, INDEX_KIND]
