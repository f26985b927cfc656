"""RunContext's fields are typed (no bag of Any) and every annotation names a real class."""

import dataclasses
import typing

import networkx as nx
import numpy as np
import pandas as pd

from causalvae.causal.readouts import FactorReadouts
from causalvae.data import FactorDataset, FactorPairs
from causalvae.effects import EffectMatrix
from causalvae.interventions import Spread
from causalvae.models import VAE
from causalvae.pipeline import context


def test_every_field_resolves_to_a_concrete_type():
    names = {"nx": nx, "pd": pd, "np": np, "FactorReadouts": FactorReadouts, "FactorDataset": FactorDataset,
             "FactorPairs": FactorPairs, "Spread": Spread, "VAE": VAE}
    hints = typing.get_type_hints(context.RunContext, localns=names)
    assert {f.name for f in dataclasses.fields(context.RunContext)} <= set(hints)
    assert not [name for name, hint in hints.items() if typing.Any in (hint, *typing.get_args(hint))]
    assert hints["model"] == VAE | None and hints["dataset"] == FactorDataset | None
    assert hints["effects"] == dict[str, EffectMatrix | np.ndarray]
    assert hints["tables"] == dict[str, pd.DataFrame] and hints["graphs"] == dict[str, nx.DiGraph]
