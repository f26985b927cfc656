"""VAE variants, architectures, losses, training and checkpoints (the torch half).

Names are resolved lazily so ``import causalvae.models.cli`` (argument parsing) stays cheap.

>>> from causalvae.models import make_vae, train                      # doctest: +SKIP
>>> model = make_vae("factor-vae", input_shape=(1, 64, 64), latent_dim=10)   # doctest: +SKIP
>>> train(model, dataset, steps=5000, checkpoint_dir="runs/fvae")     # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "VAE": "vae", "VAEConfig": "vae", "VAEOutput": "vae", "GaussianHead": "vae",
    "VQVAE": "vq", "VQHead": "vq", "VQOutput": "vq", "VQEncoding": "vq",
    "SiteInfo": "architectures",
    "VARIANTS": "variants", "Variant": "variants", "Adversary": "variants", "make_vae": "variants",
    "build_vae": "variants", "get_variant": "variants", "objective": "variants",
    "kl_per_latent": "losses", "reconstruction_nll": "losses", "mws_decomposition": "losses",
    "dip_penalties": "losses", "permute_dims": "losses", "LOSS_TERMS": "losses",
    "train": "training", "TrainingResult": "training", "fit_structure": "training",
    "save_checkpoint": "checkpoint", "load_checkpoint": "checkpoint", "load_model": "checkpoint",
    "Checkpoint": "checkpoint", "CheckpointError": "checkpoint",
    "encode_dataset": "diagnostics", "latent_kl": "diagnostics", "active_latents": "diagnostics",
    "reconstruction_quality": "diagnostics", "ACTIVE_KL_THRESHOLD": "diagnostics",
    "code_usage": "diagnostics", "code_entropy": "diagnostics",
    "latent_traversal": "traversals", "plot_traversals": "traversals",
    "train_command": "cli", "cli_train": "cli", "add_train_arguments": "cli",
    "evaluate_command": "cli", "cli_evaluate": "cli", "add_evaluate_arguments": "cli",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'causalvae.models' has no attribute {name!r}")
    return getattr(importlib.import_module(f"causalvae.models.{_EXPORTS[name]}"), name)


def __dir__() -> list[str]:
    return __all__
