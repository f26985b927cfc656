"""A zoo of small models for graph extraction tests, each with what its graph must contain.

Every entry names the expected extraction method, the exact set of module-call sites, edges that
must (and must not) exist between node ids, and tensor shapes (batch dimension included).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

BATCH = 2


@dataclass(frozen=True)
class ZooEntry:
    name: str
    build: Callable[[], nn.Module]
    inputs: Callable[[], tuple[torch.Tensor, ...]]
    method: str  # "fx" or "hooks"
    sites: frozenset[str]  # module-call sites (the `site` attribute of call_module nodes)
    edges: tuple[tuple[str, str], ...] = ()
    absent_edges: tuple[tuple[str, str], ...] = ()
    shapes: dict[str, str] = field(default_factory=dict)  # node id -> tensor_shape
    n_nodes: int | None = None
    stages: dict[str, str] | None = None
    prefix: str = ""  # module path of the model inside a larger one


class Latent(nn.Module):
    def __init__(self, d_in: int, d_z: int) -> None:
        super().__init__()
        self.mu, self.logvar = nn.Linear(d_in, d_z), nn.Linear(d_in, d_z)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.mu(h), self.logvar(h)
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu), mu, logvar


class MLPVAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 4), nn.ReLU())
        self.latent = Latent(4, 2)
        self.decoder = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 8), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z, mu, logvar = self.latent(self.encoder(x))
        return self.decoder(z), mu, logvar


class ConvVAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 4, 4, 2, 1), nn.ReLU(), nn.Conv2d(4, 8, 4, 2, 1), nn.ReLU(),
                                     nn.Flatten())
        self.latent = Latent(32, 3)
        self.decoder_fc = nn.Linear(3, 32)
        self.decoder = nn.Sequential(nn.ConvTranspose2d(8, 4, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(4, 1, 4, 2, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z, mu, logvar = self.latent(self.encoder(x))
        h = self.decoder_fc(z).view(-1, 8, 2, 2)
        return torch.sigmoid(self.decoder(h)), mu, logvar


class ResBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.conv2(torch.relu(self.bn1(self.conv1(x)))))


class ResNetVAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.ModuleDict({"stem": nn.Conv2d(1, 4, 3, padding=1), "block": ResBlock(4),
                                      "pool": nn.AdaptiveAvgPool2d(1)})
        self.latent = nn.ModuleDict({"mu": nn.Linear(4, 2), "logvar": nn.Linear(4, 2)})
        self.decoder = nn.ModuleDict({"fc": nn.Linear(2, 4 * 4 * 4), "block": ResBlock(4),
                                      "head": nn.Conv2d(4, 1, 3, padding=1)})

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e = self.encoder
        h = e["pool"](e["block"](e["stem"](x))).flatten(1)
        mu = self.latent["mu"](h)
        d = self.decoder
        return d["head"](d["block"](d["fc"](mu).view(-1, 4, 4, 4))), self.latent["logvar"](h)


class Reused(nn.Module):
    """One Linear applied twice: two call nodes of the same module."""

    def __init__(self) -> None:
        super().__init__()
        self.inp, self.shared, self.out = nn.Linear(5, 3), nn.Linear(3, 3), nn.Linear(3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.shared(torch.tanh(self.shared(self.inp(x)))))


class InPlace(nn.Module):
    """In-place module, method and function: later users must depend on the in-place op."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(4, 4), nn.ReLU(inplace=True), nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)
        self.act(h)  # result ignored: the data flows through the mutated h
        h.add_(1.0)
        return self.fc2(h)


class DataDependent(nn.Module):
    """Python control flow on tensor values: fx cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.fc, self.pos, self.neg = nn.Linear(3, 3), nn.Linear(3, 2), nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc(x))
        return self.pos(h) if x.sum() > 0 else self.neg(h)


class WithDistributions(nn.Module):
    """A VAE head built on torch.distributions (validation branches on values: untraceable)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder, self.latent = nn.Linear(6, 4), Latent(4, 2)
        self.decoder = nn.Linear(2, 6)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.distributions.Normal]:
        _, mu, logvar = self.latent(torch.relu(self.encoder(x)))
        posterior = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
        return self.decoder(posterior.rsample()), posterior


class DictEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body, self.mu, self.logvar = nn.Linear(4, 3), nn.Linear(3, 2), nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = torch.relu(self.body(x))
        return {"mu": self.mu(h), "logvar": self.logvar(h)}


class DictOutput(nn.Module):
    """A sub-module returning a dict and a model returning a dict of a tuple."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder, self.decoder = DictEncoder(), nn.Linear(2, 4)

    def forward(self, x: torch.Tensor) -> dict[str, object]:
        stats = self.encoder(x)
        return {"recon": self.decoder(stats["mu"]), "stats": (stats["mu"], stats["logvar"])}


class TwoInputs(nn.Module):
    """Two positional inputs merged by concatenation."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.head = nn.Linear(3, 2), nn.Linear(5, 2), nn.Linear(4, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.a(x), self.b(y)], dim=1))


def _x(*shape: int) -> Callable[[], tuple[torch.Tensor, ...]]:
    return lambda: (torch.randn(BATCH, *shape, generator=torch.Generator().manual_seed(0)),)


ZOO: tuple[ZooEntry, ...] = (  # hand-built models; causalvae VAEs appended below
    ZooEntry("mlp_vae", MLPVAE, _x(8), "fx",
             sites=frozenset({"encoder.0", "encoder.1", "encoder.2", "encoder.3", "latent.mu", "latent.logvar",
                              "decoder.0", "decoder.1", "decoder.2", "decoder.3"}),
             edges=(("x", "encoder_0"), ("encoder_3", "latent_mu"), ("encoder_3", "latent_logvar"),
                    ("decoder_3", "output"), ("latent_mu", "output"), ("latent_logvar", "output")),
             absent_edges=(("latent_mu", "decoder_0"),),
             shapes={"x": "2x8", "encoder_0": "2x6", "latent_mu": "2x2", "decoder_3": "2x8",
                     "output": "(2x8, 2x2, 2x2)"},
             # x, 8 module calls in encoder/decoder, 2 latent heads, mul, exp, randn_like, mul, add, output
             n_nodes=1 + 8 + 2 + 5 + 1),
    ZooEntry("conv_vae", ConvVAE, _x(1, 8, 8), "fx",
             sites=frozenset({"encoder.0", "encoder.1", "encoder.2", "encoder.3", "encoder.4", "latent.mu",
                              "latent.logvar", "decoder_fc", "decoder.0", "decoder.1", "decoder.2"}),
             edges=(("encoder_4", "latent_mu"), ("decoder_fc", "view"), ("view", "decoder_0"),
                    ("decoder_2", "sigmoid"), ("sigmoid", "output")),
             shapes={"encoder_0": "2x4x4x4", "encoder_2": "2x8x2x2", "encoder_4": "2x32", "latent_mu": "2x3",
                     "view": "2x8x2x2", "decoder_0": "2x4x4x4", "decoder_2": "2x1x8x8"}),
    ZooEntry("resnet_vae", ResNetVAE, _x(1, 4, 4), "fx",
             sites=frozenset({"encoder.stem", "encoder.block.conv1", "encoder.block.bn1", "encoder.block.conv2",
                              "encoder.pool", "latent.mu", "latent.logvar", "decoder.fc", "decoder.block.conv1",
                              "decoder.block.bn1", "decoder.block.conv2", "decoder.head"}),
             # the skip connection: the block input reaches the addition directly and through conv2
             edges=(("encoder_stem", "add"), ("encoder_block_conv2", "add"), ("add", "relu_1"),
                    ("flatten", "latent_mu"), ("flatten", "latent_logvar")),
             absent_edges=(("encoder_stem", "encoder_block_conv2"),),
             shapes={"encoder_block_conv1": "2x4x4x4", "encoder_pool": "2x4x1x1", "flatten": "2x4",
                     "decoder_fc": "2x64", "decoder_head": "2x1x4x4"}),
    ZooEntry("reused_module", Reused, _x(5), "fx",
             sites=frozenset({"inp", "shared", "shared_1", "out"}),
             edges=(("inp", "shared"), ("shared", "tanh"), ("tanh", "shared_1"), ("shared_1", "out")),
             absent_edges=(("inp", "shared_1"),),
             shapes={"shared": "2x3", "shared_1": "2x3", "out": "2x1"}, n_nodes=7),
    ZooEntry("in_place", InPlace, _x(4), "fx",
             sites=frozenset({"fc1", "act", "fc2"}),
             edges=(("fc1", "act"), ("act", "add_"), ("add_", "fc2"), ("fc2", "output")),
             absent_edges=(("fc1", "fc2"), ("fc1", "add_")), n_nodes=6),
    ZooEntry("data_dependent", DataDependent, lambda: (torch.ones(BATCH, 3),), "hooks",
             sites=frozenset({"fc", "pos"}),  # the branch this input takes; `neg` never runs
             edges=(("x", "fc"), ("fc", "pos"), ("pos", "output")), n_nodes=4),
    ZooEntry("distributions", WithDistributions, _x(6), "hooks",
             sites=frozenset({"encoder", "latent.mu", "latent.logvar", "decoder"}),
             # relu between modules is seen through; the sample depends on both heads
             edges=(("x", "encoder"), ("encoder", "latent_mu"), ("encoder", "latent_logvar"),
                    ("latent_mu", "decoder"), ("latent_logvar", "decoder"), ("decoder", "output"),
                    ("latent_mu", "output")),
             absent_edges=(("encoder", "decoder"), ("x", "decoder")),
             shapes={"encoder": "2x4", "latent_mu": "2x2", "decoder": "2x6", "output": "(2x6, Normal)"}, n_nodes=6),
    ZooEntry("dict_output", DictOutput, _x(4), "fx",
             sites=frozenset({"encoder.body", "encoder.mu", "encoder.logvar", "decoder"}),
             # dict indexing in traced Python code leaves no node: mu feeds the decoder directly
             edges=(("relu", "encoder_mu"), ("encoder_mu", "decoder"), ("decoder", "output"),
                    ("encoder_logvar", "output")),
             absent_edges=(("encoder_logvar", "decoder"),),
             shapes={"encoder_body": "2x3", "decoder": "2x4", "output": "{recon: 2x4, stats: (2x2, 2x2)}"}),
    ZooEntry("two_inputs", lambda: TwoInputs(), lambda: (torch.randn(BATCH, 3), torch.randn(BATCH, 5)), "fx",
             sites=frozenset({"a", "b", "head"}),
             edges=(("x", "a"), ("y", "b"), ("a", "cat"), ("b", "cat"), ("cat", "head")),
             shapes={"x": "2x3", "y": "2x5", "cat": "2x4", "head": "2x1"}, n_nodes=7),
    ZooEntry("encoder_only", lambda: MLPVAE().encoder, _x(8), "fx",
             sites=frozenset({"0", "1", "2", "3"}), edges=(("input_1", "_0"), ("_3", "output")),
             shapes={"_2": "2x4"}, n_nodes=6, stages={"": "encoder"}),
    ZooEntry("decoder_only", lambda: ConvVAE().decoder, _x(8, 2, 2), "fx",
             sites=frozenset({"decoder.0", "decoder.1", "decoder.2"}), edges=(("_0", "_1"), ("_1", "_2")),
             shapes={"_0": "2x4x4x4", "_2": "2x1x8x8"}, n_nodes=5, prefix="decoder"),
)


# --- causalvae's own VAEs: every variant, MLP (training mode: sampled z) and conv64 (eval mode: z = mu) ---

LATENT = 3
MLP_SHAPES = {"x": "2x12", "encoder_fc1": "2x8", "encoder_fc2": "2x6", "latent_mu": "2x3", "latent_z": "2x3",
              "decoder_fc1": "2x6", "decoder_fc2": "2x8", "decoder_out": "2x12"}
CONV_SHAPES = {"x": "2x1x64x64", "encoder_conv1": "2x32x32x32", "encoder_conv2": "2x32x16x16",
               "encoder_conv3": "2x64x8x8", "encoder_conv4": "2x64x4x4", "encoder_flatten": "2x1024",
               "encoder_fc": "2x256", "latent_mu": "2x3", "latent_logvar": "2x3", "latent_z": "2x3",
               "decoder_fc1": "2x256", "decoder_fc2": "2x1024", "decoder_unflatten": "2x64x4x4",
               "decoder_deconv1": "2x64x8x8", "decoder_deconv2": "2x32x16x16", "decoder_deconv3": "2x32x32x32",
               "decoder_deconv4": "2x1x64x64", "output": "(2x1x64x64, 2x3, 2x3, 2x3)"}


def _chain(names: list[str]) -> tuple[tuple[str, str], ...]:
    return tuple(zip(names, names[1:]))


def _our_vae(variant: str, architecture: str) -> ZooEntry:
    from causalvae.models import make_vae

    if architecture == "mlp":
        build = lambda: make_vae(variant, input_shape=(12,), latent_dim=LATENT, hidden=(8, 6)).train()  # noqa: E731
        order = ["x", "encoder_fc1", "encoder_fc2", "latent_mu"]
        z_path = (("latent_logvar", "mul"), ("mul", "exp"), ("latent_mu", "add"), ("add", "latent_z"))
        tail = ["latent_z", "decoder_fc1", "decoder_fc2", "decoder_out", "vaeoutput", "output"]
        # x, 2 + 3 + 3 module sites, 5 reparameterisation ops (mul, exp, randn_like, mul, add), tuple, output
        return ZooEntry(f"causalvae_{variant}_mlp", build, _x(12), "fx", sites=frozenset(build().site_names),
                        edges=_chain(order) + z_path + _chain(tail), absent_edges=(("latent_mu", "latent_z"),),
                        shapes=MLP_SHAPES, n_nodes=1 + 8 + 5 + 2)
    build = lambda: make_vae(variant, input_shape=(1, 64, 64), latent_dim=LATENT).eval()  # noqa: E731
    order = ["x", "encoder_conv1", "encoder_conv2", "encoder_conv3", "encoder_conv4", "encoder_flatten",
             "encoder_fc", "latent_mu", "latent_z", "decoder_fc1", "decoder_fc2", "decoder_unflatten",
             "decoder_deconv1", "decoder_deconv2", "decoder_deconv3", "decoder_deconv4", "vaeoutput", "output"]
    return ZooEntry(f"causalvae_{variant}_conv64", build, _x(1, 64, 64), "fx",
                    sites=frozenset(build().site_names) | {"encoder.flatten", "decoder.unflatten"},
                    edges=_chain(order) + (("encoder_fc", "latent_logvar"), ("latent_logvar", "vaeoutput")),
                    absent_edges=(("latent_logvar", "latent_z"),), shapes=CONV_SHAPES, n_nodes=len(order) + 1)


def _our_vq_vae(architecture: str) -> ZooEntry:
    """VQ-VAE: pre-quantisation output -> nearest code (against the codebook) -> embedding -> decoder."""
    from causalvae.models import make_vae

    shape = (12,) if architecture == "mlp" else (1, 64, 64)
    build = lambda: make_vae("vq-vae", input_shape=shape, latent_dim=LATENT, hidden=(8, 6)).eval()  # noqa: E731
    quantise = (("latent_pre", "latent_code"), ("latent_codebook", "latent_code"), ("latent_code", "embedding"),
                ("embedding", "latent_z"), ("latent_z", "flatten"), ("latent_z", "vqoutput"))
    encoder_out = "encoder_fc2" if architecture == "mlp" else "encoder_fc"
    return ZooEntry(f"causalvae_vq-vae_{architecture}", build, _x(*shape), "fx",
                    sites=frozenset(build().site_names) | ({"encoder.flatten", "decoder.unflatten"}
                                                           if architecture == "conv64" else set()),
                    edges=((encoder_out, "latent_pre"),) + quantise, absent_edges=(("latent_pre", "latent_z"),))


def our_vaes() -> tuple[ZooEntry, ...]:
    from causalvae.models import VARIANTS

    gaussian = [v for v in VARIANTS if v not in ("vq-vae", "scm-vae")]  # scm-vae needs n_concepts: test_scm_vae.py
    return tuple(_our_vae(v, arch) for v in gaussian for arch in ("mlp", "conv64")) + \
        tuple(_our_vq_vae(arch) for arch in ("mlp", "conv64"))


ZOO = ZOO + our_vaes()
