"""Encoder / decoder architectures whose intermediate activations are named *sites*.

Site convention
---------------
A site is a module path of the model and its activation is that module's output.
Hidden layers are blocks ``nn.Sequential(layer=..., act=ReLU)`` so the site
``encoder.conv2`` is the **post-ReLU** output of the second convolution (the fx node
of that activation has target ``encoder.conv2.act``).  Layers without an activation
(``latent.mu``, ``latent.logvar`` and the output layer that emits logits) are plain
modules; ``latent.z`` is an identity module applied after the reparameterisation so
the sampled code is a site too.  For conv sites a unit is a channel, for linear
sites a neuron.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

CONV_CHANNELS = (32, 32, 64, 64)
CONV_HIDDEN = 256
CONV_IMAGE_SIZE = 64
_CONV_BOTTOM = CONV_IMAGE_SIZE // 2 ** len(CONV_CHANNELS)  # 4x4 after four stride-2 convolutions


@dataclass(frozen=True)
class SiteInfo:
    """One named site: module path, pipeline stage, unit kind and number of units."""

    name: str
    stage: str  # "encoder" | "latent" | "decoder"
    unit: str  # "channel" | "neuron"
    n_units: int
    post_activation: bool


def _block(layer: nn.Module) -> nn.Sequential:
    return nn.Sequential(OrderedDict(layer=layer, act=nn.ReLU()))


def conv_encoder(in_channels: int) -> tuple[nn.Sequential, list[SiteInfo], int]:
    """Conv 32-32-64-64 (4x4, stride 2) then FC 256: the encoder of the disentanglement literature."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    sites = []
    prev = in_channels
    for i, ch in enumerate(CONV_CHANNELS, start=1):
        layers[f"conv{i}"] = _block(nn.Conv2d(prev, ch, kernel_size=4, stride=2, padding=1))
        sites.append(SiteInfo(f"encoder.conv{i}", "encoder", "channel", ch, True))
        prev = ch
    layers["flatten"] = nn.Flatten()
    layers["fc"] = _block(nn.Linear(prev * _CONV_BOTTOM**2, CONV_HIDDEN))
    sites.append(SiteInfo("encoder.fc", "encoder", "neuron", CONV_HIDDEN, True))
    return nn.Sequential(layers), sites, CONV_HIDDEN


def conv_decoder(latent_dim: int, out_channels: int) -> tuple[nn.Sequential, list[SiteInfo], str]:
    """Mirror of :func:`conv_encoder`: FC 256, FC 64*4*4, transposed convs 64-32-32-C (logits)."""
    bottom = CONV_CHANNELS[-1] * _CONV_BOTTOM**2
    layers: OrderedDict[str, nn.Module] = OrderedDict(
        fc1=_block(nn.Linear(latent_dim, CONV_HIDDEN)),
        fc2=_block(nn.Linear(CONV_HIDDEN, bottom)),
        unflatten=nn.Unflatten(1, (CONV_CHANNELS[-1], _CONV_BOTTOM, _CONV_BOTTOM)),
    )
    sites = [SiteInfo("decoder.fc1", "decoder", "neuron", CONV_HIDDEN, True),
             SiteInfo("decoder.fc2", "decoder", "neuron", bottom, True)]
    widths = list(reversed(CONV_CHANNELS))[1:] + [out_channels]  # 64, 32, 32, C
    prev = CONV_CHANNELS[-1]
    for i, ch in enumerate(widths, start=1):
        deconv = nn.ConvTranspose2d(prev, ch, kernel_size=4, stride=2, padding=1)
        last = i == len(widths)
        layers[f"deconv{i}"] = deconv if last else _block(deconv)
        sites.append(SiteInfo(f"decoder.deconv{i}", "decoder", "channel", ch, not last))
        prev = ch
    return nn.Sequential(layers), sites, f"decoder.deconv{len(widths)}"


def mlp_encoder(in_features: int, hidden: Sequence[int]) -> tuple[nn.Sequential, list[SiteInfo], int]:
    """Fully connected ReLU encoder ``in -> hidden[0] -> ... -> hidden[-1]`` for tabular data."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    sites = []
    prev = in_features
    for i, width in enumerate(hidden, start=1):
        layers[f"fc{i}"] = _block(nn.Linear(prev, width))
        sites.append(SiteInfo(f"encoder.fc{i}", "encoder", "neuron", width, True))
        prev = width
    return nn.Sequential(layers), sites, prev


def mlp_decoder(latent_dim: int, hidden: Sequence[int], out_features: int
                ) -> tuple[nn.Sequential, list[SiteInfo], str]:
    """Mirror of :func:`mlp_encoder` ending in a linear output layer ``decoder.out``."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    sites = []
    prev = latent_dim
    for i, width in enumerate(reversed(hidden), start=1):
        layers[f"fc{i}"] = _block(nn.Linear(prev, width))
        sites.append(SiteInfo(f"decoder.fc{i}", "decoder", "neuron", width, True))
        prev = width
    layers["out"] = nn.Linear(prev, out_features)
    sites.append(SiteInfo("decoder.out", "decoder", "neuron", out_features, False))
    return nn.Sequential(layers), sites, "decoder.out"


def latent_sites(latent_dim: int) -> list[SiteInfo]:
    """The Gaussian latent head's sites: ``latent.mu``, ``latent.logvar``, ``latent.z``."""
    return [SiteInfo(f"latent.{name}", "latent", "neuron", latent_dim, False)
            for name in ("mu", "logvar", "z")]
