"""causalvae: mechanistic interpretability of VAEs through causal interventions.

Heavy dependencies (torch, dowhy, pgmpy) are imported lazily by the subpackages
that need them, so ``import causalvae`` and ``causalvae --help`` stay fast.
"""

__version__ = "0.1.0"
