"""The deterministic forward pass used for analysis, and the reconstruction loss.

Analysis runs the model in eval mode, where the models of :mod:`causalvae.models` use
``z = mu`` (DESIGN §5); the output is the first element of a tuple output (the decoder
logits / means of a VAE).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator

import torch
from torch import nn

MODEL_PREFIX = "model."


class AnalysisForward(nn.Module):
    """``forward(x)`` = the model's (first) output; module paths get the ``model.`` prefix."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        if isinstance(out, dict):
            return next(iter(out.values()))
        if isinstance(out, (tuple, list)):
            return out[0]
        return out


@contextlib.contextmanager
def analysis_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every module in eval mode and restore each one's training flag afterwards."""
    flags = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        yield model
    finally:
        for m, flag in flags:
            m.training = flag


def recon_loss(model: nn.Module) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Per-sample reconstruction loss ``loss(x, output) -> (N,)``, evaluated in float64.

    Models with ``config.likelihood`` use their negative log-likelihood (Bernoulli with
    logits, or Gaussian with ``config.obs_std``); any other model the summed squared error.
    """
    config = getattr(model, "config", None)
    likelihood = getattr(config, "likelihood", None)

    def loss(x: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        if x.shape[1:] != output.shape[1:]:
            raise ValueError(f"recon_error needs output shaped like the input: expected {tuple(x.shape[1:])}, "
                             f"got {tuple(output.shape[1:])}")
        x64, out64 = x.double(), output.double()
        if likelihood == "bernoulli":
            elem = torch.nn.functional.binary_cross_entropy_with_logits(out64, x64.expand_as(out64), reduction="none")
        elif likelihood == "gaussian":
            elem = 0.5 * ((x64 - out64) / float(config.obs_std)) ** 2 + math.log(float(config.obs_std))
        else:
            elem = (x64 - out64) ** 2
        return elem.flatten(1).sum(1)

    return loss
